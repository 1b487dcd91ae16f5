//! Special-use address space (RFC 6890 and its updates): private, loopback, link-local,
//! documentation, benchmarking, multicast and reserved ranges have no country.

use std::net::IpAddr;
#[cfg(test)]
use std::sync::OnceLock;

use vedette_model::ranges::prefix_bounds;
#[cfg(test)]
use vedette_model::ranges::RangeMap;

const SPECIAL_USE: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    // IPv6 (not ::ffff:0:0/96: IPv4 addresses are keyed there and judged above)
    "::/128",
    "::1/128",
    "64:ff9b::/96",
    "100::/64",
    "2001::/23",
    "2001:db8::/32",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
];

/// The special-use ranges as key bounds; the compiled table holds them as one more source.
pub fn ranges() -> Vec<(u128, u128)> {
    SPECIAL_USE
        .iter()
        .map(|p| {
            let (ip, len) = p.split_once('/').expect("prefixes in the table have a length");
            let ip: IpAddr = ip.parse().expect("prefixes in the table are valid");
            prefix_bounds(ip, len.parse().expect("valid length")).expect("valid prefix")
        })
        .collect()
}

#[cfg(test)]
pub fn is_special_use(ip: IpAddr) -> bool {
    static TABLE: OnceLock<RangeMap<()>> = OnceLock::new();
    let table = TABLE.get_or_init(|| RangeMap::build(ranges().into_iter().map(|(a, b)| (a, b, ())).collect()));
    table.get(ip).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_ranges() {
        for special in ["10.1.1.1", "192.0.2.5", "fe80::1", "2001:db8::1", "239.1.1.1", "::1"] {
            assert!(is_special_use(special.parse().unwrap()), "{special}");
        }
        for public in ["8.8.8.8", "36.1.1.1", "2400:cb00::1"] {
            assert!(!is_special_use(public.parse().unwrap()), "{public}");
        }
    }
}
