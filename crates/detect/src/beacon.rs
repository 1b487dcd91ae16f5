//! Beaconing: a host calling the same destination at a steady rhythm with steady sizes,
//! as implants poll their C2. The scoring follows RITA v5's idea — not its code — with
//! four subscores in `[0, 1]`, averaged:
//!
//! 1. **timing**: the inter-arrival gaps are regular (Bowley skew near 0, small median
//!    absolute deviation against the median gap);
//! 2. **size**: the bytes per connection are regular, by the same two measures;
//! 3. **histogram**: connections spread evenly over the dataset's span (24 bins; the
//!    coefficient of variation, or a bimodal shape for on/off schedules), over the whole
//!    span the pair was active (at least a day);
//! 4. **duration**: the pair is active across much of that span, or for a long run of
//!    consecutive bins.
//!
//! A pair is a beacon when the mean reaches the threshold *and* its timing alone is
//! regular: an even spread over days without a rhythm is a habit, not a heartbeat.
//!
//! Unlike RITA's known false positives, failed connection attempts (no bytes either way)
//! and TCP retries (gaps under [`BeaconConfig::retry_gap_s`]) are folded away before the
//! gaps are measured, so one unanswered SYN with its retransmissions does not look like a
//! one-second beacon. Known-good services (NTP, configured destinations) are never scored.
//!
//! Pairs are kept per (source, destination address, port) from flows, and per (source,
//! name) from the names HTTP requests and TLS hellos carry
//! ([`BeaconTracker::observe_named`]), as RITA scores SNI and Host pairs: an implant
//! calling a domain fronted by a CDN reaches a different address each time, and only the
//! name shows the rhythm. Named contacts carry no sizes, so their score is the mean of
//! the other three subscores.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};

use chrono::DateTime;
use vedette_model::{DnsLookup, Finding, FindingKind, Flow, Transport};

use crate::domains::DomainSet;
use vedette_model::fast_hash::{FastMap, FastSet};

/// What the beacon detector looks at and where it draws the line.
#[derive(Debug, Clone)]
pub struct BeaconConfig {
    /// Fewer distinct contacts than this are not scored (RITA: 4).
    pub min_connections: usize,
    /// More contacts than this are kept no longer (a strobe, not a beacon: RITA 86,400).
    pub max_connections: usize,
    /// Gaps shorter than this are retries of the same contact, in seconds.
    pub retry_gap_s: f64,
    /// A pair scoring at least this becomes a `beaconing_pair` finding…
    pub threshold: f64,
    /// …if its timing alone is at least this regular: a host that simply visits a site
    /// every day has an even histogram but no rhythm.
    pub min_timing: f64,
    /// Destinations (address or `address:port`) never scored: update services, monitoring.
    pub known_good: HashSet<String>,
    /// UDP ports never scored (NTP, …).
    pub known_good_udp_ports: HashSet<u16>,
    /// Names (and everything under them) never scored when a pair is kept by name: time
    /// servers, OS and software updates, connectivity checks, certificate status, push
    /// services — all call home on a timer by design.
    pub known_good_names: Vec<String>,
    /// How many home hosts beaconing to one destination make it a candidate C2 server.
    pub candidate_min_hosts: usize,
}

impl Default for BeaconConfig {
    fn default() -> Self {
        BeaconConfig {
            min_connections: 4,
            max_connections: 86_400,
            retry_gap_s: 2.0,
            threshold: 0.8,
            min_timing: 0.8,
            known_good: HashSet::new(),
            known_good_udp_ports: [123u16, 5353].into_iter().collect(),
            known_good_names: KNOWN_GOOD_NAMES.iter().map(|s| s.to_string()).collect(),
            candidate_min_hosts: 3,
        }
    }
}

/// Services that call on a timer by design (see [`BeaconConfig::known_good_names`]).
/// Kept narrow: malware hides behind big platforms too (cloud storage, chat APIs), so
/// whole platforms are not listed, only their timed services.
pub const KNOWN_GOOD_NAMES: &[&str] = &[
    // Time.
    "ntp.org",
    "time.windows.com",
    "time.apple.com",
    "time.google.com",
    "time.cloudflare.com",
    "time.nist.gov",
    // Operating system and software updates.
    "windowsupdate.com",
    "update.microsoft.com",
    "delivery.mp.microsoft.com",
    "swscan.apple.com",
    "swcdn.apple.com",
    "mesu.apple.com",
    "update.googleapis.com",
    "archive.ubuntu.com",
    "security.ubuntu.com",
    "changelogs.ubuntu.com",
    "deb.debian.org",
    "security.debian.org",
    "mirrors.fedoraproject.org",
    "download.opensuse.org",
    "api.snapcraft.io",
    // Connectivity checks.
    "connectivitycheck.gstatic.com",
    "clients3.google.com",
    "msftconnecttest.com",
    "msftncsi.com",
    "captive.apple.com",
    "detectportal.firefox.com",
    "nmcheck.gnome.org",
    "connectivity-check.ubuntu.com",
    // Certificate status.
    "ocsp.digicert.com",
    "ocsp.pki.goog",
    "ocsp.apple.com",
    "ocsp.sectigo.com",
    "ocsp.globalsign.com",
    "lencr.org",
    // Push notification channels (long-lived, with keep-alives).
    "push.apple.com",
    "mtalk.google.com",
];

/// The four subscores and their mean.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeaconScore {
    pub timing: f64,
    pub size: f64,
    pub histogram: f64,
    pub duration: f64,
    pub total: f64,
    /// Median gap between contacts, seconds.
    pub median_gap_s: f64,
    /// Median absolute deviation of the gaps, seconds.
    pub gap_mad_s: f64,
    pub median_bytes: f64,
    pub contacts: usize,
}

/// (start in µs, bytes) of each contact that carried data. The first is kept inline:
/// most pairs (browsing, scans) are seen once or twice and never need a heap block.
#[derive(Debug, Default)]
struct Pair {
    first: Option<(i64, u64)>,
    more: Vec<(i64, u64)>,
}

impl Pair {
    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.more.len()
    }

    fn push(&mut self, contact: (i64, u64)) {
        if self.first.is_none() {
            self.first = Some(contact);
        } else {
            self.more.push(contact);
        }
    }

    fn contacts(&self) -> Vec<(i64, u64)> {
        self.first.iter().chain(&self.more).copied().collect()
    }
}

/// Collects flows per (source, destination, port) and named contacts per (source, name),
/// then scores every pair.
#[derive(Debug, Default)]
pub struct BeaconTracker {
    config: BeaconConfig,
    pairs: FastMap<(IpAddr, IpAddr, u16), Pair>,
    known_good_names: DomainSet<()>,
    names: FastMap<Box<str>, u32>,
    name_list: Vec<Box<str>>,
    named: FastMap<(IpAddr, u32), Pair>,
    /// Addresses that known-good names resolved to (as RITA does with DNS): flows to them
    /// are not scored.
    known_good_addresses: FastSet<IpAddr>,
}

/// Known-good addresses learned from DNS answers, at most (a resolver's worth of CDNs).
const MAX_KNOWN_GOOD_ADDRESSES: usize = 1 << 16;

/// A pair that beacons, with its score.
#[derive(Debug, Clone)]
pub struct Beacon {
    pub src: IpAddr,
    /// The destination address; unspecified (`0.0.0.0`) for a pair kept by name.
    pub dst: IpAddr,
    /// The destination port; 0 for a pair kept by name.
    pub port: u16,
    /// The name the source called (HTTP Host, TLS SNI), for a pair kept by name.
    pub name: Option<String>,
    pub score: BeaconScore,
    pub first_us: i64,
    pub last_us: i64,
}

impl Beacon {
    /// `src -> dst:port`, or `src -> name`.
    pub fn subject(&self) -> String {
        match &self.name {
            Some(name) => format!("{} -> {name}", self.src),
            None => format!("{} -> {}:{}", self.src, self.dst, self.port),
        }
    }

    fn destination(&self) -> String {
        match &self.name {
            Some(name) => name.clone(),
            None => self.dst.to_string(),
        }
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// RITA's two regularity measures on a sample, averaged: `1 - |Bowley skew|` (forced to 0
/// skew when the spread is under `min_spread` or the median sits on a quartile) and
/// `(median - MAD) / median`. Returns (score, median, MAD).
fn regularity(values: &mut [f64], min_spread: f64) -> (f64, f64, f64) {
    values.sort_by(|a, b| a.total_cmp(b));
    let (q1, q2, q3) = (quantile(values, 0.25), quantile(values, 0.5), quantile(values, 0.75));
    let spread = q3 - q1;
    let skew = if spread < min_spread || q2 == q1 || q2 == q3 { 0.0 } else { (q1 + q3 - 2.0 * q2) / spread };
    let mut deviations: Vec<f64> = values.iter().map(|v| (v - q2).abs()).collect();
    deviations.sort_by(|a, b| a.total_cmp(b));
    let mad = quantile(&deviations, 0.5);
    let mad_score = if q2 < 1.0 { 1.0 } else { ((q2 - mad) / q2).max(0.0) };
    (((1.0 - skew.abs()).clamp(0.0, 1.0) + mad_score) / 2.0, q2, mad)
}

impl BeaconTracker {
    pub fn new(config: BeaconConfig) -> BeaconTracker {
        let known_good_names = DomainSet::trees(config.known_good_names.iter().map(String::as_str));
        BeaconTracker { config, known_good_names, ..BeaconTracker::default() }
    }

    /// A contact by name: an HTTP request's Host or a TLS hello's SNI (normalised), from
    /// `src` at `time_us`.
    pub fn observe_named(&mut self, src: IpAddr, name: &str, time_us: i64) {
        if name.is_empty() || self.known_good_names.matches(name) {
            return;
        }
        let id = match self.names.get(name) {
            Some(&id) => id,
            None => {
                let id = self.name_list.len() as u32;
                self.names.insert(name.into(), id);
                self.name_list.push(name.into());
                id
            }
        };
        let pair = self.named.entry((src, id)).or_default();
        if pair.len() < self.config.max_connections {
            // No size is known: 0 marks it, and the size subscore is left out.
            pair.push((time_us, 0));
        }
    }

    /// A DNS answer for a known-good name (an update service, a time server): the
    /// addresses it gave are known-good for the flows that follow, which carry no name.
    pub fn observe_lookup(&mut self, lookup: &DnsLookup) {
        if lookup.answers.is_empty() || !self.known_good_names.matches(&lookup.query) {
            return;
        }
        for address in &lookup.answers {
            if self.known_good_addresses.len() < MAX_KNOWN_GOOD_ADDRESSES {
                self.known_good_addresses.insert(*address);
            }
        }
    }

    pub fn observe(&mut self, flow: &Flow) {
        if flow.transport == Transport::UDP && self.config.known_good_udp_ports.contains(&flow.dst_port) {
            return;
        }
        if !self.known_good_addresses.is_empty() && self.known_good_addresses.contains(&flow.dst) {
            return;
        }
        // A contact that moved no data (an unanswered SYN, a refused connection) is not a
        // beacon's heartbeat: RITA's one-second false positives come from these.
        if flow.bytes() == 0 {
            return;
        }
        if !self.config.known_good.is_empty()
            && (self.config.known_good.contains(&flow.dst.to_string())
                || self.config.known_good.contains(&format!("{}:{}", flow.dst, flow.dst_port)))
        {
            return;
        }
        let pair = self.pairs.entry((flow.src, flow.dst, flow.dst_port)).or_default();
        if pair.len() < self.config.max_connections {
            pair.push((flow.start_us, flow.bytes()));
        }
    }

    /// Scores one series of (start µs, bytes); `None` when too short to judge.
    pub fn score(&self, contacts: &[(i64, u64)]) -> Option<BeaconScore> {
        self.score_series(contacts, true)
    }

    /// As [`BeaconTracker::score`]; without sizes (`sizes == false`) the total is the mean
    /// of the three other subscores and the size subscore reads 0.
    fn score_series(&self, contacts: &[(i64, u64)], sizes: bool) -> Option<BeaconScore> {
        let mut contacts = contacts.to_vec();
        contacts.sort_unstable();
        // Fold retries: a contact within `retry_gap_s` of the previous one is the same.
        let retry_us = (self.config.retry_gap_s * 1e6) as i64;
        let mut folded: Vec<(i64, u64)> = Vec::with_capacity(contacts.len());
        for (t, b) in contacts {
            match folded.last_mut() {
                Some(last) if t - last.0 < retry_us => last.1 = last.1.max(b),
                _ => folded.push((t, b)),
            }
        }
        if folded.len() < self.config.min_connections {
            return None;
        }
        let mut gaps: Vec<f64> = folded.windows(2).map(|w| (w[1].0 - w[0].0) as f64 / 1e6).collect();
        if gaps.len() < 3 {
            return None;
        }
        let (timing, median_gap_s, gap_mad_s) = regularity(&mut gaps, 10.0);
        let (size, median_bytes) = if sizes {
            let mut sizes: Vec<f64> = folded.iter().map(|(_, b)| *b as f64).collect();
            let (size, median_bytes, _) = regularity(&mut sizes, 0.0);
            (size, median_bytes)
        } else {
            (0.0, 0.0)
        };

        // The histogram spans the pair's own activity, at least a day (RITA spans its
        // dataset, usually one day): over a long ingest, a beacon that lived three days
        // is judged on those days, not diluted over months.
        const DAY: i64 = 86_400_000_000;
        let first = folded[0].0;
        let span = (folded[folded.len() - 1].0 - first).max(DAY) as f64;
        let mut bins = [0u64; 24];
        for (t, _) in &folded {
            let i = (((t - first) as f64 / span) * 24.0).floor().clamp(0.0, 23.0) as usize;
            bins[i] += 1;
        }
        let mean = bins.iter().sum::<u64>() as f64 / 24.0;
        let std = (bins.iter().map(|&b| (b as f64 - mean).powi(2)).sum::<f64>() / 24.0).sqrt();
        let cv = if mean > 0.0 { std / mean } else { f64::INFINITY };
        let cv_score = if cv > 1.0 { 0.0 } else { 1.0 - cv };
        let non_empty = bins.iter().filter(|&&b| b > 0).count();
        let bimodal = if non_empty >= 11 {
            let max = *bins.iter().max().unwrap_or(&0) as f64;
            let width = (max * 0.05).ceil().max(1.0);
            let mut buckets: HashMap<u64, usize> = HashMap::new();
            for &b in bins.iter().filter(|&&b| b > 0) {
                *buckets.entry((b as f64 / width).floor() as u64).or_default() += 1;
            }
            let mut counts: Vec<usize> = buckets.into_values().collect();
            counts.sort_unstable_by(|a, b| b.cmp(a));
            let top_two: usize = counts.iter().take(2).sum();
            (top_two as f64 / (non_empty - 1).max(1) as f64).min(1.0)
        } else {
            0.0
        };
        let histogram = cv_score.max(bimodal);
        let duration = if non_empty >= 6 {
            let coverage = (folded[folded.len() - 1].0 - folded[0].0) as f64 / span;
            // The longest run of consecutive non-empty bins, wrapping around the day.
            let (mut best, mut run) = (0, 0);
            for i in 0..48 {
                if bins[i % 24] > 0 {
                    run += 1;
                    best = best.max(run.min(24));
                } else {
                    run = 0;
                }
            }
            coverage.max((best as f64 / 12.0).min(1.0))
        } else {
            0.0
        };
        let total =
            if sizes { (timing + size + histogram + duration) / 4.0 } else { (timing + histogram + duration) / 3.0 };
        Some(BeaconScore {
            timing,
            size,
            histogram,
            duration,
            total,
            median_gap_s,
            gap_mad_s,
            median_bytes,
            contacts: folded.len(),
        })
    }

    /// Every pair scoring at or above the threshold, best first.
    pub fn beacons(&self) -> Vec<Beacon> {
        let beacon = |src: IpAddr, dst: IpAddr, port: u16, name: Option<String>, pair: &Pair| {
            if pair.len() < self.config.min_connections {
                return None;
            }
            let contacts = pair.contacts();
            let score = self.score_series(&contacts, name.is_none())?;
            (score.total >= self.config.threshold && score.timing >= self.config.min_timing).then(|| Beacon {
                src,
                dst,
                port,
                name,
                score,
                first_us: contacts.iter().map(|c| c.0).min().unwrap_or(0),
                last_us: contacts.iter().map(|c| c.0).max().unwrap_or(0),
            })
        };
        let unnamed = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let mut out: Vec<Beacon> = self
            .pairs
            .iter()
            .filter_map(|(&(src, dst, port), pair)| beacon(src, dst, port, None, pair))
            .chain(self.named.iter().filter_map(|(&(src, id), pair)| {
                beacon(src, unnamed, 0, Some(self.name_list[id as usize].to_string()), pair)
            }))
            .collect();
        out.sort_by(|a, b| {
            b.score
                .total
                .total_cmp(&a.score.total)
                .then((a.src, a.dst, a.port).cmp(&(b.src, b.dst, b.port)))
                .then(a.name.cmp(&b.name))
        });
        out
    }

    /// `beaconing_pair` findings, and a *candidate* (unconfirmed) `c2_server` for each
    /// destination (address or name) that at least `candidate_min_hosts` distinct
    /// sources beacon to.
    pub fn findings(&self) -> Vec<Finding> {
        self.findings_where(|_| true)
    }

    /// As [`BeaconTracker::findings`], with a `beaconing_pair` finding only for the
    /// beacons `keep` accepts (candidates still count every source).
    pub fn findings_where(&self, keep: impl Fn(&Beacon) -> bool) -> Vec<Finding> {
        let beacons = self.beacons();
        let time = |us: i64| DateTime::from_timestamp_micros(us).unwrap_or_default();
        let mut findings: Vec<Finding> = beacons
            .iter()
            .filter(|b| keep(b))
            .map(|b| Finding {
                kind: FindingKind::BeaconingPair,
                subject: b.subject(),
                first_seen: time(b.first_us),
                last_seen: time(b.last_us),
                score: b.score.total,
                confirmed: false,
                malware: None,
                reason: if b.name.is_some() {
                    format!(
                        "{} contacts by name about every {:.0} s (±{:.0} s); timing {:.2}, histogram {:.2}, duration {:.2}",
                        b.score.contacts,
                        b.score.median_gap_s,
                        b.score.gap_mad_s,
                        b.score.timing,
                        b.score.histogram,
                        b.score.duration
                    )
                } else {
                    format!(
                        "{} contacts about every {:.0} s (±{:.0} s), {:.0} bytes each; timing {:.2}, size {:.2}, histogram {:.2}, duration {:.2}",
                        b.score.contacts,
                        b.score.median_gap_s,
                        b.score.gap_mad_s,
                        b.score.median_bytes,
                        b.score.timing,
                        b.score.size,
                        b.score.histogram,
                        b.score.duration
                    )
                },
                attribution: None,
                evidence: Vec::new(),
            })
            .collect();
        let mut by_destination: HashMap<String, Vec<&Beacon>> = HashMap::new();
        for b in &beacons {
            by_destination.entry(b.destination()).or_default().push(b);
        }
        let mut candidates: Vec<Finding> = by_destination
            .into_iter()
            .filter_map(|(dst, list)| {
                let sources: HashSet<IpAddr> = list.iter().map(|b| b.src).collect();
                (sources.len() >= self.config.candidate_min_hosts).then(|| Finding {
                    kind: FindingKind::C2Server,
                    subject: dst,
                    first_seen: time(list.iter().map(|b| b.first_us).min().unwrap_or(0)),
                    last_seen: time(list.iter().map(|b| b.last_us).max().unwrap_or(0)),
                    score: list.iter().map(|b| b.score.total).sum::<f64>() / list.len() as f64,
                    confirmed: false,
                    malware: None,
                    reason: format!("candidate: {} hosts beacon to it; no feed lists it yet", sources.len()),
                    attribution: None,
                    evidence: Vec::new(),
                })
            })
            .collect();
        candidates.sort_by(|a, b| a.subject.cmp(&b.subject));
        findings.extend(candidates);
        findings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000;

    fn flow(src: &str, dst: &str, port: u16, t: i64, bytes: u64) -> Flow {
        Flow {
            start_us: t,
            duration_us: 0,
            src: src.parse().unwrap(),
            src_port: 50_000,
            dst: dst.parse().unwrap(),
            dst_port: port,
            transport: Transport::TCP,
            bytes_out: bytes,
            bytes_in: 0,
            packets: 2,
        }
    }

    /// A deterministic stand-in for randomness in tests (SplitMix64).
    fn noise(seed: &mut u64) -> f64 {
        *seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn addresses_of_known_good_names_are_not_scored() {
        let mut t = BeaconTracker::new(BeaconConfig::default());
        let mut lookup = DnsLookup::new(0, "10.0.0.1".parse().unwrap(), "ctldl.windowsupdate.com");
        lookup.answers = vec!["198.51.100.20".parse().unwrap()];
        t.observe_lookup(&lookup);
        let mut other = DnsLookup::new(0, "10.0.0.1".parse().unwrap(), "news.example.com");
        other.answers = vec!["198.51.100.21".parse().unwrap()];
        t.observe_lookup(&other);
        for i in 0..72 {
            t.observe(&flow("10.0.0.1", "198.51.100.20", 443, i * HOUR, 700));
            t.observe(&flow("10.0.0.1", "198.51.100.21", 443, i * HOUR, 700));
        }
        let found: Vec<String> = t.beacons().iter().map(Beacon::subject).collect();
        assert_eq!(found, vec!["10.0.0.1 -> 198.51.100.21:443".to_string()]);
    }

    #[test]
    fn a_jittered_hourly_beacon_scores_high_and_random_browsing_low() {
        let mut t = BeaconTracker::new(BeaconConfig::default());
        let mut seed = 7;
        for i in 0..72 {
            let jitter = ((noise(&mut seed) - 0.5) * 60_000_000.0) as i64; // ±30 s
            t.observe(&flow("10.0.0.1", "198.51.100.9", 443, i * HOUR + jitter, 512 + (noise(&mut seed) * 8.0) as u64));
        }
        let mut clock = 0i64;
        for _ in 0..72 {
            clock += (noise(&mut seed).powi(3) * 6.0 * HOUR as f64) as i64 + 1_000_000;
            t.observe(&flow("10.0.0.2", "203.0.113.80", 443, clock, 200 + (noise(&mut seed) * 90_000.0) as u64));
        }
        let beacons = t.beacons();
        assert_eq!(beacons.len(), 1, "{beacons:#?}");
        assert_eq!(beacons[0].dst.to_string(), "198.51.100.9");
        assert!(beacons[0].score.total > 0.9, "{:?}", beacons[0].score);
        assert!((beacons[0].score.median_gap_s - 3600.0).abs() < 60.0);
        let random =
            t.score(&t.pairs[&("10.0.0.2".parse().unwrap(), "203.0.113.80".parse().unwrap(), 443)].contacts()).unwrap();
        assert!(random.total < 0.7, "{random:?}");
    }

    #[test]
    fn tcp_retries_and_failed_attempts_do_not_make_a_beacon() {
        let mut t = BeaconTracker::new(BeaconConfig::default());
        // A host retrying an unanswered connection: bursts of SYNs one second apart, no data.
        for burst in 0..40 {
            for retry in 0..4 {
                t.observe(&flow("10.0.0.3", "192.0.2.50", 445, burst * 7 * HOUR / 3 + retry * 1_000_000, 0));
            }
        }
        assert!(t.beacons().is_empty());
        // The same rhythm with data, each contact retried once a second later, still scores
        // as the hourly beacon it is.
        for i in 0..48 {
            t.observe(&flow("10.0.0.4", "198.51.100.7", 8080, i * HOUR, 300));
            t.observe(&flow("10.0.0.4", "198.51.100.7", 8080, i * HOUR + 1_000_000, 300));
        }
        let beacons = t.beacons();
        assert_eq!(beacons.len(), 1);
        assert_eq!(beacons[0].score.contacts, 48);
        assert!((beacons[0].score.median_gap_s - 3600.0).abs() < 1.0);
    }

    #[test]
    fn known_good_services_are_not_scored_and_shared_beacons_make_a_candidate() {
        let mut config = BeaconConfig::default();
        config.known_good.insert("192.0.2.123".into());
        let mut t = BeaconTracker::new(config);
        for i in 0..48 {
            let mut ntp = flow("10.0.0.5", "192.0.2.1", 123, i * HOUR, 76);
            ntp.transport = Transport::UDP;
            t.observe(&ntp);
            t.observe(&flow("10.0.0.5", "192.0.2.123", 443, i * HOUR, 900));
            for host in 10..14 {
                t.observe(&flow(&format!("10.0.0.{host}"), "198.51.100.66", 443, i * HOUR + host * 1_000_000_000, 640));
            }
        }
        let findings = t.findings();
        let pairs = findings.iter().filter(|f| f.kind == FindingKind::BeaconingPair).count();
        assert_eq!(pairs, 4);
        let candidate = findings.iter().find(|f| f.kind == FindingKind::C2Server).unwrap();
        assert_eq!(candidate.subject, "198.51.100.66");
        assert!(!candidate.confirmed);
        assert!(candidate.reason.contains("4 hosts"), "{}", candidate.reason);
    }

    #[test]
    fn a_host_calling_a_fronted_name_beacons_by_name_and_timed_services_do_not() {
        let mut t = BeaconTracker::new(BeaconConfig::default());
        let mut seed = 11;
        for i in 0..48 {
            let jitter = ((noise(&mut seed) - 0.5) * 20_000_000.0) as i64;
            // Each call lands on another CDN address: no address pair has a rhythm.
            let dst = format!("104.16.{}.{}", i % 7, i % 5);
            t.observe(&flow("10.0.0.1", &dst, 443, i * HOUR + jitter, 700));
            t.observe_named("10.0.0.1".parse().unwrap(), "api.fronted-c2.example", i * HOUR + jitter);
            t.observe_named("10.0.0.1".parse().unwrap(), "ctldl.windowsupdate.com", i * HOUR);
        }
        let beacons = t.beacons();
        assert_eq!(beacons.len(), 1, "{beacons:#?}");
        assert_eq!(beacons[0].subject(), "10.0.0.1 -> api.fronted-c2.example");
        assert_eq!(beacons[0].score.size, 0.0);
        assert!(beacons[0].score.total > 0.9, "{:?}", beacons[0].score);
        let findings = t.findings_where(|b| b.src.to_string() == "10.0.0.1");
        assert_eq!(findings.len(), 1);
        assert!(findings[0].reason.starts_with("48 contacts by name about every 3599 s"), "{}", findings[0].reason);
    }

    #[test]
    fn too_few_contacts_are_not_judged() {
        let t = BeaconTracker::new(BeaconConfig::default());
        assert!(t.score(&[(0, 10), (HOUR, 10), (2 * HOUR, 10)]).is_none());
    }
}
