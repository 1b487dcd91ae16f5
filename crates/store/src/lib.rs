//! The store: events, findings, C2→victim contacts, rejected records and ingest runs,
//! behind the [`Store`] trait. SQLite (through sqlx, with migrations) is the embedded
//! default; every write is batched in one transaction.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use vedette_store::{open, Store};
//! use vedette_model::{ClassificationType, Event};
//!
//! let store = open("sqlite::memory:").await.unwrap();
//! let run = store.begin_run("example").await.unwrap();
//! let mut event = Event::new("abusech-feodo", ClassificationType::C2Server);
//! event.source.ip = Some("198.51.100.4".parse().unwrap());
//! assert_eq!(store.insert_events(run, &[event.clone()]).await.unwrap(), 1);
//! assert_eq!(store.insert_events(run, &[event]).await.unwrap(), 0); // stored once
//! # });
//! ```

mod aggregate;
mod event_writer;
mod sketch;
mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use vedette_model::{
    C2Activity, C2Contact, C2Scope, CountryCode, DailyActivity, Event, Finding, FindingKind, FlatJson, GroupActivity,
    Period, Rejected, VictimActivity,
};

pub use aggregate::Counting;
pub use sketch::{HyperLogLog, DEFAULT_PRECISION};
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("store migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("store query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("store write failed: {0}")]
    Write(String),
    #[error("store holds a malformed {what}: {reason}")]
    Corrupt { what: &'static str, reason: String },
    #[error("unsupported store URL {0:?} (expected sqlite://PATH or sqlite::memory:)")]
    UnsupportedUrl(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A file that has been ingested, remembered by its content so that reading it again
/// adds nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestedFile {
    pub content_hash: String,
    pub path: String,
    pub feed: String,
    pub size: u64,
    pub ingested: DateTime<Utc>,
}

/// How many rows each table holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounts {
    pub events: u64,
    pub findings: u64,
    pub contacts: u64,
    pub rejected: u64,
    pub runs: u64,
}

/// Where a report reads from and where the pipeline writes to.
#[async_trait]
pub trait Store: Send + Sync {
    /// Opens an ingest run; its id tags everything the run writes.
    async fn begin_run(&self, command: &str) -> Result<i64>;
    async fn finish_run(&self, run: i64, summary: &Value) -> Result<()>;

    async fn ingested_file(&self, content_hash: &str) -> Result<Option<IngestedFile>>;
    async fn record_file(&self, run: i64, file: &IngestedFile) -> Result<()>;

    /// Stores events not stored before (by [`Event::hash`]); returns how many were new.
    async fn insert_events(&self, run: i64, events: &[Event]) -> Result<u64> {
        self.insert_rows(run, &mut [EventRows::new(events.to_vec())]).await
    }
    /// [`Store::insert_events`] for events already made into rows (on another thread),
    /// in batches written in one transaction. The vectors are left as they were given,
    /// for the caller to clear and fill again: reusing them spares the allocator fresh
    /// memory for every batch.
    async fn insert_rows(&self, run: i64, rows: &mut [EventRows]) -> Result<u64>;
    async fn insert_rejected(&self, run: i64, rejected: &[Rejected]) -> Result<()>;
    /// Adds findings, or widens the stored ones: first/last seen, score, evidence.
    async fn upsert_findings(&self, findings: &[Finding]) -> Result<()>;
    /// Adds daily contact counters to those stored.
    async fn add_contacts(&self, contacts: &[C2Contact]) -> Result<()>;

    /// Every stored `c2-server` event: the indicators telemetry is matched against.
    /// How later figures count distinct hosts (exactly by default).
    fn set_counting(&self, counting: Counting);
    /// The events detection matches telemetry against: C2 servers (addresses, domains,
    /// URLs) and blocklisted TLS certificates and JA3 fingerprints.
    async fn c2_indicators(&self) -> Result<Vec<Event>>;
    async fn findings(&self, kind: Option<FindingKind>) -> Result<Vec<Finding>>;
    async fn rejected(&self, limit: u64) -> Result<Vec<Rejected>>;
    async fn counts(&self) -> Result<StoreCounts>;

    async fn set_meta(&self, key: &str, value: &str) -> Result<()>;
    async fn meta(&self, key: &str) -> Result<Option<String>>;

    /// Each C2 server with contacts in the period, with its distinct victims.
    async fn c2_activity(&self, period: Period) -> Result<Vec<C2Activity>>;
    /// Distinct home hosts in contact with C2 servers of the scope during the period.
    async fn distinct_victims(&self, period: Period, scope: C2Scope) -> Result<u64>;
    /// Distinct home hosts per C2 country (`None`: unattributed) during the period.
    async fn victims_by_country(&self, period: Period) -> Result<Vec<(Option<String>, u64)>>;
    async fn daily_activity(&self, period: Period) -> Result<Vec<DailyActivity>>;
    /// The first and last day with any contact, if any.
    async fn activity_span(&self) -> Result<Option<Period>>;
    /// C2 servers and distinct hosts per malware family during the period.
    async fn activity_by_family(&self, period: Period) -> Result<Vec<GroupActivity>>;
    /// C2 servers and distinct controlled hosts per home network (the hosts' origin AS).
    async fn activity_by_home_network(&self, period: Period) -> Result<Vec<GroupActivity>>;
    /// The home hosts with the most C2 contacts in the period (at most `limit`).
    async fn top_victims(
        &self,
        period: Period,
        scope: C2Scope,
        country: Option<CountryCode>,
        limit: u64,
    ) -> Result<Vec<VictimActivity>>;
    /// Per feed: events stored, records rejected, files read and when the last was read.
    async fn feed_stats(&self) -> Result<Vec<FeedStats>>;
}

/// Events made ready to be stored, a batch at a time: each one's identity taken and its
/// body written — the fields of IntelMQ's flat JSON the store does not keep in columns of
/// their own ([`FlatJson::Detail`]; `raw` has a column too). That is most of the cost of
/// storing an event, so the pipeline makes rows on its reader threads while the store
/// writes the previous ones. The events stay in the vector they were read into: an event
/// is a kilobyte, and moving each into a row of its own was a tenth of preparing it.
#[derive(Debug, Clone, Default)]
pub struct EventRows {
    events: Vec<Event>,
    texts: Vec<RowText>,
}

/// What a row holds beside its event: the identity, the address as text and the body.
#[derive(Debug, Clone)]
struct RowText {
    hash: [u8; 16],
    source_ip: Option<String>,
    body: String,
}

impl EventRows {
    /// The rows of events as they are now: enrich them first (after [`Event::seal`], so
    /// that enrichment does not change their identity; unsealed events are sealed here).
    pub fn new(mut events: Vec<Event>) -> EventRows {
        let mut rows = EventRows::default();
        rows.fill(&mut events);
        rows
    }

    /// Makes rows of `events`, reusing this batch's vectors: `events` is left holding the
    /// vector of the events this batch had (dropped, so on the caller's thread), empty,
    /// for the next ones to be read into.
    pub fn fill(&mut self, events: &mut Vec<Event>) {
        std::mem::swap(&mut self.events, events);
        events.clear();
        self.texts.clear();
        for event in &mut self.events {
            if event.sealed_hash.is_none() {
                event.seal();
            }
        }
        self.texts.extend(self.events.iter().map(|event| RowText {
            hash: event.hash().0,
            source_ip: event.source.ip.map(|ip| ip.to_string()),
            body: detail_body(event),
        }));
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    fn rows(&self) -> impl Iterator<Item = (&Event, &RowText)> {
        self.events.iter().zip(&self.texts)
    }
}

impl RowText {
    /// The dedupe key: the identity's first 64 bits (see the `0003` migration).
    fn key(&self) -> i64 {
        key_of(&self.hash)
    }
}

fn detail_body(event: &Event) -> String {
    let mut body = Vec::with_capacity(512);
    event.write_flat_json(&mut body, FlatJson::Detail);
    // JSON written from Rust strings is UTF-8.
    String::from_utf8(body).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// An identity's dedupe key: its first 64 bits, as SQLite's signed integer.
fn key_of(hash: &[u8; 16]) -> i64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    i64::from_be_bytes(first)
}

/// What the store holds from one feed (`vedette feeds`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedStats {
    pub feed: String,
    pub events: u64,
    pub rejected: u64,
    pub files: u64,
    pub last_read: Option<DateTime<Utc>>,
}

/// Opens (creating and migrating if needed) the store a URL names.
pub async fn open(url: &str) -> Result<Box<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Box::new(SqliteStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_string()))
    }
}
