//! Detection: telemetry and stored indicators in, [`Finding`]s and C2→victim links out.
//!
//! [`Finding`]: vedette_model::Finding
//! [`C2Contact`]: vedette_model::C2Contact
//!
//! [`TelemetryDetector`] puts every detector behind two calls, `observe(&Flow)` and
//! `observe_observation(&Observation)`; `finish()` gives everything found (`flush()`
//! what was found so far, for a collector that writes as it runs):
//!
//! - **Indicator matching** ([`IndicatorSet`], [`IndicatorMatcher`]). Every C2 address,
//!   domain, URL, TLS certificate and JA3 fingerprint the feeds list is compiled into
//!   sets matched at line rate: flows by address (one hash lookup per address), DNS
//!   lookups by name (the name or a parent is listed; a listed public suffix matches only
//!   itself), HTTP requests by host or URL, TLS hellos by SNI or certificate. A home host
//!   that reaches a listed C2 becomes a confirmed `infected_host`, the C2 a confirmed
//!   `c2_server`, with a daily [`C2Contact`] counter between them. A listed name's
//!   answers teach its addresses for later flows, unless they turn out to serve other
//!   names as well (a CDN). Sinkhole hits name home bots with their family; a listed JA3
//!   makes a candidate only. Stored `infected-system` reports about home hosts
//!   (Shadowserver) become findings through [`ReportedInfections`].
//! - **Beaconing** ([`BeaconTracker`]): pairs that call at a steady rhythm, per
//!   (source, address, port) and per (source, name) from HTTP hosts and TLS SNI, scored
//!   in RITA's spirit; destinations several home hosts beacon to are candidate C2s.
//! - **DNS** ([`DnsBehaviour`]): C2 over DNS (many unique random subdomains of one
//!   domain, asked by few hosts) as `dns_tunnel` findings, and hosts walking a domain
//!   generation algorithm's names (the [`DgaModel`] trigram scorer, NXDOMAIN answers) as
//!   candidate `infected_host`s with their `dga_domain`s.
//!
//! ```
//! use vedette_detect::{BeaconConfig, Home, IndicatorSet, TelemetryDetector};
//! use vedette_model::{rcode, ClassificationType, DnsLookup, Event, Flow, Observation, Transport};
//!
//! let mut c2 = Event::new("abusech-threatfox", ClassificationType::C2Server);
//! c2.source.fqdn = Some("bad-c2.example.net".into());
//! c2.malware_name = Some("qakbot".into());
//! let home = Home::new(None, &["10.0.0.0/8"]).unwrap();
//! let mut detector = TelemetryDetector::new(IndicatorSet::from_events([&c2]), home, BeaconConfig::default());
//!
//! // A home host resolves the listed name, then connects to the address it got.
//! let mut lookup = DnsLookup::new(1_357_000_000_000_000, "10.1.1.1".parse().unwrap(), "api.bad-c2.example.net");
//! lookup.rcode = Some(rcode::NOERROR);
//! lookup.answers = vec!["198.51.100.4".parse().unwrap()];
//! detector.observe_observation(&Observation::Dns(lookup));
//! detector.observe(&Flow { start_us: 1_357_000_001_000_000, duration_us: 0,
//!     src: "10.1.1.1".parse().unwrap(), src_port: 50000, dst: "198.51.100.4".parse().unwrap(),
//!     dst_port: 443, transport: Transport::TCP, bytes_out: 300, bytes_in: 900, packets: 6 });
//!
//! let (found, behaviour) = detector.finish();
//! let c2 = found.c2_servers().next().unwrap();
//! assert_eq!(c2.subject, "198.51.100.4");
//! assert!(c2.reason.starts_with("serves domain bad-c2.example.net, listed by abusech-threatfox as a qakbot C2"));
//! assert_eq!(found.victims.len(), 1);
//! assert_eq!(found.contacts[0].flows, 2); // the lookup and the flow
//! assert!(behaviour.is_empty()); // no beacon, tunnel or DGA in two records
//! ```

mod address_filter;
mod beacon;
mod dga;
mod dns;
mod domains;
mod home;
mod indicators;
mod links;
mod psl;
mod reports;
mod suspects;
mod telemetry;

pub use beacon::{Beacon, BeaconConfig, BeaconScore, BeaconTracker, KNOWN_GOOD_NAMES};
pub use dga::{auc, is_held_out, DgaModel, DgaScore};
pub use dns::{DnsBehaviour, DnsConfig, DnsFindings, KNOWN_GOOD_DNS};
pub use domains::DomainSet;
pub use home::Home;
pub use indicators::{Detections, Indicator, IndicatorKind, IndicatorMatcher, IndicatorSet, Victim};
pub use psl::{Parts, PublicSuffixList};
pub use reports::{infected_hosts_from_events, ReportedInfections};
pub use suspects::{Signal, Suspect};
pub use telemetry::TelemetryDetector;
