//! Infected hosts that others saw: stored `malicious-code/infected-system` events
//! (Shadowserver's sinkhole and drone reports, Team Cymru's bots, Microsoft's CTIP) about
//! home addresses become `infected_host` findings, one per host.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use vedette_model::{ClassificationType, Event, Finding, FindingKind};

use crate::Home;
use vedette_model::fast_hash::FastMap;

/// At most this many evidence hashes per host.
const MAX_EVIDENCE: usize = 8;

#[derive(Debug)]
struct Reported {
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    reports: u64,
    malware: Option<u32>,
    feeds: Vec<u32>,
    kinds: Vec<u32>,
    /// Where the report saw it calling (a sinkhole or a C2, as the report says).
    called: Option<u32>,
    evidence: Vec<[u8; 16]>,
}

/// Collects reports of infected home hosts; memory grows with hosts, not reports.
///
/// ```
/// use vedette_detect::{Home, ReportedInfections};
/// use vedette_model::{ClassificationType, Event};
///
/// let mut report = Event::new("shadowserver", ClassificationType::InfectedSystem);
/// report.source.ip = Some("10.1.2.3".parse().unwrap());
/// report.malware_name = Some("ramnit".into());
/// report.classification_identifier = Some("sinkhole-http".into());
/// report.time_source = chrono::DateTime::from_timestamp(1_714_521_600, 0);
/// let mut infections = ReportedInfections::new(Home::new(None, &["10.0.0.0/8"]).unwrap());
/// assert!(infections.add(&report));
/// let found: Vec<_> = infections.findings().collect();
/// assert_eq!(found[0].subject, "10.1.2.3");
/// assert_eq!(found[0].malware.as_deref(), Some("ramnit"));
/// ```
pub struct ReportedInfections {
    home: Home,
    hosts: FastMap<IpAddr, Reported>,
    words: FastMap<Box<str>, u32>,
    word_list: Vec<Box<str>>,
}

impl ReportedInfections {
    pub fn new(home: Home) -> ReportedInfections {
        ReportedInfections { home, hosts: FastMap::default(), words: FastMap::default(), word_list: Vec::new() }
    }

    fn word(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.words.get(text) {
            return id;
        }
        let id = self.word_list.len() as u32;
        self.words.insert(text.into(), id);
        self.word_list.push(text.into());
        id
    }

    /// Counts one event if it reports an infected home host (its `source.ip`) and is
    /// dated (`time.source`, else `time.observation`); returns whether it did.
    pub fn add(&mut self, event: &Event) -> bool {
        if event.classification_type != ClassificationType::InfectedSystem {
            return false;
        }
        let Some(ip) = event.source.ip.filter(|ip| self.home.contains(*ip)) else { return false };
        let Some(when) = event.time_source.or(event.time_observation) else { return false };
        let family = event
            .malware_name
            .clone()
            .or_else(|| event.extra.get("malware.family").and_then(|v| v.as_str()).map(str::to_string))
            .map(|f| f.trim().to_lowercase())
            .filter(|f| !f.is_empty());
        let malware = family.map(|f| self.word(&f));
        let feed = self.word(&event.feed.name);
        let kind = event.classification_identifier.as_deref().map(|k| self.word(k));
        let called = match (event.destination.ip, event.destination.fqdn.as_deref()) {
            (Some(ip), Some(name)) => Some(format!("{ip} ({name})")),
            (Some(ip), None) => Some(ip.to_string()),
            (None, Some(name)) => Some(name.to_string()),
            (None, None) => None,
        }
        .map(|c| self.word(&c));
        let hash = event.hash().0;
        let host = self.hosts.entry(ip).or_insert_with(|| Reported {
            first: when,
            last: when,
            reports: 0,
            malware: None,
            feeds: Vec::new(),
            kinds: Vec::new(),
            called: None,
            evidence: Vec::new(),
        });
        host.first = host.first.min(when);
        host.last = host.last.max(when);
        host.reports += 1;
        host.malware = host.malware.or(malware);
        host.called = host.called.or(called);
        if !host.feeds.contains(&feed) {
            host.feeds.push(feed);
        }
        if let Some(kind) = kind.filter(|k| !host.kinds.contains(k)) {
            host.kinds.push(kind);
        }
        if host.evidence.len() < MAX_EVIDENCE && !host.evidence.contains(&hash) {
            host.evidence.push(hash);
        }
        true
    }

    /// How many home hosts were reported.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// One confirmed `infected_host` finding per reported home host, by address.
    pub fn findings(&self) -> impl Iterator<Item = Finding> + '_ {
        let mut hosts: Vec<(&IpAddr, &Reported)> = self.hosts.iter().collect();
        hosts.sort_by_key(|(ip, _)| **ip);
        let word = |id: &u32| &*self.word_list[*id as usize];
        hosts.into_iter().map(move |(ip, r)| {
            let feeds: Vec<&str> = r.feeds.iter().map(word).collect();
            let malware = r.malware.as_ref().map(word);
            let what = malware.map(|m| format!("infected with {m}")).unwrap_or_else(|| "infected".into());
            let kinds: Vec<&str> = r.kinds.iter().map(word).collect();
            let kinds = if kinds.is_empty() { String::new() } else { format!(" ({})", kinds.join(", ")) };
            let called = r.called.as_ref().map(|c| format!("; seen calling {}", word(c))).unwrap_or_default();
            Finding {
                kind: FindingKind::InfectedHost,
                subject: ip.to_string(),
                first_seen: r.first,
                last_seen: r.last,
                score: 1.0,
                confirmed: true,
                malware: malware.map(str::to_string),
                reason: format!(
                    "reported by {} as {what} in {} report{}{kinds}{called}",
                    feeds.join(", "),
                    r.reports,
                    if r.reports == 1 { "" } else { "s" }
                ),
                attribution: None,
                evidence: r.evidence.iter().map(|h| vedette_model::EventHash(*h).to_hex()).collect(),
            }
        })
    }
}

/// The `infected_host` findings for the stored `infected-system` events about home hosts
/// (see [`ReportedInfections`] to feed them one at a time).
pub fn infected_hosts_from_events<'a>(events: impl IntoIterator<Item = &'a Event>, home: &Home) -> Vec<Finding> {
    let mut infections = ReportedInfections::new(home.clone());
    for event in events {
        infections.add(event);
    }
    infections.findings().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(ip: &str, family: Option<&str>, day: u32, identifier: &str) -> Event {
        let mut e = Event::new("shadowserver", ClassificationType::InfectedSystem);
        e.source.ip = Some(ip.parse().unwrap());
        e.malware_name = family.map(Into::into);
        e.classification_identifier = Some(identifier.into());
        e.time_source = Some(DateTime::from_timestamp(1_714_521_600 + i64::from(day) * 86_400, 0).unwrap());
        e.destination.ip = Some("203.0.113.80".parse().unwrap());
        e
    }

    #[test]
    fn one_finding_per_home_host_with_its_family_and_reports() {
        let home = Home::new(None, &["198.51.100.0/24"]).unwrap();
        let mut not_a_bot = report("198.51.100.9", None, 0, "scan");
        not_a_bot.classification_type = ClassificationType::VulnerableSystem;
        let mut family_in_extra = report("198.51.100.41", None, 0, "sinkhole");
        family_in_extra.extra.insert("malware.family".into(), "Necurs".into());
        let events = [
            report("198.51.100.40", Some("andromeda"), 2, "sinkhole-http"),
            report("198.51.100.40", Some("andromeda"), 0, "sinkhole-http"),
            report("198.51.100.40", None, 1, "botnet-drone"),
            report("192.0.2.1", Some("andromeda"), 0, "sinkhole-http"), // not home
            not_a_bot,
            family_in_extra,
        ];
        let found = infected_hosts_from_events(&events, &home);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].subject, "198.51.100.40");
        assert_eq!(
            found[0].reason,
            "reported by shadowserver as infected with andromeda in 3 reports (sinkhole-http, botnet-drone); seen calling 203.0.113.80"
        );
        assert_eq!((found[0].last_seen - found[0].first_seen).num_days(), 2);
        assert_eq!(found[0].evidence.len(), 3);
        assert!(found[0].confirmed);
        assert_eq!(found[1].malware.as_deref(), Some("necurs"));
    }
}
