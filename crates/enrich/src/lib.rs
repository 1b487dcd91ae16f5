//! Attribution with evidence: every view of whom an address belongs to — registry,
//! routing, geolocation — the conflicts between them, a confidence grade with its rule,
//! and the country used for counting, chosen by a policy. Alternatives are never hidden.
//!
//! ```
//! use vedette_enrich::{AttributorBuilder, Policy, SourceKind};
//! use vedette_model::Conflict;
//!
//! let mut builder = AttributorBuilder::new(Policy::LocationFirst);
//! builder.add(SourceKind::RirDelegated, "apnic", b"apnic|CN|ipv4|1.0.1.0|256|20110414|allocated\napnic|KR|asn|64500|1|20000101|allocated\n");
//! builder.add(SourceKind::Pfx2as, "routeviews", b"1.0.1.0/24\t64500\n");
//! let attributor = builder.build();
//! let a = attributor.attribute("1.0.1.9".parse().unwrap());
//! assert_eq!(a.country.unwrap().as_str(), "CN");          // registry, as no location view exists
//! assert!(a.conflicts.contains(&Conflict::AsCcMismatch)); // the origin AS is Korean
//! ```

mod registry;
mod routing;
mod special;

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use vedette_model::{Attribution, Confidence, Conflict, CountryCode, RegistryView, Rejected, RoutingView};

use registry::{Delegation, Delegations};
use routing::{AsInfo, Route};
pub use vedette_model::ranges::{key, prefix_bounds};
use vedette_model::RangeMap;

/// The kinds of attribution source Vedette reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// RIR delegated / delegated-extended statistics.
    RirDelegated,
    /// Prefix → origin AS table (pyasn ipasn or CAIDA pfx2as).
    Pfx2as,
    /// AS names and countries (RIPE `asn.txt`).
    AsNames,
}

impl SourceKind {
    pub const ALL: &'static [SourceKind] = &[SourceKind::RirDelegated, SourceKind::Pfx2as, SourceKind::AsNames];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::RirDelegated => "rir-delegated",
            SourceKind::Pfx2as => "pfx2as",
            SourceKind::AsNames => "as-names",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SourceKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SourceKind::ALL.iter().copied().find(|k| k.as_str() == s).ok_or_else(|| {
            let names: Vec<_> = SourceKind::ALL.iter().map(|k| k.as_str()).collect();
            format!("unknown attribution source kind {s:?} (expected one of {})", names.join(", "))
        })
    }
}

/// Which view gives the country used for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Where the address is used (geolocation), else where it is registered.
    #[default]
    LocationFirst,
    /// Where it is registered, else where it is used.
    RegistryFirst,
}

impl FromStr for Policy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "location-first" => Ok(Policy::LocationFirst),
            "registry-first" => Ok(Policy::RegistryFirst),
            _ => Err(format!("unknown attribution policy {s:?} (expected location-first or registry-first)")),
        }
    }
}

/// Collects sources, then compiles them into an [`Attributor`].
#[derive(Default)]
pub struct AttributorBuilder {
    policy: Policy,
    delegations: Delegations,
    routes: Vec<(u128, u128, Arc<Route>)>,
    as_names: HashMap<u32, AsInfo>,
    has_routing: bool,
    sources: Vec<String>,
}

impl AttributorBuilder {
    pub fn new(policy: Policy) -> AttributorBuilder {
        AttributorBuilder { policy, ..AttributorBuilder::default() }
    }

    /// Adds one source file's contents; returns its malformed lines.
    pub fn add(&mut self, kind: SourceKind, name: &str, bytes: &[u8]) -> Vec<Rejected> {
        self.sources.push(format!("{kind}:{name}"));
        match kind {
            SourceKind::RirDelegated => registry::parse(name, bytes, &mut self.delegations),
            SourceKind::Pfx2as => {
                self.has_routing = true;
                routing::parse_prefixes(name, bytes, &mut self.routes)
            }
            SourceKind::AsNames => routing::parse_as_names(name, bytes, &mut self.as_names),
        }
    }

    pub fn build(self) -> Attributor {
        let as_registry = RangeMap::build(
            self.delegations
                .asns
                .iter()
                .map(|(first, last, cc)| (u128::from(*first), u128::from(*last), *cc))
                .collect(),
        );
        Attributor {
            policy: self.policy,
            registry: RangeMap::build(self.delegations.addresses),
            routing: RangeMap::build(self.routes),
            as_registry,
            as_names: self.as_names,
            has_routing: self.has_routing,
            sources: self.sources,
        }
    }
}

/// All sources compiled for lookups; cheap to share between threads.
pub struct Attributor {
    policy: Policy,
    registry: RangeMap<Arc<Delegation>>,
    routing: RangeMap<Arc<Route>>,
    as_registry: RangeMap<CountryCode>,
    as_names: HashMap<u32, AsInfo>,
    has_routing: bool,
    sources: Vec<String>,
}

impl Attributor {
    /// An attributor with no sources: every answer is "unknown".
    pub fn empty() -> Attributor {
        AttributorBuilder::new(Policy::default()).build()
    }

    /// `kind:name` of every loaded source.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    /// The country an AS is registered in: the RIR's ASN delegation, else the AS names table.
    pub fn as_country(&self, asn: u32) -> Option<CountryCode> {
        self.as_registry
            .get_key(u128::from(asn))
            .copied()
            .filter(|cc| !cc.is_unknown())
            .or_else(|| self.as_names.get(&asn).and_then(|info| info.cc))
    }

    pub fn attribute(&self, ip: IpAddr) -> Attribution {
        let registry = self.registry.get(ip).map(|d| RegistryView {
            source: d.source.to_string(),
            registry: d.registry.clone(),
            cc: d.cc,
            range: d.range.clone(),
            date: d.date.clone(),
            status: d.status.clone(),
            holder: d.holder.clone(),
        });
        let routing = self.routing.get(ip).map(|r| {
            let first = r.origins.first().copied();
            RoutingView {
                source: r.source.to_string(),
                prefix: r.prefix.clone(),
                origins: r.origins.clone(),
                as_cc: first.and_then(|asn| self.as_country(asn)),
                as_name: first.and_then(|asn| self.as_names.get(&asn)).map(|info| info.name.clone()),
            }
        });
        let mut attribution = Attribution {
            ip,
            country: None,
            country_rule: String::new(),
            registry,
            routing,
            geo: Vec::new(),
            conflicts: Vec::new(),
            confidence: Confidence::Unknown,
            confidence_rule: String::new(),
        };
        self.judge(&mut attribution);
        attribution
    }

    fn judge(&self, a: &mut Attribution) {
        let special = special::is_special_use(a.ip);
        if special {
            a.conflicts.push(Conflict::SpecialUse);
        }
        let registry_cc = a.registry_cc();
        let location_cc = a.location_cc();
        let as_cc = a.routing.as_ref().and_then(|r| r.as_cc).filter(|cc| !cc.is_unknown());
        if let (Some(reg), Some(asc)) = (registry_cc, as_cc) {
            if reg != asc {
                a.conflicts.push(Conflict::AsCcMismatch);
            }
        }
        if let (Some(reg), Some(loc)) = (registry_cc, location_cc) {
            if reg != loc {
                a.conflicts.push(Conflict::RegGeoMismatch);
            }
        }
        if a.routing.as_ref().is_some_and(|r| r.origins.len() > 1) {
            a.conflicts.push(Conflict::Moas);
        }
        if self.has_routing && a.routing.is_none() && !special {
            a.conflicts.push(Conflict::Unrouted);
        }

        let (country, rule) = match (self.policy, location_cc, registry_cc) {
            (Policy::LocationFirst, Some(loc), _) => (Some(loc), "location"),
            (Policy::LocationFirst, None, Some(reg)) => (Some(reg), "registry (no location view)"),
            (Policy::RegistryFirst, _, Some(reg)) => (Some(reg), "registry"),
            (Policy::RegistryFirst, Some(loc), None) => (Some(loc), "location (no registry view)"),
            (_, None, None) => (as_cc, "origin AS country (no registry or location view)"),
        };
        a.country = if special { None } else { country };
        a.country_rule = if special {
            "special-use address: no country".into()
        } else if a.country.is_none() {
            "no view covers this address".into()
        } else {
            rule.into()
        };

        let views = [registry_cc, location_cc, as_cc].iter().flatten().count();
        let disagree = a
            .conflicts
            .iter()
            .any(|c| matches!(c, Conflict::AsCcMismatch | Conflict::RegGeoMismatch | Conflict::GeoDbsDisagree));
        let (confidence, rule) = if special {
            (Confidence::Unknown, "special-use address")
        } else if views == 0 {
            (Confidence::Unknown, "no view covers this address")
        } else if disagree {
            (Confidence::Low, "views disagree on the country")
        } else if a.conflicts.contains(&Conflict::Unrouted) {
            (Confidence::Low, "address is not routed")
        } else if views == 1 {
            (Confidence::Medium, "a single view gives the country")
        } else if a.conflicts.contains(&Conflict::Moas) {
            (Confidence::Medium, "views agree but the prefix has several origin ASes")
        } else {
            (Confidence::High, "independent views agree")
        };
        a.confidence = confidence;
        a.confidence_rule = rule.into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributor() -> Attributor {
        let mut b = AttributorBuilder::new(Policy::LocationFirst);
        assert!(b
            .add(SourceKind::RirDelegated, "rir", b"apnic|CN|ipv4|36.0.0.0|65536|20100101|allocated|H1\napnic|CN|asn|4134|1|20000101|allocated|H1\napnic|KR|asn|4766|1|20000101|allocated|H2\n")
            .is_empty());
        assert!(b
            .add(SourceKind::Pfx2as, "rv", b"36.0.0.0/17\t4134\n36.0.128.0/17\t4766\n36.0.200.0/24\t4134_4766\n")
            .is_empty());
        b.build()
    }

    #[test]
    fn agreeing_views_are_high_confidence() {
        let a = attributor().attribute("36.0.1.1".parse().unwrap());
        assert_eq!(a.country.unwrap().as_str(), "CN");
        assert_eq!(a.confidence, Confidence::High);
        assert!(a.conflicts.is_empty());
        assert_eq!(a.asn(), Some(4134));
    }

    #[test]
    fn chinese_range_used_by_korean_as_is_flagged() {
        let a = attributor().attribute("36.0.130.1".parse().unwrap());
        assert_eq!(a.country.unwrap().as_str(), "CN");
        assert_eq!(a.conflicts, vec![Conflict::AsCcMismatch]);
        assert_eq!(a.confidence, Confidence::Low);
        assert_eq!(a.routing.unwrap().as_cc.unwrap().as_str(), "KR");
    }

    #[test]
    fn moas_unrouted_and_special_use() {
        let at = attributor();
        assert!(at.attribute("36.0.200.1".parse().unwrap()).conflicts.contains(&Conflict::Moas));
        let a = at.attribute("36.1.0.1".parse().unwrap());
        assert_eq!(a.conflicts, vec![Conflict::Unrouted]);
        assert_eq!(a.country, None);
        let a = at.attribute("10.1.2.3".parse().unwrap());
        assert_eq!(a.conflicts, vec![Conflict::SpecialUse]);
        assert_eq!(a.confidence, Confidence::Unknown);
    }
}
