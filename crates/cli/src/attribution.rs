//! Loads the configured attribution sources into one [`Attributor`]. A source that cannot
//! be used is a warning naming the file, and the others still load.

use std::sync::Arc;

use vedette_detect::Home;
use vedette_enrich::{Attributor, Policy, Reloading, SourceSpec};

use crate::config::Config;

/// The sources listed in the configuration's `[attribution]` section.
pub fn specs(config: &Config) -> Vec<SourceSpec> {
    config.sources.iter().map(|s| SourceSpec { kind: s.kind, name: s.name.clone(), path: s.path.clone() }).collect()
}

/// Builds the attributor, printing one warning line per source that was left out or had
/// malformed lines.
pub fn load_specs(policy: Policy, specs: &[SourceSpec]) -> Attributor {
    let loaded = vedette_enrich::load(policy, specs);
    for report in &loaded.reports {
        if let Some(line) = report.describe() {
            eprintln!("warning: {line}");
        }
    }
    loaded.attributor
}

pub fn load(config: &Config) -> Arc<Attributor> {
    Arc::new(load_specs(config.policy, &specs(config)))
}

/// The constituency, placed by the attribution policy where no network is listed.
pub fn home(config: &Config, attributor: &Arc<Attributor>) -> anyhow::Result<Home> {
    let networks: Vec<&str> = config.home_networks.iter().map(String::as_str).collect();
    let home = Home::new(Some(config.home_country), &networks).map_err(anyhow::Error::msg)?;
    let attributor = attributor.clone();
    Ok(home.with_locator(Arc::new(move |ip| attributor.lookup(ip).country)))
}

/// For long-running processes (`vedette run`): the attributor rebuilt whenever a source
/// file changes, and a home whose placement always asks the table in use.
pub fn reloading(config: &Config) -> anyhow::Result<(Arc<Reloading>, Home)> {
    let (reloading, reports) = Reloading::open(config.policy, specs(config));
    for report in &reports {
        if let Some(line) = report.describe() {
            eprintln!("warning: {line}");
        }
    }
    let reloading = Arc::new(reloading);
    let networks: Vec<&str> = config.home_networks.iter().map(String::as_str).collect();
    let home = Home::new(Some(config.home_country), &networks).map_err(anyhow::Error::msg)?;
    let table = reloading.clone();
    Ok((reloading, home.with_locator(Arc::new(move |ip| table.current().lookup(ip).country))))
}
