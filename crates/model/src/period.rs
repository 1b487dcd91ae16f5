//! Per-period aggregates: what the report reads from the store.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::{Confidence, CountryCode};

/// An inclusive range of UTC days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Period, String> {
        if from > to {
            return Err(format!("the period starts ({from}) after it ends ({to})"));
        }
        Ok(Period { from, to })
    }

    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// The period of the same length just before this one.
    pub fn previous(&self) -> Period {
        let days = chrono::Duration::days(self.days());
        Period { from: self.from - days, to: self.to - days }
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        self.from <= day && day <= self.to
    }
}

/// One C2 server's activity in a period, with its attribution summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct C2Activity {
    pub address: String,
    pub country: Option<CountryCode>,
    pub registry_cc: Option<CountryCode>,
    pub location_cc: Option<CountryCode>,
    pub asn: Option<u32>,
    pub as_name: Option<String>,
    pub confidence: Confidence,
    pub conflicts: Vec<String>,
    pub malware: Option<String>,
    pub confirmed: bool,
    /// Distinct home hosts in contact during the period.
    pub hosts: u64,
    pub flows: u64,
    pub bytes: u64,
}

/// Which C2 servers' victims to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum C2Scope {
    All,
    /// C2 servers attributed to a country other than the home country.
    Overseas(CountryCode),
    /// C2 servers attributed to the home country.
    Domestic(CountryCode),
    /// C2 servers no view could place in a country.
    Unattributed,
}

/// Active C2 servers and controlled hosts on one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyActivity {
    pub day: NaiveDate,
    pub c2_servers: u64,
    pub hosts: u64,
}

/// C2 servers and the distinct hosts they controlled, grouped by one key (a malware
/// family, a home network).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupActivity {
    /// The group: the family name, or `AS<n>` for a network; `None` when unknown.
    pub key: Option<String>,
    /// A label for the key when one is known (the AS holder's name).
    pub label: Option<String>,
    /// Where the group is, when a location view says (the region most of a network's
    /// hosts are located in).
    #[serde(default)]
    pub region: Option<String>,
    pub c2_servers: u64,
    pub hosts: u64,
}

/// One home host's contacts with C2 servers during a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VictimActivity {
    pub address: String,
    pub c2_servers: u64,
    pub flows: u64,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    pub asn: Option<u32>,
}
