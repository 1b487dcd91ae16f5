//! Conversion between [`Event`] and IntelMQ's flat dotted-key JSON ("IntelMQ Data Format").

use std::str::FromStr;
use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use crate::{ClassificationType, Endpoint, Event, Feed};

/// A flat IntelMQ message that cannot become an [`Event`]; names the offending key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {key}: {reason}")]
pub struct IntelMqError {
    pub key: String,
    pub reason: String,
}

fn err(key: &str, reason: impl Into<String>) -> IntelMqError {
    IntelMqError { key: key.to_string(), reason: reason.into() }
}

struct Writer(Map<String, Value>);

impl Writer {
    fn str<S: AsRef<str>>(&mut self, key: &str, value: &Option<S>) {
        if let Some(v) = value {
            self.0.insert(key.to_string(), Value::String(v.as_ref().to_string()));
        }
    }
    fn display(&mut self, key: &str, value: Option<impl ToString>) {
        if let Some(v) = value {
            self.0.insert(key.to_string(), Value::String(v.to_string()));
        }
    }
    fn number(&mut self, key: &str, value: Option<impl Into<Value>>) {
        if let Some(v) = value {
            self.0.insert(key.to_string(), v.into());
        }
    }
    fn time(&mut self, key: &str, value: &Option<DateTime<Utc>>) {
        if let Some(t) = value {
            self.0.insert(key.to_string(), Value::String(format_time(t)));
        }
    }
    fn endpoint(&mut self, prefix: &str, e: &Endpoint) {
        let k = |field: &str| format!("{prefix}.{field}");
        self.display(&k("ip"), e.ip);
        self.number(&k("port"), e.port);
        self.str(&k("network"), &e.network);
        self.number(&k("asn"), e.asn);
        self.str(&k("as_name"), &e.as_name);
        self.str(&k("fqdn"), &e.fqdn);
        self.str(&k("url"), &e.url);
        self.str(&k("reverse_dns"), &e.reverse_dns);
        self.str(&k("registry"), &e.registry);
        self.str(&k("abuse_contact"), &e.abuse_contact);
        self.display(&k("geolocation.cc"), e.geolocation_cc);
        self.str(&k("geolocation.country"), &e.geolocation_country);
        self.str(&k("geolocation.region"), &e.geolocation_region);
        self.str(&k("geolocation.city"), &e.geolocation_city);
        self.number(&k("geolocation.latitude"), e.geolocation_latitude);
        self.number(&k("geolocation.longitude"), e.geolocation_longitude);
    }
}

/// IntelMQ writes UTC times as ISO 8601 with an explicit `+00:00`.
pub(crate) fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

impl Event {
    /// The event as IntelMQ's flat JSON object (keys sorted).
    pub fn to_intelmq(&self) -> Map<String, Value> {
        let mut w = Writer(Map::new());
        w.str("feed.name", &Some(&*self.feed.name));
        w.str("feed.provider", &self.feed.provider);
        w.number("feed.accuracy", self.feed.accuracy);
        w.str("feed.url", &self.feed.url);
        w.str("feed.documentation", &self.feed.documentation);
        w.str("feed.code", &self.feed.code);
        w.time("time.source", &self.time_source);
        w.time("time.observation", &self.time_observation);
        w.display("classification.taxonomy", Some(self.taxonomy()));
        w.display("classification.type", Some(self.classification_type));
        w.str("classification.identifier", &self.classification_identifier);
        w.endpoint("source", &self.source);
        w.endpoint("destination", &self.destination);
        w.str("malware.name", &self.malware_name);
        w.str("malware.version", &self.malware_version);
        w.str("malware.hash.md5", &self.malware_hash_md5);
        w.str("malware.hash.sha1", &self.malware_hash_sha1);
        w.str("malware.hash.sha256", &self.malware_hash_sha256);
        w.str("protocol.transport", &self.protocol_transport);
        w.str("protocol.application", &self.protocol_application);
        w.str("event_description.text", &self.event_description_text);
        w.str("event_description.url", &self.event_description_url);
        w.str("status", &self.status);
        w.str("comment", &self.comment);
        w.str("tlp", &self.tlp);
        for (key, value) in &self.extra {
            w.0.insert(format!("extra.{key}"), value.clone());
        }
        for (key, value) in &self.other {
            w.0.insert(key.clone(), value.clone());
        }
        if let Some(hash) = &self.sealed_hash {
            w.0.insert("event_hash".into(), Value::String(hash.to_hex().to_uppercase()));
        }
        if let Some(raw) = &self.raw {
            let encoded = base64::engine::general_purpose::STANDARD.encode(raw.as_bytes());
            w.0.insert("raw".into(), Value::String(encoded));
        }
        w.0
    }

    /// Reads IntelMQ's flat JSON. Fields Vedette does not type are kept in
    /// [`Event::other`]; a value of the wrong type is an error naming its key.
    pub fn from_intelmq(flat: &Map<String, Value>) -> Result<Event, IntelMqError> {
        let type_name = text(flat, "classification.type")?.ok_or_else(|| err("classification.type", "missing"))?;
        let classification_type =
            ClassificationType::from_str(&type_name).map_err(|e| err("classification.type", e.to_string()))?;
        let feed_name = text(flat, "feed.name")?.unwrap_or_default();
        let mut event = Event::new(&feed_name, classification_type);
        for (key, value) in flat {
            read_field(&mut event, key, value)?;
        }
        Ok(event)
    }
}

fn text(flat: &Map<String, Value>, key: &str) -> Result<Option<String>, IntelMqError> {
    match flat.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => as_text(key, v).map(Some),
    }
}

fn as_text(key: &str, value: &Value) -> Result<String, IntelMqError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(err(key, "expected a string")),
    }
}

fn parse_value<T: FromStr>(key: &str, value: &Value) -> Result<T, IntelMqError>
where
    T::Err: std::fmt::Display,
{
    let s = as_text(key, value)?;
    s.trim().parse::<T>().map_err(|e| err(key, format!("{s:?}: {e}")))
}

fn parse_time(key: &str, value: &Value) -> Result<DateTime<Utc>, IntelMqError> {
    let s = as_text(key, value)?;
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| err(key, format!("{s:?} is not an ISO 8601 time: {e}")))
}

fn read_field(event: &mut Event, key: &str, value: &Value) -> Result<(), IntelMqError> {
    if value.is_null() {
        return Ok(());
    }
    let s = || as_text(key, value);
    match key {
        "classification.type" | "classification.taxonomy" | "feed.name" | "__type" => {}
        "classification.identifier" => event.classification_identifier = Some(s()?),
        "feed.provider" => Arc::make_mut(&mut event.feed).provider = Some(s()?.into()),
        "feed.accuracy" => Arc::make_mut(&mut event.feed).accuracy = Some(parse_value(key, value)?),
        "feed.url" => Arc::make_mut(&mut event.feed).url = Some(s()?.into()),
        "feed.documentation" => Arc::make_mut(&mut event.feed).documentation = Some(s()?.into()),
        "feed.code" => Arc::make_mut(&mut event.feed).code = Some(s()?.into()),
        "time.source" => event.time_source = Some(parse_time(key, value)?),
        "time.observation" => event.time_observation = Some(parse_time(key, value)?),
        "malware.name" => event.malware_name = Some(s()?.to_lowercase()),
        "malware.version" => event.malware_version = Some(s()?),
        "malware.hash.md5" => event.malware_hash_md5 = Some(s()?),
        "malware.hash.sha1" => event.malware_hash_sha1 = Some(s()?),
        "malware.hash.sha256" => event.malware_hash_sha256 = Some(s()?),
        "protocol.transport" => event.protocol_transport = Some(s()?),
        "protocol.application" => event.protocol_application = Some(s()?),
        "event_description.text" => event.event_description_text = Some(s()?),
        "event_description.url" => event.event_description_url = Some(s()?),
        "status" => event.status = Some(s()?),
        "comment" => event.comment = Some(s()?),
        "tlp" => event.tlp = Some(s()?),
        "event_hash" => {
            let text = s()?;
            event.sealed_hash = Some(
                crate::EventHash::from_hex(&text.to_lowercase())
                    .ok_or_else(|| err(key, format!("{text:?} is not a Vedette event hash")))?,
            );
        }
        "raw" => {
            let encoded = s()?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|e| err(key, format!("not base64: {e}")))?;
            event.raw = Some(String::from_utf8_lossy(&bytes).into_owned());
        }
        _ => {
            if let Some(name) = key.strip_prefix("extra.") {
                event.extra.insert(name.into(), value.clone());
            } else if let Some(field) = key.strip_prefix("source.") {
                if !read_endpoint(&mut event.source, key, field, value)? {
                    event.other.insert(key.to_string(), value.clone());
                }
            } else if let Some(field) = key.strip_prefix("destination.") {
                if !read_endpoint(&mut event.destination, key, field, value)? {
                    event.other.insert(key.to_string(), value.clone());
                }
            } else {
                event.other.insert(key.to_string(), value.clone());
            }
        }
    }
    Ok(())
}

/// Returns false for an endpoint field Vedette does not type.
fn read_endpoint(e: &mut Endpoint, key: &str, field: &str, value: &Value) -> Result<bool, IntelMqError> {
    let s = || as_text(key, value);
    match field {
        "ip" => e.ip = Some(parse_value(key, value)?),
        "port" => e.port = Some(parse_value(key, value)?),
        "network" => e.network = Some(s()?),
        "asn" => {
            let text = s()?;
            let digits = text.trim().trim_start_matches("AS").trim_start_matches("as");
            e.asn = Some(digits.parse().map_err(|_| err(key, format!("{text:?} is not an AS number")))?);
        }
        "as_name" => e.as_name = Some(s()?),
        "fqdn" => e.fqdn = Some(s()?.to_lowercase()),
        "url" => e.url = Some(s()?),
        "reverse_dns" => e.reverse_dns = Some(s()?),
        "registry" => e.registry = Some(s()?),
        "abuse_contact" => e.abuse_contact = Some(s()?.to_lowercase()),
        "geolocation.cc" => e.geolocation_cc = Some(parse_value(key, value)?),
        "geolocation.country" => e.geolocation_country = Some(s()?),
        "geolocation.region" => e.geolocation_region = Some(s()?),
        "geolocation.city" => e.geolocation_city = Some(s()?),
        "geolocation.latitude" => e.geolocation_latitude = Some(parse_value(key, value)?),
        "geolocation.longitude" => e.geolocation_longitude = Some(parse_value(key, value)?),
        _ => return Ok(false),
    }
    Ok(true)
}

impl Feed {
    pub fn named(name: &str) -> Feed {
        Feed { name: name.into(), ..Feed::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_intelmq_message_with_legacy_type_and_unknown_fields() {
        let flat = json!({
            "__type": "Event",
            "feed.name": "Feodo Tracker IPs",
            "classification.type": "c&c",
            "classification.taxonomy": "malicious-code",
            "source.ip": "198.51.100.4",
            "source.port": 443,
            "source.asn": "AS64500",
            "time.source": "2013-02-01T10:00:00+00:00",
            "malware.name": "Emotet",
            "rtir_id": 42,
            "extra.first_seen": "2013-01-01",
            "raw": "aGVsbG8="
        });
        let event = Event::from_intelmq(flat.as_object().unwrap()).unwrap();
        assert_eq!(event.classification_type, ClassificationType::C2Server);
        assert_eq!(event.source.port, Some(443));
        assert_eq!(event.source.asn, Some(64500));
        assert_eq!(event.malware_name.as_deref(), Some("emotet"));
        assert_eq!(event.raw.as_deref(), Some("hello"));
        assert_eq!(event.other["rtir_id"], json!(42));
        let out = event.to_intelmq();
        assert_eq!(out["classification.type"], "c2-server");
        assert_eq!(out["rtir_id"], 42);
        assert_eq!(out["extra.first_seen"], "2013-01-01");
        assert_eq!(out["time.source"], "2013-02-01T10:00:00+00:00");
    }

    #[test]
    fn bad_values_name_their_key() {
        let flat = json!({"classification.type": "c2-server", "source.ip": "999.1.1.1"});
        let e = Event::from_intelmq(flat.as_object().unwrap()).unwrap_err();
        assert_eq!(e.key, "source.ip");
        let flat = json!({"source.ip": "192.0.2.1"});
        assert_eq!(Event::from_intelmq(flat.as_object().unwrap()).unwrap_err().key, "classification.type");
    }

    #[test]
    fn hash_ignores_raw_and_observation_time() {
        let mut a = Event::new("f", ClassificationType::C2Server);
        a.source.ip = Some("192.0.2.1".parse().unwrap());
        let mut b = a.clone();
        b.raw = Some("line".into());
        b.time_observation = Some(Utc::now());
        assert_eq!(a.hash(), b.hash());
        b.source.port = Some(80);
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn a_sealed_event_keeps_its_identity_through_enrichment_and_json() {
        let mut e = Event::new("f", ClassificationType::C2Server);
        e.source.ip = Some("192.0.2.1".parse().unwrap());
        let before = e.hash();
        e.seal();
        e.source.asn = Some(64500);
        assert_eq!(e.hash(), before);
        let back = Event::from_intelmq(&e.to_intelmq()).unwrap();
        assert_eq!(back.hash(), before);
        assert_eq!(back, e);
    }
}
