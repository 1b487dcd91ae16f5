//! An event's IntelMQ flat JSON written straight into a byte buffer, keys sorted — the
//! same bytes `serde_json` gives for [`Event::to_intelmq`]'s map, without building that
//! map of owned strings first.
//!
//! Two callers need it on every event: the identity ([`Event::hash`], which hashes the
//! flat form without `raw`, `time.observation` and `event_hash`) and the store, which
//! keeps the flat form (without `raw`, kept apart) as the event's body. Building the map
//! was half the time of reading a feed, and most of the time spent preparing a row.
//!
//! ```
//! use vedette_model::{ClassificationType, Event, FlatJson};
//!
//! let mut event = Event::new("abusech-feodo", ClassificationType::C2Server);
//! event.source.ip = Some("192.0.2.7".parse().unwrap());
//! let mut out = Vec::new();
//! event.write_flat_json(&mut out, FlatJson::Identity);
//! assert_eq!(
//!     String::from_utf8(out).unwrap(),
//!     r#"{"classification.taxonomy":"malicious-code","classification.type":"c2-server","feed.name":"abusech-feodo","source.ip":"192.0.2.7"}"#
//! );
//! ```

use std::io::Write as _;
use std::net::IpAddr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use crate::{Endpoint, Event, Feed};

/// Which keys of the flat form to write. `raw` is never written: the identity leaves it
/// out and the store keeps it in a column of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlatJson {
    /// Every key but `raw`, `time.observation` and `event_hash`: what identifies the
    /// observation (IntelMQ's deduplicator leaves the same three out).
    Identity,
    /// Every key but `raw`: the whole event.
    Stored,
    /// What a store keeps beside the event's summary ([`Event::summary_in_columns`]):
    /// every key but `raw`, `event_hash`, `classification.*` but its identifier,
    /// `feed.*`, `source.ip`, `source.asn`, `source.geolocation.cc`, `malware.name` and
    /// the two times when they are whole microseconds. The store holds those in columns
    /// (and the feed's fields once per feed), so each row carries half the bytes.
    Detail,
}

impl Event {
    /// Appends the event's flat JSON object (keys sorted, compact) to `out`.
    pub fn write_flat_json(&self, out: &mut Vec<u8>, which: FlatJson) {
        if self.other.is_empty() {
            write_sorted(out, self, which);
        } else {
            // `other` may hold any key, even one of the typed ones: the map decides.
            // With such keys the detail is the whole event: the summary columns then
            // repeat what the body says, and the body wins when the store reads it back.
            let mut flat = self.to_intelmq();
            flat.remove("raw");
            if which == FlatJson::Identity {
                flat.remove("time.observation");
                flat.remove("event_hash");
            }
            write_json(out, &flat);
        }
    }

    /// Whether a store may keep the summary fields [`FlatJson::Detail`] leaves out in
    /// columns of their own: not when `other` fields could override them.
    pub fn summary_in_columns(&self) -> bool {
        self.other.is_empty()
    }
}

impl Feed {
    /// The `feed.*` keys alone, as a flat JSON object: what [`FlatJson::Detail`] leaves out
    /// of each event of the feed, for a store to keep once.
    pub fn write_flat_json(&self, out: &mut Vec<u8>) {
        let mut w = Sorted::open(out);
        w.feed(self);
        w.close();
    }
}

/// Whether a time is held exactly by a count of microseconds (a store's time column).
pub fn is_whole_micros(t: &DateTime<Utc>) -> bool {
    t.timestamp_subsec_nanos() % 1_000 == 0
}

/// A key as it is written after the one before it: `,"name":`. The object's first key
/// gets its `{` in place of the comma when the object is closed ([`Sorted::close`]).
macro_rules! key {
    ($($part:expr),+) => {
        concat!(",\"", $($part),+, "\":")
    };
}

/// Writes the keys in the order a sorted map holds them. Without `other` fields every key
/// is one of a fixed set, so the order is known in advance; `extra.*` keys (already sorted
/// in their map) sit between `event_hash` and `feed.accuracy`.
fn write_sorted(out: &mut Vec<u8>, e: &Event, which: FlatJson) {
    let stored = which == FlatJson::Stored;
    let whole = which != FlatJson::Detail;
    let mut w = Sorted::open(out);
    w.str(key!("classification.identifier"), &e.classification_identifier);
    if whole {
        w.text(key!("classification.taxonomy"), e.taxonomy().as_str());
        w.text(key!("classification.type"), e.classification_type.as_str());
    }
    w.str(key!("comment"), &e.comment);
    w.endpoint(&DESTINATION, &e.destination, true);
    w.str(key!("event_description.text"), &e.event_description_text);
    w.str(key!("event_description.url"), &e.event_description_url);
    if let (true, Some(hash)) = (stored, &e.sealed_hash) {
        w.key(key!("event_hash"));
        w.out.push(b'"');
        for byte in hash.0 {
            w.out.extend_from_slice(&[HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 15)]]);
        }
        w.out.push(b'"');
    }
    for (key, value) in &e.extra {
        w.extra_key(key);
        write_value(w.out, value);
    }
    if whole {
        w.feed(&e.feed);
    }
    w.str(key!("malware.hash.md5"), &e.malware_hash_md5);
    w.str(key!("malware.hash.sha1"), &e.malware_hash_sha1);
    w.str(key!("malware.hash.sha256"), &e.malware_hash_sha256);
    if whole {
        w.str(key!("malware.name"), &e.malware_name);
    }
    w.str(key!("malware.version"), &e.malware_version);
    w.str(key!("protocol.application"), &e.protocol_application);
    w.str(key!("protocol.transport"), &e.protocol_transport);
    w.endpoint(&SOURCE, &e.source, whole);
    w.str(key!("status"), &e.status);
    let observation = if whole { stored } else { e.time_observation.is_some_and(|t| !is_whole_micros(&t)) };
    if let (true, Some(t)) = (observation, &e.time_observation) {
        w.key(key!("time.observation"));
        write_time(w.out, t);
    }
    if let Some(t) = e.time_source.filter(|t| whole || !is_whole_micros(t)) {
        w.key(key!("time.source"));
        write_time(w.out, &t);
    }
    w.str(key!("tlp"), &e.tlp);
    w.close();
}

/// An endpoint's keys, each already written as [`key!`] writes it.
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
            ip: key!($p, ".ip"),
            port: key!($p, ".port"),
            network: key!($p, ".network"),
            asn: key!($p, ".asn"),
            as_name: key!($p, ".as_name"),
            fqdn: key!($p, ".fqdn"),
            url: key!($p, ".url"),
            reverse_dns: key!($p, ".reverse_dns"),
            registry: key!($p, ".registry"),
            abuse_contact: key!($p, ".abuse_contact"),
            cc: key!($p, ".geolocation.cc"),
            country: key!($p, ".geolocation.country"),
            region: key!($p, ".geolocation.region"),
            city: key!($p, ".geolocation.city"),
            latitude: key!($p, ".geolocation.latitude"),
            longitude: key!($p, ".geolocation.longitude"),
        }
    };
}

const SOURCE: EndpointKeys = endpoint_keys!("source");
const DESTINATION: EndpointKeys = endpoint_keys!("destination");

/// One flat JSON object being written. Every key is written with a comma before it, and
/// the object's first byte becomes `{` when it is closed: no "is this the first key?"
/// test on each of the twenty-odd keys of every event.
struct Sorted<'o> {
    out: &'o mut Vec<u8>,
    /// Where the object starts in `out`.
    start: usize,
}

impl<'o> Sorted<'o> {
    fn open(out: &'o mut Vec<u8>) -> Sorted<'o> {
        let start = out.len();
        Sorted { out, start }
    }

    fn close(self) {
        match self.out.get_mut(self.start) {
            Some(comma) => *comma = b'{',
            None => self.out.push(b'{'),
        }
        self.out.push(b'}');
    }

    /// Writes a key made by [`key!`]: this file's own names, none of which needs escaping,
    /// copied as they are (a copy of known length, inlined).
    #[inline(always)]
    fn key(&mut self, key: &'static str) {
        debug_assert!(key.starts_with(",\"") && key.ends_with("\":") && !needs_escape(&key[2..key.len() - 2]));
        self.out.extend_from_slice(key.as_bytes());
    }

    /// `extra.` and the name of an `extra` field, which is checked.
    fn extra_key(&mut self, name: &str) {
        if !needs_escape(name) {
            self.out.extend_from_slice(b",\"extra.");
            self.out.extend_from_slice(name.as_bytes());
            self.out.extend_from_slice(b"\":");
        } else {
            self.out.push(b',');
            write_json(self.out, &format!("extra.{name}"));
            self.out.push(b':');
        }
    }

    #[inline(always)]
    fn text(&mut self, key: &'static str, value: &str) {
        self.key(key);
        write_str(self.out, value);
    }

    #[inline(always)]
    fn str<S: AsRef<str>>(&mut self, key: &'static str, value: &Option<S>) {
        if let Some(v) = value {
            self.text(key, v.as_ref());
        }
    }

    #[inline(always)]
    fn int(&mut self, key: &'static str, value: Option<u32>) {
        if let Some(v) = value {
            self.key(key);
            write_u64(self.out, u64::from(v));
        }
    }

    #[inline(always)]
    fn float(&mut self, key: &'static str, value: Option<f64>) {
        if let Some(v) = value {
            self.key(key);
            // As the map holds it (a number serialised as f64; a non-finite one `null`).
            write_json(self.out, &v);
        }
    }

    /// The `feed.*` keys (they sort together).
    fn feed(&mut self, feed: &Feed) {
        self.float(key!("feed.accuracy"), feed.accuracy);
        self.str(key!("feed.code"), &feed.code);
        self.str(key!("feed.documentation"), &feed.documentation);
        self.text(key!("feed.name"), &feed.name);
        self.str(key!("feed.provider"), &feed.provider);
        self.str(key!("feed.url"), &feed.url);
    }

    /// An endpoint's keys; without its address, AS number and country (`whole` false).
    #[inline(always)]
    fn endpoint(&mut self, k: &EndpointKeys, e: &Endpoint, whole: bool) {
        self.str(k.abuse_contact, &e.abuse_contact);
        self.str(k.as_name, &e.as_name);
        if whole {
            self.int(k.asn, e.asn);
        }
        self.str(k.fqdn, &e.fqdn);
        if let (true, Some(cc)) = (whole, e.geolocation_cc) {
            self.text(k.cc, cc.as_str());
        }
        self.str(k.city, &e.geolocation_city);
        self.str(k.country, &e.geolocation_country);
        self.float(k.latitude, e.geolocation_latitude);
        self.float(k.longitude, e.geolocation_longitude);
        self.str(k.region, &e.geolocation_region);
        if let (true, Some(ip)) = (whole, e.ip) {
            self.key(k.ip);
            write_ip(self.out, ip);
        }
        self.str(k.network, &e.network);
        self.int(k.port, e.port.map(u32::from));
        self.str(k.registry, &e.registry);
        self.str(k.reverse_dns, &e.reverse_dns);
        self.str(k.url, &e.url);
    }
}

/// A UTC time as the map holds it (`2013-01-05T10:00:00+00:00`, a fraction only when
/// there is one); whole seconds without chrono's formatter.
fn write_time(out: &mut Vec<u8>, t: &DateTime<Utc>) {
    use chrono::{Datelike, Timelike};
    let year = t.year();
    if t.nanosecond() != 0 || !(0..=9999).contains(&year) {
        write_str(out, &t.to_rfc3339_opts(SecondsFormat::AutoSi, false));
        return;
    }
    let two = |n: u32| [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8];
    let year = year as u32; // 0..=9999, checked above
    let [y1, y2] = [two(year / 100), two(year % 100)];
    let [mo, d, h, mi, s] = [two(t.month()), two(t.day()), two(t.hour()), two(t.minute()), two(t.second())];
    out.extend_from_slice(&[
        b'"', y1[0], y1[1], y2[0], y2[1], b'-', mo[0], mo[1], b'-', d[0], d[1], b'T', h[0], h[1], b':', mi[0], mi[1],
        b':', s[0], s[1],
    ]);
    out.extend_from_slice(b"+00:00\"");
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Decimal digits, as `Display` writes them (without its formatting machinery).
fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// An address as a JSON string: IPv4 dotted decimal written directly, IPv6 by `Display`.
fn write_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            out.push(b'"');
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                write_u64(out, u64::from(octet));
            }
            out.push(b'"');
        }
        IpAddr::V6(_) => {
            let _ = write!(out, "\"{ip}\"");
        }
    }
}

/// A JSON value as serde_json writes it; strings and integers (what feeds put in
/// `extra`) without serde's machinery.
fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::String(s) => write_str(out, s),
        Value::Number(n) if n.is_u64() => write_u64(out, n.as_u64().unwrap_or_default()),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Null => out.extend_from_slice(b"null"),
        other => write_json(out, other),
    }
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

/// Whether JSON needs an escape in `s`: a control character, `"` or `\\`.
fn needs_escape(s: &str) -> bool {
    first_special(s.as_bytes()).is_some()
}

/// Where the first byte JSON does not take as it is inside a string is: a control
/// character, `"` or `\\` — where a string that starts before `bytes` ends, or needs an
/// escape. Eight bytes at a time (the classic "has a zero byte" bit tricks), as every
/// string of every event goes through here, and every string a JSON record reader skips.
pub fn first_special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // For n <= 128, the lowest byte flagged is the first byte of x below n (a borrow
    // only flags bytes above a true one).
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGHS;
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let x = u64::from_le_bytes(w);
        let hits = below(x, 0x20) | below(x ^ (ONES * u64::from(b'"')), 1) | below(x ^ (ONES * u64::from(b'\\')), 1);
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words.remainder().iter().position(|&b| b < 0x20 || b == b'"' || b == b'\\').map(|k| at + k)
}

/// Writes a string or a JSON value exactly as serde_json's compact writer does.
fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing into a Vec cannot fail, and strings and JSON values always serialise.
    let result = serde_json::to_writer(&mut *out, value);
    debug_assert!(result.is_ok());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClassificationType;

    /// The reference: the map, serialised.
    fn from_map(e: &Event, which: FlatJson) -> String {
        let mut flat = e.to_intelmq();
        flat.remove("raw");
        if which == FlatJson::Identity {
            flat.remove("time.observation");
            flat.remove("event_hash");
        }
        serde_json::to_string(&flat).unwrap()
    }

    fn written(e: &Event, which: FlatJson) -> String {
        let mut out = Vec::new();
        e.write_flat_json(&mut out, which);
        String::from_utf8(out).unwrap()
    }

    fn check(e: &Event, what: &str) {
        for which in [FlatJson::Identity, FlatJson::Stored] {
            assert_eq!(written(e, which), from_map(e, which), "{what}, {which:?}");
        }
    }

    #[test]
    fn equals_the_map_serialised() {
        let mut e = Event::new("f", ClassificationType::InfectedSystem);
        check(&e, "a bare event");
        let feed = std::sync::Arc::make_mut(&mut e.feed);
        feed.provider = Some("p \"quoted\"".into());
        feed.accuracy = Some(87.5);
        e.time_source = Some(DateTime::from_timestamp_micros(1_357_380_000_123_000).unwrap());
        e.time_observation = Some(DateTime::from_timestamp_micros(1_357_380_001_000_000).unwrap());
        e.source.ip = Some("2001:db8::1".parse().unwrap());
        e.source.port = Some(443);
        e.source.asn = Some(64500);
        e.source.geolocation_cc = Some("CN".parse().unwrap());
        e.source.geolocation_latitude = Some(39.9);
        e.destination.fqdn = Some("c2.example".into());
        e.malware_name = Some("ünïcode\n".into());
        e.extra.insert("count".into(), Value::from(3));
        e.extra.insert("nested".into(), serde_json::json!({"a": [1, "b"]}));
        e.raw = Some("the line".into());
        check(&e, "a full event");
        e.destination.ip = Some("0.10.255.9".parse().unwrap());
        e.destination.port = Some(0);
        e.extra.insert("flag".into(), Value::from(true));
        e.extra.insert("none".into(), Value::Null);
        e.extra.insert("negative".into(), Value::from(-12));
        e.extra.insert("big".into(), Value::from(u64::MAX));
        e.extra.insert("ratio".into(), Value::from(0.25));
        e.time_source = Some(DateTime::from_timestamp(0, 0).unwrap());
        check(&e, "every kind of value");
        e.seal();
        check(&e, "sealed");
        e.extra.insert("quo\"te".into(), Value::from("x"));
        check(&e, "an extra key that needs escaping");
        e.source.geolocation_longitude = Some(f64::NAN);
        check(&e, "a non-finite number");
        e.other.insert("rtir_id".into(), Value::from(42));
        check(&e, "an untyped field");
    }

    #[test]
    fn needs_escape_finds_every_byte_that_does() {
        for len in 0..20 {
            for at in 0..len {
                for special in [0u8, 0x1f, b'"', b'\\'] {
                    let mut text = vec![b'a'; len];
                    text[at] = special;
                    assert!(needs_escape(std::str::from_utf8(&text).unwrap()), "{len} {at} {special}");
                }
            }
            let plain: String = (0..len).map(|i| char::from(b' ' + (i * 7 % 60) as u8)).filter(|c| *c != '"').collect();
            assert!(!needs_escape(&plain), "{plain:?}");
        }
        // The first one is found, whatever follows it.
        for at in 0..20 {
            for rest in [b'"', 0u8, b'a', 0xff] {
                let mut bytes = vec![b'a'; 24];
                bytes[at] = b'\\';
                bytes[at + 1..].iter_mut().step_by(3).for_each(|b| *b = rest);
                assert_eq!(first_special(&bytes), Some(at), "{bytes:?}");
            }
        }
        assert!(!needs_escape("ünïcode ✓ 0x20 !#$%&'()*+,-./~\u{7f}"));
    }

    #[test]
    fn the_identity_leaves_out_what_enrichment_and_observation_add() {
        let mut e = Event::new("f", ClassificationType::C2Server);
        e.source.ip = Some("192.0.2.1".parse().unwrap());
        e.raw = Some("line".into());
        let before = written(&e, FlatJson::Identity);
        e.seal();
        e.time_observation = Some(Utc::now());
        e.raw = Some("another line".into());
        assert_eq!(written(&e, FlatJson::Identity), before);
        assert!(written(&e, FlatJson::Stored).contains("\"event_hash\":"));
        assert!(!written(&e, FlatJson::Stored).contains("line"));
    }
}
