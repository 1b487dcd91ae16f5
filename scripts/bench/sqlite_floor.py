#!/usr/bin/env python3
"""What SQLite itself costs per stored event, with nothing of Vedette's around it.

Inserts N rows shaped like Vedette's `events` table in transactions of 65,536 rows (as
the store writes the batches waiting), with the store's pragmas (WAL, synchronous=NORMAL,
64 MiB cache, 16 KiB pages, a checkpoint every 4,096 pages), through Python's sqlite3
`executemany` (a C loop over one prepared statement), and prints the CPU microseconds
per row for three layouts:

  store  the layout of migration 0003: a 64-bit key in a UNIQUE index, the 128-bit
         hash beside it, the summary in columns, a ~220-byte body and ~160-byte raw
         line (the averages of the three benchmark feeds);
  blob   the layout before it: the 16-byte hash in a UNIQUE index, the whole ~850-byte
         flat JSON as body;
  none   the store's layout without the index (no dedupe: the floor of writing rows).

It bounds what any end-to-end ingest into SQLite can reach on the machine it runs on
(BENCHMARKS.md, "Feed parsing against IntelMQ 3.5").

    python3 scripts/bench/sqlite_floor.py [DIR] [N]      (default target/bench-feeds, 300000)
"""
import os
import random
import sqlite3
import sys
import time

SUMMARY = ("run_id int, feed_id int, type text, time_source_us int, time_observation_us int, source_ip text, "
           "source_cc text, source_asn int, malware text, body text, raw text")


def run(kind, path, n):
    for suffix in ("", "-wal", "-shm"):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("page_size=16384", "journal_mode=wal", "synchronous=normal", "cache_size=-65536",
                   "wal_autocheckpoint=4096", "temp_store=memory"):
        db.execute("pragma " + pragma)
    key = {"store": "key int unique, hash blob not null", "blob": "key int, hash blob not null unique",
           "none": "key int, hash blob not null"}[kind]
    db.execute(f"create table events (id integer primary key, {key}, {SUMMARY})")
    rng = random.Random(7)
    body, raw = ("x" * 850, None) if kind == "blob" else ("x" * 220, "y" * 160)
    rows = [(rng.getrandbits(63), rng.randbytes(16), 1, 1, "vulnerable-system", 1_700_000_000_000_000,
             1_700_000_000_000_000, "192.0.2.1", "US", 64500, None, body, raw) for _ in range(n)]
    cpu = time.process_time()
    for i in range(0, n, 65536):
        db.execute("begin")
        db.executemany("insert or ignore into events (key, hash, run_id, feed_id, type, time_source_us, "
                       "time_observation_us, source_ip, source_cc, source_asn, malware, body, raw) "
                       "values (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows[i:i + 65536])
        db.execute("commit")
    cpu = time.process_time() - cpu
    db.close()
    print(f'{{"engine":"sqlite {sqlite3.sqlite_version}","layout":"{kind}","rows":{n},"cpu_s":{cpu:.2f},'
          f'"us_per_row":{cpu / n * 1e6:.2f},"rows_per_cpu_s":{n / cpu:.0f}}}')


def main():
    work = sys.argv[1] if len(sys.argv) > 1 else "target/bench-feeds"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 300_000
    os.makedirs(work, exist_ok=True)
    for kind in ("store", "blob", "none"):
        run(kind, os.path.join(work, "floor.db"), n)


if __name__ == "__main__":
    main()
