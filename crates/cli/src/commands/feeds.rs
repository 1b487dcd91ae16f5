use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::Result;
use vedette_ingest::fetch::{format_interval, FetchState};
use vedette_ingest::Catalogue;
use vedette_store::FeedStats;

use super::Global;

/// List the feeds and telemetry formats Vedette reads: their names are what --feed takes.
/// With a store present, each feed's stored events, rejected records and last read file,
/// and for feeds that are downloaded the last fetch and how it went (200, 304, failed).
/// SCHEDULE is how often `vedette run` fetches a feed (vedette.toml may change it).
///
/// Examples:
///   vedette feeds --store sqlite://vedette.db
///   vedette feeds --json            (with each feed's url and layouts)
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Print the catalogue as JSON
    #[arg(long)]
    json: bool,
}

/// What the store knows per feed; nothing (and no file created) when there is no store yet.
#[derive(Default)]
struct Known {
    stats: BTreeMap<String, FeedStats>,
    fetches: BTreeMap<String, FetchState>,
    /// What vedette.toml downloads: feed → (schedule, url as shown).
    configured: BTreeMap<String, (Option<std::time::Duration>, String)>,
}

async fn known(global: &Global, catalogue: &Catalogue) -> Result<Known> {
    let config = global.config()?;
    let mut known = Known {
        configured: config
            .fetch
            .iter()
            .map(|t| (t.request.feed.clone(), (t.schedule, vedette_ingest::fetch::display_url(&t.request.url))))
            .collect(),
        ..Known::default()
    };
    if let Some(path) = config.store.strip_prefix("sqlite://") {
        if !Path::new(path).exists() {
            return Ok(known);
        }
    }
    let store = super::open_store(&config.store).await?;
    known.stats = store.feed_stats().await?.into_iter().map(|s| (s.feed.clone(), s)).collect();
    for e in catalogue.entries() {
        if let Some(text) = store.meta(&FetchState::key(&e.name)).await? {
            if let Some(state) = FetchState::parse(&text) {
                known.fetches.insert(e.name.clone(), state);
            }
        }
    }
    Ok(known)
}

pub async fn run(global: Global, args: Args) -> Result<()> {
    let catalogue = Catalogue::builtin();
    let known = known(&global, &catalogue).await?;
    match print(&catalogue, &known, args.json) {
        // `vedette feeds | head` closes the pipe early: not an error.
        Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) => {
            Ok(())
        }
        other => other,
    }
}

fn print(catalogue: &Catalogue, known: &Known, json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let none = FeedStats::default();
    let never = FetchState::default();
    // vedette.toml's schedule and url where it gives them, else the catalogue's.
    let schedule = |e: &vedette_ingest::FeedEntry| match known.configured.get(&e.name) {
        Some((Some(d), _)) => format_interval(*d),
        Some((None, _)) => "manual".into(),
        None => e.interval().map(format_interval).unwrap_or_else(|| "-".into()),
    };
    if json {
        let entries: Vec<_> = catalogue
            .entries()
            .iter()
            .map(|e| {
                let s = known.stats.get(&e.name).unwrap_or(&none);
                let f = known.fetches.get(&e.name).unwrap_or(&never);
                let url = known.configured.get(&e.name).map(|(_, u)| u.clone()).or_else(|| e.url.clone());
                serde_json::json!({
                    "name": e.name, "provider": e.provider, "kind": e.kind.as_str(), "format": e.format.as_str(),
                    "description": e.description, "documentation": e.documentation, "url": url,
                    "schedule": schedule(e), "layouts": e.layouts.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
                    "events": s.events, "rejected": s.rejected, "files": s.files,
                    "last_read": s.last_read.map(|t| t.to_rfc3339()),
                    "last_fetch": f.last_fetch.map(|t| t.to_rfc3339()),
                    "last_status": f.last_status,
                    "last_success": f.last_success.map(|t| t.to_rfc3339()),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&entries)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<18} {:<20} {:<11} {:<13} {:<8} {:<16} {:<16} {:<24} {:>9} {:>8}",
        "NAME",
        "PROVIDER",
        "KIND",
        "FORMAT",
        "SCHEDULE",
        "LAST READ",
        "LAST FETCH",
        "LAST STATUS",
        "EVENTS",
        "REJECTED"
    )?;
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_else(|| "never".into())
    };
    for e in catalogue.entries() {
        let s = known.stats.get(&e.name).unwrap_or(&none);
        let f = known.fetches.get(&e.name);
        let (last_fetch, status) = match f {
            Some(f) => (time(f.last_fetch), short_status(f.last_status.as_deref().unwrap_or("-"))),
            None => ("-".to_string(), "-".to_string()),
        };
        writeln!(
            out,
            "{:<18} {:<20} {:<11} {:<13} {:<8} {:<16} {:<16} {:<24} {:>9} {:>8}",
            e.name,
            e.provider,
            e.kind.as_str(),
            e.format.as_str(),
            schedule(e),
            time(s.last_read),
            last_fetch,
            status,
            s.events,
            s.rejected
        )?;
    }
    Ok(())
}

/// A status as the table shows it: `200 OK`, `304`, `failed: 503 Service Unav…`.
fn short_status(status: &str) -> String {
    let status = if status.starts_with("304") { "304" } else { status };
    if status.chars().count() <= 24 {
        return status.to_string();
    }
    let mut s: String = status.chars().take(23).collect();
    s.push('…');
    s
}
