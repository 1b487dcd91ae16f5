//! Decode + indicator match + aggregation of a capture's NetFlow/IPFIX datagrams on one
//! core, in flows per CPU-second: the whole streaming path of `vedette run`, minus the
//! socket and the store. The Vedette side of that figure in `scripts/bench/netflow`.
//!
//! ```text
//! cargo run --release -p vedette --example netflow_match -- CAPTURE [ROUNDS]
//! ```
//!
//! The capture is streamed from its file; each datagram's flows are matched as a batch
//! (`IndicatorMatcher::observe_all`) against 13,408 listed C2 addresses (26 of them among
//! the synthetic flows' destinations, so about one flow in ten matches) and home hosts'
//! contacts are counted per (C2, host, day); the timing runs until every counter is
//! complete. The step after — contacts and findings built from the counters, as at a
//! flush — is timed apart. Best of ROUNDS (default 3); CPU time from /proc/self/schedstat.
//! `--no-findings` leaves the step after out (to profile the timed part alone); `--each`
//! prints every round's time to stderr (how noisy the machine is).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a harness: a panic is the report

use std::net::{IpAddr, Ipv4Addr};

use vedette_detect::{Home, IndicatorMatcher, IndicatorSet};
use vedette_ingest::netflow::{NetflowDecoder, NetflowLimits};
use vedette_ingest::pcap::PcapReader;
use vedette_model::{ClassificationType, Event};

/// The binary's allocator (crates/cli/src/main.rs), so the path is timed as `vedette run`
/// runs it: with glibc's, the same code took ~5 % more CPU here (page faults on the
/// contact buffers) and ~50 % more for the findings.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn cpu_seconds() -> f64 {
    let text = std::fs::read_to_string("/proc/self/schedstat").expect("schedstat is readable");
    text.split_whitespace().next().and_then(|n| n.parse::<f64>().ok()).expect("schedstat has a time") / 1e9
}

fn indicators() -> IndicatorSet {
    let events: Vec<Event> = (0..13_408u32)
        .map(|i| {
            let mut e = Event::new("abusech-feodo", ClassificationType::C2Server);
            let ip =
                if i < 26 { Ipv4Addr::new(203, 0, 113, (i * 10) as u8) } else { Ipv4Addr::from(0x2d00_0000 + i * 13) };
            e.source.ip = Some(IpAddr::V4(ip));
            e
        })
        .collect();
    IndicatorSet::from_events(&events)
}

fn main() {
    let no_findings = std::env::args().any(|a| a == "--no-findings");
    let each = std::env::args().any(|a| a == "--each");
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: netflow_match CAPTURE [ROUNDS]");
        std::process::exit(2);
    };
    let rounds: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(3);
    let (indicators, home) = (indicators(), Home::new(None, &["10.0.0.0/8"]).unwrap());
    let mut out = Vec::with_capacity(4096);
    let (mut best, mut flows, mut matched, mut contacts) = (f64::MAX, 0u64, 0u64, 0usize);
    let mut findings_best = f64::MAX;
    for _ in 0..rounds {
        let mut matcher = IndicatorMatcher::new(indicators.clone(), home.clone());
        let cpu = cpu_seconds();
        let mut decoder = NetflowDecoder::new(NetflowLimits::default());
        let mut reader = PcapReader::open(path).expect("capture opens");
        while let Some(d) = reader.next_datagram().expect("capture reads") {
            out.clear();
            decoder.decode(d.src, d.payload, d.ts_us, &mut out).expect("datagram decodes");
            matcher.observe_all(&out);
        }
        // Through the end of the aggregation: every (C2, host, day) counter complete.
        contacts = matcher.links();
        let took = cpu_seconds() - cpu;
        if each {
            eprintln!("round: {took:.3} s");
        }
        best = best.min(took);
        flows = decoder.stats().flows;
        if no_findings {
            continue;
        }
        let cpu = cpu_seconds();
        let found = matcher.finish();
        findings_best = findings_best.min(cpu_seconds() - cpu);
        matched = found.flows_matched;
    }
    println!(
        "{{\"engine\":\"vedette\",\"what\":\"decode_match_aggregate\",\"flows\":{flows},\"matched\":{matched},\"contacts\":{contacts},\"cpu_s\":{best:.3},\"flows_per_cpu_s\":{:.0}}}",
        flows as f64 / best.max(1e-9)
    );
    if no_findings {
        return;
    }
    // The step after: the contacts and findings built from the counters (at a flush).
    println!(
        "{{\"engine\":\"vedette\",\"what\":\"findings_from_counters\",\"contacts\":{contacts},\"cpu_s\":{findings_best:.3},\"contacts_per_cpu_s\":{:.0}}}",
        contacts as f64 / findings_best.max(1e-9)
    );
}
