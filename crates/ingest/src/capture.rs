//! NetFlow v5/v9/IPFIX export datagrams recorded in a packet capture (pcap or pcapng),
//! decoded into flows exactly as the collector of `vedette run` decodes them off the wire.
//!
//! A refused datagram is a [`vedette_model::Rejected`] numbered by its place among the
//! capture's UDP datagrams; a capture that stops mid-record keeps what came before and
//! says where it stopped.
//!
//! ```
//! use vedette_ingest::capture::decode_capture;
//! use vedette_ingest::netflow::testing::PcapWriter;
//!
//! let mut w = PcapWriter::new(Vec::new()).unwrap();
//! w.udp(1_700_000_000_000_000, "192.0.2.1:4000".parse().unwrap(), "192.0.2.2:2055".parse().unwrap(), b"\x00\x05")
//!     .unwrap();
//! let mut batches = Vec::new();
//! let summary = decode_capture(&w.into_inner()[..], "export.pcap", "netflow-pcap", 1024, |b| {
//!     batches.push(b);
//!     true
//! });
//! assert_eq!(summary.netflow.datagrams, 1);
//! assert_eq!(batches[0].rejected.len(), 1); // two bytes are not a v5 header
//! ```

use std::io::Read;

use vedette_model::Rejected;

use crate::netflow::{NetflowDecoder, NetflowLimits, NetflowStats};
use crate::pcap::{PcapError, PcapReader, PcapStats};
use crate::Batch;

/// Bytes of a refused datagram kept as its evidence.
const RAW_KEPT: usize = 512;

/// What reading a capture did.
#[derive(Debug, Clone, Default)]
pub struct CaptureSummary {
    pub pcap: PcapStats,
    pub netflow: NetflowStats,
    /// Why the capture could not be read to its end, if it could not.
    pub stopped: Option<String>,
}

/// Whether the first bytes are a pcap or pcapng file header.
pub fn probe(head: &[u8]) -> bool {
    matches!(
        head.get(..4).map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]])),
        Some(0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 | 0x0a0d_0d0a)
    )
}

/// Decodes every export datagram of a capture, handing `sink` a [`Batch`] of flows and
/// rejected datagrams every `batch_size` records; `sink` returns false to stop early.
pub fn decode_capture(
    input: impl Read,
    source: &str,
    feed: &str,
    batch_size: usize,
    mut sink: impl FnMut(Batch) -> bool,
) -> CaptureSummary {
    let mut summary = CaptureSummary::default();
    let mut batch = Batch::default();
    let mut reader = match PcapReader::new(input) {
        Ok(r) => r,
        Err(e) => {
            let reason = format!("not a readable packet capture: {e}");
            batch.rejected.push(Rejected::new(source, feed, 0, b"", reason.clone()));
            summary.stopped = Some(reason);
            sink(batch);
            return summary;
        }
    };
    let mut decoder = NetflowDecoder::new(NetflowLimits::default());
    let mut number = 0u64;
    loop {
        let datagram = match reader.next_datagram() {
            Ok(Some(d)) => d,
            Ok(None) => break,
            Err(e) => {
                let reason = stopped_reason(&e);
                batch.rejected.push(Rejected::new(source, feed, number + 1, b"", reason.clone()));
                summary.stopped = Some(reason);
                break;
            }
        };
        number += 1;
        if let Err(e) = decoder.decode(datagram.src, datagram.payload, datagram.ts_us, &mut batch.flows) {
            let raw = &datagram.payload[..datagram.payload.len().min(RAW_KEPT)];
            let reason = format!("datagram from {}: {e}", datagram.src);
            batch.rejected.push(Rejected::new(source, feed, number, raw, reason));
        }
        if batch.len() >= batch_size && !sink(std::mem::take(&mut batch)) {
            summary.pcap = *reader.stats();
            summary.netflow = decoder.stats().clone();
            return summary;
        }
    }
    if number == 0 && summary.stopped.is_none() {
        batch.rejected.push(Rejected::new(source, feed, 0, b"", "the capture holds no UDP datagram"));
    }
    sink(batch);
    summary.pcap = *reader.stats();
    summary.netflow = decoder.stats().clone();
    summary
}

fn stopped_reason(e: &PcapError) -> String {
    format!("capture stopped: {e}; the datagrams before were read")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netflow::testing::PcapWriter;

    #[test]
    fn a_cut_capture_keeps_what_came_before_and_says_where_it_stopped() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let (a, b) = ("192.0.2.1:4000".parse().unwrap(), "192.0.2.2:2055".parse().unwrap());
        w.udp(1_700_000_000_000_000, a, b, b"\x00\x05").unwrap();
        w.udp(1_700_000_000_000_001, a, b, b"\x00\x05").unwrap();
        let mut bytes = w.into_inner();
        bytes.truncate(bytes.len() - 3);
        let mut rejected = Vec::new();
        let summary = decode_capture(&bytes[..], "cut.pcap", "netflow-pcap", 10, |b| {
            rejected.extend(b.rejected);
            true
        });
        assert_eq!(summary.netflow.datagrams, 1);
        assert!(summary.stopped.is_some());
        assert_eq!(rejected.len(), 2, "{rejected:?}");
        assert!(rejected[1].reason.contains("capture stopped"), "{}", rejected[1].reason);
    }

    #[test]
    fn text_is_not_a_capture() {
        assert!(!probe(b"#separator \\x09\n"));
        let mut batches = Vec::new();
        let summary = decode_capture(&b"hello world, not a capture"[..], "x.txt", "netflow-pcap", 10, |b| {
            batches.push(b);
            true
        });
        assert!(summary.stopped.unwrap().contains("not a readable packet capture"));
        assert_eq!(batches[0].rejected.len(), 1);
    }
}
