//! RIR statistics exchange files (`delegated-<rir>-<date>` and `-extended`), all five
//! registries with their quirks: version 2 and 2.3 headers, RIPE's Unix-time serial,
//! AFRINIC's empty date and holder fields, IPv4 sizes as address counts (not prefixes).

use std::net::IpAddr;
use std::sync::Arc;

use vedette_model::{CountryCode, Rejected};

use vedette_model::ranges::{key, prefix_bounds};

/// One delegation record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Delegation {
    pub source: Arc<str>,
    pub registry: String,
    pub cc: CountryCode,
    pub range: String,
    pub date: Option<String>,
    pub status: String,
    pub holder: Option<String>,
}

#[derive(Debug, Default)]
pub struct Delegations {
    pub addresses: Vec<(u128, u128, Arc<Delegation>)>,
    /// `(first ASN, last ASN, country)`.
    pub asns: Vec<(u32, u32, CountryCode)>,
    /// The dataset's version, from its header line: registry, serial and end date.
    pub version: Option<String>,
}

/// Reads one delegated file; malformed lines come back as rejected records.
pub fn parse(source: &str, bytes: &[u8], out: &mut Delegations) -> Vec<Rejected> {
    let name: Arc<str> = Arc::from(source);
    let mut rejected = Vec::new();
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let number = index as u64 + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Ok(line) = std::str::from_utf8(raw) else {
            rejected.push(Rejected::new(source, "rir-delegated", number, raw, "not UTF-8"));
            continue;
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Err(reason) = parse_line(&name, line, out) {
            rejected.push(Rejected::new(source, "rir-delegated", number, raw, reason));
        }
    }
    rejected
}

fn parse_line(source: &Arc<str>, line: &str, out: &mut Delegations) -> Result<(), String> {
    let fields: Vec<&str> = line.split('|').collect();
    // The version line starts with the format version (`2`, `2.3`), records with a registry.
    if fields[0].chars().next().is_some_and(|c| c.is_ascii_digit()) {
        // `version|registry|serial|records|startdate|enddate|UTCoffset`
        if let [format, registry, serial, _, _, end, ..] = fields.as_slice() {
            out.version = Some(format!("{registry} serial {serial} to {end} (format {format})"));
        }
        return Ok(());
    }
    if fields.len() >= 6 && fields[1] == "*" && fields[5].trim() == "summary" {
        return Ok(());
    }
    if fields.len() < 7 {
        return Err(format!("expected at least 7 fields, found {}", fields.len()));
    }
    let (registry, cc, kind, start, value, date, status) =
        (fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6]);
    let cc: CountryCode =
        if cc.trim().is_empty() { CountryCode::UNKNOWN } else { cc.parse().map_err(|e| format!("cc: {e}"))? };
    let holder = fields.get(7).map(|h| h.trim()).filter(|h| !h.is_empty()).map(str::to_string);
    let date = Some(date.trim()).filter(|d| !d.is_empty() && *d != "00000000").map(str::to_string);
    let count: u128 = value.trim().parse().map_err(|_| format!("value: {value:?} is not a number"))?;
    match kind {
        "ipv4" | "ipv6" => {
            let ip: IpAddr = start.trim().parse().map_err(|_| format!("start: {start:?} is not an IP address"))?;
            let (first, last, range) = match (kind, ip) {
                ("ipv4", IpAddr::V4(_)) => {
                    if count == 0 || count > 1 << 32 {
                        return Err(format!("value: {count} is not an IPv4 address count"));
                    }
                    let first = key(ip);
                    let last = first + count - 1;
                    if last > key("255.255.255.255".parse().expect("literal address")) {
                        return Err(format!("range {ip} + {count} runs past the IPv4 space"));
                    }
                    (first, last, format!("{ip}+{count}"))
                }
                ("ipv6", IpAddr::V6(_)) => {
                    let len = u8::try_from(count)
                        .ok()
                        .filter(|l| *l <= 128)
                        .ok_or_else(|| format!("value: {count} is not an IPv6 prefix length"))?;
                    let (first, last) = prefix_bounds(ip, len).expect("length checked");
                    (first, last, format!("{ip}/{len}"))
                }
                _ => return Err(format!("start: {start} is not an {kind} address")),
            };
            let delegation = Delegation {
                source: source.clone(),
                registry: registry.to_string(),
                cc,
                range,
                date,
                status: status.trim().to_string(),
                holder,
            };
            out.addresses.push((first, last, Arc::new(delegation)));
        }
        "asn" => {
            let first: u32 = start.trim().parse().map_err(|_| format!("start: {start:?} is not an AS number"))?;
            let span = u32::try_from(count)
                .ok()
                .filter(|c| *c > 0)
                .ok_or_else(|| format!("value: {count} is not an AS count"))?;
            let last = first.checked_add(span - 1).ok_or("AS range overflows")?;
            out.asns.push((first, last, cc));
        }
        other => return Err(format!("type: unknown resource type {other:?}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_records_and_skips_headers() {
        let text = b"2.3|apnic|20260601|3|19830613|20260531|+1000\napnic|*|ipv4|*|2|summary\napnic|CN|ipv4|1.0.1.0|256|20110414|allocated|A92E1062\napnic|JP|ipv6|2001:200::|35|19990813|allocated|A91\napnic|KR|asn|4766|1|20000101|allocated|A92\nafrinic|ZZ|asn|8770|1||available|\nripencc|NL|ipv4|1.2.3.0|x|20100101|allocated\nbad|line\n";
        let mut out = Delegations::default();
        let rejected = parse("apnic", text, &mut out);
        assert_eq!(out.addresses.len(), 2);
        assert_eq!(out.asns, vec![(4766, 4766, "KR".parse().unwrap()), (8770, 8770, CountryCode::UNKNOWN)]);
        assert_eq!(rejected.len(), 2);
        assert_eq!(rejected[0].line, 7);
        assert!(rejected[0].reason.contains("value"));
        let (first, last, d) = &out.addresses[0];
        assert_eq!(last - first, 255);
        assert_eq!(d.cc.as_str(), "CN");
        assert_eq!(d.holder.as_deref(), Some("A92E1062"));
    }
}
