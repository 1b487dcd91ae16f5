use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::{ClassificationType, CountryCode, FlatJson, Taxonomy};

thread_local! {
    /// The identity's bytes, written anew for every event hashed on this thread.
    static IDENTITY_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Where an event came from: IntelMQ's `feed.*` fields. Every event of a feed shares one
/// (`Event::feed` is an `Arc`): a clone is one counter, not a copy of five strings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Feed {
    pub name: Arc<str>,
    pub provider: Option<Arc<str>>,
    pub accuracy: Option<f64>,
    pub url: Option<Arc<str>>,
    pub documentation: Option<Arc<str>>,
    pub code: Option<Arc<str>>,
}

/// One end of an observation: IntelMQ's `source.*` or `destination.*` fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoint {
    pub ip: Option<IpAddr>,
    pub port: Option<u16>,
    /// The network the address belongs to, in CIDR notation, as the feed or routing gave it.
    pub network: Option<String>,
    pub asn: Option<u32>,
    pub as_name: Option<String>,
    pub fqdn: Option<String>,
    pub url: Option<String>,
    pub reverse_dns: Option<String>,
    pub registry: Option<String>,
    pub abuse_contact: Option<String>,
    pub geolocation_cc: Option<CountryCode>,
    pub geolocation_country: Option<String>,
    pub geolocation_region: Option<String>,
    pub geolocation_city: Option<String>,
    pub geolocation_latitude: Option<f64>,
    pub geolocation_longitude: Option<f64>,
}

impl Endpoint {
    pub fn is_empty(&self) -> bool {
        *self == Endpoint::default()
    }
}

/// One observation about one network entity, normalised from any source.
///
/// Fields follow IntelMQ's data format; [`Event::to_intelmq`] and
/// [`Event::from_intelmq`] convert to and from its flat dotted-key JSON. The taxonomy is
/// not stored: it follows from the type, as IntelMQ's taxonomy expert sets it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Shared by the feed's events; change it with `Arc::make_mut`.
    pub feed: Arc<Feed>,
    pub time_source: Option<DateTime<Utc>>,
    pub time_observation: Option<DateTime<Utc>>,
    pub classification_type: ClassificationType,
    pub classification_identifier: Option<String>,
    pub source: Endpoint,
    pub destination: Endpoint,
    pub malware_name: Option<String>,
    pub malware_version: Option<String>,
    pub malware_hash_md5: Option<String>,
    pub malware_hash_sha1: Option<String>,
    pub malware_hash_sha256: Option<String>,
    pub protocol_transport: Option<String>,
    pub protocol_application: Option<String>,
    pub event_description_text: Option<String>,
    pub event_description_url: Option<String>,
    pub status: Option<String>,
    pub comment: Option<String>,
    pub tlp: Option<String>,
    /// Free-form details, serialised as `extra.<key>`. The keys are shared (`Arc<str>`):
    /// a feed's column names are the same on every row, and a report with fifteen
    /// `extra.*` columns would otherwise allocate fifteen key strings per event.
    pub extra: BTreeMap<Arc<str>, Value>,
    /// IntelMQ fields Vedette does not type (`misp.*`, `rtir_id`, `product.*`, …), kept
    /// exactly as they came so nothing a partner sends is lost.
    pub other: BTreeMap<String, Value>,
    /// The original record, kept as evidence (base64 in IntelMQ's JSON).
    pub raw: Option<String>,
    /// The fingerprint taken when the event was parsed ([`Event::seal`]), so enrichment
    /// added later does not change the event's identity (IntelMQ's `event_hash`).
    pub sealed_hash: Option<EventHash>,
}

/// A stable 128-bit fingerprint of an event, used to store each observation once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventHash(pub [u8; 16]);

impl EventHash {
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn from_hex(text: &str) -> Option<EventHash> {
        if text.len() != 32 || !text.is_ascii() {
            return None;
        }
        let mut bytes = [0u8; 16];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(EventHash(bytes))
    }
}

impl Event {
    /// An event with only its feed's name and its type set.
    pub fn new(feed_name: &str, classification_type: ClassificationType) -> Event {
        Event::of_feed(Feed { name: feed_name.into(), ..Feed::default() }, classification_type)
    }

    /// An event with only its feed (its `feed.*` fields, shared) and its type set.
    pub fn of_feed(feed: impl Into<Arc<Feed>>, classification_type: ClassificationType) -> Event {
        Event {
            feed: feed.into(),
            time_source: None,
            time_observation: None,
            classification_type,
            classification_identifier: None,
            source: Endpoint::default(),
            destination: Endpoint::default(),
            malware_name: None,
            malware_version: None,
            malware_hash_md5: None,
            malware_hash_sha1: None,
            malware_hash_sha256: None,
            protocol_transport: None,
            protocol_application: None,
            event_description_text: None,
            event_description_url: None,
            status: None,
            comment: None,
            tlp: None,
            extra: BTreeMap::new(),
            other: BTreeMap::new(),
            raw: None,
            sealed_hash: None,
        }
    }

    /// Fixes the event's identity as it is now, before enrichment adds to it.
    pub fn seal(&mut self) {
        self.sealed_hash = None;
        self.sealed_hash = Some(self.hash());
    }

    pub fn taxonomy(&self) -> Taxonomy {
        self.classification_type.taxonomy()
    }

    /// The event's identity: the sealed fingerprint if [`Event::seal`] was called, else
    /// the one IntelMQ's deduplicator would take — every field but `raw`,
    /// `time.observation` and `event_hash` — so the same observation read twice (or from a
    /// re-fetched file) hashes the same. Keys are sorted, so field order does not matter.
    pub fn hash(&self) -> EventHash {
        if let Some(sealed) = self.sealed_hash {
            return sealed;
        }
        IDENTITY_BUFFER.with(|buffer| {
            let mut canonical = buffer.borrow_mut();
            canonical.clear();
            self.write_flat_json(&mut canonical, FlatJson::Identity);
            EventHash(xxhash_rust::xxh3::xxh3_128(&canonical).to_be_bytes())
        })
    }
}
