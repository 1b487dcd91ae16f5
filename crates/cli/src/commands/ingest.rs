use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use vedette_ingest::{Catalogue, FeedEntry};

use super::{open_store, show_progress, Global};
use crate::pipeline::{Input, Pipeline};

/// Read feed files and telemetry logs; the feed of each file is recognised from its
/// first bytes unless --feed names it. Files already ingested (same content) are skipped.
///
/// Examples:
///   vedette ingest ipblocklist.csv conn.log
///   vedette ingest --feed zeek-conn 'logs/*.log'
///   vedette ingest --feed-file my-feed.toml export.csv   (a feed table of your own)
///   vedette ingest            (reads the [[feeds]] paths of vedette.toml)
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Read every file with this feed (see `vedette feeds`)
    #[arg(long, value_name = "NAME", conflicts_with = "feed_file")]
    feed: Option<String>,
    /// Read every file with a feed table of your own (a TOML file as in `feeds/`)
    #[arg(long, value_name = "FILE")]
    feed_file: Option<PathBuf>,
    /// Files, folders or glob patterns
    #[arg(value_name = "PATH")]
    paths: Vec<String>,
}

/// Files named by a path, a folder (its files, sorted) or a glob.
pub fn expand(pattern: &str) -> Result<Vec<PathBuf>> {
    let path = Path::new(pattern);
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot list {pattern}"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        return Ok(files);
    }
    if path.exists() {
        return Ok(vec![path.to_path_buf()]);
    }
    if pattern.contains(['*', '?', '[']) {
        let mut files: Vec<PathBuf> = glob::glob(pattern)
            .with_context(|| format!("bad pattern {pattern}"))?
            .filter_map(|p| p.ok())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            bail!("{pattern}: no file matches");
        }
        return Ok(files);
    }
    bail!("{pattern}: no such file or folder")
}

/// The feed that reads `path`: the one named, or the one whose format recognises it.
pub fn feed_for(catalogue: &Catalogue, named: Option<&str>, path: &Path) -> Result<FeedEntry> {
    if let Some(name) = named {
        return Ok(catalogue.get(name)?.clone());
    }
    // The first 4 KiB, decompressed if the file is gzip (one read may return less).
    let mut head = Vec::with_capacity(4096);
    {
        use std::io::Read;
        let file = vedette_ingest::open_source(path).with_context(|| format!("cannot open {}", path.display()))?;
        file.take(4096).read_to_end(&mut head).with_context(|| format!("cannot read {}", path.display()))?;
    }
    match catalogue.probe(&head) {
        Some(feed) => Ok(feed.clone()),
        None => {
            let names: Vec<&str> = catalogue.entries().iter().map(|e| e.name.as_str()).collect();
            bail!(
                "{}: cannot tell which feed this is; name it with --feed (one of {})",
                path.display(),
                names.join(", ")
            )
        }
    }
}

pub async fn run(global: Global, args: Args) -> Result<()> {
    let config = global.config()?;
    let catalogue = match &args.feed_file {
        Some(path) => super::feed_file(path)?,
        None => Catalogue::builtin(),
    };
    // With a feed file, its (first) feed reads every file.
    let named = match &args.feed_file {
        Some(_) => Some(catalogue.entries().first().context("the feed file defines no feed")?.name.clone()),
        None => args.feed.clone(),
    };
    let mut wanted: Vec<(Option<String>, String)> = args.paths.iter().map(|p| (named.clone(), p.clone())).collect();
    if wanted.is_empty() {
        if config.feeds.is_empty() {
            bail!("nothing to ingest: give files, or list [[feeds]] with name and path in vedette.toml");
        }
        wanted = config.feeds.iter().map(|(name, path)| (Some(name.clone()), path.clone())).collect();
    }
    let mut inputs = Vec::new();
    for (feed, pattern) in &wanted {
        for path in expand(pattern)? {
            let feed = feed_for(&catalogue, feed.as_deref(), &path)?;
            inputs.push(Input { path, feed });
        }
    }
    let attributor = crate::attribution::load(&config);
    let home = crate::attribution::home(&config, &attributor)?;
    let store = open_store(&config.store).await?;
    let pipeline = Pipeline { store: store.as_ref(), attributor, home, show_progress: show_progress() };
    let summary = pipeline.run("ingest", inputs).await?;
    for r in &summary.first_rejections {
        eprintln!("rejected: {r}");
    }
    print!("{}", summary.render());
    Ok(())
}
