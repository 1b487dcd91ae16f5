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

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use chrono::DateTime;
use vedette_model::{Finding, FindingKind, Flow, Transport};

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
            candidate_min_hosts: 3,
        }
    }
}

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

#[derive(Debug, Default)]
struct Pair {
    /// (start in µs, bytes) of each contact that carried data.
    contacts: Vec<(i64, u64)>,
}

/// Collects flows per (source, destination, port), then scores every pair.
#[derive(Debug, Default)]
pub struct BeaconTracker {
    config: BeaconConfig,
    pairs: HashMap<(IpAddr, IpAddr, u16), Pair>,
}

/// A pair that beacons, with its score.
#[derive(Debug, Clone)]
pub struct Beacon {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub port: u16,
    pub score: BeaconScore,
    pub first_us: i64,
    pub last_us: i64,
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
        BeaconTracker { config, ..BeaconTracker::default() }
    }

    pub fn observe(&mut self, flow: &Flow) {
        if flow.transport == Transport::UDP && self.config.known_good_udp_ports.contains(&flow.dst_port) {
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
        if pair.contacts.len() < self.config.max_connections {
            pair.contacts.push((flow.start_us, flow.bytes()));
        }
    }

    /// Scores one series of (start µs, bytes); `None` when too short to judge.
    pub fn score(&self, contacts: &[(i64, u64)]) -> Option<BeaconScore> {
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
        let mut sizes: Vec<f64> = folded.iter().map(|(_, b)| *b as f64).collect();
        let (size, median_bytes, _) = regularity(&mut sizes, 0.0);

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
        let total = (timing + size + histogram + duration) / 4.0;
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
        let mut out: Vec<Beacon> = self
            .pairs
            .iter()
            .filter_map(|(&(src, dst, port), pair)| {
                let score = self.score(&pair.contacts)?;
                (score.total >= self.config.threshold && score.timing >= self.config.min_timing).then(|| Beacon {
                    src,
                    dst,
                    port,
                    score,
                    first_us: pair.contacts.iter().map(|c| c.0).min().unwrap_or(0),
                    last_us: pair.contacts.iter().map(|c| c.0).max().unwrap_or(0),
                })
            })
            .collect();
        out.sort_by(|a, b| {
            b.score.total.total_cmp(&a.score.total).then((a.src, a.dst, a.port).cmp(&(b.src, b.dst, b.port)))
        });
        out
    }

    /// `beaconing_pair` findings, and a *candidate* (unconfirmed) `c2_server` for each
    /// destination that at least `candidate_min_hosts` distinct sources beacon to.
    pub fn findings(&self) -> Vec<Finding> {
        let beacons = self.beacons();
        let time = |us: i64| DateTime::from_timestamp_micros(us).unwrap_or_default();
        let mut findings: Vec<Finding> = beacons
            .iter()
            .map(|b| Finding {
                kind: FindingKind::BeaconingPair,
                subject: format!("{} -> {}:{}", b.src, b.dst, b.port),
                first_seen: time(b.first_us),
                last_seen: time(b.last_us),
                score: b.score.total,
                confirmed: false,
                malware: None,
                reason: format!(
                    "{} contacts about every {:.0} s (±{:.0} s), {:.0} bytes each; timing {:.2}, size {:.2}, histogram {:.2}, duration {:.2}",
                    b.score.contacts,
                    b.score.median_gap_s,
                    b.score.gap_mad_s,
                    b.score.median_bytes,
                    b.score.timing,
                    b.score.size,
                    b.score.histogram,
                    b.score.duration
                ),
                attribution: None,
                evidence: Vec::new(),
            })
            .collect();
        let mut by_destination: HashMap<IpAddr, Vec<&Beacon>> = HashMap::new();
        for b in &beacons {
            by_destination.entry(b.dst).or_default().push(b);
        }
        let mut candidates: Vec<Finding> = by_destination
            .into_iter()
            .filter_map(|(dst, list)| {
                let sources: HashSet<IpAddr> = list.iter().map(|b| b.src).collect();
                (sources.len() >= self.config.candidate_min_hosts).then(|| Finding {
                    kind: FindingKind::C2Server,
                    subject: dst.to_string(),
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
            t.score(&t.pairs[&("10.0.0.2".parse().unwrap(), "203.0.113.80".parse().unwrap(), 443)].contacts).unwrap();
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
    fn too_few_contacts_are_not_judged() {
        let t = BeaconTracker::new(BeaconConfig::default());
        assert!(t.score(&[(0, 10), (HOUR, 10), (2 * HOUR, 10)]).is_none());
    }
}
