//! MMDB databases of any vendor (MaxMind GeoIP2/GeoLite2, DB-IP, IPinfo, ip-location-db):
//! every network of the file is read once, at build time, into plain ranges. Records are
//! decoded once per data-section offset, because many networks share one record.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::Deserialize;
use vedette_model::CountryCode;

use crate::SourceError;

/// What one MMDB record says about its network, reduced to what attribution uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct GeoRecord {
    /// `country.iso_code` (GeoIP2 layout) or the flat `country_code` (ip-location-db).
    pub cc: Option<CountryCode>,
    /// `registered_country.iso_code`, where the vendor gives it.
    pub registered_cc: Option<CountryCode>,
    pub region: Option<String>,
    pub city: Option<String>,
    pub postal: Option<String>,
    pub anycast: bool,
    pub asn: Option<u32>,
    pub as_org: Option<String>,
}

/// One database, read into ranges.
#[derive(Debug)]
pub struct Mmdb {
    /// `YYYY-MM-DD database_type` from the metadata (build epoch and type), plus the
    /// English description when there is one.
    pub version: String,
    /// `(first key, last key, record index)`, sorted, disjoint.
    pub ranges: Vec<(u128, u128, u32)>,
    pub records: Vec<GeoRecord>,
}

/// `country` and `registered_country` are maps in GeoIP2's layout (`{iso_code, names}`)
/// and plain names in IPinfo's (`"country": "Japan"`); only a map's `iso_code` is used,
/// and a name is no error.
#[derive(Default)]
struct Place(Option<String>);

impl<'de> Deserialize<'de> for Place {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Place, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Place;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map with iso_code, or a country name")
            }
            fn visit_str<E>(self, _: &str) -> Result<Place, E> {
                Ok(Place(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Place, A::Error> {
                let mut code = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "iso_code" {
                        code = Some(map.next_value::<String>()?);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(Place(code))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// An AS number as GeoIP2 writes it (`autonomous_system_number: 13335`) or as IPinfo does
/// (`asn: "AS13335"`).
struct AsNumber(Option<u32>);

impl<'de> Deserialize<'de> for AsNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<AsNumber, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = AsNumber;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an AS number, or text like AS13335")
            }
            fn visit_u64<E>(self, v: u64) -> Result<AsNumber, E> {
                Ok(AsNumber(u32::try_from(v).ok()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<AsNumber, E> {
                Ok(AsNumber(u32::try_from(v).ok()))
            }
            fn visit_str<E>(self, v: &str) -> Result<AsNumber, E> {
                let digits = v.trim().trim_start_matches("AS").trim_start_matches("as");
                Ok(AsNumber(digits.parse().ok()))
            }
        }
        d.deserialize_any(Visit)
    }
}

#[derive(Deserialize)]
struct Names<'a> {
    #[serde(borrow, default)]
    en: Option<&'a str>,
}

#[derive(Deserialize)]
struct Named<'a> {
    #[serde(borrow, default)]
    names: Option<Names<'a>>,
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Postal<'a> {
    #[serde(borrow, default)]
    code: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct Traits {
    #[serde(default)]
    is_anycast: bool,
}

/// The union of the layouts vendors use (GeoIP2 and DB-IP, ip-location-db's flat
/// `country_code`, IPinfo's `country_code`/`asn`/`as_name`); unknown keys are ignored.
#[derive(Deserialize)]
struct Record<'a> {
    #[serde(default)]
    country: Place,
    #[serde(default)]
    registered_country: Place,
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    #[serde(borrow, default)]
    city: Option<Named<'a>>,
    #[serde(borrow, default)]
    subdivisions: Option<Vec<Named<'a>>>,
    #[serde(borrow, default)]
    postal: Option<Postal<'a>>,
    #[serde(default)]
    traits: Option<Traits>,
    #[serde(default)]
    autonomous_system_number: Option<AsNumber>,
    #[serde(borrow, default)]
    autonomous_system_organization: Option<&'a str>,
    #[serde(default)]
    asn: Option<AsNumber>,
    #[serde(borrow, default)]
    as_name: Option<&'a str>,
}

fn cc(code: Option<&str>) -> Option<CountryCode> {
    code.and_then(|c| c.parse().ok())
}

impl From<Record<'_>> for GeoRecord {
    fn from(r: Record<'_>) -> GeoRecord {
        let country = cc(r.country.0.as_deref()).or_else(|| cc(r.country_code));
        GeoRecord {
            cc: country,
            registered_cc: cc(r.registered_country.0.as_deref()),
            region: r
                .subdivisions
                .as_ref()
                .and_then(|s| s.first())
                .and_then(|s| s.iso_code)
                .zip(country)
                .map(|(sub, country)| format!("{country}-{sub}")),
            city: r.city.and_then(|c| c.names).and_then(|n| n.en).map(str::to_string),
            postal: r.postal.and_then(|p| p.code).map(str::to_string),
            anycast: r.traits.is_some_and(|t| t.is_anycast),
            asn: r.autonomous_system_number.or(r.asn).and_then(|a| a.0),
            as_org: r.autonomous_system_organization.or(r.as_name).map(str::to_string),
        }
    }
}

/// Reads every network of an MMDB file; any corruption is an error (the caller names the
/// file), never a panic and never a half-loaded source.
pub fn read(bytes: &[u8]) -> Result<Mmdb, SourceError> {
    let reader = maxminddb::Reader::from_source(bytes).map_err(|e| SourceError::Corrupt(e.to_string()))?;
    let meta = reader.metadata();
    // Cheap structural checks the walk alone would miss (`Reader::verify` does them too,
    // but also refuses databases with an empty description, which real vendors ship).
    let tree_size = meta.node_count as usize * usize::from(meta.record_size) / 4;
    let separator = bytes.get(tree_size..tree_size + 16);
    if !separator.is_some_and(|s| s.iter().all(|b| *b == 0)) {
        return Err(SourceError::Corrupt(format!(
            "the 16 zero bytes between the search tree ({} nodes) and the data section are missing",
            meta.node_count
        )));
    }
    check_tree(bytes, meta.node_count as usize, meta.record_size)?;
    // A tree of N nodes has at most N + 1 leaves; more steps mean a cycle.
    let max_networks = (meta.node_count as usize).saturating_mul(3).max(16);
    let version = version_of(meta.build_epoch, &meta.database_type, meta.description.get("en").map(String::as_str));
    let mut by_offset: HashMap<usize, u32> = HashMap::new();
    let mut records: Vec<GeoRecord> = Vec::new();
    let mut record_ids: HashMap<GeoRecord, u32> = HashMap::new();
    let mut ranges = Vec::new();
    let options = maxminddb::WithinOptions::default().include_networks_without_data();
    let networks = reader.networks(options).map_err(|e| SourceError::Corrupt(e.to_string()))?;
    for (count, item) in networks.enumerate() {
        if count > max_networks {
            return Err(SourceError::Corrupt("the search tree has a cycle".into()));
        }
        let lookup = item.map_err(|e| SourceError::Corrupt(e.to_string()))?;
        let Some(offset) = lookup.offset() else { continue };
        let network = lookup.network().map_err(|e| SourceError::Corrupt(e.to_string()))?;
        let (first, last) = crate::prefix_bounds(network.ip(), network.prefix())
            .ok_or_else(|| SourceError::Corrupt(format!("network {network} has a bad length")))?;
        let id = match by_offset.get(&offset) {
            Some(id) => *id,
            None => {
                let record: GeoRecord = match lookup.decode::<Record>() {
                    Ok(record) => record.map(GeoRecord::from).unwrap_or_default(),
                    // A valid value that is not a map (some databases hold plain strings)
                    // says nothing attribution uses; only undecodable bytes are corruption.
                    Err(e) => match lookup.decode::<serde::de::IgnoredAny>() {
                        Ok(_) => GeoRecord::default(),
                        Err(_) => return Err(SourceError::Corrupt(format!("record of {network}: {e}"))),
                    },
                };
                // Different offsets can hold equal reduced records (e.g. cities of one country).
                let id = *record_ids.entry(record.clone()).or_insert_with(|| {
                    records.push(record);
                    (records.len() - 1) as u32
                });
                by_offset.insert(offset, id);
                id
            }
        };
        ranges.push((first, last, id));
    }
    ranges.sort_unstable_by_key(|r| r.0);
    Ok(Mmdb { version, ranges, records })
}

/// Walks the raw search tree once: every node must be reachable from the root and every
/// record must point to a node, to "no data" or into the file. A writer never leaves
/// orphan nodes, so orphans mean a damaged tree even where every lookup still succeeds
/// (libmaxminddb's `corrupt-search-tree` case).
fn check_tree(bytes: &[u8], node_count: usize, record_size: u16) -> Result<(), SourceError> {
    let node_bytes = usize::from(record_size) / 4;
    let records = |node: usize| -> Option<[usize; 2]> {
        let b = bytes.get(node * node_bytes..(node + 1) * node_bytes)?;
        let be = |s: &[u8]| s.iter().fold(0usize, |acc, x| (acc << 8) | usize::from(*x));
        Some(match record_size {
            24 => [be(&b[0..3]), be(&b[3..6])],
            28 => [(usize::from(b[3] >> 4) << 24) | be(&b[0..3]), (usize::from(b[3] & 0x0f) << 24) | be(&b[4..7])],
            32 => [be(&b[0..4]), be(&b[4..8])],
            _ => return None,
        })
    };
    let limit = node_count + bytes.len();
    let mut seen = vec![false; node_count];
    let mut stack = vec![0usize];
    let mut reached = 0usize;
    while let Some(node) = stack.pop() {
        if node >= node_count || std::mem::replace(&mut seen[node], true) {
            continue;
        }
        reached += 1;
        let pair = records(node).ok_or_else(|| {
            SourceError::Corrupt(format!("search tree node {node} lies outside the file (record size {record_size})"))
        })?;
        for next in pair {
            if next > limit {
                return Err(SourceError::Corrupt(format!("search tree node {node} points past the end of the file")));
            }
            stack.push(next);
        }
    }
    if reached < node_count {
        return Err(SourceError::Corrupt(format!(
            "{} of the {node_count} search tree nodes cannot be reached from the root",
            node_count - reached
        )));
    }
    Ok(())
}

fn version_of(build_epoch: u64, database_type: &str, description: Option<&str>) -> String {
    let date = i64::try_from(build_epoch).ok().and_then(civil_date).unwrap_or_else(|| format!("epoch {build_epoch}"));
    match description {
        Some(d) if !d.is_empty() => format!("{date} {database_type} ({d})"),
        _ => format!("{date} {database_type}"),
    }
}

/// `YYYY-MM-DD` of a Unix time (Howard Hinnant's days-to-civil algorithm), so the crate
/// needs no date library for one field.
pub(crate) fn civil_date(epoch: i64) -> Option<String> {
    let days = epoch.checked_div(86_400)?;
    let z = days.checked_add(719_468)?;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (0..=9999).contains(&y).then(|| format!("{y:04}-{m:02}-{d:02}"))
}

/// The CIDR text of a range that is one prefix (MMDB networks always are).
pub fn cidr(first: u128, last: u128) -> String {
    let len = 128 - (last - first).count_ones();
    let v4_lo = crate::key(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    if first >= v4_lo && last <= v4_lo | 0xffff_ffff {
        let ip = std::net::Ipv4Addr::from((first - v4_lo) as u32);
        format!("{ip}/{}", len.saturating_sub(96))
    } else {
        format!("{}/{len}", std::net::Ipv6Addr::from(first))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reduce(json: &str) -> GeoRecord {
        GeoRecord::from(serde_json::from_str::<Record>(json).unwrap())
    }

    #[test]
    fn vendor_layouts() {
        // GeoIP2 (a record of MaxMind's GeoIP2-City-Test source data, shortened).
        let g = reduce(
            r#"{"city":{"names":{"en":"London"}},"country":{"iso_code":"GB","names":{"en":"United Kingdom"}},"registered_country":{"iso_code":"US"},"subdivisions":[{"iso_code":"ENG"}],"traits":{"is_anycast":false}}"#,
        );
        assert_eq!((g.cc.unwrap().as_str(), g.registered_cc.unwrap().as_str()), ("GB", "US"));
        assert_eq!((g.region.as_deref(), g.city.as_deref()), (Some("GB-ENG"), Some("London")));
        // ip-location-db.
        assert_eq!(reduce(r#"{"country_code":"CN"}"#).cc.unwrap().as_str(), "CN");
        // IPinfo Lite: `country` is a name, `asn` is text.
        let i = reduce(r#"{"asn":"AS13335","as_name":"Cloudflare, Inc.","country":"Australia","country_code":"AU"}"#);
        assert_eq!((i.cc.unwrap().as_str(), i.asn, i.as_org.as_deref()), ("AU", Some(13335), Some("Cloudflare, Inc.")));
        // GeoLite2-ASN.
        let a = reduce(r#"{"autonomous_system_number":1221,"autonomous_system_organization":"Telstra Pty Ltd"}"#);
        assert_eq!((a.asn, a.cc), (Some(1221), None));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0).unwrap(), "1970-01-01");
        assert_eq!(civil_date(1_781_654_400).unwrap(), "2026-06-17");
        assert_eq!(civil_date(951_782_400).unwrap(), "2000-02-29");
        assert!(civil_date(i64::MAX).is_none());
    }

    #[test]
    fn cidr_text() {
        let (a, b) = crate::prefix_bounds("81.2.69.160".parse().unwrap(), 27).unwrap();
        assert_eq!(cidr(a, b), "81.2.69.160/27");
        let (a, b) = crate::prefix_bounds("2001:db8::".parse().unwrap(), 32).unwrap();
        assert_eq!(cidr(a, b), "2001:db8::/32");
    }
}
