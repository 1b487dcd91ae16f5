use serde::{Deserialize, Serialize};

/// A record that could not be parsed: data, not a crash. It keeps where it came from and
/// why it was refused, with the original bytes (lossily decoded if they were not UTF-8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// The file (or other source) the record came from.
    pub source: String,
    /// The feed or format that was reading it.
    pub feed: String,
    /// 1-based line number, or 0 when the whole input was refused.
    pub line: u64,
    pub reason: String,
    pub raw: String,
}

impl Rejected {
    pub fn new(source: &str, feed: &str, line: u64, raw: &[u8], reason: impl Into<String>) -> Rejected {
        const MAX_RAW: usize = 4096;
        let cut = &raw[..raw.len().min(MAX_RAW)];
        Rejected {
            source: source.to_string(),
            feed: feed.to_string(),
            line,
            reason: reason.into(),
            raw: String::from_utf8_lossy(cut).into_owned(),
        }
    }
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.source, self.line, self.reason)
    }
}
