//! The feed catalogue: one TOML file per known feed under `feeds/`, built into the binary.

use serde::Deserialize;
use vedette_model::ClassificationType;

use crate::Format;

/// Whether a feed's records are stored (indicators, alerts) or streamed (telemetry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedKind {
    /// Indicator and event feeds: each record becomes a stored [`vedette_model::Event`].
    Indicators,
    /// Network telemetry: records become [`vedette_model::Flow`]s for detection, not stored.
    Telemetry,
}

impl FeedKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedKind::Indicators => "indicators",
            FeedKind::Telemetry => "telemetry",
        }
    }
}

/// One catalogue entry, as written in `feeds/<name>.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedEntry {
    pub name: String,
    pub provider: String,
    pub kind: FeedKind,
    pub format: Format,
    /// The classification every record of the feed gets, unless the record says otherwise.
    pub classification: Option<ClassificationType>,
    pub description: String,
    pub documentation: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("feeds/{file}: {reason}")]
    Invalid { file: String, reason: String },
    #[error("unknown feed {name:?}; known feeds: {known}")]
    Unknown { name: String, known: String },
}

/// The known feeds, in name order.
#[derive(Debug, Clone)]
pub struct Catalogue {
    entries: Vec<FeedEntry>,
}

const BUILTIN: &[(&str, &str)] = &[
    ("abusech-feodo.toml", include_str!("../../../feeds/abusech-feodo.toml")),
    ("zeek-conn.toml", include_str!("../../../feeds/zeek-conn.toml")),
];

impl Catalogue {
    /// The catalogue shipped in `feeds/`.
    pub fn builtin() -> Catalogue {
        Catalogue::from_files(BUILTIN.iter().copied()).expect("the shipped feed catalogue is valid (tested)")
    }

    /// Reads catalogue entries from `(file name, TOML text)` pairs; every bad entry is
    /// reported, not only the first.
    pub fn from_files<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Catalogue, Vec<CatalogueError>> {
        let mut entries = Vec::new();
        let mut errors = Vec::new();
        for (file, text) in files {
            match toml::from_str::<FeedEntry>(text) {
                Ok(entry) => entries.push(entry),
                Err(e) => {
                    errors.push(CatalogueError::Invalid { file: file.to_string(), reason: e.message().to_string() })
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Catalogue { entries })
    }

    pub fn entries(&self) -> &[FeedEntry] {
        &self.entries
    }

    pub fn get(&self, name: &str) -> Result<&FeedEntry, CatalogueError> {
        self.entries.iter().find(|e| e.name == name).ok_or_else(|| CatalogueError::Unknown {
            name: name.to_string(),
            known: self.entries.iter().map(|e| e.name.as_str()).collect::<Vec<_>>().join(", "),
        })
    }

    /// The feed whose format recognises the first bytes of a file, if exactly one does.
    pub fn probe(&self, head: &[u8]) -> Option<&FeedEntry> {
        let mut matches = self.entries.iter().filter(|e| e.format.probe(head));
        let first = matches.next()?;
        matches.next().is_none().then_some(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_catalogue_is_valid() {
        let c = Catalogue::from_files(BUILTIN.iter().copied()).unwrap();
        assert!(c.get("abusech-feodo").is_ok());
        let e = c.get("nope").unwrap_err().to_string();
        assert!(e.contains("abusech-feodo"), "{e}");
    }

    #[test]
    fn bad_entries_are_all_reported() {
        let errors = Catalogue::from_files([("a.toml", "name = 1"), ("b.toml", "x = 2")]).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert!(errors[0].to_string().starts_with("feeds/a.toml"));
    }
}
