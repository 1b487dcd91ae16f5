use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use vedette_model::{
    Attribution, C2Activity, C2Contact, C2Scope, Confidence, DailyActivity, Event, Finding, FindingKind, GroupActivity,
    Period, Rejected, VictimActivity,
};

use crate::{IngestedFile, Result, Store, StoreCounts, StoreError};

/// The embedded store: one SQLite file (or memory, for tests).
pub struct SqliteStore {
    pool: SqlitePool,
}

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
    /// Opens `sqlite://PATH` (created if missing) or `sqlite::memory:`, and migrates it.
    pub async fn open(url: &str) -> Result<SqliteStore> {
        let open_err = |source| StoreError::Open { url: url.to_string(), source };
        let memory = url.contains(":memory:");
        let mut options = SqliteConnectOptions::from_str(url)
            .map_err(open_err)?
            .create_if_missing(true)
            .foreign_keys(true)
            .synchronous(SqliteSynchronous::Normal);
        if !memory {
            options = options.journal_mode(SqliteJournalMode::Wal);
        }
        // Every connection to `:memory:` is its own database, so memory stores get one.
        let pool = SqlitePoolOptions::new()
            .max_connections(if memory { 1 } else { 4 })
            .connect_with(options)
            .await
            .map_err(open_err)?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(SqliteStore { pool })
    }
}

const SCOPE_ALL: &str = "1 = 1";
const SCOPE_OVERSEAS: &str = "f.country IS NOT NULL AND f.country != ?3";
const SCOPE_DOMESTIC: &str = "f.country = ?3";
const SCOPE_UNATTRIBUTED: &str = "f.country IS NULL";

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

    async fn insert_events(&self, run: i64, events: &[Event]) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let mut added = 0;
        for event in events {
            let hash = event.hash();
            let body = Value::Object(event.to_intelmq()).to_string();
            added += sqlx::query(
                "INSERT OR IGNORE INTO events (hash, run_id, feed, type, time_source_us, source_ip, source_cc, source_asn, malware, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .bind(&hash.0[..])
            .bind(run)
            .bind(&event.feed.name)
            .bind(event.classification_type.as_str())
            .bind(event.time_source.map(|t| t.timestamp_micros()))
            .bind(event.source.ip.map(|ip| ip.to_string()))
            .bind(event.source.geolocation_cc.map(|cc| cc.to_string()))
            .bind(event.source.asn.map(i64::from))
            .bind(&event.malware_name)
            .bind(body)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(added)
    }

    async fn insert_rejected(&self, run: i64, rejected: &[Rejected]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for r in rejected {
            sqlx::query(
                "INSERT INTO rejected (run_id, source, feed, line, reason, raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .bind(run)
            .bind(&r.source)
            .bind(&r.feed)
            .bind(r.line as i64)
            .bind(&r.reason)
            .bind(&r.raw)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn upsert_findings(&self, findings: &[Finding]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for f in findings {
            let a = f.attribution.as_ref();
            let attribution = a.map(|a| serde_json::to_string(a).expect("attribution serialises"));
            let id: i64 = sqlx::query(
                "INSERT INTO findings (kind, subject, first_seen_us, last_seen_us, score, confirmed, malware, reason, country, registry_cc, location_cc, asn, confidence, attribution) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
                 ON CONFLICT (kind, subject) DO UPDATE SET \
                   first_seen_us = MIN(first_seen_us, excluded.first_seen_us), \
                   last_seen_us = MAX(last_seen_us, excluded.last_seen_us), \
                   score = MAX(score, excluded.score), \
                   confirmed = MAX(confirmed, excluded.confirmed), \
                   malware = COALESCE(excluded.malware, malware), \
                   reason = excluded.reason, \
                   country = CASE WHEN excluded.attribution IS NOT NULL THEN excluded.country ELSE country END, \
                   registry_cc = CASE WHEN excluded.attribution IS NOT NULL THEN excluded.registry_cc ELSE registry_cc END, \
                   location_cc = CASE WHEN excluded.attribution IS NOT NULL THEN excluded.location_cc ELSE location_cc END, \
                   asn = CASE WHEN excluded.attribution IS NOT NULL THEN excluded.asn ELSE asn END, \
                   confidence = CASE WHEN excluded.attribution IS NOT NULL THEN excluded.confidence ELSE confidence END, \
                   attribution = COALESCE(excluded.attribution, attribution) \
                 RETURNING id",
            )
            .bind(f.kind.as_str())
            .bind(&f.subject)
            .bind(f.first_seen.timestamp_micros())
            .bind(f.last_seen.timestamp_micros())
            .bind(f.score)
            .bind(f.confirmed)
            .bind(&f.malware)
            .bind(&f.reason)
            .bind(a.and_then(|a| a.country).map(|c| c.to_string()))
            .bind(a.and_then(|a| a.registry_cc()).map(|c| c.to_string()))
            .bind(a.and_then(|a| a.location_cc()).map(|c| c.to_string()))
            .bind(a.and_then(|a| a.asn()).map(i64::from))
            .bind(a.map(|a| a.confidence).unwrap_or(Confidence::Unknown).as_str())
            .bind(attribution)
            .fetch_one(&mut *tx)
            .await?
            .try_get("id")?;
            for hash in &f.evidence {
                sqlx::query("INSERT OR IGNORE INTO finding_evidence (finding_id, event_hash) VALUES (?1, ?2)")
                    .bind(id)
                    .bind(hash)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn add_contacts(&self, contacts: &[C2Contact]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for c in contacts {
            sqlx::query(
                "INSERT INTO contacts (c2, victim, day, first_us, last_us, flows, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (c2, victim, day) DO UPDATE SET \
                   first_us = MIN(first_us, excluded.first_us), last_us = MAX(last_us, excluded.last_us), \
                   flows = flows + excluded.flows, bytes = bytes + excluded.bytes",
            )
            .bind(c.c2.to_string())
            .bind(c.victim.to_string())
            .bind(day_number(c.day))
            .bind(c.first.timestamp_micros())
            .bind(c.last.timestamp_micros())
            .bind(c.flows as i64)
            .bind(c.bytes as i64)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn c2_indicators(&self) -> Result<Vec<Event>> {
        let rows =
            sqlx::query("SELECT body FROM events WHERE type = 'c2-server' ORDER BY hash").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let body: String = row.try_get("body")?;
                let flat: serde_json::Map<String, Value> =
                    serde_json::from_str(&body).map_err(|e| corrupt("event", e))?;
                Event::from_intelmq(&flat).map_err(|e| corrupt("event", e))
            })
            .collect()
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
             (SELECT COUNT(*) FROM contacts) AS contacts, (SELECT COUNT(*) FROM rejected) AS rejected, \
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
        let rows = sqlx::query(
            "SELECT a.c2, a.hosts, a.flows, a.bytes, f.country, f.registry_cc, f.location_cc, f.asn, f.confidence, \
                    f.malware, f.confirmed, f.attribution \
             FROM (SELECT c2, COUNT(DISTINCT victim) AS hosts, SUM(flows) AS flows, SUM(bytes) AS bytes \
                   FROM contacts WHERE day BETWEEN ?1 AND ?2 GROUP BY c2) a \
             LEFT JOIN findings f ON f.kind = 'c2_server' AND f.subject = a.c2 \
             ORDER BY a.hosts DESC, a.c2",
        )
        .bind(day_number(period.from))
        .bind(day_number(period.to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(activity_from_row).collect()
    }

    async fn distinct_victims(&self, period: Period, scope: C2Scope) -> Result<u64> {
        let (condition, home) = scope_condition(scope);
        let sql = format!(
            "SELECT COUNT(DISTINCT c.victim) FROM contacts c \
             LEFT JOIN findings f ON f.kind = 'c2_server' AND f.subject = c.c2 \
             WHERE c.day BETWEEN ?1 AND ?2 AND ({condition})"
        );
        let query =
            sqlx::query_scalar::<_, i64>(&sql).bind(day_number(period.from)).bind(day_number(period.to)).bind(home);
        Ok(query.fetch_one(&self.pool).await? as u64)
    }

    async fn victims_by_country(&self, period: Period) -> Result<Vec<(Option<String>, u64)>> {
        let rows = sqlx::query(
            "SELECT f.country AS country, COUNT(DISTINCT c.victim) AS hosts FROM contacts c \
             LEFT JOIN findings f ON f.kind = 'c2_server' AND f.subject = c.c2 \
             WHERE c.day BETWEEN ?1 AND ?2 GROUP BY f.country ORDER BY hosts DESC, country",
        )
        .bind(day_number(period.from))
        .bind(day_number(period.to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("country")?, r.try_get::<i64, _>("hosts")? as u64))).collect()
    }

    async fn daily_activity(&self, period: Period) -> Result<Vec<DailyActivity>> {
        let rows = sqlx::query(
            "SELECT day, COUNT(DISTINCT c2) AS c2s, COUNT(DISTINCT victim) AS hosts FROM contacts \
             WHERE day BETWEEN ?1 AND ?2 GROUP BY day ORDER BY day",
        )
        .bind(day_number(period.from))
        .bind(day_number(period.to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DailyActivity {
                    day: day_from(r.try_get("day")?),
                    c2_servers: r.try_get::<i64, _>("c2s")? as u64,
                    hosts: r.try_get::<i64, _>("hosts")? as u64,
                })
            })
            .collect()
    }

    async fn activity_span(&self) -> Result<Option<Period>> {
        let row = sqlx::query("SELECT MIN(day) AS first, MAX(day) AS last FROM contacts").fetch_one(&self.pool).await?;
        let first: Option<i64> = row.try_get("first")?;
        let last: Option<i64> = row.try_get("last")?;
        Ok(first.zip(last).map(|(f, l)| Period { from: day_from(f), to: day_from(l) }))
    }

    async fn activity_by_family(&self, period: Period) -> Result<Vec<GroupActivity>> {
        let rows = sqlx::query(
            "SELECT f.malware AS key, COUNT(DISTINCT c.c2) AS c2s, COUNT(DISTINCT c.victim) AS hosts FROM contacts c \
             LEFT JOIN findings f ON f.kind = 'c2_server' AND f.subject = c.c2 \
             WHERE c.day BETWEEN ?1 AND ?2 GROUP BY f.malware ORDER BY hosts DESC, key",
        )
        .bind(day_number(period.from))
        .bind(day_number(period.to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| group_from_row(r, None)).collect()
    }

    async fn activity_by_home_network(&self, period: Period) -> Result<Vec<GroupActivity>> {
        let rows = sqlx::query(
            "SELECT h.asn AS asn, MAX(json_extract(h.attribution, '$.routing.as_name')) AS label, \
                    COUNT(DISTINCT c.c2) AS c2s, COUNT(DISTINCT c.victim) AS hosts FROM contacts c \
             LEFT JOIN findings h ON h.kind = 'infected_host' AND h.subject = c.victim \
             WHERE c.day BETWEEN ?1 AND ?2 GROUP BY h.asn ORDER BY hosts DESC, asn",
        )
        .bind(day_number(period.from))
        .bind(day_number(period.to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let asn: Option<i64> = r.try_get("asn")?;
                group_from_row(r, asn.map(|a| format!("AS{a}")))
            })
            .collect()
    }

    async fn top_victims(
        &self,
        period: Period,
        scope: C2Scope,
        country: Option<&str>,
        limit: u64,
    ) -> Result<Vec<VictimActivity>> {
        let (condition, home) = scope_condition(scope);
        let sql = format!(
            "SELECT c.victim AS victim, COUNT(DISTINCT c.c2) AS c2s, SUM(c.flows) AS flows, MIN(c.day) AS first, \
                    MAX(c.day) AS last, MAX(h.asn) AS asn FROM contacts c \
             LEFT JOIN findings f ON f.kind = 'c2_server' AND f.subject = c.c2 \
             LEFT JOIN findings h ON h.kind = 'infected_host' AND h.subject = c.victim \
             WHERE c.day BETWEEN ?1 AND ?2 AND ({condition}) AND (?4 IS NULL OR f.country = ?4) \
             GROUP BY c.victim ORDER BY flows DESC, victim LIMIT ?5"
        );
        let rows = sqlx::query(&sql)
            .bind(day_number(period.from))
            .bind(day_number(period.to))
            .bind(home)
            .bind(country)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(VictimActivity {
                    address: r.try_get("victim")?,
                    c2_servers: r.try_get::<i64, _>("c2s")? as u64,
                    flows: r.try_get::<i64, _>("flows")? as u64,
                    first_day: day_from(r.try_get("first")?),
                    last_day: day_from(r.try_get("last")?),
                    asn: r.try_get::<Option<i64>, _>("asn")?.map(|a| a as u32),
                })
            })
            .collect()
    }
}

/// The SQL condition selecting a scope's C2 servers (`f` is the C2's finding; `?3` the home country).
fn scope_condition(scope: C2Scope) -> (&'static str, Option<String>) {
    match scope {
        C2Scope::All => (SCOPE_ALL, None),
        C2Scope::Overseas(home) => (SCOPE_OVERSEAS, Some(home.to_string())),
        C2Scope::Domestic(home) => (SCOPE_DOMESTIC, Some(home.to_string())),
        C2Scope::Unattributed => (SCOPE_UNATTRIBUTED, None),
    }
}

fn group_from_row(row: &SqliteRow, key: Option<String>) -> Result<GroupActivity> {
    let key = match key {
        Some(k) => Some(k),
        None if row.try_get::<Option<String>, _>("key").is_ok() => row.try_get("key")?,
        None => None,
    };
    Ok(GroupActivity {
        key,
        label: row.try_get::<Option<String>, _>("label").ok().flatten(),
        c2_servers: row.try_get::<i64, _>("c2s")? as u64,
        hosts: row.try_get::<i64, _>("hosts")? as u64,
    })
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

fn activity_from_row(row: &SqliteRow) -> Result<C2Activity> {
    let attribution = parse_attribution(row.try_get("attribution")?)?;
    let confidence: Option<String> = row.try_get("confidence")?;
    Ok(C2Activity {
        address: row.try_get("c2")?,
        country: parse_cc(row.try_get("country")?),
        registry_cc: parse_cc(row.try_get("registry_cc")?),
        location_cc: parse_cc(row.try_get("location_cc")?),
        asn: row.try_get::<Option<i64>, _>("asn")?.map(|a| a as u32),
        as_name: attribution.as_ref().and_then(|a| a.routing.as_ref()).and_then(|r| r.as_name.clone()),
        confidence: parse_confidence(confidence.as_deref().unwrap_or("unknown")),
        conflicts: attribution.map(|a| a.conflicts.iter().map(|c| c.code().to_string()).collect()).unwrap_or_default(),
        malware: row.try_get("malware")?,
        confirmed: row.try_get::<Option<bool>, _>("confirmed")?.unwrap_or(false),
        hosts: row.try_get::<i64, _>("hosts")? as u64,
        flows: row.try_get::<i64, _>("flows")? as u64,
        bytes: row.try_get::<i64, _>("bytes")? as u64,
    })
}
