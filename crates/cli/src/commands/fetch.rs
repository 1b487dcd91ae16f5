use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use vedette_detect::Home;
use vedette_enrich::Attributor;
use vedette_ingest::fetch::{display_url, human_bytes, Download, FetchError, FetchState, Fetched, Fetcher};
use vedette_ingest::{Catalogue, FeedKind};
use vedette_store::Store;

use super::{open_store, show_progress, Global};
use crate::config::{Config, FetchTarget};
use crate::pipeline::{Input, Pipeline};

/// Download feeds now and read what changed into the store, as `ingest` reads files.
///
/// Each feed is asked for conditionally (If-None-Match / If-Modified-Since from its last
/// download), so a feed that has not changed answers 304 and nothing is read. Failed
/// requests are retried with back-off ([fetch] in vedette.toml). One line per feed says
/// what happened; the exit status is non-zero only when every feed failed.
///
/// Without names, every [[feeds]] entry of vedette.toml with a url is fetched; a feed
/// named here and not listed there is fetched from the catalogue's url
/// (`vedette feeds --json` shows it).
///
/// Examples:
///   vedette fetch                                  (every [[feeds]] entry with a url)
///   vedette fetch abusech-feodo spamhaus-drop      (these, now)
///   vedette feeds                                  (last fetch and status per feed)
///
/// In vedette.toml:
///   [[feeds]]
///   name = "abusech-feodo"                         (the catalogue's url and schedule)
///   [[feeds]]
///   name = "shadowserver"
///   url = "https://reports.example.org/latest.csv.gz"
///   schedule = "24h"                               (how often `vedette run` fetches it)
///   headers = { "Authorization" = "Bearer ${REPORTS_TOKEN}" }
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Feeds to fetch (see `vedette feeds`) [default: every [[feeds]] entry with a url]
    #[arg(value_name = "FEED")]
    feeds: Vec<String>,
}

/// Downloads of a feed kept on disk; older ones are removed (the store remembers what was
/// read by content, not by file).
const KEEP_DOWNLOADS: usize = 5;
/// Downloads running at once in `vedette fetch`.
const PARALLEL: usize = 4;

/// How one feed's fetch went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// New content was read.
    Read,
    /// 304, or the same content as an earlier download.
    Unchanged,
    Failed,
}

/// One feed's fetch: the line to print and what it added.
#[derive(Debug)]
pub struct Report {
    pub feed: String,
    pub outcome: Outcome,
    pub line: String,
    pub events_added: u64,
    /// New indicator events were stored (C2 lists the collector matches against).
    pub indicators_added: bool,
}

/// The feeds to fetch: those named (their [[feeds]] entry if any, else the catalogue's
/// url), or every [[feeds]] entry with a url.
pub fn targets(config: &Config, names: &[String]) -> Result<Vec<FetchTarget>> {
    if names.is_empty() {
        if config.fetch.is_empty() {
            bail!(
                "nothing to fetch: name feeds (`vedette fetch abusech-feodo`), or list [[feeds]] with a url \
                 (or only a name, for the catalogue's url) in vedette.toml"
            );
        }
        return Ok(config.fetch.clone());
    }
    let catalogue = Catalogue::builtin();
    let mut targets = Vec::new();
    for name in names {
        if targets.iter().any(|t: &FetchTarget| &t.request.feed == name) {
            continue;
        }
        let entry = catalogue.get(name)?;
        match config.fetch.iter().find(|t| &t.request.feed == name) {
            Some(t) => targets.push(t.clone()),
            None => targets.push(FetchTarget::from_catalogue(entry).with_context(|| {
                format!("{name} has no url in the catalogue: give one under [[feeds]] in vedette.toml")
            })?),
        }
    }
    Ok(targets)
}

/// Where downloads go: `[fetch] downloads`, else `downloads/` beside the store.
pub fn downloads_dir(config: &Config) -> PathBuf {
    if let Some(dir) = &config.downloads {
        return dir.clone();
    }
    let file = config
        .store
        .strip_prefix("sqlite://")
        .or_else(|| config.store.strip_prefix("sqlite:"))
        .map(|p| p.split('?').next().unwrap_or(p))
        .filter(|p| !p.is_empty() && !p.starts_with(":memory:"));
    match file {
        Some(path) => Path::new(path).parent().unwrap_or(Path::new("")).join("downloads"),
        // An in-memory store keeps nothing either.
        None => std::env::temp_dir().join("vedette-downloads"),
    }
}

/// The stored fetch state of a feed; none if never fetched (or unreadable).
pub async fn state(store: &dyn Store, feed: &str) -> FetchState {
    match store.meta(&FetchState::key(feed)).await {
        Ok(Some(text)) => FetchState::parse(&text).unwrap_or_default(),
        _ => FetchState::default(),
    }
}

/// Downloads one feed on a blocking thread.
pub async fn download(
    fetcher: Arc<Fetcher>,
    target: &FetchTarget,
    previous: &FetchState,
    downloads: &Path,
) -> Result<Fetched, FetchError> {
    let request = target.request.clone();
    let previous = previous.clone();
    let dir = downloads.join(&request.feed);
    let feed = request.feed.clone();
    let url = display_url(&request.url);
    tokio::task::spawn_blocking(move || fetcher.fetch(&request, Some(&previous), &dir)).await.unwrap_or_else(|e| {
        Err(FetchError { feed, url, attempts: 0, reason: format!("the download stopped unexpectedly: {e}") })
    })
}

/// What reads a fetched file: the store, attribution and home, as `ingest` has them.
pub struct Reader {
    pub store: Arc<dyn Store>,
    pub attributor: Arc<Attributor>,
    pub home: Home,
    pub show_progress: bool,
    /// Where downloads are kept (`downloads_dir`): old ones are pruned after each fetch.
    pub downloads: PathBuf,
}

impl Reader {
    /// Reads what a fetch gave through the pipeline (so files already read are skipped by
    /// content, bad records rejected as `ingest` rejects them), stores the feed's new
    /// fetch state, and says in one line what happened.
    pub async fn finish(
        &self,
        target: &FetchTarget,
        mut state: FetchState,
        at: DateTime<Utc>,
        fetched: Result<Fetched, FetchError>,
    ) -> Report {
        let feed = target.request.feed.clone();
        let mut report = Report {
            feed: feed.clone(),
            outcome: Outcome::Failed,
            line: String::new(),
            events_added: 0,
            indicators_added: false,
        };
        match fetched {
            Err(e) => {
                state.failed(at, &e.reason);
                report.line = failure_line(&e.feed, e.attempts, &e.reason, &e.url);
            }
            Ok(Fetched::NotModified { attempts }) => {
                state.not_modified(at);
                report.outcome = Outcome::Unchanged;
                report.line = format!("{feed}: 304 not modified{}", after(attempts));
            }
            Ok(Fetched::Downloaded(download)) => match self.read(&feed, &download).await {
                Ok((line, outcome, added, indicators)) => {
                    state.downloaded(&target.request.url, at, &download);
                    report.outcome = outcome;
                    report.events_added = added;
                    report.indicators_added = indicators;
                    report.line = format!("{feed}: {line}{}", after(download.attempts));
                }
                Err(e) => {
                    // Its validators are not saved, so the next fetch downloads it again.
                    let reason = format!("{e:#}");
                    state.failed(at, &reason);
                    report.line = failure_line(&feed, download.attempts, &reason, &display_url(&target.request.url));
                }
            },
        }
        if let Err(e) = self.store.set_meta(&FetchState::key(&feed), &state.to_text()).await {
            report.line.push_str(&format!(" (its fetch state was not saved: {e})"));
        }
        prune(&self.downloads.join(&feed), KEEP_DOWNLOADS);
        report
    }

    /// Reads the downloaded files; the summary line, whether there was anything new, the
    /// events added, and whether they are indicators.
    async fn read(&self, feed: &str, download: &Download) -> Result<(String, Outcome, u64, bool)> {
        let entry = Catalogue::builtin().get(feed)?.clone();
        let kind = entry.kind;
        let inputs: Vec<Input> =
            download.files.iter().map(|path| Input { path: path.clone(), feed: entry.clone() }).collect();
        let pipeline = Pipeline {
            store: self.store.as_ref(),
            attributor: self.attributor.clone(),
            home: self.home.clone(),
            show_progress: self.show_progress,
        };
        let summary = pipeline.run("fetch", inputs).await?;
        for r in &summary.first_rejections {
            tracing::info!(feed, "rejected: {r}");
        }
        let status = download.status_line();
        if summary.files_read == 0 {
            // Byte for byte what an earlier download brought: the copy is not kept.
            for f in &download.files {
                let _ = std::fs::remove_file(f);
            }
            return Ok((
                format!("{status}, same content as an earlier download: nothing new"),
                Outcome::Unchanged,
                0,
                false,
            ));
        }
        let mut line = format!("{status}, {} events read, {} new", summary.events_read, summary.events_added);
        if summary.flows_read > 0 {
            line.push_str(&format!(", {} flows", summary.flows_read));
        }
        if summary.observations_read > 0 {
            line.push_str(&format!(", {} DNS/HTTP/TLS records", summary.observations_read));
        }
        line.push_str(&format!(", {} rejected", summary.rejected));
        let names: Vec<String> = download.files.iter().map(|f| crate::config::file_name(f)).collect();
        let shown = if names.len() > 3 { format!("{} files", names.len()) } else { names.join(", ") };
        line.push_str(&format!(" ({shown}, {})", human_bytes(download.bytes)));
        Ok((line, Outcome::Read, summary.events_added, kind == FeedKind::Indicators && summary.events_added > 0))
    }
}

fn after(attempts: u32) -> String {
    if attempts > 1 {
        format!(" (after {attempts} attempts)")
    } else {
        String::new()
    }
}

fn failure_line(feed: &str, attempts: u32, reason: &str, url: &str) -> String {
    let s = if attempts == 1 { "" } else { "s" };
    format!("{feed}: failed after {attempts} attempt{s}: {reason} ({url})")
}

/// Keeps the newest `keep` downloads in a feed's folder (files grouped by their stamp).
pub fn prune(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut files: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            vedette_ingest::fetch::download_stamp(&name).map(|s| (s.to_string(), e.path()))
        })
        .collect();
    files.sort();
    let mut stamps: Vec<&str> = files.iter().map(|(s, _)| s.as_str()).collect();
    stamps.dedup();
    if stamps.len() <= keep {
        return;
    }
    let oldest_kept = stamps[stamps.len() - keep].to_string();
    for (stamp, path) in &files {
        if *stamp < oldest_kept {
            let _ = std::fs::remove_file(path);
        }
    }
}

pub async fn run(global: Global, args: Args) -> Result<()> {
    let config = global.config()?;
    let targets = targets(&config, &args.feeds)?;
    let downloads = downloads_dir(&config);
    let attributor = crate::attribution::load(&config);
    let home = crate::attribution::home(&config, &attributor)?;
    let store: Arc<dyn Store> = Arc::from(open_store(&config.store).await?);
    let fetcher = Arc::new(Fetcher::new(config.fetch_options.clone()));

    // Downloads run side by side (a few at a time); reading them into the store goes one
    // feed after another, in the order given.
    let gate = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut pending = Vec::new();
    for target in &targets {
        let previous = state(store.as_ref(), &target.request.feed).await;
        let (fetcher, gate, target, downloads) = (fetcher.clone(), gate.clone(), target.clone(), downloads.clone());
        pending.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            let at = Utc::now();
            let fetched = download(fetcher, &target, &previous, &downloads).await;
            (previous, at, fetched)
        }));
    }
    let reader = Reader { store: store.clone(), attributor, home, show_progress: show_progress(), downloads };
    let mut failed = 0;
    for (target, task) in targets.iter().zip(pending) {
        let (previous, at, fetched) = task.await.context("a download task stopped unexpectedly")?;
        let report = reader.finish(target, previous, at, fetched).await;
        if report.outcome == Outcome::Failed {
            failed += 1;
        }
        println!("{}", report.line);
    }
    if failed == targets.len() {
        bail!(
            "{}",
            if failed == 1 {
                "the feed could not be fetched".to_string()
            } else {
                format!("all {failed} feeds failed")
            }
        );
    }
    Ok(())
}
