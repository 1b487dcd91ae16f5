//! The feed catalogue: one TOML file per known feed under `feeds/`, built into the binary.

use std::sync::Arc;

use serde::Deserialize;
use vedette_model::ClassificationType;

use crate::formats::generic::{Generic, LayoutConfig};
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
    /// Where the feed is downloaded from (`vedette fetch`, `vedette run`); vedette.toml
    /// may name another.
    pub url: Option<String>,
    /// How often to download it: as often as the provider updates it, or as rarely as it
    /// asks (`5m`, `1h`, `24h`; see [`crate::fetch::parse_interval`]).
    pub schedule: Option<String>,
    /// When the download is a zip archive: the member to read (else every file in it).
    pub member: Option<String>,
    /// The same observation reported again within this window (`1h`, `24h`) is stored
    /// once: a feed that re-lists its whole table every hour, with fresh times, adds an
    /// event per indicator per window instead of one per download. Unset: records that
    /// differ only in their time are distinct events.
    pub dedupe_window: Option<String>,
    /// For `format = "generic"`: the layouts this feed's files come in.
    #[serde(default)]
    pub layouts: Vec<LayoutConfig>,
    /// The layouts, checked; set when the catalogue is built.
    #[serde(skip)]
    pub(crate) generic: Option<Arc<Generic>>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("{file}: {reason}")]
    Invalid { file: String, reason: String },
    #[error("unknown feed {name:?}; known feeds: {known}")]
    Unknown { name: String, known: String },
}

impl FeedEntry {
    /// How often to download the feed, if the catalogue says (checked when it loads).
    pub fn interval(&self) -> Option<std::time::Duration> {
        self.schedule.as_deref().and_then(|s| crate::fetch::parse_interval(s).ok())
    }

    /// The dedupe window, if the feed has one (checked when the catalogue loads).
    pub fn dedupe_window(&self) -> Option<std::time::Duration> {
        self.dedupe_window.as_deref().and_then(|s| crate::fetch::parse_interval(s).ok())
    }
}

/// The known feeds, in name order.
#[derive(Debug, Clone)]
pub struct Catalogue {
    entries: Vec<FeedEntry>,
}

const BUILTIN: &[(&str, &str)] = &[
    ("feeds/abusech-feodo.toml", include_str!("../../../feeds/abusech-feodo.toml")),
    ("feeds/abusech-sslbl.toml", include_str!("../../../feeds/abusech-sslbl.toml")),
    ("feeds/abusech-threatfox.toml", include_str!("../../../feeds/abusech-threatfox.toml")),
    ("feeds/abusech-urlhaus.toml", include_str!("../../../feeds/abusech-urlhaus.toml")),
    ("feeds/bambenek-c2.toml", include_str!("../../../feeds/bambenek-c2.toml")),
    ("feeds/blocklistde.toml", include_str!("../../../feeds/blocklistde.toml")),
    ("feeds/cymru-cap.toml", include_str!("../../../feeds/cymru-cap.toml")),
    ("feeds/dataplane.toml", include_str!("../../../feeds/dataplane.toml")),
    ("feeds/dshield-block.toml", include_str!("../../../feeds/dshield-block.toml")),
    ("feeds/intelmq-json.toml", include_str!("../../../feeds/intelmq-json.toml")),
    ("feeds/microsoft-ctip.toml", include_str!("../../../feeds/microsoft-ctip.toml")),
    ("feeds/netflow-pcap.toml", include_str!("../../../feeds/netflow-pcap.toml")),
    ("feeds/openphish.toml", include_str!("../../../feeds/openphish.toml")),
    ("feeds/passive-dns.toml", include_str!("../../../feeds/passive-dns.toml")),
    ("feeds/phishtank.toml", include_str!("../../../feeds/phishtank.toml")),
    ("feeds/shadowserver.toml", include_str!("../../../feeds/shadowserver.toml")),
    ("feeds/sinkhole-log.toml", include_str!("../../../feeds/sinkhole-log.toml")),
    ("feeds/spamhaus-drop.toml", include_str!("../../../feeds/spamhaus-drop.toml")),
    ("feeds/spamhaus-edrop.toml", include_str!("../../../feeds/spamhaus-edrop.toml")),
    ("feeds/suricata-eve.toml", include_str!("../../../feeds/suricata-eve.toml")),
    ("feeds/zeek-conn.toml", include_str!("../../../feeds/zeek-conn.toml")),
    ("feeds/zeek-dns.toml", include_str!("../../../feeds/zeek-dns.toml")),
    ("feeds/zeek-http.toml", include_str!("../../../feeds/zeek-http.toml")),
    ("feeds/zeek-ssl.toml", include_str!("../../../feeds/zeek-ssl.toml")),
    ("feeds/zoneh.toml", include_str!("../../../feeds/zoneh.toml")),
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
                Ok(mut entry) => {
                    let invalid = |reason: String| CatalogueError::Invalid { file: file.to_string(), reason };
                    match (entry.format, entry.layouts.is_empty()) {
                        (Format::Generic, _) => match Generic::compile(&entry.layouts) {
                            Ok(g) => entry.generic = Some(Arc::new(g)),
                            Err(problems) => errors.extend(problems.into_iter().map(invalid)),
                        },
                        (_, false) => errors.push(invalid(format!(
                            "layouts are read only with format = \"generic\", not {:?}",
                            entry.format.as_str()
                        ))),
                        (_, true) => {}
                    }
                    if let Some(Err(e)) = entry.schedule.as_deref().map(crate::fetch::parse_interval) {
                        errors.push(invalid(format!("schedule: {e}")));
                    }
                    if let Some(Err(e)) = entry.dedupe_window.as_deref().map(crate::fetch::parse_interval) {
                        errors.push(invalid(format!("dedupe_window: {e}")));
                    }
                    if let Some(Err(e)) = entry.url.as_deref().map(crate::fetch::check_url) {
                        errors.push(invalid(format!("url: {e}")));
                    }
                    if entries.iter().any(|e: &FeedEntry| e.name == entry.name) {
                        errors.push(invalid(format!("feed name {:?} is used twice", entry.name)));
                    }
                    entries.push(entry)
                }
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
        let mut matches = self.entries.iter().filter(|e| e.probe(head));
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
    fn issue_3_every_feed_file_is_built_in_under_the_names_the_issue_lists() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../feeds");
        let files = std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "toml"));
        assert_eq!(files.count(), BUILTIN.len(), "a feeds/*.toml file is missing from BUILTIN");
        let c = Catalogue::builtin();
        for name in [
            "abusech-feodo",
            "abusech-threatfox",
            "abusech-urlhaus",
            "abusech-sslbl",
            "spamhaus-drop",
            "spamhaus-edrop",
            "shadowserver",
            "cymru-cap",
            "bambenek-c2",
            "blocklistde",
            "dataplane",
            "dshield-block",
            "microsoft-ctip",
            "zoneh",
            "openphish",
            "phishtank",
            "intelmq-json",
        ] {
            assert!(c.get(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn issue_3_every_schedule_is_an_interval_and_every_url_is_fetchable() {
        for e in Catalogue::builtin().entries() {
            if let Some(s) = &e.schedule {
                assert!(e.interval().is_some(), "{}: schedule {s:?}", e.name);
            }
        }
        let bad = "name = \"x\"\nprovider = \"p\"\nkind = \"indicators\"\nformat = \"feodo\"\n\
                   description = \"d\"\nurl = \"ftp://x/y\"\nschedule = \"sometimes\"\n";
        let errors = Catalogue::from_files([("feeds/x.toml", bad)]).unwrap_err();
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert!(text[0].contains("schedule:") && text[1].contains("url:"), "{text:?}");
    }

    #[test]
    fn bad_entries_are_all_reported() {
        let errors = Catalogue::from_files([("feeds/a.toml", "name = 1"), ("feeds/b.toml", "x = 2")]).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert!(errors[0].to_string().starts_with("feeds/a.toml"));
    }
}
