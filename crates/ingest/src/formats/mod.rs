//! The formats Vedette reads, as one enum you can grep, each in its own module with the
//! same shape: `probe(head)`, a line handler, literal-byte tests at the bottom.

mod csv_line;
mod feodo;
pub(crate) mod generic;
mod intelmq_json;
mod zeek_conn;

use serde::Deserialize;
use vedette_model::Rejected;

use crate::{Batch, FeedEntry, LineSplitter};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// abuse.ch Feodo Tracker, `ipblocklist.csv` or `ipblocklist.json`.
    Feodo,
    /// Zeek `conn.log`, TSV or JSON lines.
    ZeekConn,
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
            Format::Generic => self.generic.as_ref().is_some_and(|g| g.probe(head)),
            Format::IntelmqJson => intelmq_json::probe(head),
        }
    }
}

/// What every line handler knows about the input it reads.
pub(crate) struct Context {
    pub source: String,
    pub feed: FeedEntry,
}

impl Context {
    pub fn reject(&self, line: u64, raw: &[u8], reason: impl Into<String>) -> Rejected {
        Rejected::new(&self.source, &self.feed.name, line, raw, reason)
    }
}

/// A line-oriented format: sees each line once, may hold state (a header) between lines.
pub(crate) trait LineFormat {
    fn line(&mut self, ctx: &Context, number: u64, line: &str, out: &mut Batch);
    fn finish(&mut self, _ctx: &Context, _out: &mut Batch) {}
}

enum State {
    Feodo(feodo::Feodo),
    ZeekConn(zeek_conn::ZeekConn),
    Generic(Box<generic::GenericDecoder>),
    IntelmqJson(intelmq_json::IntelMqJson),
}

impl State {
    fn handler(&mut self) -> &mut dyn LineFormat {
        match self {
            State::Feodo(f) => f,
            State::ZeekConn(z) => z,
            State::Generic(g) => g.as_mut(),
            State::IntelmqJson(j) => j,
        }
    }
}

/// Decodes one input (a file, a download) of one feed, chunk by chunk.
pub struct Decoder {
    ctx: Context,
    lines: LineSplitter,
    state: State,
    lines_seen: u64,
}

impl Decoder {
    pub fn new(feed: &FeedEntry, source: &str) -> Decoder {
        let state = match feed.format {
            Format::Feodo => State::Feodo(feodo::Feodo::default()),
            Format::ZeekConn => State::ZeekConn(zeek_conn::ZeekConn::default()),
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
        Decoder {
            ctx: Context { source: source.to_string(), feed: feed.clone() },
            lines: LineSplitter::new(),
            state,
            lines_seen: 0,
        }
    }

    /// Decodes the complete lines in `chunk`; a partial last line waits for the next chunk.
    pub fn push(&mut self, chunk: &[u8], out: &mut Batch) {
        let Decoder { ctx, lines, state, lines_seen } = self;
        let handler = state.handler();
        lines.push(chunk, |number, line| {
            *lines_seen = number;
            dispatch(handler, ctx, number, line, out)
        });
    }

    /// Decodes what is left; an empty input is said so as one rejected record.
    pub fn finish(&mut self, out: &mut Batch) {
        let Decoder { ctx, lines, state, lines_seen } = self;
        let handler = state.handler();
        lines.finish(|number, line| {
            *lines_seen = number;
            dispatch(handler, ctx, number, line, out)
        });
        if *lines_seen == 0 {
            out.rejected.push(ctx.reject(0, b"", "empty input: no lines"));
        }
        handler.finish(ctx, out);
    }

    /// Lines read so far.
    pub fn lines_seen(&self) -> u64 {
        self.lines_seen
    }
}

fn dispatch(handler: &mut dyn LineFormat, ctx: &Context, number: u64, line: &[u8], out: &mut Batch) {
    match std::str::from_utf8(line) {
        Ok(text) => handler.line(ctx, number, text, out),
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
