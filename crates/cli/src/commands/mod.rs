//! One file per subcommand.

pub mod demo;
pub mod feeds;
pub mod fetch;
pub mod findings;
pub mod ingest;
pub mod parse;
pub mod report;
pub mod run;
pub mod whois;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use vedette_store::Store;

use crate::config::Config;

/// Options every subcommand takes.
pub struct Global {
    pub config: Option<PathBuf>,
    pub store: Option<String>,
}

impl Global {
    /// The configuration: the file given, else `./vedette.toml` if present, else defaults.
    pub fn config(&self) -> Result<Config> {
        let path = match &self.config {
            Some(p) => Some(p.clone()),
            None => Some(PathBuf::from("vedette.toml")).filter(|p| p.exists()),
        };
        let mut config = match path {
            Some(p) => Config::load(&p)?,
            None => Config::default(),
        };
        if let Some(store) = &self.store {
            config.store = store.clone();
        }
        Ok(config)
    }
}

pub async fn open_store(url: &str) -> Result<Box<dyn Store>> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let parent = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(dir) = parent {
            if !dir.exists() {
                anyhow::bail!("store {url}: folder {} does not exist", dir.display());
            }
        }
    }
    vedette_store::open(url).await.with_context(|| format!("cannot open the store {url}"))
}

/// Opens a store that must already exist (for commands that only read).
pub async fn open_existing_store(url: &str) -> Result<Box<dyn Store>> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        if !Path::new(path).exists() {
            anyhow::bail!("store {url} does not exist yet; run `vedette ingest` (or `vedette demo`) first, or name another with --store");
        }
    }
    open_store(url).await
}

/// A catalogue holding the one feed table a user wrote (`--feed-file`), checked as the
/// shipped ones are; every error in it is reported.
pub fn feed_file(path: &Path) -> Result<vedette_ingest::Catalogue> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let name = path.display().to_string();
    vedette_ingest::Catalogue::from_files([(name.as_str(), text.as_str())]).map_err(|errors| {
        let all: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        anyhow::anyhow!("{}", all.join("; "))
    })
}

pub fn show_progress() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}
