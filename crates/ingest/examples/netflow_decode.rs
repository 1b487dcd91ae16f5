//! Decodes every NetFlow/IPFIX datagram of a capture on one core and reports flows per
//! CPU-second: the Vedette side of `scripts/bench/netflow` (nfdump is the other).
//!
//! ```text
//! cargo run --release -p vedette-ingest --example netflow_decode -- CAPTURE [ROUNDS]
//! ```
//!
//! Two figures, each the best of ROUNDS (default 3), CPU time from /proc:
//! - `pcap_and_decode`: the capture streamed from the file, parsed, every datagram
//!   decoded into flows (what a collector reading a capture does);
//! - `decode_only`: the datagrams already in memory, decoded.
//!
//! The checksum (total bytes and packets, the flows' count) ties the result to nfdump's
//! `-I` summary of the same datagrams.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a harness: a panic is the report

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Instant;

use vedette_ingest::netflow::{NetflowDecoder, NetflowLimits};
use vedette_ingest::pcap::PcapReader;
use vedette_model::Flow;

/// CPU time of this (single-threaded) process in seconds: schedstat has nanoseconds,
/// /proc/self/stat only ticks of 10 ms.
fn cpu_seconds() -> f64 {
    if let Some(ns) = std::fs::read_to_string("/proc/self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse::<f64>().ok()))
    {
        return ns / 1e9;
    }
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

#[derive(Default, Clone, Copy)]
struct Sum {
    flows: u64,
    bytes: u64,
    packets: u64,
}

impl Sum {
    fn add(&mut self, flows: &[Flow]) {
        self.flows += flows.len() as u64;
        for f in flows {
            self.bytes += f.bytes_out + f.bytes_in;
            self.packets += f.packets;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: netflow_decode CAPTURE [ROUNDS]");
        std::process::exit(2);
    };
    let rounds: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(3);
    let mut out: Vec<Flow> = Vec::with_capacity(4096);

    let mut best = f64::MAX;
    let mut sum = Sum::default();
    let mut datagrams = 0u64;
    for _ in 0..rounds {
        let (cpu, wall) = (cpu_seconds(), Instant::now());
        let mut decoder = NetflowDecoder::new(NetflowLimits::default());
        let mut reader = PcapReader::open(path).expect("capture opens");
        let mut s = Sum::default();
        while let Some(d) = reader.next_datagram().expect("capture reads") {
            out.clear();
            decoder.decode(d.src, d.payload, d.ts_us, &mut out).expect("datagram decodes");
            s.add(&out);
        }
        let took = cpu_seconds() - cpu;
        eprintln!("pcap_and_decode round: {took:.3} s CPU, {:.3} s wall", wall.elapsed().as_secs_f64());
        best = best.min(took);
        sum = s;
        datagrams = reader.stats().datagrams;
    }
    report("pcap_and_decode", best, sum, datagrams);

    let mut reader = PcapReader::open(path).expect("capture opens");
    let mut all: Vec<(SocketAddr, i64, Vec<u8>)> = Vec::new();
    while let Some(d) = reader.next_datagram().expect("capture reads") {
        all.push((d.src, d.ts_us, d.payload.to_vec()));
    }
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let cpu = cpu_seconds();
        let mut decoder = NetflowDecoder::new(NetflowLimits::default());
        let mut s = Sum::default();
        for (src, ts, payload) in &all {
            out.clear();
            decoder.decode(*src, black_box(payload), *ts, &mut out).expect("datagram decodes");
            s.add(&out);
        }
        best = best.min(cpu_seconds() - cpu);
        sum = s;
    }
    report("decode_only", best, sum, all.len() as u64);
}

fn report(what: &str, cpu_s: f64, s: Sum, datagrams: u64) {
    println!(
        "{{\"engine\":\"vedette\",\"what\":\"{what}\",\"datagrams\":{datagrams},\"flows\":{},\"bytes\":{},\"packets\":{},\"cpu_s\":{cpu_s:.3},\"flows_per_cpu_s\":{:.0}}}",
        s.flows,
        s.bytes,
        s.packets,
        s.flows as f64 / cpu_s.max(1e-9)
    );
}
