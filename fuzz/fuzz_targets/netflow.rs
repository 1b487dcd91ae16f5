//! NetFlow v5 / v9 / IPFIX datagrams and pcap captures from any bytes: never a panic,
//! a refused datagram adds no flow, and the template cache stays within its cap.
//!
//! The first byte picks the input's reading: even, a run of datagrams (each a 2-byte
//! length and its bytes) from two exporters sharing one decoder; odd, a capture whose
//! UDP payloads are decoded.
#![no_main]

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use vedette_ingest::netflow::{NetflowDecoder, NetflowLimits};
use vedette_ingest::pcap::PcapReader;

fn check(decoder: &mut NetflowDecoder, from: SocketAddr, datagram: &[u8], now: i64) {
    let mut out = Vec::new();
    match decoder.decode(from, datagram, now, &mut out) {
        Ok(n) => assert_eq!(n, out.len()),
        Err(e) => {
            assert!(out.is_empty());
            assert!(!e.to_string().is_empty());
        }
    }
    assert!(decoder.templates() <= decoder.limits().max_templates);
}

fuzz_target!(|data: &[u8]| {
    let [mode, rest @ ..] = data else { return };
    // Small caps, so the fuzzer reaches them.
    let limits =
        NetflowLimits { max_templates: 16, max_templates_per_exporter: 8, max_streams: 4, ..Default::default() };
    let mut decoder = NetflowDecoder::new(limits);
    if mode & 1 == 0 {
        let exporters: [SocketAddr; 2] = ["192.0.2.1:2055".parse().unwrap(), "192.0.2.2:4739".parse().unwrap()];
        let mut rest = rest;
        let mut i = 0i64;
        while let [a, b, tail @ ..] = rest {
            let len = usize::from(u16::from_be_bytes([*a, *b])).min(tail.len());
            let (datagram, next) = tail.split_at(len);
            check(&mut decoder, exporters[(i & 1) as usize], datagram, i * 1_000_000_000);
            i += 1;
            rest = next;
        }
    } else {
        let Ok(mut reader) = PcapReader::new(rest) else { return };
        while let Ok(Some(d)) = reader.next_datagram() {
            let (src, payload, ts) = (d.src, d.payload.to_vec(), d.ts_us);
            check(&mut decoder, src, &payload, ts);
        }
    }
});
