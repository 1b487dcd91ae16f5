//! IntelMQ's own flat JSON: one event per line, as IntelMQ's file output writes it
//! (`{"feed.name": …, "source.ip": …, "classification.type": …, "raw": <base64>}`), so an
//! IntelMQ pipeline can hand its events over to Vedette unchanged. A JSON array of such
//! objects is read too.
//!
//! The event keeps the feed name IntelMQ gave it (the provenance a partner expects to
//! see); a message without one gets this feed's name.

use serde_json::{Map, Value};
use vedette_model::Event;

use super::{Context, LineFormat};
use crate::Batch;

pub(crate) fn probe(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&head[..head.len().min(4096)]);
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim_start();
    first.starts_with('{') && first.contains("\"classification.type\"") && first.contains("\"feed.name\"")
}

#[derive(Default)]
pub(crate) struct IntelMqJson {
    /// Set once the input turned out to be a JSON array: (first line, text so far).
    array: Option<(u64, String)>,
}

fn event(ctx: &Context, object: &Map<String, Value>) -> Result<Event, String> {
    if object.get("__type").and_then(Value::as_str).is_some_and(|t| t != "Event") {
        return Err("not an IntelMQ event (__type is not \"Event\")".into());
    }
    let mut event = Event::from_intelmq(object).map_err(|e| e.to_string())?;
    if event.feed.name.is_empty() {
        std::sync::Arc::make_mut(&mut event.feed).name = ctx.event_feed.name.clone();
    }
    // IntelMQ's event_hash is not Vedette's fingerprint; the identity is taken afresh.
    event.sealed_hash = None;
    Ok(event)
}

impl LineFormat for IntelMqJson {
    fn line(&mut self, ctx: &Context, number: u64, line: &str, out: &mut Batch) {
        if let Some((_, text)) = &mut self.array {
            text.push_str(line);
            text.push('\n');
            return;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return;
        }
        if trimmed.starts_with('[') {
            self.array = Some((number, format!("{line}\n")));
            return;
        }
        let result = match serde_json::from_str::<Value>(trimmed) {
            Ok(Value::Object(object)) => event(ctx, &object),
            Ok(_) => Err("expected a JSON object".into()),
            Err(e) if trimmed.starts_with('<') => Err(format!("an HTML page where IntelMQ JSON was expected ({e})")),
            Err(e) => Err(format!("malformed JSON: {e}")),
        };
        match result {
            Ok(e) => out.events.push(e),
            Err(reason) => out.rejected.push(ctx.reject(number, line.as_bytes(), reason)),
        }
    }

    fn finish(&mut self, ctx: &Context, out: &mut Batch) {
        let Some((first, text)) = self.array.take() else { return };
        let items = match serde_json::from_str::<Value>(&text) {
            Ok(Value::Array(items)) => items,
            Ok(_) => return out.rejected.push(ctx.reject(first, b"", "expected a JSON array of events")),
            Err(e) => {
                let line = first + e.line().saturating_sub(1) as u64;
                return out.rejected.push(ctx.reject(line, b"", format!("malformed JSON (truncated file?): {e}")));
            }
        };
        for (index, item) in items.iter().enumerate() {
            let result = match item {
                Value::Object(object) => event(ctx, object),
                _ => Err("expected a JSON object".into()),
            };
            match result {
                Ok(e) => out.events.push(e),
                Err(reason) => {
                    let raw = item.to_string();
                    out.rejected.push(ctx.reject(first, raw.as_bytes(), format!("record {}: {reason}", index + 1)))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::formats::decode_all;
    use crate::Catalogue;

    fn decode(bytes: &[u8]) -> crate::Batch {
        let catalogue = Catalogue::builtin();
        decode_all(catalogue.get("intelmq-json").unwrap(), "t", bytes)
    }

    #[test]
    fn flat_events_round_trip() {
        let out = decode(b"{\"feed.name\": \"Feodo\", \"classification.type\": \"c&c\", \"source.ip\": \"192.0.2.1\", \"raw\": \"aGk=\"}\n{\"feed.name\": \"x\"}\n");
        assert_eq!(out.events.len(), 1);
        assert_eq!(&*out.events[0].feed.name, "Feodo");
        assert_eq!(out.events[0].raw.as_deref(), Some("hi"));
        assert_eq!(out.rejected[0].line, 2);
        assert!(out.rejected[0].reason.contains("classification.type"), "{}", out.rejected[0].reason);
    }

    #[test]
    fn probe_sees_flat_keys() {
        assert!(super::probe(b"{\"feed.name\": \"a\", \"classification.type\": \"spam\"}\n"));
        assert!(!super::probe(b"{\"ts\": 1}\n"));
    }
}
