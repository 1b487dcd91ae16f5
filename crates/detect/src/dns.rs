//! What home hosts' DNS lookups say without any indicator: C2 over DNS (tunnels) and
//! domain generation algorithms.
//!
//! **Tunnels.** A DNS tunnel (iodine, dnscat2, a C2 framework's DNS channel) writes its
//! data into the query names under a domain whose authoritative server the attacker runs:
//! many unique, long, random-looking subdomains of one registered domain, asked by the one
//! or few hosts at the ends of the tunnel. Per registered domain (Public Suffix List) the
//! distinct subdomains are counted exactly up to a cap (as 64-bit fingerprints), with the
//! querying hosts, the subdomains' length and character entropy. A domain is tracked only
//! from its first random-looking subdomain on, so the millions of ordinary domains cost
//! nothing. The same shape has benign owners — reverse lookups, DNS blocklists that mail
//! servers ask (`4.3.2.1.zen.spamhaus.org`), anti-virus cloud lookups
//! (`<hash>.avqs.mcafee.com`) — hence [`DnsConfig::known_good`], all-numeric subdomains
//! (addresses, times) never counting as random, and the cap on querying hosts: a service
//! many hosts ask is not one host's tunnel.
//!
//! **DGA.** Every distinct registered domain asked for is scored once by [`DgaModel`]
//! (the score is cached, bounded). A bot walking its algorithm's list asks for many
//! generated names of which only the few its masters registered exist; so a host becomes
//! a candidate when it asked for at least [`DnsConfig::dga_min_names`] distinct
//! generated-looking names, most of them answered NXDOMAIN. A generated-looking domain
//! becomes a `dga_domain` finding when two or more such hosts asked for it and are most
//! of those asking (bots of one family walk the same list), or when several hosts got
//! NXDOMAIN for it; one of those that resolves gives its address as a candidate C2.

use std::net::IpAddr;

use vedette_model::{rcode, DnsLookup, Finding, FindingKind};

use crate::domains::DomainSet;
use crate::indicators::time;
use crate::suspects::{Signal, Suspect};
use crate::{DgaModel, Home, PublicSuffixList};
use vedette_model::fast_hash::{fingerprint, FastMap, FastSet};

/// Where the DNS detectors draw their lines.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// Domains (and everything under them) whose lookups are never judged: reverse
    /// lookups, DNS blocklists, anti-virus and reputation lookups that put data in names.
    pub known_good: Vec<String>,
    /// A tunnel needs at least this many distinct random-looking subdomains (RITA's
    /// lowest bucket for C2 over DNS is 100).
    pub tunnel_min_unique: usize,
    /// …most of its distinct subdomains random-looking: at least this many characters
    /// (dots left out)…
    pub tunnel_min_length: usize,
    /// …a label at least this long…
    pub tunnel_min_label: usize,
    /// …and at least this many bits of Shannon entropy per character.
    pub tunnel_min_entropy: f64,
    /// More querying home hosts than this and the domain is a service, not a tunnel.
    pub tunnel_max_hosts: usize,
    /// Distinct subdomains are counted exactly up to this many per domain.
    pub tunnel_unique_cap: usize,
    /// At most this many registered domains are tracked for tunnels at once.
    pub tunnel_max_domains: usize,
    /// A host is a DGA candidate from this many distinct generated-looking names (most
    /// answered NXDOMAIN). See the field's default for the reasoning.
    pub dga_min_names: usize,
    /// Labels shorter than this are not scored: short real names (`qq`, `jd`, `xkcd`)
    /// are too few letters to judge.
    pub dga_min_label: usize,
    /// A generated-looking domain that this many home hosts got NXDOMAIN for is a
    /// `dga_domain` finding even if none of them is a candidate yet.
    pub dga_min_nx_hosts: usize,
    /// Bounds: registered domains whose score is cached, generated-looking domains
    /// tracked, home hosts tracked.
    pub max_scored: usize,
    pub max_dga_domains: usize,
    pub max_hosts: usize,
}

/// Services that put data or addresses in query names by design.
pub const KNOWN_GOOD_DNS: &[&str] = &[
    // Reverse lookups.
    "in-addr.arpa",
    "ip6.arpa",
    // DNS blocklists and allowlists mail servers ask.
    "spamhaus.org",
    "spamcop.net",
    "sorbs.net",
    "barracudacentral.org",
    "surbl.org",
    "uribl.com",
    "dnswl.org",
    "mailspike.net",
    "abuseat.org",
    "senderscore.com",
    "senderbase.org",
    "spamrats.com",
    "psbl.org",
    "blocklist.de",
    "s5h.net",
    "manitu.net",
    "nordspam.com",
    "interserver.net",
    "junkemailfilter.com",
    "dnsbl.info",
    // Anti-virus, reputation and hash lookups over DNS.
    "avqs.mcafee.com",
    "avts.mcafee.com",
    "gti.mcafee.com",
    "sophosxl.net",
    "e5.sk",
    "trendmicro.com",
    "brightcloud.com",
    "cymru.com",
    "kaspersky-labs.com",
    "webroot.com",
];

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            known_good: KNOWN_GOOD_DNS.iter().map(|s| s.to_string()).collect(),
            tunnel_min_unique: 100,
            tunnel_min_length: 20,
            tunnel_min_label: 12,
            tunnel_min_entropy: 3.3,
            tunnel_max_hosts: 5,
            tunnel_unique_cap: 4096,
            tunnel_max_domains: 100_000,
            // The model calls 0.38 % of held-out real names of 7 letters or more
            // generated (tests/accuracy.rs; its threshold is the 99.5th percentile of
            // the training names). A busy home host asks for ~2,000 distinct registered
            // domains a day: ~8 false names a day, but real ones, which resolve. What
            // answers NXDOMAIN is mostly typos (1–3 % of lookups), a few of which look
            // generated: a Poisson mean of about 1 false generated NXDOMAIN name a day.
            // 10 names of which most (≥ 6) NXDOMAIN, and at least an eighth of the host's
            // ~20–60 NXDOMAIN answers (≥ 8 when it has 60), puts the chance at about 1e-5
            // per busy host-day (P[Poisson(1) ≥ 8]) — ~10 false candidates per million
            // busy hosts a day — while DGA bots ask for tens to thousands of names a day.
            // Measured on synthetic hosts: precision 1.000, recall 1.000.
            dga_min_names: 10,
            dga_min_label: 7,
            dga_min_nx_hosts: 3,
            max_scored: 1 << 21,
            max_dga_domains: 1 << 17,
            max_hosts: 1 << 20,
        }
    }
}

/// Per registered domain with random-looking subdomains.
#[derive(Debug)]
struct Zone {
    first_us: i64,
    last_us: i64,
    queries: u64,
    /// TXT, NULL, CNAME, MX, SRV queries: the types tunnels favour for their replies.
    data_types: u64,
    prefixes: FastSet<u64>,
    unique: u32,
    random: u32,
    capped: bool,
    length_sum: u64,
    entropy_sum: f64,
    hosts: Vec<IpAddr>,
    /// Too many hosts ask: a service. Its subdomain set is dropped.
    service: bool,
    example: Box<str>,
}

/// A generated-looking registered domain.
#[derive(Debug)]
struct Generated {
    name: Box<str>,
    bits: f32,
    first_us: i64,
    last_us: i64,
    queries: u64,
    nx: u64,
    /// The first hosts that asked (bit 0 of the pair: it got NXDOMAIN).
    hosts: Vec<(IpAddr, bool)>,
    more_hosts: bool,
    answer: Option<IpAddr>,
}

const NOT_GENERATED: u32 = u32::MAX;
const NX_BIT: u32 = 1 << 31;
const ANSWERED_BIT: u32 = 1 << 30;
const ID_MASK: u32 = ANSWERED_BIT - 1;
const HOST_NAMES_CAP: usize = 256;
const DOMAIN_HOSTS_CAP: usize = 16;

/// Per home host that asked for a generated-looking name.
#[derive(Debug, Default)]
struct Asker {
    first_us: i64,
    last_us: i64,
    /// Generated-looking domains asked for, with NX_BIT / ANSWERED_BIT.
    names: Vec<u32>,
    capped: bool,
    /// Whether any of its lookups carried a response code (a log of queries alone
    /// cannot tell NXDOMAIN).
    saw_rcode: bool,
    /// Its NXDOMAIN answers of any name, from its first generated-looking one on.
    nx_lookups: u32,
}

/// The DNS detectors over home hosts' lookups.
pub struct DnsBehaviour {
    config: DnsConfig,
    known_good: DomainSet<()>,
    home: Home,
    model: &'static DgaModel,
    zones: FastMap<Box<str>, Zone>,
    zones_full: bool,
    /// Registered domains scored (by fingerprint): NOT_GENERATED or an index in `generated`.
    scores: FastMap<u64, u32>,
    generated: Vec<Generated>,
    askers: FastMap<IpAddr, Asker>,
    lookups: u64,
}

/// What [`DnsBehaviour::finish`] found.
#[derive(Debug, Default)]
pub struct DnsFindings {
    /// `dns_tunnel` and `dga_domain` findings, and candidate `c2_server`s (addresses that
    /// generated-looking names resolved to for hosts that walk such names).
    pub findings: Vec<Finding>,
    /// Home hosts at a tunnel's end or walking generated names.
    pub suspects: Vec<Suspect>,
}

/// Shannon entropy, bits per character, of a name's characters (dots left out), with its
/// length and longest label; `None` when all labels are numbers (addresses, times).
fn shape(prefix: &str) -> Option<(usize, f64, usize)> {
    let mut counts = [0u32; 40];
    let (mut length, mut longest, mut all_numeric) = (0usize, 0usize, true);
    for label in prefix.split('.') {
        longest = longest.max(label.len());
        all_numeric &= label.bytes().all(|b| b.is_ascii_digit());
        for b in label.bytes() {
            let slot = match b {
                b'a'..=b'z' => (b - b'a') as usize,
                b'0'..=b'9' => 26 + (b - b'0') as usize,
                b'-' => 36,
                b'_' => 37,
                _ => 38,
            };
            counts[slot] += 1;
            length += 1;
        }
    }
    if all_numeric || length == 0 {
        return None;
    }
    let n = length as f64;
    let entropy = counts.iter().filter(|&&c| c > 0).map(|&c| -(f64::from(c) / n) * (f64::from(c) / n).log2()).sum();
    Some((length, entropy, longest))
}

/// Scores to three decimals: more would be noise in a report.
fn rounded(score: f64) -> f64 {
    (score * 1000.0).round() / 1000.0
}

impl DnsBehaviour {
    pub fn new(config: DnsConfig, home: Home) -> DnsBehaviour {
        let known_good = DomainSet::trees(config.known_good.iter().map(String::as_str));
        DnsBehaviour {
            config,
            known_good,
            home,
            model: DgaModel::builtin(),
            zones: FastMap::default(),
            zones_full: false,
            scores: FastMap::default(),
            generated: Vec::new(),
            askers: FastMap::default(),
            lookups: 0,
        }
    }

    fn random_looking(&self, prefix: &str) -> Option<(usize, f64)> {
        let (length, entropy, longest) = shape(prefix)?;
        (length >= self.config.tunnel_min_length
            && longest >= self.config.tunnel_min_label
            && entropy >= self.config.tunnel_min_entropy)
            .then_some((length, entropy))
    }

    /// One lookup; only home hosts' lookups are judged.
    pub fn observe(&mut self, lookup: &DnsLookup) {
        if !self.home.contains(lookup.client) {
            return;
        }
        self.lookups += 1;
        let query = &*lookup.query;
        // Names under suffixes nobody can register (`corp`, `home`, `local`) are a
        // network's own; a tunnel or a DGA needs a domain on the Internet.
        let Some(parts) = PublicSuffixList::builtin().parts(query).filter(|p| p.listed) else { return };
        // Service records and DKIM keys (`_sip._tcp.…`, `s1._domainkey.…`) carry
        // structured labels, not data.
        if self.known_good.matches(query) || query.starts_with('_') || query.contains("._") {
            return;
        }
        if query.len() > parts.registered.len() {
            let prefix = &query[..query.len() - parts.registered.len() - 1];
            self.observe_subdomain(prefix, parts.registered, lookup);
        }
        self.observe_registered(parts.registered, parts.label(), lookup);
    }

    fn observe_subdomain(&mut self, prefix: &str, registered: &str, lookup: &DnsLookup) {
        if !self.zones.contains_key(registered) {
            if self.zones_full || self.random_looking(prefix).is_none() {
                return;
            }
            if self.zones.len() >= self.config.tunnel_max_domains {
                // Forget the domains that showed only a few random names; if that frees
                // too little, track no new ones.
                self.zones.retain(|_, z| z.service || z.unique >= 8);
                if self.zones.len() >= self.config.tunnel_max_domains * 9 / 10 {
                    self.zones_full = true;
                    return;
                }
            }
            self.zones.insert(
                registered.into(),
                Zone {
                    first_us: lookup.time_us,
                    last_us: lookup.time_us,
                    queries: 0,
                    data_types: 0,
                    prefixes: FastSet::default(),
                    unique: 0,
                    random: 0,
                    capped: false,
                    length_sum: 0,
                    entropy_sum: 0.0,
                    hosts: Vec::new(),
                    service: false,
                    example: lookup.query.clone(),
                },
            );
        }
        let random = self.random_looking(prefix);
        let (max_hosts, cap) = (self.config.tunnel_max_hosts, self.config.tunnel_unique_cap);
        let Some(zone) = self.zones.get_mut(registered) else { return };
        if zone.service {
            return;
        }
        if !zone.hosts.contains(&lookup.client) {
            if zone.hosts.len() >= max_hosts {
                zone.service = true;
                zone.prefixes = FastSet::default();
                return;
            }
            zone.hosts.push(lookup.client);
        }
        zone.first_us = zone.first_us.min(lookup.time_us);
        zone.last_us = zone.last_us.max(lookup.time_us);
        zone.queries += 1;
        if matches!(lookup.qtype, 5 | 10 | 15 | 16 | 33) {
            zone.data_types += 1;
        }
        if zone.prefixes.len() >= cap {
            zone.capped = true;
            return;
        }
        if zone.prefixes.insert(fingerprint(prefix)) {
            zone.unique += 1;
            if let Some((length, entropy)) = random {
                zone.random += 1;
                zone.length_sum += length as u64;
                zone.entropy_sum += entropy;
            }
        }
    }

    fn observe_registered(&mut self, registered: &str, label: &str, lookup: &DnsLookup) {
        let key = fingerprint(registered);
        let id = match self.scores.get(&key) {
            Some(&id) => id,
            None => {
                let bits = if label.len() >= self.config.dga_min_label { self.model.bits(label) } else { None };
                let id = match bits {
                    Some(bits) if bits > self.model.threshold && self.generated.len() < self.config.max_dga_domains => {
                        self.generated.push(Generated {
                            name: registered.into(),
                            bits: bits as f32,
                            first_us: lookup.time_us,
                            last_us: lookup.time_us,
                            queries: 0,
                            nx: 0,
                            hosts: Vec::new(),
                            more_hosts: false,
                            answer: None,
                        });
                        (self.generated.len() - 1) as u32
                    }
                    _ => NOT_GENERATED,
                };
                // Scoring again is cheap; the cache only spares the work, so a full one
                // keeps what it has (generated names always get their entry).
                if id != NOT_GENERATED || self.scores.len() < self.config.max_scored {
                    self.scores.insert(key, id);
                }
                id
            }
        };
        let nx = lookup.rcode == Some(rcode::NXDOMAIN);
        if id == NOT_GENERATED {
            if nx {
                if let Some(asker) = self.askers.get_mut(&lookup.client) {
                    asker.nx_lookups = asker.nx_lookups.saturating_add(1);
                }
            }
            return;
        }
        let answered = lookup.rcode.is_none_or(|r| r == rcode::NOERROR) && !lookup.answers.is_empty();
        let g = &mut self.generated[id as usize];
        g.first_us = g.first_us.min(lookup.time_us);
        g.last_us = g.last_us.max(lookup.time_us);
        g.queries += 1;
        g.nx += u64::from(nx);
        if answered && g.answer.is_none() {
            g.answer = lookup.answers.first().copied();
        }
        match g.hosts.iter().position(|(h, _)| *h == lookup.client) {
            Some(i) => g.hosts[i].1 |= nx,
            None if g.hosts.len() < DOMAIN_HOSTS_CAP => g.hosts.push((lookup.client, nx)),
            None => g.more_hosts = true,
        }
        // A host is tracked from its first generated-looking name that does not exist
        // (or that it asked with no answer logged): real names that merely look
        // generated resolve, and most busy hosts ask for a few of them.
        if !self.askers.contains_key(&lookup.client)
            && ((!nx && lookup.rcode.is_some()) || self.askers.len() >= self.config.max_hosts)
        {
            return;
        }
        let asker = self.askers.entry(lookup.client).or_insert_with(|| Asker {
            first_us: lookup.time_us,
            last_us: lookup.time_us,
            ..Asker::default()
        });
        asker.first_us = asker.first_us.min(lookup.time_us);
        asker.last_us = asker.last_us.max(lookup.time_us);
        asker.saw_rcode |= lookup.rcode.is_some();
        let flags = if nx { NX_BIT } else { 0 } | if answered { ANSWERED_BIT } else { 0 };
        // A generated name's NXDOMAIN counts once however often the bot retries it.
        let first_nx = match asker.names.iter().position(|n| n & ID_MASK == id) {
            Some(i) => {
                let first = nx && asker.names[i] & NX_BIT == 0;
                asker.names[i] |= flags;
                first
            }
            None if asker.names.len() < HOST_NAMES_CAP => {
                asker.names.push(id | flags);
                nx
            }
            None => {
                asker.capped = true;
                false
            }
        };
        asker.nx_lookups = asker.nx_lookups.saturating_add(u32::from(first_nx));
    }

    /// Whether a host walks generated names: enough of them, most NXDOMAIN, and a fair
    /// share (an eighth) of all its NXDOMAIN answers: a host that mistypes a lot, or
    /// runs broken software, gets NXDOMAIN for many names, of which a few look
    /// generated by chance. Without response codes (a log of queries alone), three times
    /// as many names are needed.
    fn walks_generated_names(&self, asker: &Asker) -> bool {
        let names = asker.names.len();
        let nx = asker.names.iter().filter(|n| **n & NX_BIT != 0).count();
        if asker.saw_rcode {
            names >= self.config.dga_min_names && 2 * nx > names && 8 * nx >= asker.nx_lookups as usize
        } else {
            names >= 3 * self.config.dga_min_names
        }
    }

    /// Everything found.
    pub fn finish(self) -> DnsFindings {
        self.findings()
    }

    /// Everything found so far, from all lookups seen (the counts are not reset: a
    /// tunnel or a DGA walk shows over time, and the findings are upserted).
    pub fn findings(&self) -> DnsFindings {
        let mut out = DnsFindings::default();
        // Tunnels.
        let mut zones: Vec<(&Box<str>, &Zone)> = self.zones.iter().collect();
        zones.sort_by(|a, b| a.0.cmp(b.0));
        for (domain, z) in zones {
            let random = z.random as usize;
            if z.service || random < self.config.tunnel_min_unique || 2 * random < z.unique as usize {
                continue;
            }
            let at_least = if z.capped { "at least " } else { "" };
            let data_types = if z.data_types * 2 >= z.queries {
                format!(", {}% of them TXT, NULL, CNAME, MX or SRV", z.data_types * 100 / z.queries.max(1))
            } else {
                String::new()
            };
            let hosts = z.hosts.len();
            out.findings.push(Finding {
                kind: FindingKind::DnsTunnel,
                subject: domain.to_string(),
                first_seen: time(z.first_us),
                last_seen: time(z.last_us),
                score: rounded(
                    (0.5 + 0.5 * (random as f64 / self.config.tunnel_min_unique as f64).log10()).clamp(0.5, 1.0),
                ),
                confirmed: false,
                malware: None,
                reason: format!(
                    "{at_least}{} distinct subdomains, {random} of them long and random-looking ({:.0} characters, \
                     {:.1} bits per character on average), in {} queries from {hosts} home host{}{data_types}; e.g. {}",
                    z.unique,
                    z.length_sum as f64 / random as f64,
                    z.entropy_sum / random as f64,
                    z.queries,
                    if hosts == 1 { "" } else { "s" },
                    z.example
                ),
                attribution: None,
                evidence: Vec::new(),
            });
            for &host in &z.hosts {
                out.suspects.push(Suspect {
                    ip: host,
                    first_us: z.first_us,
                    last_us: z.last_us,
                    signals: vec![Signal::DnsTunnel {
                        domain: domain.clone(),
                        queries: z.queries,
                        hosts: hosts as u32,
                    }],
                });
            }
        }

        // Hosts walking generated names.
        let mut walkers: FastSet<IpAddr> = FastSet::default();
        let mut askers: Vec<(&IpAddr, &Asker)> = self.askers.iter().collect();
        askers.sort_by_key(|(ip, _)| **ip);
        for (&ip, asker) in askers {
            if !self.walks_generated_names(asker) {
                continue;
            }
            walkers.insert(ip);
            let nx = asker.names.iter().filter(|n| **n & NX_BIT != 0).count() as u32;
            // Examples: the NXDOMAIN names first, in the order asked.
            let mut examples: Vec<Box<str>> = asker
                .names
                .iter()
                .filter(|n| **n & NX_BIT != 0)
                .chain(asker.names.iter().filter(|n| **n & NX_BIT == 0))
                .take(3)
                .map(|n| self.generated[(n & ID_MASK) as usize].name.clone())
                .collect();
            examples.dedup();
            out.suspects.push(Suspect {
                ip,
                first_us: asker.first_us,
                last_us: asker.last_us,
                signals: vec![Signal::Dga { names: asker.names.len() as u32, nx, capped: asker.capped, examples }],
            });
        }

        // Generated-looking domains worth an analyst's look, and the addresses the live
        // ones resolve to.
        let threshold = self.model.threshold;
        let mut candidates: FastMap<IpAddr, (Vec<&Generated>, usize)> = FastMap::default();
        for g in &self.generated {
            let hosts = g.hosts.len() + usize::from(g.more_hosts);
            let walking = g.hosts.iter().filter(|(h, _)| walkers.contains(h)).count();
            let nx_hosts = g.hosts.iter().filter(|(_, nx)| *nx).count();
            // Two walkers at least (bots of one family walk the same list; a name only
            // one host asked may be its typo), and most of those asking: a popular real
            // name that happens to score high is asked by bots too, among many others.
            let by_walkers = walking >= 2 && 2 * walking >= g.hosts.len();
            if !by_walkers && nx_hosts < self.config.dga_min_nx_hosts {
                continue;
            }
            let nx_share = g.nx as f64 / g.queries.max(1) as f64;
            let margin = f64::from(g.bits) - threshold;
            let resolved = match g.answer {
                Some(address) if g.nx == 0 => {
                    if by_walkers {
                        let entry = candidates.entry(address).or_default();
                        entry.0.push(g);
                        entry.1 = entry.1.max(walking);
                    }
                    format!("; it resolves, to {address}")
                }
                _ => String::new(),
            };
            out.findings.push(Finding {
                kind: FindingKind::DgaDomain,
                subject: g.name.to_string(),
                first_seen: time(g.first_us),
                last_seen: time(g.last_us),
                // Generated-looking is the start; NXDOMAIN answers weigh more.
                score: rounded(((0.6 + 0.1 * margin).clamp(0.5, 0.8) + 0.2 * nx_share).min(1.0)),
                confirmed: false,
                malware: None,
                reason: format!(
                    "generated-looking name ({:.1} bits per character against a threshold of {threshold:.1}) asked for by \
                     {}{hosts} home host{} ({walking} of them walking such names) in {} queries, {} NXDOMAIN{resolved}",
                    g.bits,
                    if g.more_hosts { "more than " } else { "" },
                    if hosts == 1 { "" } else { "s" },
                    g.queries,
                    g.nx
                ),
                attribution: None,
                evidence: Vec::new(),
            });
        }
        let mut candidates: Vec<(IpAddr, (Vec<&Generated>, usize))> = candidates.into_iter().collect();
        candidates.sort_by_key(|(ip, _)| *ip);
        for (address, (names, walking)) in candidates {
            let shown: Vec<&str> = names.iter().take(3).map(|g| &*g.name).collect();
            out.findings.push(Finding {
                kind: FindingKind::C2Server,
                subject: address.to_string(),
                first_seen: time(names.iter().map(|g| g.first_us).min().unwrap_or(0)),
                last_seen: time(names.iter().map(|g| g.last_us).max().unwrap_or(0)),
                score: 0.7,
                confirmed: false,
                malware: None,
                reason: format!(
                    "candidate: the address of the generated-looking name {} that {walking} home hosts walking such names \
                     asked for; no feed lists it yet",
                    shown.join(", ")
                ),
                attribution: None,
                evidence: Vec::new(),
            });
        }
        out.findings.sort_by(|a, b| (a.kind, &a.subject).cmp(&(b.kind, &b.subject)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home() -> Home {
        Home::new(None, &["10.0.0.0/8"]).unwrap()
    }

    fn lookup(t: i64, client: &str, query: &str, rcode: u8, answer: Option<&str>) -> DnsLookup {
        let mut l = DnsLookup::new(t * 1_000_000, client.parse().unwrap(), query);
        l.rcode = Some(rcode);
        l.qtype = 16;
        l.answers = answer.iter().map(|a| a.parse().unwrap()).collect();
        l
    }

    /// SplitMix64, for repeatable random labels.
    fn next(seed: &mut u64) -> u64 {
        *seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn base32(seed: &mut u64, len: usize) -> String {
        (0..len).map(|_| b"abcdefghijklmnopqrstuvwxyz234567"[(next(seed) % 32) as usize] as char).collect()
    }

    #[test]
    fn a_tunnel_is_found_and_blocklist_reverse_and_many_host_lookups_are_not() {
        let mut d = DnsBehaviour::new(DnsConfig::default(), home());
        let mut seed = 1;
        for i in 0..300 {
            let t = 1_700_000_000 + i;
            d.observe(&lookup(t, "10.0.0.1", &format!("{}.t.cdn-sync-service.net", base32(&mut seed, 32)), 0, None));
            let o = next(&mut seed).to_be_bytes();
            d.observe(&lookup(
                t,
                "10.0.0.2",
                &format!("{}.{}.{}.{}.zen.spamhaus.org", o[0], o[1], o[2], o[3]),
                3,
                None,
            ));
            d.observe(&lookup(t, "10.0.0.2", &format!("{}.{}.{}.{}.in-addr.arpa", o[0], o[1], o[2], o[3]), 3, None));
            // Hash lookups by an anti-virus on every host: random, but many hosts ask.
            let host = format!("10.0.1.{}", i % 20);
            d.observe(&lookup(t, &host, &format!("{}.hashes.example-av.com", base32(&mut seed, 40)), 0, None));
            // A foreign host's tunnel is not ours to report.
            d.observe(&lookup(t, "192.0.2.1", &format!("{}.x.other-tunnel.org", base32(&mut seed, 32)), 0, None));
        }
        let found = d.finish();
        let tunnels: Vec<&Finding> = found.findings.iter().filter(|f| f.kind == FindingKind::DnsTunnel).collect();
        assert_eq!(tunnels.len(), 1, "{tunnels:#?}");
        assert_eq!(tunnels[0].subject, "cdn-sync-service.net");
        assert!(tunnels[0].reason.starts_with("300 distinct subdomains, 300 of them long and random-looking"));
        assert!(tunnels[0].reason.contains("from 1 home host, 100% of them TXT"), "{}", tunnels[0].reason);
        assert_eq!(found.suspects.len(), 1);
        assert_eq!(found.suspects[0].ip.to_string(), "10.0.0.1");
    }

    #[test]
    fn a_host_walking_generated_names_is_a_candidate_and_its_live_name_gives_a_candidate_c2() {
        let mut d = DnsBehaviour::new(DnsConfig::default(), home());
        let mut seed = 7;
        let names: Vec<String> = (0..30)
            .map(|_| {
                let label: String = (0..14).map(|_| (b'a' + (next(&mut seed) % 26) as u8) as char).collect();
                format!("{label}.com")
            })
            .collect();
        // The bots' list: what the model calls generated (most random 14-letter names),
        // the last of them registered by the botmasters.
        let model = DgaModel::builtin();
        let scored = names.iter().filter(|n| model.score(n).unwrap().dga).count();
        assert!(scored >= 20, "{scored}");
        let live = names.iter().rposition(|n| model.score(n).unwrap().dga).unwrap();
        for bot in ["10.0.0.7", "10.0.0.8"] {
            for (i, name) in names.iter().enumerate() {
                let live = i == live;
                d.observe(&lookup(
                    1_700_000_000 + i as i64,
                    bot,
                    name,
                    if live { 0 } else { 3 },
                    live.then_some("198.51.100.66"),
                ));
            }
        }
        // A host that mistyped a few names and reads real sites.
        for (i, name) in ["wikipedia.org", "taobao.com", "example.com", "gooogle.com", "bbc.co.uk"].iter().enumerate() {
            d.observe(&lookup(1_700_000_000 + i as i64, "10.0.0.9", name, 0, Some("203.0.113.1")));
        }
        for name in &names[..4] {
            d.observe(&lookup(1_700_000_100, "10.0.0.9", name, 3, None));
        }
        let found = d.finish();
        let hosts: Vec<String> = found.suspects.iter().map(|s| s.ip.to_string()).collect();
        assert_eq!(hosts, ["10.0.0.7", "10.0.0.8"]);
        let reason = found.suspects[0].finding().reason;
        let expected = format!("candidate: queried {scored} generated-looking names, {} NXDOMAIN, e.g. ", scored - 1);
        assert!(reason.starts_with(&expected), "{reason}");
        let generated = found.findings.iter().filter(|f| f.kind == FindingKind::DgaDomain).count();
        assert_eq!(generated, scored);
        let c2: Vec<&Finding> = found.findings.iter().filter(|f| f.kind == FindingKind::C2Server).collect();
        assert_eq!(c2.len(), 1);
        assert_eq!(c2[0].subject, "198.51.100.66");
        assert!(!c2[0].confirmed);
    }

    #[test]
    fn names_inside_networks_and_short_labels_are_not_scored() {
        let mut d = DnsBehaviour::new(DnsConfig::default(), home());
        for i in 0..50 {
            d.observe(&lookup(i, "10.0.0.1", &format!("desktop-{i}x8qz7kw.corp"), 3, None));
            d.observe(&lookup(i, "10.0.0.1", &format!("x{i}q.com"), 3, None));
        }
        let found = d.finish();
        assert!(found.findings.is_empty() && found.suspects.is_empty(), "{found:#?}");
    }

    #[test]
    fn shapes_of_subdomains() {
        assert!(shape("4.3.2.1").is_none());
        let (length, entropy, longest) = shape("abcd.ef").unwrap();
        assert_eq!((length, longest), (6, 4));
        assert!((entropy - 6f64.log2()).abs() < 1e-9);
    }
}
