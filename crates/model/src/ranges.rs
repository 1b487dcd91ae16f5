//! A map from address ranges to values where the most specific range wins.
//!
//! Sources give ranges that nest (a /24 announced inside a /16) or even overlap; the map
//! flattens them once into disjoint segments, so a lookup is one binary search.

use std::collections::BTreeSet;
use std::net::IpAddr;

/// IPv4 addresses live in `::ffff:0:0/96` so both families share one key space.
pub fn key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The first and last key of a CIDR prefix.
pub fn prefix_bounds(ip: IpAddr, len: u8) -> Option<(u128, u128)> {
    let (start, bits) = match ip {
        IpAddr::V4(_) if len <= 32 => (key(ip), u32::from(len) + 96),
        IpAddr::V6(_) if len <= 128 => (key(ip), u32::from(len)),
        _ => return None,
    };
    let host_mask = if bits == 0 { u128::MAX } else { u128::MAX.checked_shr(bits).unwrap_or(0) };
    let network = start & !host_mask;
    Some((network, network | host_mask))
}

/// Reads `address/length` (or a bare address, as a single-address prefix).
pub fn parse_cidr(text: &str) -> Result<(u128, u128), String> {
    let text = text.trim();
    let (ip, len) = match text.split_once('/') {
        Some((ip, len)) => (ip, Some(len)),
        None => (text, None),
    };
    let ip: IpAddr = ip.parse().map_err(|_| format!("{text:?} is not an address or CIDR prefix"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len: u8 = match len {
        Some(l) => l.parse().ok().filter(|l| *l <= max).ok_or_else(|| format!("{text:?}: bad prefix length"))?,
        None => max,
    };
    Ok(prefix_bounds(ip, len).expect("length checked"))
}

/// Flattens ranges that may nest or overlap into disjoint sorted segments, the smallest
/// covering range winning (the earlier one on a tie) — a routing table's longest match.
/// Adjacent segments whose values `same` calls equal are merged into one.
pub fn flatten<V: Clone>(ranges: Vec<(u128, u128, V)>, same: impl Fn(&V, &V) -> bool) -> Vec<(u128, u128, V)> {
    let ranges: Vec<_> = ranges.into_iter().filter(|(s, e, _)| s <= e).collect();
    // Most sources are already disjoint (MMDB networks, RIR delegations): skip the sweep.
    let mut order: Vec<usize> = (0..ranges.len()).collect();
    order.sort_by_key(|&i| ranges[i].0);
    if order.windows(2).all(|w| ranges[w[0]].1 < ranges[w[1]].0) {
        let mut out: Vec<(u128, u128, V)> = Vec::with_capacity(ranges.len());
        for i in order {
            push_segment(&mut out, ranges[i].clone(), &same);
        }
        return out;
    }
    let mut points: Vec<(u128, bool, usize)> = Vec::with_capacity(ranges.len() * 2);
    for (i, (start, end, _)) in ranges.iter().enumerate() {
        points.push((*start, true, i));
        if let Some(after) = end.checked_add(1) {
            points.push((after, false, i));
        }
    }
    points.sort_unstable_by_key(|(p, opens, i)| (*p, *opens, *i));
    let mut active: BTreeSet<(u128, usize)> = BTreeSet::new();
    let mut out = Vec::new();
    let mut index = 0;
    while index < points.len() {
        let here = points[index].0;
        while index < points.len() && points[index].0 == here {
            let (_, opens, i) = points[index];
            let size = ranges[i].1 - ranges[i].0;
            if opens {
                active.insert((size, i));
            } else {
                active.remove(&(size, i));
            }
            index += 1;
        }
        let Some(&(_, winner)) = active.first() else { continue };
        let end = match points.get(index) {
            Some((next, _, _)) => next - 1,
            None => u128::MAX,
        };
        push_segment(&mut out, (here, end, ranges[winner].2.clone()), &same);
    }
    out
}

fn push_segment<V>(out: &mut Vec<(u128, u128, V)>, segment: (u128, u128, V), same: &impl Fn(&V, &V) -> bool) {
    match out.last_mut() {
        Some(last) if same(&last.2, &segment.2) && last.1.checked_add(1) == Some(segment.0) => last.1 = segment.1,
        _ => out.push(segment),
    }
}

/// Ranges with values, flattened; `V` is cloned into each segment it covers.
#[derive(Debug, Clone)]
pub struct RangeMap<V> {
    starts: Vec<u128>,
    ends: Vec<u128>,
    values: Vec<V>,
}

impl<V> Default for RangeMap<V> {
    fn default() -> Self {
        RangeMap { starts: Vec::new(), ends: Vec::new(), values: Vec::new() }
    }
}

impl<V: Clone> RangeMap<V> {
    /// Builds the map; where ranges overlap, the smallest one covering a point wins (the
    /// earlier one on a tie).
    pub fn build(ranges: Vec<(u128, u128, V)>) -> RangeMap<V> {
        let mut map = RangeMap::default();
        for (start, end, value) in flatten(ranges, |_, _| false) {
            map.starts.push(start);
            map.ends.push(end);
            map.values.push(value);
        }
        map
    }

    pub fn get(&self, ip: IpAddr) -> Option<&V> {
        self.get_key(key(ip))
    }

    pub fn get_key(&self, k: u128) -> Option<&V> {
        let i = self.starts.partition_point(|&s| s <= k).checked_sub(1)?;
        (k <= self.ends[i]).then(|| &self.values[i])
    }

    /// Number of flattened segments.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn prefix(s: &str) -> (u128, u128) {
        let (a, l) = s.split_once('/').unwrap();
        prefix_bounds(ip(a), l.parse().unwrap()).unwrap()
    }

    #[test]
    fn most_specific_prefix_wins() {
        let (a, b) = prefix("10.0.0.0/8");
        let (c, d) = prefix("10.1.0.0/16");
        let (e, f) = prefix("10.1.2.0/24");
        let map = RangeMap::build(vec![(a, b, "8"), (e, f, "24"), (c, d, "16")]);
        assert_eq!(map.get(ip("10.0.0.1")), Some(&"8"));
        assert_eq!(map.get(ip("10.1.0.1")), Some(&"16"));
        assert_eq!(map.get(ip("10.1.2.255")), Some(&"24"));
        assert_eq!(map.get(ip("10.1.3.0")), Some(&"16"));
        assert_eq!(map.get(ip("10.2.0.0")), Some(&"8"));
        assert_eq!(map.get(ip("11.0.0.0")), None);
        assert_eq!(map.get(ip("2001:db8::1")), None);
    }

    #[test]
    fn whole_space_and_v6() {
        let (a, b) = prefix("::/0");
        let (c, d) = prefix("2001:db8::/32");
        let map = RangeMap::build(vec![(a, b, 0), (c, d, 1)]);
        assert_eq!(map.get(ip("2001:db8::5")), Some(&1));
        assert_eq!(map.get(ip("2001:db9::5")), Some(&0));
    }

    proptest::proptest! {
        /// The flattened map answers as a linear scan for the smallest covering range does.
        #[test]
        fn agrees_with_a_linear_scan(ranges in proptest::collection::vec((0u128..1000, 0u128..200), 0..30), probes in proptest::collection::vec(0u128..1300, 0..50)) {
            let ranges: Vec<(u128, u128, usize)> = ranges.iter().enumerate().map(|(i, (s, len))| (*s, s + len, i)).collect();
            let map = RangeMap::build(ranges.clone());
            for p in probes {
                let expected = ranges.iter().filter(|(s, e, _)| *s <= p && p <= *e).min_by_key(|(s, e, i)| (e - s, *i)).map(|r| r.2);
                proptest::prop_assert_eq!(map.get_key(p).copied(), expected);
            }
        }
    }
}
