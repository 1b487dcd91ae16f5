//! Sends the UDP datagrams of a capture to a collector on this machine, paced, one
//! socket per original exporter port (so a collector sees the exporters apart).
//!
//! ```text
//! cargo run --release -p vedette-ingest --example netflow_replay -- CAPTURE 127.0.0.1:PORT [DATAGRAMS_PER_S]
//! ```
//!
//! Only loopback destinations are accepted: this is a test harness, not a traffic tool.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a harness: a panic is the report

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use vedette_ingest::pcap::PcapReader;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(capture), Some(target)) = (args.first(), args.get(1)) else {
        eprintln!("usage: netflow_replay CAPTURE 127.0.0.1:PORT [DATAGRAMS_PER_S]");
        std::process::exit(2);
    };
    let target: SocketAddr = target.parse().expect("target is ADDRESS:PORT");
    if !target.ip().is_loopback() {
        eprintln!("netflow_replay: {target} is not a loopback address");
        std::process::exit(2);
    }
    let rate: f64 = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(5000.0);
    let bind: SocketAddr = if target.is_ipv4() { "127.0.0.1:0" } else { "[::1]:0" }.parse().unwrap();
    let mut sockets: HashMap<u16, UdpSocket> = HashMap::new();
    let mut reader = PcapReader::open(capture).expect("capture opens");
    let start = Instant::now();
    let mut sent = 0u64;
    while let Some(d) = reader.next_datagram().expect("capture reads") {
        let socket = sockets.entry(d.src.port()).or_insert_with(|| UdpSocket::bind(bind).expect("bind"));
        socket.send_to(d.payload, target).expect("send");
        sent += 1;
        // Keep to the rate: never ahead of the schedule by more than a millisecond.
        let due = Duration::from_secs_f64(sent as f64 / rate);
        let now = start.elapsed();
        if due > now + Duration::from_millis(1) {
            std::thread::sleep(due - now);
        }
    }
    eprintln!("sent {sent} datagrams from {} sockets in {:.1} s", sockets.len(), start.elapsed().as_secs_f64());
}
