//! NetFlow v5 / v9 / IPFIX decoding and the pcap reader, on real softflowd exports
//! (`tests/data/netflow/`, see its README) and on hand-built bad datagrams.
//!
//! Golden files: each `<name>.export.pcap` decodes to exactly `<name>.export.out`;
//! `UPDATE_GOLDENFILES=1 cargo test -p vedette-ingest --test netflow` rewrites them.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use vedette_ingest::netflow::testing::{synthetic_flows, Exporter, PcapWriter, Protocol};
use vedette_ingest::netflow::{DatagramErrorKind, NetflowDecoder, NetflowLimits, NetflowStats, Version};
use vedette_ingest::pcap::{PcapError, PcapReader};
use vedette_model::{Flow, Transport};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/netflow").join(name)
}

/// Every UDP datagram of a capture: (time, exporter, payload).
fn datagrams(name: &str) -> Vec<(i64, SocketAddr, Vec<u8>)> {
    let mut reader = PcapReader::open(data(name)).unwrap();
    let mut all = Vec::new();
    while let Some(d) = reader.next_datagram().unwrap() {
        all.push((d.ts_us, d.src, d.payload.to_vec()));
    }
    all
}

fn decode_all(list: &[(i64, SocketAddr, Vec<u8>)]) -> (Vec<(SocketAddr, Flow)>, NetflowStats) {
    let mut decoder = NetflowDecoder::new(NetflowLimits::default());
    let mut flows = Vec::new();
    let mut out = Vec::new();
    for (ts, exporter, payload) in list {
        out.clear();
        decoder.decode(*exporter, payload, *ts, &mut out).unwrap();
        flows.extend(out.iter().map(|f| (*exporter, *f)));
    }
    (flows, decoder.stats().clone())
}

fn iso(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us).unwrap().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn render(flows: &[(SocketAddr, Flow)], stats: &NetflowStats) -> String {
    let mut out = String::new();
    for (exporter, f) in flows {
        let ep = |ip: IpAddr, port: u16| SocketAddr::new(ip, port).to_string();
        let _ = writeln!(
            out,
            "{} {:.3}s {} {} -> {} bytes={} in={} packets={} exporter={}",
            iso(f.start_us),
            f.duration_us as f64 / 1e6,
            f.transport.name(),
            ep(f.src, f.src_port),
            ep(f.dst, f.dst_port),
            f.bytes_out,
            f.bytes_in,
            f.packets,
            exporter.port(),
        );
    }
    let _ = writeln!(out, "stats {stats:?}");
    out
}

#[test]
fn golden_files() {
    let update = std::env::var_os("UPDATE_GOLDENFILES").is_some();
    let mut failures = Vec::new();
    for name in ["v5.export", "v9.export", "v9-a.export", "ipfix.export"] {
        let (flows, stats) = decode_all(&datagrams(&format!("{name}.pcap")));
        let actual = render(&flows, &stats);
        let golden = data(&format!("{name}.out"));
        if update {
            std::fs::write(&golden, &actual).unwrap();
        } else if std::fs::read_to_string(&golden).unwrap_or_default() != actual {
            failures
                .push(format!("{name}: differs from {}; rerun with UPDATE_GOLDENFILES=1 and diff", golden.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The flows a capture's exports should describe, straight from the source traffic:
/// 5-tuple -> (first packet µs, last packet µs, packets, IP bytes), where the times are
/// the conversation's (both directions: softflowd tracks a conversation as one flow and
/// exports each direction with its times). A minimal reader of
/// the one layout `tiny.pcap` has (classic pcap, Ethernet, IPv4/IPv6, TCP/UDP), kept apart
/// from the reader under test.
type FlowKey = (IpAddr, u16, IpAddr, u16, u8);
/// First and last packet (µs), packets, IP bytes.
type Seen = (i64, i64, u64, u64);

fn source_flows() -> HashMap<FlowKey, Seen> {
    let b = std::fs::read(data("tiny.pcap")).unwrap();
    assert_eq!(&b[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian microsecond pcap");
    let le32 = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let be16 = |p: &[u8], at: usize| u16::from_be_bytes([p[at], p[at + 1]]);
    let mut flows = HashMap::new();
    let mut at = 24;
    while at < b.len() {
        let ts = i64::from(le32(at)) * 1_000_000 + i64::from(le32(at + 4));
        let caplen = le32(at + 8) as usize;
        let frame = &b[at + 16..at + 16 + caplen];
        at += 16 + caplen;
        let ip = &frame[14..];
        let (src, dst, proto, l4, len) = match be16(frame, 12) {
            0x0800 => {
                let ihl = usize::from(ip[0] & 15) * 4;
                let a = |o: usize| IpAddr::from(<[u8; 4]>::try_from(&ip[o..o + 4]).unwrap());
                (a(12), a(16), ip[9], &ip[ihl..], u64::from(be16(ip, 2)))
            }
            0x86dd => {
                let a = |o: usize| IpAddr::from(<[u8; 16]>::try_from(&ip[o..o + 16]).unwrap());
                (a(8), a(24), ip[6], &ip[40..], 40 + u64::from(be16(ip, 4)))
            }
            other => panic!("ethertype {other:#x}"),
        };
        let key = (src, be16(l4, 0), dst, be16(l4, 2), proto);
        let e = flows.entry(key).or_insert((ts, ts, 0, 0));
        e.1 = ts;
        e.2 += 1;
        e.3 += len;
    }
    let times: HashMap<_, _> = flows.iter().map(|(k, v)| (*k, (v.0, v.1))).collect();
    for ((src, sp, dst, dp, proto), v) in flows.iter_mut() {
        if let Some(&(first, last)) = times.get(&(*dst, *dp, *src, *sp, *proto)) {
            v.0 = v.0.min(first);
            v.1 = v.1.max(last);
        }
    }
    flows
}

fn key(f: &Flow) -> FlowKey {
    (f.src, f.src_port, f.dst, f.dst_port, f.transport.0)
}

fn floor_ms(us: i64) -> i64 {
    us.div_euclid(1000) * 1000
}

#[test]
fn real_captures_give_every_flow_and_reject_nothing() {
    let (_, v5) = decode_all(&datagrams("v5.export.pcap"));
    assert_eq!((v5.v5.datagrams, v5.v5.flows, v5.flows), (6, 180, 180));
    let (_, v9) = decode_all(&datagrams("v9.export.pcap"));
    // This capture also caught a second exporter: softflowd's IPFIX with biflows
    // (`-b`), another port, 91 bidirectional records.
    assert_eq!((v9.v9.datagrams, v9.v9.flows), (6, 181));
    assert_eq!((v9.ipfix.datagrams, v9.ipfix.flows), (5, 91));
    let (_, v9a) = decode_all(&datagrams("v9-a.export.pcap"));
    assert_eq!((v9a.v9.datagrams, v9a.v9.flows), (6, 181));
    let (_, ipfix) = decode_all(&datagrams("ipfix.export.pcap"));
    assert_eq!((ipfix.ipfix.datagrams, ipfix.ipfix.flows), (7, 181));
    for s in [&v5, &v9, &v9a, &ipfix] {
        assert_eq!(s.rejected.total(), 0, "{s:?}");
        assert_eq!(s.sets_without_template, 0);
        // softflowd numbers IPFIX messages by the records up to and including them
        // (starting at 19): recognised, not counted as gaps.
        assert_eq!((s.sequence_gaps, s.sequence_resets), (0, 0), "{s:?}");
    }
    assert_eq!((ipfix.templates_learned, ipfix.options_records), (5, 1));
}

#[test]
fn flows_match_the_source_traffic() {
    let truth = source_flows();
    assert_eq!(truth.len(), 181);
    let check = |name: &str, v6: bool| -> Vec<(i64, i64)> {
        let (flows, _) = decode_all(&datagrams(name));
        let flows: Vec<Flow> = flows.into_iter().filter(|(e, _)| e.port() != 37660).map(|(_, f)| f).collect();
        assert_eq!(flows.len(), if v6 { 181 } else { 180 }, "{name}");
        flows
            .iter()
            .map(|f| {
                let &(first, last, packets, bytes) = truth.get(&key(f)).unwrap_or_else(|| panic!("{name}: {f:?}"));
                assert_eq!((f.packets, f.bytes_out, f.bytes_in), (packets, bytes, 0), "{name}: {f:?}");
                (f.start_us - first, f.start_us + f.duration_us as i64 - last)
            })
            .collect()
    };
    // IPFIX with millisecond times (softflowd -A milli): the packet times, to the ms.
    let (flows, _) = decode_all(&datagrams("ipfix.export.pcap"));
    for (_, f) in &flows {
        let &(first, last, ..) = truth.get(&key(f)).unwrap();
        assert_eq!((f.start_us, f.start_us + f.duration_us as i64), (floor_ms(first), floor_ms(last)), "{f:?}");
    }
    check("ipfix.export.pcap", true);
    // v5: uptime milliseconds against a header with nanoseconds: within a millisecond.
    for (start, end) in check("v5.export.pcap", false) {
        assert!(start.abs() < 1000 && end.abs() < 1000, "v5 off by {start} / {end} µs");
    }
    // v9 (softflowd -a): the header's export time has whole seconds only, so every flow
    // is early by the same fraction of a second (here the last packet's, 244 ms).
    let shifts = check("v9-a.export.pcap", true);
    let first = shifts[0].0;
    assert!((-1_000_000..=0).contains(&first), "{first}");
    assert!(shifts.iter().all(|&(s, e)| (s - first).abs() < 1000 && (e - first).abs() < 1000), "{shifts:?}");
    // v9 without -a: the counters are right; the times are the host clock's (see README).
    check("v9.export.pcap", true);
    // The biflow exporter in the same capture: reverse counters fill bytes_in.
    let (flows, _) = decode_all(&datagrams("v9.export.pcap"));
    let biflows: Vec<Flow> = flows.into_iter().filter(|(e, _)| e.port() == 37660).map(|(_, f)| f).collect();
    assert_eq!(biflows.len(), 91);
    for f in &biflows {
        let fwd = truth[&key(f)];
        let rev = truth.get(&(f.dst, f.dst_port, f.src, f.src_port, f.transport.0)).map_or((0, 0), |r| (r.2, r.3));
        assert_eq!((f.bytes_out, f.bytes_in, f.packets), (fwd.3, rev.1, fwd.2 + rev.0), "{f:?}");
        assert_eq!(f.start_us, floor_ms(fwd.0));
    }
}

/// The beacon in the source traffic, by hand: 10.0.0.5 calls 203.0.113.10:443 thirty
/// times, once a minute give or take two seconds, 5 packets and 320 bytes out, 3 packets
/// and 520 bytes back.
#[test]
fn the_beacon_by_hand() {
    let (flows, _) = decode_all(&datagrams("ipfix.export.pcap"));
    let c2: IpAddr = "203.0.113.10".parse().unwrap();
    let mut calls: Vec<Flow> = flows.iter().map(|(_, f)| *f).filter(|f| f.dst == c2).collect();
    calls.sort_by_key(|f| f.start_us);
    assert_eq!(calls.len(), 30);
    assert_eq!(iso(calls[0].start_us), "2023-11-14T22:13:19.647000Z");
    for (i, f) in calls.iter().enumerate() {
        assert_eq!(f.src, "10.0.0.5".parse::<IpAddr>().unwrap());
        assert_eq!((f.src_port, f.dst_port, f.transport), (40000 + i as u16, 443, Transport::TCP));
        assert_eq!((f.packets, f.bytes_out, f.duration_us), (5, 320, 81_000));
    }
    let gaps: Vec<i64> = calls.windows(2).map(|w| (w[1].start_us - w[0].start_us) / 1_000_000).collect();
    assert!(gaps.iter().all(|g| (57..=62).contains(g)), "{gaps:?}");
    let replies = flows.iter().filter(|(_, f)| f.src == c2).count();
    assert_eq!(replies, 30);
}

#[test]
fn sequence_gaps_are_counted() {
    // Drop the third v9 export packet: one packet lost.
    let mut v9: Vec<_> = datagrams("v9-a.export.pcap");
    v9.remove(2);
    let (_, s) = decode_all(&v9);
    assert_eq!((s.sequence_gaps, s.lost_packets, s.lost_records, s.sequence_resets), (1, 1, 0, 0));
    assert_eq!(s.v9.flows, 181 - 32);
    // Drop an IPFIX message of 28 records, and a v5 packet of 30 flows.
    let mut ipfix = datagrams("ipfix.export.pcap");
    ipfix.remove(3);
    let (_, s) = decode_all(&ipfix);
    assert_eq!((s.sequence_gaps, s.lost_records, s.lost_packets), (1, 28, 0));
    let mut v5 = datagrams("v5.export.pcap");
    v5.remove(4);
    let (_, s) = decode_all(&v5);
    assert_eq!((s.sequence_gaps, s.lost_records), (1, 30));
    // Two exporters interleaved and each one's stream intact: no gap. A datagram played
    // twice (or an exporter restarting) steps back: a reset, not a loss.
    let mut both = datagrams("v9.export.pcap");
    both.swap(1, 7);
    both.push(both[0].clone());
    let (_, s) = decode_all(&both);
    assert_eq!((s.sequence_gaps, s.sequence_resets), (2, 2), "{s:?}");
}

// ---- hand-built datagrams --------------------------------------------------------------

fn exporter() -> SocketAddr {
    "192.0.2.1:4739".parse().unwrap()
}

fn spec(fields: &[(u16, u16)]) -> Vec<u8> {
    fields.iter().flat_map(|(id, len)| [id.to_be_bytes(), len.to_be_bytes()].concat()).collect()
}

fn template(id: u16, fields: &[(u16, u16)]) -> Vec<u8> {
    [id.to_be_bytes().to_vec(), (fields.len() as u16).to_be_bytes().to_vec(), spec(fields)].concat()
}

fn set(id: u16, body: &[u8]) -> Vec<u8> {
    [id.to_be_bytes().to_vec(), ((body.len() + 4) as u16).to_be_bytes().to_vec(), body.to_vec()].concat()
}

fn ipfix(seq: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let body = sets.concat();
    let mut d = vec![0, 10];
    d.extend(((16 + body.len()) as u16).to_be_bytes());
    d.extend(1_700_000_000u32.to_be_bytes());
    d.extend(seq.to_be_bytes());
    d.extend(7u32.to_be_bytes()); // observation domain
    d.extend(body);
    d
}

fn v9(seq: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let mut d = vec![0, 9, 0, sets.len() as u8];
    d.extend(60_000u32.to_be_bytes()); // uptime
    d.extend(1_700_000_000u32.to_be_bytes());
    d.extend(seq.to_be_bytes());
    d.extend(7u32.to_be_bytes()); // source id
    d.extend(sets.concat());
    d
}

/// src, dst, octets (4 bytes), ports, protocol: 17 bytes.
const SMALL: [(u16, u16); 6] = [(8, 4), (12, 4), (1, 4), (7, 2), (11, 2), (4, 1)];

fn small_record(last: u8) -> Vec<u8> {
    vec![192, 0, 2, 1, 198, 51, 100, last, 0, 0, 1, 0, 0x9c, 0x40, 0, 53, 17]
}

fn decode(decoder: &mut NetflowDecoder, d: &[u8]) -> Result<Vec<Flow>, String> {
    let mut out = Vec::new();
    decoder.decode(exporter(), d, 0, &mut out).map(|_| out).map_err(|e| e.to_string())
}

#[test]
fn bad_datagrams_say_what_and_where() {
    let t = set(2, &template(256, &SMALL));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "datagram of 0 bytes is too short to hold a NetFlow version"),
        ("one byte", vec![0], "datagram of 1 bytes is too short to hold a NetFlow version"),
        ("version 7", vec![0, 7, 0, 0], "header at byte 0: unknown version 7 (expected 5, 9 or 10)"),
        ("v5 short", vec![0, 5, 0, 1, 0, 0], "v5 header at byte 0: the datagram has 6 bytes, the header needs 24"),
        (
            "v5 count lies",
            [vec![0, 5, 0, 30], vec![0; 20], vec![0; 48]].concat(),
            "v5 header at byte 0: count 30 needs 1464 bytes, the datagram has 72",
        ),
        ("v9 short", vec![0, 9, 0, 0, 0, 0], "v9 header at byte 0: the datagram has 6 bytes, the header needs 20"),
        ("ipfix short", vec![0, 10, 0, 16], "IPFIX header at byte 0: the datagram has 4 bytes, the header needs 16"),
        (
            "ipfix length lies",
            {
                let mut d = ipfix(0, std::slice::from_ref(&t));
                d[3] += 1;
                d
            },
            "IPFIX header at byte 0: message length 49 does not fit the datagram (48 bytes; the header alone is 16)",
        ),
        (
            "set shorter than its header",
            ipfix(0, &[vec![0, 2, 0, 3]]),
            "IPFIX set 2 at byte 16: length 3 is shorter than a set header",
        ),
        (
            "v9 flowset of length 0",
            v9(0, &[vec![1, 0, 0, 0]]),
            "v9 flowset 256 at byte 20: length 0 is shorter than a flowset header",
        ),
        (
            "set past the end",
            ipfix(0, &[vec![1, 0, 0, 40, 1, 2, 3, 4]]),
            "IPFIX set 256 at byte 16: length 40 runs past the end of the message (8 bytes left)",
        ),
        (
            "template fields past the set",
            ipfix(0, &[set(2, &[1, 0, 0, 9, 0, 8, 0, 4])]),
            "IPFIX template 256 at byte 20: 9 fields run past the end of its set",
        ),
        (
            "template id below 256",
            ipfix(0, &[set(2, &template(255, &SMALL))]),
            "IPFIX template at byte 20: template id 255 is below 256",
        ),
        (
            "v9 template id below 256",
            v9(0, &[set(0, &template(3, &SMALL))]),
            "v9 template at byte 24: template id 3 is below 256",
        ),
        (
            "zero-length fields only",
            ipfix(0, &[set(2, &template(300, &[(8, 0), (1, 0)]))]),
            "IPFIX template 300 at byte 20: every field has length 0",
        ),
        (
            "v9 template with no fields",
            v9(0, &[set(0, &template(300, &[]))]),
            "v9 template 300 at byte 24: every field has length 0",
        ),
        (
            "options template without scope",
            ipfix(0, &[set(3, &[1, 0, 0, 1, 0, 0, 0, 160, 0, 8])]),
            "IPFIX options template 256 at byte 20: scope 0 does not fit 1 fields",
        ),
        (
            "records too long for any set",
            ipfix(0, &[set(2, &template(300, &[(8, 40000), (12, 40000)]))]),
            "IPFIX template 300 at byte 20: records of 80000 bytes cannot fit in a set",
        ),
        (
            "variable-length record past its set",
            ipfix(0, &[set(2, &template(300, &[(8, 4), (82, 65535)])), set(300, &[10, 0, 0, 1, 200, 1])]),
            "IPFIX data set at byte 32: the record of template 300 at byte 36 runs past its end",
        ),
    ];
    let mut decoder = NetflowDecoder::new(NetflowLimits::default());
    for (what, d, message) in &cases {
        assert_eq!(decode(&mut decoder, d).unwrap_err(), *message, "{what}");
    }
    let r = decoder.stats().rejected;
    assert_eq!(r.total(), cases.len() as u64);
    assert_eq!((r.short_header, r.unknown_version, r.bad_length, r.bad_set, r.bad_template), (5, 1, 4, 2, 7));
    assert_eq!(decoder.stats().flows, 0);
    // The error gives its parts too.
    let mut fresh = NetflowDecoder::new(NetflowLimits::default());
    let e = fresh.decode(exporter(), &ipfix(0, &[vec![0, 2, 0, 3]]), 0, &mut Vec::new()).unwrap_err();
    assert_eq!(
        (e.version, e.offset, e.kind),
        (Some(Version::Ipfix), 16, DatagramErrorKind::SetTooShort { set_id: 2, length: 3 })
    );
}

#[test]
fn a_refused_datagram_adds_no_flow() {
    let mut decoder = NetflowDecoder::new(NetflowLimits::default());
    let good = ipfix(0, &[set(2, &template(256, &SMALL)), set(256, &small_record(1))]);
    // A good data set followed by a set whose length lies: nothing of it is kept.
    let mut bad = [good.clone(), vec![1, 0, 0, 99]].concat();
    let len = bad.len() as u16;
    bad[2..4].copy_from_slice(&len.to_be_bytes());
    let mut out = vec![];
    assert!(decoder.decode(exporter(), &bad, 0, &mut out).is_err());
    assert!(out.is_empty());
    // The lengths were checked before anything was learned.
    assert_eq!(decoder.templates(), 0);
    assert_eq!(decode(&mut decoder, &good).unwrap().len(), 1);
}

#[test]
fn data_without_template_is_counted_and_dropped() {
    let mut decoder = NetflowDecoder::new(NetflowLimits::default());
    let data = set(256, &[small_record(1), small_record(2)].concat());
    assert_eq!(decode(&mut decoder, &ipfix(0, std::slice::from_ref(&data))).unwrap().len(), 0);
    assert_eq!((decoder.stats().sets_without_template, decoder.stats().bytes_without_template), (1, 34));
    // The template arrives; the next data set reads.
    let flows = decode(&mut decoder, &ipfix(2, &[set(2, &template(256, &SMALL)), data.clone()])).unwrap();
    assert_eq!(flows.len(), 2);
    assert_eq!((flows[1].dst, flows[1].dst_port, flows[1].bytes_out), ("198.51.100.2".parse().unwrap(), 53, 256));
    // Templates are per exporter and per domain: another exporter's data is not read
    // with it.
    let mut out = Vec::new();
    decoder.decode("192.0.2.99:4739".parse().unwrap(), &ipfix(0, &[data]), 0, &mut out).unwrap();
    assert!(out.is_empty());
    assert_eq!(decoder.stats().sets_without_template, 2);
}

#[test]
fn data_sets_shorter_than_a_record_and_padding() {
    let mut decoder = NetflowDecoder::new(NetflowLimits::default());
    decode(&mut decoder, &ipfix(0, &[set(2, &template(256, &SMALL))])).unwrap();
    // 10 bytes: less than one 17-byte record, so padding; one record plus 3 bytes.
    assert_eq!(decode(&mut decoder, &ipfix(0, &[set(256, &[0; 10])])).unwrap().len(), 0);
    let padded = [small_record(1), vec![0; 3]].concat();
    assert_eq!(decode(&mut decoder, &ipfix(0, &[set(256, &padded)])).unwrap().len(), 1);
    // Reserved set ids are skipped.
    assert_eq!(decode(&mut decoder, &ipfix(0, &[set(5, &[1, 2, 3, 4])])).unwrap().len(), 0);
    assert_eq!(decoder.stats().reserved_sets, 1);
}

#[test]
fn one_byte_records_of_zero_length_fields_end() {
    // A template of one variable-length field: each record is at least its length byte,
    // so a set of 60,000 zero bytes is 60,000 empty records, read in order and left.
    let mut decoder = NetflowDecoder::new(NetflowLimits::default());
    let zeros = vec![0u8; 60_000];
    let d = ipfix(0, &[set(2, &template(256, &[(82, 65535)])), set(256, &zeros)]);
    assert_eq!(decode(&mut decoder, &d).unwrap().len(), 0);
    assert_eq!(decoder.stats().records_without_address, 60_000);
    let ones = [1u8, b'x'].repeat(1000);
    decode(&mut decoder, &ipfix(0, &[set(256, &ones)])).unwrap();
    assert_eq!(decoder.stats().records_without_address, 61_000);
}

#[test]
fn template_floods_stay_bounded() {
    let limits = NetflowLimits { max_templates: 64, max_templates_per_exporter: 16, ..NetflowLimits::default() };
    let mut decoder = NetflowDecoder::new(limits);
    // One exporter announces 1,000 templates, 50 per datagram.
    for chunk in 0..20u16 {
        let templates: Vec<u8> = (0..50).flat_map(|i| template(256 + chunk * 50 + i, &SMALL)).collect();
        decode(&mut decoder, &ipfix(0, &[set(2, &templates)])).unwrap();
    }
    assert_eq!(decoder.templates(), 16);
    assert_eq!((decoder.stats().templates_learned, decoder.stats().templates_refused), (16, 984));
    // Other exporters still get room, until the total cap.
    for host in 2..10u8 {
        let mut out = Vec::new();
        let from = SocketAddr::new(IpAddr::from([192, 0, 2, host]), 4739);
        let templates: Vec<u8> = (0..20).flat_map(|i| template(256 + i, &SMALL)).collect();
        decoder.decode(from, &ipfix(0, &[set(2, &templates)]), 0, &mut out).unwrap();
    }
    assert_eq!(decoder.templates(), 64);
    // A template far too wide is refused, not stored.
    let wide: Vec<(u16, u16)> = (0..600).map(|i| (1000 + i, 1)).collect();
    let mut fresh = NetflowDecoder::new(NetflowLimits::default());
    decode(&mut fresh, &ipfix(0, &[set(2, &template(256, &wide))])).unwrap();
    assert_eq!((fresh.templates(), fresh.stats().templates_refused), (0, 1));
    // Once templates have been idle long enough, new ones take their place.
    let mut out = Vec::new();
    let later = limits.idle_us + 1;
    decoder
        .decode("198.51.100.1:4739".parse().unwrap(), &ipfix(0, &[set(2, &template(256, &SMALL))]), later, &mut out)
        .unwrap();
    assert_eq!(decoder.templates(), 1);
    assert_eq!(decoder.stats().templates_evicted, 64);
}

#[test]
fn withdrawals_and_refreshes() {
    let mut decoder = NetflowDecoder::new(NetflowLimits::default());
    let data = set(256, &small_record(1));
    let t = set(2, &[template(256, &SMALL), template(257, &SMALL)].concat());
    assert_eq!(decode(&mut decoder, &ipfix(0, &[t.clone(), data.clone()])).unwrap().len(), 1);
    // Withdraw 256 (field count 0): its data is now dropped.
    assert_eq!(decode(&mut decoder, &ipfix(1, &[set(2, &[1, 0, 0, 0]), data.clone()])).unwrap().len(), 0);
    assert_eq!((decoder.stats().templates_withdrawn, decoder.templates()), (1, 1));
    // "All templates" (template id = set id 2).
    decode(&mut decoder, &ipfix(1, &[set(2, &[0, 2, 0, 0])])).unwrap();
    assert_eq!((decoder.stats().templates_withdrawn, decoder.templates()), (2, 0));
    // A template re-sent unchanged is a refresh; changed, it is recompiled.
    decode(&mut decoder, &ipfix(1, std::slice::from_ref(&t))).unwrap();
    decode(&mut decoder, &ipfix(1, &[t])).unwrap();
    assert_eq!((decoder.stats().templates_learned, decoder.stats().templates_refreshed), (4, 2));
    let swapped = [(12, 4), (8, 4), (1, 4), (7, 2), (11, 2), (4, 1)];
    let flows = decode(&mut decoder, &ipfix(1, &[set(2, &template(256, &swapped)), data])).unwrap();
    assert_eq!(flows[0].src, "198.51.100.1".parse::<IpAddr>().unwrap());
}

#[test]
fn enterprise_variable_length_and_reduced_size_fields() {
    let mut decoder = NetflowDecoder::new(NetflowLimits::default());
    // src (4), an enterprise field (PEN 9, 2 bytes), interface name (variable), dst (4),
    // octets in 2 bytes, packets in 1, flowStartSeconds, flowEndMicroseconds (NTP),
    // ports, protocol, reverse octets (RFC 5103) in 4.
    let mut t = vec![1, 0, 0, 12];
    t.extend(spec(&[(8, 4)]));
    t.extend([0x80, 1, 0, 2, 0, 0, 0, 9]);
    t.extend(spec(&[(82, 65535), (12, 4), (1, 2), (2, 1), (150, 4), (155, 8), (7, 2), (11, 2), (4, 1)]));
    t.extend([0x80, 1, 0, 4, 0, 0, 0x72, 0x79]);
    let mut rec = vec![10, 0, 0, 1, 0xAB, 0xCD, 4, b'e', b't', b'h', b'0', 10, 0, 0, 2, 0x01, 0x00, 9];
    rec.extend(1_700_000_000u32.to_be_bytes());
    let ntp_end = ((1_700_000_002u64 + 2_208_988_800) << 32) | (1 << 30); // + 0.25 s
    rec.extend(ntp_end.to_be_bytes());
    rec.extend([0x9c, 0x40, 0x01, 0xbb, 6]);
    rec.extend(1234u32.to_be_bytes());
    // The same record with a three-byte length (255, then 16 bits).
    let mut long = rec.clone();
    long.splice(6..11, [255, 0, 4, b'e', b't', b'h', b'0']);
    let flows = decode(&mut decoder, &ipfix(0, &[set(2, &t), set(256, &[rec, long].concat())])).unwrap();
    assert_eq!(flows.len(), 2);
    for f in flows {
        assert_eq!((f.src, f.dst), ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()));
        assert_eq!((f.bytes_out, f.bytes_in, f.packets, f.dst_port), (256, 1234, 9, 443));
        assert_eq!((f.start_us, f.duration_us), (1_700_000_000_000_000, 2_250_000));
    }
}

#[test]
fn uptime_times_read_against_the_announced_boot_time() {
    let mut decoder = NetflowDecoder::new(NetflowLimits::default());
    // Options template 300: scope meteringProcessId, then systemInitTimeMilliseconds.
    let options = set(3, &[1, 44, 0, 2, 0, 1, 0, 143, 0, 4, 0, 160, 0, 8]);
    let boot_ms: u64 = 1_699_999_000_000;
    let options_data = set(300, &[[0, 0, 0, 1].as_slice(), &boot_ms.to_be_bytes()].concat());
    let fields = [(8, 4), (12, 4), (22, 4), (21, 4), (1, 4)];
    let rec = [[10, 0, 0, 1, 10, 0, 0, 2].as_slice(), &5_000u32.to_be_bytes(), &7_500u32.to_be_bytes(), &[0, 0, 0, 1]]
        .concat();
    // Before the boot time is known, the flow is placed ending at the export time.
    let d = ipfix(0, &[set(2, &template(256, &fields)), set(256, &rec)]);
    let f = decode(&mut decoder, &d).unwrap()[0];
    assert_eq!((f.start_us, f.duration_us), (1_700_000_000_000_000 - 2_500_000, 2_500_000));
    // Learned from the options record, it holds for this message and the next.
    let f = decode(&mut decoder, &ipfix(1, &[options, options_data, set(256, &rec)])).unwrap()[0];
    assert_eq!(f.start_us, (boot_ms as i64 + 5_000) * 1000);
    let f = decode(&mut decoder, &ipfix(3, &[set(256, &rec)])).unwrap()[0];
    assert_eq!((f.start_us, f.duration_us), ((boot_ms as i64 + 5_000) * 1000, 2_500_000));
    assert_eq!(decoder.stats().options_records, 1);
}

#[test]
fn v9_options_templates_are_learned_and_skipped() {
    let mut decoder = NetflowDecoder::new(NetflowLimits::default());
    // softflowd's: scope interface (4), sampling interval (4), algorithm (1), name (16).
    let options = set(1, &[1, 0, 0, 4, 0, 12, 0, 2, 0, 4, 0, 34, 0, 4, 0, 35, 0, 1, 0, 82, 0, 16, 0, 0]);
    let options_data = set(256, &[[0u8; 9].as_slice(), b"tiny.pcap\0\0\0\0\0\0\0", &[0, 0, 0]].concat());
    let t = set(0, &template(1024, &[(8, 4), (12, 4), (22, 4), (21, 4), (1, 4), (2, 4), (4, 1)]));
    let rec = [
        [10, 0, 0, 1, 10, 0, 0, 2].as_slice(),
        &50_000u32.to_be_bytes(),
        &59_000u32.to_be_bytes(),
        &[0, 0, 0, 99, 0, 0, 0, 2, 1],
    ]
    .concat();
    let flows = decode(&mut decoder, &v9(0, &[t, options, options_data, set(1024, &rec)])).unwrap();
    assert_eq!(flows.len(), 1);
    // First switched 10 s before the header's uptime (60 s): 10 s before its time.
    assert_eq!((flows[0].start_us, flows[0].duration_us), (1_699_999_990_000_000, 9_000_000));
    assert_eq!((flows[0].transport, flows[0].src_port, flows[0].dst_port), (Transport::ICMP, 0, 0));
    assert_eq!((decoder.stats().options_records, decoder.stats().templates_learned), (1, 2));
}

#[test]
fn synthetic_exports_read_back_exactly() {
    let flows = synthetic_flows(5_000, 7, 1_700_000_000_000_000);
    for protocol in [Protocol::V9, Protocol::Ipfix] {
        let mut exporter = Exporter::new(protocol, 3, 1_699_000_000_000_000);
        let mut decoder = NetflowDecoder::new(NetflowLimits::default());
        let mut out = Vec::new();
        for (i, chunk) in flows.chunks(30).enumerate() {
            // Whole-second export times: v9's header has no finer clock.
            let export_us = 1_700_000_100_000_000 + i as i64 * 1_000_000;
            let d = exporter.datagram(chunk, export_us);
            decoder.decode(exporter_addr(), &d, export_us, &mut out).unwrap();
        }
        assert_eq!(out, flows, "{protocol:?}");
        let s = decoder.stats();
        assert_eq!((s.sequence_gaps, s.sequence_resets, s.rejected.total()), (0, 0, 0), "{protocol:?}");
    }
}

fn exporter_addr() -> SocketAddr {
    "127.0.0.1:40000".parse().unwrap()
}

#[test]
fn pcap_round_trip_and_truncation() {
    let mut exporter = Exporter::new(Protocol::Ipfix, 0, 0);
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    let flows = synthetic_flows(300, 1, 1_700_000_000_000_000);
    for chunk in flows.chunks(30) {
        let d = exporter.datagram(chunk, 1_700_000_100_000_000);
        w.udp(1_700_000_100_000_000, exporter_addr(), "127.0.0.1:4739".parse().unwrap(), &d).unwrap();
    }
    let bytes = w.into_inner();
    let read = |bytes: &[u8]| {
        let mut reader = PcapReader::new(bytes).unwrap();
        let mut decoder = NetflowDecoder::new(NetflowLimits::default());
        let mut out = Vec::new();
        let result = loop {
            match reader.next_datagram() {
                Ok(Some(d)) => {
                    decoder.decode(d.src, d.payload, d.ts_us, &mut out).unwrap();
                }
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        (out, result)
    };
    let (out, err) = read(&bytes);
    assert!(err.is_none());
    assert_eq!(out, flows);
    // Cut in the middle of the sixth datagram: five read, then a clear error.
    let (out, err) = read(&bytes[..bytes.len() / 2 + 200]);
    assert_eq!(out.len(), 150);
    let err = err.unwrap();
    assert!(matches!(err, PcapError::Truncated { what: "packet record", .. }), "{err}");
    assert!(err.to_string().starts_with("capture ends inside the packet record at byte "), "{err}");
}

// ---- nothing panics, nothing grows ---------------------------------------------------

fn real_datagrams() -> &'static [(i64, SocketAddr, Vec<u8>)] {
    static ALL: std::sync::OnceLock<Vec<(i64, SocketAddr, Vec<u8>)>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        ["v5.export.pcap", "v9.export.pcap", "v9-a.export.pcap", "ipfix.export.pcap"]
            .iter()
            .flat_map(|n| datagrams(n))
            .collect()
    })
}

/// Decodes and checks the invariants every input must keep.
fn decode_checked(decoder: &mut NetflowDecoder, d: &[u8]) -> Result<(), TestCaseError> {
    let mut out = vec![];
    let before = decoder.stats().clone();
    match decoder.decode(exporter(), d, 0, &mut out) {
        Ok(n) => {
            prop_assert_eq!(n, out.len());
            prop_assert!(n <= d.len(), "a record is at least a byte");
        }
        Err(e) => {
            prop_assert!(out.is_empty());
            prop_assert!(!e.to_string().is_empty());
            prop_assert!(e.offset <= d.len());
            prop_assert_eq!(decoder.stats().rejected.total(), before.rejected.total() + 1);
        }
    }
    prop_assert!(decoder.templates() <= decoder.limits().max_templates);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(version in prop_oneof![Just(5u8), Just(9u8), Just(10u8), any::<u8>()], rest: Vec<u8>) {
        let mut decoder = NetflowDecoder::new(NetflowLimits::default());
        let d = [vec![0, version], rest].concat();
        decode_checked(&mut decoder, &d)?;
        // The same bytes again, now that any template in them may have been learned.
        decode_checked(&mut decoder, &d)?;
    }

    #[test]
    fn mutated_real_datagrams_never_panic(
        picks in proptest::collection::vec((any::<proptest::sample::Index>(), proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..6), any::<proptest::sample::Index>()), 1..8)
    ) {
        let all = real_datagrams();
        let mut decoder = NetflowDecoder::new(NetflowLimits { max_templates: 8, ..NetflowLimits::default() });
        // Templates first, so the mutations reach the data records.
        for (_, _, d) in all.iter().take(2) {
            decode_checked(&mut decoder, d)?;
        }
        for (pick, flips, cut) in picks {
            let mut d = all[pick.index(all.len())].2.clone();
            for (at, byte) in flips {
                let i = at.index(d.len());
                d[i] = byte;
            }
            let keep = cut.index(d.len() + 1);
            d.truncate(keep.max(d.len() * 3 / 4));
            decode_checked(&mut decoder, &d)?;
        }
    }
}
