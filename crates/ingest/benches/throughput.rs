//! Feed parsing throughput on one core: parse + normalise + dedupe, in events per
//! CPU-second, on the files `scripts/bench/gen_feeds.py` writes (the IntelMQ anchor's
//! inputs). Run by `scripts/bench/feeds` beside IntelMQ; see BENCHMARKS.md.
//!
//! ```text
//! cargo bench -p vedette-ingest --bench throughput -- DIR [ROUNDS]
//! ```
//!
//! Prints one JSON line per file. Dedupe is what the pipeline does before storing: the
//! event is sealed (its IntelMQ-style content hash) and checked against the set seen.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a panic is the report

use std::io::Read;
use std::time::Instant;

use vedette_ingest::{Batch, Catalogue, Decoder, Sealing};

/// The binary's allocator (crates/cli/src/main.rs), so the figure is the one `vedette` gets.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// User + system CPU seconds of this process, from /proc (Linux; 100 ticks a second).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // After the command name: state is field 0, utime 11, stime 12.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: throughput DIR [ROUNDS]   (DIR from scripts/bench/gen_feeds.py)");
        std::process::exit(2);
    };
    let rounds: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(3);
    let catalogue = Catalogue::builtin();
    for (file, feed) in
        [("smb.csv", "shadowserver"), ("feodo.json", "abusech-feodo"), ("urlhaus.csv", "abusech-urlhaus")]
    {
        let path = format!("{dir}/{file}");
        let mut bytes = Vec::new();
        std::fs::File::open(&path).expect("generated input").read_to_end(&mut bytes).unwrap();
        let entry = catalogue.get(feed).unwrap();
        let mut best: Option<(f64, f64, usize, usize, usize)> = None;
        for _ in 0..rounds {
            let wall = Instant::now();
            let cpu = cpu_seconds();
            // Sealed as read, as the pipeline's decoders seal (crates/cli/src/pipeline.rs).
            let mut decoder = Decoder::new(entry, &path).sealing(Sealing::of_feed(entry));
            // The identities are already uniform 128-bit hashes: the fast hasher, not SipHash.
            let mut seen = vedette_model::fast_hash::FastSet::default();
            let (mut events, mut unique, mut rejected) = (0, 0, 0);
            let mut batch = Batch::default();
            let mut consume = |batch: &mut Batch| {
                for event in &batch.events {
                    events += 1;
                    if seen.insert(event.hash()) {
                        unique += 1;
                    }
                }
                batch.events.clear();
                rejected += batch.rejected.len();
                batch.rejected.clear();
            };
            for chunk in bytes.chunks(1 << 20) {
                decoder.push(chunk, &mut batch);
                consume(&mut batch);
            }
            decoder.finish(&mut batch);
            consume(&mut batch);
            let wall = wall.elapsed().as_secs_f64();
            let cpu = (cpu_seconds() - cpu).max(0.01);
            if best.is_none_or(|b| wall < b.0) {
                best = Some((wall, cpu, events, unique, rejected));
            }
        }
        let (wall, cpu, events, unique, rejected) = best.expect("at least one round");
        println!(
            "{{\"engine\":\"vedette\",\"input\":\"{file}\",\"feed\":\"{feed}\",\"events\":{events},\"unique\":{unique},\"rejected\":{rejected},\"seconds\":{wall:.3},\"cpu_seconds\":{cpu:.2},\"events_per_s\":{:.0},\"events_per_cpu_s\":{:.0}}}",
            events as f64 / wall,
            events as f64 / cpu
        );
    }
}
