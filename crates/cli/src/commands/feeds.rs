use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::Result;
use vedette_ingest::Catalogue;
use vedette_store::FeedStats;

use super::Global;

/// List the feeds and telemetry formats Vedette reads: their names are what --feed takes.
/// With a store present, each feed's stored events, rejected records and last read file.
///
/// Example:
///   vedette feeds --store sqlite://vedette.db
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Print the catalogue as JSON
    #[arg(long)]
    json: bool,
}

/// What the store knows per feed; nothing (and no file created) when there is no store yet.
async fn stats(global: &Global) -> Result<BTreeMap<String, FeedStats>> {
    let config = global.config()?;
    if let Some(path) = config.store.strip_prefix("sqlite://") {
        if !Path::new(path).exists() {
            return Ok(BTreeMap::new());
        }
    }
    let store = super::open_store(&config.store).await?;
    Ok(store.feed_stats().await?.into_iter().map(|s| (s.feed.clone(), s)).collect())
}

pub async fn run(global: Global, args: Args) -> Result<()> {
    let stats = stats(&global).await?;
    match print(&stats, args.json) {
        // `vedette feeds | head` closes the pipe early: not an error.
        Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) => {
            Ok(())
        }
        other => other,
    }
}

fn print(stats: &BTreeMap<String, FeedStats>, json: bool) -> Result<()> {
    let catalogue = Catalogue::builtin();
    let mut out = std::io::stdout().lock();
    let none = FeedStats::default();
    if json {
        let entries: Vec<_> = catalogue
            .entries()
            .iter()
            .map(|e| {
                let s = stats.get(&e.name).unwrap_or(&none);
                serde_json::json!({
                    "name": e.name, "provider": e.provider, "kind": e.kind.as_str(), "format": e.format.as_str(),
                    "description": e.description, "documentation": e.documentation, "url": e.url,
                    "schedule": e.schedule, "layouts": e.layouts.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
                    "events": s.events, "rejected": s.rejected, "files": s.files,
                    "last_read": s.last_read.map(|t| t.to_rfc3339()),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&entries)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<18} {:<20} {:<11} {:<13} {:<22} {:<17} {:>9} {:>8}",
        "NAME", "PROVIDER", "KIND", "FORMAT", "SCHEDULE", "LAST READ", "EVENTS", "REJECTED"
    )?;
    for e in catalogue.entries() {
        let s = stats.get(&e.name).unwrap_or(&none);
        let schedule = e.schedule.as_deref().unwrap_or("-");
        let schedule: String = schedule.chars().take(22).collect();
        writeln!(
            out,
            "{:<18} {:<20} {:<11} {:<13} {:<22} {:<17} {:>9} {:>8}",
            e.name,
            e.provider,
            e.kind.as_str(),
            e.format.as_str(),
            schedule,
            s.last_read.map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_else(|| "never".into()),
            s.events,
            s.rejected
        )?;
    }
    Ok(())
}
