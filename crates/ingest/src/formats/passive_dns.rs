//! Passive DNS in the Common Output Format (the IETF draft "Passive DNS – Common Output
//! Format", draft-dulaunoy-dnsop-passive-dns-cof): one JSON object per line with
//! `rrname`, `rrtype`, `rdata`, `time_first`, `time_last` and optionally `count`. An
//! `rdata` array gives one [`PassiveDns`] record per element. Names (the owner, and the
//! target of CNAME, NS, PTR and DNAME records) are compared lower-case without the root
//! dot; addresses are written in their canonical form; a type given as a number (`1`) is
//! written by its name (`A`) when it is a common one.
//!
//! ```text
//! {"rrname":"Www.Example.com.","rrtype":"A","rdata":["198.51.100.7","198.51.100.8"],"time_first":1714557600,"time_last":1714644000,"count":12}
//!   -> PassiveDns { rrname: "www.example.com", rrtype: "A", rdata: "198.51.100.7", .. }, and the same for .8
//! ```

use std::borrow::Cow;
use std::net::IpAddr;

use serde::Deserialize;
use serde_json::value::RawValue;
use vedette_model::{normalise_name, Observation, PassiveDns};

use super::raw_json::{self, text};
use super::{values, Context, LineFormat};
use crate::Batch;

pub(crate) fn probe(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&head[..head.len().min(4096)]);
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim_start();
    first.starts_with('{') && first.contains("\"rrname\"") && first.contains("\"time_first\"")
}

#[derive(Default)]
pub(crate) struct PassiveDnsCof;

#[derive(Deserialize)]
#[serde(expecting = "a JSON object")]
struct CofRecord<'a> {
    #[serde(borrow)]
    rrname: Option<&'a RawValue>,
    #[serde(borrow)]
    rrtype: Option<&'a RawValue>,
    #[serde(borrow)]
    rdata: Option<&'a RawValue>,
    #[serde(borrow)]
    time_first: Option<&'a RawValue>,
    #[serde(borrow)]
    time_last: Option<&'a RawValue>,
    #[serde(borrow)]
    count: Option<&'a RawValue>,
}

impl LineFormat for PassiveDnsCof {
    fn line(&mut self, ctx: &Context, number: u64, line: &str, out: &mut Batch) {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return;
        }
        match records(trimmed) {
            Ok(records) => out.observations.extend(records.into_iter().map(Observation::PassiveDns)),
            Err(reason) => out.rejected.push(ctx.reject(number, line.as_bytes(), reason)),
        }
    }
}

fn time(name: &str, raw: Option<&RawValue>) -> Result<i64, String> {
    let value = text(raw).ok_or_else(|| format!("{name}: missing"))?;
    values::micros(&value).ok_or_else(|| format!("{name}: {value:?} is not a time"))
}

fn records(line: &str) -> Result<Vec<PassiveDns>, String> {
    if !line.starts_with('{') {
        return Err("expected a JSON object".into());
    }
    let r: CofRecord = serde_json::from_str(line).map_err(|e| raw_json::reason(&e))?;
    let rrname = normalise_name(&text(r.rrname).ok_or("rrname: missing")?);
    let rrtype = text(r.rrtype).ok_or("rrtype: missing")?.trim().to_ascii_uppercase();
    // Some servers write the type's number: the common ones get their name, so `1` and `A`
    // read alike.
    let rrtype: Box<str> = match rrtype.parse::<u16>().ok().and_then(values::dns_type_name) {
        Some(name) => name.into(),
        None => rrtype.into(),
    };
    let first_us = time("time_first", r.time_first)?;
    let last_us = time("time_last", r.time_last)?;
    if last_us < first_us {
        return Err("time_last: before time_first".into());
    }
    let count = match text(r.count) {
        Some(c) => Some(c.parse().map_err(|_| format!("count: {c:?} is not a number"))?),
        None => None,
    };
    let raw = r.rdata.ok_or("rdata: missing")?;
    let rdata: Vec<Cow<str>> = if raw_json::is_array(raw) {
        let items = raw_json::elements(raw);
        if items.is_empty() {
            return Err("rdata: empty".into());
        }
        items.into_iter().map(|i| text(Some(i)).ok_or("rdata: expected text")).collect::<Result<_, _>>()?
    } else {
        vec![text(Some(raw)).ok_or("rdata: expected text")?]
    };
    rdata
        .iter()
        .map(|value| {
            let value = value.trim();
            let rdata: Box<str> = match &*rrtype {
                "A" | "AAAA" => value
                    .parse::<IpAddr>()
                    .map_err(|_| format!("rdata: {value:?} is not an IP address"))?
                    .to_string()
                    .into(),
                "CNAME" | "NS" | "PTR" | "DNAME" => normalise_name(value),
                _ => value.into(),
            };
            Ok(PassiveDns { rrname: rrname.clone(), rrtype: rrtype.clone(), rdata, first_us, last_us, count })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use vedette_model::Observation;

    use crate::formats::decode_all;
    use crate::Catalogue;

    fn decode(bytes: &[u8]) -> crate::Batch {
        decode_all(Catalogue::builtin().get("passive-dns").unwrap(), "pdns.json", bytes)
    }

    #[test]
    fn an_rdata_array_gives_one_record_each() {
        let out = decode(br#"{"rrname":"Www.Example.com.","rrtype":"A","rdata":["198.51.100.7","198.51.100.8"],"time_first":1714557600,"time_last":1714644000,"count":12}"#);
        assert_eq!(out.observations.len(), 2, "{:?}", out.rejected);
        let Observation::PassiveDns(p) = &out.observations[1] else { panic!() };
        assert_eq!((&*p.rrname, &*p.rdata, p.count), ("www.example.com", "198.51.100.8", Some(12)));
    }

    #[test]
    fn missing_times_are_named() {
        let out = decode(br#"{"rrname":"a.example","rrtype":"NS","rdata":"ns1.example."}"#);
        assert_eq!(out.rejected[0].reason, "time_first: missing");
    }
}
