//! Attribution with evidence: every view of whom an address belongs to — registry,
//! routing, geolocation databases, geofeeds, the CERT's own overrides — the conflicts
//! between them, a confidence grade with its rule, and the country used for counting,
//! chosen by a policy. Alternatives are never hidden.
//!
//! All sources are compiled into one lookup table for IPv4 and IPv6 whose value is the
//! whole evidence tuple, with the verdict (conflicts, confidence, counted country) worked
//! out once per distinct tuple at build time, so [`Attributor::lookup`] is one short
//! binary search ([`Attributor::lookup_many`] overlaps the memory accesses of many
//! addresses). [`Attributor::attribute`] expands that into the stored [`Attribution`],
//! and [`Reloading`] swaps in a rebuilt table when a source file changes.
//!
//! Sources: RIR delegated statistics, pfx2as tables, MRT RIB dumps, AS names, MMDB
//! databases of any vendor, RFC 8805 geofeeds, operator overrides; RFC 6890 special-use
//! ranges are built in.
//!
//! ```
//! use vedette_enrich::{AttributorBuilder, Policy, SourceKind};
//! use vedette_model::Conflict;
//!
//! let mut builder = AttributorBuilder::new(Policy::LocationFirst);
//! builder.add(SourceKind::RirDelegated, "apnic", b"apnic|CN|ipv4|1.0.1.0|256|20110414|allocated\napnic|KR|asn|64500|1|20000101|allocated\n").expect("text source");
//! builder.add(SourceKind::Pfx2as, "routeviews", b"1.0.1.0/24\t64500\n").expect("text source");
//! builder.add(SourceKind::Override, "ours", b"1.0.1.128/25,KR,Example Bank,used by a bank in KR\n").expect("text source");
//! let attributor = builder.build();
//! let ip = "1.0.1.9".parse().expect("literal address");
//! let a = attributor.attribute(ip);
//! assert_eq!(a.country.expect("a view covers it").as_str(), "CN"); // registry: no location view
//! assert!(a.conflicts.contains(&Conflict::AsCcMismatch));        // the origin AS is Korean
//! assert_eq!(attributor.lookup(ip).confidence, a.confidence);    // the fast path agrees
//! let bank = attributor.attribute("1.0.1.200".parse().expect("literal address"));
//! assert_eq!(bank.country.expect("overridden").as_str(), "KR");
//! assert!(bank.conflicts.contains(&Conflict::Overridden));
//! ```

mod geofeed;
mod mmdb;
mod mrt;
mod registry;
mod reload;
mod routing;
mod special;
mod table;

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use vedette_model::{
    Attribution, Confidence, Conflict, CountryCode, Endpoint, Event, GeoKind, GeoView, RegistryView, Rejected,
    RoutingView,
};

use geofeed::{GeofeedEntry, OverrideEntry};
use mmdb::GeoRecord;
use registry::{Delegation, Delegations};
pub use reload::{load, Loaded, Reloading, SourceReport, SourceSpec};
use routing::{AsInfo, Route};
pub use vedette_model::ranges::{key, prefix_bounds};
use vedette_model::RangeMap;

/// The kinds of attribution source Vedette reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// RIR delegated / delegated-extended statistics.
    RirDelegated,
    /// Prefix → origin AS table (pyasn ipasn or CAIDA pfx2as).
    Pfx2as,
    /// AS names and countries (RIPE `asn.txt`).
    AsNames,
    /// An MMDB database of any vendor: country, city or ASN.
    Mmdb,
    /// An MRT RIB dump (RouteViews / RIPE RIS, plain or bzip2): prefix → every origin AS.
    Mrt,
    /// An RFC 8805 / 9632 geofeed (`prefix,cc,region,city,postal`).
    Geofeed,
    /// The CERT's own knowledge (`cidr,cc,org,note`); it sets the counted country.
    Override,
}

impl SourceKind {
    pub const ALL: &'static [SourceKind] = &[
        SourceKind::RirDelegated,
        SourceKind::Pfx2as,
        SourceKind::AsNames,
        SourceKind::Mmdb,
        SourceKind::Mrt,
        SourceKind::Geofeed,
        SourceKind::Override,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::RirDelegated => "rir-delegated",
            SourceKind::Pfx2as => "pfx2as",
            SourceKind::AsNames => "as-names",
            SourceKind::Mmdb => "mmdb",
            SourceKind::Mrt => "mrt",
            SourceKind::Geofeed => "geofeed",
            SourceKind::Override => "override",
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

/// Which view gives the country used for counting. An operator override always does.
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

/// A source that could not be used at all (as opposed to a malformed line in it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("not a valid MMDB database: {0}")]
    Corrupt(String),
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
}

/// What one source holds, by index: a segment's value points into these.
#[derive(Debug)]
enum Data {
    Registry(Vec<Arc<Delegation>>),
    Routing(Vec<Route>),
    Geo(Vec<GeoRecord>),
    Geofeed(Vec<GeofeedEntry>),
    Override(Vec<OverrideEntry>),
    Special,
    /// Marks IPv4 space, so a verdict knows the address family (UNROUTED is only said
    /// where some routing source covers that family).
    Family,
}

#[derive(Debug)]
struct Source {
    kind: SourceKind,
    name: String,
    version: Option<String>,
    /// Disjoint, sorted `(first key, last key, value index)`.
    segments: Vec<(u128, u128, u32)>,
    data: Data,
}

impl Source {
    /// The range of this source that holds `k` (the matched prefix of an MMDB network).
    fn segment(&self, k: u128) -> Option<(u128, u128)> {
        let i = self.segments.partition_point(|s| s.0 <= k).checked_sub(1)?;
        let (first, last, _) = self.segments[i];
        (k <= last).then_some((first, last))
    }
}

/// Collects sources, then compiles them into an [`Attributor`].
#[derive(Default)]
pub struct AttributorBuilder {
    policy: Policy,
    sources: Vec<Source>,
    asns: Vec<(u32, u32, CountryCode)>,
    as_names: HashMap<u32, AsInfo>,
    names: Vec<String>,
}

impl AttributorBuilder {
    pub fn new(policy: Policy) -> AttributorBuilder {
        AttributorBuilder { policy, ..AttributorBuilder::default() }
    }

    /// Adds one source file's contents; returns its malformed lines, or an error when the
    /// whole source is unusable (a corrupt MMDB). A failed source leaves the builder as it
    /// was, so the other sources still load.
    pub fn add(&mut self, kind: SourceKind, name: &str, bytes: &[u8]) -> Result<Vec<Rejected>, SourceError> {
        let mut rejected = Vec::new();
        let (version, segments, data) = match kind {
            SourceKind::RirDelegated => {
                let mut d = Delegations::default();
                rejected = registry::parse(name, bytes, &mut d);
                self.asns.extend(d.asns);
                let (segments, values) = index_values(d.addresses);
                (d.version, segments, Data::Registry(values))
            }
            SourceKind::Pfx2as => {
                let mut routes = Vec::new();
                rejected = routing::parse_prefixes(name, bytes, &mut routes);
                let routes = routes.into_iter().map(|(a, b, r)| (a, b, Arc::unwrap_or_clone(r))).collect();
                let (segments, values) = index_values(routes);
                (None, segments, Data::Routing(values))
            }
            SourceKind::AsNames => {
                rejected = routing::parse_as_names(name, bytes, &mut self.as_names);
                self.names.push(format!("{kind}:{name}"));
                return Ok(rejected);
            }
            SourceKind::Mrt => {
                let (routes, summary) = mrt::parse(name, bytes)?;
                let date = summary.time.and_then(mmdb::civil_date).unwrap_or_else(|| "undated".into());
                let version = format!(
                    "{date} RIB ({} entries, {} prefixes, {} with several origins)",
                    summary.elements, summary.prefixes, summary.multi_origin
                );
                let (segments, values) = index_values(routes);
                (Some(version), segments, Data::Routing(values))
            }
            SourceKind::Mmdb => {
                let db = mmdb::read(bytes)?;
                (Some(db.version), db.ranges, Data::Geo(db.records))
            }
            SourceKind::Geofeed => {
                let mut entries = Vec::new();
                rejected = geofeed::parse_geofeed(name, bytes, &mut entries);
                let (segments, values) = index_values(entries);
                (None, segments, Data::Geofeed(values))
            }
            SourceKind::Override => {
                let mut entries = Vec::new();
                rejected = geofeed::parse_overrides(name, bytes, &mut entries);
                let (segments, values) = index_values(entries);
                (None, segments, Data::Override(values))
            }
        };
        self.names.push(format!("{kind}:{name}"));
        self.sources.push(Source { kind, name: name.to_string(), version, segments, data });
        Ok(rejected)
    }

    /// Compiles the table and judges every distinct evidence tuple once.
    pub fn build(mut self) -> Attributor {
        let (special_segments, _) = index_values(special::ranges().into_iter().map(|(a, b)| (a, b, ())).collect());
        self.sources.push(Source {
            kind: SourceKind::Override,
            name: "rfc6890".into(),
            version: None,
            segments: special_segments,
            data: Data::Special,
        });
        let v4 = prefix_bounds(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0).expect("valid prefix");
        self.sources.push(Source {
            kind: SourceKind::Override,
            name: "ipv4".into(),
            version: None,
            segments: vec![(v4.0, v4.1, 0)],
            data: Data::Family,
        });
        let in_v4 = |seg: &(u128, u128, u32)| seg.0 >= v4.0 && seg.1 <= v4.1;
        let mut has_routing = [false, false];
        for s in &self.sources {
            let routes = matches!(&s.data, Data::Routing(_))
                || matches!(&s.data, Data::Geo(r) if r.iter().any(|r| r.asn.is_some()));
            if routes {
                has_routing[0] |= s.segments.iter().any(in_v4);
                has_routing[1] |= s.segments.iter().any(|seg| !in_v4(seg));
            }
        }
        let refs: Vec<&[(u128, u128, u32)]> = self.sources.iter().map(|s| s.segments.as_slice()).collect();
        let compiled = table::Compiled::build(&refs);
        let as_registry = RangeMap::build(
            self.asns.iter().map(|(first, last, cc)| (u128::from(*first), u128::from(*last), *cc)).collect(),
        );
        let mut attributor = Attributor {
            policy: self.policy,
            has_routing,
            sources: self.sources,
            compiled,
            verdicts: Vec::new(),
            evidence: Vec::new(),
            as_registry,
            as_names: self.as_names,
            names: self.names,
        };
        let evidence: Vec<Evidence> = attributor.compiled.tuples.iter().map(|tuple| attributor.judge(tuple)).collect();
        attributor.verdicts = evidence
            .iter()
            .enumerate()
            .map(|(id, e)| Verdict {
                country: e.country,
                registry_cc: e.registry_cc,
                location_cc: e.location_cc,
                confidence: e.confidence,
                conflicts: e.conflicts.iter().copied().collect(),
                evidence: u32::try_from(id).expect("tuple ids are u32"),
            })
            .collect();
        attributor.evidence = evidence;
        attributor
    }
}

/// Deduplicates the values of a source and flattens its ranges (most specific wins).
fn index_values<V: Eq + std::hash::Hash + Clone>(ranges: Vec<(u128, u128, V)>) -> (Vec<(u128, u128, u32)>, Vec<V>) {
    let mut ids: HashMap<V, u32> = HashMap::new();
    let mut values = Vec::new();
    let mut indexed = Vec::with_capacity(ranges.len());
    for (first, last, value) in ranges {
        let id = *ids.entry(value.clone()).or_insert_with(|| {
            values.push(value);
            (values.len() - 1) as u32
        });
        indexed.push((first, last, id));
    }
    (table::flatten(indexed), values)
}

/// A set of conflict codes in two bytes, so a [`Verdict`] stays small enough for the
/// verdict table to sit in cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct ConflictSet(u16);

impl ConflictSet {
    const ORDER: [Conflict; 8] = [
        Conflict::SpecialUse,
        Conflict::Overridden,
        Conflict::AsCcMismatch,
        Conflict::RegGeoMismatch,
        Conflict::GeoDbsDisagree,
        Conflict::Moas,
        Conflict::Anycast,
        Conflict::Unrouted,
    ];

    fn bit(c: Conflict) -> u16 {
        let i = ConflictSet::ORDER.iter().position(|o| *o == c).expect("every conflict has a bit");
        1 << i
    }

    pub fn contains(self, c: Conflict) -> bool {
        self.0 & ConflictSet::bit(c) != 0
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// In the order [`Attribution::conflicts`] lists them.
    pub fn iter(self) -> impl Iterator<Item = Conflict> {
        ConflictSet::ORDER.into_iter().filter(move |c| self.contains(*c))
    }
}

impl FromIterator<Conflict> for ConflictSet {
    fn from_iter<I: IntoIterator<Item = Conflict>>(iter: I) -> Self {
        ConflictSet(iter.into_iter().fold(0, |bits, c| bits | ConflictSet::bit(c)))
    }
}

/// What one lookup returns, 16 bytes: the counted country, the registry and location
/// countries, the confidence and the conflicts — the verdict of the whole evidence tuple —
/// plus the tuple's id, which [`Attributor::evidence`] turns into the rest (rules, origin
/// AS, every source's value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub country: Option<CountryCode>,
    pub registry_cc: Option<CountryCode>,
    pub location_cc: Option<CountryCode>,
    pub confidence: Confidence,
    pub conflicts: ConflictSet,
    pub evidence: u32,
}

/// The verdict for one evidence tuple, worked out at build time, with the rules and the
/// values behind it. [`Attributor::attribute`] adds the views themselves.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// The country the report counts the address under.
    pub country: Option<CountryCode>,
    pub country_rule: &'static str,
    pub registry_cc: Option<CountryCode>,
    pub location_cc: Option<CountryCode>,
    /// The first origin AS (routing table, else an ASN database).
    pub asn: Option<u32>,
    pub as_cc: Option<CountryCode>,
    pub conflicts: Vec<Conflict>,
    pub confidence: Confidence,
    pub confidence_rule: &'static str,
    /// One value index per source ([`table::NONE`] where the source is silent).
    values: Box<[u32]>,
}

/// All sources compiled for lookups; cheap to share between threads.
pub struct Attributor {
    policy: Policy,
    sources: Vec<Source>,
    compiled: table::Compiled,
    /// One per evidence tuple, indexed by the table's values: the hot path reads only this.
    verdicts: Vec<Verdict>,
    evidence: Vec<Evidence>,
    as_registry: RangeMap<CountryCode>,
    as_names: HashMap<u32, AsInfo>,
    /// Whether any routing source covers IPv4, IPv6.
    has_routing: [bool; 2],
    names: Vec<String>,
}

/// The views one evidence tuple holds, borrowed from the sources.
struct Views<'a> {
    registry: Option<(&'a Source, &'a Delegation)>,
    routing: Option<(&'a Source, RouteRef<'a>)>,
    geo: Vec<(&'a Source, u32, GeoRef<'a>)>,
    /// The first ASN database's record, which names the AS even where a routing table
    /// gives the origin.
    asn_db: Option<&'a GeoRecord>,
    /// A database marks the network anycast (even where it gives no country).
    anycast: bool,
    special: bool,
    ipv4: bool,
}

enum RouteRef<'a> {
    Table(&'a Route),
    Database(&'a GeoRecord),
}

enum GeoRef<'a> {
    Database(&'a GeoRecord),
    Geofeed(&'a GeofeedEntry),
    Override(&'a OverrideEntry),
}

impl GeoRef<'_> {
    fn kind_cc(&self) -> Option<(GeoKind, CountryCode)> {
        match self {
            GeoRef::Database(r) => r.cc.map(|cc| (GeoKind::Database, cc)),
            GeoRef::Geofeed(g) => g.cc.map(|cc| (GeoKind::Geofeed, cc)),
            GeoRef::Override(o) => Some((GeoKind::Override, o.cc)),
        }
    }
}

impl Attributor {
    /// An attributor with no sources: every answer is "unknown".
    pub fn empty() -> Attributor {
        AttributorBuilder::new(Policy::default()).build()
    }

    /// `kind:name` of every loaded source.
    pub fn sources(&self) -> &[String] {
        &self.names
    }

    /// `(kind:name, dataset version)` of every address source, in lookup order.
    pub fn source_versions(&self) -> Vec<(String, Option<String>)> {
        self.sources
            .iter()
            .filter(|s| !matches!(s.data, Data::Special | Data::Family))
            .map(|s| (format!("{}:{}", s.kind, s.name), s.version.clone()))
            .collect()
    }

    /// Segments in the compiled table (IPv4, IPv6) and distinct evidence tuples.
    pub fn stats(&self) -> (usize, usize, usize) {
        let (v4, v6) = self.compiled.segments();
        (v4, v6, self.evidence.len())
    }

    /// The country an AS is registered in: the RIR's ASN delegation, else the AS names table.
    pub fn as_country(&self, asn: u32) -> Option<CountryCode> {
        self.as_registry
            .get_key(u128::from(asn))
            .copied()
            .filter(|cc| !cc.is_unknown())
            .or_else(|| self.as_names.get(&asn).and_then(|info| info.cc))
    }

    /// The full-evidence lookup: one search in the compiled table, no allocation.
    #[inline]
    pub fn lookup(&self, ip: IpAddr) -> Verdict {
        self.verdicts[self.compiled.tuple_id(ip) as usize]
    }

    /// [`Attributor::lookup`] for many addresses at once: the same answers, faster, as
    /// the memory accesses of neighbouring addresses overlap. `out` is cleared first.
    pub fn lookup_many(&self, ips: &[IpAddr], out: &mut Vec<Verdict>) {
        let mut ids = Vec::with_capacity(ips.len());
        self.compiled.tuple_ids(ips, &mut ids);
        out.clear();
        out.extend(ids.iter().map(|id| self.verdicts[*id as usize]));
    }

    /// The rules and values behind a verdict.
    pub fn evidence(&self, verdict: Verdict) -> &Evidence {
        &self.evidence[verdict.evidence as usize]
    }

    /// Every view of `ip` with its source, dataset version and matched prefix, the
    /// conflicts, the confidence and the counted country.
    pub fn attribute(&self, ip: IpAddr) -> Attribution {
        let evidence = self.evidence(self.lookup(ip));
        let views = self.views(&evidence.values);
        let k = key(ip);
        let registry = views.registry.map(|(source, d)| RegistryView {
            source: source.name.clone(),
            registry: d.registry.clone(),
            cc: d.cc,
            range: d.range.clone(),
            date: d.date.clone(),
            status: d.status.clone(),
            holder: d.holder.clone(),
        });
        let routing = self.routing_view(&views, k);
        let geo = views
            .geo
            .iter()
            .filter_map(|(source, _, g)| {
                let (kind, cc) = g.kind_cc()?;
                let mut view = GeoView {
                    source: source.name.clone(),
                    version: source.version.clone(),
                    cc,
                    registered_cc: None,
                    prefix: String::new(),
                    kind,
                    region: None,
                    city: None,
                    postal: None,
                    org: None,
                    note: None,
                    anycast: false,
                };
                match g {
                    GeoRef::Database(r) => {
                        view.registered_cc = r.registered_cc;
                        view.prefix = source.segment(k).map(|(a, b)| mmdb::cidr(a, b)).unwrap_or_default();
                        view.region = r.region.clone();
                        view.city = r.city.clone();
                        view.postal = r.postal.clone();
                        view.anycast = r.anycast;
                    }
                    GeoRef::Geofeed(e) => {
                        view.prefix = e.prefix.clone();
                        view.region = e.region.clone();
                        view.city = e.city.clone();
                        view.postal = e.postal.clone();
                    }
                    GeoRef::Override(o) => {
                        view.prefix = o.prefix.clone();
                        view.org = o.org.clone();
                        view.note = o.note.clone();
                    }
                }
                Some(view)
            })
            .collect();
        Attribution {
            ip,
            country: evidence.country,
            country_rule: evidence.country_rule.into(),
            registry,
            routing,
            geo,
            conflicts: evidence.conflicts.clone(),
            confidence: evidence.confidence,
            confidence_rule: evidence.confidence_rule.into(),
        }
    }

    /// The routing view: the first routing source's prefix and origins, the AS's name and
    /// country.
    fn routing_view(&self, views: &Views<'_>, k: u128) -> Option<RoutingView> {
        // The AS names table, else an ASN database that names the same AS.
        let as_name = |asn: u32| {
            self.as_names
                .get(&asn)
                .map(|info| info.name.clone())
                .or_else(|| views.asn_db.filter(|r| r.asn == Some(asn)).and_then(|r| r.as_org.clone()))
        };
        views.routing.as_ref().map(|(source, route)| match route {
            RouteRef::Table(r) => {
                let first = r.origins.first().copied();
                RoutingView {
                    source: source.name.clone(),
                    prefix: r.prefix.clone(),
                    origins: r.origins.clone(),
                    as_cc: first.and_then(|asn| self.as_country(asn)),
                    as_name: first.and_then(as_name),
                }
            }
            RouteRef::Database(g) => {
                let asn = g.asn.expect("only records with an ASN are routing views");
                RoutingView {
                    source: source.name.clone(),
                    prefix: source.segment(k).map(|(a, b)| mmdb::cidr(a, b)).unwrap_or_default(),
                    origins: vec![asn],
                    as_cc: self.as_country(asn),
                    as_name: g.as_org.clone().or_else(|| as_name(asn)),
                }
            }
        })
    }

    /// Fills the IntelMQ fields enrichment owns (`geolocation.cc`, `asn`, `as_name`,
    /// `network`) of both ends of an event, where the feed left them empty. The event's
    /// identity is sealed before enrichment, so this never changes its dedupe hash.
    pub fn fill_event(&self, event: &mut Event) {
        self.fill_endpoint(&mut event.source);
        self.fill_endpoint(&mut event.destination);
    }

    pub fn fill_endpoint(&self, endpoint: &mut Endpoint) {
        let Some(ip) = endpoint.ip else { return };
        // Every event goes through here: the verdict and the routing view only, not the
        // whole attribution with every view's strings (several times slower).
        let verdict = self.lookup(ip);
        if endpoint.geolocation_cc.is_none() {
            // The same rule as `Attribution::location_cc`, worked out when the table was built.
            endpoint.geolocation_cc = verdict.location_cc.or(verdict.country);
        }
        let needs_routing = endpoint.asn.is_none() || endpoint.as_name.is_none() || endpoint.network.is_none();
        if !needs_routing {
            return;
        }
        let views = self.views(&self.evidence(verdict).values);
        if let Some(routing) = self.routing_view(&views, key(ip)) {
            if endpoint.asn.is_none() {
                endpoint.asn = routing.origins.first().copied();
            }
            if endpoint.as_name.is_none() {
                endpoint.as_name = routing.as_name;
            }
            if endpoint.network.is_none() && !routing.prefix.is_empty() {
                endpoint.network = Some(routing.prefix);
            }
        }
    }

    fn views<'a>(&'a self, values: &[u32]) -> Views<'a> {
        let mut views = Views {
            registry: None,
            routing: None,
            geo: Vec::new(),
            asn_db: None,
            anycast: false,
            special: false,
            ipv4: false,
        };
        let mut asn_source = None;
        for (source, &v) in self.sources.iter().zip(values) {
            if v == table::NONE {
                continue;
            }
            let i = v as usize;
            match &source.data {
                Data::Registry(d) => {
                    views.registry = views.registry.or(Some((source, &*d[i])));
                }
                Data::Routing(r) => {
                    views.routing = views.routing.or(Some((source, RouteRef::Table(&r[i]))));
                }
                Data::Geo(g) => {
                    let record = &g[i];
                    views.anycast |= record.anycast;
                    if record.asn.is_some() && views.asn_db.is_none() {
                        views.asn_db = Some(record);
                        asn_source = Some(source);
                    }
                    if record.cc.is_some() {
                        views.geo.push((source, v, GeoRef::Database(record)));
                    }
                }
                Data::Geofeed(e) => views.geo.push((source, v, GeoRef::Geofeed(&e[i]))),
                Data::Override(o) => views.geo.push((source, v, GeoRef::Override(&o[i]))),
                Data::Special => views.special = true,
                Data::Family => views.ipv4 = true,
            }
        }
        // A routing table is the better witness of the origin than an ASN database.
        if views.routing.is_none() {
            views.routing = asn_source.zip(views.asn_db).map(|(source, r)| (source, RouteRef::Database(r)));
        }
        views
    }

    fn judge(&self, values: &[u32]) -> Evidence {
        let views = self.views(values);
        let special = views.special;
        let mut conflicts = Vec::new();
        if special {
            conflicts.push(Conflict::SpecialUse);
        }
        let located: Vec<(GeoKind, CountryCode)> = views.geo.iter().filter_map(|(_, _, g)| g.kind_cc()).collect();
        let overridden = located.iter().find(|(k, _)| *k == GeoKind::Override).map(|(_, cc)| *cc);
        if overridden.is_some() {
            conflicts.push(Conflict::Overridden);
        }
        // The RIR view, else a database's `registered_country`.
        let registry_cc = views.registry.map(|(_, d)| d.cc).filter(|cc| !cc.is_unknown()).or_else(|| {
            views.geo.iter().find_map(|(_, _, g)| match g {
                GeoRef::Database(r) => r.registered_cc,
                _ => None,
            })
        });
        let location_cc = vedette_model::location_cc(located.iter().copied());
        let (asn, origins) = match &views.routing {
            Some((_, RouteRef::Table(r))) => (r.origins.first().copied(), r.origins.len()),
            Some((_, RouteRef::Database(g))) => (g.asn, 1),
            None => (None, 0),
        };
        let as_cc = asn.and_then(|asn| self.as_country(asn));
        if let (Some(reg), Some(asc)) = (registry_cc, as_cc) {
            if reg != asc {
                conflicts.push(Conflict::AsCcMismatch);
            }
        }
        if let (Some(reg), Some(loc)) = (registry_cc, location_cc) {
            if reg != loc {
                conflicts.push(Conflict::RegGeoMismatch);
            }
        }
        let mut databases = located.iter().filter(|(k, _)| *k == GeoKind::Database).map(|(_, cc)| *cc);
        if let Some(first) = databases.next() {
            if databases.any(|cc| cc != first) {
                conflicts.push(Conflict::GeoDbsDisagree);
            }
        }
        if origins > 1 {
            conflicts.push(Conflict::Moas);
        }
        let anycast = views.anycast;
        if anycast {
            conflicts.push(Conflict::Anycast);
        }
        let has_routing = self.has_routing[usize::from(!views.ipv4)];
        if has_routing && views.routing.is_none() && !special {
            conflicts.push(Conflict::Unrouted);
        }

        let (country, country_rule) = match (overridden, self.policy, location_cc, registry_cc) {
            (Some(cc), ..) => (Some(cc), "operator override"),
            (None, Policy::LocationFirst, Some(loc), _) => (Some(loc), "location"),
            (None, Policy::LocationFirst, None, Some(reg)) => (Some(reg), "registry (no location view)"),
            (None, Policy::RegistryFirst, _, Some(reg)) => (Some(reg), "registry"),
            (None, Policy::RegistryFirst, Some(loc), None) => (Some(loc), "location (no registry view)"),
            (None, _, None, None) => (as_cc, "origin AS country (no registry or location view)"),
        };
        let (country, country_rule) = if special {
            (None, "special-use address: no country")
        } else if country.is_none() {
            (None, "no view covers this address")
        } else {
            (country, country_rule)
        };

        let view_count = [registry_cc, location_cc, as_cc].iter().flatten().count();
        let disagree = conflicts
            .iter()
            .any(|c| matches!(c, Conflict::AsCcMismatch | Conflict::RegGeoMismatch | Conflict::GeoDbsDisagree));
        let (confidence, confidence_rule) = if special {
            (Confidence::Unknown, "special-use address")
        } else if overridden.is_some() {
            (Confidence::High, "operator override: the CERT's own knowledge")
        } else if view_count == 0 {
            (Confidence::Unknown, "no view covers this address")
        } else if disagree {
            (Confidence::Low, "views disagree on the country")
        } else if anycast {
            (Confidence::Low, "anycast network: one address, many places")
        } else if conflicts.contains(&Conflict::Unrouted) {
            (Confidence::Low, "address is not routed")
        } else if view_count == 1 {
            (Confidence::Medium, "a single view gives the country")
        } else if conflicts.contains(&Conflict::Moas) {
            (Confidence::Medium, "views agree but the prefix has several origin ASes")
        } else {
            (Confidence::High, "independent views agree")
        };
        Evidence {
            country,
            country_rule,
            registry_cc,
            location_cc,
            asn,
            as_cc,
            conflicts,
            confidence,
            confidence_rule,
            values: values.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributor() -> Attributor {
        let mut b = AttributorBuilder::new(Policy::LocationFirst);
        assert!(b
            .add(SourceKind::RirDelegated, "rir", b"apnic|CN|ipv4|36.0.0.0|65536|20100101|allocated|H1\napnic|CN|asn|4134|1|20000101|allocated|H1\napnic|KR|asn|4766|1|20000101|allocated|H2\n")
            .unwrap()
            .is_empty());
        assert!(b
            .add(SourceKind::Pfx2as, "rv", b"36.0.0.0/17\t4134\n36.0.128.0/17\t4766\n36.0.200.0/24\t4134_4766\n")
            .unwrap()
            .is_empty());
        b.build()
    }

    #[test]
    fn a_verdict_fits_in_sixteen_bytes() {
        // Four verdicts per cache line keep the verdict table of a national-scale source
        // set (tens of thousands of tuples) in L2.
        assert!(std::mem::size_of::<Verdict>() <= 16, "{}", std::mem::size_of::<Verdict>());
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

    #[test]
    fn override_and_geofeed_are_location_views() {
        let mut b = AttributorBuilder::new(Policy::RegistryFirst);
        b.add(SourceKind::RirDelegated, "rir", b"apnic|CN|ipv4|36.0.0.0|65536|20100101|allocated|H1\n").unwrap();
        b.add(SourceKind::Geofeed, "isp", b"36.0.8.0/24,SG,SG-01,Singapore,\n").unwrap();
        let rejected = b
            .add(
                SourceKind::Override,
                "ours",
                b"36.0.16.0/20,KR,Example Bank,this range is used by a bank in KR\nnot-a-prefix,KR,,\n",
            )
            .unwrap();
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].line, 2);
        let at = b.build();
        let a = at.attribute("36.0.16.1".parse().unwrap());
        assert_eq!(a.country.unwrap().as_str(), "KR");
        assert_eq!(a.country_rule, "operator override");
        assert_eq!(a.conflicts, vec![Conflict::Overridden, Conflict::RegGeoMismatch]);
        assert_eq!(a.geo[0].note.as_deref(), Some("this range is used by a bank in KR"));
        assert_eq!(a.geo[0].prefix, "36.0.16.0/20");
        assert_eq!(a.registry.as_ref().unwrap().cc.as_str(), "CN");
        let a = at.attribute("36.0.8.9".parse().unwrap());
        assert_eq!(a.country.unwrap().as_str(), "CN", "registry-first counts the registry");
        assert_eq!(a.location_cc().unwrap().as_str(), "SG");
        assert_eq!(a.geo[0].kind, GeoKind::Geofeed);
        assert_eq!(a.geo[0].city.as_deref(), Some("Singapore"));
        assert_eq!(a.conflicts, vec![Conflict::RegGeoMismatch]);
        assert_eq!(a.confidence, Confidence::Low);
    }

    #[test]
    fn fill_event_leaves_feed_values_and_fills_the_rest() {
        let at = attributor();
        let mut e = Event::new("test", "c2-server".parse().unwrap());
        e.source = Endpoint { ip: Some("36.0.1.1".parse().unwrap()), ..Endpoint::default() };
        e.destination = Endpoint { ip: Some("36.0.130.1".parse().unwrap()), asn: Some(1), ..Endpoint::default() };
        at.fill_event(&mut e);
        assert_eq!(e.source.asn, Some(4134));
        assert_eq!(e.source.network.as_deref(), Some("36.0.0.0/17"));
        assert_eq!(e.source.geolocation_cc.unwrap().as_str(), "CN");
        assert_eq!(e.destination.asn, Some(1), "the feed's value is kept");
    }
}
