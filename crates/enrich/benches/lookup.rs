//! Full-evidence lookups per second on one core (one at a time, and batched), side by
//! side with the `maxminddb` crate reading one country field from the same database for
//! the same addresses.
//!
//! Environment (all optional; scripts/bench/attribution sets them):
//! - `VEDETTE_BENCH_DATA`: a folder whose `*.mmdb` (outside `bad-data/`) and `*.dat`
//!   (pyasn ipasn) files make the compiled table; default `tests/data`.
//! - `VEDETTE_BENCH_MMDB`: the database both sides read; default the ip-location-db
//!   country database in `tests/data`.
//! - `VEDETTE_BENCH_ADDRESSES`: a file of addresses, one per line; default 1,000,000
//!   uniformly random IPv4 addresses (fixed seed).

use std::hint::black_box;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use maxminddb::PathElement;
use vedette_enrich::{load, Attributor, Policy, SourceKind, SourceSpec};

fn manifest(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn env_path(name: &str, default: &str) -> PathBuf {
    std::env::var_os(name).map(PathBuf::from).unwrap_or_else(|| manifest(default))
}

/// Every `*.mmdb` and `*.dat` under `dir`, sorted, skipping `bad-data/` (the broken test
/// databases elsewhere are reported and left out, as a deployment would).
fn sources(dir: &Path) -> Vec<SourceSpec> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("bench data folder is readable") {
            let path = entry.expect("folder entry").path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if path.is_dir() {
                if name != "bad-data" {
                    stack.push(path);
                }
            } else if name.ends_with(".mmdb") {
                found.push(SourceSpec { kind: SourceKind::Mmdb, name, path });
            } else if name.ends_with(".dat") {
                found.push(SourceSpec { kind: SourceKind::Pfx2as, name, path });
            }
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

fn addresses() -> Vec<IpAddr> {
    if let Some(file) = std::env::var_os("VEDETTE_BENCH_ADDRESSES") {
        let text = std::fs::read_to_string(&file).expect("address file is readable");
        return text.lines().filter_map(|l| l.trim().parse().ok()).collect();
    }
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..1_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            IpAddr::V4(((x >> 16) as u32).into())
        })
        .collect()
}

fn build(specs: &[SourceSpec]) -> Attributor {
    let loaded = load(Policy::LocationFirst, specs);
    for r in &loaded.reports {
        if let Some(line) = r.describe() {
            eprintln!("{line}");
        }
    }
    loaded.attributor
}

fn bench(c: &mut Criterion) {
    let data = env_path("VEDETTE_BENCH_DATA", "tests/data");
    let db_path = env_path("VEDETTE_BENCH_MMDB", "tests/data/ip-location-db/iptoasn-country-ipv4.mmdb");
    let specs = sources(&data);
    let ips = addresses();
    let texts: Vec<String> = ips.iter().map(IpAddr::to_string).collect();

    let started = Instant::now();
    let attributor = build(&specs);
    let (v4, v6, tuples) = attributor.stats();
    eprintln!(
        "table: {} sources from {}, {v4} IPv4 + {v6} IPv6 segments, {tuples} evidence tuples, built in {:.2} s",
        specs.len(),
        data.display(),
        started.elapsed().as_secs_f64()
    );

    let bytes = std::fs::read(&db_path).expect("benchmark database is readable");
    let reader = maxminddb::Reader::from_source(bytes).expect("benchmark database opens");
    // ip-location-db's flat layout, else GeoIP2's.
    let flat = [PathElement::Key("country_code")];
    let nested = [PathElement::Key("country"), PathElement::Key("iso_code")];
    let path: &[PathElement] = match reader.lookup(ips[0]).and_then(|r| r.decode_path::<&str>(&flat)) {
        Ok(Some(_)) => &flat,
        _ => &nested,
    };

    let mut group = c.benchmark_group("lookup");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ips.len() as u64));
    group.bench_function("vedette_full_evidence", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for ip in &ips {
                let e = attributor.lookup(*ip);
                n += usize::from(e.country.is_some()) + e.conflicts.len() + e.confidence as usize;
            }
            black_box(n)
        })
    });
    let mut verdicts = Vec::with_capacity(ips.len());
    group.bench_function("vedette_full_evidence_batched", |b| {
        b.iter(|| {
            attributor.lookup_many(&ips, &mut verdicts);
            let mut n = 0usize;
            for e in &verdicts {
                n += usize::from(e.country.is_some()) + e.conflicts.len() + e.confidence as usize;
            }
            black_box(n)
        })
    });
    group.bench_function("vedette_full_evidence_from_text", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for t in &texts {
                if let Ok(ip) = t.parse::<IpAddr>() {
                    let e = attributor.lookup(ip);
                    n += usize::from(e.country.is_some()) + e.conflicts.len() + e.confidence as usize;
                }
            }
            black_box(n)
        })
    });
    group.bench_function("maxminddb_crate_one_country", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for ip in &ips {
                if let Ok(Some(cc)) = reader.lookup(*ip).and_then(|r| r.decode_path::<&str>(path)) {
                    n += cc.len();
                }
            }
            black_box(n)
        })
    });
    group.finish();

    // The materialised answer (views, prefixes, strings), as `whois` and findings use it.
    let mut group = c.benchmark_group("attribute");
    group.sample_size(10);
    let some: Vec<IpAddr> = ips.iter().copied().take(100_000).collect();
    group.throughput(Throughput::Elements(some.len() as u64));
    group.bench_function("vedette_attribution_struct", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for ip in &some {
                n += attributor.attribute(*ip).geo.len();
            }
            black_box(n)
        })
    });
    // What enrichment does to each event's address: the fields IntelMQ's enrichers fill.
    group.bench_function("vedette_fill_endpoint", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for ip in &some {
                let mut endpoint = vedette_model::Endpoint { ip: Some(*ip), ..Default::default() };
                attributor.fill_endpoint(&mut endpoint);
                n += usize::from(endpoint.asn.is_some());
            }
            black_box(n)
        })
    });
    group.finish();

    let mut group = c.benchmark_group("build");
    group.sample_size(10);
    group.bench_function("table_from_sources", |b| b.iter(|| black_box(build(&specs).stats())));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
