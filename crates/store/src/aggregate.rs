//! Per-period figures computed from contact sets.
//!
//! A national store holds millions of (C2, host, day) contacts; SQL's `COUNT(DISTINCT …)`
//! over them takes tens of seconds in SQLite. So contacts are kept as one sorted set of
//! victims per (day, C2) — a few thousand compact rows per day — and every distinct count
//! is computed here: victims get dense ids once per period and the rows are ordered by
//! victim, so each figure is one linear pass.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};

use crate::sketch::{HyperLogLog, DEFAULT_PRECISION};
use chrono::NaiveDate;
use vedette_model::{C2Activity, C2Scope, Confidence, CountryCode, DailyActivity, GroupActivity, VictimActivity};

/// Bytes per victim in a set: address (16, IPv4 mapped into IPv6), origin AS (4, 0 when
/// unknown), flows (4), bytes (8); little-endian.
const RECORD: usize = 32;

/// One victim's contacts with one C2 on one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VictimRecord {
    pub addr: u128,
    pub asn: u32,
    pub flows: u32,
    pub bytes: u64,
}

pub(crate) fn address_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

pub(crate) fn address_text(key: u128) -> String {
    let v6 = Ipv6Addr::from(key);
    match v6.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => v6.to_string(),
    }
}

/// Encodes records sorted by address.
pub(crate) fn encode(records: &[VictimRecord]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * RECORD);
    for r in records {
        out.extend_from_slice(&r.addr.to_le_bytes());
        out.extend_from_slice(&r.asn.to_le_bytes());
        out.extend_from_slice(&r.flows.to_le_bytes());
        out.extend_from_slice(&r.bytes.to_le_bytes());
    }
    out
}

pub(crate) fn decode(blob: &[u8]) -> Result<Vec<VictimRecord>, String> {
    if blob.len() % RECORD != 0 {
        return Err(format!("a victim set of {} bytes is not a whole number of {RECORD}-byte records", blob.len()));
    }
    Ok(blob
        .chunks_exact(RECORD)
        .map(|c| VictimRecord {
            addr: u128::from_le_bytes(c[0..16].try_into().expect("16 bytes")),
            asn: u32::from_le_bytes(c[16..20].try_into().expect("4 bytes")),
            flows: u32::from_le_bytes(c[20..24].try_into().expect("4 bytes")),
            bytes: u64::from_le_bytes(c[24..32].try_into().expect("8 bytes")),
        })
        .collect())
}

/// The union of two sets sorted by address; counters of a victim in both are added.
pub(crate) fn merge(old: &[VictimRecord], new: &[VictimRecord]) -> Vec<VictimRecord> {
    let mut out = Vec::with_capacity(old.len() + new.len());
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) if a.addr == b.addr => {
                out.push(VictimRecord {
                    addr: a.addr,
                    asn: if b.asn != 0 { b.asn } else { a.asn },
                    flows: a.flows.saturating_add(b.flows),
                    bytes: a.bytes.saturating_add(b.bytes),
                });
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a.addr < b.addr => {
                out.push(*a);
                i += 1;
            }
            (Some(_), Some(b)) | (None, Some(b)) => {
                out.push(*b);
                j += 1;
            }
            (Some(a), None) => {
                out.push(*a);
                i += 1;
            }
            (None, None) => unreachable!("the loop runs while one side has records"),
        }
    }
    out
}

/// What the report needs to know of a C2 server: its activity row with the counters
/// still at zero, filled per period.
pub(crate) type C2Info = C2Activity;

/// A C2 with contacts but no stored finding (should not happen; counted unattributed).
fn unknown_c2(address: &str) -> C2Info {
    C2Activity {
        address: address.to_string(),
        country: None,
        registry_cc: None,
        location_cc: None,
        asn: None,
        as_name: None,
        confidence: Confidence::Unknown,
        conflicts: Vec::new(),
        malware: None,
        confirmed: false,
        hosts: 0,
        flows: 0,
        bytes: 0,
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    pub day: i64,
    pub c2: u32,
    pub victim: u32,
    pub flows: u32,
    pub bytes: u64,
}

/// Every contact of a period, with dense ids for C2 servers and victims.
#[derive(Debug, Default)]
pub(crate) struct PeriodData {
    pub c2s: Vec<C2Info>,
    /// Dense victim id → (address key, origin AS or 0).
    pub victims: Vec<(u128, u32)>,
    pub rows: Vec<Row>,
    /// How distinct hosts are counted.
    pub counting: Counting,
}

/// How distinct hosts are counted: exactly (every address of the period held at once), or
/// with a HyperLogLog sketch per figure (fixed memory, mergeable, about 0.8 % error).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Counting {
    #[default]
    Exact,
    Sketch,
}

impl PeriodData {
    pub fn build(sets: Vec<(i64, String, Vec<VictimRecord>)>, info: &HashMap<String, C2Info>) -> PeriodData {
        let mut c2_index: HashMap<String, u32> = HashMap::new();
        let mut c2s = Vec::new();
        let total: usize = sets.iter().map(|(_, _, v)| v.len()).sum();
        let mut rows = Vec::with_capacity(total);
        // (address, origin AS, row): one sort gives every victim its dense id.
        let mut keyed: Vec<(u128, u32, u32)> = Vec::with_capacity(total);
        for (day, c2, victims) in sets {
            let next = c2s.len() as u32;
            let id = *c2_index.entry(c2.clone()).or_insert_with(|| {
                c2s.push(info.get(&c2).cloned().unwrap_or_else(|| unknown_c2(&c2)));
                next
            });
            for v in victims {
                keyed.push((v.addr, v.asn, rows.len() as u32));
                rows.push(Row { day, c2: id, victim: 0, flows: v.flows, bytes: v.bytes });
            }
        }
        keyed.sort_unstable_by_key(|(addr, _, _)| *addr);
        let mut victims: Vec<(u128, u32)> = Vec::new();
        // Rows are kept in victim order, so that every figure is one pass over them.
        let mut ordered = Vec::with_capacity(rows.len());
        for (addr, asn, row) in keyed {
            match victims.last_mut() {
                Some(last) if last.0 == addr => {
                    if last.1 == 0 {
                        last.1 = asn;
                    }
                }
                _ => victims.push((addr, asn)),
            }
            let mut r: Row = rows[row as usize];
            r.victim = victims.len() as u32 - 1;
            ordered.push(r);
        }
        PeriodData { c2s, victims, rows: ordered, counting: Counting::Exact }
    }

    fn in_scope(&self, c2: u32, scope: C2Scope) -> bool {
        let country = self.c2s[c2 as usize].country;
        match scope {
            C2Scope::All => true,
            C2Scope::Overseas(home) => country.is_some_and(|cc| cc != home),
            C2Scope::Domestic(home) => country == Some(home),
            C2Scope::Unattributed => country.is_none(),
        }
    }

    /// Distinct victims per group, where `group_of` places a row in one group (or none).
    /// Rows are in victim order, so one pass with a small per-victim list suffices.
    fn victims_by(&self, groups: usize, group_of: impl Fn(&Row) -> Option<u32>) -> Vec<u64> {
        if self.counting == Counting::Sketch {
            return self.victims_by_sketch(groups, group_of);
        }
        let mut counts = vec![0u64; groups];
        let mut seen: Vec<u32> = Vec::new();
        for victim_rows in self.rows.chunk_by(|a, b| a.victim == b.victim) {
            seen.clear();
            for r in victim_rows {
                if let Some(g) = group_of(r) {
                    if !seen.contains(&g) {
                        seen.push(g);
                        counts[g as usize] += 1;
                    }
                }
            }
        }
        counts
    }

    /// The same figures from one HyperLogLog per group; a group's sketch is created when
    /// a row first falls in it, so thousands of small groups stay cheap.
    fn victims_by_sketch(&self, groups: usize, group_of: impl Fn(&Row) -> Option<u32>) -> Vec<u64> {
        let mut sketches: Vec<Option<HyperLogLog>> = vec![None; groups];
        for r in &self.rows {
            if let Some(g) = group_of(r) {
                let sketch = sketches[g as usize].get_or_insert_with(|| HyperLogLog::new(DEFAULT_PRECISION));
                sketch.insert(self.victims[r.victim as usize].0);
            }
        }
        sketches.iter().map(|s| s.as_ref().map_or(0, HyperLogLog::estimate)).collect()
    }

    /// Distinct C2 servers per group, with a bit per (group, C2).
    fn c2s_by(&self, groups: usize, group_of: impl Fn(&Row) -> Option<u32>) -> Vec<u64> {
        let width = self.c2s.len();
        let mut bits = vec![0u64; (groups * width).div_ceil(64)];
        let mut counts = vec![0u64; groups];
        for r in &self.rows {
            if let Some(g) = group_of(r) {
                let bit = g as usize * width + r.c2 as usize;
                let (word, mask) = (bit / 64, 1u64 << (bit % 64));
                if bits[word] & mask == 0 {
                    bits[word] |= mask;
                    counts[g as usize] += 1;
                }
            }
        }
        counts
    }

    pub fn distinct_victims(&self, scope: C2Scope) -> u64 {
        self.victims_by(1, |r| self.in_scope(r.c2, scope).then_some(0))[0]
    }

    pub fn c2_activity(&self) -> Vec<C2Activity> {
        let hosts = self.victims_by(self.c2s.len(), |r| Some(r.c2));
        let mut flows = vec![0u64; self.c2s.len()];
        let mut bytes = vec![0u64; self.c2s.len()];
        for r in &self.rows {
            flows[r.c2 as usize] += u64::from(r.flows);
            bytes[r.c2 as usize] = bytes[r.c2 as usize].saturating_add(r.bytes);
        }
        let mut out: Vec<C2Activity> = self
            .c2s
            .iter()
            .enumerate()
            .map(|(i, c)| C2Activity { hosts: hosts[i], flows: flows[i], bytes: bytes[i], ..c.clone() })
            .collect();
        out.sort_by(|a, b| b.hosts.cmp(&a.hosts).then_with(|| a.address.cmp(&b.address)));
        out
    }

    /// Groups C2 servers by a text key (country, family); `None` is its own group.
    fn by_key(&self, key: impl Fn(&C2Info) -> Option<String>) -> (Vec<Option<String>>, Vec<u32>) {
        let mut names: Vec<Option<String>> = Vec::new();
        let mut index: HashMap<Option<String>, u32> = HashMap::new();
        let of_c2 = self
            .c2s
            .iter()
            .map(|c| {
                let k = key(c);
                *index.entry(k.clone()).or_insert_with(|| {
                    names.push(k);
                    names.len() as u32 - 1
                })
            })
            .collect();
        (names, of_c2)
    }

    pub fn victims_by_country(&self) -> Vec<(Option<String>, u64)> {
        let (names, of_c2) = self.by_key(|c| c.country.map(|cc| cc.to_string()));
        let counts = self.victims_by(names.len(), |r| Some(of_c2[r.c2 as usize]));
        let mut out: Vec<_> = names.into_iter().zip(counts).collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }

    pub fn by_family(&self) -> Vec<GroupActivity> {
        let (names, of_c2) = self.by_key(|c| c.malware.clone());
        let hosts = self.victims_by(names.len(), |r| Some(of_c2[r.c2 as usize]));
        let c2s = self.c2s_by(names.len(), |r| Some(of_c2[r.c2 as usize]));
        let mut out: Vec<GroupActivity> = names
            .into_iter()
            .enumerate()
            .map(|(i, key)| GroupActivity { key, label: None, region: None, c2_servers: c2s[i], hosts: hosts[i] })
            .collect();
        out.sort_by(|a, b| b.hosts.cmp(&a.hosts).then_with(|| a.key.cmp(&b.key)));
        out
    }

    /// `labels`: per AS, its holder's name and its hosts' main region, when known.
    pub fn by_home_network(&self, labels: &HashMap<u32, (Option<String>, Option<String>)>) -> Vec<GroupActivity> {
        let mut asns: Vec<u32> = self.victims.iter().map(|(_, asn)| *asn).collect();
        asns.sort_unstable();
        asns.dedup();
        let of_victim: Vec<u32> =
            self.victims.iter().map(|(_, asn)| asns.binary_search(asn).map(|g| g as u32).unwrap_or(0)).collect();
        let group = |r: &Row| Some(of_victim[r.victim as usize]);
        let hosts = self.victims_by(asns.len(), group);
        let c2s = self.c2s_by(asns.len(), group);
        let mut out: Vec<GroupActivity> = asns
            .iter()
            .enumerate()
            .map(|(i, asn)| GroupActivity {
                key: (*asn != 0).then(|| format!("AS{asn}")),
                label: labels.get(asn).and_then(|l| l.0.clone()),
                region: labels.get(asn).and_then(|l| l.1.clone()),
                c2_servers: c2s[i],
                hosts: hosts[i],
            })
            .collect();
        out.sort_by(|a, b| b.hosts.cmp(&a.hosts).then_with(|| a.key.cmp(&b.key)));
        out
    }

    pub fn daily(&self, first_day: i64, day_of: impl Fn(i64) -> NaiveDate) -> Vec<DailyActivity> {
        let Some(last) = self.rows.iter().map(|r| r.day).max() else { return Vec::new() };
        let first = self.rows.iter().map(|r| r.day).min().unwrap_or(first_day);
        let groups = (last - first + 1) as usize;
        let hosts = self.victims_by(groups, |r| Some((r.day - first) as u32));
        let c2s = self.c2s_by(groups, |r| Some((r.day - first) as u32));
        (0..groups)
            .filter(|&i| hosts[i] > 0)
            .map(|i| DailyActivity { day: day_of(first + i as i64), c2_servers: c2s[i], hosts: hosts[i] })
            .collect()
    }

    pub fn top_victims(
        &self,
        scope: C2Scope,
        country: Option<CountryCode>,
        limit: usize,
        day_of: impl Fn(i64) -> NaiveDate,
    ) -> Vec<VictimActivity> {
        let wanted = |r: &Row| {
            self.in_scope(r.c2, scope) && country.is_none_or(|cc| self.c2s[r.c2 as usize].country == Some(cc))
        };
        // (flows, victim, distinct C2s, first day, last day), without allocating per victim.
        let mut totals: Vec<(u64, u32, u32, i64, i64)> = Vec::new();
        let mut seen: Vec<u32> = Vec::new();
        for victim_rows in self.rows.chunk_by(|a, b| a.victim == b.victim) {
            seen.clear();
            let (mut flows, mut first, mut last) = (0u64, i64::MAX, i64::MIN);
            for r in victim_rows.iter().filter(|r| wanted(r)) {
                if !seen.contains(&r.c2) {
                    seen.push(r.c2);
                }
                flows += u64::from(r.flows);
                first = first.min(r.day);
                last = last.max(r.day);
            }
            if !seen.is_empty() {
                totals.push((flows, victim_rows[0].victim, seen.len() as u32, first, last));
            }
        }
        // Most flows first; the address breaks ties so the list is stable.
        let order = |a: &(u64, u32, u32, i64, i64), b: &(u64, u32, u32, i64, i64)| {
            b.0.cmp(&a.0).then_with(|| self.victims[a.1 as usize].0.cmp(&self.victims[b.1 as usize].0))
        };
        if totals.len() > limit && limit > 0 {
            totals.select_nth_unstable_by(limit - 1, order);
            totals.truncate(limit);
        }
        totals.sort_by(order);
        totals.truncate(limit);
        totals
            .into_iter()
            .map(|(flows, victim, c2s, first, last)| {
                let (addr, asn) = self.victims[victim as usize];
                VictimActivity {
                    address: address_text(addr),
                    c2_servers: u64::from(c2s),
                    flows,
                    first_day: day_of(first),
                    last_day: day_of(last),
                    asn: (asn != 0).then_some(asn),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(addr: u128, flows: u32) -> VictimRecord {
        VictimRecord { addr, asn: 0, flows, bytes: 10 }
    }

    #[test]
    fn sets_round_trip_and_merge() {
        let a = vec![rec(1, 1), rec(5, 1)];
        let b = vec![rec(3, 2), rec(5, 2)];
        let m = merge(&a, &b);
        assert_eq!(m.iter().map(|r| (r.addr, r.flows)).collect::<Vec<_>>(), vec![(1, 1), (3, 2), (5, 3)]);
        assert_eq!(decode(&encode(&m)).unwrap(), m);
        assert!(decode(&[0u8; 31]).is_err());
        assert_eq!(address_text(address_key("192.0.2.1".parse().unwrap())), "192.0.2.1");
        assert_eq!(address_text(address_key("2001:db8::1".parse().unwrap())), "2001:db8::1");
    }
}
