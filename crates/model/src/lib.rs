//! The vocabulary every Vedette stage speaks: [`Event`], [`Flow`], [`Finding`],
//! [`Attribution`] and [`Rejected`]. No I/O happens here.
//!
//! Events use IntelMQ's field names and taxonomy so that CERT staff and IntelMQ users
//! recognise them, but they are typed: an address is an [`std::net::IpAddr`], an ASN a `u32`.
//!
//! ```
//! use vedette_model::{Event, ClassificationType};
//!
//! let mut event = Event::new("abusech-feodo", ClassificationType::C2Server);
//! event.source.ip = Some("192.0.2.7".parse().unwrap());
//! event.malware_name = Some("emotet".into());
//! let flat = event.to_intelmq();
//! assert_eq!(flat["classification.taxonomy"], "malicious-code");
//! assert_eq!(flat["source.ip"], "192.0.2.7");
//! let back = vedette_model::Event::from_intelmq(&flat).unwrap();
//! assert_eq!(back, event);
//! ```

mod attribution;
mod country;
mod event;
pub mod fast_hash;
mod finding;
mod flat_json;
mod flow;
mod intelmq;
mod observation;
mod period;
pub mod ranges;
mod rejected;
mod taxonomy;

pub use attribution::{location_cc, Attribution, Confidence, Conflict, GeoKind, GeoView, RegistryView, RoutingView};
pub use country::{CountryCode, InvalidCountryCode};
pub use event::{Endpoint, Event, EventHash, Feed};
pub use finding::{C2Contact, Finding, FindingKind};
pub use flat_json::{first_special, is_whole_micros, FlatJson};
pub use flow::{Flow, Transport};
pub use intelmq::IntelMqError;
pub use observation::{normalise_name, rcode, DnsLookup, HttpRequest, Observation, PassiveDns, SinkholeHit, TlsHello};
pub use period::{C2Activity, C2Scope, DailyActivity, GroupActivity, Period, VictimActivity};
pub use ranges::RangeMap;
pub use rejected::Rejected;
pub use taxonomy::{ClassificationType, Taxonomy, UnknownClassification};
