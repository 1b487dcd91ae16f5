//! Zeek `dns.log` (TSV or JSON lines; the header machinery is in [`super::zeek`]): one
//! [`DnsLookup`] per line. The client is `id.orig_h`, the server `id.resp_h`; `rcode` is
//! unset when Zeek saw no reply; of the `answers` only the A and AAAA addresses are kept
//! (CNAME targets and TXT strings are not addresses). A message without a question is
//! skipped, not refused: Zeek logs those too, and there is no lookup in it.
//!
//! ```text
//! #fields ts  uid id.orig_h id.orig_p id.resp_h id.resp_p proto trans_id rtt query qclass qclass_name qtype qtype_name rcode rcode_name AA TC RD RA Z answers TTLs rejected
//! 1357002000.1 C1 10.0.0.5 53211 192.0.2.53 53 udp 4711 0.01 Cdn.Example.COM 1 C_INTERNET 1 A 0 NOERROR F F T T 0 edge.example.net,198.51.100.7 60.0,60.0 F
//!   -> DnsLookup { client: 10.0.0.5, server: 192.0.2.53, query: "cdn.example.com", qtype: 1, rcode: Some(0), answers: [198.51.100.7] }
//! ```

use std::net::IpAddr;

use vedette_model::{DnsLookup, Observation};

use super::values;
use super::zeek::{self, Record, ZeekKind};
use crate::Batch;

pub(crate) fn probe(head: &[u8]) -> bool {
    zeek::probe(head, "dns", &["id.orig_h", "query", "qtype"])
}

/// `dns.log` as a [`ZeekKind`].
pub(crate) enum Dns {}

pub(crate) type ZeekDns = zeek::ZeekLog<Dns>;

const TS: usize = 0;
const ORIG_H: usize = 1;
const RESP_H: usize = 2;
const QUERY: usize = 3;
const QTYPE: usize = 4;
const QTYPE_NAME: usize = 5;
const RCODE: usize = 6;
const RCODE_NAME: usize = 7;
const ANSWERS: usize = 8;

impl ZeekKind for Dns {
    const FIELDS: &'static [&'static str] =
        &["ts", "id.orig_h", "id.resp_h", "query", "qtype", "qtype_name", "rcode", "rcode_name", "answers"];
    const REQUIRED: &'static [usize] = &[TS, ORIG_H, RESP_H, QUERY];
    const DEFAULT_FIELDS: &'static [&'static str] = &[
        "ts",
        "uid",
        "id.orig_h",
        "id.orig_p",
        "id.resp_h",
        "id.resp_p",
        "proto",
        "trans_id",
        "rtt",
        "query",
        "qclass",
        "qclass_name",
        "qtype",
        "qtype_name",
        "rcode",
        "rcode_name",
        "AA",
        "TC",
        "RD",
        "RA",
        "Z",
        "answers",
        "TTLs",
        "rejected",
    ];

    fn read<R: Record>(r: &R, out: &mut Batch) -> Result<bool, String> {
        let time_us = zeek::time(r, TS)?;
        let client = zeek::ip(r, ORIG_H, "id.orig_h")?;
        let server = zeek::ip(r, RESP_H, "id.resp_h")?;
        let Some(query) = r.get(QUERY) else { return Ok(false) };
        let mut lookup = DnsLookup::new(time_us, client, &query);
        lookup.server = Some(server);
        lookup.qtype = match (r.get(QTYPE), r.get(QTYPE_NAME)) {
            (Some(n), _) => n.parse().map_err(|_| format!("qtype: {n:?} is not a DNS type"))?,
            (None, Some(name)) => values::dns_type(&name).unwrap_or(0),
            (None, None) => 0,
        };
        lookup.rcode = match (r.get(RCODE), r.get(RCODE_NAME)) {
            (Some(n), _) => Some(n.parse().map_err(|_| format!("rcode: {n:?} is not a DNS response code"))?),
            (None, Some(name)) => values::dns_rcode(&name),
            (None, None) => None,
        };
        r.each(ANSWERS, &mut |answer| {
            if let Ok(address) = answer.parse::<IpAddr>() {
                lookup.answers.push(address);
            }
        });
        out.observations.push(Observation::Dns(lookup));
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use vedette_model::Observation;

    use crate::formats::decode_all;
    use crate::Catalogue;

    fn decode(bytes: &[u8]) -> crate::Batch {
        decode_all(Catalogue::builtin().get("zeek-dns").unwrap(), "dns.log", bytes)
    }

    #[test]
    fn tsv_answers_keep_addresses_only() {
        let out = decode(b"#separator \\x09\n#fields\tts\tid.orig_h\tid.resp_h\tquery\tqtype\trcode\tanswers\n1357002000.5\t10.0.0.5\t192.0.2.53\tWWW.Example.com.\t1\t0\twww.example.net,198.51.100.7,2001:db8::7\n");
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
        let Observation::Dns(d) = &out.observations[0] else { panic!("{:?}", out.observations) };
        assert_eq!(&*d.query, "www.example.com");
        assert_eq!(d.rcode, Some(0));
        assert_eq!(d.answers.len(), 2);
        assert_eq!(d.server.unwrap().to_string(), "192.0.2.53");
    }

    #[test]
    fn json_without_reply_has_no_rcode() {
        let out = decode(br#"{"ts":1357002000.5,"uid":"C1","id.orig_h":"10.0.0.5","id.orig_p":5353,"id.resp_h":"192.0.2.53","id.resp_p":53,"query":"a.example","qtype":28,"qtype_name":"AAAA"}"#);
        let Observation::Dns(d) = &out.observations[0] else { panic!("{:?}", out.rejected) };
        assert_eq!((d.qtype, d.rcode), (28, None));
    }

    #[test]
    fn bad_client_names_the_field() {
        let out = decode(
            b"#separator \\x09\n#fields\tts\tid.orig_h\tid.resp_h\tquery\n1357002000.5\t1.2.3\t192.0.2.53\ta.example\n",
        );
        assert_eq!(out.rejected[0].reason, "id.orig_h: \"1.2.3\" is not an IP address");
    }
}
