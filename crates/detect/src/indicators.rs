use std::collections::HashMap;
use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, Utc};
use vedette_model::{C2Contact, ClassificationType, Event, Finding, FindingKind, Flow};

use crate::Home;

/// What the feeds say about one C2 address.
#[derive(Debug, Clone, Default)]
pub struct Indicator {
    pub malware: Option<String>,
    pub feeds: Vec<String>,
    /// Hashes (hex) of the events that list it.
    pub evidence: Vec<String>,
}

/// Every C2 address the feeds list, for matching at line rate.
#[derive(Debug, Clone, Default)]
pub struct IndicatorSet {
    by_ip: HashMap<IpAddr, Indicator>,
}

impl IndicatorSet {
    /// Keeps the `c2-server` events that name an address.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> IndicatorSet {
        let mut set = IndicatorSet::default();
        for event in events {
            set.insert(event);
        }
        set
    }

    pub fn insert(&mut self, event: &Event) {
        if event.classification_type != ClassificationType::C2Server {
            return;
        }
        let Some(ip) = event.source.ip else { return };
        let entry = self.by_ip.entry(ip).or_default();
        if entry.malware.is_none() {
            entry.malware = event.malware_name.clone();
        }
        if !entry.feeds.contains(&event.feed.name) {
            entry.feeds.push(event.feed.name.clone());
        }
        entry.evidence.push(event.hash().to_hex());
    }

    pub fn get(&self, ip: &IpAddr) -> Option<&Indicator> {
        self.by_ip.get(ip)
    }

    pub fn len(&self) -> usize {
        self.by_ip.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }
}

#[derive(Debug, Clone, Copy)]
struct Counter {
    first_us: i64,
    last_us: i64,
    flows: u64,
    bytes: u64,
}

impl Counter {
    fn add(&mut self, flow: &Flow) {
        self.first_us = self.first_us.min(flow.start_us);
        self.last_us = self.last_us.max(flow.start_us);
        self.flows += 1;
        self.bytes = self.bytes.saturating_add(flow.bytes());
    }
}

/// Streams flows against an [`IndicatorSet`]; memory grows with the number of
/// (C2, victim, day) triples, never with the number of flows.
pub struct IndicatorMatcher {
    indicators: IndicatorSet,
    home: Home,
    contacts: HashMap<(IpAddr, IpAddr, NaiveDate), Counter>,
    flows_seen: u64,
    flows_matched: u64,
}

/// A home host in contact with listed C2 servers: kept compact (no heap data but the list
/// of its C2s), since a national run finds millions; [`Detections::infected_host`] turns
/// one into a finding when it is written.
#[derive(Debug, Clone)]
pub struct Victim {
    pub ip: IpAddr,
    pub first_us: i64,
    pub last_us: i64,
    pub flows: u64,
    pub c2s: Vec<IpAddr>,
}

/// What detection found.
#[derive(Debug, Default)]
pub struct Detections {
    /// One confirmed `c2_server` finding per listed C2 that home hosts contacted.
    pub c2_findings: Vec<Finding>,
    pub victims: Vec<Victim>,
    pub contacts: Vec<C2Contact>,
    pub flows_seen: u64,
    pub flows_matched: u64,
    malware_of: HashMap<IpAddr, String>,
}

impl Detections {
    pub fn c2_servers(&self) -> impl Iterator<Item = &Finding> {
        self.c2_findings.iter()
    }

    /// The `infected_host` finding for one victim.
    pub fn infected_host(&self, v: &Victim) -> Finding {
        let listed: Vec<String> = v.c2s.iter().map(IpAddr::to_string).collect();
        Finding {
            kind: FindingKind::InfectedHost,
            subject: v.ip.to_string(),
            first_seen: time(v.first_us),
            last_seen: time(v.last_us),
            score: 1.0,
            confirmed: true,
            malware: v.c2s.first().and_then(|c2| self.malware_of.get(c2)).cloned(),
            reason: format!("home host in contact with listed C2 server {} ({} flows)", listed.join(", "), v.flows),
            attribution: None,
            // The C2 server's finding carries the indicator events that prove the link.
            evidence: Vec::new(),
        }
    }

    /// Every finding: the C2 servers, then the infected hosts (built one at a time).
    pub fn findings(&self) -> impl Iterator<Item = Finding> + '_ {
        self.c2_findings.iter().cloned().chain(self.victims.iter().map(|v| self.infected_host(v)))
    }
}

fn time(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

impl IndicatorMatcher {
    pub fn new(indicators: IndicatorSet, home: Home) -> IndicatorMatcher {
        IndicatorMatcher { indicators, home, contacts: HashMap::new(), flows_seen: 0, flows_matched: 0 }
    }

    pub fn observe(&mut self, flow: &Flow) {
        self.flows_seen += 1;
        // A host calling out to its C2 is the usual direction; a C2 reaching into a home
        // host (a reverse shell, a P2P botnet) counts too.
        let (c2, victim) = if self.indicators.get(&flow.dst).is_some() {
            (flow.dst, flow.src)
        } else if self.indicators.get(&flow.src).is_some() {
            (flow.src, flow.dst)
        } else {
            return;
        };
        if !self.home.contains(victim) {
            return;
        }
        self.flows_matched += 1;
        let day = time(flow.start_us).date_naive();
        self.contacts
            .entry((c2, victim, day))
            .or_insert(Counter { first_us: flow.start_us, last_us: flow.start_us, flows: 0, bytes: 0 })
            .add(flow);
    }

    pub fn finish(self) -> Detections {
        let mut per_c2: HashMap<IpAddr, Counter> = HashMap::new();
        let mut victims_of: HashMap<IpAddr, u64> = HashMap::new();
        let mut per_victim: HashMap<IpAddr, Victim> = HashMap::new();
        let mut contacts = Vec::with_capacity(self.contacts.len());
        for (&(c2, victim, day), counter) in &self.contacts {
            contacts.push(C2Contact {
                c2,
                victim,
                day,
                first: time(counter.first_us),
                last: time(counter.last_us),
                flows: counter.flows,
                bytes: counter.bytes,
                victim_asn: None,
            });
            let c = per_c2.entry(c2).or_insert(Counter { flows: 0, ..*counter });
            merge(c, counter);
            c.flows += counter.flows;
            let v = per_victim.entry(victim).or_insert_with(|| Victim {
                ip: victim,
                first_us: counter.first_us,
                last_us: counter.last_us,
                flows: 0,
                c2s: Vec::new(),
            });
            v.first_us = v.first_us.min(counter.first_us);
            v.last_us = v.last_us.max(counter.last_us);
            v.flows += counter.flows;
            if !v.c2s.contains(&c2) {
                v.c2s.push(c2);
                *victims_of.entry(c2).or_default() += 1;
            }
        }
        let mut c2_findings = Vec::new();
        let mut malware_of = HashMap::new();
        for (c2, counter) in &per_c2 {
            let indicator = self.indicators.get(c2).cloned().unwrap_or_default();
            let family = indicator.malware.clone().unwrap_or_else(|| "unknown family".into());
            let victims = victims_of.get(c2).copied().unwrap_or(0);
            if let Some(m) = &indicator.malware {
                malware_of.insert(*c2, m.clone());
            }
            c2_findings.push(Finding {
                kind: FindingKind::C2Server,
                subject: c2.to_string(),
                first_seen: time(counter.first_us),
                last_seen: time(counter.last_us),
                score: 1.0,
                confirmed: true,
                malware: indicator.malware.clone(),
                reason: format!(
                    "listed by {} as a {family} C2 and contacted by {victims} home host{} in {} flows",
                    indicator.feeds.join(", "),
                    if victims == 1 { "" } else { "s" },
                    counter.flows
                ),
                attribution: None,
                evidence: indicator.evidence.clone(),
            });
        }
        c2_findings.sort_by(|a, b| a.subject.cmp(&b.subject));
        let mut victims: Vec<Victim> = per_victim.into_values().collect();
        victims.sort_by_key(|v| v.ip);
        contacts.sort_by_key(|c| (c.c2, c.victim, c.day));
        Detections {
            c2_findings,
            victims,
            contacts,
            flows_seen: self.flows_seen,
            flows_matched: self.flows_matched,
            malware_of,
        }
    }
}

fn merge(into: &mut Counter, other: &Counter) {
    into.first_us = into.first_us.min(other.first_us);
    into.last_us = into.last_us.max(other.last_us);
}

#[cfg(test)]
mod tests {
    use super::*;
    use vedette_model::Transport;

    fn flow(src: &str, dst: &str, t: i64) -> Flow {
        Flow {
            start_us: t * 1_000_000,
            duration_us: 0,
            src: src.parse().unwrap(),
            src_port: 40000,
            dst: dst.parse().unwrap(),
            dst_port: 443,
            transport: Transport::TCP,
            bytes_out: 100,
            bytes_in: 50,
            packets: 4,
        }
    }

    fn matcher() -> IndicatorMatcher {
        let mut c2 = Event::new("feed", ClassificationType::C2Server);
        c2.source.ip = Some("198.51.100.4".parse().unwrap());
        c2.malware_name = Some("emotet".into());
        let mut other = Event::new("feed", ClassificationType::Phishing);
        other.source.ip = Some("198.51.100.5".parse().unwrap());
        IndicatorMatcher::new(IndicatorSet::from_events([&c2, &other]), Home::new(None, &["10.0.0.0/8"]).unwrap())
    }

    #[test]
    fn contacts_fall_on_their_utc_day() {
        let mut m = matcher();
        // 2013-05-31T23:59:59Z and one second later, 2013-06-01T00:00:00Z.
        m.observe(&flow("10.0.0.1", "198.51.100.4", 1_370_044_799));
        m.observe(&flow("10.0.0.1", "198.51.100.4", 1_370_044_800));
        let d = m.finish();
        let days: Vec<String> = d.contacts.iter().map(|c| c.day.to_string()).collect();
        assert_eq!(days, vec!["2013-05-31", "2013-06-01"]);
    }

    #[test]
    fn links_home_hosts_to_listed_c2_both_directions_per_day() {
        let mut m = matcher();
        m.observe(&flow("10.0.0.1", "198.51.100.4", 1_357_000_000));
        m.observe(&flow("10.0.0.1", "198.51.100.4", 1_357_000_100));
        m.observe(&flow("198.51.100.4", "10.0.0.2", 1_357_100_000));
        m.observe(&flow("172.16.0.1", "198.51.100.4", 1_357_000_000)); // not home
        m.observe(&flow("10.0.0.3", "198.51.100.5", 1_357_000_000)); // not a C2 indicator
        let d = m.finish();
        assert_eq!(d.flows_seen, 5);
        assert_eq!(d.flows_matched, 3);
        assert_eq!(d.c2_servers().count(), 1);
        assert_eq!(d.findings().filter(|f| f.kind == FindingKind::InfectedHost).count(), 2);
        assert_eq!(d.infected_host(&d.victims[0]).malware.as_deref(), Some("emotet"));
        assert_eq!(d.contacts.len(), 2);
        assert_eq!(d.contacts[0].flows, 2);
        assert_eq!(d.contacts[0].bytes, 300);
        let c2 = d.c2_servers().next().unwrap();
        assert!(c2.reason.contains("2 home hosts"), "{}", c2.reason);
        assert_eq!(c2.malware.as_deref(), Some("emotet"));
    }
}
