//! The links between C2 servers and their victims, counted per (C2, victim, day) while
//! telemetry streams: [`Counter`] for one link, [`ContactMap`] for all of them.

use std::net::IpAddr;

use crate::hash::FastMap;
use crate::indicators::{Indicator, IndicatorKind};

#[derive(Debug, Clone, Copy)]
pub(crate) struct Counter {
    pub(crate) first_us: i64,
    pub(crate) last_us: i64,
    pub(crate) flows: u64,
    /// Lookups, requests, hellos and sinkhole hits.
    pub(crate) observations: u64,
    pub(crate) bytes: u64,
    /// The indicator that tied them (the first one seen).
    pub(crate) indicator: u32,
    /// Whether the link stands whatever else is learned: a listed address, a listed name
    /// the host asked for itself. A flow to an address learned from someone else's answer
    /// is not certain until the run is over: if the address turns out to serve other
    /// names too (a CDN, shared hosting), it is dropped.
    pub(crate) certain: bool,
}

impl Counter {
    pub(crate) fn new(time_us: i64, indicator: u32, certain: bool) -> Counter {
        Counter { first_us: time_us, last_us: time_us, flows: 0, observations: 0, bytes: 0, indicator, certain }
    }

    pub(crate) fn touch(&mut self, time_us: i64, certain: bool) {
        self.first_us = self.first_us.min(time_us);
        self.last_us = self.last_us.max(time_us);
        self.certain |= certain;
    }

    /// Folds in another counter of the same link (its indicator is left to the caller).
    pub(crate) fn add(&mut self, other: &Counter) {
        self.first_us = self.first_us.min(other.first_us);
        self.last_us = self.last_us.max(other.last_us);
        self.certain |= other.certain;
        self.flows += other.flows;
        self.observations += other.observations;
        self.bytes = self.bytes.saturating_add(other.bytes);
    }
}

pub(crate) fn v4_key(c2: std::net::Ipv4Addr, victim: std::net::Ipv4Addr, day: i32) -> u128 {
    u128::from(u32::from(c2)) << 64 | u128::from(u32::from(victim)) << 32 | u128::from(day as u32)
}

/// Counters per (C2, victim, day). A national day has millions of them, and inserting
/// each new one into a hash map is a cache miss (half of the whole flow path's time in
/// the NetFlow benchmark). So the common case — a flow, IPv4 on both sides — is appended
/// to a buffer, and the buffer is sorted and merged into a sorted vector now and then:
/// sequential work, with memory still bounded by the distinct links plus the buffer.
/// Links made by names (lookups, requests, hellos) and IPv6 ones stay in a hash map.
#[derive(Default)]
pub(crate) struct ContactMap {
    /// IPv4 flow links not yet merged: (key, one flow's counter).
    pending: Vec<(u128, Counter)>,
    /// IPv4 flow links, sorted by key, one per key. Key: C2 << 64 | victim << 32 | day.
    v4: Vec<(u128, Counter)>,
    other: FastMap<(IpAddr, IpAddr, i32), Counter>,
}

/// Flow links buffered before a merge (~12 MiB).
pub(crate) const PENDING_LINKS: usize = 1 << 18;

impl ContactMap {
    #[inline]
    pub(crate) fn append_v4(&mut self, key: u128, hit: Counter) {
        self.pending.push((key, hit));
        if self.pending.len() >= PENDING_LINKS {
            self.merge_pending();
        }
    }

    pub(crate) fn get_or_insert(
        &mut self,
        c2: IpAddr,
        victim: IpAddr,
        day: i32,
        new: impl FnOnce() -> Counter,
    ) -> &mut Counter {
        self.other.entry((c2, victim, day)).or_insert_with(new)
    }

    /// Sorts the buffer, folds equal keys, and merges it into the sorted vector.
    fn merge_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut pending = std::mem::take(&mut self.pending);
        // Stable, so the first flow of a link keeps its indicator.
        pending.sort_by_key(|(key, _)| *key);
        let old = std::mem::take(&mut self.v4);
        let mut merged: Vec<(u128, Counter)> = Vec::with_capacity(old.len() + pending.len());
        let (mut a, mut b) = (old.into_iter().peekable(), pending.into_iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => {
                    if x.0 <= y.0 {
                        a.next()
                    } else {
                        b.next()
                    }
                }
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => break,
            };
            let Some((key, counter)) = next else { break };
            match merged.last_mut() {
                Some((last, c)) if *last == key => c.add(&counter),
                _ => merged.push((key, counter)),
            }
        }
        self.pending = Vec::with_capacity(PENDING_LINKS.min(merged.len().max(1024)));
        self.v4 = merged;
    }

    /// Every link once: the flow links merged, and a name's link to the same (C2, victim,
    /// day) folded into the flow's (the name, saying more, becomes its indicator; a second
    /// name is returned to be kept apart, as `link_address` keeps it).
    pub(crate) fn settle(&mut self, list: &[Indicator]) -> Vec<(u32, IpAddr, Counter)> {
        self.merge_pending();
        let mut second_names = Vec::new();
        let v4 = &mut self.v4;
        self.other.retain(|&(c2, victim, day), named| {
            let (IpAddr::V4(c), IpAddr::V4(v)) = (c2, victim) else { return true };
            let Ok(at) = v4.binary_search_by_key(&v4_key(c, v, day), |(k, _)| *k) else { return true };
            let flows = &mut v4[at].1;
            if flows.indicator != named.indicator {
                if list[flows.indicator as usize].kind == IndicatorKind::Address {
                    flows.indicator = named.indicator;
                } else if list[named.indicator as usize].kind != IndicatorKind::Address {
                    second_names.push((named.indicator, victim, *named));
                }
            }
            flows.add(named);
            false
        });
        second_names
    }

    pub(crate) fn len(&self) -> usize {
        self.v4.len() + self.pending.len() + self.other.len()
    }

    /// Every link; call [`ContactMap::settle`] first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = ((IpAddr, IpAddr, i32), &Counter)> {
        let v4 = self.v4.iter().map(|(k, c)| {
            let c2 = IpAddr::V4(std::net::Ipv4Addr::from((k >> 64) as u32));
            let victim = IpAddr::V4(std::net::Ipv4Addr::from((k >> 32) as u32));
            ((c2, victim, *k as u32 as i32), c)
        });
        v4.chain(self.other.iter().map(|(&k, c)| (k, c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffered_flow_links_merge_into_one_counter_per_link_across_merges() {
        let mut map = ContactMap::default();
        let (c2, victim) = ("198.51.100.4".parse().unwrap(), "10.0.0.1".parse().unwrap());
        let mut hit = Counter::new(5_000, 0, true);
        hit.flows = 1;
        hit.bytes = 10;
        // More than a buffer's worth for one link, and a few others interleaved.
        for i in 0..(PENDING_LINKS as u32 + 100) {
            map.append_v4(
                v4_key(c2, victim, 7),
                Counter { first_us: 5_000 + i64::from(i), last_us: 5_000 + i64::from(i), ..hit },
            );
            if i % 50_000 == 0 {
                map.append_v4(v4_key(c2, std::net::Ipv4Addr::new(10, 0, 0, 2 + (i / 50_000) as u8), 7), hit);
            }
        }
        let list = vec![Indicator { kind: IndicatorKind::Address, ..Indicator::default() }];
        assert!(map.settle(&list).is_empty());
        let links: Vec<((IpAddr, IpAddr, i32), Counter)> = map.iter().map(|(k, c)| (k, *c)).collect();
        assert_eq!(links.len(), 1 + 6);
        let (key, main) = links.iter().find(|(k, _)| k.1 == IpAddr::V4(victim)).unwrap();
        assert_eq!(key.2, 7);
        assert_eq!(main.flows, PENDING_LINKS as u64 + 100);
        assert_eq!(main.bytes, 10 * (PENDING_LINKS as u64 + 100));
        assert_eq!((main.first_us, main.last_us), (5_000, 5_000 + PENDING_LINKS as i64 + 99));
    }
}
