//! Attribution on real fixtures (tests/data, each folder with its licence): MaxMind's test
//! databases, a real ip-location-db country database, pyasn's RouteViews tables, and the
//! deliberately corrupt MMDBs.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use vedette_enrich::{load, Attributor, Policy, SourceKind, SourceSpec};
use vedette_model::{Confidence, Conflict, Endpoint, GeoKind};

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(path)
}

fn spec(kind: SourceKind, name: &str, path: &str) -> SourceSpec {
    SourceSpec { kind, name: name.into(), path: data(path) }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn loaded(specs: &[SourceSpec]) -> Attributor {
    let loaded = load(Policy::LocationFirst, specs);
    for r in &loaded.reports {
        assert!(r.outcome.is_ok(), "{:?}", r.describe());
    }
    loaded.attributor
}

#[test]
fn city_database_location_differs_from_registered_country() {
    let at = loaded(&[spec(SourceKind::Mmdb, "city", "maxmind/GeoIP2-City-Test.mmdb")]);
    let a = at.attribute(ip("81.2.69.160"));
    let g = &a.geo[0];
    assert_eq!((g.cc.as_str(), g.registered_cc.unwrap().as_str()), ("GB", "US"));
    assert_eq!(g.prefix, "81.2.69.160/27");
    assert_eq!(g.kind, GeoKind::Database);
    assert_eq!(g.city.as_deref(), Some("London"));
    let version = g.version.as_deref().unwrap();
    assert!(version.contains("GeoIP2-City") && version.contains("fake GeoIP2 data"), "{version}");
    assert!(version.starts_with("2026-02-04"), "{version}");
    assert_eq!(a.country.unwrap().as_str(), "GB");
    assert_eq!(a.registry_cc().unwrap().as_str(), "US", "registered_country stands in for the registry");
    assert_eq!(a.conflicts, vec![Conflict::RegGeoMismatch]);
    assert_eq!(a.confidence, Confidence::Low);
    // IPv6 from the same file.
    let a = at.attribute(ip("2001:218::1"));
    assert_eq!(a.geo[0].cc.as_str(), "JP");
    assert_eq!(a.geo[0].prefix, "2001:218::/32");
    assert_eq!(a.confidence, Confidence::High);
}

#[test]
fn country_database_reads_both_countries() {
    let at = loaded(&[spec(SourceKind::Mmdb, "country", "maxmind/GeoIP2-Country-Test.mmdb")]);
    let a = at.attribute(ip("2.125.160.216"));
    assert_eq!((a.geo[0].cc.as_str(), a.geo[0].registered_cc.unwrap().as_str()), ("GB", "FR"));
    assert!(a.conflicts.contains(&Conflict::RegGeoMismatch));
}

#[test]
fn anycast_flag_is_a_conflict() {
    let at = loaded(&[spec(SourceKind::Mmdb, "city", "maxmind/GeoIP2-City-Test.mmdb")]);
    assert!(at.attribute(ip("214.1.1.1")).conflicts.contains(&Conflict::Anycast));
    assert!(at.lookup(ip("214.1.1.200")).conflicts.contains(Conflict::Anycast));
}

#[test]
fn asn_database_is_a_routing_view() {
    let at = loaded(&[spec(SourceKind::Mmdb, "asn", "maxmind/GeoLite2-ASN-Test.mmdb")]);
    let a = at.attribute(ip("1.128.0.0"));
    let r = a.routing.unwrap();
    assert_eq!(r.origins, vec![1221]);
    assert_eq!(r.as_name.as_deref(), Some("Telstra Pty Ltd"));
    assert_eq!(r.prefix, "1.128.0.0/11");
    assert_eq!(r.source, "asn");
    // An ASN database also says what is not routed.
    assert!(at.attribute(ip("8.8.8.8")).conflicts.contains(&Conflict::Unrouted));
}

#[test]
fn unrouted_only_where_a_routing_source_covers_the_family() {
    // The RIB is IPv4 only: an IPv6 address without a route is not called unrouted.
    let at = loaded(&[
        spec(SourceKind::Mrt, "routeviews-2014", "pyasn/rib.20140523.0600_firstMB.bz2"),
        spec(SourceKind::Mmdb, "city", "maxmind/GeoIP2-City-Test.mmdb"),
    ]);
    assert!(!at.attribute(ip("2001:218::1")).conflicts.contains(&Conflict::Unrouted));
    assert!(at.attribute(ip("81.2.69.160")).conflicts.contains(&Conflict::Unrouted));
}

#[test]
fn flat_country_code_and_databases_that_disagree() {
    let at = loaded(&[
        spec(SourceKind::Mmdb, "city", "maxmind/GeoIP2-City-Test.mmdb"),
        spec(SourceKind::Mmdb, "iptoasn", "ip-location-db/iptoasn-country-ipv4.mmdb"),
    ]);
    // Real data: ip-location-db's flat `country_code` layout.
    let a = at.attribute(ip("8.130.1.1"));
    assert_eq!(a.geo.len(), 1);
    assert_eq!(a.geo[0].source, "iptoasn");
    assert_eq!(a.geo[0].cc.as_str(), "CN");
    assert_eq!(a.geo[0].prefix, "8.130.0.0/15");
    assert_eq!(a.geo[0].version.as_deref(), Some("2026-06-17 country ipv4"));
    assert_eq!(a.confidence, Confidence::Medium);
    // MaxMind's fake City data says PH where the real origin-AS country says CN.
    let a = at.attribute(ip("202.196.224.1"));
    let ccs: Vec<&str> = a.geo.iter().map(|g| g.cc.as_str()).collect();
    assert_eq!(ccs, vec!["PH", "CN"]);
    assert!(a.conflicts.contains(&Conflict::GeoDbsDisagree), "{:?}", a.conflicts);
    assert_eq!(a.country.unwrap().as_str(), "PH", "first listed wins a tie");
    assert_eq!(a.confidence, Confidence::Low);
}

#[test]
fn every_record_size_and_layout_loads() {
    for (file, probe) in [
        ("maxmind/MaxMind-DB-test-ipv4-24.mmdb", "1.1.1.1"),
        ("maxmind/MaxMind-DB-test-ipv6-28.mmdb", "::1:ffff:ffff"),
        ("maxmind/MaxMind-DB-test-mixed-32.mmdb", "1.1.1.3"),
        ("maxmind/GeoLite2-Country-Test.mmdb", "2.125.160.216"),
        ("maxmind/GeoIP2-Anonymous-IP-Test.mmdb", "1.2.0.1"),
    ] {
        let at = loaded(&[spec(SourceKind::Mmdb, "t", file)]);
        let (v4, v6, tuples) = at.stats();
        assert!(v4 + v6 > 2 && tuples >= 2, "{file}: {v4} {v6} {tuples}");
        let _ = at.attribute(ip(probe));
    }
}

#[test]
fn corrupt_databases_are_named_errors_and_the_others_still_load() {
    let bad = std::fs::read_dir(data("maxmind/bad-data")).unwrap();
    let mut names: Vec<PathBuf> = bad.map(|e| e.unwrap().path()).collect();
    names.sort();
    assert!(names.len() >= 5);
    for path in names {
        let shown = path.display().to_string();
        let specs = [
            SourceSpec { kind: SourceKind::Mmdb, name: "broken".into(), path },
            spec(SourceKind::Mmdb, "city", "maxmind/GeoIP2-City-Test.mmdb"),
        ];
        let loaded = load(Policy::LocationFirst, &specs);
        let message = loaded.reports[0].describe().expect("a corrupt database is reported");
        assert!(loaded.reports[0].outcome.is_err(), "{shown} loaded");
        assert!(message.contains(&shown) && message.contains("mmdb:broken"), "{message}");
        assert!(message.contains("not a valid MMDB database"), "{message}");
        assert!(loaded.reports[1].outcome.is_ok());
        assert_eq!(loaded.attributor.attribute(ip("81.2.69.160")).geo.len(), 1, "{shown}");
        assert_eq!(loaded.attributor.sources(), ["mmdb:city"]);
    }
}

#[test]
fn routeviews_tables_longest_match() {
    let at = loaded(&[
        spec(SourceKind::Pfx2as, "pyasn-fake", "pyasn/ipasn.fake"),
        spec(SourceKind::Pfx2as, "routeviews-2014", "pyasn/ipasn_20140513.head5000.dat"),
    ]);
    // ipasn.fake nests 1.0.0.0/30 inside 1.0.0.0/24: the longer prefix wins.
    let fake = std::fs::read_to_string(data("pyasn/ipasn.fake")).unwrap();
    assert!(fake.contains("1.0.0.0/30"), "{fake}");
    let a = at.attribute(ip("1.0.0.1"));
    assert_eq!(a.routing.as_ref().unwrap().prefix, "1.0.0.0/30");
    let a = at.attribute(ip("1.0.0.200"));
    assert_eq!(a.routing.as_ref().unwrap().prefix, "1.0.0.0/24");
    assert_eq!(a.routing.unwrap().source, "pyasn-fake");
    // The real table covers what the toy table does not.
    let a = at.attribute(ip("1.0.4.1"));
    let r = a.routing.unwrap();
    assert_eq!(r.source, "routeviews-2014");
    assert!(r.prefix.starts_with("1.0.4.0/"), "{}", r.prefix);
}

#[test]
fn the_fast_lookup_agrees_with_the_full_answer() {
    let at = loaded(&[
        spec(SourceKind::Mmdb, "city", "maxmind/GeoIP2-City-Test.mmdb"),
        spec(SourceKind::Mmdb, "iptoasn", "ip-location-db/iptoasn-country-ipv4.mmdb"),
        spec(SourceKind::Mmdb, "asn", "maxmind/GeoLite2-ASN-Test.mmdb"),
        spec(SourceKind::Pfx2as, "routeviews-2014", "pyasn/ipasn_20140513.head5000.dat"),
    ]);
    let mut x: u32 = 0x1234_5678;
    let mut addrs: Vec<IpAddr> = (0..20_000)
        .map(|_| {
            // xorshift: a fixed, spread-out sample of the IPv4 space
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            IpAddr::V4(x.into())
        })
        .collect();
    addrs.extend(["2001:218::1", "::ffff:81.2.69.160", "::", "10.0.0.1", "81.2.69.160"].map(ip));
    let mut batch = Vec::new();
    at.lookup_many(&addrs, &mut batch);
    for (&addr, batched) in addrs.iter().zip(&batch) {
        let fast = at.lookup(addr);
        assert_eq!(fast, *batched, "{addr}");
        let full = at.attribute(addr);
        assert_eq!(fast.country, full.country, "{addr}");
        assert_eq!(fast.conflicts.iter().collect::<Vec<_>>(), full.conflicts, "{addr}");
        assert_eq!(fast.location_cc, full.location_cc(), "{addr}");
        assert_eq!(fast.registry_cc, full.registry_cc(), "{addr}");
        assert_eq!(fast.confidence, full.confidence, "{addr}");
        assert_eq!(at.evidence(fast).asn, full.asn(), "{addr}");
        // Enrichment takes the fast path; it must fill what the full answer says.
        let mut filled = Endpoint { ip: Some(addr), ..Endpoint::default() };
        at.fill_endpoint(&mut filled);
        let routing = full.routing.as_ref();
        assert_eq!(filled.geolocation_cc, full.location_cc().or(full.country), "{addr}");
        assert_eq!(filled.asn, full.asn(), "{addr}");
        assert_eq!(filled.as_name, routing.and_then(|r| r.as_name.clone()), "{addr}");
        assert_eq!(filled.network, routing.map(|r| r.prefix.clone()).filter(|p| !p.is_empty()), "{addr}");
    }
}

#[test]
fn mrt_rib_dump_gives_moas_routing_views() {
    let at = loaded(&[
        spec(SourceKind::Mrt, "routeviews-2014", "pyasn/rib.20140523.0600_firstMB.bz2"),
        spec(SourceKind::Mmdb, "asn", "maxmind/GeoLite2-ASN-Test.mmdb"),
    ]);
    let versions = at.source_versions();
    assert_eq!(
        versions[0].1.as_deref(),
        Some("2014-05-23 RIB (270005 entries, 9071 prefixes, 63 with several origins)")
    );
    let a = at.attribute(ip("1.2.4.1"));
    let r = a.routing.as_ref().unwrap();
    assert_eq!((r.prefix.as_str(), r.origins.as_slice()), ("1.2.4.0/24", &[24151, 24409][..]));
    assert_eq!(r.source, "routeviews-2014", "a routing table is preferred to an ASN database");
    assert!(a.conflicts.contains(&Conflict::Moas));
    // The ASN database still names the AS where it agrees on the origin.
    let a = at.attribute(ip("1.128.0.1"));
    let r = a.routing.unwrap();
    assert_eq!(r.source, "routeviews-2014");
    assert_eq!(r.origins, vec![1221]);
    assert_eq!(r.as_name.as_deref(), Some("Telstra Pty Ltd"));
}

#[test]
fn mrt_dump_without_peer_table_is_left_out_with_a_reason() {
    let loaded = load(Policy::LocationFirst, &[spec(SourceKind::Mrt, "ris", "pyasn/bview.20140112.1600_3samples.bz2")]);
    let line = loaded.reports[0].describe().unwrap();
    assert!(line.contains("mrt:ris") && line.contains("no RIB entry could be read"), "{line}");
}
