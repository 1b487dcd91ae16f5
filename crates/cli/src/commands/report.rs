use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use vedette_model::{C2Scope, Period};
use vedette_output::{PreviousPeriod, Report, ReportInput};
use vedette_store::Store;

use super::{open_existing_store, Global};
use crate::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
    Html,
}

/// Write the situation report for a period: overseas and domestic C2 servers, the home
/// hosts they controlled, the ranking of countries, the attribution conflicts, the method.
///
/// Examples:
///   vedette report --from 2013-01-01 --to 2013-05-31
///   vedette report --from 2013-01-01 --to 2013-05-31 --format html --output report.html
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// First day of the period (UTC, YYYY-MM-DD) [default: first day with activity]
    #[arg(long, value_name = "DATE")]
    from: Option<NaiveDate>,
    /// Last day of the period, included [default: last day with activity]
    #[arg(long, value_name = "DATE")]
    to: Option<NaiveDate>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write to this file instead of standard output
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// How distinct hosts are counted: exact, or estimated with a HyperLogLog sketch per
    /// figure (fixed memory, mergeable, about 0.8 % standard error)
    #[arg(long, value_enum, default_value_t = CountingArg::Exact)]
    counting: CountingArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CountingArg {
    Exact,
    Sketch,
}

/// Home hosts listed by name in the report (the rest are counted).
const TOP_HOSTS: u64 = 50;

/// Reads the period's aggregates from the store.
pub async fn gather(store: &dyn Store, config: &Config, period: Period) -> Result<ReportInput> {
    let home = config.home_country;
    let mut input = ReportInput::empty(period, home);
    input.synthetic = store.meta("synthetic").await?;
    input.c2_servers = store.c2_activity(period).await?;
    input.hosts_total = store.distinct_victims(period, C2Scope::All).await?;
    input.hosts_overseas = store.distinct_victims(period, C2Scope::Overseas(home)).await?;
    input.hosts_domestic = store.distinct_victims(period, C2Scope::Domestic(home)).await?;
    input.hosts_unattributed = store.distinct_victims(period, C2Scope::Unattributed).await?;
    input.hosts_by_country = store.victims_by_country(period).await?;
    input.daily = store.daily_activity(period).await?;
    if let Some(feeds) = store.meta("sources.feeds").await? {
        input.sources.push(format!("feeds: {feeds}"));
    }
    if let Some(attribution) = store.meta("sources.attribution").await? {
        input.sources.push(format!("attribution: {attribution}"));
    }
    input.attribution_policy = config.policy_name.clone();
    input.families = store.activity_by_family(period).await?;
    input.home_networks = store.activity_by_home_network(period).await?;
    input.top_hosts = store.top_victims(period, C2Scope::All, None, TOP_HOSTS).await?;
    let before = period.previous();
    input.previous = Some(PreviousPeriod {
        period: before,
        c2_servers: store.c2_activity(before).await?,
        hosts_overseas: store.distinct_victims(before, C2Scope::Overseas(home)).await?,
        hosts_domestic: store.distinct_victims(before, C2Scope::Domestic(home)).await?,
        hosts_by_country: store.victims_by_country(before).await?,
    });
    // Said plainly until the stages that produce these data exist: never shown as zero.
    input.not_covered = vec![
        "Hosts whose C2 contact was cut (sinkhole, blocking, takedown): no response actions are recorded in the store."
            .into(),
        "Backdoored websites of monitored organisations: no website monitoring data is stored.".into(),
        "Complaints received from partner CERTs: no case data is stored.".into(),
    ];
    Ok(input)
}

pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Text => report.to_text(),
        Format::Json => report.to_json() + "\n",
        Format::Markdown => report.to_markdown(),
        Format::Html => report.to_html(),
    }
}

pub async fn run(global: Global, args: Args) -> Result<()> {
    let config = global.config()?;
    let store = open_existing_store(&config.store).await?;
    let period = match (args.from, args.to) {
        (Some(from), Some(to)) => Period::new(from, to).map_err(anyhow::Error::msg)?,
        (from, to) => match store.activity_span().await? {
            Some(span) => Period::new(from.unwrap_or(span.from), to.unwrap_or(span.to)).map_err(anyhow::Error::msg)?,
            None => bail!(
                "the store holds no C2 activity yet; give --from and --to for an empty report, or ingest data first"
            ),
        },
    };
    if args.counting == CountingArg::Sketch {
        store.set_counting(vedette_store::Counting::Sketch);
    }
    let mut input = gather(store.as_ref(), &config, period).await?;
    if args.counting == CountingArg::Sketch {
        input.approximate_counts = Some(format!(
            "Host counts are estimates: one HyperLogLog sketch (precision {}, standard error about 0.8 %) per figure; the C2 server counts are exact.",
            vedette_store::DEFAULT_PRECISION
        ));
    }
    let report = Report::build(input);
    let text = render(&report, args.format);
    match args.output {
        Some(path) => std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}
