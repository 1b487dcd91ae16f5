//! Detection: telemetry and stored indicators in, [`Finding`]s and C2→victim links out.
//!
//! Two detectors so far. Indicator matching: every C2 address the feeds list is compiled
//! into a set, every flow is checked against it, and a home host that reaches a listed
//! C2 (or is reached by one) becomes an `infected_host`, the C2 a `c2_server` confirmed
//! by traffic, with a daily [`C2Contact`] counter between them. Beaconing
//! ([`BeaconTracker`]): pairs that call at a steady rhythm, scored in RITA's spirit, with
//! destinations that several home hosts beacon to as candidate C2 servers.
//!
//! ```
//! use vedette_detect::{Home, IndicatorMatcher, IndicatorSet};
//! use vedette_model::{ClassificationType, Event, Flow, Transport};
//!
//! let mut c2 = Event::new("abusech-feodo", ClassificationType::C2Server);
//! c2.source.ip = Some("198.51.100.4".parse().unwrap());
//! let indicators = IndicatorSet::from_events([&c2]);
//! let home = Home::new(None, &["10.0.0.0/8"]).unwrap();
//! let mut matcher = IndicatorMatcher::new(indicators, home);
//! matcher.observe(&Flow { start_us: 1_357_000_000_000_000, duration_us: 0,
//!     src: "10.1.1.1".parse().unwrap(), src_port: 50000, dst: "198.51.100.4".parse().unwrap(),
//!     dst_port: 443, transport: Transport::TCP, bytes_out: 300, bytes_in: 900, packets: 6 });
//! let found = matcher.finish();
//! assert_eq!(found.c2_servers().count(), 1);
//! assert_eq!(found.contacts.len(), 1);
//! ```

mod beacon;
mod dga;
mod home;
mod indicators;
mod psl;
mod telemetry;

pub use beacon::{Beacon, BeaconConfig, BeaconScore, BeaconTracker};
pub use dga::{auc, DgaModel, DgaScore};
pub use home::Home;
pub use indicators::{Detections, Indicator, IndicatorMatcher, IndicatorSet, Victim};
pub use psl::PublicSuffixList;
pub use telemetry::TelemetryDetector;
