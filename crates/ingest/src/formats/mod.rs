//! The formats Vedette reads, as one enum you can grep, each in its own module with the
//! same shape: `probe(head)`, a line handler, literal-byte tests at the bottom.

mod csv_line;
mod eve;
mod feodo;
mod flat_object;
pub(crate) mod generic;
mod intelmq_json;
mod json_array;
mod passive_dns;
mod raw_json;
mod sinkhole_log;
mod values;
mod zeek;
mod zeek_conn;
mod zeek_dns;
mod zeek_http;
mod zeek_ssl;

use serde::Deserialize;
use vedette_model::{Event, Rejected};

use crate::{Batch, FeedEntry, LineSplitter, Sealing};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// abuse.ch Feodo Tracker, `ipblocklist.csv` or `ipblocklist.json`.
    Feodo,
    /// Zeek `conn.log`, TSV or JSON lines.
    ZeekConn,
    /// Zeek `dns.log`, TSV or JSON lines.
    ZeekDns,
    /// Zeek `http.log`, TSV or JSON lines.
    ZeekHttp,
    /// Zeek `ssl.log`, TSV or JSON lines.
    ZeekSsl,
    /// Suricata EVE JSON: flow, dns (v2 and v3), http, tls and alert records.
    SuricataEve,
    /// A sinkhole's `time,bot_ip,sinkholed_domain[,family]` log.
    SinkholeLog,
    /// Passive DNS in the Common Output Format (JSON lines).
    PassiveDns,
    /// NetFlow v5/v9/IPFIX export datagrams in a pcap or pcapng capture: binary, read
    /// whole by [`crate::capture::decode_capture`], not line by line.
    NetflowPcap,
    /// CSV, one value per line, JSON or JSON lines, mapped by the feed's `[[layouts]]`.
    Generic,
    /// IntelMQ's flat JSON events, one per line.
    IntelmqJson,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Feodo => "feodo",
            Format::ZeekConn => "zeek-conn",
            Format::ZeekDns => "zeek-dns",
            Format::ZeekHttp => "zeek-http",
            Format::ZeekSsl => "zeek-ssl",
            Format::SuricataEve => "suricata-eve",
            Format::SinkholeLog => "sinkhole-log",
            Format::PassiveDns => "passive-dns",
            Format::NetflowPcap => "netflow-pcap",
            Format::Generic => "generic",
            Format::IntelmqJson => "intelmq-json",
        }
    }
}

impl FeedEntry {
    /// Whether the first bytes of a file look like this feed.
    pub fn probe(&self, head: &[u8]) -> bool {
        match self.format {
            Format::Feodo => feodo::probe(head),
            Format::ZeekConn => zeek_conn::probe(head),
            Format::ZeekDns => zeek_dns::probe(head),
            Format::ZeekHttp => zeek_http::probe(head),
            Format::ZeekSsl => zeek_ssl::probe(head),
            Format::SuricataEve => eve::probe(head),
            Format::SinkholeLog => sinkhole_log::probe(head),
            Format::PassiveDns => passive_dns::probe(head),
            Format::NetflowPcap => crate::capture::probe(head),
            Format::Generic => self.generic.as_ref().is_some_and(|g| g.probe(head)),
            Format::IntelmqJson => intelmq_json::probe(head),
        }
    }
}

/// What every line handler knows about the input it reads.
pub(crate) struct Context {
    pub source: String,
    pub feed: FeedEntry,
    /// The `feed.*` fields every event of this input carries, made once and shared.
    pub event_feed: std::sync::Arc<vedette_model::Feed>,
    /// Whether events are sealed as they are read ([`Decoder::sealing`]), and how.
    pub sealing: Option<Sealing>,
}

impl Context {
    fn new(source: &str, feed: &FeedEntry) -> Context {
        let event_feed = std::sync::Arc::new(vedette_model::Feed {
            name: feed.name.as_str().into(),
            provider: Some(feed.provider.as_str().into()),
            url: feed.url.as_deref().map(Into::into),
            documentation: feed.documentation.as_deref().map(Into::into),
            ..vedette_model::Feed::default()
        });
        Context { source: source.to_string(), feed: feed.clone(), event_feed, sealing: None }
    }

    /// Seals the events just read, if the decoder seals ([`Decoder::sealing`]): after
    /// each line, or each chunk of a format that reads bytes.
    fn seal(&self, events: &mut [Event]) {
        if let Some(sealing) = self.sealing {
            events.iter_mut().for_each(|event| sealing.seal(event));
        }
    }

    /// A new event of this input's feed.
    pub fn event(&self, classification: vedette_model::ClassificationType) -> Event {
        Event::of_feed(self.event_feed.clone(), classification)
    }

    pub fn reject(&self, line: u64, raw: &[u8], reason: impl Into<String>) -> Rejected {
        Rejected::new(&self.source, &self.feed.name, line, raw, reason)
    }
}

/// A line-oriented format: sees each line once, may hold state (a header) between lines.
pub(crate) trait LineFormat {
    fn line(&mut self, ctx: &Context, number: u64, line: &str, out: &mut Batch);
    fn finish(&mut self, _ctx: &Context, _out: &mut Batch) {}
    /// Whether the format reads the input as bytes instead of lines, from its first bytes
    /// on (`head`: the first chunk with any text, a UTF-8 byte-order mark removed). Asked
    /// once, before any line: for documents that are not line-oriented, such as a JSON
    /// array written on one line, which would otherwise be held whole as one "line".
    fn takes_bytes(&mut self, _head: &[u8]) -> bool {
        false
    }
    /// The input's bytes, once [`LineFormat::takes_bytes`] said yes.
    fn bytes(&mut self, _ctx: &Context, _bytes: &[u8], _out: &mut Batch) {}
    /// Records read and deliberately left aside (an EVE `stats` record): not refused,
    /// only counted.
    fn skipped(&self) -> u64 {
        0
    }
}

/// A binary format given to the line decoder by mistake: refused once, plainly.
#[derive(Default)]
pub(crate) struct NotLines {
    said: bool,
}

impl LineFormat for NotLines {
    fn line(&mut self, ctx: &Context, number: u64, _line: &str, out: &mut Batch) {
        if !self.said {
            self.said = true;
            let reason = "a packet capture is binary: it is read whole (vedette ingest, capture::decode_capture), not line by line";
            out.rejected.push(ctx.reject(number, b"", reason));
        }
    }
}

enum State {
    Feodo(feodo::Feodo),
    ZeekConn(zeek_conn::ZeekConn),
    ZeekDns(zeek_dns::ZeekDns),
    ZeekHttp(zeek_http::ZeekHttp),
    ZeekSsl(zeek_ssl::ZeekSsl),
    SuricataEve(eve::Eve),
    SinkholeLog(sinkhole_log::SinkholeLog),
    PassiveDns(passive_dns::PassiveDnsCof),
    Binary(NotLines),
    Generic(Box<generic::GenericDecoder>),
    IntelmqJson(intelmq_json::IntelMqJson),
}

impl State {
    fn handler(&mut self) -> &mut dyn LineFormat {
        match self {
            State::Feodo(f) => f,
            State::ZeekConn(z) => z,
            State::ZeekDns(z) => z,
            State::ZeekHttp(z) => z,
            State::ZeekSsl(z) => z,
            State::SuricataEve(e) => e,
            State::SinkholeLog(s) => s,
            State::PassiveDns(p) => p,
            State::Binary(b) => b,
            State::Generic(g) => g.as_mut(),
            State::IntelmqJson(j) => j,
        }
    }

    fn skipped(&self) -> u64 {
        match self {
            State::Feodo(f) => f.skipped(),
            State::ZeekConn(z) => z.skipped(),
            State::ZeekDns(z) => z.skipped(),
            State::ZeekHttp(z) => z.skipped(),
            State::ZeekSsl(z) => z.skipped(),
            State::SuricataEve(e) => e.skipped(),
            State::SinkholeLog(s) => s.skipped(),
            State::PassiveDns(p) => p.skipped(),
            State::Binary(b) => b.skipped(),
            State::Generic(g) => g.skipped(),
            State::IntelmqJson(j) => j.skipped(),
        }
    }
}

/// Decodes one input (a file, a download) of one feed, chunk by chunk.
pub struct Decoder {
    ctx: Context,
    lines: LineSplitter,
    state: State,
    lines_seen: u64,
    /// `None` until the format was asked whether it takes bytes; then its answer.
    bytes: Option<bool>,
}

impl Decoder {
    pub fn new(feed: &FeedEntry, source: &str) -> Decoder {
        let state = match feed.format {
            Format::Feodo => State::Feodo(feodo::Feodo::default()),
            Format::ZeekConn => State::ZeekConn(zeek_conn::ZeekConn::default()),
            Format::ZeekDns => State::ZeekDns(zeek_dns::ZeekDns::default()),
            Format::ZeekHttp => State::ZeekHttp(zeek_http::ZeekHttp::default()),
            Format::ZeekSsl => State::ZeekSsl(zeek_ssl::ZeekSsl::default()),
            Format::SuricataEve => State::SuricataEve(eve::Eve::default()),
            Format::SinkholeLog => State::SinkholeLog(sinkhole_log::SinkholeLog::default()),
            Format::PassiveDns => State::PassiveDns(passive_dns::PassiveDnsCof),
            Format::NetflowPcap => State::Binary(NotLines::default()),
            Format::Generic => match &feed.generic {
                Some(g) => State::Generic(Box::new(generic::GenericDecoder::new(g.clone(), source))),
                // Entries are checked when the catalogue is built, so this is an entry made
                // by hand without its layouts: it reads nothing and says so.
                None => State::Generic(Box::new(generic::GenericDecoder::new(
                    std::sync::Arc::new(generic::Generic::empty()),
                    source,
                ))),
            },
            Format::IntelmqJson => State::IntelmqJson(intelmq_json::IntelMqJson::default()),
        };
        Decoder { ctx: Context::new(source, feed), lines: LineSplitter::new(), state, lines_seen: 0, bytes: None }
    }

    /// Seals every event as it is read ([`Sealing`]; the pipeline passes the feed's), so
    /// the events handed over carry their identity. Without it they are left unsealed,
    /// as `vedette parse` prints them.
    pub fn sealing(mut self, sealing: Sealing) -> Decoder {
        self.ctx.sealing = Some(sealing);
        self
    }

    /// Decodes the complete lines in `chunk`; a partial last line waits for the next chunk.
    pub fn push(&mut self, chunk: &[u8], out: &mut Batch) {
        let Decoder { ctx, lines, state, lines_seen, bytes } = self;
        let handler = state.handler();
        let before = out.events.len();
        if bytes.is_none() && chunk.iter().any(|b| !b.is_ascii_whitespace()) {
            let head = chunk.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(chunk);
            // Only at the very start: lines already split stay lines.
            let fresh = *lines_seen == 0 && lines.is_empty();
            *bytes = Some(fresh && handler.takes_bytes(head));
            if *bytes == Some(true) {
                *lines_seen = 1; // not an empty input, whatever the bytes hold
                handler.bytes(ctx, head, out);
                return ctx.seal(&mut out.events[before..]);
            }
        }
        if *bytes == Some(true) {
            handler.bytes(ctx, chunk, out);
            return ctx.seal(&mut out.events[before..]);
        }
        lines.push(chunk, |number, line| {
            *lines_seen = number;
            dispatch(handler, ctx, number, line, out)
        });
    }

    /// Decodes what is left; an empty input is said so as one rejected record.
    pub fn finish(&mut self, out: &mut Batch) {
        let Decoder { ctx, lines, state, lines_seen, bytes: _ } = self;
        let handler = state.handler();
        lines.finish(|number, line| {
            *lines_seen = number;
            dispatch(handler, ctx, number, line, out)
        });
        if *lines_seen == 0 {
            out.rejected.push(ctx.reject(0, b"", "empty input: no lines"));
        }
        let before = out.events.len();
        handler.finish(ctx, out);
        ctx.seal(&mut out.events[before..]);
    }

    /// Lines read so far.
    pub fn lines_seen(&self) -> u64 {
        self.lines_seen
    }

    /// Records read and deliberately left aside, not refused: EVE event types Vedette does
    /// not read (`stats`, `fileinfo`, …), DNS messages without a question.
    pub fn skipped(&self) -> u64 {
        self.state.skipped()
    }
}

fn dispatch(handler: &mut dyn LineFormat, ctx: &Context, number: u64, line: &[u8], out: &mut Batch) {
    match std::str::from_utf8(line) {
        Ok(text) => {
            let before = out.events.len();
            handler.line(ctx, number, text, out);
            ctx.seal(&mut out.events[before..]);
        }
        Err(e) => out.rejected.push(ctx.reject(
            number,
            line,
            format!("not UTF-8 (invalid byte at column {})", e.valid_up_to() + 1),
        )),
    }
}

/// Decodes a whole input at once; for tests and `vedette parse`.
pub fn decode_all(feed: &FeedEntry, source: &str, bytes: &[u8]) -> Batch {
    let mut decoder = Decoder::new(feed, source);
    let mut out = Batch::default();
    decoder.push(bytes, &mut out);
    decoder.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Catalogue;

    /// Sealed as read, in chunks cut anywhere: the identities sealing afterwards gives.
    #[test]
    fn events_sealed_as_read_have_the_identity_sealed_afterwards() {
        let json =
            br#"[{"ip_address": "192.0.2.1", "port": 443, "first_seen": "2024-01-01 07:44:46", "malware": "Dridex"},
            {"ip_address": "192.0.2.2", "as_name": "A \"quoted\" name", "first_seen": "2024-01-01 08:00:00"}]"#;
        let csv = b"# Feodo Tracker\n\"first_seen_utc\",\"dst_ip\",\"dst_port\",\"c2_status\",\"last_online\",\"malware\"\n\"2021-01-17 07:44:46\",\"51.178.161.32\",\"4643\",\"online\",\"2021-06-28\",\"Dridex\"\n";
        let catalogue = Catalogue::builtin();
        let mut windowed = catalogue.get("abusech-feodo").unwrap().clone();
        windowed.dedupe_window = Some("1h".into());
        for feed in [catalogue.get("abusech-feodo").unwrap().clone(), windowed] {
            for input in [&json[..], &csv[..]] {
                let mut expected = decode_all(&feed, "t", input).events;
                assert_eq!(expected.len(), if input == csv { 1 } else { 2 });
                expected.iter_mut().for_each(|e| Sealing::of_feed(&feed).seal(e));
                for size in [1, 7, 64, input.len()] {
                    let mut decoder = Decoder::new(&feed, "t").sealing(Sealing::of_feed(&feed));
                    let mut out = Batch::default();
                    input.chunks(size).for_each(|chunk| decoder.push(chunk, &mut out));
                    decoder.finish(&mut out);
                    assert!(out.events.iter().all(|e| e.sealed_hash.is_some()));
                    assert_eq!(out.events, expected, "{:?} in chunks of {size}", feed.dedupe_window);
                }
            }
        }
        let plain = Sealing::of_feed(catalogue.get("abusech-feodo").unwrap());
        assert_eq!(plain, Sealing::Plain);
    }
}
