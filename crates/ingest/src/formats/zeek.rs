//! What every Zeek log shares: the TSV layout and its header, and JSON lines.
//!
//! A TSV log opens with `#separator \x09`, `#set_separator ,`, `#empty_field (empty)`,
//! `#unset_field -`, `#path`, `#fields` and `#types`; vector values are joined by the set
//! separator and unprintable bytes written as `\xHH`. Columns are found by name in
//! `#fields`, so logs of different Zeek versions, with or without optional columns, read
//! the same; and the header is read again wherever it reappears, so concatenated logs
//! whose columns changed read right. A JSON log has one object per line with dotted keys
//! (`"id.orig_h"`), native types and arrays for vectors. Each log kind ([`ZeekKind`])
//! names the fields it reads and builds its record from a [`Record`], which answers the
//! same for a TSV and a JSON line:
//!
//! ```text
//! #fields  ts  uid  id.orig_h  id.orig_p  id.resp_h  id.resp_p  proto  query  ...
//! {"ts":1357002000.1,"uid":"C1","id.orig_h":"10.0.0.1","query":"example.com",...}
//!          -> record.get(TS) == Some("1357002000.1"), record.get(ORIG_H) == Some("10.0.0.1")
//! ```

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::{raw_json, values, Context, LineFormat};
use crate::Batch;

/// The most fields a log kind reads; a kind names its fields in a fixed array, so a line
/// is read into a fixed array too, with no allocation.
pub(crate) const MAX_FIELDS: usize = 16;

/// One kind of Zeek log.
pub(crate) trait ZeekKind {
    /// The fields read, in the order of the slots [`Record::get`] takes.
    const FIELDS: &'static [&'static str];
    /// The fields a `#fields` header must have (slots into `FIELDS`).
    const REQUIRED: &'static [usize];
    /// The `#fields` Zeek writes by default, for lines before any header.
    const DEFAULT_FIELDS: &'static [&'static str];

    /// Reads one record into `out`; `Ok(false)` when it carries nothing to read and is
    /// skipped (a DNS message without a question).
    fn read<R: Record>(record: &R, out: &mut Batch) -> Result<bool, String>;
}

/// One line's fields, TSV or JSON alike.
pub(crate) trait Record {
    /// The field in `slot`, `None` when absent, unset (`-`) or empty; escapes undone.
    fn get(&self, slot: usize) -> Option<Cow<'_, str>>;
    /// [`Record::get`] for a number, a time or an address, which Zeek never escapes.
    fn value(&self, slot: usize) -> Option<Cow<'_, str>> {
        self.get(slot)
    }
    /// Each element of a vector or set field.
    fn each(&self, slot: usize, f: &mut dyn FnMut(&str));
}

/// Whether the first bytes look like a Zeek log with this `#path`, or JSON lines that
/// have every one of `json_keys`.
pub(crate) fn probe(head: &[u8], path: &str, json_keys: &[&str]) -> bool {
    let text = String::from_utf8_lossy(&head[..head.len().min(4096)]);
    if text.lines().any(|l| l.strip_prefix("#path").is_some_and(|p| p.trim() == path)) {
        return true;
    }
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim_start();
    first.starts_with('{') && json_keys.iter().all(|k| first.contains(&format!("\"{k}\"")))
}

/// The TSV header as last read.
struct Header {
    separator: Separator,
    set_separator: String,
    empty_field: String,
    unset_field: String,
    columns: usize,
    /// For each column, the slot it fills (`u8::MAX`: not read).
    slot_of_column: Vec<u8>,
    /// A bad `#fields` header: every data line after it is refused with this reason.
    broken: Option<String>,
}

/// Zeek always writes a one-byte separator (a tab); a longer one is allowed but slower.
enum Separator {
    Byte(u8),
    Text(String),
}

impl Separator {
    fn new(text: String) -> Separator {
        match text.as_bytes() {
            [b] if b.is_ascii() => Separator::Byte(*b),
            _ => Separator::Text(text),
        }
    }

    fn split_once<'a>(&self, text: &'a str) -> Option<(&'a str, &'a str)> {
        match self {
            Separator::Byte(b) => text.split_once(char::from(*b)),
            Separator::Text(t) => text.split_once(t.as_str()),
        }
    }

    /// Calls `each` with every field of `line`, in order.
    fn split<'a>(&self, line: &'a str, mut each: impl FnMut(&'a str)) {
        match self {
            // A byte loop: `str::split(char)` pays a memchr and a memcmp call per field,
            // which dominated reading a conn.log.
            Separator::Byte(sep) => {
                let mut start = 0;
                for (i, &b) in line.as_bytes().iter().enumerate() {
                    if b == *sep {
                        each(&line[start..i]);
                        start = i + 1;
                    }
                }
                each(&line[start..]);
            }
            Separator::Text(t) => line.split(t.as_str()).for_each(each),
        }
    }
}

/// `a == b` for the short markers (`-`, `(empty)`), inlined rather than a memcmp call.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

impl Header {
    fn new<K: ZeekKind>() -> Header {
        let mut header = Header {
            separator: Separator::Byte(b'\t'),
            set_separator: ",".into(),
            empty_field: "(empty)".into(),
            unset_field: "-".into(),
            columns: 0,
            slot_of_column: Vec::new(),
            broken: None,
        };
        header.set_fields::<K>(K::DEFAULT_FIELDS);
        header
    }

    fn set_fields<K: ZeekKind>(&mut self, names: &[&str]) {
        if let Some(missing) = K::REQUIRED.iter().map(|&slot| K::FIELDS[slot]).find(|f| !names.contains(f)) {
            self.broken = Some(format!("#fields has no {missing} column"));
            return;
        }
        self.columns = names.len();
        self.slot_of_column = names
            .iter()
            .map(|name| K::FIELDS.iter().position(|f| f == name).map_or(u8::MAX, |slot| slot as u8))
            .collect();
        self.broken = None;
    }

    fn directive<K: ZeekKind>(&mut self, directive: &str) {
        // `#separator` is written with a space: the separator is not known before it.
        if let Some(sep) = directive.strip_prefix("separator ") {
            // An empty separator would cut between every character: keep the one we have.
            let sep = unescape(sep.trim());
            if !sep.is_empty() {
                self.separator = Separator::new(sep.into_owned());
            }
            return;
        }
        let (name, value) = self.separator.split_once(directive).unwrap_or((directive, ""));
        match name.trim() {
            "set_separator" if !value.is_empty() => self.set_separator = unescape(value).into_owned(),
            "empty_field" => self.empty_field = unescape(value).into_owned(),
            "unset_field" => self.unset_field = unescape(value).into_owned(),
            "fields" => {
                let mut names = Vec::new();
                self.separator.split(value, |f| {
                    if !f.trim().is_empty() {
                        names.push(f.trim());
                    }
                });
                self.set_fields::<K>(&names);
            }
            _ => {}
        }
    }

    fn tsv<'a>(&'a self, line: &'a str) -> Result<TsvRecord<'a>, String> {
        let mut record = TsvRecord { values: [None; MAX_FIELDS], header: self };
        let mut found = 0;
        self.separator.split(line, |value| {
            if let Some(&slot) = self.slot_of_column.get(found) {
                if let Some(v) = record.values.get_mut(usize::from(slot)) {
                    *v = Some(value);
                }
            }
            found += 1;
        });
        if found != self.columns {
            return Err(format!("expected {} columns, found {}", self.columns, found));
        }
        Ok(record)
    }
}

struct TsvRecord<'a> {
    values: [Option<&'a str>; MAX_FIELDS],
    header: &'a Header,
}

impl TsvRecord<'_> {
    fn raw(&self, slot: usize) -> Option<&str> {
        let h = self.header;
        self.values
            .get(slot)
            .copied()
            .flatten()
            .filter(|v| !v.is_empty() && !same(v, &h.unset_field) && !same(v, &h.empty_field))
    }
}

impl Record for TsvRecord<'_> {
    fn get(&self, slot: usize) -> Option<Cow<'_, str>> {
        self.raw(slot).map(unescape)
    }

    fn value(&self, slot: usize) -> Option<Cow<'_, str>> {
        self.raw(slot).map(Cow::Borrowed)
    }

    fn each(&self, slot: usize, f: &mut dyn FnMut(&str)) {
        if let Some(value) = self.raw(slot) {
            for item in value.split(self.header.set_separator.as_str()) {
                f(&unescape(item));
            }
        }
    }
}

struct JsonRecord<'a> {
    values: [Option<&'a RawValue>; MAX_FIELDS],
}

impl Record for JsonRecord<'_> {
    fn get(&self, slot: usize) -> Option<Cow<'_, str>> {
        raw_json::text(self.values.get(slot).copied().flatten())
    }

    fn each(&self, slot: usize, f: &mut dyn FnMut(&str)) {
        let Some(raw) = self.values.get(slot).copied().flatten() else { return };
        if raw_json::is_array(raw) {
            for item in raw_json::elements(raw) {
                if let Some(text) = raw_json::text(Some(item)) {
                    f(&text);
                }
            }
        } else if let Some(text) = raw_json::text(Some(raw)) {
            f(&text);
        }
    }
}

/// Picks the wanted keys out of a JSON object as raw slices, skipping the others.
struct Wanted(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Wanted {
    type Value = JsonRecord<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Wanted {
    type Value = JsonRecord<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut record = JsonRecord { values: [None; MAX_FIELDS] };
        while let Some(raw_json::Key(key)) = map.next_key()? {
            match self.0.iter().position(|f| *f == key).and_then(|slot| record.values.get_mut(slot)) {
                Some(value) => *value = Some(map.next_value::<&RawValue>()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(record)
    }
}

fn json_record<K: ZeekKind>(line: &str) -> Result<JsonRecord<'_>, String> {
    let mut de = serde_json::Deserializer::from_str(line);
    let record = Wanted(K::FIELDS).deserialize(&mut de).map_err(|e| raw_json::reason(&e))?;
    de.end().map_err(|e| raw_json::reason(&e))?;
    Ok(record)
}

/// Reads one kind of Zeek log, TSV or JSON lines, line by line.
pub(crate) struct ZeekLog<K> {
    header: Header,
    skipped: u64,
    kind: PhantomData<K>,
}

impl<K: ZeekKind> Default for ZeekLog<K> {
    fn default() -> Self {
        ZeekLog { header: Header::new::<K>(), skipped: 0, kind: PhantomData }
    }
}

impl<K: ZeekKind> LineFormat for ZeekLog<K> {
    fn line(&mut self, ctx: &Context, number: u64, line: &str, out: &mut Batch) {
        if line.is_empty() {
            return;
        }
        if let Some(directive) = line.strip_prefix('#') {
            self.header.directive::<K>(directive);
            return;
        }
        let read = if line.starts_with('{') {
            json_record::<K>(line).and_then(|r| K::read(&r, out))
        } else if line.starts_with('[') {
            Err("expected a JSON object".into())
        } else if let Some(reason) = &self.header.broken {
            Err(reason.clone())
        } else {
            self.header.tsv(line).and_then(|r| K::read(&r, out))
        };
        match read {
            Ok(true) => {}
            Ok(false) => self.skipped += 1,
            Err(reason) => out.rejected.push(ctx.reject(number, line.as_bytes(), reason)),
        }
    }

    fn skipped(&self) -> u64 {
        self.skipped
    }
}

/// Undoes Zeek's `\xHH` escapes (a tab, a separator or a non-ASCII byte inside a value);
/// borrows when there is nothing to undo, as for nearly every value.
pub(crate) fn unescape(text: &str) -> Cow<'_, str> {
    if !text.as_bytes().contains(&b'\\') {
        return Cow::Borrowed(text);
    }
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'\\' {
            if let [b'x', h, l, after @ ..] = tail {
                if let (Some(h), Some(l)) = ((*h as char).to_digit(16), (*l as char).to_digit(16)) {
                    out.push((h * 16 + l) as u8);
                    rest = after;
                    continue;
                }
            }
        }
        out.push(b);
        rest = tail;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// The shared fields of every Zeek log: `ts` and the connection's four-tuple.
pub(crate) fn time<R: Record>(r: &R, slot: usize) -> Result<i64, String> {
    let ts = r.value(slot).ok_or("ts: missing")?;
    values::micros(&ts).ok_or_else(|| format!("ts: {ts:?} is not a Unix time"))
}

pub(crate) fn ip<R: Record>(r: &R, slot: usize, name: &str) -> Result<std::net::IpAddr, String> {
    values::ip(name, r.value(slot).as_deref())
}

pub(crate) fn port<R: Record>(r: &R, slot: usize, name: &str) -> Result<u16, String> {
    values::port(name, r.value(slot).as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_undone_and_plain_text_borrowed() {
        assert!(matches!(unescape("example.com"), Cow::Borrowed(_)));
        assert_eq!(unescape("a\\x09b\\x2c"), "a\tb,");
        assert_eq!(unescape("\\x2d"), "-");
        assert_eq!(unescape("caf\\xc3\\xa9"), "café");
        assert_eq!(unescape("\\xzz\\x4"), "\\xzz\\x4");
    }

    #[test]
    fn every_kind_fits_the_fixed_record() {
        use crate::formats::{zeek_conn::Conn, zeek_dns::Dns, zeek_http::Http, zeek_ssl::Ssl};
        for (fields, required) in [
            (Conn::FIELDS, Conn::REQUIRED),
            (Dns::FIELDS, Dns::REQUIRED),
            (Http::FIELDS, Http::REQUIRED),
            (Ssl::FIELDS, Ssl::REQUIRED),
        ] {
            assert!(fields.len() <= MAX_FIELDS);
            assert!(required.iter().all(|&slot| slot < fields.len()));
        }
    }

    #[test]
    fn probe_reads_the_path_or_json_keys() {
        assert!(probe(b"#separator \\x09\n#path\tdns\n", "dns", &["query"]));
        assert!(!probe(b"#separator \\x09\n#path\tdns_extra\n", "dns", &["query"]));
        assert!(probe(b"{\"ts\":1,\"id.orig_h\":\"10.0.0.1\",\"query\":\"a\"}\n", "dns", &["id.orig_h", "query"]));
        assert!(!probe(b"{\"ts\":1,\"id.orig_h\":\"10.0.0.1\"}\n", "dns", &["id.orig_h", "query"]));
    }
}
