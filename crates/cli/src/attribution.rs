//! Loads the configured attribution sources into one [`Attributor`]. A source that cannot
//! be read is a warning naming the file, and the others still load.

use std::sync::Arc;

use vedette_detect::Home;
use vedette_enrich::{Attributor, AttributorBuilder};

use crate::config::Config;

pub fn load(config: &Config) -> Arc<Attributor> {
    let mut builder = AttributorBuilder::new(config.policy);
    for source in &config.sources {
        match std::fs::read(&source.path) {
            Ok(bytes) => {
                let rejected = builder.add(source.kind, &source.name, &bytes);
                if !rejected.is_empty() {
                    eprintln!(
                        "warning: attribution source {}:{}: {} malformed line{} skipped",
                        source.kind,
                        source.name,
                        rejected.len(),
                        if rejected.len() == 1 { "" } else { "s" }
                    );
                    for r in rejected.iter().take(3) {
                        eprintln!("  {r}");
                    }
                }
            }
            Err(e) => eprintln!(
                "warning: attribution source {}:{}: cannot read {}: {e}",
                source.kind,
                source.name,
                source.path.display()
            ),
        }
    }
    Arc::new(builder.build())
}

/// The constituency, placed by the attribution policy where no network is listed.
pub fn home(config: &Config, attributor: &Arc<Attributor>) -> anyhow::Result<Home> {
    let networks: Vec<&str> = config.home_networks.iter().map(String::as_str).collect();
    let home = Home::new(Some(config.home_country), &networks).map_err(anyhow::Error::msg)?;
    let attributor = attributor.clone();
    Ok(home.with_locator(Arc::new(move |ip| attributor.attribute(ip).country)))
}
