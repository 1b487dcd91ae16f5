//! Properties over arbitrary names: matching a name against listed domains, cutting it
//! at its registered domain and judging its lookups never panic, and what they return
//! holds together.

use proptest::prelude::*;
use vedette_detect::{DnsBehaviour, DnsConfig, DomainSet, Home, IndicatorMatcher, IndicatorSet, PublicSuffixList};
use vedette_model::{normalise_name, ClassificationType, DnsLookup, Event, HttpRequest, Observation, TlsHello};

/// Names as DNS carries them, mostly: labels of letters, digits, hyphens, with public
/// suffixes among the labels; and some arbitrary text.
fn name() -> impl Strategy<Value = String> {
    let label = prop_oneof![
        "[a-z0-9-]{1,12}",
        Just("com".to_string()),
        Just("co".to_string()),
        Just("uk".to_string()),
        Just("duckdns".to_string()),
        Just("org".to_string()),
        Just("ck".to_string()),
        Just("www".to_string()),
        Just("".to_string()),
    ];
    prop_oneof![
        4 => proptest::collection::vec(label, 1..6).prop_map(|labels| labels.join(".")),
        1 => any::<String>(),
        1 => "[a-zA-Z0-9.\\-_\u{e9}\u{4e2d}]{0,40}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn a_registered_domain_ends_the_name_and_holds_its_suffix(raw in name()) {
        let name = normalise_name(&raw);
        if let Some(parts) = PublicSuffixList::builtin().parts(&name) {
            prop_assert!(name.ends_with(parts.registered));
            prop_assert!(name.len() == parts.registered.len() || name[..name.len() - parts.registered.len()].ends_with('.'));
            prop_assert!(parts.registered.ends_with(parts.suffix));
            prop_assert_eq!(parts.registered, format!("{}.{}", parts.label(), parts.suffix));
            prop_assert!(!parts.label().is_empty() && !parts.label().contains('.'));
        }
        let _ = PublicSuffixList::builtin().registered_domain(&raw);
    }

    #[test]
    fn a_name_matches_a_listed_domain_only_as_itself_or_below_it(listed in proptest::collection::vec(name(), 1..6), raw in name()) {
        let mut set = DomainSet::default();
        for l in &listed {
            let l = normalise_name(l);
            if !l.is_empty() {
                set.insert_listed(&l, || ());
            }
        }
        let name = normalise_name(&raw);
        if let Some((domain, _)) = set.find(&name) {
            let below = format!(".{domain}");
            prop_assert!(&*name == domain || name.ends_with(&below));
            // A listed public suffix matches only itself.
            if &*name != domain {
                prop_assert!(PublicSuffixList::builtin().parts(domain).is_some());
            }
        }
        // A subdomain of a listed registrable domain always matches.
        for l in &listed {
            let l = normalise_name(l);
            if PublicSuffixList::builtin().parts(&l).is_some() {
                let child = format!("x1.{l}");
                prop_assert!(set.find(&child).is_some());
            }
        }
    }

    #[test]
    fn indicators_and_lookups_of_any_name_never_panic(fqdn in name(), url in name(), query in name(), host in name(), uri in name(), rcode in 0u8..6) {
        let mut c2 = Event::new("feed", ClassificationType::C2Server);
        c2.source.fqdn = Some(fqdn);
        c2.source.url = Some(format!("http://{url}"));
        let mut other = Event::new("feed", ClassificationType::C2Server);
        other.source.url = Some(url.clone());
        let home = Home::new(None, &["10.0.0.0/8"]).unwrap();
        let mut matcher = IndicatorMatcher::new(IndicatorSet::from_events([&c2, &other]), home.clone());
        let mut dns = DnsBehaviour::new(DnsConfig::default(), home);
        let mut lookup = DnsLookup::new(1_000_000, "10.0.0.1".parse().unwrap(), &query);
        lookup.rcode = Some(rcode);
        lookup.answers = vec!["198.51.100.1".parse().unwrap()];
        dns.observe(&lookup);
        matcher.observe_observation(&Observation::Dns(lookup));
        matcher.observe_observation(&Observation::Http(HttpRequest {
            time_us: 1,
            src: "10.0.0.1".parse().unwrap(),
            src_port: 1,
            dst: "198.51.100.2".parse().unwrap(),
            dst_port: 80,
            host: normalise_name(&host),
            uri: uri.into(),
            method: None,
            user_agent: None,
        }));
        matcher.observe_observation(&Observation::Tls(TlsHello {
            time_us: 1,
            src: "10.0.0.1".parse().unwrap(),
            src_port: 1,
            dst: "198.51.100.3".parse().unwrap(),
            dst_port: 443,
            sni: Some(normalise_name(&host)),
            ja3: None,
            cert_sha1: None,
        }));
        let found = matcher.finish();
        let _ = found.findings().count();
        let _ = dns.finish();
    }
}
