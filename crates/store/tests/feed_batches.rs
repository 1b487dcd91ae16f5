//! Issue 3: feed events are stored in multi-row batches, once each, and the per-feed
//! statistics `vedette feeds` shows add up.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use chrono::Utc;
use vedette_model::{ClassificationType, Event, Rejected};
use vedette_store::{open, IngestedFile};

fn event(feed: &str, n: u32) -> Event {
    let mut e = Event::new(feed, ClassificationType::C2Server);
    e.source.ip = Some(std::net::Ipv4Addr::from(0xC000_0200 + n).into());
    e.raw = Some(format!("line {n}"));
    e
}

#[tokio::test]
async fn issue_3_batches_larger_than_one_statement_store_each_event_once() {
    let store = open("sqlite::memory:").await.unwrap();
    let run = store.begin_run("test").await.unwrap();
    // 1,234 events span three multi-row statements; the second half repeats the first.
    let mut events: Vec<Event> = (0..617).map(|n| event("abusech-feodo", n)).collect();
    events.extend((0..617).map(|n| event("abusech-feodo", n)));
    assert_eq!(store.insert_events(run, &events).await.unwrap(), 617);
    assert_eq!(store.insert_events(run, &events[..10]).await.unwrap(), 0);
    assert_eq!(store.insert_events(run, &[event("spamhaus-drop", 1)]).await.unwrap(), 1);
    let rejected: Vec<Rejected> =
        (0..900).map(|n| Rejected::new("f.csv", "abusech-feodo", n + 1, b"x", "bad")).collect();
    store.insert_rejected(run, &rejected).await.unwrap();
    let file = IngestedFile {
        content_hash: "h".into(),
        path: "f.csv".into(),
        feed: "abusech-feodo".into(),
        size: 1,
        ingested: Utc::now(),
    };
    store.record_file(run, &file).await.unwrap();

    let stats = store.feed_stats().await.unwrap();
    let feodo = stats.iter().find(|s| s.feed == "abusech-feodo").unwrap();
    assert_eq!((feodo.events, feodo.rejected, feodo.files), (617, 900, 1));
    assert!(feodo.last_read.is_some());
    let drop = stats.iter().find(|s| s.feed == "spamhaus-drop").unwrap();
    assert_eq!((drop.events, drop.files, drop.last_read), (1, 0, None));
    assert_eq!(store.counts().await.unwrap().events, 618);
}
