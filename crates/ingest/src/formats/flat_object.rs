//! A JSON object of plain scalars read in one pass over its bytes: the shape of nearly
//! every record of a JSON export (`{"ip_address": "192.0.2.1", "port": 443, …}`).
//!
//! It reads only what it is sure of — keys and strings without escapes or control
//! characters, numbers in JSON's grammar, `true`, `false`, `null` — and gives up
//! (`None`) on anything else: an escape, a nested value, bad syntax, text cut short. The
//! caller then asks serde, whose answer (the record, or why it is not one) stands; where
//! this reader does answer, it is serde's answer, found in a third of the time (a
//! property test compares the two on records cut, mangled and nested at random).
//!
//! ```text
//! {"ip_address": "192.0.2.1", "port": 443, "hostname": null}  -> ("ip_address", Some("\"192.0.2.1\"")),
//!                                                                ("port", Some("443")), ("hostname", None); ends at 58
//! {"as_name": "A \"quoted\" name"}                             -> None (an escape: serde reads it)
//! ```

/// Reads the object that starts at `text[0]` (its `{`), handing each key and value to
/// `field` in order: the value as written (a string with its quotes, a number's digits,
/// `true`, `false`), `None` for `null`. `field` says whether to go on (`false`: give up,
/// for a key met twice). Returns where the object ends (after its `}`), or `None` when
/// serde must decide.
pub(crate) fn read<'a>(text: &'a str, mut field: impl FnMut(&'a str, Option<&'a str>) -> bool) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    if bytes.first() != Some(&b'{') {
        return None;
    }
    i += 1;
    i = skip_whitespace(bytes, i);
    if bytes.get(i) == Some(&b'}') {
        return Some(i + 1);
    }
    loop {
        if bytes.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(bytes, i)?;
        let key = text.get(i + 1..key_end - 1)?;
        i = skip_whitespace(bytes, key_end);
        if bytes.get(i) != Some(&b':') {
            return None;
        }
        i = skip_whitespace(bytes, i + 1);
        let value_end = match *bytes.get(i)? {
            b'"' => string_end(bytes, i)?,
            b'-' | b'0'..=b'9' => number_end(bytes, i)?,
            b't' => word_end(bytes, i, b"true")?,
            b'f' => word_end(bytes, i, b"false")?,
            b'n' => word_end(bytes, i, b"null")?,
            _ => return None,
        };
        let value = if bytes[i] == b'n' { None } else { Some(text.get(i..value_end)?) };
        if !field(key, value) {
            return None;
        }
        i = skip_whitespace(bytes, value_end);
        match bytes.get(i)? {
            b',' => i = skip_whitespace(bytes, i + 1),
            b'}' => return Some(i + 1),
            _ => return None,
        }
    }
}

/// The first byte from `i` that is not JSON whitespace.
fn skip_whitespace(bytes: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\t' | b'\r') = bytes.get(i) {
        i += 1;
    }
    i
}

/// After the closing quote of the string whose opening quote is at `i`; `None` for an
/// escape, a control character or no closing quote.
fn string_end(bytes: &[u8], i: usize) -> Option<usize> {
    let k = i + 1 + vedette_model::first_special(bytes.get(i + 1..)?)?;
    (bytes[k] == b'"').then_some(k + 1)
}

/// After the number at `i` (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`); `None`
/// if it is not one, or may go on past the end of the text.
fn number_end(bytes: &[u8], mut i: usize) -> Option<usize> {
    let digits = |bytes: &[u8], from: usize| {
        let n = bytes.get(from..).map_or(0, |rest| rest.iter().take_while(|b| b.is_ascii_digit()).count());
        (n > 0).then_some(from + n)
    };
    if bytes.get(i) == Some(&b'-') {
        i += 1;
    }
    i = match bytes.get(i)? {
        b'0' => i + 1,
        b'1'..=b'9' => digits(bytes, i)?,
        _ => return None,
    };
    if bytes.get(i) == Some(&b'.') {
        i = digits(bytes, i + 1)?;
    }
    if let Some(b'e' | b'E') = bytes.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = bytes.get(i) {
            i += 1;
        }
        i = digits(bytes, i)?;
    }
    // A number is only known to end where something else begins.
    bytes.get(i)?;
    Some(i)
}

/// After `word` at `i`.
fn word_end(bytes: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    (bytes.get(i..i + word.len())? == word).then_some(i + word.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    type Fields<'a> = Vec<(&'a str, Option<&'a str>)>;

    fn fields(text: &str) -> Option<(Fields<'_>, usize)> {
        let mut out = Vec::new();
        let end = read(text, |k, v| {
            out.push((k, v));
            true
        })?;
        Some((out, end))
    }

    #[test]
    fn plain_records_are_read() {
        let (f, end) =
            fields(r#"{"ip_address": "192.0.2.1", "port": 443, "hostname": null, "x": -1.5e+3,"y":true} ,"#).unwrap();
        assert_eq!(
            f,
            [
                ("ip_address", Some("\"192.0.2.1\"")),
                ("port", Some("443")),
                ("hostname", None),
                ("x", Some("-1.5e+3")),
                ("y", Some("true"))
            ]
        );
        assert_eq!(end, 81);
        assert_eq!(fields("{ }").unwrap(), (vec![], 3));
        assert_eq!(fields("{\n\t\"a\" :\r\n0 }").unwrap().0, [("a", Some("0"))]);
    }

    #[test]
    fn what_serde_must_decide_is_left_to_it() {
        for text in [
            r#"{"a": "q\"uote"}"#,
            r#"{"a\u0041": 1}"#,
            "{\"a\": \"tab\there\"}",
            r#"{"a": [1]}"#,
            r#"{"a": {}}"#,
            r#"{"a": 01}"#,
            r#"{"a": 1.}"#,
            r#"{"a": -}"#,
            r#"{"a": 1e}"#,
            r#"{"a": tru}"#,
            r#"{"a": 1,}"#,
            r#"{"a" 1}"#,
            r#"{"a": 1"#,
            r#"{"a": 12"#,
            r#"{"a": "cut"#,
            r#"["a"]"#,
            "",
        ] {
            assert_eq!(fields(text), None, "{text}");
        }
        assert_eq!(read(r#"{"a": 1, "a": 2}"#, |k, _| k != "a"), None);
    }
}
