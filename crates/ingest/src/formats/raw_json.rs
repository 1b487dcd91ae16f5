//! Reading JSON telemetry without building a `serde_json::Value` per line: a record is
//! deserialised into borrowed [`RawValue`] slices, and only the fields a format uses are
//! looked at, each converted with an error that names the field.
//!
//! ```text
//! "10.0.0.1"           -> Some("10.0.0.1")
//! "curl\/7.43.0"       -> Some("curl/7.43.0")      (escapes undone, a copy only then)
//! 1357002000.123456    -> Some("1357002000.123456") (as written: no float rounding)
//! null, true, [], ""   -> None
//! ```

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// A JSON scalar as text: a string without its quotes (escapes undone), a number as
/// written (so `1357002000.123456` keeps every digit). `None` for null, booleans, arrays,
/// objects and the empty string: none of them is a value a telemetry field can hold.
pub(crate) fn text(raw: Option<&RawValue>) -> Option<Cow<'_, str>> {
    scalar_text(raw?.get())
}

/// [`text`] of a JSON value as written.
pub(crate) fn scalar_text(s: &str) -> Option<Cow<'_, str>> {
    match s.as_bytes().first()? {
        b'"' => {
            let inner = &s[1..s.len() - 1];
            if inner.is_empty() {
                None
            } else if !inner.contains('\\') {
                Some(Cow::Borrowed(inner))
            } else {
                serde_json::from_str::<String>(s).ok().filter(|t| !t.is_empty()).map(Cow::Owned)
            }
        }
        b'-' | b'0'..=b'9' => Some(Cow::Borrowed(s)),
        _ => None,
    }
}

/// A JSON value as written (a string with its quotes), borrowed from the record: what
/// serde gives as a [`RawValue`], or what a quicker reader cut out of the same text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scalar<'a>(pub &'a str);

impl<'a> Scalar<'a> {
    /// Its [`text`].
    pub(crate) fn text(self) -> Option<Cow<'a, str>> {
        scalar_text(self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&RawValue>::deserialize(d).map(|raw| Scalar(raw.get()))
    }
}

/// Whether the value is a JSON array.
pub(crate) fn is_array(raw: &RawValue) -> bool {
    raw.get().starts_with('[')
}

/// The elements of a JSON array (an empty list for anything else).
pub(crate) fn elements(raw: &RawValue) -> Vec<&RawValue> {
    if !is_array(raw) {
        return Vec::new();
    }
    serde_json::from_str(raw.get()).unwrap_or_default()
}

/// A JSON object key, borrowed from the line unless it held an escape.
pub(crate) struct Key<'a>(pub Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// A JSON parse error as a rejection reason: `malformed JSON: …` for bad syntax (a
/// truncated line), the error itself for a well-formed line of the wrong shape.
pub(crate) fn reason(e: &serde_json::Error) -> String {
    if e.is_syntax() || e.is_eof() {
        format!("malformed JSON: {e}")
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> &RawValue {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn scalars_read_as_text() {
        assert_eq!(text(Some(raw(r#""10.0.0.1""#))).as_deref(), Some("10.0.0.1"));
        assert_eq!(text(Some(raw(r#""a\/b""#))).as_deref(), Some("a/b"));
        assert_eq!(text(Some(raw("1357002000.123456"))).as_deref(), Some("1357002000.123456"));
        assert_eq!(text(Some(raw("-1"))).as_deref(), Some("-1"));
        assert_eq!(text(Some(raw(r#""""#))), None);
        assert_eq!(text(Some(raw("true"))), None);
        assert_eq!(text(Some(raw("[1]"))), None);
        assert_eq!(text(None), None);
    }

    #[test]
    fn arrays_give_their_elements() {
        let items = elements(raw(r#"["a", 1, null]"#));
        assert_eq!(items.len(), 3);
        assert!(elements(raw(r#""a""#)).is_empty());
    }
}
