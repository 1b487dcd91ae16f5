//! IntelMQ field names as a closed set, and the checks IntelMQ's harmonisation applies
//! when a value is set (an address must parse, a country code is two letters, a domain
//! is lower-cased, an AS number loses its `AS` prefix, …).
//!
//! Catalogue entries name their target fields as text; they are resolved to a [`Key`]
//! once, when the catalogue is loaded, so a typo in `feeds/*.toml` is a load error and
//! the hot path matches on an enum, not on strings.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use vedette_model::{ClassificationType, Endpoint, Event};

/// `source.*` or `destination.*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Source,
    Destination,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndpointField {
    Ip,
    Port,
    /// Not an IntelMQ field: `ADDRESS:PORT` (or `[V6]:PORT`) split into `ip` and `port`.
    Socket,
    Network,
    Asn,
    AsName,
    Fqdn,
    Url,
    ReverseDns,
    Registry,
    AbuseContact,
    Cc,
    Country,
    Region,
    City,
    Latitude,
    Longitude,
}

/// A field an event can be given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Key {
    TimeSource,
    ClassificationType,
    ClassificationIdentifier,
    Endpoint(Side, EndpointField),
    MalwareName,
    MalwareVersion,
    HashMd5,
    HashSha1,
    HashSha256,
    Transport,
    Application,
    DescriptionText,
    DescriptionUrl,
    Status,
    Comment,
    Tlp,
    FeedAccuracy,
    FeedCode,
    /// The key of `extra.<key>`, shared by every event of the feed.
    Extra(Arc<str>),
}

impl Key {
    pub(crate) fn parse(name: &str) -> Result<Key, String> {
        use EndpointField as F;
        let key = match name {
            "time.source" => Key::TimeSource,
            "classification.type" => Key::ClassificationType,
            "classification.identifier" => Key::ClassificationIdentifier,
            "malware.name" => Key::MalwareName,
            "malware.version" => Key::MalwareVersion,
            "malware.hash.md5" => Key::HashMd5,
            "malware.hash.sha1" => Key::HashSha1,
            "malware.hash.sha256" => Key::HashSha256,
            "protocol.transport" => Key::Transport,
            "protocol.application" => Key::Application,
            "event_description.text" => Key::DescriptionText,
            "event_description.url" => Key::DescriptionUrl,
            "status" => Key::Status,
            "comment" => Key::Comment,
            "tlp" => Key::Tlp,
            "feed.accuracy" => Key::FeedAccuracy,
            "feed.code" => Key::FeedCode,
            _ => {
                if let Some(extra) = name.strip_prefix("extra.") {
                    if extra.is_empty() {
                        return Err("extra. needs a name after the dot".into());
                    }
                    return Ok(Key::Extra(extra.into()));
                }
                let (side, field) = if let Some(f) = name.strip_prefix("source.") {
                    (Side::Source, f)
                } else if let Some(f) = name.strip_prefix("destination.") {
                    (Side::Destination, f)
                } else {
                    return Err(format!("unknown field {name:?}"));
                };
                let field = match field {
                    "ip" => F::Ip,
                    "port" => F::Port,
                    "socket" => F::Socket,
                    "network" => F::Network,
                    "asn" => F::Asn,
                    "as_name" => F::AsName,
                    "fqdn" => F::Fqdn,
                    "url" => F::Url,
                    "reverse_dns" => F::ReverseDns,
                    "registry" => F::Registry,
                    "abuse_contact" => F::AbuseContact,
                    "geolocation.cc" => F::Cc,
                    "geolocation.country" => F::Country,
                    "geolocation.region" => F::Region,
                    "geolocation.city" => F::City,
                    "geolocation.latitude" => F::Latitude,
                    "geolocation.longitude" => F::Longitude,
                    _ => return Err(format!("unknown field {name:?}")),
                };
                Key::Endpoint(side, field)
            }
        };
        Ok(key)
    }
}

/// How times without a zone are read, and layouts beyond the common ones.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimeRule {
    /// A `strftime` layout tried before the common ones.
    pub format: Option<String>,
    /// Windows FILETIME (100 ns ticks since 1601), as Microsoft's CTIP writes it.
    pub filetime: bool,
    /// Offset of the feed's local time from UTC, in seconds.
    pub offset_seconds: i32,
}

impl TimeRule {
    pub(crate) fn parse(&self, text: &str) -> Result<DateTime<Utc>, String> {
        let s = text.trim();
        if self.filetime {
            // 11,644,473,600 s lie between 1601-01-01 and the Unix epoch.
            let ticks: i64 = s.parse().map_err(|_| format!("{s:?} is not a FILETIME"))?;
            let micros = ticks / 10 - 11_644_473_600_000_000;
            return DateTime::from_timestamp_micros(micros).ok_or_else(|| format!("{s:?} is out of range"));
        }
        if let Some(layout) = &self.format {
            if let Ok(t) = DateTime::parse_from_str(s, layout) {
                return Ok(t.with_timezone(&Utc));
            }
            if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, layout) {
                return Ok(t.and_utc() - chrono::Duration::seconds(i64::from(self.offset_seconds)));
            }
        }
        let t = match crate::parse_utc(s) {
            Ok(t) => t,
            // Shadowserver and others append a bare `Z` or ` UTC` to a space-separated time.
            Err(e) => {
                let bare = s.trim_end_matches(" UTC").trim_end_matches('Z');
                if bare.len() == s.len() {
                    return Err(e);
                }
                return crate::parse_utc(bare);
            }
        };
        if self.offset_seconds != 0 && !has_zone(s) {
            return Ok(t - chrono::Duration::seconds(i64::from(self.offset_seconds)));
        }
        Ok(t)
    }
}

/// Whether a time text carries its own zone (`Z`, `+hh:mm`, ` UTC`) or is Unix seconds.
fn has_zone(s: &str) -> bool {
    let tail = &s[s.len().saturating_sub(6)..];
    s.ends_with('Z') || s.ends_with("UTC") || tail.contains('+') || s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

fn endpoint(event: &mut Event, side: Side) -> &mut Endpoint {
    match side {
        Side::Source => &mut event.source,
        Side::Destination => &mut event.destination,
    }
}

fn text(slot: &mut Option<String>, value: &str) {
    *slot = Some(value.to_string());
}

pub(crate) fn parse_ip(value: &str) -> Result<IpAddr, String> {
    let v = value.trim_start_matches('[').trim_end_matches(']');
    v.parse().map_err(|_| format!("{value:?} is not an IP address"))
}

/// A network in CIDR notation; a bare address is its own /32 or /128, as IntelMQ reads it.
fn parse_network(value: &str) -> Result<String, String> {
    let bad = || format!("{value:?} is not a network");
    let (addr, len) = match value.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (value, None),
    };
    let ip: IpAddr = addr.trim().parse().map_err(|_| bad())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len: u8 = match len {
        Some(l) => l.trim().parse().map_err(|_| bad())?,
        None => max,
    };
    if len > max {
        return Err(bad());
    }
    Ok(format!("{ip}/{len}"))
}

/// A host name as IntelMQ's FQDN type keeps it: lower case, no final dot, no spaces,
/// not an address.
pub(crate) fn parse_fqdn(value: &str) -> Result<String, String> {
    let v = value.trim().trim_end_matches('.').to_lowercase();
    let ok = !v.is_empty()
        && v.len() <= 253
        && v.parse::<IpAddr>().is_err()
        && v.split('.').all(|l| !l.is_empty() && l.len() <= 63)
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_') || b >= 0x80);
    if ok {
        Ok(v)
    } else {
        Err(format!("{value:?} is not a domain name"))
    }
}

fn parse_url(value: &str, default_scheme: Option<&str>) -> Result<String, String> {
    let v = value.trim();
    if v.contains(char::is_whitespace) {
        return Err(format!("{value:?} is not a URL"));
    }
    if let Some((scheme, rest)) = v.split_once("://") {
        if !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+') && !rest.is_empty() {
            return Ok(v.to_string());
        }
        return Err(format!("{value:?} is not a URL"));
    }
    match default_scheme {
        Some(scheme) if !v.is_empty() => Ok(format!("{scheme}{v}")),
        _ => Err(format!("{value:?} is not a URL (no scheme)")),
    }
}

fn parse_port(value: &str) -> Result<u16, String> {
    value.trim().parse().map_err(|_| format!("{value:?} is not a port"))
}

/// Sets one field from feed text. Empty text leaves the field unset. The error is the
/// reason only; the caller prefixes the column.
pub(crate) fn set(
    event: &mut Event,
    key: &Key,
    value: &str,
    time: &TimeRule,
    url_scheme: Option<&str>,
) -> Result<(), String> {
    use EndpointField as F;
    let value = value.trim();
    if value.is_empty() {
        return Ok(());
    }
    match key {
        Key::TimeSource => event.time_source = Some(time.parse(value)?),
        Key::ClassificationType => {
            event.classification_type = value.parse::<ClassificationType>().map_err(|e| e.to_string())?
        }
        Key::ClassificationIdentifier => text(&mut event.classification_identifier, value),
        Key::MalwareName => event.malware_name = Some(value.to_lowercase()),
        Key::MalwareVersion => text(&mut event.malware_version, value),
        Key::HashMd5 => event.malware_hash_md5 = Some(hex_hash(value, 32)?),
        Key::HashSha1 => event.malware_hash_sha1 = Some(hex_hash(value, 40)?),
        Key::HashSha256 => event.malware_hash_sha256 = Some(hex_hash(value, 64)?),
        Key::Transport => event.protocol_transport = Some(value.to_lowercase()),
        Key::Application => event.protocol_application = Some(value.to_lowercase()),
        Key::DescriptionText => text(&mut event.event_description_text, value),
        Key::DescriptionUrl => event.event_description_url = Some(parse_url(value, None)?),
        Key::Status => text(&mut event.status, value),
        Key::Comment => text(&mut event.comment, value),
        Key::Tlp => event.tlp = Some(value.to_ascii_uppercase()),
        Key::FeedAccuracy => {
            let a: f64 = value.parse().map_err(|_| format!("{value:?} is not an accuracy"))?;
            if !(0.0..=100.0).contains(&a) {
                return Err(format!("{value:?} is not an accuracy between 0 and 100"));
            }
            std::sync::Arc::make_mut(&mut event.feed).accuracy = Some(a)
        }
        Key::FeedCode => std::sync::Arc::make_mut(&mut event.feed).code = Some(value.into()),
        Key::Extra(name) => {
            event.extra.insert(name.clone(), Value::String(value.to_string()));
        }
        Key::Endpoint(side, field) => {
            let e = endpoint(event, *side);
            match field {
                F::Ip => e.ip = Some(parse_ip(value)?),
                F::Port => e.port = Some(parse_port(value)?),
                F::Socket => {
                    let (ip, port) = value.rsplit_once(':').ok_or_else(|| format!("{value:?} is not ADDRESS:PORT"))?;
                    e.ip = Some(parse_ip(ip)?);
                    e.port = Some(parse_port(port)?);
                }
                F::Network => e.network = Some(parse_network(value)?),
                // "NA" and "-" say "unknown" (DataPlane, Cymru).
                F::Asn if matches!(value, "NA" | "N/A" | "-") => {}
                F::Asn => {
                    let digits = value.trim_start_matches("AS").trim_start_matches("as");
                    let asn: u32 = digits.trim().parse().map_err(|_| format!("{value:?} is not an AS number"))?;
                    // Shadowserver and others write 0 for "unknown"; IntelMQ drops it.
                    if asn != 0 {
                        e.asn = Some(asn);
                    }
                }
                F::AsName => text(&mut e.as_name, value),
                F::Fqdn => e.fqdn = Some(parse_fqdn(value)?),
                F::Url => e.url = Some(parse_url(value, url_scheme)?),
                F::ReverseDns => e.reverse_dns = Some(parse_fqdn(value)?),
                // IntelMQ's Registry type writes the RIPE NCC as `RIPE`.
                F::Registry => {
                    let upper = value.to_ascii_uppercase();
                    e.registry = Some(if upper == "RIPENCC" { "RIPE".into() } else { upper })
                }
                F::AbuseContact => e.abuse_contact = Some(value.to_lowercase()),
                F::Cc => {
                    // Some feeds write "-" or "ZZ"-like placeholders for "unknown".
                    if value != "-" {
                        e.geolocation_cc = Some(value.parse().map_err(|err| format!("{err}"))?);
                    }
                }
                F::Country => text(&mut e.geolocation_country, value),
                F::Region => text(&mut e.geolocation_region, value),
                F::City => text(&mut e.geolocation_city, value),
                F::Latitude => {
                    e.geolocation_latitude = Some(value.parse().map_err(|_| format!("{value:?} is not a latitude"))?)
                }
                F::Longitude => {
                    e.geolocation_longitude = Some(value.parse().map_err(|_| format!("{value:?} is not a longitude"))?)
                }
            }
        }
    }
    Ok(())
}

fn hex_hash(value: &str, len: usize) -> Result<String, String> {
    if value.len() == len && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(format!("{value:?} is not a {len}-digit hex hash"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        Event::new("t", ClassificationType::Other)
    }

    #[test]
    fn values_are_checked_and_normalised() {
        let t = TimeRule::default();
        let mut e = event();
        set(&mut e, &Key::parse("source.socket").unwrap(), "192.0.2.1:8080", &t, None).unwrap();
        assert_eq!(e.source.port, Some(8080));
        set(&mut e, &Key::parse("source.fqdn").unwrap(), "Bad.Example.", &t, None).unwrap();
        assert_eq!(e.source.fqdn.as_deref(), Some("bad.example"));
        set(&mut e, &Key::parse("source.asn").unwrap(), "AS64500", &t, None).unwrap();
        assert_eq!(e.source.asn, Some(64500));
        set(&mut e, &Key::parse("source.network").unwrap(), "192.0.2.0/24", &t, None).unwrap();
        assert!(set(&mut e, &Key::parse("source.network").unwrap(), "192.0.2.0/33", &t, None).is_err());
        assert!(set(&mut e, &Key::parse("source.ip").unwrap(), "999.1.1.1", &t, None).is_err());
        assert!(set(&mut e, &Key::parse("source.url").unwrap(), "example.com/x", &t, None).is_err());
        set(&mut e, &Key::parse("source.url").unwrap(), "example.com/x", &t, Some("http://")).unwrap();
        assert_eq!(e.source.url.as_deref(), Some("http://example.com/x"));
        set(&mut e, &Key::parse("classification.type").unwrap(), "botnet drone", &t, None).unwrap();
        assert_eq!(e.classification_type, ClassificationType::InfectedSystem);
        assert!(Key::parse("source.nope").is_err());
    }

    #[test]
    fn times_in_feed_zones_and_filetime() {
        let t = TimeRule { offset_seconds: 3600, ..TimeRule::default() };
        assert_eq!(t.parse("2013-01-05 10:00:00").unwrap().to_rfc3339(), "2013-01-05T09:00:00+00:00");
        assert_eq!(t.parse("2013-01-05T10:00:00Z").unwrap().to_rfc3339(), "2013-01-05T10:00:00+00:00");
        let ft = TimeRule { filetime: true, ..TimeRule::default() };
        assert_eq!(ft.parse("116444736000000000").unwrap().timestamp(), 0);
    }
}
