use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};
use vedette_ingest::{Batch, Catalogue, Decoder};
use vedette_model::Flow;

/// Parse one file with one feed and print one JSON object per record on stdout, with
/// IntelMQ's flat keys (`source.ip`, `classification.type`, `feed.name`, …); rejected
/// records go to stderr as JSON lines with their line and reason. Nothing is stored.
///
/// Examples:
///   vedette parse --feed abusech-feodo ipblocklist.csv | jq -r '."source.ip"'
///   vedette parse --feed-file my-feed.toml export.csv   (a feed table of your own)
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The feed that reads the file (see `vedette feeds`)
    #[arg(long, value_name = "NAME", required_unless_present = "feed_file", conflicts_with = "feed_file")]
    feed: Option<String>,
    /// A feed defined in a TOML file of your own, as those in feeds/ (format = "generic"
    /// with [[layouts]] mapping columns to IntelMQ fields)
    #[arg(long, value_name = "TOML")]
    feed_file: Option<PathBuf>,
    /// The file to parse (`-` for standard input)
    file: PathBuf,
}

/// A telemetry record in IntelMQ's key style.
fn flow_json(feed: &str, flow: &Flow) -> Map<String, Value> {
    let mut m = Map::new();
    let time = chrono::DateTime::from_timestamp_micros(flow.start_us).unwrap_or_default();
    m.insert("feed.name".into(), json!(feed));
    m.insert("time.source".into(), json!(time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)));
    m.insert("source.ip".into(), json!(flow.src.to_string()));
    m.insert("source.port".into(), json!(flow.src_port));
    m.insert("destination.ip".into(), json!(flow.dst.to_string()));
    m.insert("destination.port".into(), json!(flow.dst_port));
    m.insert("protocol.transport".into(), json!(flow.transport.name()));
    m.insert("extra.duration_us".into(), json!(flow.duration_us));
    m.insert("extra.bytes_out".into(), json!(flow.bytes_out));
    m.insert("extra.bytes_in".into(), json!(flow.bytes_in));
    m.insert("extra.packets".into(), json!(flow.packets));
    m
}

pub fn run(args: Args) -> Result<()> {
    let catalogue = match &args.feed_file {
        Some(path) => super::feed_file(path)?,
        None => Catalogue::builtin(),
    };
    let feed = match &args.feed {
        Some(name) => catalogue.get(name)?,
        None => catalogue.entries().first().context("the feed file defines no feed")?,
    };
    let source = args.file.display().to_string();
    let mut reader: Box<dyn Read> = if source == "-" {
        Box::new(std::io::stdin())
    } else {
        vedette_ingest::open_source(&args.file).with_context(|| format!("cannot open {source}"))?
    };
    let mut decoder = Decoder::new(feed, &source);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut err = std::io::stderr().lock();
    let mut buf = vec![0u8; 1 << 20];
    let mut emit = |batch: &mut Batch, out: &mut dyn Write| -> Result<()> {
        for event in batch.events.drain(..) {
            serde_json::to_writer(&mut *out, &event.to_intelmq())?;
            out.write_all(b"\n")?;
        }
        for flow in batch.flows.drain(..) {
            serde_json::to_writer(&mut *out, &flow_json(&feed.name, &flow))?;
            out.write_all(b"\n")?;
        }
        for r in batch.rejected.drain(..) {
            serde_json::to_writer(&mut err, &r)?;
            err.write_all(b"\n")?;
        }
        Ok(())
    };
    let mut batch = Batch::default();
    loop {
        let n = reader.read(&mut buf).with_context(|| format!("cannot read {source}"))?;
        if n == 0 {
            break;
        }
        decoder.push(&buf[..n], &mut batch);
        emit(&mut batch, &mut out)?;
    }
    decoder.finish(&mut batch);
    emit(&mut batch, &mut out)?;
    out.flush()?;
    Ok(())
}
