use anyhow::Result;
use vedette_model::FindingKind;

use super::{open_existing_store, Global};
use crate::pipeline::count_kinds;

/// List stored findings, most recent evidence first within each kind.
///
/// Examples:
///   vedette findings --kind c2_server
///   vedette findings --json | jq '.[] | select(.attribution.conflicts != [])'
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Only this kind: c2_server, infected_host, beaconing_pair, dga_domain, backdoored_site
    #[arg(long, value_name = "KIND")]
    kind: Option<FindingKind>,
    /// Print JSON (every finding, with its attribution and evidence)
    #[arg(long)]
    json: bool,
    /// At most this many rows in the text listing
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

pub async fn run(global: Global, args: Args) -> Result<()> {
    let config = global.config()?;
    let store = open_existing_store(&config.store).await?;
    let findings = store.findings(args.kind).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&findings)?);
        return Ok(());
    }
    if findings.is_empty() {
        println!("no findings stored{}", args.kind.map(|k| format!(" of kind {k}")).unwrap_or_default());
        return Ok(());
    }
    let counts: Vec<String> = count_kinds(&findings).iter().map(|(k, n)| format!("{n} {k}")).collect();
    println!("{} findings: {}", findings.len(), counts.join(", "));
    println!(
        "{:<14} {:<39} {:<3} {:<7} {:<10} {:<10} {:<12} REASON",
        "KIND", "SUBJECT", "CC", "CONF.", "FIRST", "LAST", "MALWARE"
    );
    for f in findings.iter().take(args.limit) {
        let a = f.attribution.as_ref();
        println!(
            "{:<14} {:<39} {:<3} {:<7} {:<10} {:<10} {:<12} {}",
            f.kind.as_str(),
            f.subject,
            a.and_then(|a| a.country).map(|c| c.to_string()).unwrap_or_else(|| "–".into()),
            a.map(|a| a.confidence.as_str()).unwrap_or("–"),
            f.first_seen.format("%Y-%m-%d"),
            f.last_seen.format("%Y-%m-%d"),
            f.malware.as_deref().unwrap_or("–"),
            f.reason
        );
    }
    if findings.len() > args.limit {
        println!("… {} more (raise --limit, or use --json)", findings.len() - args.limit);
    }
    Ok(())
}
