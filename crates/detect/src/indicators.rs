//! Indicator matching: what the feeds list as C2 (addresses, domains, URLs, TLS
//! certificates, TLS client fingerprints) against what the telemetry shows home hosts do.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use vedette_model::{
    rcode, C2Contact, ClassificationType, DnsLookup, Event, Finding, FindingKind, Flow, HttpRequest, Observation,
    PassiveDns, SinkholeHit, TlsHello,
};

use crate::address_filter::AddressFilter;
use crate::domains::DomainSet;
use crate::links::{ContactMap, Counter};
use crate::suspects::{Signal, Suspect};
use crate::Home;
use vedette_model::fast_hash::{FastMap, FastSet};

/// What a feed lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IndicatorKind {
    /// A C2 server's address (`source.ip` of a `c2-server` event).
    #[default]
    Address,
    /// A C2 domain (`source.fqdn`): matches the name and its subdomains.
    Domain,
    /// A C2 URL (`source.url`), compared without scheme, port and fragment.
    Url,
    /// A C2 server's TLS certificate, SHA-1 (SSLBL `extra.tls.certificate.sha1`).
    Certificate,
    /// A malware's TLS client fingerprint, JA3 (SSLBL `extra.tls.client.ja3`). Benign
    /// clients share fingerprints with malware, so a match makes a candidate only.
    Ja3,
}

impl IndicatorKind {
    /// How a C2 address relates to a listed name: it serves the domain or URL, presents
    /// the certificate.
    fn verb(self) -> &'static str {
        match self {
            IndicatorKind::Certificate => "presents",
            _ => "serves",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            IndicatorKind::Address => "address",
            IndicatorKind::Domain => "domain",
            IndicatorKind::Url => "URL",
            IndicatorKind::Certificate => "certificate",
            IndicatorKind::Ja3 => "JA3 fingerprint",
        }
    }
}

/// What the feeds say about one C2 address, domain, URL, certificate or fingerprint.
#[derive(Debug, Clone, Default)]
pub struct Indicator {
    pub kind: IndicatorKind,
    /// The address, the domain, the URL as listed, or the hex digest.
    pub value: String,
    pub malware: Option<String>,
    pub feeds: Vec<String>,
    /// Hashes (hex) of the events that list it.
    pub evidence: Vec<String>,
}

/// Every C2 indicator the feeds list, compiled for matching at line rate: addresses in a
/// hash map (one lookup per address of a flow), domains in a set walked from the name's
/// right (one lookup per label), URLs, certificates and fingerprints in hash maps.
#[derive(Debug, Clone, Default)]
pub struct IndicatorSet {
    list: Vec<Indicator>,
    by_ip: FastMap<IpAddr, u32>,
    domains: DomainSet<u32>,
    urls: FastMap<Box<str>, u32>,
    certificates: FastMap<Box<str>, u32>,
    ja3: FastMap<Box<str>, u32>,
}

/// At most this many evidence hashes per indicator (a C2 listed daily for years would
/// otherwise carry thousands).
const MAX_EVIDENCE: usize = 32;

impl IndicatorSet {
    /// Keeps what the events list as C2: see [`IndicatorSet::insert`].
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> IndicatorSet {
        let mut set = IndicatorSet::default();
        for event in events {
            set.insert(event);
        }
        set
    }

    /// Adds what one event lists as C2, if anything:
    ///
    /// - a `c2-server` event's `source.ip`, `source.fqdn` and `source.url` (a URL whose
    ///   host is an address also lists the address; a name that is only the URL's host is
    ///   not listed on its own, since C2 URLs often sit on hacked sites that stay innocent
    ///   for every other path), and any `extra.tls.certificate.sha1` / `extra.tls.client.ja3`;
    /// - a `blacklist` event's TLS certificate or JA3 (SSLBL lists them so, since they
    ///   name no host).
    ///
    /// Everything else is left out: a `malware-distribution` URL serves a payload, it does
    /// not command a bot, and a host that downloaded it is not (yet) under anyone's control.
    pub fn insert(&mut self, event: &Event) {
        let tls_only = match event.classification_type {
            ClassificationType::C2Server => false,
            ClassificationType::Blacklist => true,
            _ => return,
        };
        let malware = event.malware_name.clone().or_else(|| {
            // SSLBL's JA3 list gives the family as its listing reason only.
            event.event_description_text.as_ref().filter(|_| tls_only).map(|t| t.trim().to_lowercase())
        });
        let extra = |key: &str| event.extra.get(key).and_then(|v| v.as_str()).map(|s| s.trim().to_ascii_lowercase());
        let mut found: Vec<(IndicatorKind, String)> = Vec::new();
        if let Some(sha1) = extra("tls.certificate.sha1").filter(|s| !s.is_empty()) {
            found.push((IndicatorKind::Certificate, sha1));
        }
        if let Some(ja3) = extra("tls.client.ja3").filter(|s| !s.is_empty()) {
            found.push((IndicatorKind::Ja3, ja3));
        }
        if !tls_only {
            if let Some(ip) = event.source.ip {
                found.push((IndicatorKind::Address, ip.to_string()));
            }
            let mut url_host = None;
            if let Some((key, host)) = event.source.url.as_deref().and_then(url_key) {
                if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
                    if event.source.ip != Some(ip) {
                        found.push((IndicatorKind::Address, ip.to_string()));
                    }
                }
                url_host = Some(host);
                found.push((IndicatorKind::Url, key));
            }
            if let Some(fqdn) = event.source.fqdn.as_deref().map(vedette_model::normalise_name) {
                if !fqdn.is_empty() && url_host.as_deref() != Some(&*fqdn) {
                    found.push((IndicatorKind::Domain, fqdn.into()));
                }
            }
        }
        let hash = event.hash().to_hex();
        for (kind, value) in found {
            let id = self.id_for(kind, &value);
            let entry = &mut self.list[id as usize];
            if entry.malware.is_none() {
                entry.malware.clone_from(&malware);
            }
            if !entry.feeds.iter().any(|f| **f == *event.feed.name) {
                entry.feeds.push(event.feed.name.to_string());
            }
            if entry.evidence.len() < MAX_EVIDENCE && !entry.evidence.contains(&hash) {
                entry.evidence.push(hash.clone());
            }
        }
    }

    fn id_for(&mut self, kind: IndicatorKind, value: &str) -> u32 {
        let next = self.list.len() as u32;
        let id = match kind {
            IndicatorKind::Address => match value.parse::<IpAddr>() {
                Ok(ip) => *self.by_ip.entry(ip).or_insert(next),
                Err(_) => return u32::MAX,
            },
            IndicatorKind::Domain => *self.domains.insert_listed(value, || next),
            IndicatorKind::Url => *self.urls.entry(value.into()).or_insert(next),
            IndicatorKind::Certificate => *self.certificates.entry(value.into()).or_insert(next),
            IndicatorKind::Ja3 => *self.ja3.entry(value.into()).or_insert(next),
        };
        if id == next {
            self.list.push(Indicator { kind, value: value.to_string(), ..Indicator::default() });
        }
        id
    }

    /// The listed C2 address, if it is one.
    pub fn get(&self, ip: &IpAddr) -> Option<&Indicator> {
        self.by_ip.get(ip).map(|&id| &self.list[id as usize])
    }

    /// The listed domain a normalised name falls under (itself or a parent).
    pub fn domain(&self, name: &str) -> Option<&Indicator> {
        self.domains.find(name).map(|(_, &id)| &self.list[id as usize])
    }

    /// Every indicator.
    pub fn iter(&self) -> impl Iterator<Item = &Indicator> {
        self.list.iter()
    }

    /// How many indicators of each kind: (addresses, domains, URLs, certificates, JA3).
    pub fn counts(&self) -> (usize, usize, usize, usize, usize) {
        (self.by_ip.len(), self.domains.len(), self.urls.len(), self.certificates.len(), self.ja3.len())
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// A URL as compared: the host lower-cased, then the path and query as sent, without
/// scheme, user, port and fragment (`http://Evil.example:8080/gate.php?x#f` →
/// `evil.example/gate.php?x`). Returns the key and the host.
fn url_key(url: &str) -> Option<(String, String)> {
    let url = url.trim();
    let rest = match url.find("://") {
        Some(i) if url[..i].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.') => {
            &url[i + 3..]
        }
        _ => url,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = if authority.starts_with('[') {
        authority.find(']').map_or(authority, |i| &authority[..=i])
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => authority,
        }
    };
    let host = vedette_model::normalise_name(host);
    if host.is_empty() {
        return None;
    }
    let path = path.split('#').next().unwrap_or("");
    let key = if path.starts_with('/') { format!("{host}{path}") } else { format!("{host}/{path}") };
    Some((key, host.into()))
}

/// The slot of an address in the matcher's map: a listed address, or one learned from a
/// listed name's answers (`LEARNED` set) with the name's indicator.
const LEARNED: u32 = 1 << 31;

/// Learned addresses, and (client, address) bindings, are kept up to these counts: a
/// flood of answers cannot grow the matcher without bound.
const MAX_LEARNED: usize = 1 << 17;
const MAX_BOUND: usize = 1 << 20;

const DAY_US: i64 = 86_400_000_000;

fn day_number(time_us: i64) -> i32 {
    time_us.div_euclid(DAY_US) as i32
}

fn day_of(number: i32) -> NaiveDate {
    DateTime::from_timestamp(i64::from(number) * 86_400, 0).unwrap_or_default().date_naive()
}

/// Streams telemetry against an [`IndicatorSet`]: flows through [`IndicatorMatcher::observe`],
/// DNS lookups, HTTP requests, TLS hellos, sinkhole hits and passive DNS through
/// [`IndicatorMatcher::observe_observation`]. Memory grows with the number of
/// (C2, victim, day) triples and learned addresses, never with the number of records.
pub struct IndicatorMatcher {
    list: Arc<Vec<Indicator>>,
    by_ip: FastMap<IpAddr, u32>,
    /// Every key of `by_ip`, as bits: most flows touch no C2, and this says so without
    /// hashing the address into the map.
    maybe_c2: AddressFilter,
    domains: DomainSet<u32>,
    urls: FastMap<Box<str>, u32>,
    certificates: FastMap<Box<str>, u32>,
    ja3: FastMap<Box<str>, u32>,
    home: Home,
    contacts: ContactMap,
    /// Links to a listed name with no address known: (indicator, victim).
    name_links: FastMap<(u32, IpAddr), Counter>,
    /// Home bots seen by a sinkhole: (sinkholed domain and family, bot).
    sinkhole_links: FastMap<(u32, IpAddr), Counter>,
    sinkholed: FastMap<Sinkholed, u32>,
    /// Listed JA3 fingerprints seen from home hosts: (indicator, host).
    ja3_links: FastMap<(u32, IpAddr), Counter>,
    /// The clients that resolved a listed name to an address themselves.
    bound: FastSet<(IpAddr, IpAddr)>,
    /// Learned addresses seen serving names nobody lists.
    shared: FastSet<IpAddr>,
    learned: usize,
    flows_seen: u64,
    flows_matched: u64,
    observations_seen: u64,
    observations_matched: u64,
}

/// A home host in contact with C2 servers: kept compact, since a national run finds
/// millions; [`Detections::infected_host`] turns one into a finding when it is written.
#[derive(Debug, Clone)]
pub struct Victim {
    pub ip: IpAddr,
    pub first_us: i64,
    pub last_us: i64,
    pub flows: u64,
    /// DNS lookups, HTTP requests and TLS hellos that tied it to a C2.
    pub observations: u64,
    /// Its hits on a sinkhole.
    pub sinkhole_hits: u64,
    /// The C2 addresses it was in contact with.
    pub c2s: Vec<IpAddr>,
    /// Listed names it reached (indicators) and sinkholed domains it asked for.
    links: Vec<Link>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Indicator(u32),
    Sinkhole(u32),
}

/// What detection found. [`Detections::findings`] streams every finding: C2 servers,
/// infected hosts (confirmed by an indicator), then candidate infected hosts.
#[derive(Debug, Default)]
pub struct Detections {
    /// One confirmed `c2_server` finding per C2 home hosts reached: an address (listed,
    /// or serving a listed name), or a listed name no address is known for.
    pub c2_findings: Vec<Finding>,
    pub victims: Vec<Victim>,
    /// Home hosts that behave like bots with no indicator to confirm it (generated-looking
    /// lookups, a DNS tunnel, a listed JA3); never one of the `victims`.
    pub suspects: Vec<Suspect>,
    /// (C2 address, victim, day) links. `flows` counts the flows and the observations
    /// (lookups, requests, hellos) that made the link.
    pub contacts: Vec<C2Contact>,
    pub flows_seen: u64,
    pub flows_matched: u64,
    pub observations_seen: u64,
    pub observations_matched: u64,
    indicators: Arc<Vec<Indicator>>,
    c2_indicator: FastMap<IpAddr, u32>,
    sinkholed: Vec<Sinkholed>,
}

/// A sinkholed domain and its malware family, as a sinkhole hit names them.
type Sinkholed = (Box<str>, Option<Box<str>>);

impl Detections {
    pub fn c2_servers(&self) -> impl Iterator<Item = &Finding> {
        self.c2_findings.iter()
    }

    /// The `infected_host` finding for one victim.
    pub fn infected_host(&self, v: &Victim) -> Finding {
        let mut clauses = Vec::new();
        let indicator_of = |c2: &IpAddr| self.c2_indicator.get(c2).and_then(|&id| self.indicators.get(id as usize));
        let mut malware = v.c2s.iter().filter_map(indicator_of).find_map(|i| i.malware.clone());
        let mut named = Vec::new();
        if !v.c2s.is_empty() {
            // "Listed" when the feeds name the addresses themselves; else each address
            // with the listed name it serves.
            let listed = v.c2s.iter().all(|c2| indicator_of(c2).is_some_and(|i| i.kind == IndicatorKind::Address));
            let shown: Vec<String> = v
                .c2s
                .iter()
                .map(|c2| match indicator_of(c2).filter(|i| i.kind != IndicatorKind::Address) {
                    Some(i) => {
                        named.push(i.value.as_str());
                        let participle = if i.kind == IndicatorKind::Certificate { "presenting" } else { "serving" };
                        format!("{c2} ({participle} listed {} {})", i.kind.noun(), i.value)
                    }
                    None => c2.to_string(),
                })
                .collect();
            let noun = if shown.len() == 1 { "C2 server" } else { "C2 servers" };
            let listed = if listed { "listed " } else { "" };
            clauses.push(format!("in contact with {listed}{noun} {}", shown.join(", ")));
        }
        let names: Vec<&Indicator> = v
            .links
            .iter()
            .filter_map(|l| match l {
                Link::Indicator(id) => self.indicators.get(*id as usize),
                Link::Sinkhole(_) => None,
            })
            .filter(|i| !named.contains(&i.value.as_str()))
            .collect();
        if !names.is_empty() {
            let shown: Vec<String> = names.iter().map(|i| format!("{} {}", i.kind.noun(), i.value)).collect();
            clauses.push(format!("asked for listed C2 {}", shown.join(", ")));
            malware = malware.or_else(|| names.iter().find_map(|i| i.malware.clone()));
        }
        for link in &v.links {
            if let Link::Sinkhole(id) = link {
                if let Some((domain, family)) = self.sinkholed.get(*id as usize) {
                    let family_text = family.as_deref().map(|f| format!(", a {f} domain")).unwrap_or_default();
                    clauses.push(format!("reached the sinkhole of {domain}{family_text}"));
                    malware = malware.or_else(|| family.as_deref().map(str::to_string));
                }
            }
        }
        let mut counts = counts(v.flows, v.observations);
        if v.sinkhole_hits > 0 {
            if v.flows == 0 && v.observations == 0 {
                counts.clear();
            }
            counts.push(format!("{} sinkhole hit{}", v.sinkhole_hits, plural(v.sinkhole_hits)));
        }
        Finding {
            kind: FindingKind::InfectedHost,
            subject: v.ip.to_string(),
            first_seen: time(v.first_us),
            last_seen: time(v.last_us),
            score: 1.0,
            confirmed: true,
            malware,
            reason: format!("home host {} ({})", clauses.join("; "), counts.join(", ")),
            attribution: None,
            // The C2 server's finding carries the indicator events that prove the link.
            evidence: Vec::new(),
        }
    }

    /// Every finding: the C2 servers, then the infected hosts and the candidates (built
    /// one at a time).
    pub fn findings(&self) -> impl Iterator<Item = Finding> + '_ {
        self.c2_findings
            .iter()
            .cloned()
            .chain(self.victims.iter().map(|v| self.infected_host(v)))
            .chain(self.suspects.iter().map(Suspect::finding))
    }

    /// Adds candidates found elsewhere (DNS behaviour), merged per host; hosts already
    /// confirmed stay confirmed only.
    pub(crate) fn add_suspects(&mut self, more: Vec<Suspect>) {
        let confirmed: FastSet<IpAddr> = self.victims.iter().map(|v| v.ip).collect();
        let mut by_ip: FastMap<IpAddr, Suspect> =
            std::mem::take(&mut self.suspects).into_iter().map(|s| (s.ip, s)).collect();
        for s in more {
            if confirmed.contains(&s.ip) {
                continue;
            }
            match by_ip.get_mut(&s.ip) {
                Some(existing) => existing.merge(s),
                None => {
                    by_ip.insert(s.ip, s);
                }
            }
        }
        let mut suspects: Vec<Suspect> = by_ip.into_values().collect();
        suspects.sort_by_key(|s| s.ip);
        self.suspects = suspects;
    }
}

/// "3 flows", "1 lookup, request or hello": what tied a host to a C2.
fn counts(flows: u64, observations: u64) -> Vec<String> {
    let mut out = Vec::new();
    if flows > 0 || observations == 0 {
        out.push(format!("{flows} flow{}", plural(flows)));
    }
    if observations > 0 {
        let s = plural(observations);
        out.push(format!("{observations} lookup{s}, request{s} or hello{s}"));
    }
    out
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

pub(crate) fn time(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

impl IndicatorMatcher {
    pub fn new(indicators: IndicatorSet, home: Home) -> IndicatorMatcher {
        let IndicatorSet { list, by_ip, domains, urls, certificates, ja3 } = indicators;
        let mut maybe_c2 = AddressFilter::new();
        by_ip.keys().for_each(|ip| maybe_c2.insert(*ip));
        IndicatorMatcher {
            list: Arc::new(list),
            by_ip,
            maybe_c2,
            domains,
            urls,
            certificates,
            ja3,
            home,
            contacts: ContactMap::default(),
            name_links: FastMap::default(),
            sinkhole_links: FastMap::default(),
            sinkholed: FastMap::default(),
            ja3_links: FastMap::default(),
            bound: FastSet::default(),
            shared: FastSet::default(),
            learned: 0,
            flows_seen: 0,
            flows_matched: 0,
            observations_seen: 0,
            observations_matched: 0,
        }
    }

    /// Adds indicators to a running matcher (a feed fetched while a collector runs):
    /// what is already listed keeps its id and gains the new feeds and evidence; an
    /// address learned from a DNS answer that a feed now lists becomes listed. Returns how
    /// many indicators are new.
    pub fn add_indicators<'a>(&mut self, events: impl IntoIterator<Item = &'a Event>) -> usize {
        let mut by_ip = std::mem::take(&mut self.by_ip);
        // Learned addresses are not indicators: set aside while the feeds' are added.
        let learned: Vec<(IpAddr, u32)> =
            by_ip.iter().filter(|(_, s)| **s & LEARNED != 0).map(|(a, s)| (*a, *s)).collect();
        for (address, _) in &learned {
            by_ip.remove(address);
        }
        let mut set = IndicatorSet {
            list: std::mem::take(Arc::make_mut(&mut self.list)),
            by_ip,
            domains: std::mem::take(&mut self.domains),
            urls: std::mem::take(&mut self.urls),
            certificates: std::mem::take(&mut self.certificates),
            ja3: std::mem::take(&mut self.ja3),
        };
        let before = set.list.len();
        for event in events {
            set.insert(event);
        }
        for (address, slot) in learned {
            // Listed now: the feed's id stands, and the link is certain.
            set.by_ip.entry(address).or_insert(slot);
        }
        for address in set.by_ip.keys() {
            self.maybe_c2.insert(*address);
        }
        let added = set.list.len() - before;
        let IndicatorSet { list, by_ip, domains, urls, certificates, ja3 } = set;
        self.list = Arc::new(list);
        (self.by_ip, self.domains, self.urls, self.certificates, self.ja3) = (by_ip, domains, urls, certificates, ja3);
        added
    }

    /// How many (C2, victim, day) links are held now, every buffered flow folded in: the
    /// aggregation is complete at this point, before findings are built.
    pub fn links(&mut self) -> usize {
        self.settle_links();
        self.contacts.len()
    }

    fn settle_links(&mut self) {
        for (id, victim, counter) in self.contacts.settle(&self.list) {
            self.name_links.entry((id, victim)).or_insert_with(|| Counter { observations: 0, ..counter });
        }
    }

    /// One flow: a hash lookup per address; the rest only when one is a C2.
    #[inline]
    pub fn observe(&mut self, flow: &Flow) {
        self.flows_seen += 1;
        if self.by_ip.is_empty() {
            return;
        }
        // A host calling out to its C2 is the usual direction; a C2 reaching into a home
        // host (a reverse shell, a P2P botnet) counts too.
        let (dst, src) = (self.maybe_c2.may_contain(flow.dst), self.maybe_c2.may_contain(flow.src));
        if !dst && !src {
            return;
        }
        self.look_up(flow, dst, src);
    }

    /// Many flows, as [`IndicatorMatcher::observe`] one after the other, faster: the
    /// address filter is read for 64 flows at a time with no branch in between, so its
    /// cache misses overlap instead of waiting one after the other (the filter is too
    /// large for the first-level cache), and the flows it passes are then looked up in
    /// order. Equivalent, since a flow changes nothing the filter or the map hold.
    pub fn observe_all(&mut self, flows: &[Flow]) {
        self.flows_seen += flows.len() as u64;
        if self.by_ip.is_empty() {
            return;
        }
        for chunk in flows.chunks(64) {
            let mut passed = 0u64;
            for (i, flow) in chunk.iter().enumerate() {
                let maybe = self.maybe_c2.may_contain(flow.dst) | self.maybe_c2.may_contain(flow.src);
                passed |= u64::from(maybe) << i;
            }
            while passed != 0 {
                let flow = &chunk[passed.trailing_zeros() as usize];
                passed &= passed - 1;
                let (dst, src) = (self.maybe_c2.may_contain(flow.dst), self.maybe_c2.may_contain(flow.src));
                self.look_up(flow, dst, src);
            }
        }
    }

    /// A flow the filter passed (`dst`, `src`: which of its addresses).
    #[inline]
    fn look_up(&mut self, flow: &Flow, dst: bool, src: bool) {
        // An address the filter refused is not in the map: not hashed into it.
        let listed = |ip: &IpAddr, passed: bool| if passed { self.by_ip.get(ip).copied() } else { None };
        let (c2, victim, slot) = if let Some(slot) = listed(&flow.dst, dst) {
            (flow.dst, flow.src, slot)
        } else if let Some(slot) = listed(&flow.src, src) {
            (flow.src, flow.dst, slot)
        } else {
            return;
        };
        self.flow_hit(c2, victim, slot, flow);
    }

    #[cold]
    fn flow_hit(&mut self, c2: IpAddr, victim: IpAddr, slot: u32, flow: &Flow) {
        if !self.home.contains(victim) {
            return;
        }
        self.flows_matched += 1;
        let certain = slot & LEARNED == 0 || self.bound.contains(&(victim, c2));
        let day = day_number(flow.start_us);
        if let (IpAddr::V4(c), IpAddr::V4(v)) = (c2, victim) {
            self.contacts.append_v4(c, v, day, flow.start_us, flow.bytes(), slot & !LEARNED, certain);
            return;
        }
        let mut hit = Counter::new(flow.start_us, slot & !LEARNED, certain);
        hit.flows = 1;
        hit.bytes = flow.bytes();
        self.contacts.get_or_insert(c2, victim, day, || Counter { flows: 0, bytes: 0, ..hit }).add(&hit);
    }

    /// A DNS lookup, HTTP request, TLS hello, sinkhole hit or passive DNS record.
    pub fn observe_observation(&mut self, observation: &Observation) {
        self.observations_seen += 1;
        match observation {
            Observation::Dns(lookup) => self.observe_dns(lookup),
            Observation::Http(request) => self.observe_http(request),
            Observation::Tls(hello) => self.observe_tls(hello),
            Observation::Sinkhole(hit) => self.observe_sinkhole(hit),
            Observation::PassiveDns(record) => self.observe_passive_dns(record),
        }
    }

    fn observe_dns(&mut self, lookup: &DnsLookup) {
        let Some((_, &id)) = self.domains.find(&lookup.query) else {
            self.mark_shared(&lookup.answers);
            return;
        };
        for &address in &lookup.answers {
            self.learn(address, id);
        }
        if !self.home.contains(lookup.client) {
            return;
        }
        self.observations_matched += 1;
        for &address in &lookup.answers {
            if self.bound.len() < MAX_BOUND {
                self.bound.insert((lookup.client, address));
            }
        }
        // The lookup itself ties the host to the C2: to the first address answered (the
        // one a resolver's client takes), or to the name when nothing was answered
        // (NXDOMAIN, a sinkholed or not yet registered name).
        let answered = lookup.rcode.is_none_or(|r| r == rcode::NOERROR);
        match lookup.answers.first().filter(|_| answered) {
            Some(&address) => self.link_address(address, lookup.client, id, lookup.time_us),
            None => self.link_name(id, lookup.client, lookup.time_us),
        }
    }

    fn observe_http(&mut self, request: &HttpRequest) {
        let address_host;
        let host: &str = if request.host.is_empty() {
            address_host = request.dst.to_string();
            &address_host
        } else {
            &request.host
        };
        let id = if self.urls.is_empty() {
            None
        } else {
            let uri = &*request.uri;
            let full = if uri.starts_with("http://") || uri.starts_with("https://") {
                url_key(uri).map(|(key, _)| key)
            } else if uri.starts_with('/') {
                Some(format!("{host}{uri}"))
            } else {
                Some(format!("{host}/{uri}"))
            };
            full.and_then(|full| {
                self.urls.get(full.as_str()).or_else(|| full.split_once('?').and_then(|(path, _)| self.urls.get(path)))
            })
            .copied()
        };
        let Some(id) = id.or_else(|| self.domains.find(host).map(|(_, &id)| id)) else { return };
        self.name_hit(id, request.src, request.dst, request.time_us);
    }

    fn observe_tls(&mut self, hello: &TlsHello) {
        let by_certificate = hello.cert_sha1.as_deref().and_then(|c| self.certificates.get(c)).copied();
        let by_name = hello.sni.as_deref().and_then(|n| self.domains.find(n)).map(|(_, &id)| id);
        if let Some(id) = by_certificate.or(by_name) {
            self.name_hit(id, hello.src, hello.dst, hello.time_us);
        }
        if let Some(&id) = hello.ja3.as_deref().and_then(|j| self.ja3.get(j)) {
            if self.home.contains(hello.src) {
                self.observations_matched += 1;
                let c = self.ja3_links.entry((id, hello.src)).or_insert_with(|| Counter::new(hello.time_us, id, true));
                c.touch(hello.time_us, true);
                c.observations += 1;
            }
        }
    }

    /// A home host reached `dst` for a listed name, URL or certificate.
    fn name_hit(&mut self, id: u32, src: IpAddr, dst: IpAddr, time_us: i64) {
        // A URL names one path on a server that may host innocent sites beside it: its
        // address is not learned as a C2 for other flows. A name or certificate is.
        if self.list[id as usize].kind != IndicatorKind::Url {
            self.learn(dst, id);
        }
        if !self.home.contains(src) {
            return;
        }
        self.observations_matched += 1;
        if self.bound.len() < MAX_BOUND {
            self.bound.insert((src, dst));
        }
        self.link_address(dst, src, id, time_us);
    }

    fn link_address(&mut self, c2: IpAddr, victim: IpAddr, id: u32, time_us: i64) {
        let c = self.contacts.get_or_insert(c2, victim, day_number(time_us), || Counter::new(time_us, id, true));
        c.touch(time_us, true);
        c.observations += 1;
        if c.indicator != id {
            if self.list[c.indicator as usize].kind == IndicatorKind::Address {
                // A name says more than an address does: keep it on the link.
                c.indicator = id;
            } else if self.list[id as usize].kind != IndicatorKind::Address {
                // A second name for the same link: the victim lists it too.
                self.name_links.entry((id, victim)).or_insert_with(|| Counter::new(time_us, id, true));
            }
        }
    }

    fn link_name(&mut self, id: u32, victim: IpAddr, time_us: i64) {
        let c = self.name_links.entry((id, victim)).or_insert_with(|| Counter::new(time_us, id, true));
        c.touch(time_us, true);
        c.observations += 1;
    }

    /// An address that answered for a listed name becomes a C2 address for later flows.
    /// Not a private, loopback or link-local one: that is a sinkhole's or a resolver's
    /// answer ("nowhere"), and every network has hosts there.
    fn learn(&mut self, address: IpAddr, id: u32) {
        let nowhere = address.is_unspecified()
            || address.is_loopback()
            || address.is_multicast()
            || match address {
                IpAddr::V4(a) => a.is_private() || a.is_link_local() || a.is_broadcast(),
                IpAddr::V6(a) => a.is_unique_local() || a.is_unicast_link_local(),
            };
        if nowhere || self.learned >= MAX_LEARNED {
            return;
        }
        if let std::collections::hash_map::Entry::Vacant(e) = self.by_ip.entry(address) {
            e.insert(id | LEARNED);
            self.maybe_c2.insert(address);
            self.learned += 1;
        }
    }

    fn mark_shared(&mut self, answers: &[IpAddr]) {
        if self.learned == 0 {
            return;
        }
        for address in answers {
            if self.by_ip.get(address).is_some_and(|slot| slot & LEARNED != 0) {
                self.shared.insert(*address);
            }
        }
    }

    fn observe_sinkhole(&mut self, hit: &SinkholeHit) {
        if !self.home.contains(hit.bot) {
            return;
        }
        self.observations_matched += 1;
        let domain = vedette_model::normalise_name(&hit.domain);
        let family =
            hit.family.as_deref().map(|f| f.trim().to_lowercase().into_boxed_str()).filter(|f| !f.is_empty()).or_else(
                || {
                    self.domains
                        .find(&domain)
                        .and_then(|(_, &id)| self.list[id as usize].malware.as_deref())
                        .map(Into::into)
                },
            );
        let next = self.sinkholed.len() as u32;
        let id = *self.sinkholed.entry((domain, family)).or_insert(next);
        let c = self.sinkhole_links.entry((id, hit.bot)).or_insert_with(|| Counter::new(hit.time_us, id, true));
        c.touch(hit.time_us, true);
        c.observations += 1;
    }

    fn observe_passive_dns(&mut self, record: &PassiveDns) {
        if !matches!(&*record.rrtype, "A" | "AAAA" | "a" | "aaaa") {
            return;
        }
        let Ok(address) = record.rdata.trim().parse::<IpAddr>() else { return };
        let name = vedette_model::normalise_name(&record.rrname);
        match self.domains.find(&name) {
            Some((_, &id)) => self.learn(address, id),
            None => self.mark_shared(&[address]),
        }
    }

    /// Everything found.
    pub fn finish(mut self) -> Detections {
        self.flush()
    }

    /// Everything found since the last flush, for a long run that writes as it goes:
    /// the contacts and links are handed over and start again from zero (the store adds
    /// contacts up; findings are upserted), while what was learned — addresses of listed
    /// names, which hosts resolved them, which addresses turned out shared — is kept. A
    /// contact through an address that is found to be shared only after it was flushed
    /// stays written.
    pub fn flush(&mut self) -> Detections {
        self.settle_links();
        let contacts = std::mem::take(&mut self.contacts);
        let name_links = std::mem::take(&mut self.name_links);
        let sinkhole_links = std::mem::take(&mut self.sinkhole_links);
        let ja3_links = std::mem::take(&mut self.ja3_links);
        let (list, by_ip, shared) = (&self.list, &self.by_ip, &self.shared);
        let mut per_c2: FastMap<IpAddr, (Counter, Vec<u32>)> = FastMap::default();
        let mut victims_of: FastMap<IpAddr, u64> = FastMap::default();
        let mut per_victim: FastMap<IpAddr, Victim> = FastMap::default();
        let mut with_address: FastSet<u32> = FastSet::default();
        let mut out_contacts = Vec::with_capacity(contacts.len());
        let new_victim = |ip: IpAddr, c: &Counter| Victim {
            ip,
            first_us: c.first_us,
            last_us: c.last_us,
            flows: 0,
            observations: 0,
            sinkhole_hits: 0,
            c2s: Vec::new(),
            links: Vec::new(),
        };
        for ((c2, victim, day), counter) in contacts.iter() {
            let counter = &counter;
            if !counter.certain && shared.contains(&c2) {
                continue;
            }
            out_contacts.push(C2Contact {
                c2,
                victim,
                day: day_of(day),
                first: time(counter.first_us),
                last: time(counter.last_us),
                flows: counter.flows + counter.observations,
                bytes: counter.bytes,
                victim_asn: None,
            });
            with_address.insert(counter.indicator);
            let (c, ids) =
                per_c2.entry(c2).or_insert_with(|| (Counter { flows: 0, observations: 0, ..*counter }, Vec::new()));
            c.touch(counter.first_us, true);
            c.touch(counter.last_us, true);
            c.flows += counter.flows;
            c.observations += counter.observations;
            if !ids.contains(&counter.indicator) {
                ids.push(counter.indicator);
            }
            let v = per_victim.entry(victim).or_insert_with(|| new_victim(victim, counter));
            v.first_us = v.first_us.min(counter.first_us);
            v.last_us = v.last_us.max(counter.last_us);
            v.flows += counter.flows;
            v.observations += counter.observations;
            if !v.c2s.contains(&c2) {
                v.c2s.push(c2);
                *victims_of.entry(c2).or_default() += 1;
            }
            let link = Link::Indicator(counter.indicator);
            if list[counter.indicator as usize].kind != IndicatorKind::Address && !v.links.contains(&link) {
                v.links.push(link);
            }
        }
        // Names reached with no address: each is its own C2 finding when no address is
        // known for it at all.
        let mut per_name: FastMap<u32, (Counter, u64)> = FastMap::default();
        for (&(id, victim), counter) in &name_links {
            let v = per_victim.entry(victim).or_insert_with(|| new_victim(victim, counter));
            v.first_us = v.first_us.min(counter.first_us);
            v.last_us = v.last_us.max(counter.last_us);
            v.observations += counter.observations;
            let link = Link::Indicator(id);
            if !v.links.contains(&link) {
                v.links.push(link);
            }
            // Links kept only to name a second indicator carry no lookups of their own.
            if counter.observations > 0 {
                let (c, hosts) = per_name.entry(id).or_insert((Counter { observations: 0, ..*counter }, 0));
                c.touch(counter.first_us, true);
                c.touch(counter.last_us, true);
                c.observations += counter.observations;
                *hosts += 1;
            }
        }
        let learned_for: FastSet<u32> =
            by_ip.values().filter(|slot| *slot & LEARNED != 0).map(|slot| slot & !LEARNED).collect();
        for (&(id, victim), counter) in &sinkhole_links {
            let v = per_victim.entry(victim).or_insert_with(|| new_victim(victim, counter));
            v.first_us = v.first_us.min(counter.first_us);
            v.last_us = v.last_us.max(counter.last_us);
            v.sinkhole_hits += counter.observations;
            v.links.push(Link::Sinkhole(id));
        }

        let mut c2_findings = Vec::new();
        let mut c2_indicator = FastMap::default();
        for (c2, (counter, ids)) in &mut per_c2 {
            if let Some(&slot) = by_ip.get(c2).filter(|slot| **slot & LEARNED == 0) {
                // The address's own listing first, whatever name also led to it.
                ids.retain(|&id| id != slot);
                ids.insert(0, slot);
            }
            let victims = victims_of.get(c2).copied().unwrap_or(0);
            c2_indicator.insert(*c2, ids[0]);
            let names: Vec<&Indicator> =
                ids.iter().map(|&id| &list[id as usize]).filter(|i| i.kind != IndicatorKind::Address).collect();
            let listed = by_ip.get(c2).is_some_and(|slot| slot & LEARNED == 0);
            let indicators: Vec<&Indicator> = ids.iter().map(|&id| &list[id as usize]).collect();
            let malware = indicators.iter().find_map(|i| i.malware.clone());
            let family = malware.clone().unwrap_or_else(|| "unknown family".into());
            let mut feeds: Vec<&str> = Vec::new();
            let mut evidence: Vec<String> = Vec::new();
            for i in &indicators {
                for f in &i.feeds {
                    if !feeds.contains(&f.as_str()) {
                        feeds.push(f);
                    }
                }
                for e in &i.evidence {
                    if !evidence.contains(e) {
                        evidence.push(e.clone());
                    }
                }
            }
            let how = if listed || names.is_empty() {
                format!("listed by {} as a {family} C2", feeds.join(", "))
            } else {
                let shown: Vec<String> =
                    names.iter().map(|i| format!("{} {} {}", i.kind.verb(), i.kind.noun(), i.value)).collect();
                let mut text = format!("{}, listed by {} as a {family} C2", shown.join(", "), feeds.join(", "));
                if shared.contains(c2) {
                    text.push_str(" (the address serves other names too: a shared or fronting host)");
                }
                text
            };
            let counts = counts(counter.flows, counter.observations).join(" and ");
            c2_findings.push(Finding {
                kind: FindingKind::C2Server,
                subject: c2.to_string(),
                first_seen: time(counter.first_us),
                last_seen: time(counter.last_us),
                score: 1.0,
                confirmed: true,
                malware,
                reason: format!("{how} and contacted by {victims} home host{} in {counts}", plural(victims)),
                attribution: None,
                evidence,
            });
        }
        for (&id, (counter, hosts)) in &per_name {
            if with_address.contains(&id) || learned_for.contains(&id) {
                continue;
            }
            let i = &list[id as usize];
            let family = i.malware.clone().unwrap_or_else(|| "unknown family".into());
            c2_findings.push(Finding {
                kind: FindingKind::C2Server,
                subject: i.value.clone(),
                first_seen: time(counter.first_us),
                last_seen: time(counter.last_us),
                score: 1.0,
                confirmed: true,
                malware: i.malware.clone(),
                reason: format!(
                    "listed by {} as a {family} C2 {}; asked for by {hosts} home host{}, no address answered",
                    i.feeds.join(", "),
                    i.kind.noun(),
                    plural(*hosts)
                ),
                attribution: None,
                evidence: i.evidence.clone(),
            });
        }
        c2_findings.sort_by(|a, b| a.subject.cmp(&b.subject));
        let mut victims: Vec<Victim> = per_victim.into_values().collect();
        for v in &mut victims {
            v.c2s.sort();
        }
        victims.sort_by_key(|v| v.ip);
        out_contacts.sort_by_key(|c| (c.c2, c.victim, c.day));

        let mut detections = Detections {
            c2_findings,
            victims,
            suspects: Vec::new(),
            contacts: out_contacts,
            flows_seen: std::mem::take(&mut self.flows_seen),
            flows_matched: std::mem::take(&mut self.flows_matched),
            observations_seen: std::mem::take(&mut self.observations_seen),
            observations_matched: std::mem::take(&mut self.observations_matched),
            indicators: Arc::clone(&self.list),
            c2_indicator,
            sinkholed: Vec::new(),
        };
        let mut ja3_suspects = Vec::new();
        for (&(id, host), counter) in &ja3_links {
            let i = &list[id as usize];
            ja3_suspects.push(Suspect {
                ip: host,
                first_us: counter.first_us,
                last_us: counter.last_us,
                signals: vec![Signal::ListedJa3 {
                    ja3: i.value.as_str().into(),
                    malware: i.malware.as_deref().map(Into::into),
                    feeds: i.feeds.join(", ").into(),
                    hellos: counter.observations,
                }],
            });
        }
        detections.add_suspects(ja3_suspects);
        let mut names: Vec<(&Sinkholed, u32)> = self.sinkholed.iter().map(|(n, id)| (n, *id)).collect();
        names.sort_by_key(|(_, id)| *id);
        detections.sinkholed = names.into_iter().map(|(n, _)| n.clone()).collect();
        for v in &mut detections.victims {
            v.links.sort_by_key(|l| match l {
                Link::Indicator(id) => (0, *id),
                Link::Sinkhole(id) => (1, *id),
            });
        }
        detections
    }
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
    fn indicators_added_while_running_match_the_flows_that_follow() {
        let home = Home::new(None, &["10.0.0.0/8"]).unwrap();
        let mut first = Event::new("feed-a", ClassificationType::C2Server);
        first.source.ip = Some("198.51.100.4".parse().unwrap());
        let mut m = IndicatorMatcher::new(IndicatorSet::from_events([&first]), home);
        let flow = |dst: &str| Flow {
            start_us: 1_357_000_000_000_000,
            duration_us: 0,
            src: "10.1.1.1".parse().unwrap(),
            src_port: 50_000,
            dst: dst.parse().unwrap(),
            dst_port: 443,
            transport: vedette_model::Transport::TCP,
            bytes_out: 300,
            bytes_in: 900,
            packets: 6,
        };
        m.observe(&flow("203.0.113.7"));
        assert_eq!(m.flush().contacts.len(), 0);
        let mut later = Event::new("feed-b", ClassificationType::C2Server);
        later.source.ip = Some("203.0.113.7".parse().unwrap());
        let mut again = Event::new("feed-b", ClassificationType::C2Server);
        again.source.ip = Some("198.51.100.4".parse().unwrap());
        assert_eq!(m.add_indicators([&later, &again]), 1);
        m.observe(&flow("203.0.113.7"));
        m.observe(&flow("198.51.100.4"));
        let found = m.finish();
        assert_eq!(found.contacts.len(), 2);
        let feeds: Vec<&Finding> = found.c2_servers().filter(|f| f.subject == "198.51.100.4").collect();
        assert!(feeds[0].reason.contains("feed-a") && feeds[0].reason.contains("feed-b"), "{}", feeds[0].reason);
    }

    /// A batch through `observe_all` leaves the same contacts and findings as its flows
    /// through `observe` one by one: hits in both directions, hosts at home and not,
    /// listed and learned addresses, IPv6, several days, batches of any length, and more
    /// flow links than one buffer holds.
    #[test]
    fn a_batch_of_flows_matches_as_the_flows_one_by_one() {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let c2s = ["198.51.100.4", "198.51.100.9", "2001:db8::c2", "192.0.2.77"];
        let flows: Vec<Flow> = (0..crate::links::PENDING_LINKS * 6)
            .map(|i| {
                let r = next();
                let c2 = c2s[(r % 4) as usize];
                let (home, other) = if c2.contains(':') {
                    (format!("2001:db8:1::{:x}", r >> 8 & 0xff), "2001:db8:2::1".to_string())
                } else {
                    (format!("10.0.{}.{}", r >> 8 & 0x3, r >> 16 & 0xff), "172.16.0.1".to_string())
                };
                let host = if r >> 30 & 7 == 0 { other } else { home };
                let t = 1_357_000_000 + (i as i64) * 7 + (r >> 40) as i64 % 200_000;
                match r >> 33 & 3 {
                    0 => flow(&host, c2, t),
                    1 => flow(c2, &host, t),
                    _ => flow(&host, "203.0.113.50", t), // no C2
                }
            })
            .collect();
        let domains = event(ClassificationType::C2Server, |e| e.source.fqdn = Some("bad-c2.example.net".into()));
        let address = event(ClassificationType::C2Server, |e| e.source.ip = Some("198.51.100.4".parse().unwrap()));
        let v6 = event(ClassificationType::C2Server, |e| e.source.ip = Some("2001:db8::c2".parse().unwrap()));
        let home = Home::new(None, &["10.0.0.0/8", "2001:db8:1::/48"]).unwrap();
        let set = IndicatorSet::from_events([&domains, &address, &v6]);
        let mut run = |batch: bool| {
            let mut m = IndicatorMatcher::new(set.clone(), home.clone());
            // 198.51.100.9 is learned from a lookup; 192.0.2.77 is never listed.
            m.observe_observation(&lookup(1_356_999_000, "10.0.0.1", "bad-c2.example.net", &["198.51.100.9"]));
            if batch {
                let mut rest = &flows[..];
                while !rest.is_empty() {
                    let (now, later) = rest.split_at((next() % 100) as usize % rest.len() + 1);
                    m.observe_all(now);
                    rest = later;
                }
            } else {
                flows.iter().for_each(|f| m.observe(f));
            }
            m.finish()
        };
        let (one, many) = (run(false), run(true));
        // Two thirds of them IPv4: more than a buffer of flow links.
        assert!(one.flows_matched > 3 * crate::links::PENDING_LINKS as u64 / 2, "{}", one.flows_matched);
        assert_eq!((one.flows_seen, one.flows_matched), (many.flows_seen, many.flows_matched));
        assert_eq!(one.contacts, many.contacts);
        let findings = |d: &Detections| d.findings().map(|f| (f.subject, f.reason)).collect::<Vec<_>>();
        assert_eq!(findings(&one), findings(&many));
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

    fn event(kind: ClassificationType, f: impl FnOnce(&mut Event)) -> Event {
        let mut e = Event::new("feed", kind);
        f(&mut e);
        e
    }

    fn lookup(t: i64, client: &str, query: &str, answers: &[&str]) -> Observation {
        let mut l = DnsLookup::new(t * 1_000_000, client.parse().unwrap(), query);
        l.rcode = Some(if answers.is_empty() { rcode::NXDOMAIN } else { rcode::NOERROR });
        l.answers = answers.iter().map(|a| a.parse().unwrap()).collect();
        Observation::Dns(l)
    }

    #[test]
    fn only_c2_classifications_and_sslbl_tls_listings_become_indicators() {
        let c2_domain = event(ClassificationType::C2Server, |e| {
            e.source.fqdn = Some("Bad-C2.example.net.".into());
            e.malware_name = Some("qakbot".into());
        });
        let c2_url =
            event(ClassificationType::C2Server, |e| e.source.url = Some("http://203.0.113.9:8080/gate.php#x".into()));
        let payload = event(ClassificationType::MalwareDistribution, |e| {
            e.source.url = Some("http://198.51.100.20:8000/bins/x.sh".into())
        });
        let cert = event(ClassificationType::Blacklist, |e| {
            e.extra.insert("tls.certificate.sha1".into(), "6AC6A8E1BCB4B3E4F6B3D8A7E2D1C0B9A8F7E6D5".into());
            e.malware_name = Some("dridex".into());
        });
        let ja3 = event(ClassificationType::Blacklist, |e| {
            e.extra.insert("tls.client.ja3".into(), "1aa7bf8b97e540ca5edd75f7b8384bfa".into());
            e.event_description_text = Some("TrickBot".into());
        });
        let drop_list = event(ClassificationType::Blacklist, |e| e.source.ip = Some("192.0.2.1".parse().unwrap()));
        let set = IndicatorSet::from_events([&c2_domain, &c2_url, &payload, &cert, &ja3, &drop_list]);
        // The C2 URL's address host is listed too; the payload URL and the DROP address are not.
        assert_eq!(set.counts(), (1, 1, 1, 1, 1));
        assert_eq!(set.domain("x.bad-c2.example.net").unwrap().malware.as_deref(), Some("qakbot"));
        assert!(set.get(&"198.51.100.20".parse().unwrap()).is_none());
        let ja3 = set.iter().find(|i| i.kind == IndicatorKind::Ja3).unwrap();
        assert_eq!(ja3.malware.as_deref(), Some("trickbot"));
        assert_eq!(url_key("HTTPS://user@Evil.Example:443/a/b?c=1#frag").unwrap().0, "evil.example/a/b?c=1");
        assert_eq!(url_key("evil.example").unwrap().0, "evil.example/");
        assert_eq!(url_key("http://[2001:db8::1]:80/x").unwrap().1, "[2001:db8::1]");
    }

    fn domain_matcher() -> IndicatorMatcher {
        let c2 = event(ClassificationType::C2Server, |e| {
            e.source.fqdn = Some("bad-c2.example.net".into());
            e.malware_name = Some("qakbot".into());
        });
        let hosted = event(ClassificationType::C2Server, |e| e.source.fqdn = Some("evil.duckdns.org".into()));
        IndicatorMatcher::new(IndicatorSet::from_events([&c2, &hosted]), Home::new(None, &["10.0.0.0/8"]).unwrap())
    }

    #[test]
    fn a_lookup_of_a_listed_domain_links_the_host_and_teaches_the_address() {
        let mut m = domain_matcher();
        m.observe_observation(&lookup(1_000, "10.0.0.1", "api.bad-c2.example.net", &["198.51.100.9"]));
        // Another home host reaches the learned address without a lookup we saw.
        m.observe(&flow("10.0.0.2", "198.51.100.9", 1_100));
        // A sibling on the free hosting suffix is someone else's.
        m.observe_observation(&lookup(1_200, "10.0.0.3", "good.duckdns.org", &["203.0.113.1"]));
        m.observe_observation(&lookup(1_300, "10.0.0.4", "evil.duckdns.org", &[]));
        let d = m.finish();
        let subjects: Vec<&str> = d.c2_findings.iter().map(|f| f.subject.as_str()).collect();
        assert_eq!(subjects, ["198.51.100.9", "evil.duckdns.org"]);
        assert!(d.c2_findings[0].reason.starts_with("serves domain bad-c2.example.net"), "{}", d.c2_findings[0].reason);
        assert!(d.c2_findings[1].reason.contains("no address answered"), "{}", d.c2_findings[1].reason);
        let hosts: Vec<String> = d.victims.iter().map(|v| v.ip.to_string()).collect();
        assert_eq!(hosts, ["10.0.0.1", "10.0.0.2", "10.0.0.4"]);
        assert_eq!(d.contacts.len(), 2);
        let first = d.infected_host(&d.victims[0]);
        assert_eq!(first.malware.as_deref(), Some("qakbot"));
        assert!(first.reason.contains("domain bad-c2.example.net"), "{}", first.reason);
    }

    #[test]
    fn an_address_shown_serving_other_names_keeps_only_the_hosts_that_asked_for_the_listed_one() {
        let mut m = domain_matcher();
        m.observe_observation(&lookup(1_000, "10.0.0.1", "bad-c2.example.net", &["104.16.0.1"]));
        m.observe(&flow("10.0.0.1", "104.16.0.1", 1_001));
        m.observe(&flow("10.0.0.2", "104.16.0.1", 1_002)); // before the CDN is known as one
        m.observe_observation(&lookup(1_003, "10.0.0.5", "popular.example.org", &["104.16.0.1"]));
        m.observe(&flow("10.0.0.3", "104.16.0.1", 1_004));
        let d = m.finish();
        let hosts: Vec<String> = d.victims.iter().map(|v| v.ip.to_string()).collect();
        assert_eq!(hosts, ["10.0.0.1"]);
        assert_eq!(d.contacts.len(), 1);
        assert_eq!(d.contacts[0].flows, 2); // the lookup and the flow
        assert!(d.c2_findings[0].reason.contains("shared or fronting"), "{}", d.c2_findings[0].reason);
    }

    #[test]
    fn http_and_tls_names_urls_and_certificates_match_but_a_ja3_only_makes_a_candidate() {
        let url = event(ClassificationType::C2Server, |e| {
            e.source.url = Some("http://hacked.example.com/wp/gate.php".into())
        });
        let cert = event(ClassificationType::Blacklist, |e| {
            e.extra.insert("tls.certificate.sha1".into(), "00112233445566778899aabbccddeeff00112233".into());
            e.malware_name = Some("dridex".into());
        });
        let ja3 = event(ClassificationType::Blacklist, |e| {
            e.extra.insert("tls.client.ja3".into(), "1aa7bf8b97e540ca5edd75f7b8384bfa".into());
            e.event_description_text = Some("TrickBot".into());
        });
        let mut m = IndicatorMatcher::new(
            IndicatorSet::from_events([&url, &cert, &ja3]),
            Home::new(None, &["10.0.0.0/8"]).unwrap(),
        );
        let http = |src: &str, host: &str, uri: &str| {
            Observation::Http(HttpRequest {
                time_us: 2_000_000_000,
                src: src.parse().unwrap(),
                src_port: 40_000,
                dst: "203.0.113.50".parse().unwrap(),
                dst_port: 80,
                host: host.into(),
                uri: uri.into(),
                method: Some("POST".into()),
                user_agent: None,
            })
        };
        m.observe_observation(&http("10.0.0.1", "hacked.example.com", "/wp/gate.php?id=7"));
        m.observe_observation(&http("10.0.0.2", "hacked.example.com", "/index.html")); // the innocent site
        let tls = |src: &str, cert: Option<&str>, ja3: Option<&str>| {
            Observation::Tls(TlsHello {
                time_us: 2_000_000_000,
                src: src.parse().unwrap(),
                src_port: 40_000,
                dst: "198.51.100.77".parse().unwrap(),
                dst_port: 443,
                sni: Some("cdn.example.org".into()),
                ja3: ja3.map(Into::into),
                cert_sha1: cert.map(Into::into),
            })
        };
        m.observe_observation(&tls("10.0.0.3", Some("00112233445566778899aabbccddeeff00112233"), None));
        m.observe_observation(&tls("10.0.0.4", None, Some("1aa7bf8b97e540ca5edd75f7b8384bfa")));
        // The URL's server stays innocent for flows; the certificate's server does not.
        m.observe(&flow("10.0.0.5", "203.0.113.50", 2_100));
        m.observe(&flow("10.0.0.6", "198.51.100.77", 2_100));
        let d = m.finish();
        let hosts: Vec<String> = d.victims.iter().map(|v| v.ip.to_string()).collect();
        assert_eq!(hosts, ["10.0.0.1", "10.0.0.3", "10.0.0.6"]);
        let c2s: Vec<&str> = d.c2_findings.iter().map(|f| f.subject.as_str()).collect();
        assert_eq!(c2s, ["198.51.100.77", "203.0.113.50"]);
        assert_eq!(d.suspects.len(), 1);
        let candidate = d.suspects[0].finding();
        assert_eq!(candidate.subject, "10.0.0.4");
        assert!(!candidate.confirmed);
        assert_eq!(candidate.malware.as_deref(), Some("trickbot"));
    }

    #[test]
    fn sinkhole_hits_name_home_bots_with_their_family() {
        let c2 = event(ClassificationType::C2Server, |e| {
            e.source.fqdn = Some("kfdnkrqfyaoch.com".into());
            e.malware_name = Some("ramnit".into());
        });
        let mut m = IndicatorMatcher::new(IndicatorSet::from_events([&c2]), Home::new(None, &["10.0.0.0/8"]).unwrap());
        let hit = |bot: &str, domain: &str, family: Option<&str>| {
            Observation::Sinkhole(SinkholeHit {
                time_us: 1_000_000,
                bot: bot.parse().unwrap(),
                domain: domain.into(),
                family: family.map(Into::into),
            })
        };
        m.observe_observation(&hit("10.0.0.1", "wqkxprzlmv.ws", Some("Conficker")));
        m.observe_observation(&hit("10.0.0.2", "kfdnkrqfyaoch.com", None));
        m.observe_observation(&hit("192.0.2.1", "wqkxprzlmv.ws", Some("Conficker"))); // not home
        let d = m.finish();
        let found: Vec<(String, Option<String>)> =
            d.findings().map(|f| (f.subject.clone(), f.malware.clone())).collect();
        assert_eq!(
            found,
            [("10.0.0.1".to_string(), Some("conficker".to_string())), ("10.0.0.2".into(), Some("ramnit".into()))]
        );
        assert!(d.contacts.is_empty() && d.c2_findings.is_empty());
    }
}
