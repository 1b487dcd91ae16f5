use std::borrow::Cow;

/// Splits one CSV line with optional double quotes (`""` escapes a quote inside a quoted
/// field). `separator` may be longer than one byte: ThreatFox separates fields by `", "`.
pub(crate) fn split(line: &str, separator: &str) -> Result<Vec<String>, String> {
    Ok(split_borrowed(line, separator)?.into_iter().map(Cow::into_owned).collect())
}

/// [`split`] without copying: a field borrows the line unless it held an escaped quote.
/// Most feed rows have no escapes, so a row costs one allocation, not one per field.
pub(crate) fn split_borrowed<'a>(line: &'a str, separator: &str) -> Result<Vec<Cow<'a, str>>, String> {
    let mut fields = Vec::new();
    let mut rest = line;
    loop {
        let trimmed = rest.trim_start_matches(' ');
        if let Some(quoted) = trimmed.strip_prefix('"') {
            // Quote to quote with memchr: a doubled quote is an escaped one, and only then
            // is the field copied.
            let mut escaped: Option<String> = None;
            let mut from = 0;
            let end = loop {
                let Some(k) = memchr::memchr(b'"', &quoted.as_bytes()[from..]) else {
                    return Err(format!("field {}: unterminated quote", fields.len() + 1));
                };
                let i = from + k;
                if quoted[i + 1..].starts_with('"') {
                    escaped.get_or_insert_with(String::new).push_str(&quoted[from..=i]);
                    from = i + 2;
                } else {
                    if let Some(e) = escaped.as_mut() {
                        e.push_str(&quoted[from..i]);
                    }
                    break i;
                }
            };
            fields.push(match escaped {
                Some(e) => Cow::Owned(e),
                None => Cow::Borrowed(&quoted[..end]),
            });
            let after = quoted[end + 1..].trim_start_matches(' ');
            if after.is_empty() {
                return Ok(fields);
            }
            rest = after
                .strip_prefix(separator.trim())
                .ok_or_else(|| format!("field {}: text after closing quote", fields.len()))?;
        } else {
            // A one-byte separator (nearly all feeds) is found with memchr; `find` would set
            // up a substring searcher for every field.
            let next = match separator.as_bytes() {
                [byte] => memchr::memchr(*byte, rest.as_bytes()),
                _ => rest.find(separator),
            };
            match next {
                Some(i) => {
                    fields.push(Cow::Borrowed(rest[..i].trim()));
                    rest = &rest[i + separator.len()..];
                }
                None => {
                    fields.push(Cow::Borrowed(rest.trim()));
                    return Ok(fields);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn quoted_plain_and_escaped_fields() {
        assert_eq!(split(r#""a","b,c",d"#, ",").unwrap(), vec!["a", "b,c", "d"]);
        assert_eq!(split(r#""say ""hi""",x"#, ",").unwrap(), vec![r#"say "hi""#, "x"]);
        assert_eq!(split(r#""a", "b", "c""#, ", ").unwrap(), vec!["a", "b", "c"]);
        assert_eq!(split("a,,b", ",").unwrap(), vec!["a", "", "b"]);
        assert!(split(r#""open,b"#, ",").is_err());
        let line = r#""plain","say ""hi"" now",bare"#;
        let fields = super::split_borrowed(line, ",").unwrap();
        assert!(matches!(fields[0], std::borrow::Cow::Borrowed("plain")));
        assert_eq!(fields[1], r#"say "hi" now"#);
        assert!(matches!(fields[2], std::borrow::Cow::Borrowed("bare")));
    }
}
