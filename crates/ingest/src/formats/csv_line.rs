/// Splits one CSV line with optional double quotes (`""` escapes a quote inside a quoted
/// field). `separator` may be longer than one byte: ThreatFox separates fields by `", "`.
pub(crate) fn split(line: &str, separator: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut rest = line;
    loop {
        let trimmed = rest.trim_start_matches(' ');
        if let Some(quoted) = trimmed.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next() {
                    None => return Err(format!("field {}: unterminated quote", fields.len() + 1)),
                    Some((i, '"')) => {
                        if quoted[i + 1..].starts_with('"') {
                            value.push('"');
                            chars.next();
                        } else {
                            break i + 1;
                        }
                    }
                    Some((_, c)) => value.push(c),
                }
            };
            fields.push(value);
            let after = quoted[end..].trim_start_matches(' ');
            if after.is_empty() {
                return Ok(fields);
            }
            rest = after
                .strip_prefix(separator.trim())
                .ok_or_else(|| format!("field {}: text after closing quote", fields.len()))?;
        } else {
            match rest.find(separator) {
                Some(i) => {
                    fields.push(rest[..i].trim().to_string());
                    rest = &rest[i + separator.len()..];
                }
                None => {
                    fields.push(rest.trim().to_string());
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
    }
}
