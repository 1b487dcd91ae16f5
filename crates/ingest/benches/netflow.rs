//! NetFlow v9 and IPFIX decoding on one core, in flows per second: softflowd's templates,
//! 30 records a datagram, templates re-sent every 16 datagrams, as an exporter sends them.
//! Also NetFlow v5, and a pcap of IPFIX datagrams read and decoded from memory.
//!
//! ```text
//! cargo bench -p vedette-ingest --bench netflow
//! ```
//!
//! `scripts/bench/netflow` runs the same decoder on a capture beside nfdump; see
//! BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a panic is the report

use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vedette_ingest::netflow::testing::{synthetic_flows, Exporter, PcapWriter, Protocol};
use vedette_ingest::netflow::{NetflowDecoder, NetflowLimits};
use vedette_ingest::pcap::PcapReader;
use vedette_model::Flow;

const DATAGRAMS: usize = 1000;
const PER_DATAGRAM: usize = 30;

fn exporter() -> SocketAddr {
    "192.0.2.1:41350".parse().unwrap()
}

/// IPv4 flows only: softflowd's IPv4 template is the common case.
fn flows() -> Vec<Flow> {
    synthetic_flows(DATAGRAMS * PER_DATAGRAM * 2, 42, 1_700_000_000_000_000)
        .into_iter()
        .filter(|f| f.src.is_ipv4())
        .take(DATAGRAMS * PER_DATAGRAM)
        .collect()
}

fn datagrams(protocol: Protocol) -> Vec<Vec<u8>> {
    let mut e = Exporter::new(protocol, 0, 1_699_999_000_000_000);
    flows().chunks(PER_DATAGRAM).enumerate().map(|(i, c)| e.datagram(c, 1_700_000_100_000_000 + i as i64)).collect()
}

/// NetFlow v5 datagrams of 30 records, built by hand (v5 is one fixed layout).
fn v5_datagrams() -> Vec<Vec<u8>> {
    flows()
        .chunks(PER_DATAGRAM)
        .enumerate()
        .map(|(i, chunk)| {
            let mut d = vec![0, 5, 0, chunk.len() as u8];
            d.extend(1_000_000u32.to_be_bytes());
            d.extend(1_700_000_100u32.to_be_bytes());
            d.extend(0u32.to_be_bytes());
            d.extend(((i * PER_DATAGRAM) as u32).to_be_bytes());
            d.extend([0; 4]);
            for f in chunk {
                for ip in [f.src, f.dst] {
                    match ip {
                        std::net::IpAddr::V4(a) => d.extend(a.octets()),
                        std::net::IpAddr::V6(_) => d.extend([0; 4]),
                    }
                }
                d.extend([0; 8]);
                d.extend((f.packets as u32).to_be_bytes());
                d.extend((f.bytes_out as u32).to_be_bytes());
                d.extend(900_000u32.to_be_bytes());
                d.extend(900_500u32.to_be_bytes());
                d.extend(f.src_port.to_be_bytes());
                d.extend(f.dst_port.to_be_bytes());
                d.extend([0, 0x1b, f.transport.0, 0, 0, 0, 0, 0, 24, 24, 0, 0]);
            }
            d
        })
        .collect()
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("netflow");
    group.throughput(Throughput::Elements((DATAGRAMS * PER_DATAGRAM) as u64));
    for (name, list) in [("v9", datagrams(Protocol::V9)), ("ipfix", datagrams(Protocol::Ipfix)), ("v5", v5_datagrams())]
    {
        let mut decoder = NetflowDecoder::new(NetflowLimits::default());
        let mut out = Vec::with_capacity(DATAGRAMS * PER_DATAGRAM);
        let mut now = 0;
        group.bench_function(format!("decode_{name}"), |b| {
            b.iter(|| {
                out.clear();
                for d in &list {
                    now += 1;
                    decoder.decode(exporter(), black_box(d), now, &mut out).unwrap();
                }
                assert_eq!(out.len(), DATAGRAMS * PER_DATAGRAM);
                black_box(&out);
            })
        });
    }
    // The capture path: a pcap in memory, read and decoded.
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    for (i, d) in datagrams(Protocol::Ipfix).iter().enumerate() {
        w.udp(1_700_000_100_000_000 + i as i64, exporter(), "127.0.0.1:4739".parse().unwrap(), d).unwrap();
    }
    let capture = w.into_inner();
    let mut decoder = NetflowDecoder::new(NetflowLimits::default());
    let mut out = Vec::with_capacity(DATAGRAMS * PER_DATAGRAM);
    group.bench_function("pcap_read_and_decode_ipfix", |b| {
        b.iter(|| {
            out.clear();
            let mut reader = PcapReader::new(black_box(&capture[..])).unwrap();
            while let Some(d) = reader.next_datagram().unwrap() {
                decoder.decode(d.src, d.payload, d.ts_us, &mut out).unwrap();
            }
            assert_eq!(out.len(), DATAGRAMS * PER_DATAGRAM);
        })
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
