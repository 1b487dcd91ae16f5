//! A top-level JSON array read as its lines arrive, one element at a time.
//!
//! A JSON export (Feodo Tracker's `ipblocklist.json`) is one array of records. Parsing it
//! whole means holding the whole text and every event made from it before the first one
//! is written: a 24 MB export grew to 150 MB, and zeroing that fresh memory was half the
//! time it took to read the feed. Here each element is handed over as soon as its
//! closing bracket arrives, already deserialised, with the line it starts on. A truncated
//! download keeps its complete records, and what is missing is one rejection.
//!
//! Each element is read once: serde deserialises it straight from the bytes that arrived
//! and says where it ended. Only when that fails — the element is cut by the end of the
//! bytes so far (a download arrives in chunks cut anywhere, even inside a character), or
//! it is not valid — is the element found by a structural scan (strings and escapes
//! respected, nesting counted), held across pushes if need be, and deserialised from its
//! own text, so the answer (an element, or its error) is the same wherever the input is
//! cut.
//!
//! ```text
//! [                                  -> (nothing yet)
//!   {"ip_address": "192.0.2.1"},     -> Element { line: 2, index: 1, text: {"ip_address": "192.0.2.1"} }
//!   {"ip_address":                   -> (held)
//!      "192.0.2.2"}                  -> Element { line: 3, index: 2, text: {"ip_address":\n "192.0.2.2"} }
//! ]
//! ```

use std::marker::PhantomData;

use serde::Deserialize;

/// What the elements are read as: a type borrowing from the element's text.
pub(crate) trait Elements {
    type Element<'a>: Deserialize<'a>;

    /// A quicker reader for the element that starts at `text[0]`, for the shape nearly
    /// every element has: the element and where it ends, or `None` to let serde read it.
    /// Where it answers, its answer must be serde's.
    fn read_quickly(_text: &str) -> Option<(Self::Element<'_>, usize)> {
        None
    }
}

/// What the splitter hands over.
pub(crate) enum Piece<'a, E: Elements> {
    /// One element's text, exactly as written, with the line it starts on, its position
    /// in the array (from 1), and what serde made of that text alone.
    Element { line: u64, index: u64, text: &'a str, element: Result<E::Element<'a>, serde_json::Error> },
    /// The text is not an array of elements (or not all of it): where, why, and the text
    /// concerned (the partial element of a truncated file).
    Error { line: u64, reason: String, raw: String },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// Before the opening `[`.
    Start,
    /// Inside the array, between elements.
    Between,
    /// Inside an element.
    Element,
    /// After the closing `]`.
    After,
    /// A fault that makes the rest unreadable was reported: the rest is ignored.
    Failed,
}

pub(crate) struct ArraySplitter<E> {
    state: State,
    /// Nesting inside the current element (0: a scalar element).
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// A comma must come before the next element.
    need_comma: bool,
    /// The current element's bytes so far, when it spans pushes.
    held: Vec<u8>,
    element_line: u64,
    elements: u64,
    /// The line the next byte is on.
    line: u64,
    /// The line of the last byte that was not whitespace.
    last_text_line: u64,
    elements_are: PhantomData<fn() -> E>,
}

impl<E: Elements> ArraySplitter<E> {
    /// A splitter whose first byte is on line `first_line`.
    pub(crate) fn new(first_line: u64) -> ArraySplitter<E> {
        ArraySplitter {
            state: State::Start,
            depth: 0,
            in_string: false,
            escaped: false,
            need_comma: false,
            held: Vec::new(),
            element_line: 0,
            elements: 0,
            line: first_line,
            last_text_line: first_line,
            elements_are: PhantomData,
        }
    }

    /// Reads one line (without its line break) of a line-by-line reader.
    pub(crate) fn line(&mut self, line: &str, mut each: impl FnMut(Piece<'_, E>)) {
        self.push(line.as_bytes(), &mut each);
        self.push(b"\n", &mut each);
    }

    /// Reads the next bytes of the text, cut anywhere (even inside a character).
    pub(crate) fn push(&mut self, bytes: &[u8], mut each: impl FnMut(Piece<'_, E>)) {
        // Where the current element starts in these bytes, if it does.
        let mut start = if self.state == State::Element { Some(0) } else { None };
        // What serde may read: the bytes up to a character cut by their end (or up to an
        // invalid byte, which the structural scan then finds and reports).
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
        };
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match self.state {
                State::Failed => return,
                State::Start => match b {
                    b'[' => self.state = State::Between,
                    b if b.is_ascii_whitespace() => {}
                    _ => return self.fail("expected a JSON array of C2 records", &bytes[i..], &mut each),
                },
                State::After => {
                    if !b.is_ascii_whitespace() {
                        return self.fail("text after the end of the JSON array", &bytes[i..], &mut each);
                    }
                }
                State::Between => match b {
                    b',' if self.need_comma => self.need_comma = false,
                    b',' => {
                        return self.fail("malformed JSON: a ',' where a record was expected", &bytes[i..], &mut each)
                    }
                    b']' => self.state = State::After,
                    b if b.is_ascii_whitespace() => {}
                    _ => {
                        if self.need_comma {
                            let reason = format!("malformed JSON: no ',' after record {}", self.elements);
                            return self.fail(&reason, &bytes[i..], &mut each);
                        }
                        self.element_line = self.line;
                        self.elements += 1;
                        let whole = if matches!(b, b'{' | b'[') { self.read_whole(text, i, &mut each) } else { None };
                        if let Some(end) = whole {
                            self.line += count_newlines(&bytes[i..end]);
                            self.last_text_line = self.line;
                            self.need_comma = true;
                            i = end;
                            continue;
                        }
                        self.state = State::Element;
                        self.depth = 0;
                        start = Some(i);
                        // The first byte is read again below, as part of the element.
                        continue;
                    }
                },
                State::Element => {
                    let (next, end) = self.scan(bytes, i);
                    self.line += count_newlines(&bytes[i..next]);
                    self.last_text_line = self.line;
                    i = next;
                    if let Some(end) = end {
                        self.emit(&bytes[start.unwrap_or(0)..end], &mut each);
                        start = None;
                        self.state = State::Between;
                        self.need_comma = true;
                    }
                    // `i` is the first byte after the element (read between elements), or
                    // the end of these bytes.
                    continue;
                }
            }
            if b == b'\n' {
                self.line += 1;
            } else if !b.is_ascii_whitespace() {
                self.last_text_line = self.line;
            }
            i += 1;
        }
        if let (State::Element, Some(from)) = (self.state, start) {
            self.held.extend_from_slice(&bytes[from..]);
        }
    }

    /// The end of the input: a record or the array left open is a truncated file.
    pub(crate) fn finish(&mut self, mut each: impl FnMut(Piece<'_, E>)) {
        match self.state {
            State::Element => {
                let raw = String::from_utf8_lossy(&self.held).trim_end().to_string();
                let reason = format!("malformed JSON (truncated file?): record {} is not complete", self.elements);
                each(Piece::Error { line: self.element_line, reason, raw });
            }
            State::Between => each(Piece::Error {
                line: self.last_text_line,
                reason: "malformed JSON (truncated file?): the array is not closed".into(),
                raw: String::new(),
            }),
            State::Start | State::After | State::Failed => {}
        }
        self.held.clear();
        self.state = State::Failed;
    }

    /// Deserialises the object or array that starts at `text[i..]` and hands it over, if
    /// it is complete and valid: where it ends. Otherwise nothing is handed over, and the
    /// structural scan takes the element from its start, exactly as it would without
    /// this shortcut. Only structured elements are tried: their last byte is their
    /// closing bracket, whichever reader looks for it, whereas a number cut by the end of
    /// the bytes so far would read as a complete (shorter) number.
    fn read_whole(&mut self, text: &str, i: usize, each: &mut impl FnMut(Piece<'_, E>)) -> Option<usize> {
        let rest = text.get(i..)?;
        let (element, len) = match E::read_quickly(rest) {
            Some(read) => read,
            None => {
                let mut reader = serde_json::Deserializer::from_str(rest).into_iter::<E::Element<'_>>();
                let element = reader.next()?.ok()?;
                (element, reader.byte_offset())
            }
        };
        let end = i + len;
        each(Piece::Element {
            line: self.element_line,
            index: self.elements,
            text: &text[i..end],
            element: Ok(element),
        });
        Some(end)
    }

    /// Reads an element's bytes from `i`: where reading stopped, and, if the element
    /// ended, where (exclusive). Strings are skipped with a vectorised search for their
    /// closing quote, as most of a record is strings.
    fn scan(&mut self, bytes: &[u8], mut i: usize) -> (usize, Option<usize>) {
        while i < bytes.len() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    i += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &bytes[i..]) {
                    None => return (bytes.len(), None),
                    Some(k) if bytes[i + k] == b'\\' => {
                        self.escaped = true;
                        i += k + 1;
                    }
                    Some(k) => {
                        self.in_string = false;
                        i += k + 1;
                        if self.depth == 0 {
                            return (i, Some(i)); // a string element
                        }
                    }
                }
                continue;
            }
            match bytes[i] {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' if self.depth > 0 => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        return (i + 1, Some(i + 1));
                    }
                }
                // A scalar element ends before its delimiter.
                b',' | b']' | b'}' if self.depth == 0 => return (i, Some(i)),
                b if b.is_ascii_whitespace() && self.depth == 0 => return (i, Some(i)),
                _ => {}
            }
            i += 1;
        }
        (i, None)
    }

    fn emit(&mut self, tail: &[u8], each: &mut impl FnMut(Piece<'_, E>)) {
        let (line, index) = (self.element_line, self.elements);
        let held;
        let text = if self.held.is_empty() {
            tail
        } else {
            held = {
                let mut t = std::mem::take(&mut self.held);
                t.extend_from_slice(tail);
                t
            };
            &held[..]
        };
        match std::str::from_utf8(text) {
            Ok(text) => each(Piece::Element { line, index, text, element: serde_json::from_str(text) }),
            Err(e) => each(Piece::Error {
                line,
                reason: format!("record {index}: not UTF-8 (invalid byte at offset {})", e.valid_up_to()),
                raw: String::from_utf8_lossy(text).into_owned(),
            }),
        }
    }

    fn fail(&mut self, reason: &str, rest: &[u8], each: &mut impl FnMut(Piece<'_, E>)) {
        self.state = State::Failed;
        self.held.clear();
        let found = match rest.first() {
            Some(b) if b.is_ascii_graphic() => format!("'{}'", char::from(*b)),
            Some(b) => format!("byte 0x{b:02x}"),
            None => "nothing".into(),
        };
        each(Piece::Error { line: self.line, reason: format!("{reason}, found {found}"), raw: String::new() });
    }
}

fn count_newlines(bytes: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any JSON value, as its text.
    struct Values;
    impl Elements for Values {
        type Element<'a> = &'a serde_json::value::RawValue;
    }

    fn record(out: &mut Vec<String>) -> impl FnMut(Piece<'_, Values>) + '_ {
        |p: Piece<'_, Values>| {
            out.push(match p {
                Piece::Element { line, index, text, element: Ok(value) } => {
                    assert_eq!(value.get(), text);
                    format!("{line}:{index}:{text}")
                }
                Piece::Element { line, index, text, element: Err(e) } => format!("{line}:{index}:{text}:invalid:{e}"),
                Piece::Error { line, reason, raw } => format!("{line}:error:{reason}:{raw}"),
            })
        }
    }

    /// Line by line, and again cut into pieces of every size: the same answer.
    fn split(text: &str) -> Vec<String> {
        let mut by_line = Vec::new();
        let mut s = ArraySplitter::new(1);
        let lines: Vec<&str> = text.split('\n').collect();
        for line in &lines[..lines.len() - 1] {
            s.line(line, record(&mut by_line));
        }
        s.push(lines[lines.len() - 1].as_bytes(), record(&mut by_line));
        s.finish(record(&mut by_line));
        for size in 1..=7 {
            let mut by_piece = Vec::new();
            let mut s = ArraySplitter::new(1);
            for piece in text.as_bytes().chunks(size) {
                s.push(piece, record(&mut by_piece));
            }
            s.finish(record(&mut by_piece));
            assert_eq!(by_piece, by_line, "pieces of {size} bytes");
        }
        by_line
    }

    #[test]
    fn elements_one_per_line_and_across_lines() {
        assert_eq!(
            split("[\n  {\"a\": 1},\n  {\"b\": \"x]}\\\"\",\n   \"c\": [1, {}]}\n]"),
            ["2:1:{\"a\": 1}", "3:2:{\"b\": \"x]}\\\"\",\n   \"c\": [1, {}]}"]
        );
        assert_eq!(split("[{\"a\":1},{\"b\":2}]"), ["1:1:{\"a\":1}", "1:2:{\"b\":2}"]);
        assert_eq!(split("[]"), Vec::<String>::new());
        assert_eq!(split("[\"s\", 12 , null,{}]"), ["1:1:\"s\"", "1:2:12", "1:3:null", "1:4:{}"]);
    }

    #[test]
    fn what_is_not_an_array_is_one_error() {
        assert_eq!(split("{\"a\": 1}"), ["1:error:expected a JSON array of C2 records, found '{':"]);
        assert_eq!(split("[{}]\n x"), ["1:1:{}", "2:error:text after the end of the JSON array, found 'x':"]);
        assert_eq!(split("[{} {}]"), ["1:1:{}", "1:error:malformed JSON: no ',' after record 1, found '{':"]);
        assert_eq!(split("[,{}]"), ["1:error:malformed JSON: a ',' where a record was expected, found ',':"]);
        assert_eq!(split("[\"\u{e9}t\u{e9}\"]"), ["1:1:\"\u{e9}t\u{e9}\""]);
    }

    #[test]
    fn an_invalid_element_is_read_from_its_own_text() {
        // The error's position is in the element, as when it is read alone.
        assert_eq!(
            split("[\n{\"a\": 1},\n {\"b\": tru},\n {\"c\": [1, 2}]"),
            [
                "2:1:{\"a\": 1}",
                "3:2:{\"b\": tru}:invalid:expected ident at line 1 column 10",
                // Brackets are counted, not matched: the record runs to the array's end.
                "4:3:{\"c\": [1, 2}]:invalid:expected `,` or `]` at line 1 column 12",
                "4:error:malformed JSON (truncated file?): the array is not closed:",
            ]
        );
        assert_eq!(
            split("[{\"a\": 1x}, 12x]"),
            [
                "1:1:{\"a\": 1x}:invalid:expected `,` or `}` at line 1 column 8",
                "1:2:12x:invalid:trailing characters at line 1 column 3"
            ]
        );
    }

    #[test]
    fn a_truncated_file_keeps_its_complete_records() {
        assert_eq!(
            split("[\n{\"a\": 1},\n{\"b\": \"unfinished"),
            [
                "2:1:{\"a\": 1}",
                "3:error:malformed JSON (truncated file?): record 2 is not complete:{\"b\": \"unfinished"
            ]
        );
        assert_eq!(
            split("[\n{\"a\": 1},"),
            ["2:1:{\"a\": 1}", "2:error:malformed JSON (truncated file?): the array is not closed:"]
        );
    }
}
