//! abuse.ch Feodo Tracker botnet C2 blocklist.
//!
//! `ipblocklist.csv`: a `#` banner, the header
//! `"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"` (older files:
//! `# Firstseen,DstIP,DstPort,LastOnline,Malware`), quoted rows, a `# Number of entries`
//! trailer. `ipblocklist.json`: an array of `{ip_address, port, status, hostname, as_number,
//! as_name, country, first_seen, last_online, malware}`. Both give one `c2-server` event per
//! row, with the fields IntelMQ's Feodo parser fills.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

use serde::Deserialize;
use serde_json::Value;
use vedette_model::{ClassificationType, Event};

use super::json_array::{ArraySplitter, Elements, Piece};
use super::raw_json::Scalar;
use super::{csv_line, flat_object, Context, LineFormat};
use crate::{parse_utc, Batch};

pub(crate) fn probe(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&head[..head.len().min(4096)]).to_ascii_lowercase();
    let json = text.trim_start().starts_with('[') && text.contains("\"ip_address\"") && text.contains("\"malware\"");
    json || text.contains("feodo tracker")
        || text.contains("\"first_seen_utc\",\"dst_ip\"")
        || text.contains("firstseen,dstip,dstport")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    FirstSeen,
    Ip,
    Port,
    Status,
    LastOnline,
    Malware,
    Ignored,
}

impl Column {
    fn from_header(name: &str) -> Column {
        match name.trim().trim_start_matches('#').trim().to_ascii_lowercase().as_str() {
            "first_seen_utc" | "firstseen" | "first_seen" => Column::FirstSeen,
            "dst_ip" | "dstip" | "ip_address" => Column::Ip,
            "dst_port" | "dstport" | "port" => Column::Port,
            "c2_status" | "status" => Column::Status,
            "last_online" | "lastonline" => Column::LastOnline,
            "malware" => Column::Malware,
            _ => Column::Ignored,
        }
    }
}

const DEFAULT_COLUMNS: [Column; 6] =
    [Column::FirstSeen, Column::Ip, Column::Port, Column::Status, Column::LastOnline, Column::Malware];

#[derive(Default)]
pub(crate) struct Feodo {
    columns: Option<Vec<Column>>,
    /// Set once the input turned out to be the JSON export: its records, cut out as their
    /// lines arrive.
    json: Option<ArraySplitter<JsonRecords>>,
    /// Set once the input turned out to be an HTML page (a portal's error page).
    html: bool,
}

impl LineFormat for Feodo {
    fn line(&mut self, ctx: &Context, number: u64, line: &str, out: &mut Batch) {
        if let Some(records) = &mut self.json {
            records.line(line, |piece| json_piece(ctx, piece, out));
            return;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return;
        }
        if trimmed.starts_with('[') || trimmed.starts_with('{') {
            let mut records = ArraySplitter::new(number);
            records.line(line, |piece| json_piece(ctx, piece, out));
            self.json = Some(records);
            return;
        }
        let lower = trimmed.to_ascii_lowercase();
        if lower.contains("first_seen_utc") || lower.contains("firstseen,") {
            let header = trimmed.trim_start_matches('#').trim();
            match csv_line::split(header, ",") {
                Ok(names) => self.columns = Some(names.iter().map(|n| Column::from_header(n)).collect()),
                Err(reason) => out.rejected.push(ctx.reject(number, line.as_bytes(), format!("bad header: {reason}"))),
            }
            return;
        }
        if trimmed.starts_with('#') {
            return;
        }
        if self.html || lower.starts_with("<!doctype") || lower.starts_with("<html") {
            self.html = true;
            out.rejected.push(ctx.reject(number, line.as_bytes(), "an HTML page where Feodo CSV was expected"));
            return;
        }
        match self.row(ctx, line) {
            Ok(event) => out.events.push(event),
            Err(reason) => out.rejected.push(ctx.reject(number, line.as_bytes(), reason)),
        }
    }

    /// A JSON export is read as bytes: exports written on one line are one "line" of the
    /// whole file, which would be held whole, with every event made from it.
    fn takes_bytes(&mut self, head: &[u8]) -> bool {
        let json = head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
        if json {
            self.json = Some(ArraySplitter::new(1));
        }
        json
    }

    fn bytes(&mut self, ctx: &Context, bytes: &[u8], out: &mut Batch) {
        if let Some(records) = &mut self.json {
            records.push(bytes, |piece| json_piece(ctx, piece, out));
        }
    }

    fn finish(&mut self, ctx: &Context, out: &mut Batch) {
        if let Some(records) = &mut self.json {
            records.finish(|piece| json_piece(ctx, piece, out));
        }
    }
}

/// One record of the JSON export, or what is wrong with the array. Each record keeps its
/// original text as `raw`, and only the fields the feed defines are read, borrowed from
/// that text. The event is made where it is kept, at the end of the batch, and filled
/// there: an event is a kilobyte, and each move of it is a copy.
fn json_piece(ctx: &Context, piece: Piece<'_, JsonRecords>, out: &mut Batch) {
    match piece {
        Piece::Element { line, index, text, element } => {
            let result = match element {
                Ok(record) => {
                    let at = out.events.len();
                    out.events.push(new_event(ctx, text));
                    json_record(&mut out.events[at], &record).inspect_err(|_| out.events.truncate(at))
                }
                Err(e) => Err(format!("expected a JSON object of a C2 record: {e}")),
            };
            if let Err(reason) = result {
                out.rejected.push(ctx.reject(line, text.as_bytes(), format!("record {index}: {reason}")))
            }
        }
        Piece::Error { line, reason, raw } => out.rejected.push(ctx.reject(line, raw.as_bytes(), reason)),
    }
}

/// The JSON export's array holds [`JsonRecord`]s.
struct JsonRecords;

impl Elements for JsonRecords {
    type Element<'a> = JsonRecord<'a>;

    fn read_quickly(text: &str) -> Option<(JsonRecord<'_>, usize)> {
        let mut record = JsonRecord::default();
        let mut seen = 0u16;
        let end = flat_object::read(text, |key, value| {
            let (bit, slot) = match key {
                "ip_address" => (0, &mut record.ip_address),
                "port" => (1, &mut record.port),
                "status" => (2, &mut record.status),
                "hostname" => (3, &mut record.hostname),
                "as_number" => (4, &mut record.as_number),
                "as_name" => (5, &mut record.as_name),
                "country" => (6, &mut record.country),
                "first_seen" => (7, &mut record.first_seen),
                "last_online" => (8, &mut record.last_online),
                "malware" => (9, &mut record.malware),
                _ => return true,
            };
            *slot = value.map(Scalar);
            // A field given twice is an error serde words.
            let again = seen & (1 << bit) != 0;
            seen |= 1 << bit;
            !again
        })?;
        Some((record, end))
    }
}

/// The fields of one `ipblocklist.json` record; others are ignored.
#[derive(Deserialize, Default, Debug, PartialEq)]
struct JsonRecord<'a> {
    #[serde(borrow)]
    ip_address: Option<Scalar<'a>>,
    #[serde(borrow)]
    port: Option<Scalar<'a>>,
    #[serde(borrow)]
    status: Option<Scalar<'a>>,
    #[serde(borrow)]
    hostname: Option<Scalar<'a>>,
    #[serde(borrow)]
    as_number: Option<Scalar<'a>>,
    #[serde(borrow)]
    as_name: Option<Scalar<'a>>,
    #[serde(borrow)]
    country: Option<Scalar<'a>>,
    #[serde(borrow)]
    first_seen: Option<Scalar<'a>>,
    #[serde(borrow)]
    last_online: Option<Scalar<'a>>,
    #[serde(borrow)]
    malware: Option<Scalar<'a>>,
}

impl Feodo {
    fn row(&self, ctx: &Context, line: &str) -> Result<Event, String> {
        let fields = csv_line::split(line, ",")?;
        let columns = self.columns.as_deref().unwrap_or(&DEFAULT_COLUMNS);
        if fields.len() != columns.len() {
            return Err(format!("expected {} columns, found {}", columns.len(), fields.len()));
        }
        let mut event = new_event(ctx, line);
        for (column, value) in columns.iter().zip(&fields) {
            let value = value.as_str();
            match column {
                Column::FirstSeen => {
                    event.time_source = Some(parse_utc(value).map_err(|e| format!("first_seen_utc: {e}"))?)
                }
                Column::Ip => event.source.ip = Some(parse_ip("dst_ip", value)?),
                Column::Port => event.source.port = Some(parse_port("dst_port", value)?),
                Column::Status => set_text(&mut event.status, value),
                Column::LastOnline => set_extra(&mut event, "last_online", value),
                Column::Malware => set_text(&mut event.malware_name, &value.to_lowercase()),
                Column::Ignored => {}
            }
        }
        if event.source.ip.is_none() {
            return Err("no dst_ip column".into());
        }
        Ok(event)
    }
}

/// Fills the event made for the record.
fn json_record(event: &mut Event, r: &JsonRecord<'_>) -> Result<(), String> {
    // A string (trimmed, not empty) or a number as text; anything else is no value.
    // Borrowed from the record where it can be: only what the event keeps is copied.
    let text = |value: Option<Scalar<'_>>| -> Option<String> { trimmed(value).map(|t| t.to_string()) };
    let ip = trimmed(r.ip_address).ok_or("ip_address: missing")?;
    event.source.ip = Some(parse_ip("ip_address", &ip)?);
    if let Some(port) = trimmed(r.port) {
        event.source.port = Some(parse_port("port", &port)?);
    }
    if let Some(t) = trimmed(r.first_seen) {
        event.time_source = Some(parse_utc(&t).map_err(|e| format!("first_seen: {e}"))?);
    }
    if let Some(asn) = trimmed(r.as_number) {
        event.source.asn = Some(asn.parse().map_err(|_| format!("as_number: {asn:?} is not an AS number"))?);
    }
    if let Some(cc) = trimmed(r.country) {
        event.source.geolocation_cc = Some(cc.parse().map_err(|e| format!("country: {e}"))?);
    }
    event.source.as_name = text(r.as_name);
    event.source.reverse_dns = trimmed(r.hostname).map(|h| lowercase(&h));
    event.status = text(r.status);
    event.malware_name = trimmed(r.malware).map(|m| lowercase(&m));
    if let Some(last) = text(r.last_online) {
        event.extra.insert(LAST_ONLINE.clone(), Value::String(last));
    }
    Ok(())
}

/// The one `extra` key of the JSON export, shared by its events.
static LAST_ONLINE: LazyLock<Arc<str>> = LazyLock::new(|| "last_online".into());

/// A JSON scalar's text, trimmed; `None` when there is none.
fn trimmed(value: Option<Scalar<'_>>) -> Option<Cow<'_, str>> {
    match value?.text()? {
        Cow::Borrowed(t) => Some(t.trim()).filter(|t| !t.is_empty()).map(Cow::Borrowed),
        Cow::Owned(t) => Some(t.trim().to_string()).filter(|t| !t.is_empty()).map(Cow::Owned),
    }
}

/// Lower case, copied once (most names already are).
fn lowercase(text: &str) -> String {
    if text.bytes().any(|b| b.is_ascii_uppercase()) || !text.is_ascii() {
        text.to_lowercase()
    } else {
        text.to_string()
    }
}

fn new_event(ctx: &Context, raw: &str) -> Event {
    let classification = ctx.feed.classification.unwrap_or(ClassificationType::C2Server);
    let mut event = ctx.event(classification);
    event.raw = Some(raw.to_string());
    event
}

fn parse_ip(field: &str, value: &str) -> Result<IpAddr, String> {
    value.trim().parse().map_err(|_| format!("{field}: {value:?} is not an IP address"))
}

fn parse_port(field: &str, value: &str) -> Result<u16, String> {
    value.trim().parse().map_err(|_| format!("{field}: {value:?} is not a port"))
}

fn set_text(slot: &mut Option<String>, value: &str) {
    if !value.trim().is_empty() {
        *slot = Some(value.trim().to_string());
    }
}

fn set_extra(event: &mut Event, key: &str, value: &str) {
    if !value.trim().is_empty() {
        event.extra.insert(key.into(), Value::String(value.trim().to_string()));
    }
}

#[cfg(test)]
mod tests {
    use crate::formats::decode_all;
    use crate::Catalogue;

    fn decode(bytes: &[u8]) -> crate::Batch {
        let catalogue = Catalogue::builtin();
        decode_all(catalogue.get("abusech-feodo").unwrap(), "t", bytes)
    }

    #[test]
    fn csv_rows_comments_and_trailer() {
        let out = decode(b"# Feodo Tracker\n\"first_seen_utc\",\"dst_ip\",\"dst_port\",\"c2_status\",\"last_online\",\"malware\"\n\"2021-01-17 07:44:46\",\"51.178.161.32\",\"4643\",\"online\",\"2021-06-28\",\"Dridex\"\n# Number of entries: 1\n");
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
        let e = &out.events[0];
        assert_eq!(e.source.ip.unwrap().to_string(), "51.178.161.32");
        assert_eq!(e.source.port, Some(4643));
        assert_eq!(e.malware_name.as_deref(), Some("dridex"));
        assert_eq!(e.status.as_deref(), Some("online"));
    }

    #[test]
    fn legacy_header_reorders_columns() {
        let out = decode(
            b"# Firstseen,DstIP,DstPort,LastOnline,Malware\n2019-05-27 12:00:00,192.0.2.9,8080,2019-06-01,Heodo\n",
        );
        assert_eq!(out.events.len(), 1, "{:?}", out.rejected);
        assert_eq!(out.events[0].malware_name.as_deref(), Some("heodo"));
    }

    #[test]
    fn a_bad_json_record_is_rejected_and_leaves_no_event() {
        let out = decode(b"[{\"ip_address\": \"192.0.2.1\", \"port\": 443},\n {\"ip_address\": \"192.0.2.300\", \"port\": 443},\n {\"ip_address\": \"192.0.2.3\", \"port\": 99999}, {\"ip_address\": \"192.0.2.4\"}]");
        let ips: Vec<String> = out.events.iter().map(|e| e.source.ip.unwrap().to_string()).collect();
        assert_eq!(ips, ["192.0.2.1", "192.0.2.4"]);
        let reasons: Vec<(u64, &str)> = out.rejected.iter().map(|r| (r.line, r.reason.as_str())).collect();
        assert_eq!(
            reasons,
            [
                (2, "record 2: ip_address: \"192.0.2.300\" is not an IP address"),
                (3, "record 3: port: \"99999\" is not a port")
            ]
        );
    }

    #[test]
    fn truncated_json_is_one_clear_rejection() {
        let out = decode(b"[\n {\"ip_address\": \"192.0.2.1\", \"port\": 443,\n");
        assert_eq!(out.events.len(), 0);
        assert_eq!(out.rejected.len(), 1);
        assert!(out.rejected[0].reason.contains("malformed JSON"));
    }

    /// Pieces of records, well formed or not, for the property test below.
    /// Every field of the record (so a key the quick reader maps wrongly shows), and others.
    const KEYS: [&str; 14] = [
        "\"ip_address\"",
        "\"port\"",
        "\"status\"",
        "\"hostname\"",
        "\"as_number\"",
        "\"as_name\"",
        "\"country\"",
        "\"first_seen\"",
        "\"last_online\"",
        "\"malware\"",
        "\"other\"",
        "\"por\\u0074\"",
        "\"\"",
        "\"pört\"",
    ];
    /// The key with an escape, which only serde reads.
    const ESCAPED_KEY: usize = 11;
    const VALUES: [&str; 18] = [
        "\"192.0.2.1\"",
        "443",
        "-0.5e+3",
        "0",
        "null",
        "true",
        "false",
        "\"Dridex\"",
        "\"a\\\"b\"",
        "\"tab\there\"",
        "\"\"",
        "01",
        "1.",
        "-",
        "tru",
        "[1, \"x\"]",
        "{\"a\": {}}",
        "\"é ✓\"",
    ];
    const JUNK: [&str; 12] = ["{", "}", "[", "]", ",", ":", " ", "\n", "\"", "\\", "x", "\u{7}"];

    proptest::proptest! {
        /// Wherever the quick reader answers, serde answers the same (the record and
        /// where it ends); and it answers for every plain record.
        #[test]
        fn the_quick_reader_answers_as_serde_does(
            pairs in proptest::collection::vec((0..KEYS.len(), 0..VALUES.len(), 0..4usize), 0..12),
            cut in proptest::option::of(0usize..200),
            junk in proptest::option::of((0..JUNK.len(), 0usize..200)),
            after in 0..JUNK.len(),
        ) {
            use super::super::json_array::Elements;
            let spaces = ["", " ", "\n  ", "\t\r\n"];
            let mut text = String::from("{");
            for (n, (k, v, space)) in pairs.iter().enumerate() {
                if n > 0 {
                    text.push(',');
                }
                text.push_str(spaces[*space]);
                text.push_str(KEYS[*k]);
                text.push_str(spaces[*space]);
                text.push(':');
                text.push_str(VALUES[*v]);
            }
            text.push('}');
            let plain = pairs.iter().all(|(k, v, _)| *k != ESCAPED_KEY && *v < 8)
                && pairs.iter().map(|(k, _, _)| k).collect::<std::collections::HashSet<_>>().len() == pairs.len();
            if let Some((j, at)) = junk {
                let at = (0..=at.min(text.len())).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
                text.insert_str(at, JUNK[j]);
            }
            if let Some(cut) = cut {
                let cut = (0..=cut.min(text.len())).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
                text.truncate(cut);
            }
            text.push_str(JUNK[after]);
            let quick = super::JsonRecords::read_quickly(&text);
            if let Some((record, end)) = quick {
                let mut serde = serde_json::Deserializer::from_str(&text).into_iter::<super::JsonRecord<'_>>();
                let by_serde = serde.next().expect("a value").expect("serde reads what the quick reader read");
                proptest::prop_assert_eq!(record, by_serde, "{}", text);
                proptest::prop_assert_eq!(end, serde.byte_offset(), "{}", text);
            } else if plain && junk.is_none() && cut.is_none() {
                proptest::prop_assert!(false, "a plain record left to serde: {}", text);
            }
        }
    }

    #[test]
    fn html_error_page_is_rejected() {
        let out = decode(b"<!DOCTYPE html>\n<html><body>502</body></html>\n");
        assert_eq!(out.events.len(), 0);
        assert!(out.rejected[0].reason.contains("HTML"));
    }
}
