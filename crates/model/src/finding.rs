use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::{Attribution, EventHash};

/// What detection concluded about a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A command-and-control server; links to the hosts it controls.
    C2Server,
    /// A host under a C2 server's control.
    InfectedHost,
    BeaconingPair,
    DgaDomain,
    /// A registered domain that carries C2 traffic inside DNS queries (many unique,
    /// random-looking subdomains asked by few hosts).
    DnsTunnel,
    BackdooredSite,
}

impl FindingKind {
    pub const ALL: &'static [FindingKind] = &[
        FindingKind::C2Server,
        FindingKind::InfectedHost,
        FindingKind::BeaconingPair,
        FindingKind::DgaDomain,
        FindingKind::DnsTunnel,
        FindingKind::BackdooredSite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::C2Server => "c2_server",
            FindingKind::InfectedHost => "infected_host",
            FindingKind::BeaconingPair => "beaconing_pair",
            FindingKind::DgaDomain => "dga_domain",
            FindingKind::DnsTunnel => "dns_tunnel",
            FindingKind::BackdooredSite => "backdoored_site",
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FindingKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FindingKind::ALL.iter().copied().find(|k| k.as_str() == s.trim()).ok_or_else(|| {
            let names: Vec<_> = FindingKind::ALL.iter().map(|k| k.as_str()).collect();
            format!("unknown finding kind {s:?} (expected one of {})", names.join(", "))
        })
    }
}

/// A conclusion of detection, with the evidence that supports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// The address, domain or URL the finding is about.
    pub subject: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// 0..=1; 1 for an indicator confirmed by traffic.
    pub score: f64,
    /// False for a candidate an analyst has yet to confirm.
    pub confirmed: bool,
    pub malware: Option<String>,
    /// In words, why detection concluded this.
    pub reason: String,
    pub attribution: Option<Attribution>,
    /// The stored events that prove it (feed indicators, alerts).
    pub evidence: Vec<String>,
}

impl Finding {
    pub fn evidence_from(hashes: &[EventHash]) -> Vec<String> {
        hashes.iter().map(EventHash::to_hex).collect()
    }
}

/// A home host's contacts with one C2 server on one day: the link between a
/// `c2_server` finding and an `infected_host`, with its counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct C2Contact {
    pub c2: IpAddr,
    pub victim: IpAddr,
    pub day: NaiveDate,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    pub flows: u64,
    pub bytes: u64,
    /// The origin AS of the victim's address, when attribution knows it (for counting
    /// per home network).
    pub victim_asn: Option<u32>,
}
