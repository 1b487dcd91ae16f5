use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{Connection, QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};
use vedette_model::{
    Attribution, C2Activity, C2Contact, C2Scope, Confidence, CountryCode, DailyActivity, Event, Finding, FindingKind,
    GroupActivity, Period, Rejected, VictimActivity,
};

use crate::aggregate::{self, address_key, C2Info, Counting, PeriodData, VictimRecord};
use crate::event_writer::EventWriter;
use crate::{EventRows, FeedStats, IngestedFile, Result, Store, StoreCounts, StoreError};

/// The embedded store: one SQLite file (or a scratch file for `sqlite::memory:`).
pub struct SqliteStore {
    pool: SqlitePool,
    /// The last periods' contacts, decoded: a report asks a dozen questions of the same
    /// period. Cleared on every write that changes contacts or findings.
    periods: Mutex<Vec<(Period, Arc<PeriodData>)>>,
    counting: Mutex<Counting>,
    /// The connection bulk writes go through, kept from one write to the next. sqlx hands
    /// a released connection back to its pool from a task of its own, so back-to-back
    /// transactions alternate between two connections, and each then finds its page cache
    /// invalidated by the other's writes (measured on feed ingest: two SQLite threads
    /// busy, pages read back).
    writer: tokio::sync::Mutex<Option<PoolConnection<Sqlite>>>,
    /// Events go through a connection of their own (`event_writer`).
    events: Arc<Mutex<EventWriter>>,
    /// The file of a `sqlite::memory:` store, removed with the store.
    scratch: Option<PathBuf>,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        if let Some(path) = &self.scratch {
            for suffix in ["", "-wal", "-shm"] {
                let mut name = path.clone().into_os_string();
                name.push(suffix);
                let _ = std::fs::remove_file(name);
            }
        }
    }
}

/// A fresh file in the temporary directory for a `sqlite::memory:` store: the event writer
/// needs a second connection to the same database, and every connection to `:memory:` is
/// a database of its own.
fn scratch_path() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    std::env::temp_dir().join(format!("vedette-memory-{}-{n}-{nanos}.db", std::process::id()))
}

/// The writing connection, kept from one write to the next.
struct Writer<'a> {
    slot: tokio::sync::MutexGuard<'a, Option<PoolConnection<Sqlite>>>,
}

impl Writer<'_> {
    fn connection(&mut self) -> &mut SqliteConnection {
        self.slot.as_mut().expect("a writer holds its connection until dropped")
    }
}

/// Settings of every connection to the store, sqlx's and the event writer's alike.
pub(crate) const CONNECTION_PRAGMAS: [(&str, &str); 4] = [
    // Durable at checkpoints, not at every commit (WAL).
    ("synchronous", "NORMAL"),
    // SQLite's default 2 MiB page cache spills to the WAL in the middle of a batch once
    // the events table outgrows it, and every insert then reads pages back: 6k events/s
    // instead of 10^5 (issue 3). 64 MiB per connection, used only as the database grows.
    ("cache_size", "-65536"),
    ("temp_store", "MEMORY"),
    // Checkpoint the WAL every 4,096 pages (64 MiB) instead of 1,000.
    ("wal_autocheckpoint", "4096"),
];

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch is a date")
}

fn day_number(day: NaiveDate) -> i64 {
    (day - epoch()).num_days()
}

fn day_from(number: i64) -> NaiveDate {
    epoch() + chrono::Duration::days(number)
}

fn time_from(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

fn corrupt(what: &'static str, reason: impl ToString) -> StoreError {
    StoreError::Corrupt { what, reason: reason.to_string() }
}

impl SqliteStore {
    /// Opens `sqlite://PATH` (created if missing) or `sqlite::memory:` (a scratch file
    /// removed with the store), and migrates it.
    pub async fn open(url: &str) -> Result<SqliteStore> {
        let open_err = |source| StoreError::Open { url: url.to_string(), source };
        let scratch = url.contains(":memory:").then(scratch_path);
        let path_url = scratch.as_ref().map(|p| format!("sqlite://{}", p.display()));
        let options = SqliteConnectOptions::from_str(path_url.as_deref().unwrap_or(url))
            .map_err(open_err)?
            .create_if_missing(true)
            .foreign_keys(true)
            // 16 KiB pages (new stores): fewer page splits and WAL frames per event row.
            .page_size(16384)
            .journal_mode(SqliteJournalMode::Wal);
        let options = CONNECTION_PRAGMAS.iter().fold(options, |options, &(name, value)| options.pragma(name, value));
        let file = options.get_filename().to_path_buf();
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await.map_err(open_err)?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        let events = EventWriter::open(&file)?;
        let store = SqliteStore {
            pool,
            periods: Mutex::new(Vec::new()),
            counting: Mutex::new(Counting::Exact),
            writer: tokio::sync::Mutex::new(None),
            events: Arc::new(Mutex::new(events)),
            scratch,
        };
        store.fill_keys().await?;
        Ok(store)
    }

    /// Gives the events written before dedupe keys existed (migration 0003) their key;
    /// one whose key another holds stays keyless, deduplicated by its whole hash.
    async fn fill_keys(&self) -> Result<()> {
        const DONE: &str = "events.keys";
        if self.meta(DONE).await?.is_some() {
            return Ok(());
        }
        let mut writer = self.writer().await?;
        let mut tx = writer.connection().begin().await?;
        let rows = sqlx::query("SELECT id, hash FROM events WHERE key IS NULL").fetch_all(&mut *tx).await?;
        for row in &rows {
            let hash: Vec<u8> = row.try_get("hash")?;
            let Ok(hash) = <[u8; 16]>::try_from(hash.as_slice()) else { continue };
            sqlx::query("UPDATE OR IGNORE events SET key = ?1 WHERE id = ?2")
                .bind(crate::key_of(&hash))
                .bind(row.try_get::<i64, _>("id")?)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("INSERT INTO meta (key, value) VALUES (?1, '1')").bind(DONE).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn writer(&self) -> Result<Writer<'_>> {
        let mut slot = self.writer.lock().await;
        if slot.is_none() {
            *slot = Some(self.pool.acquire().await?);
        }
        Ok(Writer { slot })
    }
}

/// Findings per INSERT statement (14 parameters each, far below SQLite's limit).
const FINDINGS_PER_STATEMENT: usize = 64;

impl SqliteStore {
    fn forget_periods(&self) {
        if let Ok(mut periods) = self.periods.lock() {
            periods.clear();
        }
    }

    /// The period's contacts, decoded with what the report needs of each C2 server.
    async fn period(&self, period: Period) -> Result<Arc<PeriodData>> {
        if let Some(hit) =
            self.periods.lock().ok().and_then(|p| p.iter().find(|(k, _)| *k == period).map(|(_, d)| d.clone()))
        {
            return Ok(hit);
        }
        let rows =
            sqlx::query("SELECT day, c2, victims FROM contact_sets WHERE day BETWEEN ?1 AND ?2 ORDER BY day, c2")
                .bind(day_number(period.from))
                .bind(day_number(period.to))
                .fetch_all(&self.pool)
                .await?;
        let mut sets = Vec::with_capacity(rows.len());
        for r in &rows {
            let blob: Vec<u8> = r.try_get("victims")?;
            sets.push((
                r.try_get::<i64, _>("day")?,
                r.try_get::<String, _>("c2")?,
                aggregate::decode(&blob).map_err(|e| corrupt("contact set", e))?,
            ));
        }
        let info_rows = sqlx::query(
            "SELECT subject, country, registry_cc, location_cc, asn, confidence, malware, confirmed, attribution FROM findings WHERE kind = 'c2_server'",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut info = HashMap::with_capacity(info_rows.len());
        for r in &info_rows {
            let attribution = parse_attribution(r.try_get("attribution")?)?;
            let confidence: String = r.try_get("confidence")?;
            let subject: String = r.try_get("subject")?;
            info.insert(
                subject.clone(),
                C2Info {
                    address: subject,
                    country: parse_cc(r.try_get("country")?),
                    registry_cc: parse_cc(r.try_get("registry_cc")?),
                    location_cc: parse_cc(r.try_get("location_cc")?),
                    asn: r.try_get::<Option<i64>, _>("asn")?.map(|a| a as u32),
                    as_name: attribution.as_ref().and_then(|a| a.routing.as_ref()).and_then(|r| r.as_name.clone()),
                    confidence: parse_confidence(&confidence),
                    conflicts: attribution
                        .map(|a| a.conflicts.iter().map(|c| c.code().to_string()).collect())
                        .unwrap_or_default(),
                    malware: r.try_get("malware")?,
                    confirmed: r.try_get("confirmed")?,
                    hosts: 0,
                    flows: 0,
                    bytes: 0,
                },
            );
        }
        let mut data = PeriodData::build(sets, &info);
        data.counting = self.counting.lock().map(|c| *c).unwrap_or_default();
        let data = Arc::new(data);
        if let Ok(mut periods) = self.periods.lock() {
            periods.retain(|(k, _)| *k != period);
            if periods.len() >= 2 {
                periods.remove(0);
            }
            periods.push((period, data.clone()));
        }
        Ok(data)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn begin_run(&self, command: &str) -> Result<i64> {
        let id = sqlx::query("INSERT INTO ingest_runs (command, started_us) VALUES (?1, ?2)")
            .bind(command)
            .bind(Utc::now().timestamp_micros())
            .execute(&self.pool)
            .await?
            .last_insert_rowid();
        Ok(id)
    }

    async fn finish_run(&self, run: i64, summary: &Value) -> Result<()> {
        sqlx::query("UPDATE ingest_runs SET finished_us = ?1, summary = ?2 WHERE id = ?3")
            .bind(Utc::now().timestamp_micros())
            .bind(summary.to_string())
            .bind(run)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn ingested_file(&self, content_hash: &str) -> Result<Option<IngestedFile>> {
        let row = sqlx::query("SELECT path, feed, size, ingested_us FROM ingested_files WHERE content_hash = ?1")
            .bind(content_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(IngestedFile {
                content_hash: content_hash.to_string(),
                path: r.try_get("path")?,
                feed: r.try_get("feed")?,
                size: r.try_get::<i64, _>("size")? as u64,
                ingested: time_from(r.try_get("ingested_us")?),
            })
        })
        .transpose()
    }

    async fn record_file(&self, run: i64, file: &IngestedFile) -> Result<()> {
        sqlx::query("INSERT OR REPLACE INTO ingested_files (content_hash, path, feed, size, run_id, ingested_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
            .bind(&file.content_hash)
            .bind(&file.path)
            .bind(&file.feed)
            .bind(file.size as i64)
            .bind(run)
            .bind(file.ingested.timestamp_micros())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn insert_rows(&self, run: i64, rows: &mut [EventRows]) -> Result<u64> {
        let batches: Vec<EventRows> = rows.iter_mut().map(std::mem::take).collect();
        let events = self.events.clone();
        let (added, batches) = tokio::task::spawn_blocking(move || {
            let added = match events.lock() {
                Ok(mut writer) => writer.insert(run, &batches),
                Err(_) => Err(StoreError::Write("the event writer failed before".into())),
            };
            (added, batches)
        })
        .await
        .map_err(|e| StoreError::Write(e.to_string()))?;
        for (slot, batch) in rows.iter_mut().zip(batches) {
            *slot = batch;
        }
        added
    }

    async fn insert_rejected(&self, run: i64, rejected: &[Rejected]) -> Result<()> {
        let mut writer = self.writer().await?;
        let mut tx = writer.connection().begin().await?;
        for chunk in rejected.chunks(REJECTED_ROWS) {
            let sql = multi_row_insert(
                "INSERT INTO rejected (run_id, source, feed, line, reason, raw) VALUES ",
                6,
                chunk.len(),
            );
            let mut query = sqlx::query(&sql);
            for r in chunk {
                query = query.bind(run).bind(&r.source).bind(&r.feed).bind(r.line as i64).bind(&r.reason).bind(&r.raw);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn upsert_findings(&self, findings: &[Finding]) -> Result<()> {
        self.forget_periods();
        // Per AS: its name, and how many of this batch's hosts each region holds.
        let mut labels: BTreeMap<u32, (Option<&str>, HashMap<&str, u32>)> = BTreeMap::new();
        let mut writer = self.writer().await?;
        let mut tx = writer.connection().begin().await?;
        // Many rows per statement: a national run writes millions of findings, and each
        // statement is a round trip to SQLite's worker thread.
        for chunk in findings.chunks(FINDINGS_PER_STATEMENT) {
            let rows: Vec<(&Finding, Option<String>)> = chunk
                .iter()
                .map(|f| (f, f.attribution.as_ref().map(|a| serde_json::to_string(a).expect("attribution serialises"))))
                .collect();
            let mut query = QueryBuilder::<Sqlite>::new(
                "INSERT INTO findings (kind, subject, first_seen_us, last_seen_us, score, confirmed, malware, reason, country, registry_cc, location_cc, asn, confidence, attribution) ",
            );
            query.push_values(rows, |mut b, (f, attribution)| {
                let a = f.attribution.as_ref();
                b.push_bind(f.kind.as_str())
                    .push_bind(f.subject.clone())
                    .push_bind(f.first_seen.timestamp_micros())
                    .push_bind(f.last_seen.timestamp_micros())
                    .push_bind(f.score)
                    .push_bind(f.confirmed)
                    .push_bind(f.malware.clone())
                    .push_bind(f.reason.clone())
                    .push_bind(a.and_then(|a| a.country).map(|c| c.to_string()))
                    .push_bind(a.and_then(|a| a.registry_cc()).map(|c| c.to_string()))
                    .push_bind(a.and_then(|a| a.location_cc()).map(|c| c.to_string()))
                    .push_bind(a.and_then(|a| a.asn()).map(i64::from))
                    .push_bind(a.map(|a| a.confidence).unwrap_or(Confidence::Unknown).as_str())
                    .push_bind(attribution);
            });
            query.push(
                " ON CONFLICT (kind, subject) DO UPDATE SET \
                   first_seen_us = MIN(first_seen_us, excluded.first_seen_us), \
                   last_seen_us = MAX(last_seen_us, excluded.last_seen_us), \
                   score = MAX(score, excluded.score), \
                   confirmed = MAX(confirmed, excluded.confirmed), \
                   malware = COALESCE(excluded.malware, malware), \
                   reason = CASE WHEN excluded.confirmed >= confirmed THEN excluded.reason ELSE reason END, \
                   country = CASE WHEN excluded.attribution IS NOT NULL THEN excluded.country ELSE country END, \
                   registry_cc = CASE WHEN excluded.attribution IS NOT NULL THEN excluded.registry_cc ELSE registry_cc END, \
                   location_cc = CASE WHEN excluded.attribution IS NOT NULL THEN excluded.location_cc ELSE location_cc END, \
                   asn = CASE WHEN excluded.attribution IS NOT NULL THEN excluded.asn ELSE asn END, \
                   confidence = CASE WHEN excluded.attribution IS NOT NULL THEN excluded.confidence ELSE confidence END, \
                   attribution = COALESCE(excluded.attribution, attribution)",
            );
            query.build().execute(&mut *tx).await?;
        }
        for f in findings {
            if let Some(a) = f.attribution.as_ref() {
                if let Some(asn) = a.asn() {
                    let entry = labels.entry(asn).or_default();
                    if let Some(name) = a.routing.as_ref().and_then(|r| r.as_name.as_deref()) {
                        entry.0 = Some(name);
                    }
                    if f.kind == FindingKind::InfectedHost {
                        if let Some(region) = a.geo.iter().find_map(|g| g.region.as_deref()) {
                            *entry.1.entry(region).or_default() += 1;
                        }
                    }
                }
            }
            if f.evidence.is_empty() {
                continue;
            }
            let id: i64 = sqlx::query_scalar("SELECT id FROM findings WHERE kind = ?1 AND subject = ?2")
                .bind(f.kind.as_str())
                .bind(&f.subject)
                .fetch_one(&mut *tx)
                .await?;
            for hash in &f.evidence {
                sqlx::query("INSERT OR IGNORE INTO finding_evidence (finding_id, event_hash) VALUES (?1, ?2)")
                    .bind(id)
                    .bind(hash)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        for (asn, (name, regions)) in labels {
            let region = regions.into_iter().max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0))).map(|(r, _)| r);
            if name.is_none() && region.is_none() {
                continue;
            }
            sqlx::query(
                "INSERT INTO as_labels (asn, name, region) VALUES (?1, ?2, ?3) ON CONFLICT (asn) DO UPDATE SET \
                 name = COALESCE(excluded.name, name), region = COALESCE(excluded.region, region)",
            )
            .bind(i64::from(asn))
            .bind(name)
            .bind(region)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn add_contacts(&self, contacts: &[C2Contact]) -> Result<()> {
        self.forget_periods();
        let mut groups: BTreeMap<(i64, String), Vec<VictimRecord>> = BTreeMap::new();
        for c in contacts {
            groups.entry((day_number(c.day), c.c2.to_string())).or_default().push(VictimRecord {
                addr: address_key(c.victim),
                asn: c.victim_asn.unwrap_or(0),
                flows: u32::try_from(c.flows).unwrap_or(u32::MAX),
                bytes: c.bytes,
            });
        }
        let mut writer = self.writer().await?;
        let mut tx = writer.connection().begin().await?;
        for ((day, c2), mut new) in groups {
            new.sort_unstable_by_key(|r| r.addr);
            let new = aggregate::merge(&[], &new); // folds repeated victims together
            let old: Option<Vec<u8>> =
                sqlx::query_scalar("SELECT victims FROM contact_sets WHERE day = ?1 AND c2 = ?2")
                    .bind(day)
                    .bind(&c2)
                    .fetch_optional(&mut *tx)
                    .await?;
            let merged = match old {
                Some(blob) => aggregate::merge(&aggregate::decode(&blob).map_err(|e| corrupt("contact set", e))?, &new),
                None => new,
            };
            let flows: u64 = merged.iter().map(|r| u64::from(r.flows)).sum();
            let bytes: u64 = merged.iter().map(|r| r.bytes).fold(0, u64::saturating_add);
            sqlx::query("INSERT OR REPLACE INTO contact_sets (day, c2, victims, hosts, flows, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                .bind(day)
                .bind(&c2)
                .bind(aggregate::encode(&merged))
                .bind(merged.len() as i64)
                .bind(flows as i64)
                .bind(bytes as i64)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    fn set_counting(&self, counting: Counting) {
        if let Ok(mut c) = self.counting.lock() {
            *c = counting;
        }
        self.forget_periods();
    }

    async fn c2_indicators(&self) -> Result<Vec<Event>> {
        // Blocklists name certificates and JA3s only in their body: the detector keeps those.
        let rows = sqlx::query(
            "SELECT e.*, f.fields AS feed_fields FROM events e JOIN event_feeds f ON f.id = e.feed_id \
             WHERE e.type = 'c2-server' \
             UNION ALL SELECT e.*, f.fields AS feed_fields FROM events e JOIN event_feeds f ON f.id = e.feed_id \
             WHERE e.type = 'blacklist' AND (e.body LIKE '%sslbl-certificate%' OR e.body LIKE '%sslbl-ja3%') \
             ORDER BY hash",
        )
        .fetch_all(&self.pool)
        .await?;
        events_from_rows(&rows)
    }

    async fn findings(&self, kind: Option<FindingKind>) -> Result<Vec<Finding>> {
        let rows = sqlx::query(
            "SELECT f.*, (SELECT group_concat(event_hash, ',') FROM finding_evidence e WHERE e.finding_id = f.id) AS evidence \
             FROM findings f WHERE ?1 IS NULL OR f.kind = ?1 ORDER BY f.kind, f.country, f.subject",
        )
        .bind(kind.map(|k| k.as_str()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(finding_from_row).collect()
    }

    async fn rejected(&self, limit: u64) -> Result<Vec<Rejected>> {
        let rows = sqlx::query("SELECT source, feed, line, reason, raw FROM rejected ORDER BY id LIMIT ?1")
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Rejected {
                    source: r.try_get("source")?,
                    feed: r.try_get("feed")?,
                    line: r.try_get::<i64, _>("line")? as u64,
                    reason: r.try_get("reason")?,
                    raw: r.try_get("raw")?,
                })
            })
            .collect()
    }

    async fn counts(&self) -> Result<StoreCounts> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM events) AS events, (SELECT COUNT(*) FROM findings) AS findings, \
             (SELECT COALESCE(SUM(hosts), 0) FROM contact_sets) AS contacts, (SELECT COUNT(*) FROM rejected) AS rejected, \
             (SELECT COUNT(*) FROM ingest_runs) AS runs",
        )
        .fetch_one(&self.pool)
        .await?;
        let get = |name: &str| row.try_get::<i64, _>(name).map(|n| n as u64);
        Ok(StoreCounts {
            events: get("events")?,
            findings: get("findings")?,
            contacts: get("contacts")?,
            rejected: get("rejected")?,
            runs: get("runs")?,
        })
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = ?1").bind(key).fetch_optional(&self.pool).await?)
    }

    async fn c2_activity(&self, period: Period) -> Result<Vec<C2Activity>> {
        Ok(self.period(period).await?.c2_activity())
    }

    async fn distinct_victims(&self, period: Period, scope: C2Scope) -> Result<u64> {
        Ok(self.period(period).await?.distinct_victims(scope))
    }

    async fn victims_by_country(&self, period: Period) -> Result<Vec<(Option<String>, u64)>> {
        Ok(self.period(period).await?.victims_by_country())
    }

    async fn daily_activity(&self, period: Period) -> Result<Vec<DailyActivity>> {
        Ok(self.period(period).await?.daily(day_number(period.from), day_from))
    }

    async fn activity_span(&self) -> Result<Option<Period>> {
        let row =
            sqlx::query("SELECT MIN(day) AS first, MAX(day) AS last FROM contact_sets").fetch_one(&self.pool).await?;
        let first: Option<i64> = row.try_get("first")?;
        let last: Option<i64> = row.try_get("last")?;
        Ok(first.zip(last).map(|(f, l)| Period { from: day_from(f), to: day_from(l) }))
    }

    async fn activity_by_family(&self, period: Period) -> Result<Vec<GroupActivity>> {
        Ok(self.period(period).await?.by_family())
    }

    async fn activity_by_home_network(&self, period: Period) -> Result<Vec<GroupActivity>> {
        let rows = sqlx::query("SELECT asn, name, region FROM as_labels").fetch_all(&self.pool).await?;
        let labels: HashMap<u32, (Option<String>, Option<String>)> = rows
            .iter()
            .map(|r| Ok((r.try_get::<i64, _>("asn")? as u32, (r.try_get("name")?, r.try_get("region")?))))
            .collect::<Result<_>>()?;
        Ok(self.period(period).await?.by_home_network(&labels))
    }

    async fn top_victims(
        &self,
        period: Period,
        scope: C2Scope,
        country: Option<CountryCode>,
        limit: u64,
    ) -> Result<Vec<VictimActivity>> {
        Ok(self.period(period).await?.top_victims(scope, country, limit as usize, day_from))
    }

    async fn feed_stats(&self) -> Result<Vec<FeedStats>> {
        let mut stats: std::collections::BTreeMap<String, FeedStats> = std::collections::BTreeMap::new();
        let entry = |feed: String| FeedStats { feed, ..FeedStats::default() };
        let per_feed =
            "SELECT f.name AS feed, SUM(n) AS n FROM (SELECT feed_id, COUNT(*) AS n FROM events GROUP BY feed_id) \
                        JOIN event_feeds f ON f.id = feed_id GROUP BY f.name";
        for row in sqlx::query(per_feed).fetch_all(&self.pool).await? {
            let feed: String = row.try_get("feed")?;
            stats.entry(feed.clone()).or_insert_with(|| entry(feed)).events = row.try_get::<i64, _>("n")? as u64;
        }
        for row in sqlx::query("SELECT feed, COUNT(*) AS n FROM rejected GROUP BY feed").fetch_all(&self.pool).await? {
            let feed: String = row.try_get("feed")?;
            stats.entry(feed.clone()).or_insert_with(|| entry(feed)).rejected = row.try_get::<i64, _>("n")? as u64;
        }
        for row in sqlx::query("SELECT feed, COUNT(*) AS n, MAX(ingested_us) AS last FROM ingested_files GROUP BY feed")
            .fetch_all(&self.pool)
            .await?
        {
            let feed: String = row.try_get("feed")?;
            let s = stats.entry(feed.clone()).or_insert_with(|| entry(feed));
            s.files = row.try_get::<i64, _>("n")? as u64;
            s.last_read = row.try_get::<Option<i64>, _>("last")?.map(time_from);
        }
        Ok(stats.into_values().collect())
    }
}

/// Rejected records per multi-row INSERT: 800 × 6 parameters, well under SQLite's limit
/// of 32,766 bound parameters (3.32 and later, as bundled).
const REJECTED_ROWS: usize = 800;

/// `prefix (?, ?, …), (?, ?, …), …` for `rows` rows of `columns` parameters.
fn multi_row_insert(prefix: &str, columns: usize, rows: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    let mut sql = String::with_capacity(prefix.len() + rows * (row.len() + 2));
    sql.push_str(prefix);
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&row);
    }
    sql
}

fn parse_cc(text: Option<String>) -> Option<vedette_model::CountryCode> {
    text.and_then(|t| t.parse().ok())
}

fn parse_attribution(text: Option<String>) -> Result<Option<Attribution>> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt("attribution", e))).transpose()
}

fn parse_confidence(text: &str) -> Confidence {
    match text {
        "high" => Confidence::High,
        "medium" => Confidence::Medium,
        "low" => Confidence::Low,
        _ => Confidence::Unknown,
    }
}

fn finding_from_row(row: &SqliteRow) -> Result<Finding> {
    let kind: String = row.try_get("kind")?;
    let evidence: Option<String> = row.try_get("evidence")?;
    Ok(Finding {
        kind: kind.parse().map_err(|e| corrupt("finding", e))?,
        subject: row.try_get("subject")?,
        first_seen: time_from(row.try_get("first_seen_us")?),
        last_seen: time_from(row.try_get("last_seen_us")?),
        score: row.try_get("score")?,
        confirmed: row.try_get("confirmed")?,
        malware: row.try_get("malware")?,
        reason: row.try_get("reason")?,
        attribution: parse_attribution(row.try_get("attribution")?)?,
        evidence: evidence.map(|e| e.split(',').map(str::to_string).collect()).unwrap_or_default(),
    })
}

fn events_from_rows(rows: &[sqlx::sqlite::SqliteRow]) -> Result<Vec<Event>> {
    let mut feeds: HashMap<i64, serde_json::Map<String, Value>> = HashMap::new();
    rows.iter()
        .map(|row| {
            let body: String = row.try_get("body")?;
            let mut flat: serde_json::Map<String, Value> =
                serde_json::from_str(&body).map_err(|e| corrupt("event", e))?;
            // The summary columns fill in what the body leaves out; a body written before
            // them (or for an event with fields of its own) holds everything and wins.
            let feed_id: i64 = row.try_get("feed_id")?;
            if let std::collections::hash_map::Entry::Vacant(slot) = feeds.entry(feed_id) {
                let fields: String = row.try_get("feed_fields")?;
                slot.insert(serde_json::from_str(&fields).map_err(|e| corrupt("feed fields", e))?);
            }
            for (key, value) in feeds.get(&feed_id).into_iter().flatten() {
                flat.entry(key.clone()).or_insert_with(|| value.clone());
            }
            let mut fill = |key: &str, value: Option<Value>| {
                if let Some(value) = value {
                    flat.entry(key).or_insert(value);
                }
            };
            fill("classification.type", Some(Value::String(row.try_get("type")?)));
            fill("source.ip", row.try_get::<Option<String>, _>("source_ip")?.map(Value::String));
            fill("source.geolocation.cc", row.try_get::<Option<String>, _>("source_cc")?.map(Value::String));
            fill("source.asn", row.try_get::<Option<i64>, _>("source_asn")?.map(Value::from));
            fill("malware.name", row.try_get::<Option<String>, _>("malware")?.map(Value::String));
            let time = |us: Option<i64>| {
                us.and_then(DateTime::from_timestamp_micros)
                    .map(|t| Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)))
            };
            fill("time.source", time(row.try_get("time_source_us")?));
            fill("time.observation", time(row.try_get("time_observation_us")?));
            let mut event = Event::from_intelmq(&flat).map_err(|e| corrupt("event", e))?;
            if event.sealed_hash.is_none() {
                let hash: Vec<u8> = row.try_get("hash")?;
                let hash = <[u8; 16]>::try_from(hash.as_slice()).map_err(|_| corrupt("event hash", "not 16 bytes"))?;
                event.sealed_hash = Some(vedette_model::EventHash(hash));
            }
            // Rows written before the `raw` column keep it, base64, in the body.
            if let Some(raw) = row.try_get::<Option<String>, _>("raw")? {
                event.raw = Some(raw);
            }
            Ok(event)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is the failure report

    use vedette_model::ClassificationType;

    use super::*;

    fn event(ip: &str, hash: [u8; 16]) -> Event {
        let mut event = Event::new("abusech-feodo", ClassificationType::C2Server);
        event.source.ip = Some(ip.parse().unwrap());
        event.raw = Some(ip.to_string());
        event.sealed_hash = Some(vedette_model::EventHash(hash));
        event
    }

    /// Two different events whose 64-bit keys collide are both kept, each once.
    #[tokio::test]
    async fn events_whose_keys_collide_are_both_kept() {
        let store = SqliteStore::open("sqlite::memory:").await.unwrap();
        let run = store.begin_run("test").await.unwrap();
        let first = [7u8; 16];
        let mut second = first;
        second[15] = 8; // the same first 64 bits
        assert_eq!(store.insert_rows(run, &mut [EventRows::new(vec![event("192.0.2.1", first)])]).await.unwrap(), 1);
        let both =
            EventRows::new(vec![event("192.0.2.1", first), event("192.0.2.2", second), event("192.0.2.2", second)]);
        assert_eq!(store.insert_rows(run, &mut [both.clone()]).await.unwrap(), 1, "the newcomer, once");
        assert_eq!(store.insert_rows(run, &mut [both]).await.unwrap(), 0, "both already stored");
        let mut ips: Vec<_> = store.c2_indicators().await.unwrap().iter().map(|e| e.raw.clone().unwrap()).collect();
        ips.sort();
        assert_eq!(ips, ["192.0.2.1", "192.0.2.2"]);
    }
}
