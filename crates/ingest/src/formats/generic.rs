//! The generic format: CSV (any separator, commented or plain header), one value per
//! line, JSON documents and JSON lines, mapped to IntelMQ fields by a table written in
//! the feed's TOML file. Most feeds are this format; code is written only where a table
//! cannot say it (see `feodo.rs`, `intelmq_json.rs`).
//!
//! A feed may ship several *layouts* (URLhaus CSV and plain text; Spamhaus DROP text and
//! JSON lines; every Shadowserver report). The layout is chosen once per input: by the
//! file name (`file`), else by the header (the layout whose `required` columns all
//! appear, the most specific first), else — for headerless files — by the column count.
//!
//! ```toml
//! [[layouts]]
//! name = "sslipblacklist"
//! header = "auto"                      # the `# Firstseen,DstIP,DstPort` line names columns
//! required = ["dstip"]
//! fields = { firstseen = "time.source", dstip = "source.ip", dstport = "source.port" }
//! constants = { "classification.type" = "c2-server" }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use vedette_model::{ClassificationType, Event};

use super::{csv_line, Context, LineFormat};
use crate::fields::{self, Key, TimeRule};
use crate::Batch;

// ---------------------------------------------------------------------------------------
// Configuration, as written in feeds/*.toml

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Syntax {
    /// Delimited text; `separator` may be several bytes (ThreatFox's `", "`).
    #[default]
    Csv,
    /// One value per line (an address, a URL); the line is the single column.
    Lines,
    /// One JSON document: an array of records, or an object whose values are records or
    /// arrays of records (the key is column `@key`).
    Json,
    /// One JSON object per line.
    JsonLines,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeaderMode {
    /// A line (commented or not) holding every `required` column names the columns.
    #[default]
    Auto,
    /// No header: `columns` gives the names in order.
    None,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unmapped {
    #[default]
    Ignore,
    /// Columns the table does not map are kept as `extra.<column>` (Shadowserver).
    Extra,
}

/// Where one column goes.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TargetConfig {
    One(String),
    Many(Vec<TargetConfig>),
    /// The part of the value matched by `*` in `pattern` (`"IP used by * C&C"`); the
    /// text after `*` may be missing from the value.
    Pattern {
        pattern: String,
        to: String,
    },
    /// The field depends on another column (ThreatFox's `ioc_type`): `by` names it, the
    /// other keys are its values.
    By {
        by: String,
        #[serde(flatten)]
        cases: BTreeMap<String, String>,
    },
}

/// One layout of a generic feed, as written under `[[layouts]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutConfig {
    pub name: String,
    #[serde(default)]
    pub syntax: Syntax,
    pub separator: Option<String>,
    /// Lines starting with this are comments (or a commented header); default `#`.
    pub comment: Option<String>,
    #[serde(default)]
    pub header: HeaderMode,
    #[serde(default)]
    pub columns: Vec<String>,
    /// Columns a header must have for this layout.
    #[serde(default)]
    pub required: Vec<String>,
    /// Columns no record may leave empty; default: the `required` ones.
    pub not_empty: Option<Vec<String>>,
    /// The layout of files whose name contains this (`scan_`, `event4_sinkhole_http`);
    /// the word after it is `{@word}` in templates.
    pub file: Option<String>,
    /// Texts (lower case) that all appear in the first 4 KiB of a file of this layout.
    #[serde(default)]
    pub probe: Vec<String>,
    #[serde(default)]
    pub unmapped: Unmapped,
    /// A `strftime` layout for times the common layouts do not cover, or `filetime`.
    pub time_format: Option<String>,
    /// The offset of zone-less times, `+08:00`; default UTC.
    pub time_zone: Option<String>,
    /// Prepended to URLs without a scheme (`http://`), as IntelMQ's `default_url_protocol`.
    pub url_scheme: Option<String>,
    /// Set `source.fqdn` from the host of `source.url` when it is a name.
    #[serde(default)]
    pub fqdn_from_url: bool,
    /// A comment holding this text dates the records that carry no time of their own:
    /// the rest of the comment is the time (Spamhaus' `Last-Modified:`, DShield's
    /// `updated:`), as IntelMQ dates them.
    pub time_comment: Option<String>,
    /// Records whose column equals the value are skipped (Spamhaus' metadata line).
    #[serde(default)]
    pub skip: BTreeMap<String, String>,
    #[serde(default)]
    pub fields: BTreeMap<String, TargetConfig>,
    #[serde(default)]
    pub constants: BTreeMap<String, String>,
    /// `[layouts.lookup.<column>]`: a column's value (any case) → fields to set.
    #[serde(default)]
    pub lookup: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
    /// Field → text with `{column}` and `{@word}` holes, set when every hole is filled.
    #[serde(default)]
    pub templates: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------------------
// Checked form

#[derive(Debug, Clone)]
enum Target {
    Key(Key),
    Pattern { prefix: String, suffix: String, key: Key },
    By { by: String, cases: HashMap<String, Key> },
}

/// A column's value (lower case) → the fields it sets.
type Lookup = HashMap<String, Vec<(Key, String)>>;

#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Column(String),
    Word,
}

#[derive(Debug)]
pub(crate) struct Layout {
    name: String,
    syntax: Syntax,
    separator: String,
    comment: String,
    header: HeaderMode,
    columns: Vec<String>,
    required: Vec<String>,
    not_empty: Vec<String>,
    file: Option<String>,
    probe: Vec<String>,
    unmapped: Unmapped,
    time: TimeRule,
    url_scheme: Option<String>,
    fqdn_from_url: bool,
    time_comment: Option<String>,
    skip: Vec<(String, String)>,
    fields: Vec<(String, Vec<Target>)>,
    constants: Vec<(Key, String)>,
    lookups: Vec<(String, Lookup)>,
    templates: Vec<(Key, Vec<Piece>)>,
}

/// The checked layouts of one feed.
#[derive(Debug)]
pub struct Generic {
    layouts: Vec<Layout>,
}

fn lower(s: &str) -> String {
    s.trim().to_ascii_lowercase()
}

fn parse_offset(text: &str) -> Result<i32, String> {
    let bad = || format!("time_zone {text:?}: expected +hh:mm or UTC");
    if text.eq_ignore_ascii_case("utc") || text == "Z" {
        return Ok(0);
    }
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let h: i32 = h.parse().map_err(|_| bad())?;
    let m: i32 = m.parse().map_err(|_| bad())?;
    if h > 14 || m > 59 {
        return Err(bad());
    }
    Ok(sign * (h * 3600 + m * 60))
}

fn compile_target(column: &str, target: &TargetConfig, out: &mut Vec<Target>, err: &mut dyn FnMut(String)) {
    let key = |name: &str, err: &mut dyn FnMut(String)| match Key::parse(name) {
        Ok(k) => Some(k),
        Err(e) => {
            err(format!("fields.{column}: {e}"));
            None
        }
    };
    match target {
        TargetConfig::One(k) => out.extend(key(k, err).map(Target::Key)),
        TargetConfig::Many(list) => {
            for t in list {
                compile_target(column, t, out, err);
            }
        }
        TargetConfig::Pattern { pattern, to } => match pattern.split_once('*') {
            Some((prefix, suffix)) => {
                if let Some(k) = key(to, err) {
                    out.push(Target::Pattern { prefix: prefix.into(), suffix: suffix.into(), key: k })
                }
            }
            None => err(format!("fields.{column}: pattern {pattern:?} has no *")),
        },
        TargetConfig::By { by, cases } => out.push(Target::By {
            by: lower(by),
            cases: cases.iter().filter_map(|(v, k)| Some((lower(v), key(k, err)?))).collect(),
        }),
    }
}

fn parse_template(text: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            pieces.push(Piece::Text(rest[..open].to_string()));
        }
        let close = rest[open..].find('}').ok_or_else(|| format!("template {text:?}: unclosed {{"))? + open;
        let name = &rest[open + 1..close];
        pieces.push(if name == "@word" { Piece::Word } else { Piece::Column(lower(name)) });
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Ok(pieces)
}

impl Generic {
    /// Checks every layout; all problems are returned, each naming its layout and key.
    pub(crate) fn compile(configs: &[LayoutConfig]) -> Result<Generic, Vec<String>> {
        let mut errors = Vec::new();
        let mut layouts = Vec::new();
        if configs.is_empty() {
            errors.push("format \"generic\" needs at least one [[layouts]] entry".to_string());
        }
        for c in configs {
            let mut err = |what: String| errors.push(format!("layout {}: {what}", c.name));
            let key = |name: &str, err: &mut dyn FnMut(String)| match Key::parse(name) {
                Ok(k) => Some(k),
                Err(e) => {
                    err(e);
                    None
                }
            };
            let mut fields = Vec::new();
            for (column, target) in &c.fields {
                let mut targets = Vec::new();
                compile_target(column, target, &mut targets, &mut |e| err(e));
                fields.push((lower(column), targets));
            }
            let constants = c.constants.iter().filter_map(|(k, v)| Some((key(k, &mut err)?, v.clone()))).collect();
            let lookups = c
                .lookup
                .iter()
                .map(|(column, table)| {
                    let table = table
                        .iter()
                        .map(|(value, sets)| {
                            (
                                lower(value),
                                sets.iter().filter_map(|(k, v)| Some((key(k, &mut err)?, v.clone()))).collect(),
                            )
                        })
                        .collect();
                    (lower(column), table)
                })
                .collect();
            let mut templates = Vec::new();
            for (k, t) in &c.templates {
                match (key(k, &mut err), parse_template(t)) {
                    (Some(k), Ok(p)) => templates.push((k, p)),
                    (_, Err(e)) => err(e),
                    _ => {}
                }
            }
            let mut time = TimeRule::default();
            match c.time_format.as_deref() {
                Some("filetime") => time.filetime = true,
                Some(f) => time.format = Some(f.to_string()),
                None => {}
            }
            if let Some(z) = &c.time_zone {
                match parse_offset(z) {
                    Ok(o) => time.offset_seconds = o,
                    Err(e) => err(e),
                }
            }
            if c.header == HeaderMode::None && c.columns.is_empty() && c.syntax != Syntax::Lines {
                err("header = \"none\" needs columns".into());
            }
            if c.header == HeaderMode::Auto && c.required.is_empty() && matches!(c.syntax, Syntax::Csv) {
                err("header = \"auto\" needs required columns to recognise the header".into());
            }
            let mut columns: Vec<String> = c.columns.iter().map(|s| lower(s)).collect();
            if c.syntax == Syntax::Lines && columns.is_empty() {
                columns.push("value".into());
            }
            layouts.push(Layout {
                name: c.name.clone(),
                syntax: c.syntax,
                separator: c.separator.clone().unwrap_or_else(|| ",".into()),
                comment: c.comment.clone().unwrap_or_else(|| "#".into()),
                header: if c.syntax == Syntax::Lines { HeaderMode::None } else { c.header },
                columns,
                required: c.required.iter().map(|s| lower(s)).collect(),
                not_empty: c.not_empty.as_ref().unwrap_or(&c.required).iter().map(|s| lower(s)).collect(),
                file: c.file.as_deref().map(lower),
                probe: c.probe.iter().map(|s| s.to_lowercase()).collect(),
                unmapped: c.unmapped,
                time,
                url_scheme: c.url_scheme.clone(),
                fqdn_from_url: c.fqdn_from_url,
                time_comment: c.time_comment.as_deref().map(str::to_lowercase),
                skip: c.skip.iter().map(|(k, v)| (lower(k), v.clone())).collect(),
                fields,
                constants,
                lookups,
                templates,
            });
        }
        if errors.is_empty() {
            Ok(Generic { layouts })
        } else {
            Err(errors)
        }
    }

    /// A feed with no layouts: every line is refused as an unrecognised layout.
    pub(crate) fn empty() -> Generic {
        Generic { layouts: Vec::new() }
    }

    pub(crate) fn probe(&self, head: &[u8]) -> bool {
        let text = String::from_utf8_lossy(&head[..head.len().min(4096)]).to_lowercase();
        self.layouts.iter().any(|l| !l.probe.is_empty() && l.probe.iter().all(|p| text.contains(p.as_str())))
    }
}

// ---------------------------------------------------------------------------------------
// Decoding

/// What one column of a bound layout does.
#[derive(Debug, Clone)]
enum Act {
    Set(Key),
    Pattern {
        prefix: String,
        suffix: String,
        key: Key,
    },
    By {
        by: usize,
        cases: HashMap<String, Key>,
    },
    Lookup(usize),
    /// An `extra.<key>` column: the key, shared by every event.
    Extra(Arc<str>),
}

/// A layout bound to the columns of one input.
#[derive(Debug)]
struct Bound {
    layout: usize,
    columns: Vec<String>,
    acts: Vec<(usize, Act)>,
    required: Vec<usize>,
    skip: Vec<(usize, String)>,
    templates: Vec<(Key, Vec<BoundPiece>)>,
}

#[derive(Debug)]
enum BoundPiece {
    Text(String),
    Column(Option<usize>),
    Word,
}

impl Bound {
    fn new(layout_index: usize, layout: &Layout, columns: Vec<String>) -> Result<Bound, String> {
        let index = |name: &str| columns.iter().position(|c| c == name);
        let missing: Vec<&str> = layout.required.iter().filter(|r| index(r).is_none()).map(String::as_str).collect();
        let required: Vec<usize> = layout.not_empty.iter().filter_map(|r| index(r)).collect();
        if !missing.is_empty() {
            return Err(format!("missing column {}", missing.join(", ")));
        }
        let mut acts = Vec::new();
        let mut mapped = vec![false; columns.len()];
        for (column, targets) in &layout.fields {
            let Some(i) = index(column) else { continue };
            mapped[i] = true;
            for target in targets {
                match target {
                    Target::Key(k) => acts.push((i, Act::Set(k.clone()))),
                    Target::Pattern { prefix, suffix, key } => acts
                        .push((i, Act::Pattern { prefix: prefix.clone(), suffix: suffix.clone(), key: key.clone() })),
                    Target::By { by, cases } => {
                        let by = index(by).ok_or_else(|| format!("missing column {by}"))?;
                        acts.push((i, Act::By { by, cases: cases.clone() }));
                    }
                }
            }
        }
        for (n, (column, _)) in layout.lookups.iter().enumerate() {
            if let Some(i) = index(column) {
                mapped[i] = true;
                acts.push((i, Act::Lookup(n)));
            }
        }
        let templates: Vec<(Key, Vec<BoundPiece>)> = layout
            .templates
            .iter()
            .map(|(k, pieces)| {
                let bound = pieces
                    .iter()
                    .map(|p| match p {
                        Piece::Text(t) => BoundPiece::Text(t.clone()),
                        Piece::Word => BoundPiece::Word,
                        Piece::Column(c) => {
                            let i = index(c);
                            if let Some(i) = i {
                                mapped[i] = true;
                            }
                            BoundPiece::Column(i)
                        }
                    })
                    .collect();
                (k.clone(), bound)
            })
            .collect();
        if layout.unmapped == Unmapped::Extra {
            for (i, c) in columns.iter().enumerate() {
                if !mapped[i] && !c.is_empty() && !layout.skip.iter().any(|(s, _)| s == c) {
                    acts.push((i, Act::Extra(c.as_str().into())));
                }
            }
        }
        let skip = layout.skip.iter().filter_map(|(c, v)| Some((index(c)?, v.clone()))).collect();
        Ok(Bound { layout: layout_index, columns, acts, required, skip, templates })
    }
}

enum Mode {
    /// Nothing but comments and blank lines yet.
    Start,
    Text(Bound),
    JsonLines,
    /// The whole input is one JSON document: (first line, text so far).
    JsonDocument(u64, String),
    /// The input cannot be read as this feed; later lines are only counted.
    Failed {
        lines: u64,
        first: u64,
    },
}

pub(crate) struct GenericDecoder {
    generic: Arc<Generic>,
    /// Layout preselected by the file name, and the word after the match.
    by_file: Option<usize>,
    word: String,
    mode: Mode,
    /// JSON records bind by their keys; consecutive records usually share them.
    json_bound: Option<Bound>,
    /// The time a `time_comment` gave, for records without their own.
    default_time: Option<chrono::DateTime<chrono::Utc>>,
}

impl GenericDecoder {
    pub(crate) fn new(generic: Arc<Generic>, source: &str) -> GenericDecoder {
        let file_name = lower(source.rsplit(['/', '\\']).next().unwrap_or(source));
        let mut by_file = None;
        let mut word = String::new();
        // The longest pattern wins: `_sinkhole_dns` over `_sinkhole`.
        let mut longest = 0;
        for (i, l) in generic.layouts.iter().enumerate() {
            if let Some(pattern) = &l.file {
                if let Some(at) = file_name.find(pattern.as_str()) {
                    if pattern.len() > longest {
                        let after = &file_name[at + pattern.len()..];
                        word = after.split(['-', '.']).next().unwrap_or("").to_string();
                        by_file = Some(i);
                        longest = pattern.len();
                    }
                }
            }
        }
        GenericDecoder { generic, by_file, word, mode: Mode::Start, json_bound: None, default_time: None }
    }

    fn layouts(&self) -> &[Layout] {
        &self.generic.layouts
    }

    /// The candidate layouts, the file's own first.
    fn candidates(&self) -> Vec<usize> {
        match self.by_file {
            Some(i) => vec![i],
            None => (0..self.layouts().len()).collect(),
        }
    }

    /// If `text` is a header of a candidate layout, the layout bound to it.
    fn header(&self, text: &str) -> Option<Bound> {
        let mut best: Option<(usize, Bound)> = None;
        for i in self.candidates() {
            let l = &self.layouts()[i];
            if l.header != HeaderMode::Auto || l.syntax != Syntax::Csv {
                continue;
            }
            let text = if l.comment.is_empty() { text } else { text.trim_start_matches(l.comment.as_str()) };
            let Ok(names) = csv_line::split(text.trim(), &l.separator) else { continue };
            let names: Vec<String> = names.iter().map(|n| lower(n.trim_matches('"'))).collect();
            if let Ok(b) = Bound::new(i, l, names) {
                if best.as_ref().is_none_or(|(n, _)| l.required.len() > *n) {
                    best = Some((l.required.len(), b));
                }
            }
        }
        best.map(|(_, b)| b)
    }

    /// For a headerless data line, the layout whose column count it has.
    fn headerless(&self, line: &str) -> Option<Bound> {
        let mut fallback = None;
        for i in self.candidates() {
            let l = &self.layouts()[i];
            // A layout tied to a file name is only for files of that name.
            if l.header != HeaderMode::None || (self.by_file.is_none() && l.file.is_some()) {
                continue;
            }
            match l.syntax {
                Syntax::Csv if csv_line::split(line, &l.separator).is_ok_and(|f| f.len() == l.columns.len()) => {
                    return Bound::new(i, l, l.columns.clone()).ok();
                }
                Syntax::Lines if fallback.is_none() => fallback = Bound::new(i, l, l.columns.clone()).ok(),
                _ => {}
            }
        }
        fallback
    }

    fn has_syntax(&self, syntax: Syntax) -> bool {
        self.candidates().iter().any(|&i| self.layouts()[i].syntax == syntax)
    }

    fn is_comment(&self, trimmed: &str) -> bool {
        self.candidates().iter().any(|&i| {
            let c = &self.layouts()[i].comment;
            !c.is_empty() && trimmed.starts_with(c.as_str())
        })
    }

    /// Reads the list's own date from a comment, if a candidate layout says where it is.
    fn comment_time(&mut self, comment: &str) {
        let lower_comment = comment.to_lowercase();
        for i in self.candidates() {
            let Some(marker) = &self.layouts()[i].time_comment else { continue };
            if let Some(at) = lower_comment.find(marker.as_str()) {
                let text = comment[at + marker.len()..].trim();
                if let Some(t) = comment_date(text) {
                    self.default_time = Some(t);
                }
                return;
            }
        }
    }

    fn start(&mut self, ctx: &Context, number: u64, line: &str, out: &mut Batch) {
        let trimmed = line.trim();
        if (trimmed.starts_with('{') || trimmed.starts_with('[')) && self.has_syntax(Syntax::JsonLines) {
            if let Ok(Value::Object(_)) = serde_json::from_str::<Value>(trimmed) {
                self.mode = Mode::JsonLines;
                return self.json_line(ctx, number, line, out);
            }
        }
        if (trimmed.starts_with('{') || trimmed.starts_with('[')) && self.has_syntax(Syntax::Json) {
            self.mode = Mode::JsonDocument(number, format!("{line}\n"));
            return;
        }
        if self.is_comment(trimmed) {
            if let Some(b) = self.header(trimmed) {
                self.mode = Mode::Text(b);
            } else {
                self.comment_time(trimmed);
            }
            return;
        }
        if let Some(b) = self.header(trimmed) {
            self.mode = Mode::Text(b);
            return;
        }
        let lower_line = trimmed.to_ascii_lowercase();
        if lower_line.starts_with("<!doctype") || lower_line.starts_with("<html") || lower_line.starts_with("<?xml") {
            out.rejected.push(ctx.reject(
                number,
                line.as_bytes(),
                format!("an HTML page where {} data was expected", ctx.feed.name),
            ));
            self.mode = Mode::Failed { lines: 0, first: number };
            return;
        }
        if let Some(b) = self.headerless(trimmed) {
            self.mode = Mode::Text(b);
            return self.text_line(ctx, number, line, out);
        }
        let expected: Vec<String> = self
            .candidates()
            .iter()
            .map(|&i| {
                let l = &self.layouts()[i];
                if l.header == HeaderMode::Auto {
                    format!("{} (a header with {})", l.name, l.required.join(", "))
                } else {
                    format!("{} ({} columns)", l.name, l.columns.len())
                }
            })
            .collect();
        out.rejected.push(ctx.reject(
            number,
            line.as_bytes(),
            format!("unrecognised layout (changed header?): expected {}", expected.join(" or ")),
        ));
        self.mode = Mode::Failed { lines: 0, first: number };
    }

    fn text_line(&mut self, ctx: &Context, number: u64, line: &str, out: &mut Batch) {
        let Mode::Text(bound) = &self.mode else { return };
        let layout = &self.generic.layouts[bound.layout];
        let trimmed = line.trim();
        if !layout.comment.is_empty() && trimmed.starts_with(layout.comment.as_str()) {
            if layout.time_comment.is_some() {
                self.comment_time(trimmed);
            }
            return;
        }
        let result = match layout.syntax {
            Syntax::Lines => build(ctx, layout, bound, &self.word, &[trimmed], line),
            _ => match csv_line::split_borrowed(line, &layout.separator) {
                Ok(values) if values.len() == bound.columns.len() => {
                    let values: Vec<&str> = values.iter().map(|v| v.as_ref()).collect();
                    build(ctx, layout, bound, &self.word, &values, line)
                }
                Ok(values) => {
                    // A header line repeated mid-file (concatenated downloads) is not data.
                    if values.len() == bound.columns.len() || self.header(trimmed).is_some() {
                        return;
                    }
                    Err(format!("expected {} columns, found {}", bound.columns.len(), values.len()))
                }
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(Some(mut event)) => {
                if event.time_source.is_none() {
                    event.time_source = self.default_time;
                }
                out.events.push(event)
            }
            Ok(None) => {}
            Err(reason) => out.rejected.push(ctx.reject(number, line.as_bytes(), reason)),
        }
    }

    fn json_record(
        &mut self,
        ctx: &Context,
        record: &Value,
        key: Option<&str>,
        raw: &str,
    ) -> Result<Option<Event>, String> {
        let Value::Object(_) = record else { return Err("expected a JSON object".into()) };
        let mut pairs: Vec<(String, String)> = Vec::new();
        if let Some(k) = key {
            pairs.push(("@key".into(), k.to_string()));
        }
        flatten("", record, &mut pairs);
        let skipped = self.candidates().iter().any(|&i| {
            let l = &self.generic.layouts[i];
            !l.skip.is_empty() && l.skip.iter().all(|(k, v)| pairs.iter().any(|(n, x)| n == k && x == v))
        });
        if skipped {
            return Ok(None);
        }
        let names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
        let same =
            self.json_bound.as_ref().is_some_and(|b| b.columns.iter().map(String::as_str).eq(names.iter().copied()));
        if !same {
            let columns: Vec<String> = pairs.iter().map(|(n, _)| n.clone()).collect();
            let mut best: Option<(usize, Bound)> = None;
            let mut first_error = None;
            for i in self.candidates() {
                let l = &self.generic.layouts[i];
                if !matches!(l.syntax, Syntax::Json | Syntax::JsonLines) {
                    continue;
                }
                match Bound::new(i, l, columns.clone()) {
                    Ok(b) => {
                        if best.as_ref().is_none_or(|(n, _)| l.required.len() > *n) {
                            best = Some((l.required.len(), b));
                        }
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            match best {
                Some((_, b)) => self.json_bound = Some(b),
                None => return Err(first_error.unwrap_or_else(|| "no JSON layout for this feed".into())),
            }
        }
        let bound = self.json_bound.as_ref().expect("bound just above");
        let layout = &self.generic.layouts[bound.layout];
        let values: Vec<&str> = pairs.iter().map(|(_, v)| v.as_str()).collect();
        build(ctx, layout, bound, &self.word, &values, raw)
    }

    fn json_line(&mut self, ctx: &Context, number: u64, line: &str, out: &mut Batch) {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return;
        }
        let result = match serde_json::from_str::<Value>(trimmed) {
            Ok(v) => self.json_record(ctx, &v, None, trimmed),
            Err(e) => Err(format!("malformed JSON: {e}")),
        };
        match result {
            Ok(Some(event)) => out.events.push(event),
            Ok(None) => {}
            Err(reason) => out.rejected.push(ctx.reject(number, line.as_bytes(), reason)),
        }
    }
}

/// Nested objects and arrays become dotted column names (`details.0.ip_address`), lower
/// case; `null` becomes an empty value.
fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    let name = |k: &str| {
        if prefix.is_empty() {
            k.to_ascii_lowercase()
        } else {
            format!("{prefix}.{}", k.to_ascii_lowercase())
        }
    };
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&name(k), v, out);
            }
        }
        Value::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()) => {
            for (n, v) in items.iter().enumerate() {
                flatten(&name(&n.to_string()), v, out);
            }
        }
        Value::Array(items) => {
            let joined: Vec<String> = items.iter().map(scalar).collect();
            out.push((prefix.to_string(), joined.join(",")));
        }
        other => out.push((prefix.to_string(), scalar(other))),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One record → one event (or `None` when a `skip` rule says so).
fn build(
    ctx: &Context,
    layout: &Layout,
    bound: &Bound,
    word: &str,
    values: &[&str],
    raw: &str,
) -> Result<Option<Event>, String> {
    for (i, v) in &bound.skip {
        if values[*i] == v {
            return Ok(None);
        }
    }
    for &i in &bound.required {
        if values[i].trim().is_empty() {
            return Err(format!("{}: empty", bound.columns[i]));
        }
    }
    let classification = ctx.feed.classification.unwrap_or(ClassificationType::Other);
    let mut event = ctx.event(classification);
    event.raw = Some(raw.to_string());
    let time = &layout.time;
    let scheme = layout.url_scheme.as_deref();
    for (k, v) in &layout.constants {
        fields::set(&mut event, k, v, time, scheme).map_err(|e| format!("constant: {e}"))?;
    }
    let mut lookups: Vec<(usize, usize)> = Vec::new();
    for (i, act) in &bound.acts {
        let value = values[*i];
        let column = &bound.columns[*i];
        match act {
            Act::Set(key) => fields::set(&mut event, key, value, time, scheme),
            Act::Pattern { prefix, suffix, key } => match value.trim().strip_prefix(prefix.as_str()) {
                Some(part) => {
                    fields::set(&mut event, key, part.strip_suffix(suffix.as_str()).unwrap_or(part), time, scheme)
                }
                None => Ok(()),
            },
            Act::By { by, cases } => {
                let kind = lower(values[*by]);
                match cases.get(&kind) {
                    Some(key) => fields::set(&mut event, key, value, time, scheme),
                    None => Err(format!("unknown {} {kind:?}", bound.columns[*by])),
                }
            }
            Act::Lookup(n) => {
                lookups.push((*i, *n));
                Ok(())
            }
            Act::Extra(name) => {
                if !value.trim().is_empty() {
                    event.extra.insert(name.clone(), Value::String(value.trim().to_string()));
                }
                Ok(())
            }
        }
        .map_err(|e| format!("{column}: {e}"))?;
    }
    'templates: for (key, pieces) in &bound.templates {
        let mut text = String::new();
        for p in pieces {
            match p {
                BoundPiece::Text(t) => text.push_str(t),
                BoundPiece::Word if !word.is_empty() => text.push_str(word),
                BoundPiece::Column(Some(i)) if !values[*i].trim().is_empty() => text.push_str(values[*i].trim()),
                _ => continue 'templates,
            }
        }
        fields::set(&mut event, key, &text, time, scheme).map_err(|e| format!("{text:?}: {e}"))?;
    }
    for (i, n) in lookups {
        if let Some(sets) = layout.lookups[n].1.get(&lower(values[i])) {
            for (k, v) in sets {
                fields::set(&mut event, k, v, time, scheme).map_err(|e| format!("{}: {e}", bound.columns[i]))?;
            }
        }
    }
    if layout.fqdn_from_url && event.source.fqdn.is_none() {
        if let Some(host) = event.source.url.as_deref().and_then(url_host) {
            if let Ok(fqdn) = fields::parse_fqdn(host) {
                event.source.fqdn = Some(fqdn);
            }
        }
    }
    Ok(Some(event))
}

/// A list's own date, as providers write it in a comment: RFC 2822 (`Wed, 01 May 2024
/// 10:00:00 GMT`), `Wed May  1 10:00:00 2024 UTC`, or any layout `parse_utc` reads.
fn comment_date(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let utc = chrono::Utc;
    if let Ok(t) = chrono::DateTime::parse_from_rfc2822(text) {
        return Some(t.with_timezone(&utc));
    }
    let bare = text.trim_end_matches("UTC").trim_end_matches("GMT").trim();
    let squeezed: String = bare.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(&squeezed, "%a %b %d %H:%M:%S %Y") {
        return Some(t.and_utc());
    }
    crate::parse_utc(text).ok()
}

fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.starts_with('[') {
        return None;
    }
    Some(host.split(':').next().unwrap_or(host))
}

impl LineFormat for GenericDecoder {
    fn line(&mut self, ctx: &Context, number: u64, line: &str, out: &mut Batch) {
        match &mut self.mode {
            Mode::Start => {
                if !line.trim().is_empty() {
                    self.start(ctx, number, line, out);
                }
            }
            Mode::Text(_) => {
                if !line.trim().is_empty() {
                    self.text_line(ctx, number, line, out);
                }
            }
            Mode::JsonLines => self.json_line(ctx, number, line, out),
            Mode::JsonDocument(_, text) => {
                text.push_str(line);
                text.push('\n');
            }
            Mode::Failed { lines, .. } => {
                if !line.trim().is_empty() {
                    *lines += 1;
                }
            }
        }
    }

    fn finish(&mut self, ctx: &Context, out: &mut Batch) {
        match std::mem::replace(&mut self.mode, Mode::Start) {
            Mode::Failed { lines, first } if lines > 0 => out.rejected.push(ctx.reject(
                first,
                b"",
                format!("{lines} more lines not read: the input's layout was not recognised at line {first}"),
            )),
            Mode::JsonDocument(first, text) => self.json_document(ctx, first, &text, out),
            _ => {}
        }
    }
}

impl GenericDecoder {
    fn json_document(&mut self, ctx: &Context, first: u64, text: &str, out: &mut Batch) {
        let document: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                let line = first + e.line().saturating_sub(1) as u64;
                out.rejected.push(ctx.reject(line, b"", format!("malformed JSON (truncated file?): {e}")));
                return;
            }
        };
        let mut records: Vec<(Option<&str>, &Value)> = Vec::new();
        match &document {
            Value::Array(items) => records.extend(items.iter().map(|v| (None, v))),
            // A single record, not a keyed export: some of its values are plain.
            Value::Object(map) if map.values().any(|v| !v.is_array() && !v.is_object()) => {
                records.push((None, &document))
            }
            Value::Object(map) => {
                for (k, v) in map {
                    match v {
                        Value::Array(items) => records.extend(items.iter().map(|i| (Some(k.as_str()), i))),
                        other => records.push((Some(k.as_str()), other)),
                    }
                }
            }
            _ => {
                out.rejected.push(ctx.reject(first, b"", "expected a JSON array or object of records"));
                return;
            }
        }
        for (index, (key, record)) in records.into_iter().enumerate() {
            let raw = serde_json::to_string(record).unwrap_or_default();
            match self.json_record(ctx, record, key, &raw) {
                Ok(Some(event)) => out.events.push(event),
                Ok(None) => {}
                Err(reason) => {
                    out.rejected.push(ctx.reject(first, raw.as_bytes(), format!("record {}: {reason}", index + 1)))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_and_offsets_parse() {
        assert_eq!(parse_offset("+08:00").unwrap(), 8 * 3600);
        assert_eq!(parse_offset("-05:30").unwrap(), -(5 * 3600 + 30 * 60));
        assert!(parse_offset("CET").is_err());
        let t = parse_template("{Start}/{netblock}").unwrap();
        assert!(matches!(&t[0], Piece::Column(c) if c == "start"));
        assert!(matches!(&t[1], Piece::Text(c) if c == "/"));
        assert!(parse_template("{open").is_err());
    }

    #[test]
    fn list_dates_in_comments() {
        let t = comment_date("Wed, 01 May 2024 10:00:00 GMT").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-05-01T10:00:00+00:00");
        let t = comment_date("Wed May  1 10:00:00 2024 UTC").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-05-01T10:00:00+00:00");
        assert!(comment_date("soon").is_none());
    }

    #[test]
    fn url_hosts() {
        assert_eq!(url_host("http://user@Example.com:8080/x?y"), Some("Example.com"));
        assert_eq!(url_host("http://[2001:db8::1]/"), None);
    }

    fn decode(feed: &str, source: &str, bytes: &[u8]) -> crate::Batch {
        let catalogue = crate::Catalogue::builtin();
        crate::decode_all(catalogue.get(feed).unwrap(), source, bytes)
    }

    #[test]
    fn the_file_name_picks_the_layout_and_names_the_service() {
        let csv = b"\"timestamp\",\"ip\",\"port\"\n\"2024-05-01 00:00:00\",192.0.2.1,3389\n";
        let out = decode("shadowserver", "2024-05-01-scan_rdp-cn.csv", csv);
        assert_eq!(out.events.len(), 1, "{:?}", out.rejected);
        assert_eq!(out.events[0].classification_identifier.as_deref(), Some("accessible-rdp"));
        // Without a telling name the header decides; the most specific layout wins.
        let out = decode("shadowserver", "report.csv", csv);
        assert_eq!(out.events[0].classification_identifier.as_deref(), Some("accessible-service"));
    }

    #[test]
    fn headerless_rows_pick_the_layout_by_column_count() {
        let out = decode("abusech-urlhaus", "u", b"\"2024-06-01 12:00:01\",\"http://192.0.2.1/x\",\"online\",\"malware_download\",\"192.0.2.1\",\"192.0.2.1\",\"64500\",\"CN\"\nhttp://192.0.2.2/y\n");
        assert_eq!(out.events.len(), 1);
        assert_eq!(out.events[0].source.asn, Some(64500));
        assert_eq!(out.rejected[0].reason, "expected 8 columns, found 1");
        let out = decode("abusech-urlhaus", "u", b"http://192.0.2.2/y\n");
        assert_eq!(out.events[0].source.url.as_deref(), Some("http://192.0.2.2/y"));
    }

    #[test]
    fn a_list_date_in_a_comment_dates_its_records_and_metadata_is_skipped() {
        let out =
            decode("spamhaus-drop", "d", b"; Last-Modified: Wed, 01 May 2024 10:00:00 GMT\n192.0.2.0/24 ; SBL1\n");
        assert_eq!(out.events[0].time_source.unwrap().to_rfc3339(), "2024-05-01T10:00:00+00:00");
        let out = decode(
            "spamhaus-drop",
            "d",
            b"{\"cidr\":\"192.0.2.0/24\",\"sblid\":\"SBL1\"}\n{\"type\":\"metadata\",\"records\":1}\n",
        );
        assert_eq!((out.events.len(), out.rejected.len()), (1, 0));
    }

    #[test]
    fn bad_tables_are_all_reported() {
        let config: LayoutConfig = toml::from_str(
            "name = \"x\"\nrequired = [\"a\"]\nfields = { a = \"source.nope\", b = { pattern = \"no star\", to = \"comment\" } }\ntime_zone = \"CET\"",
        )
        .unwrap();
        let errors = Generic::compile(&[config]).unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
    }
}
