//! Golden files: `tests/data/golden/<case>.in`, a small hand-written stream of feed
//! events, flows and observations, → `<case>.out`, every finding and contact detection
//! gives for it. `UPDATE_GOLDENFILES=1 cargo test -p vedette-detect --test golden`
//! rewrites the expected files; review the diff before keeping it.
//!
//! Input lines (times are RFC 3339, `-` is "none"):
//!
//! ```text
//! home <cidr>…
//! event <IntelMQ flat JSON>                   a feed event (indicators and reports)
//! flow <time> <src> <sport> <dst> <dport> <tcp|udp> <bytes out> <bytes in>
//! dns <time> <client> <query> <qtype> <NOERROR|NXDOMAIN|-> <answer,…|->
//! http <time> <src> <dst> <dport> <host|-> <uri>
//! tls <time> <src> <dst> <dport> <sni|-> <ja3|-> <cert sha1|->
//! sinkhole <time> <bot> <domain> <family|->
//! pdns <rrname> <rrtype> <rdata> <first time> <last time>
//! repeat <count> <every seconds> <seed> <line>
//! ```
//!
//! `repeat` writes the line `count` times, `every` seconds apart, replacing `{i}` with
//! the index and `{hex:N}`, `{b32:N}`, `{alpha:N}` with N random characters (the same
//! for the same seed, so two bots can walk one list).

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use vedette_detect::{BeaconConfig, Home, IndicatorSet, ReportedInfections, TelemetryDetector};
use vedette_model::{
    rcode, DnsLookup, Event, Flow, HttpRequest, Observation, PassiveDns, SinkholeHit, TlsHello, Transport,
};

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}")).with_timezone(&Utc)
}

fn us(text: &str) -> i64 {
    time(text).timestamp_micros()
}

fn none(text: &str) -> Option<&str> {
    (text != "-").then_some(text)
}

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

/// Expands `{i}` and `{kind:N}` in a template.
fn expand(template: &str, i: usize, rng: &mut Rng) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').expect("a closing brace") + open;
        let token = &rest[open + 1..close];
        if token == "i" {
            out.push_str(&i.to_string());
        } else {
            let (kind, n) = token.split_once(':').expect("{kind:N}");
            let alphabet: &[u8] = match kind {
                "hex" => b"0123456789abcdef",
                "b32" => b"abcdefghijklmnopqrstuvwxyz234567",
                "alpha" => b"abcdefghijklmnopqrstuvwxyz",
                other => panic!("unknown token kind {other}"),
            };
            for _ in 0..n.parse::<usize>().expect("a length") {
                out.push(alphabet[(rng.next() % alphabet.len() as u64) as usize] as char);
            }
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// The input's lines with every `repeat` written out, each with its time.
fn expand_lines(input: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for line in input.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix("repeat ") else {
            lines.push(line.to_string());
            continue;
        };
        let mut parts = rest.splitn(4, ' ');
        let count: usize = parts.next().and_then(|c| c.parse().ok()).expect("repeat count");
        let every: i64 = parts.next().and_then(|c| c.parse().ok()).expect("repeat interval");
        let seed: u64 = parts.next().and_then(|c| c.parse().ok()).expect("repeat seed");
        let template = parts.next().expect("repeat line");
        let mut rng = Rng(seed);
        for i in 0..count {
            let mut fields: Vec<String> = expand(template, i, &mut rng).split(' ').map(str::to_string).collect();
            // The time is the first field after the kind.
            if fields.len() > 1 && fields[1].contains('T') {
                fields[1] = (time(&fields[1]) + Duration::seconds(every * i as i64)).to_rfc3339();
            }
            lines.push(fields.join(" "));
        }
    }
    lines
}

fn run(input: &str) -> String {
    let lines = expand_lines(input);
    let mut home_networks: Vec<String> = Vec::new();
    let mut events: Vec<Event> = Vec::new();
    for line in &lines {
        if let Some(rest) = line.strip_prefix("home ") {
            home_networks.extend(rest.split_whitespace().map(str::to_string));
        } else if let Some(json) = line.strip_prefix("event ") {
            let flat: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json).expect("event JSON");
            events.push(Event::from_intelmq(&flat).expect("an IntelMQ event"));
        }
    }
    let networks: Vec<&str> = home_networks.iter().map(String::as_str).collect();
    let home = Home::new(None, &networks).expect("home networks");
    let mut detector =
        TelemetryDetector::new(IndicatorSet::from_events(&events), home.clone(), BeaconConfig::default());
    let mut reports = ReportedInfections::new(home);
    for event in &events {
        reports.add(event);
    }
    for line in &lines {
        let f: Vec<&str> = line.split(' ').collect();
        match f[0] {
            "home" | "event" => {}
            "flow" => detector.observe(&Flow {
                start_us: us(f[1]),
                duration_us: 0,
                src: f[2].parse().expect("flow source"),
                src_port: f[3].parse().expect("flow source port"),
                dst: f[4].parse().expect("flow destination"),
                dst_port: f[5].parse().expect("flow destination port"),
                transport: Transport::from_name(f[6]).expect("transport"),
                bytes_out: f[7].parse().expect("bytes out"),
                bytes_in: f[8].parse().expect("bytes in"),
                packets: 4,
            }),
            "dns" => {
                let mut lookup = DnsLookup::new(us(f[1]), f[2].parse().expect("client"), f[3]);
                lookup.qtype = f[4].parse().expect("qtype");
                lookup.rcode = match f[5] {
                    "NOERROR" => Some(rcode::NOERROR),
                    "NXDOMAIN" => Some(rcode::NXDOMAIN),
                    _ => None,
                };
                lookup.answers =
                    none(f[6]).map(|a| a.split(',').map(|a| a.parse().expect("answer")).collect()).unwrap_or_default();
                detector.observe_observation(&Observation::Dns(lookup));
            }
            "http" => detector.observe_observation(&Observation::Http(HttpRequest {
                time_us: us(f[1]),
                src: f[2].parse().expect("source"),
                src_port: 40_000,
                dst: f[3].parse().expect("destination"),
                dst_port: f[4].parse().expect("port"),
                host: vedette_model::normalise_name(none(f[5]).unwrap_or("")),
                uri: f[6].into(),
                method: Some("GET".into()),
                user_agent: None,
            })),
            "tls" => detector.observe_observation(&Observation::Tls(TlsHello {
                time_us: us(f[1]),
                src: f[2].parse().expect("source"),
                src_port: 40_000,
                dst: f[3].parse().expect("destination"),
                dst_port: f[4].parse().expect("port"),
                sni: none(f[5]).map(vedette_model::normalise_name),
                ja3: none(f[6]).map(Into::into),
                cert_sha1: none(f[7]).map(Into::into),
            })),
            "sinkhole" => detector.observe_observation(&Observation::Sinkhole(SinkholeHit {
                time_us: us(f[1]),
                bot: f[2].parse().expect("bot"),
                domain: f[3].into(),
                family: none(f[4]).map(Into::into),
            })),
            "pdns" => detector.observe_observation(&Observation::PassiveDns(PassiveDns {
                rrname: f[1].into(),
                rrtype: f[2].into(),
                rdata: f[3].into(),
                first_us: us(f[4]),
                last_us: us(f[5]),
                count: None,
            })),
            other => panic!("unknown line kind {other:?} in {line:?}"),
        }
    }
    let (detections, behaviour) = detector.finish();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# {} flows ({} matched), {} observations ({} matched)",
        detections.flows_seen, detections.flows_matched, detections.observations_seen, detections.observations_matched
    );
    for finding in behaviour.into_iter().chain(detections.findings()).chain(reports.findings()) {
        let _ = writeln!(out, "finding {}", serde_json::to_string(&finding).expect("a finding serialises"));
    }
    for c in &detections.contacts {
        let _ = writeln!(
            out,
            "contact {} {} {} {} {} flows={} bytes={}",
            c.c2,
            c.victim,
            c.day,
            c.first.to_rfc3339(),
            c.last.to_rfc3339(),
            c.flows,
            c.bytes
        );
    }
    out
}

#[test]
fn golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden");
    let update = std::env::var_os("UPDATE_GOLDENFILES").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .expect("the golden folder")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "in"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 3, "{cases:?}");
    let mut failed = Vec::new();
    for case in cases {
        let input = std::fs::read_to_string(&case).expect("the input");
        let got = run(&input);
        let expected_path = case.with_extension("out");
        if update {
            std::fs::write(&expected_path, &got).expect("write the expected output");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            eprintln!("--- {} differs; got:\n{got}", expected_path.display());
            failed.push(expected_path.display().to_string());
        }
    }
    assert!(failed.is_empty(), "golden files differ (UPDATE_GOLDENFILES=1 rewrites them): {failed:?}");
}
