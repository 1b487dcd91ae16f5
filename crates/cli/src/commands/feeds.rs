use anyhow::Result;
use vedette_ingest::Catalogue;

use super::Global;

/// List the feeds and telemetry formats Vedette reads: their names are what --feed takes.
#[derive(clap::Args)]
pub struct Args {
    /// Print the catalogue as JSON
    #[arg(long)]
    json: bool,
}

pub async fn run(_global: Global, args: Args) -> Result<()> {
    let catalogue = Catalogue::builtin();
    if args.json {
        let entries: Vec<_> = catalogue
            .entries()
            .iter()
            .map(|e| {
                serde_json::json!({
                    "name": e.name, "provider": e.provider, "kind": e.kind.as_str(), "format": e.format.as_str(),
                    "description": e.description, "documentation": e.documentation, "url": e.url,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(());
    }
    println!("{:<16} {:<10} {:<11} {:<10} DESCRIPTION", "NAME", "PROVIDER", "KIND", "FORMAT");
    for e in catalogue.entries() {
        println!(
            "{:<16} {:<10} {:<11} {:<10} {}",
            e.name,
            e.provider,
            e.kind.as_str(),
            e.format.as_str(),
            e.description
        );
    }
    Ok(())
}
