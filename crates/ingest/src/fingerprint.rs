//! An event's identity, computed fast: the same 128-bit value as
//! [`vedette_model::Event::hash`] — xxh3 over the event's IntelMQ flat JSON without
//! `raw`, `time.observation` and `event_hash`, keys sorted — but written straight into a
//! reused buffer instead of building a JSON map of owned strings first.
//!
//! Building that map was half of the time it took to read a feed (profiled on the
//! Shadowserver benchmark file), and every stored event needs its identity. The bytes
//! hashed are identical, so events fingerprinted here and events hashed by the model are
//! the same observation to the store; `fingerprint_matches_the_model_hash` checks it on
//! every golden fixture.
//!
//! ```
//! use vedette_ingest::fingerprint;
//! use vedette_model::{ClassificationType, Event};
//!
//! let mut event = Event::new("abusech-feodo", ClassificationType::C2Server);
//! event.source.ip = Some("192.0.2.7".parse().unwrap());
//! assert_eq!(fingerprint(&event), event.hash());
//! ```

use std::cell::RefCell;
use std::io::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use vedette_model::{Endpoint, Event, EventHash};

/// One value of the flat form, borrowed from the event.
enum Flat<'a> {
    Str(&'a str),
    Owned(String),
    Int(u64),
    Float(f64),
    Json(&'a Value),
}

struct Fields<'a> {
    items: Vec<(std::borrow::Cow<'a, str>, Flat<'a>)>,
}

impl<'a> Fields<'a> {
    fn str(&mut self, key: &'static str, value: &'a Option<String>) {
        if let Some(v) = value {
            self.items.push((key.into(), Flat::Str(v)));
        }
    }
    fn display(&mut self, key: &'static str, value: Option<impl ToString>) {
        if let Some(v) = value {
            self.items.push((key.into(), Flat::Owned(v.to_string())));
        }
    }
    fn time(&mut self, key: &'static str, value: &Option<DateTime<Utc>>) {
        if let Some(t) = value {
            self.items.push((key.into(), Flat::Owned(t.to_rfc3339_opts(SecondsFormat::AutoSi, false))));
        }
    }
    fn endpoint(&mut self, keys: &EndpointKeys, e: &'a Endpoint) {
        self.display(keys.ip, e.ip);
        if let Some(p) = e.port {
            self.items.push((keys.port.into(), Flat::Int(u64::from(p))));
        }
        self.str(keys.network, &e.network);
        if let Some(a) = e.asn {
            self.items.push((keys.asn.into(), Flat::Int(u64::from(a))));
        }
        self.str(keys.as_name, &e.as_name);
        self.str(keys.fqdn, &e.fqdn);
        self.str(keys.url, &e.url);
        self.str(keys.reverse_dns, &e.reverse_dns);
        self.str(keys.registry, &e.registry);
        self.str(keys.abuse_contact, &e.abuse_contact);
        self.display(keys.cc, e.geolocation_cc);
        self.str(keys.country, &e.geolocation_country);
        self.str(keys.region, &e.geolocation_region);
        self.str(keys.city, &e.geolocation_city);
        if let Some(v) = e.geolocation_latitude {
            self.items.push((keys.latitude.into(), Flat::Float(v)));
        }
        if let Some(v) = e.geolocation_longitude {
            self.items.push((keys.longitude.into(), Flat::Float(v)));
        }
    }
}

struct EndpointKeys {
    ip: &'static str,
    port: &'static str,
    network: &'static str,
    asn: &'static str,
    as_name: &'static str,
    fqdn: &'static str,
    url: &'static str,
    reverse_dns: &'static str,
    registry: &'static str,
    abuse_contact: &'static str,
    cc: &'static str,
    country: &'static str,
    region: &'static str,
    city: &'static str,
    latitude: &'static str,
    longitude: &'static str,
}

macro_rules! endpoint_keys {
    ($p:literal) => {
        EndpointKeys {
            ip: concat!($p, ".ip"),
            port: concat!($p, ".port"),
            network: concat!($p, ".network"),
            asn: concat!($p, ".asn"),
            as_name: concat!($p, ".as_name"),
            fqdn: concat!($p, ".fqdn"),
            url: concat!($p, ".url"),
            reverse_dns: concat!($p, ".reverse_dns"),
            registry: concat!($p, ".registry"),
            abuse_contact: concat!($p, ".abuse_contact"),
            cc: concat!($p, ".geolocation.cc"),
            country: concat!($p, ".geolocation.country"),
            region: concat!($p, ".geolocation.region"),
            city: concat!($p, ".geolocation.city"),
            latitude: concat!($p, ".geolocation.latitude"),
            longitude: concat!($p, ".geolocation.longitude"),
        }
    };
}

const SOURCE: EndpointKeys = endpoint_keys!("source");
const DESTINATION: EndpointKeys = endpoint_keys!("destination");

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The event's identity; equal to [`Event::hash`] for the same event.
pub fn fingerprint(event: &Event) -> EventHash {
    if let Some(sealed) = event.sealed_hash {
        return sealed;
    }
    if event.other.is_empty() {
        return BUFFER.with(|buffer| {
            let mut out = buffer.borrow_mut();
            out.clear();
            write_sorted(&mut out, event);
            EventHash(xxhash_rust::xxh3::xxh3_128(&out).to_be_bytes())
        });
    }
    general(event)
}

/// Writes the flat JSON with the keys in the order a sorted map holds them. Without
/// `other` fields every key is one of a fixed set, so the order is known in advance;
/// `extra.*` keys (already sorted in their map) sit between `event_description.url` and
/// `feed.accuracy`.
fn write_sorted(out: &mut Vec<u8>, e: &Event) {
    let mut w = Sorted { out, first: true };
    w.str("classification.identifier", &e.classification_identifier);
    w.text("classification.taxonomy", e.taxonomy().as_str());
    w.text("classification.type", e.classification_type.as_str());
    w.str("comment", &e.comment);
    w.endpoint(&DESTINATION, &e.destination);
    w.str("event_description.text", &e.event_description_text);
    w.str("event_description.url", &e.event_description_url);
    for (key, value) in &e.extra {
        w.key_parts("extra.", key);
        write_json(w.out, value);
    }
    w.float("feed.accuracy", e.feed.accuracy);
    w.str("feed.code", &e.feed.code);
    w.str("feed.documentation", &e.feed.documentation);
    w.text("feed.name", &e.feed.name);
    w.str("feed.provider", &e.feed.provider);
    w.str("feed.url", &e.feed.url);
    w.str("malware.hash.md5", &e.malware_hash_md5);
    w.str("malware.hash.sha1", &e.malware_hash_sha1);
    w.str("malware.hash.sha256", &e.malware_hash_sha256);
    w.str("malware.name", &e.malware_name);
    w.str("malware.version", &e.malware_version);
    w.str("protocol.application", &e.protocol_application);
    w.str("protocol.transport", &e.protocol_transport);
    w.endpoint(&SOURCE, &e.source);
    w.str("status", &e.status);
    if let Some(t) = &e.time_source {
        w.key_parts("time.source", "");
        write_time(w.out, t);
    }
    w.str("tlp", &e.tlp);
    w.out.push(b'}');
}

struct Sorted<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl Sorted<'_> {
    fn key_parts(&mut self, a: &str, b: &str) {
        self.out.push(if self.first { b'{' } else { b',' });
        self.first = false;
        if b.is_empty() {
            write_str(self.out, a);
        } else if !needs_escape(b) {
            self.out.push(b'"');
            self.out.extend_from_slice(a.as_bytes());
            self.out.extend_from_slice(b.as_bytes());
            self.out.push(b'"');
        } else {
            write_json(self.out, &format!("{a}{b}"));
        }
        self.out.push(b':');
    }
    fn text(&mut self, key: &str, value: &str) {
        self.key_parts(key, "");
        write_str(self.out, value);
    }
    fn str(&mut self, key: &str, value: &Option<String>) {
        if let Some(v) = value {
            self.text(key, v);
        }
    }
    fn int(&mut self, key: &str, value: Option<u32>) {
        if let Some(v) = value {
            self.key_parts(key, "");
            let _ = write!(self.out, "{v}");
        }
    }
    fn float(&mut self, key: &str, value: Option<f64>) {
        if let Some(v) = value {
            self.key_parts(key, "");
            write_json(self.out, &Value::from(v));
        }
    }
    fn endpoint(&mut self, k: &EndpointKeys, e: &Endpoint) {
        self.str(k.abuse_contact, &e.abuse_contact);
        self.str(k.as_name, &e.as_name);
        self.int(k.asn, e.asn);
        self.str(k.fqdn, &e.fqdn);
        if let Some(cc) = e.geolocation_cc {
            self.text(k.cc, cc.as_str());
        }
        self.str(k.city, &e.geolocation_city);
        self.str(k.country, &e.geolocation_country);
        self.float(k.latitude, e.geolocation_latitude);
        self.float(k.longitude, e.geolocation_longitude);
        self.str(k.region, &e.geolocation_region);
        if let Some(ip) = e.ip {
            self.key_parts(k.ip, "");
            let _ = write!(self.out, "\"{ip}\"");
        }
        self.str(k.network, &e.network);
        self.int(k.port, e.port.map(u32::from));
        self.str(k.registry, &e.registry);
        self.str(k.reverse_dns, &e.reverse_dns);
        self.str(k.url, &e.url);
    }
}

/// A UTC time as the model writes it (`2013-01-05T10:00:00+00:00`, a fraction only when
/// there is one); whole seconds without chrono's formatter.
fn write_time(out: &mut Vec<u8>, t: &DateTime<Utc>) {
    use chrono::{Datelike, Timelike};
    let year = t.year();
    if t.nanosecond() != 0 || !(0..=9999).contains(&year) {
        write_str(out, &t.to_rfc3339_opts(SecondsFormat::AutoSi, false));
        return;
    }
    let _ = write!(
        out,
        "\"{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00\"",
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
}

/// Any event, `other` fields included: collect, sort, write.
fn general(event: &Event) -> EventHash {
    let mut f = Fields { items: Vec::with_capacity(24 + event.extra.len() + event.other.len()) };
    f.items.push(("feed.name".into(), Flat::Str(&event.feed.name)));
    f.str("feed.provider", &event.feed.provider);
    if let Some(a) = event.feed.accuracy {
        f.items.push(("feed.accuracy".into(), Flat::Float(a)));
    }
    f.str("feed.url", &event.feed.url);
    f.str("feed.documentation", &event.feed.documentation);
    f.str("feed.code", &event.feed.code);
    f.time("time.source", &event.time_source);
    f.items.push(("classification.taxonomy".into(), Flat::Str(event.taxonomy().as_str())));
    f.items.push(("classification.type".into(), Flat::Str(event.classification_type.as_str())));
    f.str("classification.identifier", &event.classification_identifier);
    f.endpoint(&SOURCE, &event.source);
    f.endpoint(&DESTINATION, &event.destination);
    f.str("malware.name", &event.malware_name);
    f.str("malware.version", &event.malware_version);
    f.str("malware.hash.md5", &event.malware_hash_md5);
    f.str("malware.hash.sha1", &event.malware_hash_sha1);
    f.str("malware.hash.sha256", &event.malware_hash_sha256);
    f.str("protocol.transport", &event.protocol_transport);
    f.str("protocol.application", &event.protocol_application);
    f.str("event_description.text", &event.event_description_text);
    f.str("event_description.url", &event.event_description_url);
    f.str("status", &event.status);
    f.str("comment", &event.comment);
    f.str("tlp", &event.tlp);
    for (key, value) in &event.extra {
        f.items.push((format!("extra.{key}").into(), Flat::Json(value)));
    }
    for (key, value) in &event.other {
        f.items.push((key.as_str().into(), Flat::Json(value)));
    }
    // `other` may hold any key, so the order is found by sorting.
    // The model's map drops these three before hashing; a later insert of the same key
    // replaces an earlier one, so the last of equal keys is kept.
    f.items.retain(|(k, _)| !matches!(k.as_ref(), "raw" | "time.observation" | "event_hash"));
    f.items.sort_by(|a, b| a.0.cmp(&b.0));
    let mut kept: Vec<&(std::borrow::Cow<'_, str>, Flat<'_>)> = Vec::with_capacity(f.items.len());
    for item in &f.items {
        match kept.last_mut() {
            Some(last) if last.0 == item.0 => *last = item,
            _ => kept.push(item),
        }
    }
    BUFFER.with(|buffer| {
        let mut out = buffer.borrow_mut();
        out.clear();
        out.push(b'{');
        for (i, (key, value)) in kept.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(&mut out, key.as_ref());
            out.push(b':');
            match value {
                Flat::Str(s) => write_str(&mut out, s),
                Flat::Owned(s) => write_str(&mut out, s),
                Flat::Int(n) => {
                    let _ = write!(out, "{n}");
                }
                // As the model's map holds it: a non-finite number becomes `null`.
                Flat::Float(x) => write_json(&mut out, &Value::from(*x)),
                Flat::Json(v) => write_json(&mut out, v),
            }
        }
        out.push(b'}');
        EventHash(xxhash_rust::xxh3::xxh3_128(&out).to_be_bytes())
    })
}

/// A JSON string; text that needs no escaping (nearly all of it) is copied as it is,
/// anything else goes through serde_json so the bytes stay the same.
fn write_str(out: &mut Vec<u8>, s: &str) {
    if !needs_escape(s) {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        write_json(out, s);
    }
}

/// Whether JSON needs an escape in `s`; without an early exit, so it vectorises.
fn needs_escape(s: &str) -> bool {
    s.bytes().fold(false, |acc, b| acc | (b < 0x20) | (b == b'"') | (b == b'\\'))
}

/// Writes a string or a JSON value exactly as serde_json's compact writer does.
fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing into a Vec cannot fail, and strings and JSON values always serialise.
    let result = serde_json::to_writer(&mut *out, value);
    debug_assert!(result.is_ok());
}

/// Seals an event with [`fingerprint`]: what [`Event::seal`] does, faster.
pub fn seal(event: &mut Event) {
    event.sealed_hash = None;
    event.sealed_hash = Some(fingerprint(event));
}

/// Seals an event's identity for a feed with a dedupe window: the time it was reported
/// falls to the start of its window (windows of `window_us` from the Unix epoch, UTC) and
/// the raw line is left out, so the same observation reported again within the window —
/// with a fresh time — has the same identity and is stored once.
pub fn seal_within(event: &mut Event, window_us: i64) {
    let mut key = event.clone();
    key.sealed_hash = None;
    key.raw = None;
    if let (Some(t), true) = (key.time_source, window_us > 0) {
        let start = t.timestamp_micros().div_euclid(window_us) * window_us;
        key.time_source = chrono::DateTime::from_timestamp_micros(start);
    }
    event.sealed_hash = Some(fingerprint(&key));
}

#[cfg(test)]
mod tests {
    use super::*;
    use vedette_model::ClassificationType;

    #[test]
    fn matches_the_model_on_a_full_event() {
        let mut e = Event::new("f", ClassificationType::InfectedSystem);
        e.feed.provider = Some("p \"quoted\"".into());
        e.feed.accuracy = Some(87.5);
        e.time_source = Some(DateTime::from_timestamp_micros(1_357_380_000_123_000).unwrap());
        e.time_observation = Some(Utc::now());
        e.source.ip = Some("2001:db8::1".parse().unwrap());
        e.source.port = Some(443);
        e.source.asn = Some(64500);
        e.source.geolocation_cc = Some("CN".parse().unwrap());
        e.source.geolocation_latitude = Some(39.9);
        e.destination.fqdn = Some("c2.example".into());
        e.malware_name = Some("ünïcode\n".into());
        e.extra.insert("count".into(), Value::from(3));
        e.extra.insert("nested".into(), serde_json::json!({"a": [1, "b"]}));
        e.other.insert("rtir_id".into(), Value::from(42));
        e.raw = Some("the line".into());
        assert_eq!(fingerprint(&e), e.hash());
        e.other.clear();
        assert_eq!(fingerprint(&e), e.hash(), "the fast path");
        e.extra.insert("quo\"te".into(), Value::from("x"));
        assert_eq!(fingerprint(&e), e.hash(), "an extra key that needs escaping");
        e.source.geolocation_longitude = Some(f64::NAN);
        assert_eq!(fingerprint(&e), e.hash());
        seal(&mut e);
        assert_eq!(e.sealed_hash, Some(e.hash()));
    }
}
