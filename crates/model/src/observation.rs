//! Telemetry beyond flows: DNS lookups, HTTP requests, TLS client hellos, sinkhole hits
//! and passive DNS records.
//!
//! Like [`crate::Flow`], these stream through detection and are never stored one by one;
//! they carry only what detection reads (names are lower-case, without a trailing dot).
//!
//! ```
//! use vedette_model::{DnsLookup, Observation};
//!
//! let lookup = DnsLookup::new(1_700_000_000_000_000, "10.0.0.5".parse().unwrap(), "Ab12.Example.COM.");
//! assert_eq!(&*lookup.query, "ab12.example.com");
//! let observation = Observation::Dns(lookup);
//! assert_eq!(observation.time_us(), 1_700_000_000_000_000);
//! ```

use std::net::IpAddr;

/// DNS response codes detection cares about (RFC 1035 §4.1.1).
pub mod rcode {
    pub const NOERROR: u8 = 0;
    pub const SERVFAIL: u8 = 2;
    pub const NXDOMAIN: u8 = 3;
}

/// A DNS name as detection compares it: lower-case, no trailing dot, no surrounding blanks.
pub fn normalise_name(name: &str) -> Box<str> {
    let name = name.trim().trim_end_matches('.');
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        name.to_ascii_lowercase().into_boxed_str()
    } else {
        name.into()
    }
}

/// One DNS query and what came back (Zeek `dns.log`, Suricata EVE `dns`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsLookup {
    /// Microseconds since the Unix epoch (UTC).
    pub time_us: i64,
    /// The host that asked (for a query seen at a resolver, the resolver's client).
    pub client: IpAddr,
    pub server: Option<IpAddr>,
    pub query: Box<str>,
    /// The query type number (1 = A, 28 = AAAA, 16 = TXT, …); 0 when unknown.
    pub qtype: u16,
    /// The response code ([`rcode`]); `None` for a query without a seen answer.
    pub rcode: Option<u8>,
    /// The A and AAAA addresses in the answer.
    pub answers: Vec<IpAddr>,
}

impl DnsLookup {
    pub fn new(time_us: i64, client: IpAddr, query: &str) -> DnsLookup {
        DnsLookup {
            time_us,
            client,
            server: None,
            query: normalise_name(query),
            qtype: 0,
            rcode: None,
            answers: Vec::new(),
        }
    }
}

/// One HTTP request (Zeek `http.log`, Suricata EVE `http`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub time_us: i64,
    pub src: IpAddr,
    pub src_port: u16,
    pub dst: IpAddr,
    pub dst_port: u16,
    /// The `Host` header, normalised like a DNS name (a port suffix removed).
    pub host: Box<str>,
    /// The request target as sent (`/gate.php?id=1`).
    pub uri: Box<str>,
    pub method: Option<Box<str>>,
    pub user_agent: Option<Box<str>>,
}

/// One TLS client hello (Zeek `ssl.log`, Suricata EVE `tls`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsHello {
    pub time_us: i64,
    pub src: IpAddr,
    pub src_port: u16,
    pub dst: IpAddr,
    pub dst_port: u16,
    /// Server Name Indication, normalised like a DNS name.
    pub sni: Option<Box<str>>,
    /// JA3 client fingerprint, 32 lower-case hex digits.
    pub ja3: Option<Box<str>>,
    /// SHA-1 of the server certificate, 40 lower-case hex digits (what SSLBL lists).
    pub cert_sha1: Option<Box<str>>,
}

/// A bot reaching a sinkhole: the plain `time,bot_ip,sinkholed_domain` log a sinkhole
/// operator keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkholeHit {
    pub time_us: i64,
    pub bot: IpAddr,
    /// The sinkholed domain the bot asked for.
    pub domain: Box<str>,
    /// The malware family the domain belonged to, when the log says.
    pub family: Option<Box<str>>,
}

/// One passive DNS record (the "Passive DNS – Common Output Format" draft): a name that
/// resolved to `rdata` between first and last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassiveDns {
    pub rrname: Box<str>,
    /// `A`, `AAAA`, `CNAME`, `NS`, … as written.
    pub rrtype: Box<str>,
    pub rdata: Box<str>,
    pub first_us: i64,
    pub last_us: i64,
    pub count: Option<u64>,
}

/// Any telemetry record that is not a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    Dns(DnsLookup),
    Http(HttpRequest),
    Tls(TlsHello),
    Sinkhole(SinkholeHit),
    PassiveDns(PassiveDns),
}

impl Observation {
    /// When it was seen (for passive DNS, the last time).
    pub fn time_us(&self) -> i64 {
        match self {
            Observation::Dns(d) => d.time_us,
            Observation::Http(h) => h.time_us,
            Observation::Tls(t) => t.time_us,
            Observation::Sinkhole(s) => s.time_us,
            Observation::PassiveDns(p) => p.last_us,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_compared_lower_case_without_the_root_dot() {
        assert_eq!(&*normalise_name(" WWW.Example.org. "), "www.example.org");
        assert_eq!(&*normalise_name("example.org"), "example.org");
        assert_eq!(&*normalise_name("."), "");
    }
}
