use std::collections::BTreeMap;

use serde::Serialize;
use vedette_model::{C2Activity, Confidence, CountryCode, DailyActivity, GroupActivity, Period, VictimActivity};

use crate::country_name;

/// The version of the JSON report's layout; bumped on any incompatible change.
pub const REPORT_SCHEMA: &str = "vedette.report/1";

/// What the report is built from: the period's aggregates, read from the store.
#[derive(Debug, Clone)]
pub struct ReportInput {
    pub period: Period,
    pub home: CountryCode,
    /// Set when the data is synthetic (the demo), with how it was made.
    pub synthetic: Option<String>,
    pub c2_servers: Vec<C2Activity>,
    pub hosts_total: u64,
    pub hosts_overseas: u64,
    pub hosts_domestic: u64,
    pub hosts_unattributed: u64,
    /// Distinct home hosts per C2 country (`None`: C2s no view could place).
    pub hosts_by_country: Vec<(Option<String>, u64)>,
    pub daily: Vec<DailyActivity>,
    /// The attribution sources and feeds behind the figures.
    pub sources: Vec<String>,
    pub attribution_policy: String,
    /// Said in the method when host counts are estimates (a sketch) rather than exact.
    pub approximate_counts: Option<String>,
    /// The previous period of the same length, for the change columns.
    pub previous: Option<PreviousPeriod>,
    pub families: Vec<GroupActivity>,
    pub home_networks: Vec<GroupActivity>,
    /// The home hosts with the most C2 contacts (a bounded list).
    pub top_hosts: Vec<VictimActivity>,
    /// What the report cannot say because no such data is stored, in words.
    pub not_covered: Vec<String>,
}

/// The figures of the period before, for comparison.
#[derive(Debug, Clone, Serialize)]
pub struct PreviousPeriod {
    pub period: Period,
    pub c2_servers: Vec<C2Activity>,
    pub hosts_overseas: u64,
    pub hosts_domestic: u64,
    pub hosts_by_country: Vec<(Option<String>, u64)>,
}

impl ReportInput {
    pub fn empty(period: Period, home: CountryCode) -> ReportInput {
        ReportInput {
            period,
            home,
            synthetic: None,
            c2_servers: Vec::new(),
            hosts_total: 0,
            hosts_overseas: 0,
            hosts_domestic: 0,
            hosts_unattributed: 0,
            hosts_by_country: Vec::new(),
            daily: Vec::new(),
            sources: Vec::new(),
            attribution_policy: "location-first".into(),
            approximate_counts: None,
            previous: None,
            families: Vec::new(),
            home_networks: Vec::new(),
            top_hosts: Vec::new(),
            not_covered: Vec::new(),
        }
    }
}

/// The first country by a measure, with its share of the overseas total.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Leader {
    pub country: String,
    pub name: String,
    pub value: u64,
    pub share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Headline {
    pub overseas_c2_servers: u64,
    pub overseas_hosts: u64,
    pub domestic_c2_servers: u64,
    pub domestic_hosts: u64,
    pub unattributed_c2_servers: u64,
    pub unattributed_hosts: u64,
    pub total_c2_servers: u64,
    pub total_hosts: u64,
    pub first_by_servers: Option<Leader>,
    pub first_by_hosts: Option<Leader>,
    /// C2 servers whose attribution is of low or unknown confidence (counted all the same).
    pub low_confidence_c2_servers: u64,
}

/// The headline figures of the previous period of the same length.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreviousHeadline {
    pub period: Period,
    pub overseas_c2_servers: u64,
    pub overseas_hosts: u64,
    pub domestic_c2_servers: u64,
    pub domestic_hosts: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CountryRow {
    pub rank: usize,
    pub country: String,
    pub name: String,
    pub domestic: bool,
    /// C2 servers counted under this country by the attribution policy.
    pub c2_servers: u64,
    /// C2 servers whose registry view says this country (to show the difference).
    pub c2_servers_by_registry: u64,
    /// C2 servers whose first geolocation view says this country; `None` when no
    /// location view is loaded at all (not zero: the figure is unknown).
    pub c2_servers_by_location: Option<u64>,
    /// The same figures in the previous period of the same length, when known.
    pub previous_c2_servers: Option<u64>,
    pub previous_hosts: Option<u64>,
    /// Of `c2_servers`, those whose attribution is of low or unknown confidence.
    pub low_confidence: u64,
    /// Distinct home hosts controlled from this country.
    pub hosts: u64,
    pub server_share: Option<f64>,
    pub host_share: Option<f64>,
}

/// The report, ready to render; its JSON form is the documented `vedette.report/1` schema.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub synthetic: Option<String>,
    pub period: Period,
    pub home_country: String,
    pub home_country_name: String,
    pub has_data: bool,
    pub headline: Headline,
    pub previous: Option<PreviousHeadline>,
    pub statement: String,
    pub countries: Vec<CountryRow>,
    pub c2_servers: Vec<C2Activity>,
    pub conflicted_c2_servers: Vec<C2Activity>,
    pub daily: Vec<DailyActivity>,
    pub families: Vec<GroupActivity>,
    pub home_networks: Vec<GroupActivity>,
    pub top_hosts: Vec<VictimActivity>,
    pub not_covered: Vec<String>,
    pub method: Vec<String>,
}

fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// `1234567` → `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(crate) fn percent(share: Option<f64>) -> String {
    share.map(|s| format!("{:.1}%", s * 100.0)).unwrap_or_else(|| "–".into())
}

impl Report {
    pub fn build(input: ReportInput) -> Report {
        let home = input.home.to_string();
        let mut servers: BTreeMap<String, (u64, u64)> = BTreeMap::new(); // policy, low confidence
        let mut by_registry: BTreeMap<String, u64> = BTreeMap::new();
        let mut by_location: BTreeMap<String, u64> = BTreeMap::new();
        let mut low_confidence = 0;
        let (mut overseas, mut domestic, mut unattributed) = (0, 0, 0);
        for c2 in &input.c2_servers {
            match c2.country {
                Some(cc) => {
                    let entry = servers.entry(cc.to_string()).or_default();
                    entry.0 += 1;
                    if matches!(c2.confidence, Confidence::Low | Confidence::Unknown) {
                        entry.1 += 1;
                    }
                    if cc == input.home {
                        domestic += 1;
                    } else {
                        overseas += 1;
                    }
                }
                None => unattributed += 1,
            }
            if let Some(reg) = c2.registry_cc {
                *by_registry.entry(reg.to_string()).or_default() += 1;
            }
            if let Some(loc) = c2.location_cc {
                *by_location.entry(loc.to_string()).or_default() += 1;
            }
            if matches!(c2.confidence, Confidence::Low | Confidence::Unknown) {
                low_confidence += 1;
            }
        }
        let has_location = input.c2_servers.iter().any(|c| c.location_cc.is_some());
        let (previous_servers, previous_hosts) = match &input.previous {
            Some(p) => {
                let mut servers: BTreeMap<String, u64> = BTreeMap::new();
                for c2 in &p.c2_servers {
                    if let Some(cc) = c2.country {
                        *servers.entry(cc.to_string()).or_default() += 1;
                    }
                }
                let hosts: BTreeMap<String, u64> =
                    p.hosts_by_country.iter().filter_map(|(cc, n)| cc.clone().map(|cc| (cc, *n))).collect();
                (Some(servers), Some(hosts))
            }
            None => (None, None),
        };
        let hosts: BTreeMap<String, u64> =
            input.hosts_by_country.iter().filter_map(|(cc, n)| cc.clone().map(|cc| (cc, *n))).collect();

        let mut countries: Vec<CountryRow> = servers
            .iter()
            .map(|(cc, (n, low))| {
                let is_home = *cc == home;
                let h = hosts.get(cc).copied().unwrap_or(0);
                CountryRow {
                    rank: 0,
                    country: cc.clone(),
                    name: country_name(cc).to_string(),
                    domestic: is_home,
                    c2_servers: *n,
                    c2_servers_by_registry: by_registry.get(cc).copied().unwrap_or(0),
                    c2_servers_by_location: has_location.then(|| by_location.get(cc).copied().unwrap_or(0)),
                    previous_c2_servers: previous_servers.as_ref().map(|m| m.get(cc).copied().unwrap_or(0)),
                    previous_hosts: previous_hosts.as_ref().map(|m| m.get(cc).copied().unwrap_or(0)),
                    low_confidence: *low,
                    hosts: h,
                    server_share: if is_home { None } else { share(*n, overseas) },
                    host_share: if is_home { None } else { share(h, input.hosts_overseas) },
                }
            })
            .collect();
        // Overseas countries ranked by servers, then hosts; the home country last.
        countries.sort_by(|a, b| {
            (a.domestic, std::cmp::Reverse(a.c2_servers), std::cmp::Reverse(a.hosts), &a.country).cmp(&(
                b.domestic,
                std::cmp::Reverse(b.c2_servers),
                std::cmp::Reverse(b.hosts),
                &b.country,
            ))
        });
        for (i, row) in countries.iter_mut().enumerate() {
            row.rank = if row.domestic { 0 } else { i + 1 };
        }
        let leader = |pick: fn(&CountryRow) -> (u64, Option<f64>)| {
            countries
                .iter()
                .filter(|r| !r.domestic)
                .max_by(|a, b| pick(a).0.cmp(&pick(b).0).then_with(|| b.country.cmp(&a.country)))
                .filter(|r| pick(r).0 > 0)
                .map(|r| Leader {
                    country: r.country.clone(),
                    name: r.name.clone(),
                    value: pick(r).0,
                    share: pick(r).1.unwrap_or(0.0),
                })
        };
        let headline = Headline {
            overseas_c2_servers: overseas,
            overseas_hosts: input.hosts_overseas,
            domestic_c2_servers: domestic,
            domestic_hosts: input.hosts_domestic,
            unattributed_c2_servers: unattributed,
            unattributed_hosts: input.hosts_unattributed,
            total_c2_servers: input.c2_servers.len() as u64,
            total_hosts: input.hosts_total,
            first_by_servers: leader(|r| (r.c2_servers, r.server_share)),
            first_by_hosts: leader(|r| (r.hosts, r.host_share)),
            low_confidence_c2_servers: low_confidence,
        };
        let previous = input.previous.as_ref().map(|p| {
            let domestic = p.c2_servers.iter().filter(|c| c.country == Some(input.home)).count() as u64;
            let overseas = p.c2_servers.iter().filter(|c| c.country.is_some_and(|cc| cc != input.home)).count() as u64;
            PreviousHeadline {
                period: p.period,
                overseas_c2_servers: overseas,
                overseas_hosts: p.hosts_overseas,
                domestic_c2_servers: domestic,
                domestic_hosts: p.hosts_domestic,
            }
        });
        let home_name = country_name(&home).to_string();
        let statement = statement(&input.period, &home_name, &headline, previous.as_ref());
        let conflicted = input.c2_servers.iter().filter(|c| !c.conflicts.is_empty()).cloned().collect();
        let mut method = vec![
            format!(
                "C2 servers are addresses listed by indicator feeds and confirmed by traffic: at least one host in {home_name} ({home}) was seen in contact with them during the period."
            ),
            format!(
                "\"Overseas\" means the attribution policy ({}) places the C2 server outside {home}; \"domestic\" means inside. A host is counted once per figure however many servers it contacted.",
                input.attribution_policy
            ),
            "An address registered to one country can be used in another (a registry range can be routed by a foreign network): every C2 server keeps its registry, routing and location views, and the servers whose views disagree are listed with their conflict codes.".to_string(),
            format!("Sources: {}.", if input.sources.is_empty() { "none recorded".to_string() } else { input.sources.join("; ") }),
        ];
        if let Some(note) = &input.approximate_counts {
            method.push(note.clone());
        }
        Report {
            schema: REPORT_SCHEMA,
            synthetic: input.synthetic,
            period: input.period,
            home_country: home,
            home_country_name: home_name,
            has_data: !input.c2_servers.is_empty(),
            headline,
            previous,
            statement,
            countries,
            c2_servers: input.c2_servers,
            conflicted_c2_servers: conflicted,
            daily: input.daily,
            families: input.families,
            home_networks: input.home_networks,
            top_hosts: input.top_hosts,
            not_covered: input.not_covered,
            method,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }
}

/// `+12%`, `-3%`, or `new` when the previous figure was zero.
pub(crate) fn change(now: u64, before: Option<u64>) -> String {
    match before {
        None => "–".into(),
        Some(0) if now == 0 => "0%".into(),
        Some(0) => "new".into(),
        Some(b) => format!("{:+.0}%", (now as f64 - b as f64) / b as f64 * 100.0),
    }
}

fn statement(period: &Period, home: &str, h: &Headline, previous: Option<&PreviousHeadline>) -> String {
    if h.total_c2_servers == 0 {
        return format!(
            "From {} to {}, no C2 activity involving hosts in {home} was recorded: the store holds no contact between a home host and a known C2 server in this period.",
            period.from, period.to
        );
    }
    let plural = |n: u64, one: &str, many: &str| if n == 1 { one.to_string() } else { many.to_string() };
    let mut s = format!(
        "From {} to {}, {} overseas C2 {} controlled {} {} in {home}.",
        period.from,
        period.to,
        thousands(h.overseas_c2_servers),
        plural(h.overseas_c2_servers, "server", "servers"),
        thousands(h.overseas_hosts),
        plural(h.overseas_hosts, "host", "hosts"),
    );
    match (&h.first_by_servers, &h.first_by_hosts) {
        (Some(s1), Some(h1)) if s1.country == h1.country => s.push_str(&format!(
            " {} ranked first in both, with {} servers ({}) controlling {} hosts ({}).",
            s1.name,
            thousands(s1.value),
            percent(Some(s1.share)),
            thousands(h1.value),
            percent(Some(h1.share))
        )),
        (Some(s1), Some(h1)) => s.push_str(&format!(
            " {} ranked first by servers with {} ({}); {} ranked first by hosts controlled with {} ({}).",
            s1.name,
            thousands(s1.value),
            percent(Some(s1.share)),
            h1.name,
            thousands(h1.value),
            percent(Some(h1.share))
        )),
        _ => {}
    }
    s.push_str(&format!(
        " {} domestic C2 {} controlled {} {}.",
        thousands(h.domestic_c2_servers),
        plural(h.domestic_c2_servers, "server", "servers"),
        thousands(h.domestic_hosts),
        plural(h.domestic_hosts, "host", "hosts"),
    ));
    if let Some(p) = previous.filter(|p| p.overseas_c2_servers > 0) {
        s.push_str(&format!(
            " Against the previous {} days, overseas C2 servers changed by {} and the hosts they controlled by {}.",
            period.days(),
            change(h.overseas_c2_servers, Some(p.overseas_c2_servers)),
            change(h.overseas_hosts, Some(p.overseas_hosts))
        ));
    }
    if h.low_confidence_c2_servers > 0 {
        s.push_str(&format!(
            " {} of the C2 servers have a low-confidence attribution (their sources disagree or the address is unrouted); they are counted as their policy country says, and listed below.",
            thousands(h.low_confidence_c2_servers)
        ));
    }
    if h.unattributed_c2_servers > 0 {
        s.push_str(&format!(
            " {} C2 servers could not be placed in any country; they controlled {} hosts.",
            thousands(h.unattributed_c2_servers),
            thousands(h.unattributed_hosts)
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c2(addr: &str, cc: &str, reg: &str, hosts: u64, conflicts: &[&str]) -> C2Activity {
        C2Activity {
            address: addr.into(),
            country: Some(cc.parse().unwrap()),
            registry_cc: Some(reg.parse().unwrap()),
            location_cc: None,
            asn: None,
            as_name: None,
            confidence: if conflicts.is_empty() { Confidence::High } else { Confidence::Low },
            conflicts: conflicts.iter().map(|c| c.to_string()).collect(),
            malware: Some("emotet".into()),
            confirmed: true,
            hosts,
            flows: hosts * 3,
            bytes: 0,
        }
    }

    #[test]
    fn ranks_countries_and_writes_the_statement() {
        let period = Period::new("2013-01-01".parse().unwrap(), "2013-05-31".parse().unwrap()).unwrap();
        let mut input = ReportInput::empty(period, "CN".parse().unwrap());
        input.c2_servers = vec![
            c2("198.51.100.1", "US", "US", 10, &[]),
            c2("198.51.100.2", "US", "US", 5, &[]),
            c2("198.51.100.3", "KR", "KR", 20, &[]),
            c2("198.51.100.4", "CN", "CN", 4, &["AS_CC_MISMATCH"]),
        ];
        input.hosts_total = 38;
        input.hosts_overseas = 34;
        input.hosts_domestic = 4;
        input.hosts_by_country = vec![(Some("US".into()), 14), (Some("KR".into()), 20), (Some("CN".into()), 4)];
        let r = Report::build(input);
        assert_eq!(r.headline.overseas_c2_servers, 3);
        assert_eq!(r.countries[0].country, "US");
        assert_eq!(r.countries[0].rank, 1);
        assert_eq!(r.countries.last().unwrap().country, "CN");
        assert_eq!(r.headline.first_by_hosts.as_ref().unwrap().country, "KR");
        assert!(r.statement.contains("3 overseas C2 servers controlled 34 hosts in China"), "{}", r.statement);
        assert!(r.statement.contains("United States ranked first by servers with 2 (66.7%)"), "{}", r.statement);
        assert_eq!(r.conflicted_c2_servers.len(), 1);
        assert_eq!(thousands(5_630_000), "5,630,000");
    }
}
