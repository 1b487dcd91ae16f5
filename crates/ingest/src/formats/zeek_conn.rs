//! Zeek `conn.log`, in its TSV layout (`#separator`, `#fields` and `#types` header lines,
//! `-` for unset, `(empty)` for empty) or as JSON lines with dotted keys. Columns are found
//! by name, so logs with or without the newer `ip_proto` column, or with extra policy
//! columns, read the same. Lines before any `#fields` header use Zeek's default layout.

use std::net::IpAddr;

use serde_json::Value;
use vedette_model::{Flow, Transport};

use super::{Context, LineFormat};
use crate::time::parse_epoch_micros;
use crate::Batch;

pub(crate) fn probe(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&head[..head.len().min(4096)]);
    (text.contains("#path\tconn") || text.contains("#path conn"))
        || (text.trim_start().starts_with('{') && text.contains("\"id.orig_h\"") && text.contains("\"conn_state\""))
}

const DEFAULT_FIELDS: &[&str] = &[
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "service",
    "duration",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "local_orig",
    "local_resp",
    "missed_bytes",
    "history",
    "orig_pkts",
    "orig_ip_bytes",
    "resp_pkts",
    "resp_ip_bytes",
    "tunnel_parents",
];

/// Where each field we read sits in a line.
#[derive(Debug, Clone)]
struct Layout {
    columns: usize,
    ts: usize,
    orig_h: usize,
    orig_p: Option<usize>,
    resp_h: usize,
    resp_p: Option<usize>,
    proto: Option<usize>,
    duration: Option<usize>,
    orig_bytes: Option<usize>,
    resp_bytes: Option<usize>,
    orig_pkts: Option<usize>,
    resp_pkts: Option<usize>,
}

impl Layout {
    fn from_fields(fields: &[&str]) -> Result<Layout, String> {
        let find = |name: &str| fields.iter().position(|f| *f == name);
        let need = |name: &str| find(name).ok_or_else(|| format!("#fields has no {name} column"));
        Ok(Layout {
            columns: fields.len(),
            ts: need("ts")?,
            orig_h: need("id.orig_h")?,
            orig_p: find("id.orig_p"),
            resp_h: need("id.resp_h")?,
            resp_p: find("id.resp_p"),
            proto: find("proto"),
            duration: find("duration"),
            orig_bytes: find("orig_bytes"),
            resp_bytes: find("resp_bytes"),
            orig_pkts: find("orig_pkts"),
            resp_pkts: find("resp_pkts"),
        })
    }
}

pub(crate) struct ZeekConn {
    separator: String,
    layout: Layout,
    /// A bad `#fields` header: every data line after it is refused with this reason.
    broken_header: Option<String>,
}

impl Default for ZeekConn {
    fn default() -> Self {
        ZeekConn {
            separator: "\t".into(),
            layout: Layout::from_fields(DEFAULT_FIELDS).expect("the default layout has every column"),
            broken_header: None,
        }
    }
}

impl LineFormat for ZeekConn {
    fn line(&mut self, ctx: &Context, number: u64, line: &str, out: &mut Batch) {
        if line.is_empty() {
            return;
        }
        if let Some(directive) = line.strip_prefix('#') {
            self.directive(directive);
            return;
        }
        let parsed = if line.starts_with('{') {
            json_line(line)
        } else if let Some(reason) = &self.broken_header {
            Err(reason.clone())
        } else {
            self.tsv_line(line)
        };
        match parsed {
            Ok(flow) => out.flows.push(flow),
            Err(reason) => out.rejected.push(ctx.reject(number, line.as_bytes(), reason)),
        }
    }
}

impl ZeekConn {
    fn directive(&mut self, directive: &str) {
        if let Some(sep) = directive.strip_prefix("separator ") {
            self.separator = unescape(sep.trim());
        } else if let Some(fields) = directive.strip_prefix("fields") {
            let names: Vec<&str> =
                fields.split(self.separator.as_str()).map(str::trim).filter(|f| !f.is_empty()).collect();
            match Layout::from_fields(&names) {
                Ok(layout) => {
                    self.layout = layout;
                    self.broken_header = None;
                }
                Err(reason) => self.broken_header = Some(reason),
            }
        }
    }

    fn tsv_line(&self, line: &str) -> Result<Flow, String> {
        let fields: Vec<&str> = line.split(self.separator.as_str()).collect();
        let l = &self.layout;
        if fields.len() != l.columns {
            return Err(format!("expected {} columns, found {}", l.columns, fields.len()));
        }
        let get = |i: Option<usize>| i.map(|i| fields[i]).filter(|v| *v != "-" && *v != "(empty)" && !v.is_empty());
        let start_us =
            parse_epoch_micros(fields[l.ts]).ok_or_else(|| format!("ts: {:?} is not a Unix time", fields[l.ts]))?;
        Ok(Flow {
            start_us,
            duration_us: match get(l.duration) {
                Some(d) => parse_epoch_micros(d).ok_or_else(|| format!("duration: {d:?} is not a number"))? as u64,
                None => 0,
            },
            src: ip("id.orig_h", fields[l.orig_h])?,
            src_port: port("id.orig_p", get(l.orig_p))?,
            dst: ip("id.resp_h", fields[l.resp_h])?,
            dst_port: port("id.resp_p", get(l.resp_p))?,
            transport: match get(l.proto) {
                Some(p) => Transport::from_name(p).ok_or_else(|| format!("proto: {p:?} is not a protocol"))?,
                None => Transport(0),
            },
            bytes_out: number("orig_bytes", get(l.orig_bytes))?,
            bytes_in: number("resp_bytes", get(l.resp_bytes))?,
            packets: number("orig_pkts", get(l.orig_pkts))?.saturating_add(number("resp_pkts", get(l.resp_pkts))?),
        })
    }
}

fn ip(field: &str, value: &str) -> Result<IpAddr, String> {
    value.parse().map_err(|_| format!("{field}: {value:?} is not an IP address"))
}

fn number(field: &str, value: Option<&str>) -> Result<u64, String> {
    match value {
        None => Ok(0),
        Some(v) => v.parse().map_err(|_| format!("{field}: {v:?} is not a number")),
    }
}

fn port(field: &str, value: Option<&str>) -> Result<u16, String> {
    match value {
        None => Ok(0),
        Some(v) => v.parse().map_err(|_| format!("{field}: {v:?} is not a port")),
    }
}

/// `#separator \x09` writes the separator as a hex escape.
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(hex) = rest.strip_prefix("\\x").filter(|h| h.len() >= 2) {
            if let Ok(b) = u8::from_str_radix(&hex[..2], 16) {
                out.push(b as char);
                rest = &hex[2..];
                continue;
            }
        }
        let c = rest.chars().next().expect("rest is not empty");
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn json_line(line: &str) -> Result<Flow, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("malformed JSON: {e}"))?;
    let object = value.as_object().ok_or("expected a JSON object")?;
    let text = |key: &str| -> Option<String> {
        match object.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        }
    };
    let ts = text("ts").ok_or("ts: missing")?;
    let start_us = match parse_epoch_micros(&ts) {
        Some(us) => us,
        None => crate::parse_utc(&ts).map_err(|e| format!("ts: {e}"))?.timestamp_micros(),
    };
    let num = |key: &str| number(key, text(key).as_deref());
    Ok(Flow {
        start_us,
        duration_us: text("duration").and_then(|d| parse_epoch_micros(&d)).unwrap_or(0) as u64,
        src: ip("id.orig_h", &text("id.orig_h").ok_or("id.orig_h: missing")?)?,
        src_port: port("id.orig_p", text("id.orig_p").as_deref())?,
        dst: ip("id.resp_h", &text("id.resp_h").ok_or("id.resp_h: missing")?)?,
        dst_port: port("id.resp_p", text("id.resp_p").as_deref())?,
        transport: text("proto").and_then(|p| Transport::from_name(&p)).unwrap_or(Transport(0)),
        bytes_out: num("orig_bytes")?,
        bytes_in: num("resp_bytes")?,
        packets: num("orig_pkts")?.saturating_add(num("resp_pkts")?),
    })
}

#[cfg(test)]
mod tests {
    use crate::formats::decode_all;
    use crate::Catalogue;

    fn decode(bytes: &[u8]) -> crate::Batch {
        let catalogue = Catalogue::builtin();
        decode_all(catalogue.get("zeek-conn").unwrap(), "conn.log", bytes)
    }

    #[test]
    fn tsv_with_ip_proto_column_and_bad_line() {
        let log = b"#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tduration\torig_bytes\tresp_bytes\tconn_state\tip_proto\n1357380000.250000\tC1\t10.0.0.1\t5000\t192.0.2.1\t443\ttcp\t1.5\t100\t200\tSF\t6\n1357380001\tC2\t10.0.0.1\t5000\n";
        let out = decode(log);
        assert_eq!(out.flows.len(), 1);
        let f = out.flows[0];
        assert_eq!(f.start_us, 1_357_380_000_250_000);
        assert_eq!(f.duration_us, 1_500_000);
        assert_eq!(f.bytes(), 300);
        assert_eq!(out.rejected[0].line, 4);
        assert_eq!(out.rejected[0].reason, "expected 12 columns, found 4");
    }

    #[test]
    fn json_lines() {
        let out = decode(br#"{"ts":1357380000.5,"uid":"C","id.orig_h":"10.0.0.1","id.orig_p":1,"id.resp_h":"2001:db8::1","id.resp_p":53,"proto":"udp","conn_state":"SF"}"#);
        assert_eq!(out.flows.len(), 1, "{:?}", out.rejected);
        assert_eq!(out.flows[0].dst.to_string(), "2001:db8::1");
    }
}
