//! `vedette.toml`: every field has a default, so no file is needed; every error in a file
//! is reported at once, each with its key.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use vedette_enrich::{Policy, SourceKind};
use vedette_model::CountryCode;

pub const DEFAULT_STORE: &str = "sqlite://vedette.db";
pub const DEFAULT_HOME: &str = "CN";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    store: Option<String>,
    home: Option<RawHome>,
    #[serde(default)]
    feeds: Vec<RawFeed>,
    attribution: Option<RawAttribution>,
    run: Option<RawRun>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    #[serde(default)]
    netflow: Vec<String>,
    flush_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHome {
    country: Option<String>,
    #[serde(default)]
    networks: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    name: String,
    path: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttribution {
    policy: Option<String>,
    #[serde(default)]
    sources: Vec<RawSource>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    kind: String,
    name: Option<String>,
    path: String,
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub store: String,
    pub home_country: CountryCode,
    pub home_networks: Vec<String>,
    /// Files to ingest when `vedette ingest` is given no paths: (feed name, path or glob).
    pub feeds: Vec<(String, String)>,
    pub policy: Policy,
    pub policy_name: String,
    pub sources: Vec<SourceConfig>,
    pub run: RunConfig,
}

/// `[run]`: what `vedette run` listens on and how often it writes.
#[derive(Debug, Clone, Default)]
pub struct RunConfig {
    /// UDP addresses for NetFlow v5/v9/IPFIX.
    pub netflow: Vec<std::net::SocketAddr>,
    pub flush_seconds: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub kind: SourceKind,
    pub name: String,
    pub path: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            store: DEFAULT_STORE.into(),
            home_country: DEFAULT_HOME.parse().expect("the default home is a country code"),
            home_networks: Vec::new(),
            feeds: Vec::new(),
            policy: Policy::LocationFirst,
            policy_name: "location-first".into(),
            sources: Vec::new(),
            run: RunConfig::default(),
        }
    }
}

/// All the problems found in a configuration file.
#[derive(Debug)]
pub struct ConfigErrors {
    pub file: String,
    pub errors: Vec<String>,
}

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} configuration error{}",
            self.file,
            self.errors.len(),
            if self.errors.len() == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl Config {
    /// Reads `path`; relative paths inside it are taken from the file's folder.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigErrors { file: file.clone(), errors: vec![format!("cannot read: {e}")] })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Config::parse(&text, &base).map_err(|errors| ConfigErrors { file, errors })
    }

    pub fn parse(text: &str, base: &Path) -> Result<Config, Vec<String>> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|s| format!(" (at byte {})", s.start)).unwrap_or_default();
            vec![format!("{}{at}", e.message())]
        })?;
        let mut errors = Vec::new();
        let mut config = Config::default();
        if let Some(store) = raw.store {
            if store.starts_with("sqlite:") {
                config.store = store;
            } else {
                errors.push(format!("store: {store:?} is not a supported store URL (expected sqlite://PATH)"));
            }
        }
        let home = raw.home.unwrap_or_default();
        if let Some(country) = home.country {
            match country.parse() {
                Ok(cc) => config.home_country = cc,
                Err(e) => errors.push(format!("home.country: {e}")),
            }
        }
        for (i, network) in home.networks.iter().enumerate() {
            match vedette_model::ranges::parse_cidr(network) {
                Ok(_) => config.home_networks.push(network.clone()),
                Err(e) => errors.push(format!("home.networks[{i}]: {e}")),
            }
        }
        let catalogue = vedette_ingest::Catalogue::builtin();
        for (i, feed) in raw.feeds.iter().enumerate() {
            if let Err(e) = catalogue.get(&feed.name) {
                errors.push(format!("feeds[{i}].name: {e}"));
            }
            config.feeds.push((feed.name.clone(), resolve(base, &feed.path).display().to_string()));
        }
        let attribution = raw.attribution.unwrap_or_default();
        if let Some(policy) = attribution.policy {
            match policy.parse() {
                Ok(p) => {
                    config.policy = p;
                    config.policy_name = policy;
                }
                Err(e) => errors.push(format!("attribution.policy: {e}")),
            }
        }
        for (i, source) in attribution.sources.iter().enumerate() {
            match source.kind.parse::<SourceKind>() {
                Ok(kind) => {
                    let path = resolve(base, &source.path);
                    let name = source.name.clone().unwrap_or_else(|| file_name(&path));
                    config.sources.push(SourceConfig { kind, name, path });
                }
                Err(e) => errors.push(format!("attribution.sources[{i}].kind: {e}")),
            }
        }
        let run = raw.run.unwrap_or_default();
        for (i, address) in run.netflow.iter().enumerate() {
            match address.parse() {
                Ok(a) => config.run.netflow.push(a),
                Err(_) => {
                    errors.push(format!("run.netflow[{i}]: {address:?} is not an address:port (e.g. 0.0.0.0:2055)"))
                }
            }
        }
        match run.flush_seconds {
            Some(0) => errors.push("run.flush_seconds: must be at least 1".into()),
            s => config.run.flush_seconds = s,
        }
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }
}

fn resolve(base: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

pub fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let c = Config::parse("", Path::new("")).unwrap();
        assert_eq!(c.store, DEFAULT_STORE);
        assert_eq!(c.home_country.as_str(), "CN");
    }

    #[test]
    fn all_errors_are_reported_with_their_keys() {
        let text = r#"
store = "mysql://x"
[home]
country = "CHN"
networks = ["10.0.0.0/8", "10.0.0.0/33"]
[[feeds]]
name = "nope"
path = "x.csv"
[attribution]
policy = "coin-flip"
[[attribution.sources]]
kind = "whois"
path = "x"
[run]
netflow = ["127.0.0.1"]
"#;
        let errors = Config::parse(text, Path::new("")).unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|e| e.split(':').next().unwrap()).collect();
        assert_eq!(
            keys,
            vec![
                "store",
                "home.country",
                "home.networks[1]",
                "feeds[0].name",
                "attribution.policy",
                "attribution.sources[0].kind",
                "run.netflow[0]"
            ]
        );
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let c = Config::parse(
            "[[attribution.sources]]\nkind = \"pfx2as\"\npath = \"data/ipasn.dat\"\n",
            Path::new("/etc/vedette"),
        )
        .unwrap();
        assert_eq!(c.sources[0].path, Path::new("/etc/vedette/data/ipasn.dat"));
        assert_eq!(c.sources[0].name, "ipasn.dat");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let errors = Config::parse("[home]\ncountyr = \"CN\"\n", Path::new("")).unwrap_err();
        assert!(errors[0].contains("countyr"), "{errors:?}");
    }
}
