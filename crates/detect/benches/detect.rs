//! Detection throughput on one core: flows through the indicator match alone and through
//! every detector, DNS lookups, HTTP requests and TLS hellos.
//!
//! `cargo bench -p vedette-detect` (criterion prints elements per second). The flows are
//! 1,000,000 random ones from home hosts (10.0.0.0/8) to random addresses, 0.1 % of them
//! to one of 20,000 listed C2 addresses; the lookups are names from the shipped benign
//! list with common subdomains, 1 % of them under one of 5,000 listed C2 domains.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use vedette_detect::{BeaconConfig, Home, IndicatorMatcher, IndicatorSet, TelemetryDetector};
use vedette_model::{rcode, ClassificationType, DnsLookup, Event, Flow, HttpRequest, Observation, TlsHello, Transport};

const BENIGN: &str = include_str!("../data/dns/benign-train.txt");

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn listed_address(i: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0xc633_0000u32.wrapping_add((i * 7919) as u32)))
}

fn indicators() -> Vec<Event> {
    let mut events = Vec::new();
    for i in 0..20_000u64 {
        let mut e = Event::new("bench", ClassificationType::C2Server);
        e.source.ip = Some(listed_address(i));
        e.malware_name = Some("bench".into());
        events.push(e);
    }
    for i in 0..5_000u64 {
        let mut e = Event::new("bench", ClassificationType::C2Server);
        e.source.fqdn = Some(format!("c2-{i}.bad-example.net"));
        events.push(e);
    }
    events
}

fn flows(n: usize) -> Vec<Flow> {
    let mut rng = Rng(1);
    (0..n)
        .map(|i| {
            let r = rng.next();
            let dst =
                if r % 1000 == 0 { listed_address(r % 20_000) } else { IpAddr::V4(Ipv4Addr::from((r >> 16) as u32)) };
            Flow {
                start_us: 1_700_000_000_000_000 + i as i64 * 1_000,
                duration_us: 1_000,
                src: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (r as u32 & 0x00ff_ffff))),
                src_port: 40_000 + (r >> 48) as u16 % 20_000,
                dst,
                dst_port: 443,
                transport: Transport::TCP,
                bytes_out: 300 + (r >> 40) % 2_000,
                bytes_in: 900,
                packets: 6,
            }
        })
        .collect()
}

fn lookups(n: usize) -> Vec<Observation> {
    let names: Vec<&str> = BENIGN.lines().collect();
    let words = ["www", "mail", "cdn", "api", "img", "static", "m"];
    let mut rng = Rng(2);
    (0..n)
        .map(|i| {
            let r = rng.next();
            let query = if r % 100 == 0 {
                format!("www.c2-{}.bad-example.net", r % 5_000)
            } else {
                let name = names[(r >> 8) as usize % names.len()];
                match r % 3 {
                    0 => name.to_string(),
                    _ => format!("{}.{name}", words[(r >> 32) as usize % words.len()]),
                }
            };
            let mut l = DnsLookup::new(
                1_700_000_000_000_000 + i as i64 * 1_000,
                IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (r as u32 & 0x00ff_ffff))),
                &query,
            );
            l.qtype = 1;
            l.rcode = Some(if r % 50 == 1 { rcode::NXDOMAIN } else { rcode::NOERROR });
            if l.rcode == Some(rcode::NOERROR) {
                l.answers = vec![IpAddr::V4(Ipv4Addr::from((r >> 16) as u32))];
            }
            Observation::Dns(l)
        })
        .collect()
}

fn web(n: usize) -> Vec<Observation> {
    let names: Vec<&str> = BENIGN.lines().collect();
    let mut rng = Rng(3);
    (0..n)
        .map(|i| {
            let r = rng.next();
            let host: Box<str> = format!("www.{}", names[(r >> 8) as usize % names.len()]).into();
            let src = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (r as u32 & 0x00ff_ffff)));
            let dst = IpAddr::V4(Ipv4Addr::from((r >> 16) as u32));
            let time_us = 1_700_000_000_000_000 + i as i64 * 1_000;
            if i % 2 == 0 {
                Observation::Http(HttpRequest {
                    time_us,
                    src,
                    src_port: 40_000,
                    dst,
                    dst_port: 80,
                    host,
                    uri: "/index.html?x=1".into(),
                    method: Some("GET".into()),
                    user_agent: None,
                })
            } else {
                Observation::Tls(TlsHello {
                    time_us,
                    src,
                    src_port: 40_000,
                    dst,
                    dst_port: 443,
                    sni: Some(host),
                    ja3: Some("e7d705a3286e19ea42f587b344ee6865".into()),
                    cert_sha1: None,
                })
            }
        })
        .collect()
}

fn home() -> Home {
    Home::new(None, &["10.0.0.0/8"]).expect("a valid network")
}

fn bench(c: &mut Criterion) {
    let set = IndicatorSet::from_events(&indicators());
    let flows = flows(1_000_000);
    let lookups = lookups(200_000);
    let web = web(200_000);

    let mut group = c.benchmark_group("detect");
    group.sample_size(10);
    group.throughput(Throughput::Elements(flows.len() as u64));
    group.bench_function("IndicatorMatcher::observe (flows)", |b| {
        b.iter_batched(
            || IndicatorMatcher::new(set.clone(), home()),
            |mut m| {
                for f in &flows {
                    m.observe(black_box(f));
                }
                m
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("TelemetryDetector::observe (flows, with beaconing)", |b| {
        b.iter_batched(
            || TelemetryDetector::new(set.clone(), home(), BeaconConfig::default()),
            |mut d| {
                for f in &flows {
                    d.observe(black_box(f));
                }
                d
            },
            BatchSize::LargeInput,
        )
    });
    group.throughput(Throughput::Elements(lookups.len() as u64));
    group.bench_function("TelemetryDetector::observe_observation (DNS)", |b| {
        b.iter_batched(
            || TelemetryDetector::new(set.clone(), home(), BeaconConfig::default()),
            |mut d| {
                for o in &lookups {
                    d.observe_observation(black_box(o));
                }
                d
            },
            BatchSize::LargeInput,
        )
    });
    group.throughput(Throughput::Elements(web.len() as u64));
    group.bench_function("TelemetryDetector::observe_observation (HTTP, TLS)", |b| {
        b.iter_batched(
            || TelemetryDetector::new(set.clone(), home(), BeaconConfig::default()),
            |mut d| {
                for o in &web {
                    d.observe_observation(black_box(o));
                }
                d
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
