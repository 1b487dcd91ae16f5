-- Vedette's store, SQLite flavour. Times are microseconds since the Unix epoch (UTC);
-- days are days since 1970-01-01 (UTC).

CREATE TABLE ingest_runs (
    id          INTEGER PRIMARY KEY,
    command     TEXT NOT NULL,
    started_us  INTEGER NOT NULL,
    finished_us INTEGER,
    summary     TEXT
);

CREATE TABLE ingested_files (
    content_hash TEXT PRIMARY KEY,
    path         TEXT NOT NULL,
    feed         TEXT NOT NULL,
    size         INTEGER NOT NULL,
    run_id       INTEGER NOT NULL REFERENCES ingest_runs(id),
    ingested_us  INTEGER NOT NULL
);

-- A rowid table with the identity in a unique index: a WITHOUT ROWID table would keep
-- each whole row (the JSON body with its base64 `raw`, about 1 KiB) inside a B-tree
-- ordered by a random 16-byte hash, so every insert would land on a random page and split
-- it (measured on 300,000 feed events: 5.4k rows/s that way, 16k rows/s this way).
CREATE TABLE events (
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
CREATE INDEX events_type_time ON events(type, time_source_us);
CREATE INDEX events_source_ip ON events(source_ip);

CREATE TABLE findings (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL,
    subject       TEXT NOT NULL,
    first_seen_us INTEGER NOT NULL,
    last_seen_us  INTEGER NOT NULL,
    score         REAL NOT NULL,
    confirmed     INTEGER NOT NULL,
    malware       TEXT,
    reason        TEXT NOT NULL,
    country       TEXT,
    registry_cc   TEXT,
    location_cc   TEXT,
    asn           INTEGER,
    confidence    TEXT NOT NULL,
    attribution   TEXT,
    UNIQUE (kind, subject)
);
CREATE INDEX findings_kind_country ON findings(kind, country);

CREATE TABLE finding_evidence (
    finding_id INTEGER NOT NULL REFERENCES findings(id),
    event_hash TEXT NOT NULL,
    PRIMARY KEY (finding_id, event_hash)
) WITHOUT ROWID;

-- The home hosts in contact with one C2 server on one day, as one sorted set per
-- (day, C2): distinct counts over any period are then computed from a few compact rows
-- instead of millions (see crates/store/src/aggregate.rs for the encoding).
CREATE TABLE contact_sets (
    day     INTEGER NOT NULL,
    c2      TEXT NOT NULL,
    victims BLOB NOT NULL,
    hosts   INTEGER NOT NULL,
    flows   INTEGER NOT NULL,
    bytes   INTEGER NOT NULL,
    PRIMARY KEY (day, c2)
) WITHOUT ROWID;

-- Names of the ASes seen in findings, and the region most of their hosts are located in
-- (when a location view gives one), for the report's per-network table.
CREATE TABLE as_labels (
    asn    INTEGER PRIMARY KEY,
    name   TEXT,
    region TEXT
);

CREATE TABLE rejected (
    id     INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES ingest_runs(id),
    source TEXT NOT NULL,
    feed   TEXT NOT NULL,
    line   INTEGER NOT NULL,
    reason TEXT NOT NULL,
    raw    TEXT NOT NULL
);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
