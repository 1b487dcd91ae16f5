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

/// What one geolocation database says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeoView {
    pub source: String,
    pub version: Option<String>,
    pub cc: CountryCode,
    pub registered_cc: Option<CountryCode>,
    pub prefix: String,
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
    pub fn registry_cc(&self) -> Option<CountryCode> {
        self.registry.as_ref().map(|r| r.cc).filter(|cc| !cc.is_unknown())
    }

    /// The first geolocation view's country.
    pub fn location_cc(&self) -> Option<CountryCode> {
        self.geo.first().map(|g| g.cc).filter(|cc| !cc.is_unknown())
    }

    pub fn asn(&self) -> Option<u32> {
        self.routing.as_ref().and_then(|r| r.origins.first().copied())
    }
}
