use std::net::IpAddr;
use std::sync::Arc;

use vedette_model::ranges::parse_cidr;
use vedette_model::{CountryCode, RangeMap};

/// The constituency: a home country and/or home networks. The listed networks take
/// precedence; otherwise an address is home when attribution places it in the home country.
#[derive(Clone)]
pub struct Home {
    pub country: Option<CountryCode>,
    networks: RangeMap<()>,
    locate: Option<Arc<dyn Fn(IpAddr) -> Option<CountryCode> + Send + Sync>>,
}

impl Home {
    pub fn new(country: Option<CountryCode>, networks: &[&str]) -> Result<Home, String> {
        let ranges = networks
            .iter()
            .map(|n| parse_cidr(n).map(|(first, last)| (first, last, ())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Home { country, networks: RangeMap::build(ranges), locate: None })
    }

    /// Gives the function that places an address in a country (attribution's policy).
    pub fn with_locator(mut self, locate: Arc<dyn Fn(IpAddr) -> Option<CountryCode> + Send + Sync>) -> Home {
        self.locate = Some(locate);
        self
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        if self.networks.get(ip).is_some() {
            return true;
        }
        match (&self.country, &self.locate) {
            (Some(home), Some(locate)) => locate(ip) == Some(*home),
            _ => false,
        }
    }

    pub fn in_networks(&self, ip: IpAddr) -> bool {
        self.networks.get(ip).is_some()
    }
}
