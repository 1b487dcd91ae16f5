//! The links between C2 servers and their victims, counted per (C2, victim, day) while
//! telemetry streams: [`Counter`] for one link, [`ContactMap`] for all of them.

use std::net::{IpAddr, Ipv4Addr};

use crate::indicators::{Indicator, IndicatorKind};
use vedette_model::fast_hash::FastMap;

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

pub(crate) fn v4_key(c2: Ipv4Addr, victim: Ipv4Addr, day: i32) -> u128 {
    u128::from(u32::from(c2)) << 64 | u128::from(u32::from(victim)) << 32 | u128::from(day as u32)
}

/// One flow's link as buffered: 32 bytes, half a `(key, Counter)`, since a flow has one
/// time and one byte count, and the buffer is sorted (moved around) several times.
#[derive(Debug, Clone, Copy, Default)]
struct FlowLink {
    /// C2 << 32 | victim.
    pair: u64,
    day: u32,
    /// The indicator, with [`CERTAIN`] set for a certain link.
    tag: u32,
    time_us: i64,
    bytes: u64,
}

/// Indicators are below 2^31 (the matcher's top bit marks learned addresses), so the
/// top bit of a [`FlowLink`]'s tag is free to carry `certain`.
const CERTAIN: u32 = 1 << 31;

impl FlowLink {
    /// The key of [`v4_key`]: links sort as (C2, victim, day).
    #[inline]
    fn key(&self) -> u128 {
        u128::from(self.pair) << 32 | u128::from(self.day)
    }

    /// Byte `i` of the key, least significant first (the day's 4 bytes, then the pair's 8).
    #[inline(always)]
    fn digit(&self, i: usize) -> usize {
        if i < 4 {
            (self.day >> (8 * i)) as u8 as usize
        } else {
            (self.pair >> (8 * (i - 4))) as u8 as usize
        }
    }

    /// The link of this one flow.
    #[inline]
    fn link(&self) -> V4Link {
        V4Link {
            pair: self.pair,
            day: self.day,
            tag: self.tag,
            first_us: self.time_us,
            last_us: self.time_us,
            flows: 1,
            bytes: self.bytes,
        }
    }
}

/// An IPv4 flow link as merged: a [`Counter`] and its key in 48 bytes instead of 64 (the
/// key as the buffered links have it, `certain` in the tag), since the merged links are
/// most of the memory a national day takes and are moved at each merge. Lookups and
/// requests folded into a flow link at the end (rare) keep their count in
/// [`ContactMap::v4_observations`].
#[derive(Debug, Clone, Copy)]
struct V4Link {
    pair: u64,
    day: u32,
    /// The indicator, with [`CERTAIN`] set for a certain link.
    tag: u32,
    first_us: i64,
    last_us: i64,
    flows: u64,
    bytes: u64,
}

impl V4Link {
    #[inline]
    fn key(&self) -> u128 {
        u128::from(self.pair) << 32 | u128::from(self.day)
    }

    fn indicator(&self) -> u32 {
        self.tag & !CERTAIN
    }

    /// Folds in a later counter of the same link, as [`Counter::add`] does (the
    /// indicator stays this one's).
    #[inline]
    fn add(&mut self, other: &V4Link) {
        self.first_us = self.first_us.min(other.first_us);
        self.last_us = self.last_us.max(other.last_us);
        self.tag |= other.tag & CERTAIN;
        self.flows += other.flows;
        self.bytes = self.bytes.saturating_add(other.bytes);
    }

    fn counter(&self, observations: u64) -> Counter {
        Counter {
            first_us: self.first_us,
            last_us: self.last_us,
            flows: self.flows,
            observations,
            bytes: self.bytes,
            indicator: self.indicator(),
            certain: self.tag & CERTAIN != 0,
        }
    }
}

/// Counters per (C2, victim, day). A national day has millions of them, and inserting
/// each new one into a hash map is a cache miss (half of the whole flow path's time in
/// the NetFlow benchmark). So the common case — a flow, IPv4 on both sides — is appended
/// to a buffer, and the buffer is sorted and merged into a sorted vector now and then:
/// sequential work, with memory still bounded by the distinct links plus the buffer.
/// Links made by names (lookups, requests, hellos) and IPv6 ones stay in a hash map.
#[derive(Default)]
pub(crate) struct ContactMap {
    /// IPv4 flow links not yet merged, in arrival order.
    pending: Vec<FlowLink>,
    /// The radix sort's second buffer, kept (like `pending`'s room) from one merge to
    /// the next: fresh pages for every merge cost more than the sort.
    scratch: Vec<FlowLink>,
    /// IPv4 flow links, sorted by key, one per key. Key: C2 << 64 | victim << 32 | day.
    v4: Vec<V4Link>,
    /// Lookups, requests and hellos of the names folded into `v4` links (by key).
    v4_observations: FastMap<u128, u64>,
    other: FastMap<(IpAddr, IpAddr, i32), Counter>,
}

/// Flow links buffered before a merge (8 MiB, and as much again to sort them).
pub(crate) const PENDING_LINKS: usize = 1 << 18;

/// The bytes of a key that a radix sort may have to sort on: the day's 4, the pair's 8.
const KEY_BYTES: usize = 12;

impl ContactMap {
    /// One flow between IPv4 addresses: buffered, folded into its link at the next merge.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn append_v4(
        &mut self,
        c2: Ipv4Addr,
        victim: Ipv4Addr,
        day: i32,
        time_us: i64,
        bytes: u64,
        indicator: u32,
        certain: bool,
    ) {
        let pair = u64::from(u32::from(c2)) << 32 | u64::from(u32::from(victim));
        let tag = indicator & !CERTAIN | if certain { CERTAIN } else { 0 };
        if self.pending.capacity() == 0 {
            // The whole buffer at once: grown by doubling, it would be copied (into fresh
            // pages, which the kernel zeroes first) eighteen times on its way to full.
            self.pending.reserve_exact(PENDING_LINKS);
        }
        self.pending.push(FlowLink { pair, day: day as u32, tag, time_us, bytes });
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

    /// Sorts the buffer, folds equal keys, and merges it into the sorted vector, in place.
    fn merge_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        radix_sort(&mut self.pending, &mut self.scratch);
        let (pending, v4) = (&self.pending, &mut self.v4);
        let old_len = v4.len();
        // How many keys are new: what the vector grows by.
        let fresh = fresh_keys(pending, &v4[v4.partition_point(|l| l.key() < pending[0].key())..]);
        let same_key = |a: &FlowLink, b: &FlowLink| a.key() == b.key();
        if v4.capacity() < old_len + fresh {
            // Growing: merged forward into a new vector, rather than the old one copied
            // into it first and merged there. With room for as much again: pages are only
            // backed once written, so the room costs nothing until used, and the next
            // merges are done in place.
            let mut grown = Vec::with_capacity(2 * (old_len + fresh));
            let mut i = 0;
            for run in pending.chunk_by(same_key) {
                let c = run_link(run);
                let before = v4[i..].iter().take_while(|l| l.key() < c.key()).count();
                grown.extend_from_slice(&v4[i..i + before]);
                i += before;
                match v4.get(i).filter(|l| l.key() == c.key()) {
                    Some(old) => {
                        // A link merged before keeps its indicator.
                        let mut old = *old;
                        old.add(&c);
                        grown.push(old);
                        i += 1;
                    }
                    None => grown.push(c),
                }
            }
            grown.extend_from_slice(&v4[i..]);
            *v4 = grown;
            self.pending.clear();
            return;
        }
        // In place: the vector is filled from its end backwards, so no element is read
        // after it was overwritten and nothing is allocated.
        v4.resize(old_len + fresh, pending[0].link());
        let (mut w, mut i) = (old_len + fresh, old_len);
        for run in pending.chunk_by(same_key).rev() {
            let c = run_link(run);
            let key = c.key();
            while i > 0 && v4[i - 1].key() > key {
                v4[w - 1] = v4[i - 1];
                (w, i) = (w - 1, i - 1);
            }
            if i > 0 && v4[i - 1].key() == key {
                let mut old = v4[i - 1];
                old.add(&c);
                v4[w - 1] = old;
                i -= 1;
            } else {
                v4[w - 1] = c;
            }
            w -= 1;
        }
        debug_assert_eq!(w, i);
        self.pending.clear();
    }

    /// Every link once: the flow links merged, and a name's link to the same (C2, victim,
    /// day) folded into the flow's (the name, saying more, becomes its indicator; a second
    /// name is returned to be kept apart, as `link_address` keeps it).
    pub(crate) fn settle(&mut self, list: &[Indicator]) -> Vec<(u32, IpAddr, Counter)> {
        self.merge_pending();
        let mut second_names = Vec::new();
        let (v4, observations) = (&mut self.v4, &mut self.v4_observations);
        self.other.retain(|&(c2, victim, day), named| {
            let (IpAddr::V4(c), IpAddr::V4(v)) = (c2, victim) else { return true };
            let key = v4_key(c, v, day);
            let Ok(at) = v4.binary_search_by_key(&key, V4Link::key) else { return true };
            let flows = &mut v4[at];
            if flows.indicator() != named.indicator {
                if list[flows.indicator() as usize].kind == IndicatorKind::Address {
                    flows.tag = named.indicator & !CERTAIN | flows.tag & CERTAIN;
                } else if list[named.indicator as usize].kind != IndicatorKind::Address {
                    second_names.push((named.indicator, victim, *named));
                }
            }
            // As `Counter::add`, the lookups kept apart.
            flows.first_us = flows.first_us.min(named.first_us);
            flows.last_us = flows.last_us.max(named.last_us);
            if named.certain {
                flows.tag |= CERTAIN;
            }
            flows.flows += named.flows;
            flows.bytes = flows.bytes.saturating_add(named.bytes);
            if named.observations > 0 {
                *observations.entry(key).or_insert(0) += named.observations;
            }
            false
        });
        second_names
    }

    pub(crate) fn len(&self) -> usize {
        self.v4.len() + self.pending.len() + self.other.len()
    }

    /// Every link; call [`ContactMap::settle`] first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = ((IpAddr, IpAddr, i32), Counter)> + '_ {
        let v4 = self.v4.iter().map(|l| {
            let c2 = IpAddr::V4(Ipv4Addr::from((l.pair >> 32) as u32));
            let victim = IpAddr::V4(Ipv4Addr::from(l.pair as u32));
            let observations = if self.v4_observations.is_empty() {
                0
            } else {
                self.v4_observations.get(&l.key()).copied().unwrap_or(0)
            };
            ((c2, victim, l.day as i32), l.counter(observations))
        });
        v4.chain(self.other.iter().map(|(&k, c)| (k, *c)))
    }
}

/// The buffered links of one key (in arrival order: the sort is stable) as one link: the
/// earliest flow keeps its indicator, as the first flow of a link does.
fn run_link(run: &[FlowLink]) -> V4Link {
    let (first, rest) = run.split_first().map_or((FlowLink::default(), &[][..]), |(f, r)| (*f, r));
    let mut c = first.link();
    for l in rest {
        c.add(&l.link());
    }
    c
}

/// How many distinct keys of the sorted `pending` are not in the sorted `merged`. One step
/// per link of either, without a branch on the keys: pending links and merged ones
/// interleave at random, and a mispredicted branch per step cost more than the step.
fn fresh_keys(pending: &[FlowLink], merged: &[V4Link]) -> usize {
    let (mut p, mut i, mut fresh) = (0usize, 0usize, 0usize);
    // The last pending key counted or found, so a run of equal keys counts once.
    let mut last = None;
    while let (Some(a), Some(b)) = (pending.get(p), merged.get(i)) {
        let (a, b) = (a.key(), b.key());
        let take = a <= b;
        fresh += usize::from(a < b && last != Some(a));
        last = if take { Some(a) } else { last };
        p += usize::from(take);
        i += usize::from(!take);
    }
    // Past the last merged key: every distinct key left is new.
    for l in pending.get(p..).unwrap_or_default() {
        let a = l.key();
        fresh += usize::from(last != Some(a));
        last = Some(a);
    }
    fresh
}

/// Sorts links by key, stably (the first flow of a link stays first), by their key's
/// bytes, skipping those that are the same in every link (most are: a few days, C2s and
/// victims' prefixes). The most significant byte that varies goes first and splits the
/// links into buckets small enough to stay in the cache; each bucket is then sorted by the
/// other bytes, least significant first. So the whole buffer crosses memory twice,
/// instead of once per byte, and no link is compared with another. `scratch` is the
/// second buffer.
fn radix_sort(links: &mut Vec<FlowLink>, scratch: &mut Vec<FlowLink>) {
    let Some(first) = links.first().copied() else { return };
    let (mut pair_diff, mut day_diff) = (0u64, 0u32);
    for l in links.iter() {
        pair_diff |= l.pair ^ first.pair;
        day_diff |= l.day ^ first.day;
    }
    let varies = |i: usize| {
        if i < 4 {
            (day_diff >> (8 * i)) as u8 != 0
        } else {
            (pair_diff >> (8 * (i - 4))) as u8 != 0
        }
    };
    let digits: Vec<usize> = (0..KEY_BYTES).filter(|&i| varies(i)).collect();
    let Some((&top, rest)) = digits.split_last() else { return };
    // Every slot below the links' count is written before it is read: the buffer is
    // only grown, never cleared (rewriting 8 MiB of defaults per merge is not free).
    let n = links.len();
    if scratch.len() < n {
        scratch.resize(n, FlowLink::default());
    }
    let mut count = [0usize; 256];
    for l in links.iter() {
        count[l.digit(top)] += 1;
    }
    let starts = offsets(&count);
    let mut next = starts;
    for l in links.iter() {
        let slot = &mut next[l.digit(top)];
        scratch[*slot] = *l;
        *slot += 1;
    }
    // Each bucket sorted from `scratch` into `links` and back, as many times as there are
    // bytes left: the buckets all end in the same buffer.
    for (&start, &n) in starts.iter().zip(&count) {
        let range = start..start + n;
        if let (Some(from), Some(to)) = (scratch.get_mut(range.clone()), links.get_mut(range)) {
            least_significant_first(from, to, rest);
        }
    }
    if rest.len() % 2 == 0 {
        std::mem::swap(links, scratch);
        links.truncate(n);
    }
}

/// Where each byte value's links start, from how many links have it.
fn offsets(count: &[usize; 256]) -> [usize; 256] {
    let mut starts = [0usize; 256];
    let mut sum = 0;
    for (s, c) in starts.iter_mut().zip(count) {
        *s = sum;
        sum += c;
    }
    starts
}

/// Sorts `a` by `digits` (least significant first), stably, one pass per digit from one
/// slice into the other: the result is in `b` for an odd number of digits, else in `a`.
fn least_significant_first(a: &mut [FlowLink], b: &mut [FlowLink], digits: &[usize]) {
    let mut counts = vec![[0usize; 256]; digits.len()];
    for l in a.iter() {
        for (count, &d) in counts.iter_mut().zip(digits) {
            count[l.digit(d)] += 1;
        }
    }
    let (mut from, mut to) = (a, b);
    for (count, &d) in counts.iter().zip(digits) {
        let mut next = offsets(count);
        for l in from.iter() {
            let slot = &mut next[l.digit(d)];
            to[*slot] = *l;
            *slot += 1;
        }
        std::mem::swap(&mut from, &mut to);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn buffered_flow_links_merge_into_one_counter_per_link_across_merges() {
        let mut map = ContactMap::default();
        let (c2, victim) = ("198.51.100.4".parse().unwrap(), "10.0.0.1".parse().unwrap());
        // More than a buffer's worth for one link, and a few others interleaved.
        for i in 0..(PENDING_LINKS as u32 + 100) {
            map.append_v4(c2, victim, 7, 5_000 + i64::from(i), 10, 0, true);
            if i % 50_000 == 0 {
                map.append_v4(c2, Ipv4Addr::new(10, 0, 0, 2 + (i / 50_000) as u8), 7, 5_000, 10, 0, true);
            }
        }
        let list = vec![Indicator { kind: IndicatorKind::Address, ..Indicator::default() }];
        assert!(map.settle(&list).is_empty());
        let links: Vec<((IpAddr, IpAddr, i32), Counter)> = map.iter().collect();
        assert_eq!(links.len(), 1 + 6);
        let (key, main) = links.iter().find(|(k, _)| k.1 == IpAddr::V4(victim)).unwrap();
        assert_eq!(key.2, 7);
        assert_eq!(main.flows, PENDING_LINKS as u64 + 100);
        assert_eq!(main.bytes, 10 * (PENDING_LINKS as u64 + 100));
        assert_eq!((main.first_us, main.last_us), (5_000, 5_000 + PENDING_LINKS as i64 + 99));
    }

    type KeyOf = fn(u64) -> (Ipv4Addr, Ipv4Addr, i32);

    /// The buffered path against a plain ordered map folded flow by flow: the same links,
    /// in key order, with the same counters and the first flow's indicator, across
    /// several merges, with keys repeated within a buffer and across merges.
    fn equals_a_map_folded_flow_by_flow(key_of: KeyOf) {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut map = ContactMap::default();
        let mut want: BTreeMap<u128, Counter> = BTreeMap::new();
        for _ in 0..(PENDING_LINKS * 5 / 2) {
            let r = next();
            let (c2, victim, day) = key_of(r);
            let (time_us, bytes) = ((r >> 40) as i64 - 100_000, r >> 50);
            let (indicator, certain) = ((r >> 33) as u32 & 0xff, r >> 41 & 1 == 1);
            map.append_v4(c2, victim, day, time_us, bytes, indicator, certain);
            let mut hit = Counter::new(time_us, indicator, certain);
            hit.flows = 1;
            hit.bytes = bytes;
            want.entry(v4_key(c2, victim, day)).and_modify(|c| c.add(&hit)).or_insert(hit);
        }
        let list = vec![Indicator { kind: IndicatorKind::Address, ..Indicator::default() }; 256];
        assert!(map.settle(&list).is_empty());
        let got: Vec<(u128, Counter)> = map
            .iter()
            .map(|((c2, victim, day), c)| match (c2, victim) {
                (IpAddr::V4(c2), IpAddr::V4(victim)) => (v4_key(c2, victim, day), c),
                _ => panic!("an IPv6 link"),
            })
            .collect();
        assert_eq!(got.len(), want.len());
        for ((k, c), (wk, w)) in got.iter().zip(&want) {
            assert_eq!(k, wk);
            let fields =
                |c: &Counter| (c.first_us, c.last_us, c.flows, c.observations, c.bytes, c.indicator, c.certain);
            assert_eq!(fields(c), fields(w), "link {k:x}");
        }
    }

    /// Few C2s (two bytes of theirs vary), victims over two bytes, days on both sides of
    /// 1970: eight bytes of the key vary, seven after the first split.
    #[test]
    fn buffered_links_equal_a_map_folded_flow_by_flow() {
        equals_a_map_folded_flow_by_flow(|r| {
            let c2 = Ipv4Addr::from(0xcb00_7100 | (r & 0x7) as u32 | ((r >> 3 & 1) as u32) << 24);
            let victim = Ipv4Addr::from(0x0a00_0000 | (r >> 8) as u32 & 0xffff);
            (c2, victim, [-3, -1, 0, 19_675, 19_676][(r >> 30) as usize % 5])
        });
    }

    /// One C2, one day, victims over three bytes (the benchmark's shape): two bytes left
    /// after the first split, so the sorted buckets end in the other buffer.
    #[test]
    fn buffered_links_of_one_c2_and_day_equal_a_map_folded_flow_by_flow() {
        equals_a_map_folded_flow_by_flow(|r| {
            (Ipv4Addr::new(203, 0, 113, 10), Ipv4Addr::from(0x0a00_0000 | (r >> 8) as u32 & 0x003f_ffff), 19_675)
        });
    }
}
