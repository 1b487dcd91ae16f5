-- Events in a rowid table, identity in a unique index (issue 3: ingest speed).
-- A WITHOUT ROWID table keeps each whole row — the JSON body with its base64 `raw`, about
-- 1 KiB — inside the primary-key B-tree, ordered by a random 16-byte hash: every insert
-- lands on a random page and splits it. SQLite's own advice is WITHOUT ROWID only for rows
-- under about 1/20 of a page. Measured on 300,000 feed events: 5.4k rows/s before,
-- 16k rows/s after, same queries, same `INSERT OR IGNORE` dedupe.
CREATE TABLE events_by_rowid (
    id             INTEGER PRIMARY KEY,
    hash           BLOB NOT NULL UNIQUE,
    run_id         INTEGER NOT NULL REFERENCES ingest_runs(id),
    feed           TEXT NOT NULL,
    type           TEXT NOT NULL,
    time_source_us INTEGER,
    source_ip      TEXT,
    source_cc      TEXT,
    source_asn     INTEGER,
    malware        TEXT,
    body           TEXT NOT NULL
);
INSERT INTO events_by_rowid (hash, run_id, feed, type, time_source_us, source_ip, source_cc, source_asn, malware, body)
    SELECT hash, run_id, feed, type, time_source_us, source_ip, source_cc, source_asn, malware, body FROM events ORDER BY hash;
DROP TABLE events;
ALTER TABLE events_by_rowid RENAME TO events;
CREATE INDEX events_type_time ON events(type, time_source_us);
CREATE INDEX events_source_ip ON events(source_ip);
