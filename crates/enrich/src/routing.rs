//! Prefix → origin AS tables: pyasn's `ipasn` files (`prefix/len<TAB>asn`, `;` comments)
//! and CAIDA's pfx2as (`prefix<TAB>len<TAB>AS`, multi-origin `AS1_AS2`, AS sets `AS1,AS2`);
//! and the AS names table RIPE publishes (`asn.txt`: `13335 CLOUDFLARENET, US`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use vedette_model::{CountryCode, Rejected};

use vedette_model::ranges::prefix_bounds;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    pub source: Arc<str>,
    pub prefix: String,
    pub origins: Vec<u32>,
}

pub fn parse_prefixes(source: &str, bytes: &[u8], out: &mut Vec<(u128, u128, Arc<Route>)>) -> Vec<Rejected> {
    let name: Arc<str> = Arc::from(source);
    each_line(source, "pfx2as", bytes, |line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (prefix_text, origin_text) = match fields.as_slice() {
            [prefix, origin] if prefix.contains('/') => (prefix.to_string(), *origin),
            [ip, len, origin] => (format!("{ip}/{len}"), *origin),
            _ => return Err(format!("expected `prefix/len asn` or `prefix len asn`, found {} fields", fields.len())),
        };
        let (ip, len) = prefix_text.split_once('/').expect("prefix contains a slash");
        let ip: IpAddr = ip.parse().map_err(|_| format!("prefix: {ip:?} is not an IP address"))?;
        let len: u8 = len.parse().map_err(|_| format!("prefix: {len:?} is not a prefix length"))?;
        let (first, last) = prefix_bounds(ip, len).ok_or_else(|| format!("prefix: /{len} is too long"))?;
        let mut origins = Vec::new();
        for part in origin_text.split(['_', ',']) {
            let asn = part.trim().trim_start_matches("AS");
            origins.push(asn.parse::<u32>().map_err(|_| format!("origin: {part:?} is not an AS number"))?);
        }
        out.push((first, last, Arc::new(Route { source: name.clone(), prefix: prefix_text, origins })));
        Ok(())
    })
}

#[derive(Debug, Clone, PartialEq)]
pub struct AsInfo {
    pub name: String,
    pub cc: Option<CountryCode>,
}

pub fn parse_as_names(source: &str, bytes: &[u8], out: &mut HashMap<u32, AsInfo>) -> Vec<Rejected> {
    each_line(source, "as-names", bytes, |line| {
        let (asn, rest) = line.split_once(char::is_whitespace).ok_or("expected `ASN NAME, CC`")?;
        let asn: u32 = asn.trim_start_matches("AS").parse().map_err(|_| format!("{asn:?} is not an AS number"))?;
        let rest = rest.trim();
        let (name, cc) = match rest.rsplit_once(", ") {
            Some((name, cc)) if cc.len() == 2 => (name.to_string(), cc.parse().ok()),
            _ => (rest.to_string(), None),
        };
        out.insert(asn, AsInfo { name, cc });
        Ok(())
    })
}

fn each_line(
    source: &str,
    feed: &str,
    bytes: &[u8],
    mut handle: impl FnMut(&str) -> Result<(), String>,
) -> Vec<Rejected> {
    let mut rejected = Vec::new();
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let number = index as u64 + 1;
        let result = match std::str::from_utf8(raw) {
            Err(_) => Err("not UTF-8".to_string()),
            Ok(line) => {
                let line = line.trim();
                if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
                    continue;
                }
                handle(line)
            }
        };
        if let Err(reason) = result {
            rejected.push(Rejected::new(source, feed, number, raw, reason));
        }
    }
    rejected
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyasn_and_caida_layouts_with_moas() {
        let mut out = Vec::new();
        let rejected = parse_prefixes("t", b"; IP-ASN32-DAT\n1.0.0.0/24\t13335\n1.0.4.0\t22\t38803_56203\n2001:db8::\t32\t64500,64501\n1.0.0.0/40\t1\n", &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(out[1].2.origins, vec![38803, 56203]);
        assert_eq!(out[2].2.prefix, "2001:db8::/32");
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].line, 5);
    }

    #[test]
    fn ripe_as_names() {
        let mut out = HashMap::new();
        let rejected =
            parse_as_names("t", b"13335 CLOUDFLARENET, US\n4766 KIXS-AS-KR Korea Telecom, KR\nx y\n", &mut out);
        assert_eq!(out[&4766].cc.unwrap().as_str(), "KR");
        assert_eq!(out[&4766].name, "KIXS-AS-KR Korea Telecom");
        assert_eq!(rejected.len(), 1);
    }
}
