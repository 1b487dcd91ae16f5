//! Location data in CSV that people write by hand: RFC 8805 geofeeds (published by the
//! network's operator, found through RFC 9632 `geofeed:` attributes) and the CERT's own
//! operator overrides (`cidr,cc,org,note`). Both are strict: a malformed line is rejected
//! with its number and the reason, and the rest of the file is used.

use vedette_model::{CountryCode, Rejected};

use vedette_model::ranges::parse_cidr;

/// One geofeed entry (RFC 8805 §2.1.1: `ip_prefix,alpha2code,region,city,postal_code`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GeofeedEntry {
    pub prefix: String,
    /// Empty in the file means "do not geolocate": kept as `None`.
    pub cc: Option<CountryCode>,
    pub region: Option<String>,
    pub city: Option<String>,
    pub postal: Option<String>,
}

/// One override: the analyst's statement about a range.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OverrideEntry {
    pub prefix: String,
    pub cc: CountryCode,
    pub org: Option<String>,
    pub note: Option<String>,
}

fn reader(bytes: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(bytes)
}

fn text(field: Option<&str>) -> Option<String> {
    field.map(str::trim).filter(|f| !f.is_empty()).map(str::to_string)
}

/// Checks that a CIDR has no host bits set, as RFC 8805 §2.1.1.1 requires; returns its
/// normalised text and bounds.
fn prefix(field: &str) -> Result<(String, u128, u128), String> {
    let (first, last) = parse_cidr(field).map_err(|e| format!("prefix: {e}"))?;
    let (ip, len) = field.split_once('/').unwrap_or((field, ""));
    let ip: std::net::IpAddr = ip.trim().parse().map_err(|_| format!("prefix: {field:?} is not an address"))?;
    if crate::key(ip) != first {
        return Err(format!("prefix: {field} has host bits set"));
    }
    let text =
        if len.is_empty() { format!("{ip}/{}", if ip.is_ipv4() { 32 } else { 128 }) } else { format!("{ip}/{len}") };
    Ok((text, first, last))
}

fn country(field: &str) -> Result<CountryCode, String> {
    field.parse().map_err(|e| format!("country: {e}"))
}

/// Reads a geofeed; entries come back with their bounds.
pub fn parse_geofeed(source: &str, bytes: &[u8], out: &mut Vec<(u128, u128, GeofeedEntry)>) -> Vec<Rejected> {
    each_record(source, "geofeed", bytes, |fields| {
        if fields.len() > 5 {
            return Err(format!("expected at most 5 fields (prefix,cc,region,city,postal), found {}", fields.len()));
        }
        let (prefix_text, first, last) = prefix(fields[0])?;
        let cc = match fields.get(1).map(|f| f.trim()).filter(|f| !f.is_empty()) {
            Some(f) => Some(country(f)?),
            None => None,
        };
        let region = text(fields.get(2).copied());
        if let (Some(region), Some(cc)) = (&region, cc) {
            // ISO 3166-2: the country code, a hyphen, one to three letters or digits.
            let valid = region.split_once('-').is_some_and(|(c, sub)| {
                c.eq_ignore_ascii_case(cc.as_str())
                    && (1..=3).contains(&sub.len())
                    && sub.chars().all(|c| c.is_ascii_alphanumeric())
            });
            if !valid {
                return Err(format!("region: {region:?} is not an ISO 3166-2 code of {cc}"));
            }
        }
        let entry = GeofeedEntry {
            prefix: prefix_text,
            cc,
            region,
            city: text(fields.get(3).copied()),
            postal: text(fields.get(4).copied()),
        };
        out.push((first, last, entry));
        Ok(())
    })
}

/// Reads an overrides file: `cidr,cc,org,note`, an optional header line `cidr,cc,org,note`.
pub fn parse_overrides(source: &str, bytes: &[u8], out: &mut Vec<(u128, u128, OverrideEntry)>) -> Vec<Rejected> {
    each_record(source, "override", bytes, |fields| {
        if fields[0].eq_ignore_ascii_case("cidr") {
            return Ok(());
        }
        if fields.len() < 2 || fields.len() > 4 {
            return Err(format!("expected 2 to 4 fields (cidr,cc,org,note), found {}", fields.len()));
        }
        let (prefix_text, first, last) = prefix(fields[0])?;
        let cc = country(fields[1])?;
        let entry = OverrideEntry {
            prefix: prefix_text,
            cc,
            org: text(fields.get(2).copied()),
            note: text(fields.get(3).copied()),
        };
        out.push((first, last, entry));
        Ok(())
    })
}

fn each_record(
    source: &str,
    feed: &str,
    bytes: &[u8],
    mut handle: impl FnMut(&[&str]) -> Result<(), String>,
) -> Vec<Rejected> {
    let mut rejected = Vec::new();
    let mut records = reader(bytes);
    let mut record = csv::ByteRecord::new();
    loop {
        match records.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                rejected.push(Rejected::new(source, feed, line, b"", format!("unreadable CSV: {e}")));
                break;
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        let raw = record.iter().collect::<Vec<_>>().join(&b","[..]);
        let fields: Result<Vec<&str>, _> = record.iter().map(std::str::from_utf8).collect();
        let result = match fields {
            Err(_) => Err("not UTF-8".to_string()),
            Ok(fields) if fields.iter().all(|f| f.is_empty()) => Ok(()),
            Ok(fields) => handle(&fields),
        };
        if let Err(reason) = result {
            rejected.push(Rejected::new(source, feed, line, &raw, reason));
        }
    }
    rejected
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8805_examples_and_malformed_lines() {
        // The first four lines are RFC 8805 §2.1.1's own examples.
        let text = "# RFC 8805 example\n192.0.2.0/25,US,US-AL,,\n192.0.2.5,US,US-AL,Alabaster,35007\n2001:db8::/32,PL,PL-MZ,,02-784\n2001:db8:cafe::/48,PL,PL-MZ,,\n10.0.0.1/8,US,,,\n192.0.2.128/25,USA,,,\n198.51.100.0/24,JP,KR-11,Seoul,\n198.51.100.0/24,JP,JP-13,Tokyo,,extra\n203.0.113.0/24,,,,\n";
        let mut out = Vec::new();
        let rejected = parse_geofeed("feed", text.as_bytes(), &mut out);
        assert_eq!(out.len(), 5, "{rejected:?}");
        assert_eq!(out[1].2.city.as_deref(), Some("Alabaster"));
        assert_eq!(out[1].2.prefix, "192.0.2.5/32");
        assert_eq!(out[2].2.postal.as_deref(), Some("02-784"));
        assert_eq!(out[4].2.cc, None);
        let lines: Vec<(u64, &str)> = rejected.iter().map(|r| (r.line, r.reason.as_str())).collect();
        assert_eq!(lines[0], (6, "prefix: 10.0.0.1/8 has host bits set"));
        assert_eq!(lines[1], (7, "country: \"USA\" is not a two-letter country code"));
        assert_eq!(lines[2], (8, "region: \"KR-11\" is not an ISO 3166-2 code of JP"));
        assert!(lines[3].1.starts_with("expected at most 5 fields"), "{lines:?}");
        assert_eq!(lines[3].0, 9);
    }

    #[test]
    fn overrides_with_header_quotes_and_errors() {
        let text = "cidr,cc,org,note\n36.0.16.0/20,KR,Example Bank,\"this range is used by a bank in KR, seen 2013\"\n1.2.3.0/24\n1.2.4.0/24,XYZ,x,y\n";
        let mut out = Vec::new();
        let rejected = parse_overrides("ops", text.as_bytes(), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].2.note.as_deref(), Some("this range is used by a bank in KR, seen 2013"));
        assert_eq!(out[0].2.org.as_deref(), Some("Example Bank"));
        assert_eq!(rejected.len(), 2);
        assert_eq!((rejected[0].line, rejected[1].line), (3, 4));
    }
}
