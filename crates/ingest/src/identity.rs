//! An event's identity for a feed with a dedupe window (`dedupe_window` in the feed's
//! table): the same observation reported again within the window, with a fresh time,
//! is the same event and is stored once. Without a window the identity is
//! [`Event::seal`]'s.
//!
//! ```
//! use chrono::DateTime;
//! use vedette_ingest::seal_within;
//! use vedette_model::{ClassificationType, Event};
//!
//! let day = 86_400_000_000;
//! let mut first = Event::new("sinkhole", ClassificationType::InfectedSystem);
//! first.source.ip = Some("192.0.2.7".parse().unwrap());
//! first.time_source = DateTime::from_timestamp(1_700_000_000, 0);
//! let mut again = first.clone();
//! again.time_source = DateTime::from_timestamp(1_700_003_600, 0); // an hour later
//! seal_within(&mut first, day);
//! seal_within(&mut again, day);
//! assert_eq!(first.sealed_hash, again.sealed_hash);
//! ```

use vedette_model::Event;

use crate::FeedEntry;

/// How a feed's events get their identity: [`Event::seal`], or [`seal_within`] the
/// feed's dedupe window. A [`crate::Decoder`] told to seal ([`crate::Decoder::sealing`])
/// seals the events of each line (or each chunk of a format read as bytes) as it reads
/// them, while they are still in the CPU's cache, not a batch of eight thousand after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealing {
    /// The whole event, as parsed.
    Plain,
    /// The time reported falls to the start of its window of this many microseconds.
    Within(i64),
}

impl Sealing {
    /// The feed's: within its `dedupe_window` if it has one.
    pub fn of_feed(feed: &FeedEntry) -> Sealing {
        match feed.dedupe_window() {
            Some(w) => Sealing::Within(i64::try_from(w.as_micros()).unwrap_or(i64::MAX)),
            None => Sealing::Plain,
        }
    }

    pub fn seal(self, event: &mut Event) {
        match self {
            Sealing::Plain => event.seal(),
            Sealing::Within(window_us) => seal_within(event, window_us),
        }
    }
}

/// Seals an event's identity for a feed with a dedupe window: the time it was reported
/// falls to the start of its window (windows of `window_us` from the Unix epoch, UTC) and
/// the raw line is left out, so the same observation reported again within the window —
/// with a fresh time — has the same identity and is stored once.
pub fn seal_within(event: &mut Event, window_us: i64) {
    let mut key = event.clone();
    key.sealed_hash = None;
    key.raw = None;
    if let (Some(t), true) = (key.time_source, window_us > 0) {
        let start = t.timestamp_micros().div_euclid(window_us) * window_us;
        key.time_source = chrono::DateTime::from_timestamp_micros(start);
    }
    event.sealed_hash = Some(key.hash());
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use vedette_model::ClassificationType;

    use super::*;

    #[test]
    fn a_window_groups_reports_of_one_observation() {
        let hour = 3_600_000_000;
        let at = |secs| {
            let mut e = Event::new("f", ClassificationType::InfectedSystem);
            e.source.ip = Some("192.0.2.7".parse().unwrap());
            e.time_source = DateTime::from_timestamp(secs, 0);
            e.raw = Some(format!("line at {secs}"));
            seal_within(&mut e, hour);
            e.sealed_hash
        };
        assert_eq!(at(7_200), at(7_200 + 3_599), "the same hour, another raw line");
        assert_ne!(at(7_200), at(7_200 + 3_600), "the next hour");
    }
}
