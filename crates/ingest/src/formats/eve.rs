//! Suricata EVE JSON: one object per line, `event_type` says which record it is.
//!
//! - `flow` → a [`Flow`] (`bytes_toserver` out, `bytes_toclient` in, packets summed, the
//!   flow's `start`/`end` for its time and duration);
//! - `dns` → a [`DnsLookup`], in either layout: v2 (Suricata 7 and earlier: `type`
//!   `query`/`answer`, the question in top-level `rrname`/`rrtype`, answers in an
//!   `answers` array or a `grouped` object) and v3 (Suricata 8: `type` `request`/`response`,
//!   `queries[]`, `answers[]` with `rdata`). A v3 response is logged in the packet's
//!   direction, so its `src_ip` is the resolver and the client is `dest_ip`; a v2 answer is
//!   in the flow's direction unless it came from port 53 (the oldest, one-record-per-event
//!   layout);
//! - `http` → an [`HttpRequest`]; `tls` → a [`TlsHello`] (the certificate `fingerprint`,
//!   SHA-1 with colons, becomes 40 hex digits);
//! - `alert` → an [`Event`](vedette_model::Event), stored like any feed record: a trojan-activity or
//!   command-and-control alert, or a signature naming a C2 (`CnC`, `C2`, `C&C`), is
//!   `infected-system` with the client as `source`, as IntelMQ files a bot talking to its
//!   controller; a scan alert (`ET SCAN …`, a network-scan classtype) `scanner`; any other
//!   alert `ids-alert`. The signature, its id, category and severity go to `extra.*`, the
//!   line to `raw`.
//!
//! Other event types (`stats`, `fileinfo`, `anomaly`, …) are skipped and counted, not
//! refused.
//!
//! ```text
//! {"timestamp":"2024-05-01T10:00:00.000100+0000","event_type":"dns","src_ip":"192.0.2.53","src_port":53,
//!  "dest_ip":"10.0.0.5","dest_port":53211,"proto":"UDP","dns":{"version":3,"type":"response","rcode":"NOERROR",
//!  "queries":[{"rrname":"cdn.example.com","rrtype":"A"}],"answers":[{"rrname":"cdn.example.com","rrtype":"A","rdata":"198.51.100.7"}]}}
//!   -> DnsLookup { client: 10.0.0.5, server: 192.0.2.53, query: "cdn.example.com", qtype: 1, rcode: Some(0), answers: [198.51.100.7] }
//! ```

use std::net::IpAddr;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use vedette_model::{
    normalise_name, ClassificationType, DnsLookup, Flow, HttpRequest, Observation, TlsHello, Transport,
};

use super::raw_json::{self, text};
use super::{values, Context, LineFormat};
use crate::Batch;

pub(crate) fn probe(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&head[..head.len().min(4096)]);
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim_start();
    first.starts_with('{') && first.contains("\"event_type\"") && first.contains("\"timestamp\"")
}

#[derive(Default)]
pub(crate) struct Eve {
    skipped: u64,
}

/// The top level of an EVE record: only what is read, each field a raw slice of the line.
#[derive(Deserialize)]
#[serde(expecting = "a JSON object")]
struct EveRecord<'a> {
    #[serde(borrow)]
    timestamp: Option<&'a RawValue>,
    #[serde(borrow)]
    event_type: Option<&'a RawValue>,
    #[serde(borrow)]
    src_ip: Option<&'a RawValue>,
    #[serde(borrow)]
    src_port: Option<&'a RawValue>,
    #[serde(borrow)]
    dest_ip: Option<&'a RawValue>,
    #[serde(borrow)]
    dest_port: Option<&'a RawValue>,
    #[serde(borrow)]
    proto: Option<&'a RawValue>,
    #[serde(borrow)]
    app_proto: Option<&'a RawValue>,
    #[serde(borrow)]
    direction: Option<&'a RawValue>,
    #[serde(borrow)]
    flow: Option<&'a RawValue>,
    #[serde(borrow)]
    dns: Option<&'a RawValue>,
    #[serde(borrow)]
    http: Option<&'a RawValue>,
    #[serde(borrow)]
    tls: Option<&'a RawValue>,
    #[serde(borrow)]
    alert: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(expecting = "a JSON object")]
struct FlowPart<'a> {
    #[serde(borrow)]
    pkts_toserver: Option<&'a RawValue>,
    #[serde(borrow)]
    pkts_toclient: Option<&'a RawValue>,
    #[serde(borrow)]
    bytes_toserver: Option<&'a RawValue>,
    #[serde(borrow)]
    bytes_toclient: Option<&'a RawValue>,
    #[serde(borrow)]
    start: Option<&'a RawValue>,
    #[serde(borrow)]
    end: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(expecting = "a JSON object")]
struct DnsPart<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<&'a RawValue>,
    #[serde(borrow)]
    rrname: Option<&'a RawValue>,
    #[serde(borrow)]
    rrtype: Option<&'a RawValue>,
    #[serde(borrow)]
    rcode: Option<&'a RawValue>,
    #[serde(borrow)]
    rdata: Option<&'a RawValue>,
    #[serde(borrow)]
    queries: Option<&'a RawValue>,
    #[serde(borrow)]
    answers: Option<&'a RawValue>,
    #[serde(borrow)]
    grouped: Option<&'a RawValue>,
}

/// A question (`queries[]`) or a resource record (`answers[]`).
#[derive(Deserialize)]
#[serde(expecting = "a JSON object")]
struct RrPart<'a> {
    #[serde(borrow)]
    rrname: Option<&'a RawValue>,
    #[serde(borrow)]
    rrtype: Option<&'a RawValue>,
    #[serde(borrow)]
    rdata: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(expecting = "a JSON object")]
struct GroupedPart<'a> {
    #[serde(borrow, rename = "A")]
    a: Option<&'a RawValue>,
    #[serde(borrow, rename = "AAAA")]
    aaaa: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(expecting = "a JSON object")]
struct HttpPart<'a> {
    #[serde(borrow)]
    hostname: Option<&'a RawValue>,
    #[serde(borrow)]
    url: Option<&'a RawValue>,
    #[serde(borrow)]
    http_method: Option<&'a RawValue>,
    #[serde(borrow)]
    http_user_agent: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(expecting = "a JSON object")]
struct TlsPart<'a> {
    #[serde(borrow)]
    sni: Option<&'a RawValue>,
    #[serde(borrow)]
    fingerprint: Option<&'a RawValue>,
    #[serde(borrow)]
    ja3: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(expecting = "a JSON object")]
struct Ja3Part<'a> {
    #[serde(borrow)]
    hash: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(expecting = "a JSON object")]
struct AlertPart<'a> {
    #[serde(borrow)]
    signature: Option<&'a RawValue>,
    #[serde(borrow)]
    signature_id: Option<&'a RawValue>,
    #[serde(borrow)]
    category: Option<&'a RawValue>,
    #[serde(borrow)]
    severity: Option<&'a RawValue>,
}

/// What every record has: its time and the two ends.
struct Common {
    time_us: i64,
    src: IpAddr,
    src_port: u16,
    dst: IpAddr,
    dst_port: u16,
}

impl LineFormat for Eve {
    fn line(&mut self, ctx: &Context, number: u64, line: &str, out: &mut Batch) {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return;
        }
        match record(ctx, trimmed, out) {
            Ok(true) => {}
            Ok(false) => self.skipped += 1,
            Err(reason) => out.rejected.push(ctx.reject(number, line.as_bytes(), reason)),
        }
    }

    fn skipped(&self) -> u64 {
        self.skipped
    }
}

fn record(ctx: &Context, line: &str, out: &mut Batch) -> Result<bool, String> {
    if !line.starts_with('{') {
        return Err("expected a JSON object".into());
    }
    let r: EveRecord = serde_json::from_str(line).map_err(|e| raw_json::reason(&e))?;
    let kind = text(r.event_type).ok_or("event_type: missing")?;
    match &*kind {
        "flow" => flow(&r, out),
        "dns" => dns(&r, out),
        "http" => http(&r, out),
        "tls" => tls(&r, out),
        "alert" => alert(ctx, &r, line, out),
        _ => Ok(false),
    }
}

fn common(r: &EveRecord) -> Result<Common, String> {
    let ts = text(r.timestamp).ok_or("timestamp: missing")?;
    Ok(Common {
        time_us: values::micros(&ts).ok_or_else(|| format!("timestamp: {ts:?} is not a time"))?,
        src: values::ip("src_ip", text(r.src_ip).as_deref())?,
        src_port: values::port("src_port", text(r.src_port).as_deref())?,
        dst: values::ip("dest_ip", text(r.dest_ip).as_deref())?,
        dst_port: values::port("dest_port", text(r.dest_port).as_deref())?,
    })
}

/// A nested object (`dns`, `flow`, …) read into its struct; the error names it.
fn part<'a, T: Deserialize<'a>>(name: &str, raw: Option<&'a RawValue>) -> Result<T, String> {
    let raw = raw.ok_or_else(|| format!("{name}: missing"))?;
    serde_json::from_str(raw.get()).map_err(|e| {
        // The position is within the nested object, not the line: it would mislead.
        let message = e.to_string();
        let message = message.rfind(" at line ").map_or(message.as_str(), |i| &message[..i]);
        format!("{name}: {message}")
    })
}

fn transport(r: &EveRecord) -> Result<Transport, String> {
    match text(r.proto) {
        Some(p) => Transport::from_name(&p).ok_or_else(|| format!("proto: {p:?} is not a protocol")),
        None => Ok(Transport(0)),
    }
}

fn flow(r: &EveRecord, out: &mut Batch) -> Result<bool, String> {
    let c = common(r)?;
    let f: FlowPart = part("flow", r.flow)?;
    let time = |name: &str, raw: Option<&RawValue>| -> Result<Option<i64>, String> {
        match text(raw) {
            Some(t) => values::micros(&t).map(Some).ok_or_else(|| format!("flow.{name}: {t:?} is not a time")),
            None => Ok(None),
        }
    };
    let number = |name: &str, raw: Option<&RawValue>| values::count(name, text(raw).as_deref());
    let start_us = time("start", f.start)?.unwrap_or(c.time_us);
    let end_us = time("end", f.end)?.unwrap_or(start_us);
    out.flows.push(Flow {
        start_us,
        duration_us: u64::try_from(end_us.saturating_sub(start_us)).unwrap_or(0),
        src: c.src,
        src_port: c.src_port,
        dst: c.dst,
        dst_port: c.dst_port,
        transport: transport(r)?,
        bytes_out: number("flow.bytes_toserver", f.bytes_toserver)?,
        bytes_in: number("flow.bytes_toclient", f.bytes_toclient)?,
        packets: number("flow.pkts_toserver", f.pkts_toserver)?
            .saturating_add(number("flow.pkts_toclient", f.pkts_toclient)?),
    });
    Ok(true)
}

fn is_dns_port(port: u16) -> bool {
    matches!(port, 53 | 5353)
}

fn dns(r: &EveRecord, out: &mut Batch) -> Result<bool, String> {
    let c = common(r)?;
    let d: DnsPart = part("dns", r.dns)?;
    let kind = text(d.kind).ok_or("dns.type: missing")?;
    let (response, v3) = match &*kind {
        "query" => (false, false),
        "answer" => (true, false),
        "request" => (false, true),
        "response" => (true, true),
        other => return Err(format!("dns.type: {other:?} is not query, answer, request or response")),
    };
    let (name, rrtype) = if v3 {
        let queries: Vec<RrPart> = match d.queries {
            Some(raw) => part("dns.queries", Some(raw))?,
            None => Vec::new(),
        };
        match queries.first() {
            Some(q) => (text(q.rrname), text(q.rrtype)),
            None => (None, None),
        }
    } else {
        (text(d.rrname), text(d.rrtype))
    };
    // A message without a question (some responses) names no lookup.
    let Some(name) = name else { return Ok(false) };
    let (client, server) = if !response {
        (c.src, c.dst)
    } else if v3 || (is_dns_port(c.src_port) && !is_dns_port(c.dst_port)) {
        (c.dst, c.src)
    } else {
        (c.src, c.dst)
    };
    let mut lookup = DnsLookup::new(c.time_us, client, &name);
    lookup.server = Some(server);
    lookup.qtype = rrtype.as_deref().and_then(values::dns_type).unwrap_or(0);
    if response {
        lookup.rcode = match text(d.rcode) {
            Some(code) => Some(
                values::dns_rcode(&code).ok_or_else(|| format!("dns.rcode: {code:?} is not a DNS response code"))?,
            ),
            None => None,
        };
        let mut add = |field: &str, rrtype: Option<&str>, rdata: Option<&str>| -> Result<(), String> {
            if let (Some("A" | "AAAA"), Some(rdata)) = (rrtype, rdata) {
                let address = rdata.parse().map_err(|_| format!("{field}: {rdata:?} is not an IP address"))?;
                if !lookup.answers.contains(&address) {
                    lookup.answers.push(address);
                }
            }
            Ok(())
        };
        // The oldest layout: one answer record per event, at the top level.
        if !v3 {
            add("dns.rdata", rrtype.as_deref(), text(d.rdata).as_deref())?;
        }
        if let Some(raw) = d.answers {
            let answers: Vec<RrPart> = part("dns.answers", Some(raw))?;
            for a in &answers {
                add("dns.answers", text(a.rrtype).as_deref(), text(a.rdata).as_deref())?;
            }
        }
        if let Some(raw) = d.grouped {
            let grouped: GroupedPart = part("dns.grouped", Some(raw))?;
            for (rrtype, list) in [("A", grouped.a), ("AAAA", grouped.aaaa)] {
                for item in list.map(raw_json::elements).unwrap_or_default() {
                    add("dns.grouped", Some(rrtype), text(Some(item)).as_deref())?;
                }
            }
        }
    }
    out.observations.push(Observation::Dns(lookup));
    Ok(true)
}

fn http(r: &EveRecord, out: &mut Batch) -> Result<bool, String> {
    let c = common(r)?;
    let h: HttpPart = part("http", r.http)?;
    out.observations.push(Observation::Http(HttpRequest {
        time_us: c.time_us,
        src: c.src,
        src_port: c.src_port,
        dst: c.dst,
        dst_port: c.dst_port,
        host: text(h.hostname).map_or_else(|| "".into(), |h| values::host(&h)),
        uri: text(h.url).map_or_else(|| "".into(), |u| u.into()),
        method: text(h.http_method).map(|m| m.into()),
        user_agent: text(h.http_user_agent).map(|u| u.into()),
    }));
    Ok(true)
}

fn tls(r: &EveRecord, out: &mut Batch) -> Result<bool, String> {
    let c = common(r)?;
    let t: TlsPart = part("tls", r.tls)?;
    let ja3 = match t.ja3 {
        Some(raw) => {
            let j: Ja3Part = part("tls.ja3", Some(raw))?;
            match text(j.hash) {
                Some(h) => {
                    Some(values::hex_digest(&h, 32).ok_or_else(|| format!("tls.ja3.hash: {h:?} is not an MD5 hash"))?)
                }
                None => None,
            }
        }
        None => None,
    };
    let cert_sha1 = match text(t.fingerprint) {
        Some(f) => Some(
            values::hex_digest(&f, 40).ok_or_else(|| format!("tls.fingerprint: {f:?} is not a SHA-1 fingerprint"))?,
        ),
        None => None,
    };
    out.observations.push(Observation::Tls(TlsHello {
        time_us: c.time_us,
        src: c.src,
        src_port: c.src_port,
        dst: c.dst,
        dst_port: c.dst_port,
        sni: text(t.sni).map(|s| normalise_name(&s)),
        ja3,
        cert_sha1,
    }));
    Ok(true)
}

/// Whether a signature names a C2 channel: `CnC`, `C2` or `C&C` as a word.
fn names_c2(signature: &str) -> bool {
    let lower = signature.to_ascii_lowercase();
    lower.contains("c&c") || lower.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| w == "cnc" || w == "c2")
}

/// IntelMQ's type for an alert, from its signature and Suricata's classtype description.
fn classify(signature: &str, category: &str) -> ClassificationType {
    let category = category.to_ascii_lowercase();
    let trojan = category.contains("trojan")
        || category.contains("command and control")
        || signature.to_ascii_lowercase().split(|c: char| !c.is_ascii_alphanumeric()).any(|w| w == "trojan");
    if trojan || names_c2(signature) {
        ClassificationType::InfectedSystem
    } else if category == "detection of a network scan" || signature.split_whitespace().nth(1) == Some("SCAN") {
        // Rule sets name a rule's group second: `ET SCAN …`, `GPL SCAN …`.
        ClassificationType::Scanner
    } else {
        ClassificationType::IdsAlert
    }
}

fn alert(ctx: &Context, r: &EveRecord, line: &str, out: &mut Batch) -> Result<bool, String> {
    let c = common(r)?;
    let a: AlertPart = part("alert", r.alert)?;
    let signature = text(a.signature).ok_or("alert.signature: missing")?;
    let category = text(a.category);
    let classification = classify(&signature, category.as_deref().unwrap_or(""));
    // Suricata writes the packet's direction; a reply (`to_client`) comes from the server.
    let from_server = text(r.direction).as_deref() == Some("to_client");
    let swap = from_server && classification == ClassificationType::InfectedSystem;
    let mut event = ctx.event(classification);
    event.time_source = chrono::DateTime::from_timestamp_micros(c.time_us);
    let (source, destination) =
        if swap { ((c.dst, c.dst_port), (c.src, c.src_port)) } else { ((c.src, c.src_port), (c.dst, c.dst_port)) };
    event.source.ip = Some(source.0);
    event.source.port = (source.1 != 0).then_some(source.1);
    event.destination.ip = Some(destination.0);
    event.destination.port = (destination.1 != 0).then_some(destination.1);
    // The server's name, when the alert carries the application record.
    let server_name = match (r.http, r.tls) {
        (Some(raw), _) => {
            part::<HttpPart>("http", Some(raw)).ok().and_then(|h| text(h.hostname).map(|h| values::host(&h)))
        }
        (None, Some(raw)) => {
            part::<TlsPart>("tls", Some(raw)).ok().and_then(|t| text(t.sni).map(|s| normalise_name(&s)))
        }
        (None, None) => None,
    };
    if let Some(name) = server_name.filter(|n| !n.is_empty()) {
        let server = if from_server && !swap { &mut event.source } else { &mut event.destination };
        server.fqdn = Some(name.into());
    }
    event.protocol_transport = text(r.proto).map(|p| match Transport::from_name(&p) {
        Some(t) => t.name().into_owned(),
        None => p.to_ascii_lowercase(),
    });
    event.protocol_application =
        text(r.app_proto).map(|p| p.to_ascii_lowercase()).filter(|p| p != "failed" && p != "unknown");
    event.event_description_text = Some(signature.to_string());
    event.extra.insert("signature".into(), Value::String(signature.to_string()));
    let number_or_text = |raw: Option<&RawValue>| {
        text(raw).map(|t| t.parse::<u64>().map_or_else(|_| Value::String(t.to_string()), Value::from))
    };
    if let Some(id) = number_or_text(a.signature_id) {
        event.extra.insert("signature_id".into(), id);
    }
    if let Some(category) = category {
        event.extra.insert("category".into(), Value::String(category.into_owned()));
    }
    if let Some(severity) = number_or_text(a.severity) {
        event.extra.insert("severity".into(), severity);
    }
    event.raw = Some(line.to_string());
    out.events.push(event);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use vedette_model::{ClassificationType, Observation};

    use super::classify;
    use crate::formats::decode_all;
    use crate::Catalogue;

    fn decode(bytes: &[u8]) -> crate::Batch {
        decode_all(Catalogue::builtin().get("suricata-eve").unwrap(), "eve.json", bytes)
    }

    #[test]
    fn v3_response_client_is_the_destination() {
        let out = decode(br#"{"timestamp":"2024-05-01T10:00:00.000100+0000","event_type":"dns","src_ip":"192.0.2.53","src_port":53,"dest_ip":"10.0.0.5","dest_port":53211,"proto":"UDP","dns":{"version":3,"type":"response","rcode":"NXDOMAIN","queries":[{"rrname":"x.example","rrtype":"A"}]}}"#);
        let Observation::Dns(d) = &out.observations[0] else { panic!("{:?}", out.rejected) };
        assert_eq!(d.client.to_string(), "10.0.0.5");
        assert_eq!(d.rcode, Some(3));
    }

    #[test]
    fn v2_grouped_answers() {
        let out = decode(br#"{"timestamp":"2024-05-01T10:00:00.000100+0000","event_type":"dns","src_ip":"10.0.0.5","src_port":53211,"dest_ip":"192.0.2.53","dest_port":53,"proto":"UDP","dns":{"version":2,"type":"answer","rrname":"x.example","rrtype":"A","rcode":"NOERROR","grouped":{"A":["198.51.100.7","198.51.100.8"],"CNAME":["y.example"]}}}"#);
        let Observation::Dns(d) = &out.observations[0] else { panic!("{:?}", out.rejected) };
        assert_eq!(d.client.to_string(), "10.0.0.5");
        assert_eq!(d.answers.len(), 2);
    }

    #[test]
    fn tls_fingerprint_and_ja3() {
        let out = decode(br#"{"timestamp":"2016-09-19T15:13:55.657295+0000","event_type":"tls","src_ip":"10.0.0.5","src_port":54684,"dest_ip":"198.51.100.7","dest_port":443,"proto":"TCP","tls":{"fingerprint":"90:86:a4:3b:f5:cf:1b:2e:4e:f7:97:96:f9:de:ba:b9:66:35:86:3f","sni":"Update.Example.net","ja3":{"hash":"3b5074b1b5d032e5620f69f9f700ff0e"}}}"#);
        let Observation::Tls(t) = &out.observations[0] else { panic!("{:?}", out.rejected) };
        assert_eq!(t.cert_sha1.as_deref(), Some("9086a43bf5cf1b2e4ef79796f9debab96635863f"));
        assert_eq!(t.sni.as_deref(), Some("update.example.net"));
    }

    #[test]
    fn stats_are_skipped_not_refused() {
        let mut decoder = crate::Decoder::new(Catalogue::builtin().get("suricata-eve").unwrap(), "eve.json");
        let mut out = crate::Batch::default();
        decoder.push(
            b"{\"timestamp\":\"2024-05-01T10:00:00+0000\",\"event_type\":\"stats\",\"stats\":{\"uptime\":8}}\n",
            &mut out,
        );
        decoder.finish(&mut out);
        assert!(out.is_empty());
        assert_eq!(decoder.skipped(), 1);
    }

    #[test]
    fn alerts_are_classified_as_intelmq_would() {
        assert_eq!(
            classify("ET MALWARE Win32/Emotet CnC Beacon", "Malware Command and Control Activity Detected"),
            ClassificationType::InfectedSystem
        );
        assert_eq!(classify("ET TROJAN Possible Zbot", "Misc activity"), ClassificationType::InfectedSystem);
        assert_eq!(classify("x", "A Network Trojan was detected"), ClassificationType::InfectedSystem);
        assert_eq!(classify("ET SCAN Nmap", "Detection of a Network Scan"), ClassificationType::Scanner);
        assert_eq!(classify("ET SCAN Potential SSH Scan", "Attempted Information Leak"), ClassificationType::Scanner);
        assert_eq!(
            classify("GPL ATTACK_RESPONSE id check returned root", "Potentially Bad Traffic"),
            ClassificationType::IdsAlert
        );
        assert_eq!(classify("ET INFO Abc2 thing", "Misc activity"), ClassificationType::IdsAlert);
    }
}
