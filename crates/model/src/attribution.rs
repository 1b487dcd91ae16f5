use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::CountryCode;

/// Where a regional internet registry says an address was delegated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryView {
    /// The dataset it came from (its configured name).
    pub source: String,
    /// `apnic`, `arin`, `ripencc`, `lacnic` or `afrinic`.
    pub registry: String,
    pub cc: CountryCode,
    /// The delegated range, `first-last` or CIDR.
    pub range: String,
    pub date: Option<String>,
    pub status: String,
    pub holder: Option<String>,
}

/// What routing says: the announced prefix, its origin AS(es), and the AS's own country.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingView {
    pub source: String,
    pub prefix: String,
    /// More than one origin is a MOAS prefix; all are kept.
    pub origins: Vec<u32>,
    pub as_cc: Option<CountryCode>,
    pub as_name: Option<String>,
}

/// What kind of location view a [`GeoView`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GeoKind {
    /// A geolocation database (an MMDB of any vendor).
    #[default]
    Database,
    /// An RFC 8805 / 9632 geofeed the network's operator publishes.
    Geofeed,
    /// The CERT's own knowledge ("this range is used by a bank in KR").
    Override,
}

impl GeoKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GeoKind::Database => "database",
            GeoKind::Geofeed => "geofeed",
            GeoKind::Override => "override",
        }
    }
}

/// What one location source says: a geolocation database, a geofeed or an operator
/// override. Fields after `prefix` were added later, hence the serde defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeoView {
    pub source: String,
    /// The dataset version (an MMDB's build date and description).
    pub version: Option<String>,
    pub cc: CountryCode,
    /// Where the database says the block is registered (GeoIP2's `registered_country`).
    pub registered_cc: Option<CountryCode>,
    /// The matched prefix (the database network, the geofeed or override entry).
    pub prefix: String,
    #[serde(default)]
    pub kind: GeoKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal: Option<String>,
    /// The organisation an override names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// The override's note, in the analyst's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The source marks the network as anycast (one address, many places).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub anycast: bool,
}

/// A disagreement or caveat between views, as a code an analyst can search for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Conflict {
    /// The registry country differs from a geolocation country.
    RegGeoMismatch,
    /// The registry country of the range differs from the country of its origin AS.
    AsCcMismatch,
    /// Geolocation databases disagree with each other.
    GeoDbsDisagree,
    /// The prefix has several origin ASes.
    Moas,
    Anycast,
    /// No route covers the address.
    Unrouted,
    /// RFC 6890 special-use space (private, documentation, …).
    SpecialUse,
    /// An operator override set the answer.
    Overridden,
}

impl Conflict {
    pub fn code(self) -> &'static str {
        match self {
            Conflict::RegGeoMismatch => "REG_GEO_MISMATCH",
            Conflict::AsCcMismatch => "AS_CC_MISMATCH",
            Conflict::GeoDbsDisagree => "GEO_DBS_DISAGREE",
            Conflict::Moas => "MOAS",
            Conflict::Anycast => "ANYCAST",
            Conflict::Unrouted => "UNROUTED",
            Conflict::SpecialUse => "SPECIAL_USE",
            Conflict::Overridden => "OVERRIDDEN",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    High,
    Medium,
    Low,
    Unknown,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::High => "high",
            Confidence::Medium => "medium",
            Confidence::Low => "low",
            Confidence::Unknown => "unknown",
        }
    }
}

/// Every view of whom one address belongs to, the conflicts between them, and the
/// country used for counting — with the rule that chose it. Alternatives are never hidden.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    pub ip: IpAddr,
    /// The country the report counts this address under, if any view gave one.
    pub country: Option<CountryCode>,
    /// Which view gave `country`, in words (`registry (no location view)`).
    pub country_rule: String,
    pub registry: Option<RegistryView>,
    pub routing: Option<RoutingView>,
    pub geo: Vec<GeoView>,
    pub conflicts: Vec<Conflict>,
    pub confidence: Confidence,
    pub confidence_rule: String,
}

impl Attribution {
    /// Where the address is registered: the RIR view, else the first geolocation
    /// database's registered country (GeoIP2's `registered_country`).
    pub fn registry_cc(&self) -> Option<CountryCode> {
        self.registry
            .as_ref()
            .map(|r| r.cc)
            .filter(|cc| !cc.is_unknown())
            .or_else(|| self.geo.iter().find_map(|g| g.registered_cc))
    }

    /// Where the address is used: an operator override, else a geofeed, else the country
    /// most geolocation databases give (the first one listed on a tie).
    pub fn location_cc(&self) -> Option<CountryCode> {
        location_cc(self.geo.iter().map(|g| (g.kind, g.cc)))
    }

    pub fn asn(&self) -> Option<u32> {
        self.routing.as_ref().and_then(|r| r.origins.first().copied())
    }
}

/// The location rule shared by [`Attribution::location_cc`] and the compiled lookup table:
/// an override, else a geofeed, else the databases' majority (first listed on a tie).
pub fn location_cc(views: impl IntoIterator<Item = (GeoKind, CountryCode)>) -> Option<CountryCode> {
    let mut best: [Option<CountryCode>; 2] = [None, None];
    let mut votes: Vec<(CountryCode, usize)> = Vec::new();
    for (kind, cc) in views {
        if cc.is_unknown() {
            continue;
        }
        match kind {
            GeoKind::Override => best[0] = best[0].or(Some(cc)),
            GeoKind::Geofeed => best[1] = best[1].or(Some(cc)),
            GeoKind::Database => match votes.iter_mut().find(|(c, _)| *c == cc) {
                Some((_, n)) => *n += 1,
                None => votes.push((cc, 1)),
            },
        }
    }
    // max_by_key keeps the last maximum; iterate reversed so the first listed wins a tie.
    best[0].or(best[1]).or_else(|| votes.iter().rev().max_by_key(|(_, n)| *n).map(|(cc, _)| *cc))
}
