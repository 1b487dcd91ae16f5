//! The SQLite store on in-memory databases: dedupe, upserts, counters and the report's
//! period queries.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use chrono::{NaiveDate, TimeZone, Utc};
use vedette_model::{
    Attribution, C2Contact, C2Scope, ClassificationType, Confidence, Event, Finding, FindingKind, Period, Rejected,
};
use vedette_store::{open, IngestedFile, Store};

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn c2_event(ip: &str) -> Event {
    let mut e = Event::new("abusech-feodo", ClassificationType::C2Server);
    e.source.ip = Some(ip.parse().unwrap());
    e.malware_name = Some("emotet".into());
    e.raw = Some(format!("\"2013-01-01\",\"{ip}\""));
    e
}

fn attribution(ip: &str, cc: &str) -> Attribution {
    Attribution {
        ip: ip.parse().unwrap(),
        country: Some(cc.parse().unwrap()),
        country_rule: "registry".into(),
        registry: None,
        routing: None,
        geo: Vec::new(),
        conflicts: Vec::new(),
        confidence: Confidence::Medium,
        confidence_rule: "a single view".into(),
    }
}

fn c2_finding(ip: &str, cc: Option<&str>, first: i64, last: i64) -> Finding {
    Finding {
        kind: FindingKind::C2Server,
        subject: ip.into(),
        first_seen: Utc.timestamp_opt(first, 0).unwrap(),
        last_seen: Utc.timestamp_opt(last, 0).unwrap(),
        score: 1.0,
        confirmed: true,
        malware: Some("emotet".into()),
        reason: "listed".into(),
        attribution: cc.map(|cc| attribution(ip, cc)),
        evidence: vec!["aa".into()],
    }
}

fn contact(c2: &str, victim: &str, d: &str, flows: u64) -> C2Contact {
    let t = Utc.from_utc_datetime(&day(d).and_hms_opt(12, 0, 0).unwrap());
    C2Contact {
        c2: c2.parse().unwrap(),
        victim: victim.parse().unwrap(),
        day: day(d),
        first: t,
        last: t,
        flows,
        bytes: flows * 100,
        victim_asn: Some(64500),
    }
}

async fn memory() -> Box<dyn Store> {
    open("sqlite::memory:").await.unwrap()
}

#[tokio::test]
async fn events_are_stored_once_and_read_back_as_indicators() {
    let store = memory().await;
    let run = store.begin_run("test").await.unwrap();
    let events = vec![c2_event("198.51.100.1"), c2_event("198.51.100.2"), c2_event("198.51.100.1")];
    assert_eq!(store.insert_events(run, &events).await.unwrap(), 2);
    let mut again = c2_event("198.51.100.2");
    again.time_observation = Some(Utc::now()); // observation time is not part of identity
    assert_eq!(store.insert_events(run, &[again]).await.unwrap(), 0);
    let mut phishing = c2_event("198.51.100.3");
    phishing.classification_type = ClassificationType::Phishing;
    assert_eq!(store.insert_events(run, &[phishing]).await.unwrap(), 1);
    let indicators = store.c2_indicators().await.unwrap();
    assert_eq!(indicators.len(), 2);
    assert!(indicators.iter().all(|e| e.raw.is_some() && e.malware_name.as_deref() == Some("emotet")));
    assert_eq!(store.counts().await.unwrap().events, 3);
}

#[tokio::test]
async fn findings_widen_on_upsert_and_keep_all_evidence() {
    let store = memory().await;
    store.upsert_findings(&[c2_finding("198.51.100.1", Some("US"), 100, 200)]).await.unwrap();
    let mut later = c2_finding("198.51.100.1", None, 50, 150);
    later.evidence = vec!["bb".into()];
    store.upsert_findings(&[later]).await.unwrap();
    let found = store.findings(Some(FindingKind::C2Server)).await.unwrap();
    assert_eq!(found.len(), 1);
    let f = &found[0];
    assert_eq!(f.first_seen.timestamp(), 50);
    assert_eq!(f.last_seen.timestamp(), 200);
    let mut evidence = f.evidence.clone();
    evidence.sort();
    assert_eq!(evidence, vec!["aa", "bb"]);
    // An upsert without attribution keeps the stored one.
    assert_eq!(f.attribution.as_ref().unwrap().country.unwrap().as_str(), "US");
    assert!(store.findings(Some(FindingKind::InfectedHost)).await.unwrap().is_empty());
}

#[tokio::test]
async fn period_queries_count_distinct_hosts_by_scope() {
    let store = memory().await;
    store
        .upsert_findings(&[
            c2_finding("198.51.100.1", Some("US"), 0, 0),
            c2_finding("198.51.100.2", Some("CN"), 0, 0),
            c2_finding("198.51.100.3", None, 0, 0),
        ])
        .await
        .unwrap();
    store
        .add_contacts(&[
            contact("198.51.100.1", "36.0.0.1", "2013-01-01", 2),
            contact("198.51.100.1", "36.0.0.1", "2013-01-02", 1),
            contact("198.51.100.1", "36.0.0.2", "2013-01-02", 1),
            contact("198.51.100.2", "36.0.0.1", "2013-01-03", 1),
            contact("198.51.100.3", "36.0.0.3", "2013-01-03", 1),
            contact("198.51.100.1", "36.0.0.9", "2013-02-01", 1), // outside the period
        ])
        .await
        .unwrap();
    // Adding the same day's counters again sums them.
    store.add_contacts(&[contact("198.51.100.1", "36.0.0.1", "2013-01-01", 3)]).await.unwrap();

    let period = Period::new(day("2013-01-01"), day("2013-01-31")).unwrap();
    let home = "CN".parse().unwrap();
    assert_eq!(store.distinct_victims(period, C2Scope::All).await.unwrap(), 3);
    assert_eq!(store.distinct_victims(period, C2Scope::Overseas(home)).await.unwrap(), 2);
    assert_eq!(store.distinct_victims(period, C2Scope::Domestic(home)).await.unwrap(), 1);
    assert_eq!(store.distinct_victims(period, C2Scope::Unattributed).await.unwrap(), 1);

    let activity = store.c2_activity(period).await.unwrap();
    assert_eq!(activity.len(), 3);
    assert_eq!(activity[0].address, "198.51.100.1");
    assert_eq!(activity[0].hosts, 2);
    assert_eq!(activity[0].flows, 7);
    assert_eq!(activity[0].country.unwrap().as_str(), "US");

    let by_country = store.victims_by_country(period).await.unwrap();
    assert!(by_country.contains(&(Some("US".into()), 2)));
    assert!(by_country.contains(&(None, 1)));

    let daily = store.daily_activity(period).await.unwrap();
    assert_eq!(
        daily.iter().map(|d| (d.day.to_string(), d.c2_servers, d.hosts)).collect::<Vec<_>>(),
        vec![("2013-01-01".into(), 1, 1), ("2013-01-02".into(), 1, 2), ("2013-01-03".into(), 2, 2)]
    );
    let span = store.activity_span().await.unwrap().unwrap();
    assert_eq!((span.from, span.to), (day("2013-01-01"), day("2013-02-01")));

    let families = store.activity_by_family(period).await.unwrap();
    assert_eq!(families.len(), 1);
    assert_eq!((families[0].key.as_deref(), families[0].c2_servers, families[0].hosts), (Some("emotet"), 3, 3));
    let top = store.top_victims(period, C2Scope::All, None, 2).await.unwrap();
    assert_eq!(top.len(), 2);
    assert_eq!((top[0].address.as_str(), top[0].c2_servers, top[0].flows), ("36.0.0.1", 2, 7));
    assert_eq!((top[0].first_day, top[0].last_day), (day("2013-01-01"), day("2013-01-03")));
    let us_only = store.top_victims(period, C2Scope::All, Some("US".parse().unwrap()), 10).await.unwrap();
    assert_eq!(us_only.iter().map(|v| v.address.as_str()).collect::<Vec<_>>(), vec!["36.0.0.1", "36.0.0.2"]);
    let networks = store.activity_by_home_network(period).await.unwrap();
    assert_eq!(networks.iter().map(|n| n.hosts).sum::<u64>(), 3);

    // Period bounds are inclusive days.
    let first_day = Period::new(day("2013-01-01"), day("2013-01-01")).unwrap();
    assert_eq!(store.distinct_victims(first_day, C2Scope::All).await.unwrap(), 1);
    let last_day = Period::new(day("2013-02-01"), day("2013-02-01")).unwrap();
    assert_eq!(store.distinct_victims(last_day, C2Scope::All).await.unwrap(), 1);
    let between = Period::new(day("2013-01-04"), day("2013-01-31")).unwrap();
    assert_eq!(store.distinct_victims(between, C2Scope::All).await.unwrap(), 0);

    let empty = Period::new(day("2012-01-01"), day("2012-12-31")).unwrap();
    assert!(store.c2_activity(empty).await.unwrap().is_empty());
    assert_eq!(store.distinct_victims(empty, C2Scope::All).await.unwrap(), 0);
}

#[tokio::test]
async fn runs_files_rejected_and_meta() {
    let store = memory().await;
    let run = store.begin_run("ingest").await.unwrap();
    assert!(store.ingested_file("abc").await.unwrap().is_none());
    let file = IngestedFile {
        content_hash: "abc".into(),
        path: "x.csv".into(),
        feed: "abusech-feodo".into(),
        size: 10,
        ingested: Utc.timestamp_opt(1_000, 0).unwrap(),
    };
    store.record_file(run, &file).await.unwrap();
    assert_eq!(store.ingested_file("abc").await.unwrap().unwrap(), file);
    store.insert_rejected(run, &[Rejected::new("x.csv", "abusech-feodo", 3, b"\xffbad", "not UTF-8")]).await.unwrap();
    let rejected = store.rejected(10).await.unwrap();
    assert_eq!(rejected[0].line, 3);
    assert_eq!(rejected[0].raw, "\u{fffd}bad");
    store.finish_run(run, &serde_json::json!({"events": 0})).await.unwrap();
    assert_eq!(store.meta("synthetic").await.unwrap(), None);
    store.set_meta("synthetic", "yes").await.unwrap();
    store.set_meta("synthetic", "seed 7").await.unwrap();
    assert_eq!(store.meta("synthetic").await.unwrap().as_deref(), Some("seed 7"));
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.runs, counts.rejected), (1, 1));
}

#[tokio::test]
async fn a_file_store_survives_reopening() {
    let dir = std::env::temp_dir().join(format!("vedette-store-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/v.db", dir.display());
    {
        let store = open(&url).await.unwrap();
        let run = store.begin_run("t").await.unwrap();
        store.insert_events(run, &[c2_event("198.51.100.1")]).await.unwrap();
    }
    let store = open(&url).await.unwrap();
    assert_eq!(store.counts().await.unwrap().events, 1);
    assert!(open("postgres://nowhere").await.is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn home_networks_carry_their_holder_and_region_when_known() {
    let store = memory().await;
    let mut host = c2_finding("36.0.0.1", Some("CN"), 0, 0);
    host.kind = FindingKind::InfectedHost;
    host.evidence.clear();
    let attribution = host.attribution.as_mut().unwrap();
    attribution.routing = Some(
        serde_json::from_value(serde_json::json!({
            "source": "rv", "prefix": "36.0.0.0/16", "origins": [64500], "as_cc": "CN", "as_name": "DEMO-CN-NET"
        }))
        .unwrap(),
    );
    attribution.geo = vec![serde_json::from_value(serde_json::json!({
        "source": "city", "version": null, "cc": "CN", "registered_cc": "CN", "prefix": "36.0.0.0/24", "region": "Guangdong"
    })).unwrap()];
    store.upsert_findings(&[c2_finding("198.51.100.1", Some("US"), 0, 0), host]).await.unwrap();
    store.add_contacts(&[contact("198.51.100.1", "36.0.0.1", "2013-01-01", 1)]).await.unwrap();
    let period = Period::new(day("2013-01-01"), day("2013-01-31")).unwrap();
    let networks = store.activity_by_home_network(period).await.unwrap();
    assert_eq!(networks.len(), 1);
    let n = &networks[0];
    assert_eq!(
        (n.key.as_deref(), n.label.as_deref(), n.region.as_deref()),
        (Some("AS64500"), Some("DEMO-CN-NET"), Some("Guangdong"))
    );
}

fn temp_store(name: &str) -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("vedette-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("store.db").display());
    (dir, url)
}

/// An event with every summary field, and times to the nanosecond and microsecond.
fn full_event(ip: &str) -> Event {
    let mut e = c2_event(ip);
    let feed = std::sync::Arc::make_mut(&mut e.feed);
    feed.provider = Some("abuse.ch".into());
    feed.url = Some("https://feodotracker.abuse.ch/downloads/ipblocklist.json".into());
    feed.accuracy = Some(90.0);
    e.source.asn = Some(64500);
    e.source.geolocation_cc = Some("NL".parse().unwrap());
    e.source.port = Some(443);
    e.classification_identifier = Some("emotet".into());
    e.time_source = Some(Utc.timestamp_opt(1_700_000_000, 123_456_789).unwrap());
    e.time_observation = Some(Utc.timestamp_opt(1_700_000_100, 250_000_000).unwrap());
    e.extra.insert("first_seen".into(), serde_json::json!("2023-11-14"));
    e.seal();
    e
}

#[tokio::test]
async fn the_row_keeps_the_summary_in_columns_and_reads_back_whole() {
    let (dir, url) = temp_store("detail");
    let store = open(&url).await.unwrap();
    let run = store.begin_run("test").await.unwrap();
    let event = full_event("198.51.100.1");
    assert_eq!(store.insert_events(run, std::slice::from_ref(&event)).await.unwrap(), 1);
    assert_eq!(store.insert_events(run, std::slice::from_ref(&event)).await.unwrap(), 0, "stored once");
    drop(store);

    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let (body, raw, fields): (String, Option<String>, String) =
        sqlx::query_as("SELECT body, raw, fields FROM events JOIN event_feeds f ON f.id = feed_id")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    // Columns hold the summary; the body the rest — a time not whole microseconds too.
    for absent in [
        "\"raw\"",
        "event_hash",
        "source.ip",
        "source.asn",
        "feed.",
        "classification.type",
        "malware.name",
        "time.observation",
    ] {
        assert!(!body.contains(absent), "{absent} in {body}");
    }
    for present in ["classification.identifier", "extra.first_seen", "source.port", "time.source"] {
        assert!(body.contains(present), "{present} not in {body}");
    }
    assert!(fields.contains("\"feed.provider\":\"abuse.ch\""), "{fields}");
    assert_eq!(raw.as_deref(), Some("\"2013-01-01\",\"198.51.100.1\""));

    let store = open(&url).await.unwrap();
    assert_eq!(store.c2_indicators().await.unwrap(), vec![event]);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A store as the second layout left it (whole flat JSON bodies, a 128-bit unique hash),
/// opened by this version: migrated, its events read back and still deduplicated.
#[tokio::test]
async fn a_store_of_the_earlier_layouts_is_migrated_and_still_deduplicates() {
    let (dir, url) = temp_store("migrate");
    let earlier = dir.join("migrations");
    std::fs::create_dir_all(&earlier).unwrap();
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for name in ["0001_init.sql", "0002_events_compact.sql"] {
        std::fs::copy(here.join(name), earlier.join(name)).unwrap();
    }
    let options = url.parse::<sqlx::sqlite::SqliteConnectOptions>().unwrap().create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::migrate::Migrator::new(earlier.as_path()).await.unwrap().run(&pool).await.unwrap();
    sqlx::query("INSERT INTO ingest_runs (command, started_us) VALUES ('old', 0)").execute(&pool).await.unwrap();
    // The first layout: `raw` base64 in the body; the second: `raw` in its column.
    let old = full_event("198.51.100.9");
    let mut first = old.clone();
    first.raw = Some("first layout".into());
    let with_raw = serde_json::Value::Object(first.to_intelmq()).to_string();
    let mut second = full_event("198.51.100.10");
    second.raw = None;
    for (event, body, raw) in [
        (&first, with_raw, None),
        (&second, serde_json::Value::Object(second.to_intelmq()).to_string(), Some("second layout")),
    ] {
        sqlx::query(
            "INSERT INTO events (hash, run_id, feed, type, body, raw) VALUES (?1, 1, 'abusech-feodo', 'c2-server', ?2, ?3)",
        )
        .bind(event.hash().0.to_vec())
        .bind(body)
        .bind(raw)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let store = open(&url).await.unwrap();
    let mut indicators = store.c2_indicators().await.unwrap();
    indicators.sort_by_key(|e| e.source.ip);
    let raws: Vec<_> = indicators.iter().map(|e| e.raw.clone().unwrap()).collect();
    assert_eq!(raws, ["first layout", "second layout"]);
    let mut second_read = second.clone();
    second_read.raw = Some("second layout".into());
    assert_eq!(indicators[1], second_read);
    let run = store.begin_run("test").await.unwrap();
    assert_eq!(store.insert_events(run, &[first, second]).await.unwrap(), 0, "keys were given to the old rows");
    assert_eq!(store.insert_events(run, &[full_event("198.51.100.11")]).await.unwrap(), 1);
    let stats = store.feed_stats().await.unwrap();
    assert_eq!((stats[0].feed.as_str(), stats[0].events), ("abusech-feodo", 3));
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}
