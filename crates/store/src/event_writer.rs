//! Events written through a SQLite connection of their own, called synchronously on a
//! blocking thread: the one path that must keep up with feed parsing (issue 3: 200,000
//! events/s). sqlx hands each statement to its worker thread, with every value copied
//! into an owned argument list and freed over there; here a prepared statement is bound
//! to the row's own text and stepped, and SQLite alone does the copying.
//!
//! The rows are those of the `0003` migration: the summary in columns, the rest of the
//! event in `body`, the feed's fields once in `event_feeds`, deduplicated by a 64-bit key
//! with the whole identity compared when the key is already taken.
//!
//! ```text
//! SqliteStore::insert_rows ──spawn_blocking──▶ EventWriter::insert (one transaction)
//! ```

use std::path::Path;
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use vedette_model::{Event, Feed};

use crate::sqlite::CONNECTION_PRAGMAS;
use crate::{EventRows, Result, RowText, StoreError};

/// The events' connection, with the feeds it has written.
pub(crate) struct EventWriter {
    connection: Connection,
    feeds: FeedIds,
}

const INSERT_EVENT: &str = "INSERT OR IGNORE INTO events (key, hash, run_id, feed_id, type, time_source_us, \
     time_observation_us, source_ip, source_cc, source_asn, malware, body, raw) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

impl EventWriter {
    /// Opens the store's file (migrated already) with the store's settings.
    pub(crate) fn open(path: &Path) -> Result<EventWriter> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(std::time::Duration::from_secs(30))?;
        for (name, value) in CONNECTION_PRAGMAS {
            connection.pragma_update(None, name, value)?;
        }
        Ok(EventWriter { connection, feeds: FeedIds::default() })
    }

    /// Stores the rows not stored before, in one transaction; returns how many were new.
    pub(crate) fn insert(&mut self, run: i64, batches: &[EventRows]) -> Result<u64> {
        // The write lock from the start (waiting for the store's other connections as
        // long as `busy_timeout`), so no read inside can be overtaken by their writes.
        let tx = self.connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut feeds = self.feeds.clone();
        let mut added = 0;
        {
            let mut insert = tx.prepare_cached(INSERT_EVENT)?;
            let mut ignored = Vec::new();
            for row in batches.iter().flat_map(EventRows::rows) {
                let feed_id = feeds.id(&tx, &row.0.feed)?;
                match execute(&mut insert, row, Some(row.1.key()), run, feed_id)? {
                    0 => ignored.push((row, feed_id)),
                    n => added += n as u64,
                }
            }
            added += keep_collided(&tx, run, &ignored)?;
        }
        tx.commit()?;
        // Only what was committed is remembered.
        self.feeds = feeds;
        Ok(added)
    }
}

/// Binds a row's values, borrowed from the row, to [`INSERT_EVENT`] and steps it.
fn execute(
    insert: &mut rusqlite::CachedStatement<'_>,
    (e, text): (&Event, &RowText),
    key: Option<i64>,
    run: i64,
    feed_id: i64,
) -> rusqlite::Result<usize> {
    let cc = e.source.geolocation_cc;
    insert.execute(params![
        key,
        &text.hash[..],
        run,
        feed_id,
        e.classification_type.as_str(),
        e.time_source.map(|t| t.timestamp_micros()),
        e.time_observation.map(|t| t.timestamp_micros()),
        text.source_ip.as_deref(),
        cc.as_ref().map(|cc| cc.as_str()),
        e.source.asn,
        e.malware_name.as_deref(),
        text.body.as_str(),
        e.raw.as_deref(),
    ])
}

/// Of the rows SQLite ignored — nearly always stored before — those whose key is held by
/// a *different* event (a 64-bit collision of two 128-bit identities) are stored without
/// a key, once: `events_keyless` finds them by their whole hash.
fn keep_collided(tx: &Transaction<'_>, run: i64, ignored: &[((&Event, &RowText), i64)]) -> Result<u64> {
    if ignored.is_empty() {
        return Ok(0);
    }
    let mut holder = tx.prepare_cached("SELECT hash FROM events WHERE key = ?1")?;
    let mut keyless = tx.prepare_cached("SELECT 1 FROM events WHERE key IS NULL AND hash = ?1")?;
    let mut insert = tx.prepare_cached(INSERT_EVENT)?;
    let mut added = 0;
    for &(row, feed_id) in ignored {
        let text = row.1;
        let held: Option<Vec<u8>> = holder.query_row([text.key()], |r| r.get(0)).optional()?;
        let collided = held.is_some_and(|held| held != text.hash);
        if collided && !keyless.exists([&text.hash[..]])? {
            added += execute(&mut insert, row, None, run, feed_id)? as u64;
        }
    }
    Ok(added)
}

/// The `event_feeds` row of each feed written, so that events name theirs by number.
#[derive(Debug, Clone, Default)]
struct FeedIds(Vec<(Arc<Feed>, i64)>);

impl FeedIds {
    fn id(&mut self, tx: &Transaction<'_>, feed: &Arc<Feed>) -> Result<i64> {
        // The events of one file share their feed: the pointer nearly always answers.
        if let Some((_, id)) = self.0.iter().find(|(known, _)| Arc::ptr_eq(known, feed) || known == feed) {
            return Ok(*id);
        }
        let mut fields = Vec::new();
        feed.write_flat_json(&mut fields);
        let fields = String::from_utf8_lossy(&fields).into_owned();
        tx.execute("INSERT OR IGNORE INTO event_feeds (name, fields) VALUES (?1, ?2)", params![&*feed.name, fields])?;
        let id = tx.query_row("SELECT id FROM event_feeds WHERE fields = ?1", [&fields], |r| r.get(0))?;
        self.0.push((feed.clone(), id));
        Ok(id)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Write(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is the failure report

    use super::*;

    /// The writer's connection has the settings sqlx's connections have.
    #[test]
    fn the_writer_connection_takes_the_store_settings() {
        let path = std::env::temp_dir().join(format!("vedette-writer-pragmas-{}.db", std::process::id()));
        let writer = EventWriter::open(&path).unwrap();
        let get = |name: &str| -> i64 { writer.connection.pragma_query_value(None, name, |r| r.get(0)).unwrap() };
        assert_eq!(get("cache_size"), -65536);
        assert_eq!(get("synchronous"), 1, "NORMAL");
        assert_eq!(get("temp_store"), 2, "MEMORY");
        assert_eq!(get("wal_autocheckpoint"), 4096);
        drop(writer);
        std::fs::remove_file(path).unwrap();
    }
}
