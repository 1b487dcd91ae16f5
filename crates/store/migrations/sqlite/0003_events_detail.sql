-- Events as a summary in columns and the rest of their fields in `body` (issue 3:
-- 200,000 events/s into SQLite). SQLite's cost per stored event grows with the bytes
-- each row carries and with the width of the index it deduplicates by; both halve here.
--
-- * `body` holds what the columns do not (the model's `FlatJson::Detail`): no
--   `event_hash` (the `hash` column), `classification.type` (`type`), taxonomy (follows
--   from the type), `source.ip`, `.asn`, `.geolocation.cc`, `malware.name`, and the two
--   times when whole microseconds (`time_source_us`, `time_observation_us`).
-- * The `feed.*` fields, the same for every event of a feed, are kept once in
--   `event_feeds`; each event names its row (`feed_id`).
-- * Deduplication by a 64-bit `key` (the first half of the 128-bit identity, whole in
--   `hash`): an integer index is a third smaller than the blob one. Two different events
--   whose keys collide (about once in 10^19 pairs) are both kept: the writer compares
--   full hashes when a key is already taken and stores the newcomer without a key,
--   deduplicated by `hash` through `events_keyless`.
-- Events written before keep their whole flat JSON in `body` (readers let the body win
-- over the columns); their keys are filled in by the store when it opens.
CREATE TABLE event_feeds (
    id     INTEGER PRIMARY KEY,
    name   TEXT NOT NULL,
    fields TEXT NOT NULL UNIQUE
);
INSERT INTO event_feeds (name, fields) SELECT DISTINCT feed, json_object('feed.name', feed) FROM events;

CREATE TABLE events_detail (
    id                  INTEGER PRIMARY KEY,
    key                 INTEGER UNIQUE,
    hash                BLOB NOT NULL,
    run_id              INTEGER NOT NULL,
    feed_id             INTEGER NOT NULL,
    type                TEXT NOT NULL,
    time_source_us      INTEGER,
    time_observation_us INTEGER,
    source_ip           TEXT,
    source_cc           TEXT,
    source_asn          INTEGER,
    malware             TEXT,
    body                TEXT NOT NULL,
    raw                 TEXT
);
INSERT INTO events_detail (id, hash, run_id, feed_id, type, time_source_us, source_ip, source_cc, source_asn, malware, body, raw)
    SELECT e.id, e.hash, e.run_id, f.id, e.type, e.time_source_us, e.source_ip, e.source_cc, e.source_asn, e.malware, e.body, e.raw
    FROM events e JOIN event_feeds f ON f.name = e.feed;
DROP TABLE events;
ALTER TABLE events_detail RENAME TO events;
CREATE INDEX events_c2_server ON events(time_source_us) WHERE type = 'c2-server';
CREATE INDEX events_blacklist ON events(time_source_us) WHERE type = 'blacklist';
CREATE INDEX events_keyless ON events(hash) WHERE key IS NULL;
