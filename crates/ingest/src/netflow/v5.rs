//! NetFlow v5: a 24-byte header and up to 30 fixed 48-byte records, IPv4 only.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use vedette_model::{Flow, Transport};

use super::seq::{Counting, MessageCount, StreamKey};
use super::template::icmp_ports;
use super::{be16, be32, DatagramError, DatagramErrorKind, NetflowDecoder, Version};

const HEADER: usize = 24;
const RECORD: usize = 48;

pub(super) fn decode(
    dec: &mut NetflowDecoder,
    exporter: SocketAddr,
    d: &[u8],
    received_us: i64,
    out: &mut Vec<Flow>,
) -> Result<usize, DatagramError> {
    if d.len() < HEADER {
        return Err(DatagramError::new(Version::V5, 0, DatagramErrorKind::ShortHeader { len: d.len(), need: HEADER }));
    }
    let count = be16(d, 2);
    let need = HEADER + usize::from(count) * RECORD;
    if need > d.len() {
        return Err(DatagramError::new(Version::V5, 0, DatagramErrorKind::CountPastEnd { count, need, len: d.len() }));
    }
    let uptime_ms = be32(d, 4);
    let export_us = i64::from(be32(d, 8)) * 1_000_000 + i64::from(be32(d, 12) / 1000);
    let sequence = be32(d, 16);
    let engine = u32::from(be16(d, 20)); // engine_type, engine_id: one stream each
                                         // Read First/Last (ms of uptime) against the header; signed 32-bit differences
                                         // survive the uptime counter's wrap.
    let at = |t: u32| export_us - i64::from(uptime_ms.wrapping_sub(t) as i32) * 1000;
    out.reserve(usize::from(count));
    for rec in d[HEADER..need].chunks_exact(RECORD) {
        let ip = |at: usize| Ipv4Addr::new(rec[at], rec[at + 1], rec[at + 2], rec[at + 3]);
        let start_us = at(be32(rec, 24));
        let end_us = at(be32(rec, 28));
        let proto = rec[38];
        let (mut src_port, mut dst_port) = (be16(rec, 32), be16(rec, 34));
        icmp_ports(proto, &mut src_port, &mut dst_port);
        out.push(Flow {
            start_us,
            duration_us: u64::try_from(end_us - start_us).unwrap_or(0),
            src: IpAddr::V4(ip(0)),
            src_port,
            dst: IpAddr::V4(ip(4)),
            dst_port,
            transport: Transport(proto),
            bytes_out: u64::from(be32(rec, 20)),
            bytes_in: 0,
            packets: u64::from(be32(rec, 16)),
        });
    }
    let key = StreamKey { exporter, version: 5, domain: engine };
    let flows = u32::from(count);
    dec.sequence(
        key,
        Counting::Records,
        received_us,
        MessageCount { seq: sequence, records: Some(flows), flows },
        None,
    );
    Ok(usize::from(count))
}
