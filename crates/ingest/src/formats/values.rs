//! Field readers the telemetry formats share. Each takes the field's name so a refusal
//! says which field was wrong, and what it held:
//!
//! ```text
//! ip("id.orig_h", Some("1.2.3"))   -> Err("id.orig_h: \"1.2.3\" is not an IP address")
//! port("src_port", None)           -> Ok(0)           (an optional port: ICMP has none)
//! iso_micros("2016-05-24T17:27:02.333141-0600") -> Some(1464132422333141)
//! dns_type("AAAA") -> Some(28),  dns_rcode("NXDOMAIN") -> Some(3)
//! host("WWW.Example.com:8080") -> "www.example.com"
//! ```

use std::net::IpAddr;

use chrono::NaiveDate;
use vedette_model::normalise_name;

/// Unix seconds with an optional fraction (`1357002000.123456`), as microseconds: the
/// same as `time::parse_epoch_micros` (at most 12 digits of seconds, the fraction cut at
/// 6), in one pass, as every Zeek line has one.
pub(crate) fn parse_epoch_micros(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut seconds: i64 = 0;
    // At most 13 digits are read: a 13th already makes the value refused, and more could
    // overflow.
    while i < b.len() && i <= 12 && b[i].is_ascii_digit() {
        seconds = seconds * 10 + i64::from(b[i] - b'0');
        i += 1;
    }
    if i == 0 || i > 12 {
        return None;
    }
    let mut micros: i64 = 0;
    if i < b.len() {
        if b[i] != b'.' {
            return None;
        }
        let mut digits = 0;
        for &c in &b[i + 1..] {
            if !c.is_ascii_digit() {
                return None;
            }
            if digits < 6 {
                micros = micros * 10 + i64::from(c - b'0');
                digits += 1;
            }
        }
        for _ in digits..6 {
            micros *= 10;
        }
    }
    Some(seconds * 1_000_000 + micros)
}

pub(crate) fn ip(field: &str, value: Option<&str>) -> Result<IpAddr, String> {
    let value = value.ok_or_else(|| format!("{field}: missing"))?;
    value.parse().map_err(|_| format!("{field}: {value:?} is not an IP address"))
}

/// An optional port: absent is 0.
pub(crate) fn port(field: &str, value: Option<&str>) -> Result<u16, String> {
    match value {
        None => Ok(0),
        Some(v) => v.parse().map_err(|_| format!("{field}: {v:?} is not a port")),
    }
}

/// An optional count: absent is 0.
pub(crate) fn count(field: &str, value: Option<&str>) -> Result<u64, String> {
    match value {
        None => Ok(0),
        Some(v) => v.parse().map_err(|_| format!("{field}: {v:?} is not a number")),
    }
}

/// A time as microseconds since the epoch: Unix seconds with a fraction (Zeek TSV), or
/// ISO 8601 with any offset (Zeek JSON with ISO timestamps, Suricata EVE).
pub(crate) fn micros(value: &str) -> Option<i64> {
    parse_epoch_micros(value)
        .or_else(|| iso_micros(value))
        .or_else(|| crate::parse_utc(value).ok().map(|t| t.timestamp_micros()))
}

/// A duration in seconds, `0.000123` or (from a JSON float) `1.5e-05`, as microseconds.
pub(crate) fn duration_micros(value: &str) -> Option<u64> {
    if let Some(us) = parse_epoch_micros(value) {
        return u64::try_from(us).ok();
    }
    let seconds: f64 = value.parse().ok()?;
    (0.0..1e12).contains(&seconds).then(|| (seconds * 1e6).round() as u64)
}

/// `YYYY-MM-DDTHH:MM:SS[.ffffff][Z|±HH:MM|±HHMM]` (EVE writes `+0000`, Zeek `Z`) read
/// without chrono's format parser; anything else falls through to `None`.
pub(crate) fn iso_micros(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ') || b[13] != b':' {
        return None;
    }
    if b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    let mut fraction: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 6 {
                fraction = fraction * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..6 {
            fraction *= 10;
        }
    }
    let offset_seconds: i64 = match &b[i..] {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, m1, m2] | [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digit = |c: u8| c.is_ascii_digit().then(|| i64::from(c - b'0'));
            let offset = (digit(*h1)? * 10 + digit(*h2)?) * 3600 + (digit(*m1)? * 10 + digit(*m2)?) * 60;
            if *sign == b'+' {
                offset
            } else {
                -offset
            }
        }
        _ => return None,
    };
    let days = date.signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1)?).num_days();
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_seconds;
    seconds.checked_mul(1_000_000)?.checked_add(fraction)
}

/// DNS record type numbers for the names Zeek's `qtype_name` and EVE's `rrtype` use
/// (IANA DNS parameters); `TYPE65534` style names give their number.
pub(crate) fn dns_type(name: &str) -> Option<u16> {
    Some(match name {
        "A" => 1,
        "NS" => 2,
        "CNAME" => 5,
        "SOA" => 6,
        "NULL" => 10,
        "WKS" => 11,
        "PTR" => 12,
        "HINFO" => 13,
        "MX" => 15,
        "TXT" => 16,
        "AAAA" => 28,
        "LOC" => 29,
        "SRV" => 33,
        "NAPTR" => 35,
        "DNAME" => 39,
        "OPT" => 41,
        "DS" => 43,
        "SSHFP" => 44,
        "RRSIG" => 46,
        "NSEC" => 47,
        "DNSKEY" => 48,
        "NSEC3" => 50,
        "TLSA" => 52,
        "SVCB" => 64,
        "HTTPS" => 65,
        "SPF" => 99,
        "AXFR" => 252,
        "ANY" | "*" => 255,
        "URI" => 256,
        "CAA" => 257,
        other => return other.strip_prefix("TYPE").and_then(|n| n.parse().ok()).or_else(|| other.parse().ok()),
    })
}

/// The name of a common DNS record type number, the inverse of [`dns_type`].
pub(crate) fn dns_type_name(number: u16) -> Option<&'static str> {
    Some(match number {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        39 => "DNAME",
        64 => "SVCB",
        65 => "HTTPS",
        257 => "CAA",
        _ => return None,
    })
}

/// DNS response codes by name (RFC 1035, 2136, 6895), or a number as text.
pub(crate) fn dns_rcode(name: &str) -> Option<u8> {
    Some(match name.to_ascii_uppercase().as_str() {
        "NOERROR" => 0,
        "FORMERR" => 1,
        "SERVFAIL" => 2,
        "NXDOMAIN" => 3,
        "NOTIMP" => 4,
        "REFUSED" => 5,
        "YXDOMAIN" => 6,
        "YXRRSET" => 7,
        "NXRRSET" => 8,
        "NOTAUTH" => 9,
        "NOTZONE" => 10,
        "BADVERS" | "BADSIG" => 16,
        other => return other.parse().ok(),
    })
}

/// An HTTP `Host` header as a name: lower-case, the port removed, an IPv6 literal
/// without its brackets.
pub(crate) fn host(value: &str) -> Box<str> {
    let value = value.trim();
    if let Some(inner) = value.strip_prefix('[') {
        return normalise_name(inner.split(']').next().unwrap_or(inner));
    }
    match value.rsplit_once(':') {
        // One colon and digits after it: a port. More colons: a bare IPv6 address.
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => normalise_name(name),
        _ => normalise_name(value),
    }
}

/// `digits` hex digits (colons between bytes allowed, as in `90:86:a4:…`), lower-cased.
pub(crate) fn hex_digest(value: &str, digits: usize) -> Option<Box<str>> {
    let hex: String = value.chars().filter(|c| *c != ':').map(|c| c.to_ascii_lowercase()).collect();
    (hex.len() == digits && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| hex.into_boxed_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times_with_every_offset_style() {
        assert_eq!(iso_micros("2016-05-24T17:27:02.333141-0600"), Some(1_464_132_422_333_141));
        assert_eq!(iso_micros("2016-05-24T23:27:02.333141+0000"), Some(1_464_132_422_333_141));
        assert_eq!(iso_micros("2016-05-24T23:27:02.333141Z"), Some(1_464_132_422_333_141));
        assert_eq!(iso_micros("2016-05-25T01:27:02.333141+02:00"), Some(1_464_132_422_333_141));
        assert_eq!(iso_micros("2016-05-24T23:27:02"), Some(1_464_132_422_000_000));
        assert_eq!(iso_micros("2016-05-24T23:27:02.5Z"), Some(1_464_132_422_500_000));
        assert_eq!(iso_micros("1969-12-31T23:59:59Z"), Some(-1_000_000));
        assert_eq!(iso_micros("2016-02-30T00:00:00Z"), None);
        assert_eq!(iso_micros("2016-05-24T23:27:02.Z"), None);
        assert_eq!(iso_micros("2016-05-24T23:27:02+5"), None);
        assert_eq!(iso_micros("2016-05-24T25:27:02Z"), None);
        assert_eq!(micros("1357002000.5"), Some(1_357_002_000_500_000));
    }

    #[test]
    fn epoch_parse_matches_the_shared_one() {
        for s in [
            "1357380000.123456",
            "1357380000.1234567",
            "1357380000",
            "1357380000.",
            "-1",
            "1.x",
            "",
            ".5",
            "1234567890123",
            "0.000001",
            "1e5",
            // Digits enough to overflow an i64 if all were read (found by fuzzing).
            "66666666666666666666666666666666.5",
        ] {
            assert_eq!(parse_epoch_micros(s), crate::time::parse_epoch_micros(s), "{s:?}");
        }
    }

    #[test]
    fn durations_in_fixed_or_exponent_notation() {
        assert_eq!(duration_micros("1.250000"), Some(1_250_000));
        assert_eq!(duration_micros("1.5e-05"), Some(15));
        assert_eq!(duration_micros("-1"), None);
        assert_eq!(duration_micros("NaN"), None);
    }

    #[test]
    fn host_headers_lose_their_port() {
        assert_eq!(&*host("WWW.Example.com:8080"), "www.example.com");
        assert_eq!(&*host("[2001:db8::1]:8080"), "2001:db8::1");
        assert_eq!(&*host("2001:db8::1"), "2001:db8::1");
        assert_eq!(&*host("example.com."), "example.com");
    }

    #[test]
    fn digests_and_dns_names() {
        assert_eq!(
            hex_digest("90:86:A4:3B:F5:CF:1B:2E:4E:F7:97:96:F9:DE:BA:B9:66:35:86:3F", 40).as_deref(),
            Some("9086a43bf5cf1b2e4ef79796f9debab96635863f")
        );
        assert_eq!(hex_digest("abc", 40), None);
        assert_eq!(dns_type("AAAA"), Some(28));
        assert_eq!(dns_type("TYPE65534"), Some(65534));
        assert_eq!(dns_type("BOGUS"), None);
        for n in 0..=300u16 {
            if let Some(name) = dns_type_name(n) {
                assert_eq!(dns_type(name), Some(n));
            }
        }
        assert_eq!(dns_rcode("nxdomain"), Some(3));
        assert_eq!(dns_rcode("7"), Some(7));
        assert_eq!(dns_rcode("BOGUS"), None);
    }
}
