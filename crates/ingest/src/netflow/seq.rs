//! Sequence numbers: how many records (v5, IPFIX) or export packets (v9) never arrived.
//!
//! Each (exporter, protocol, source id / observation domain) is one stream. The first
//! message of a stream only sets the mark: an exporter may start anywhere (softflowd's
//! IPFIX starts at 19). A number behind the expected one is a restart or a reordered
//! datagram, counted as a reset and taken as the new mark, never as a loss.

use std::hash::{Hash, Hasher};
use std::net::SocketAddr;

use vedette_model::fast_hash::FastMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamKey {
    pub exporter: SocketAddr,
    pub version: u8,
    pub domain: u32,
}

/// Looked up twice per datagram: two words, as `TemplateKey` (template.rs).
impl Hash for StreamKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(u64::from(self.domain) << 8 | u64::from(self.version));
        super::template::exporter_words(&self.exporter, state);
    }
}

/// What a sequence number counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counting {
    /// v9: export packets.
    Packets,
    /// v5 (flows) and IPFIX (data records).
    Records,
}

/// One message's records, for the sequence check.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MessageCount {
    pub seq: u32,
    /// Data records, options records included; `None` when a data set could not be read
    /// for want of its template, so the count is unknown.
    pub records: Option<u32>,
    /// Flow records only (options records left out).
    pub flows: u32,
}

#[derive(Debug, Clone, Copy)]
struct Stream {
    seq: u32,
    records: Option<u32>,
    /// The exporter numbers a message by the records up to and including it, not before
    /// it (softflowd 1.1.0's IPFIX). Learned from the numbers themselves.
    inclusive: bool,
    init_us: Option<i64>,
    seen_us: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    First,
    InOrder,
    /// This many records or packets went missing.
    Gap(u32),
    Reset,
    /// The stream table is full: not tracked.
    Untracked,
}

/// Streams, bounded like the template cache: when full, streams idle for `idle_us` are
/// dropped (at most one sweep a second), else the new stream is not tracked.
pub(crate) struct Streams {
    map: FastMap<StreamKey, Stream>,
    max: usize,
    idle_us: i64,
    last_sweep_us: Option<i64>,
    /// The stream last observed and its boot time as the map has it now: a datagram
    /// asks for its stream's boot time first, and most come from the stream before.
    last: Option<(StreamKey, Option<i64>)>,
}

impl Streams {
    pub fn new(max: usize, idle_us: i64) -> Self {
        Streams { map: FastMap::default(), max, idle_us, last_sweep_us: None, last: None }
    }

    /// The exporter's boot time learned from an earlier options record (IPFIX).
    pub fn init_us(&self, key: &StreamKey) -> Option<i64> {
        match self.last {
            Some((last, init_us)) if last == *key => init_us,
            _ => self.map.get(key).and_then(|s| s.init_us),
        }
    }

    pub fn observe(
        &mut self,
        key: StreamKey,
        counting: Counting,
        now_us: i64,
        msg: MessageCount,
        init_us: Option<i64>,
    ) -> Outcome {
        let Some(prev) = self.map.get_mut(&key) else {
            // Whether the stream is tracked or not, `last` says what the map holds for it.
            self.last = Some((key, None));
            if self.map.len() >= self.max && self.last_sweep_us.is_none_or(|t| now_us.saturating_sub(t) >= 1_000_000) {
                self.last_sweep_us = Some(now_us);
                let idle = self.idle_us;
                self.map.retain(|_, s| now_us.saturating_sub(s.seen_us) < idle);
            }
            if self.map.len() >= self.max {
                return Outcome::Untracked;
            }
            self.map
                .insert(key, Stream { seq: msg.seq, records: msg.records, inclusive: false, init_us, seen_us: now_us });
            self.last = Some((key, init_us));
            return Outcome::First;
        };
        let outcome = judge(prev, counting, msg);
        let inclusive =
            if exclusive_match(prev, counting, msg) { false } else { prev.inclusive || inclusive_match(prev, msg) };
        *prev = Stream {
            seq: msg.seq,
            records: msg.records,
            inclusive,
            init_us: init_us.or(prev.init_us),
            seen_us: now_us,
        };
        self.last = Some((key, prev.init_us));
        outcome
    }
}

/// The next number under the RFC's reading (records sent before this message).
fn exclusive_match(prev: &Stream, counting: Counting, msg: MessageCount) -> bool {
    match counting {
        Counting::Packets => msg.seq == prev.seq.wrapping_add(1),
        Counting::Records => prev.records.is_some_and(|r| msg.seq == prev.seq.wrapping_add(r)),
    }
}

/// The next number under softflowd's reading (records up to and including this message,
/// options records left out or not).
fn inclusive_match(prev: &Stream, msg: MessageCount) -> bool {
    msg.seq.wrapping_sub(msg.flows) == prev.seq || msg.records.is_some_and(|r| msg.seq.wrapping_sub(r) == prev.seq)
}

fn judge(prev: &Stream, counting: Counting, msg: MessageCount) -> Outcome {
    if exclusive_match(prev, counting, msg) || (counting == Counting::Records && inclusive_match(prev, msg)) {
        return Outcome::InOrder;
    }
    let expected = match counting {
        Counting::Packets => prev.seq.wrapping_add(1),
        Counting::Records if prev.inclusive => prev.seq.wrapping_add(msg.flows),
        Counting::Records => match prev.records {
            Some(r) => prev.seq.wrapping_add(r),
            // The previous message's count is unknown: take this number as the new mark.
            None => return Outcome::InOrder,
        },
    };
    // Read as signed 32 bits so a counter wrap is a small step, not a restart.
    match msg.seq.wrapping_sub(expected) as i32 {
        d if d > 0 => Outcome::Gap(d as u32),
        _ => Outcome::Reset,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> StreamKey {
        StreamKey { exporter: "127.0.0.1:9".parse().unwrap(), version: 10, domain: 0 }
    }

    fn msg(seq: u32, records: u32, flows: u32) -> MessageCount {
        MessageCount { seq, records: Some(records), flows }
    }

    #[test]
    fn softflowd_ipfix_numbering_is_in_order() {
        // The sequence numbers of softflowd 1.1.0's IPFIX capture: each message is
        // numbered by the flow records up to and including it.
        let mut s = Streams::new(8, i64::MAX);
        let msgs =
            [(19, 20, 19), (47, 28, 28), (75, 28, 28), (103, 28, 28), (131, 28, 28), (159, 28, 28), (181, 22, 22)];
        let outcomes: Vec<_> =
            msgs.iter().map(|&(q, r, f)| s.observe(key(), Counting::Records, 0, msg(q, r, f), None)).collect();
        assert_eq!(outcomes[0], Outcome::First);
        assert!(outcomes[1..].iter().all(|o| *o == Outcome::InOrder), "{outcomes:?}");
    }

    #[test]
    fn rfc_numbering_gap_and_reset() {
        let mut s = Streams::new(8, i64::MAX);
        assert_eq!(s.observe(key(), Counting::Records, 0, msg(0, 30, 30), None), Outcome::First);
        assert_eq!(s.observe(key(), Counting::Records, 0, msg(30, 30, 30), None), Outcome::InOrder);
        assert_eq!(s.observe(key(), Counting::Records, 0, msg(90, 30, 30), None), Outcome::Gap(30));
        assert_eq!(s.observe(key(), Counting::Records, 0, msg(0, 30, 30), None), Outcome::Reset);
    }

    #[test]
    fn packets_wrap() {
        let mut s = Streams::new(8, i64::MAX);
        let m = |seq| MessageCount { seq, records: Some(1), flows: 1 };
        s.observe(key(), Counting::Packets, 0, m(u32::MAX), None);
        assert_eq!(s.observe(key(), Counting::Packets, 0, m(0), None), Outcome::InOrder);
        assert_eq!(s.observe(key(), Counting::Packets, 0, m(3), None), Outcome::Gap(2));
    }

    #[test]
    fn bounded() {
        let mut s = Streams::new(1, 10);
        let other = StreamKey { domain: 1, ..key() };
        assert_eq!(s.observe(key(), Counting::Packets, 0, msg(0, 1, 1), None), Outcome::First);
        assert_eq!(s.observe(other, Counting::Packets, 5, msg(0, 1, 1), None), Outcome::Untracked);
        // Idle long enough to be swept.
        assert_eq!(s.observe(other, Counting::Packets, 2_000_000, msg(0, 1, 1), None), Outcome::First);
    }
}
