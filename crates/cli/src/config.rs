//! `vedette.toml`: every field has a default, so no file is needed; every error in a file
//! is reported at once, each with its key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use vedette_enrich::{Policy, SourceKind};
use vedette_ingest::fetch::{FeedRequest, FetchOptions, Header};
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
    fetch: Option<RawFetch>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFetch {
    attempts: Option<u32>,
    retry_seconds: Option<f64>,
    max_retry_seconds: Option<f64>,
    timeout_seconds: Option<f64>,
    max_mib: Option<u64>,
    downloads: Option<String>,
    ca_file: Option<String>,
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
    path: Option<String>,
    url: Option<String>,
    schedule: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    member: Option<String>,
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
    /// Feeds downloaded by `vedette fetch` and, on their schedule, `vedette run`.
    pub fetch: Vec<FetchTarget>,
    pub fetch_options: FetchOptions,
    /// Where downloads are written [default: `downloads/` beside the store].
    pub downloads: Option<PathBuf>,
}

/// A feed to download: from a `[[feeds]]` entry with a `url` (or with no `path`, then the
/// catalogue's url), or named on the command line.
#[derive(Debug, Clone)]
pub struct FetchTarget {
    pub request: FeedRequest,
    /// How often `vedette run` fetches it; `None`: only when asked (`vedette fetch`).
    pub schedule: Option<Duration>,
}

impl FetchTarget {
    /// A catalogue feed with its own url and schedule, as `vedette fetch NAME` takes it
    /// when vedette.toml does not list it.
    pub fn from_catalogue(feed: &vedette_ingest::FeedEntry) -> Option<FetchTarget> {
        let url = feed.url.as_deref()?;
        let mut request = FeedRequest::new(&feed.name, url);
        request.member = feed.member.clone();
        Some(FetchTarget { request, schedule: feed.interval() })
    }
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
            fetch: Vec::new(),
            fetch_options: FetchOptions::default(),
            downloads: None,
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
        let mut fetched: Vec<(usize, &str)> = Vec::new();
        for (i, feed) in raw.feeds.iter().enumerate() {
            let entry = match catalogue.get(&feed.name) {
                Ok(entry) => Some(entry),
                Err(e) => {
                    errors.push(format!("feeds[{i}].name: {e}"));
                    None
                }
            };
            if let Some(path) = &feed.path {
                config.feeds.push((feed.name.clone(), resolve(base, path).display().to_string()));
            }
            match fetch_target(i, feed, entry, &mut errors) {
                Some(target) => {
                    // A feed's fetch state (validators, last status) is kept by its name.
                    if let Some(&(j, _)) = fetched.iter().find(|(_, name)| *name == feed.name) {
                        errors.push(format!(
                            "feeds[{i}].url: feeds[{j}] downloads {:?} already; a feed is fetched from one url",
                            feed.name
                        ));
                    }
                    fetched.push((i, feed.name.as_str()));
                    config.fetch.push(target);
                }
                None if feed.path.is_none() && entry.is_some() => errors.push(format!(
                    "feeds[{i}]: give path (files for `vedette ingest`) or url (to download); \
                     the catalogue has no url for {:?}",
                    feed.name
                )),
                None => {}
            }
        }
        let fetch = raw.fetch.unwrap_or_default();
        let options = &mut config.fetch_options;
        match fetch.attempts {
            Some(0) => errors.push("fetch.attempts: must be at least 1".into()),
            Some(n) => options.attempts = n,
            None => {}
        }
        let mut seconds = |key: &str, value: Option<f64>, target: &mut Duration, min: f64| {
            if let Some(v) = value {
                match Duration::try_from_secs_f64(v) {
                    Ok(d) if v >= min => *target = d,
                    _ => errors.push(format!("fetch.{key}: {v} is not a number of seconds of at least {min}")),
                }
            }
        };
        seconds("retry_seconds", fetch.retry_seconds, &mut options.first_retry, 0.0);
        seconds("max_retry_seconds", fetch.max_retry_seconds, &mut options.max_retry, 0.0);
        seconds("timeout_seconds", fetch.timeout_seconds, &mut options.timeout, 0.1);
        match fetch.max_mib {
            Some(0) => errors.push("fetch.max_mib: must be at least 1".into()),
            Some(n) if n > 1 << 20 => errors.push(format!("fetch.max_mib: {n} MiB is more than a TiB")),
            Some(n) => options.max_bytes = n << 20,
            None => {}
        }
        config.downloads = fetch.downloads.map(|d| resolve(base, &d));
        if let Some(ca_file) = fetch.ca_file {
            match vedette_ingest::fetch::read_ca_file(&resolve(base, &ca_file)) {
                Ok(certs) => options.ca_certs = certs,
                Err(e) => errors.push(format!("fetch.ca_file: {e}")),
            }
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

/// What a `[[feeds]]` entry downloads, if anything: its own url, else (when it names no
/// path either) the catalogue's. Every problem goes to `errors` with its key; header values
/// are never repeated in them.
fn fetch_target(
    i: usize,
    feed: &RawFeed,
    entry: Option<&vedette_ingest::FeedEntry>,
    errors: &mut Vec<String>,
) -> Option<FetchTarget> {
    let url = match &feed.url {
        Some(url) => match expand_env(url) {
            Ok(url) => Some(url),
            Err(e) => {
                errors.push(format!("feeds[{i}].url: {e}"));
                return None;
            }
        },
        None if feed.path.is_none() => entry.and_then(|e| e.url.clone()),
        None => None,
    };
    let Some(url) = url else {
        for key in ["schedule", "headers", "member"] {
            let given = match key {
                "schedule" => feed.schedule.is_some(),
                "headers" => !feed.headers.is_empty(),
                _ => feed.member.is_some(),
            };
            if given && feed.path.is_some() {
                errors.push(format!("feeds[{i}].{key}: only read with a url (this entry reads files from path)"));
            }
        }
        return None;
    };
    if let Err(e) = vedette_ingest::fetch::check_url(&url) {
        errors.push(format!("feeds[{i}].url: {e}"));
    }
    let schedule = match feed.schedule.as_deref() {
        Some("manual") => None,
        Some(text) => match vedette_ingest::fetch::parse_interval(text) {
            Ok(d) => Some(d),
            Err(e) => {
                errors.push(format!("feeds[{i}].schedule: {e}, or \"manual\""));
                None
            }
        },
        None => entry.and_then(|e| e.interval()),
    };
    let mut request = FeedRequest::new(&feed.name, &url);
    request.member = feed.member.clone().or_else(|| entry.and_then(|e| e.member.clone()));
    for (name, value) in &feed.headers {
        match expand_env(value).and_then(|v| Header::new(name, &v)) {
            Ok(h) => request.headers.push(h),
            Err(e) => errors.push(format!("feeds[{i}].headers.{name}: {e}")),
        }
    }
    Some(FetchTarget { request, schedule })
}

/// `${NAME}` in a value is the environment variable NAME, so that keys need not be
/// written in the file.
fn expand_env(value: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or("an unclosed ${ (write ${NAME} for an environment variable)")?;
        let name = &after[..end];
        match std::env::var(name) {
            Ok(v) => out.push_str(&v),
            Err(_) => return Err(format!("environment variable {name} is not set")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
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
    fn feeds_with_a_url_are_fetched_with_their_schedule_and_headers() {
        std::env::set_var("VEDETTE_TEST_FEED_KEY", "s3cret");
        let text = r#"
[[feeds]]
name = "abusech-feodo"
url = "https://mirror.example/feodo.csv"
schedule = "10m"
headers = { "Auth-Key" = "${VEDETTE_TEST_FEED_KEY}" }
[[feeds]]
name = "blocklistde"
[[feeds]]
name = "spamhaus-drop"
path = "drop.txt"
[[feeds]]
name = "dshield-block"
schedule = "manual"
[fetch]
attempts = 2
retry_seconds = 0.5
max_mib = 1
"#;
        let c = Config::parse(text, Path::new("")).unwrap();
        let fetched: Vec<(&str, &str, Option<u64>)> = c
            .fetch
            .iter()
            .map(|t| (t.request.feed.as_str(), t.request.url.as_str(), t.schedule.map(|d| d.as_secs())))
            .collect();
        assert_eq!(
            fetched,
            vec![
                ("abusech-feodo", "https://mirror.example/feodo.csv", Some(600)),
                ("blocklistde", "https://lists.blocklist.de/lists/all.txt", Some(3600)),
                ("dshield-block", "https://dshield.org/block.txt", None),
            ]
        );
        assert_eq!(c.feeds, vec![("spamhaus-drop".to_string(), "drop.txt".to_string())]);
        assert_eq!(format!("{:?}", c.fetch[0].request.headers), "[Auth-Key: <not shown>]");
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(c.fetch_options.attempts, 2);
        assert_eq!(c.fetch_options.first_retry, Duration::from_millis(500));
        assert_eq!(c.fetch_options.max_bytes, 1 << 20);
    }

    #[test]
    fn fetch_errors_are_reported_with_their_keys_and_no_secrets() {
        std::env::set_var("VEDETTE_TEST_BAD_KEY", "bad\nvalue-s3cret");
        let text = r#"
[[feeds]]
name = "abusech-feodo"
url = "ftp://mirror.example/feodo.csv"
schedule = "sometimes"
headers = { "Bad Name" = "x", "X-Key" = "${VEDETTE_TEST_BAD_KEY}", "Y-Key" = "${VEDETTE_TEST_UNSET_VARIABLE}" }
[[feeds]]
name = "cymru-cap"
[[feeds]]
name = "abusech-feodo"
[fetch]
attempts = 0
timeout_seconds = -1
"#;
        let errors = Config::parse(text, Path::new("")).unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|e| e.split(':').next().unwrap()).collect();
        assert_eq!(
            keys,
            vec![
                "feeds[0].url",
                "feeds[0].schedule",
                "feeds[0].headers.Bad Name",
                "feeds[0].headers.X-Key",
                "feeds[0].headers.Y-Key",
                "feeds[1]",
                "feeds[2].url",
                "fetch.attempts",
                "fetch.timeout_seconds",
            ],
            "{errors:#?}"
        );
        assert!(errors.iter().all(|e| !e.contains("s3cret")), "{errors:#?}");
        assert!(errors[4].contains("VEDETTE_TEST_UNSET_VARIABLE is not set"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let errors = Config::parse("[home]\ncountyr = \"CN\"\n", Path::new("")).unwrap_err();
        assert!(errors[0].contains("countyr"), "{errors:?}");
    }
}
