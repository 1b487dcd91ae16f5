//! Writes a pcap of synthetic NetFlow v9 or IPFIX export datagrams (softflowd's templates,
//! 30 records a datagram): the input of `scripts/bench/netflow`, which replays it into
//! nfcapd and decodes it with `netflow_decode`.
//!
//! ```text
//! cargo run --release -p vedette-ingest --example netflow_export -- OUT.pcap [FLOWS] [ipfix|v9]
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)] // a harness: a panic is the report

use std::io::BufWriter;

use vedette_ingest::netflow::testing::{synthetic_flows, Exporter, PcapWriter, Protocol};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: netflow_export OUT.pcap [FLOWS] [ipfix|v9]");
        std::process::exit(2);
    };
    let n: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(3_000_000);
    let protocol = match args.get(2).map(String::as_str) {
        Some("v9") => Protocol::V9,
        _ => Protocol::Ipfix,
    };
    let start_us = 1_700_000_000_000_000;
    let flows = synthetic_flows(n, 7, start_us);
    let mut exporter = Exporter::new(protocol, 0, start_us - 3_600_000_000);
    let file = std::fs::File::create(path).expect("output file");
    let mut w = PcapWriter::new(BufWriter::with_capacity(1 << 20, file)).unwrap();
    let (from, to) = ("127.0.0.1:41350".parse().unwrap(), "127.0.0.1:9995".parse().unwrap());
    let (mut datagrams, mut bytes, mut packets) = (0u64, 0u64, 0u64);
    for chunk in flows.chunks(30) {
        // Exported a minute after the last flow began, on a whole second (v9 has no finer
        // export clock, so the times read back exactly).
        let last = chunk.iter().map(|f| f.start_us + f.duration_us as i64).max().unwrap_or(start_us);
        let export_us = (last / 1_000_000 + 60) * 1_000_000;
        let d = exporter.datagram(chunk, export_us);
        w.udp(export_us, from, to, &d).unwrap();
        datagrams += 1;
        bytes += chunk.iter().map(|f| f.bytes_out).sum::<u64>();
        packets += chunk.iter().map(|f| f.packets).sum::<u64>();
    }
    w.into_inner().into_inner().map_err(|e| e.into_error()).expect("flush");
    println!(
        "{{\"flows\":{n},\"datagrams\":{datagrams},\"bytes\":{bytes},\"packets\":{packets},\"protocol\":\"{}\"}}",
        if protocol == Protocol::V9 { "v9" } else { "ipfix" }
    );
}
