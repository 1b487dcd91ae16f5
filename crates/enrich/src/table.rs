//! The compiled lookup structure: every source's ranges flattened into one sorted table of
//! boundaries, each segment pointing at a deduplicated *evidence tuple* (one value index
//! per source). A lookup is one short binary search, whatever the number of sources.
//!
//! IPv4 and IPv6 are kept apart because they are searched differently: IPv4 keys are
//! `u32` and a 65,536-entry index on the top 16 bits narrows the search to one /16 (the
//! index fits in L2 cache; the slice searched is usually a handful of entries, and each
//! key sits beside its tuple id). IPv6 keys are `u128` and searched directly.

use std::collections::HashMap;
use std::net::IpAddr;

/// "This source says nothing here."
pub const NONE: u32 = u32::MAX;

/// The IPv4 index has one entry per /16 (256 KiB, so it stays in L2 cache). A /20 index
/// (4 MiB) was not faster on the shared fixtures (a noisy measurement): it trades a short
/// in-cache search for a miss in a larger index.
const INDEX_BITS: u32 = 16;

/// IPv4 lives in `::ffff:0:0/96` in the shared key space (see [`crate::key`]).
const V4_LO: u128 = 0xffff_0000_0000;
const V4_HI: u128 = 0xffff_ffff_ffff;

/// Flattens ranges that may nest or overlap into disjoint sorted segments, the smallest
/// covering range winning (the earlier one on a tie) — a routing table's longest match —
/// merging neighbours that point at the same value.
pub fn flatten(ranges: Vec<(u128, u128, u32)>) -> Vec<(u128, u128, u32)> {
    vedette_model::ranges::flatten(ranges, |a, b| a == b)
}

/// The finished table.
#[derive(Debug)]
pub struct Compiled {
    v4_index: Box<[u32]>,
    /// `(first address, tuple id)`: the id sits beside its key, so the search's last
    /// probe has already brought it into cache.
    v4: Box<[(u32, u32)]>,
    v6_starts: Box<[u128]>,
    v6_ids: Box<[u32]>,
    /// Deduplicated evidence tuples: one value index (or [`NONE`]) per source.
    pub tuples: Vec<Box<[u32]>>,
}

impl Compiled {
    /// Builds the table from each source's disjoint sorted segments (see [`flatten`]).
    pub fn build(sources: &[&[(u128, u128, u32)]]) -> Compiled {
        let mut bounds: Vec<u128> = Vec::with_capacity(3 + sources.iter().map(|s| s.len() * 2).sum::<usize>());
        bounds.extend([0, V4_LO, V4_HI + 1]);
        for segments in sources {
            for (start, end, _) in segments.iter() {
                bounds.push(*start);
                if let Some(after) = end.checked_add(1) {
                    bounds.push(after);
                }
            }
        }
        bounds.sort_unstable();
        bounds.dedup();

        let mut ids: HashMap<Box<[u32]>, u32> = HashMap::new();
        let mut tuples: Vec<Box<[u32]>> = Vec::new();
        let mut cursor = vec![0usize; sources.len()];
        let mut current = vec![NONE; sources.len()];
        let mut v4: Vec<(u32, u32)> = Vec::new();
        let mut v6: (Vec<u128>, Vec<u32>) = (Vec::new(), Vec::new());
        let mut last_id = NONE;
        for &b in &bounds {
            for (s, segments) in sources.iter().enumerate() {
                let c = &mut cursor[s];
                while *c < segments.len() && segments[*c].1 < b {
                    *c += 1;
                }
                current[s] = match segments.get(*c) {
                    Some(&(start, _, value)) if start <= b => value,
                    _ => NONE,
                };
            }
            let id = match ids.get(current.as_slice()) {
                Some(id) => *id,
                None => {
                    let id = u32::try_from(tuples.len()).expect("fewer than 4 billion distinct evidence tuples");
                    tuples.push(current.clone().into_boxed_slice());
                    ids.insert(current.clone().into_boxed_slice(), id);
                    id
                }
            };
            // Both families' tables must start at their first key, even where the
            // evidence continues unchanged across the border.
            let border = b == 0 || b == V4_LO || b == V4_HI + 1;
            if id == last_id && !border {
                continue;
            }
            last_id = id;
            if (V4_LO..=V4_HI).contains(&b) {
                v4.push(((b - V4_LO) as u32, id));
            } else {
                v6.0.push(b);
                v6.1.push(id);
            }
        }

        let blocks = 1u64 << INDEX_BITS;
        let mut v4_index = Vec::with_capacity(blocks as usize + 1);
        let mut i = 0usize;
        for block in 0..=blocks {
            while i < v4.len() && u64::from(v4[i].0) < block << (32 - INDEX_BITS) {
                i += 1;
            }
            v4_index.push(u32::try_from(i).expect("fewer than 4 billion IPv4 segments"));
        }
        Compiled {
            v4_index: v4_index.into_boxed_slice(),
            v4: v4.into_boxed_slice(),
            v6_starts: v6.0.into_boxed_slice(),
            v6_ids: v6.1.into_boxed_slice(),
            tuples,
        }
    }

    /// The evidence tuple id of an address.
    #[inline]
    pub fn tuple_id(&self, ip: IpAddr) -> u32 {
        match ip {
            IpAddr::V4(v4) => self.v4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => self.v4(u32::from(v4)),
                None => self.v6(u128::from(v6)),
            },
        }
    }

    #[inline]
    pub fn v4(&self, x: u32) -> u32 {
        let block = (x >> (32 - INDEX_BITS)) as usize;
        let lo = self.v4_index[block] as usize;
        let hi = self.v4_index[block + 1] as usize;
        // The segment holding x starts in this /16 or is the last one before it; the
        // table starts at 0.0.0.0, so `lo + pos` is at least 1.
        let pos = self.v4[lo..hi].partition_point(|&(s, _)| s <= x);
        self.v4[lo + pos - 1].1
    }

    /// Tuple ids of many addresses, in stages over a chunk so the cache misses of
    /// different addresses overlap instead of queueing behind each other.
    pub fn tuple_ids(&self, ips: &[IpAddr], out: &mut Vec<u32>) {
        const CHUNK: usize = 16;
        out.clear();
        out.reserve(ips.len());
        let mut keys = [0u32; CHUNK];
        let mut keys6 = [0u128; CHUNK];
        let mut spans = [(0usize, 0usize); CHUNK];
        for chunk in ips.chunks(CHUNK) {
            // Stage 1: the index entries (independent loads).
            for (i, ip) in chunk.iter().enumerate() {
                let v4 = match ip {
                    IpAddr::V4(v4) => Some(*v4),
                    IpAddr::V6(v6) => v6.to_ipv4_mapped(),
                };
                if let Some(v4) = v4 {
                    let x = u32::from(v4);
                    let block = (x >> (32 - INDEX_BITS)) as usize;
                    keys[i] = x;
                    spans[i] = (self.v4_index[block] as usize, self.v4_index[block + 1] as usize);
                } else if let IpAddr::V6(v6) = ip {
                    keys6[i] = u128::from(*v6);
                    spans[i] = (usize::MAX, 0);
                }
            }
            // Stage 2: the searches, each in its own block.
            for (i, &(lo, hi)) in spans.iter().enumerate().take(chunk.len()) {
                if lo == usize::MAX {
                    out.push(self.v6(keys6[i]));
                } else {
                    let pos = self.v4[lo..hi].partition_point(|&(s, _)| s <= keys[i]);
                    out.push(self.v4[lo + pos - 1].1);
                }
            }
        }
    }

    #[inline]
    pub fn v6(&self, x: u128) -> u32 {
        match self.v6_starts.partition_point(|&s| s <= x).checked_sub(1) {
            Some(i) => self.v6_ids[i],
            None => NONE,
        }
    }

    /// Number of segments (IPv4, IPv6).
    pub fn segments(&self) -> (usize, usize) {
        (self.v4.len(), self.v6_starts.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{key, prefix_bounds};

    fn p(s: &str) -> (u128, u128) {
        let (a, l) = s.split_once('/').unwrap();
        prefix_bounds(a.parse().unwrap(), l.parse().unwrap()).unwrap()
    }

    #[test]
    fn tuples_across_sources_and_families() {
        let (a, b) = p("10.0.0.0/8");
        let (c, d) = p("10.1.0.0/16");
        let one = flatten(vec![(a, b, 0), (c, d, 1)]);
        let (e, f) = p("10.1.2.0/24");
        let (g, h) = p("2001:db8::/32");
        let two = vec![(e, f, 7), (g, h, 8)];
        let t = Compiled::build(&[&one, &two]);
        let at = |s: &str| t.tuples[t.tuple_id(s.parse().unwrap()) as usize].to_vec();
        assert_eq!(at("10.0.0.1"), vec![0, NONE]);
        assert_eq!(at("10.1.2.3"), vec![1, 7]);
        assert_eq!(at("10.1.3.0"), vec![1, NONE]);
        assert_eq!(at("::ffff:10.1.2.3"), vec![1, 7]);
        assert_eq!(at("11.0.0.0"), vec![NONE, NONE]);
        assert_eq!(at("0.0.0.0"), vec![NONE, NONE]);
        assert_eq!(at("255.255.255.255"), vec![NONE, NONE]);
        assert_eq!(at("2001:db8:1::1"), vec![NONE, 8]);
        assert_eq!(at("::"), vec![NONE, NONE]);
        assert_eq!(at("ffff::1"), vec![NONE, NONE]);
        // One tuple id per distinct combination, however many segments share it.
        assert_eq!(t.tuples.len(), 5);
    }

    proptest::proptest! {
        /// The compiled table answers as a linear scan of every source does.
        #[test]
        fn agrees_with_a_linear_scan(
            sources in proptest::collection::vec(proptest::collection::vec((0u32..2000, 0u32..300), 0..12), 1..4),
            probes in proptest::collection::vec(0u32..2400, 0..60),
            shift in 0u32..3,
        ) {
            // Put the ranges near the interesting places: 0.0.0.0, a /16 border, the end.
            let base: u32 = [0, 0x0a00_fe00, u32::MAX - 2400][shift as usize];
            let raw: Vec<Vec<(u128, u128, u32)>> = sources.iter().map(|ranges| {
                ranges.iter().enumerate().map(|(i, (s, len))| {
                    let first = key(IpAddr::V4((base + s).into()));
                    (first, first + u128::from(*len), i as u32)
                }).collect()
            }).collect();
            let flat: Vec<Vec<_>> = raw.iter().map(|r| flatten(r.clone())).collect();
            let refs: Vec<&[(u128, u128, u32)]> = flat.iter().map(Vec::as_slice).collect();
            let table = Compiled::build(&refs);
            for probe in probes {
                let ip = IpAddr::V4((base + probe).into());
                let k = key(ip);
                let expected: Vec<u32> = raw.iter().map(|ranges| {
                    ranges.iter().filter(|(s, e, _)| *s <= k && k <= *e).min_by_key(|(s, e, i)| (e - s, *i)).map_or(NONE, |r| r.2)
                }).collect();
                proptest::prop_assert_eq!(table.tuples[table.tuple_id(ip) as usize].to_vec(), expected);
            }
        }
    }
}
