//! Telemetry through decoding and detection together, on one core, in records per second:
//!
//! - `netflow_match`: IPFIX export datagrams decoded (softflowd's templates, 30 records a
//!   datagram) and every flow matched against 13,408 listed C2 addresses, the contacts of
//!   home hosts aggregated per (C2, host, day) — decode + indicator match + aggregation;
//! - `zeek_conn_beacons`: Zeek conn.log lines parsed and fed to the whole telemetry
//!   detector (indicator match and beacon scoring), then its findings built.
//!
//! ```text
//! cargo bench -p vedette --bench telemetry
//! ```
//!
//! BENCHMARKS.md records the figures beside nfdump's (`scripts/bench/netflow`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a panic is the report

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use vedette_detect::{BeaconConfig, Home, IndicatorMatcher, IndicatorSet, TelemetryDetector};
use vedette_ingest::netflow::testing::{synthetic_flows, Exporter, Protocol};
use vedette_ingest::netflow::{NetflowDecoder, NetflowLimits};
use vedette_ingest::{Batch, Catalogue, Decoder};
use vedette_model::{ClassificationType, Event, Flow};

const FLOWS: usize = 300_000;
const LISTED: u32 = 13_408;

/// 13,408 listed C2 addresses: 26 of the 256 destinations the synthetic flows use (about
/// one flow in ten matches), the rest elsewhere.
fn indicators() -> IndicatorSet {
    let events: Vec<Event> = (0..LISTED)
        .map(|i| {
            let mut e = Event::new("abusech-feodo", ClassificationType::C2Server);
            let ip =
                if i < 26 { Ipv4Addr::new(203, 0, 113, (i * 10) as u8) } else { Ipv4Addr::from(0x2d00_0000 + i * 13) };
            e.source.ip = Some(IpAddr::V4(ip));
            e.malware_name = Some("emotet".into());
            e
        })
        .collect();
    IndicatorSet::from_events(&events)
}

fn home() -> Home {
    Home::new(None, &["10.0.0.0/8"]).unwrap()
}

fn netflow_match(c: &mut Criterion) {
    let flows: Vec<Flow> = synthetic_flows(FLOWS, 7, 1_700_000_000_000_000);
    let mut exporter = Exporter::new(Protocol::Ipfix, 0, 1_699_999_000_000_000);
    let datagrams: Vec<Vec<u8>> =
        flows.chunks(30).enumerate().map(|(i, c)| exporter.datagram(c, 1_700_000_400_000_000 + i as i64)).collect();
    let source: SocketAddr = "192.0.2.1:41350".parse().unwrap();
    let indicators = indicators();
    let home = home();
    let mut group = c.benchmark_group("telemetry");
    group.throughput(Throughput::Elements(FLOWS as u64));
    group.sample_size(10);
    // The indicator set is built once per run in the pipeline: outside the timing.
    let matcher = || IndicatorMatcher::new(indicators.clone(), home.clone());
    let decode_and_match = |matcher: &mut IndicatorMatcher| {
        let mut decoder = NetflowDecoder::new(NetflowLimits::default());
        let mut out = Vec::with_capacity(64);
        for d in &datagrams {
            out.clear();
            decoder.decode(source, d, 0, &mut out).unwrap();
            for flow in &out {
                matcher.observe(flow);
            }
        }
    };
    // Decode, match, and count per (C2, host, day): the streaming path, every counter
    // complete at the end.
    group.bench_function("netflow_match", |b| {
        b.iter_batched(
            matcher,
            |mut m| {
                decode_and_match(&mut m);
                black_box(m.links());
                m
            },
            BatchSize::LargeInput,
        )
    });
    // The same, then the findings and contacts built: here every matching flow is a new
    // (C2, host, day), the worst case for that step.
    group.bench_function("netflow_match_finish", |b| {
        b.iter_batched(
            matcher,
            |mut m| {
                decode_and_match(&mut m);
                black_box(m.finish().contacts.len())
            },
            BatchSize::LargeInput,
        )
    });
    // Decoding alone, for reference.
    group.bench_function("netflow_decode_only", |b| {
        b.iter(|| {
            let mut decoder = NetflowDecoder::new(NetflowLimits::default());
            let mut out = Vec::with_capacity(64);
            let mut n = 0;
            for d in &datagrams {
                out.clear();
                n += decoder.decode(source, d, 0, &mut out).unwrap();
            }
            black_box(n)
        })
    });
    group.finish();
}

/// Conn.log lines: 60,000 home hosts each calling 1–3 destinations a few times (a
/// tenth of them listed C2s), in time order, as a sensor writes them.
fn conn_log(lines: usize) -> Vec<u8> {
    let mut out = String::from(
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\n",
    );
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..lines {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let host = Ipv4Addr::from(0x0a00_0000 + (x % 60_000) as u32);
        let dst = if x % 10 == 0 {
            Ipv4Addr::new(203, 0, 113, ((x >> 20) % 26 * 10) as u8)
        } else {
            Ipv4Addr::from(0x5000_0000 + ((x >> 24) % 50_000) as u32)
        };
        let ts = 1_700_000_000.0 + i as f64 * 0.25;
        out.push_str(&format!(
            "{ts:.6}\tC{i:x}\t{host}\t{}\t{dst}\t443\ttcp\tssl\t0.5\t{}\t{}\tSF\tT\tF\t0\tShADadFf\t6\t600\t6\t900\t-\n",
            40_000 + x % 20_000,
            300 + x % 400,
            500 + (x >> 8) % 4000,
        ));
    }
    out.into_bytes()
}

fn zeek_conn_beacons(c: &mut Criterion) {
    let lines = 200_000;
    let log = conn_log(lines);
    let catalogue = Catalogue::builtin();
    let feed = catalogue.get("zeek-conn").unwrap().clone();
    let indicators = indicators();
    let home = home();
    let mut group = c.benchmark_group("telemetry");
    group.throughput(Throughput::Elements(lines as u64));
    group.sample_size(10);
    group.bench_function("zeek_conn_beacons", |b| {
        b.iter_batched(
            || TelemetryDetector::new(indicators.clone(), home.clone(), BeaconConfig::default()),
            |mut detector| {
                let mut decoder = Decoder::new(&feed, "conn.log");
                let mut batch = Batch::default();
                for chunk in log.chunks(1 << 20) {
                    decoder.push(chunk, &mut batch);
                    for flow in batch.flows.drain(..) {
                        detector.observe(&flow);
                    }
                }
                decoder.finish(&mut batch);
                for flow in batch.flows.drain(..) {
                    detector.observe(&flow);
                }
                let (detections, beacons) = detector.finish();
                black_box((detections.contacts.len(), beacons.len()))
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, netflow_match, zeek_conn_beacons);
criterion_main!(benches);
