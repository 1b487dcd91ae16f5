use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Reads the time layouts feeds use: RFC 3339 (any offset, converted to UTC),
/// `YYYY-MM-DD HH:MM:SS` (taken as UTC, as abuse.ch writes it), `YYYY-MM-DDTHH:MM:SS`,
/// a bare date (midnight UTC), and Unix seconds with an optional fraction.
pub fn parse_utc(text: &str) -> Result<DateTime<Utc>, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty time".into());
    }
    if let Some(t) = fast_utc(s.as_bytes()) {
        return Ok(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for layout in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, layout) {
            return Ok(Utc.from_utc_datetime(&t));
        }
    }
    for layout in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S %z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTime::parse_from_str(s, layout) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists")));
    }
    if let Some(us) = parse_epoch_micros(s) {
        if let Some(t) = DateTime::from_timestamp_micros(us) {
            return Ok(t);
        }
    }
    Err(format!("{s:?} is not a time"))
}

/// `YYYY-MM-DD HH:MM:SS` (or with `T`), the layout nearly every feed row uses, read
/// without chrono's format parser; anything else (and any invalid date) falls through.
fn fast_utc(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b' ' || b[10] == b'T')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let time = date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?;
    Some(Utc.from_utc_datetime(&time))
}

/// Unix seconds with an optional decimal fraction (Zeek's `ts`), as microseconds,
/// without going through a float so no precision is lost.
pub(crate) fn parse_epoch_micros(s: &str) -> Option<i64> {
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, f),
        None => (s, ""),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || whole.len() > 12 {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = whole.parse().ok()?;
    let mut micros: i64 = 0;
    for (i, b) in frac.bytes().take(6).enumerate() {
        micros += i64::from(b - b'0') * 10i64.pow(5 - i as u32);
    }
    secs.checked_mul(1_000_000)?.checked_add(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_feed_time_layouts() {
        let t = parse_utc("2013-01-05 10:00:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2013-01-05T10:00:00+00:00");
        let t = parse_utc("2013-01-05T12:00:00+02:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2013-01-05T10:00:00+00:00");
        assert_eq!(parse_utc("2013-01-05").unwrap().to_rfc3339(), "2013-01-05T00:00:00+00:00");
        assert_eq!(parse_utc("1357380000.5").unwrap().timestamp_micros(), 1_357_380_000_500_000);
        assert!(parse_utc("yesterday").is_err());
        assert!(parse_utc("2013-02-30").is_err());
        assert!(parse_utc("2013-02-30 10:00:00").is_err());
        assert_eq!(parse_utc("2013-01-05T10:00:00").unwrap().to_rfc3339(), "2013-01-05T10:00:00+00:00");
    }

    #[test]
    fn epoch_micros_keeps_precision() {
        assert_eq!(parse_epoch_micros("1357380000.123456"), Some(1_357_380_000_123_456));
        assert_eq!(parse_epoch_micros("1357380000.1234567"), Some(1_357_380_000_123_456));
        assert_eq!(parse_epoch_micros("-1"), None);
        assert_eq!(parse_epoch_micros("1.x"), None);
    }
}
