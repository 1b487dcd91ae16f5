//! Golden files: `tests/data/<feed>/<case>.in` is decoded with that feed and must give
//! exactly `<case>.out`. `UPDATE_GOLDENFILES=1 cargo test -p vedette-ingest --test golden`
//! rewrites the outputs (review the diff before committing).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::fmt::Write as _;
use std::path::Path;

use vedette_ingest::{Batch, Catalogue, Decoder};

fn render(feed: &str, case: &str, input: &[u8]) -> String {
    let catalogue = Catalogue::builtin();
    let entry = catalogue.get(feed).expect("the folder is named after a known feed");
    let mut decoder = Decoder::new(entry, case);
    let mut batch = Batch::default();
    decoder.push(input, &mut batch);
    decoder.finish(&mut batch);
    let mut out = String::new();
    for event in &batch.events {
        // The flat JSON written directly (identity and stored body) is the map serialised.
        let mut sealed = event.clone();
        sealed.seal();
        sealed.time_observation = Some(chrono::Utc::now());
        let mut written = Vec::new();
        sealed.write_flat_json(&mut written, vedette_model::FlatJson::Stored);
        let mut map = sealed.to_intelmq();
        map.remove("raw");
        assert_eq!(String::from_utf8(written).unwrap(), serde_json::to_string(&map).unwrap(), "{feed}/{case}");
        let _ = writeln!(out, "event {}", serde_json::Value::Object(event.to_intelmq()));
    }
    for f in &batch.flows {
        let _ = writeln!(
            out,
            "flow {} {}:{} -> {}:{} {} out={} in={} packets={} duration_us={}",
            f.start_us,
            f.src,
            f.src_port,
            f.dst,
            f.dst_port,
            f.transport.name(),
            f.bytes_out,
            f.bytes_in,
            f.packets,
            f.duration_us
        );
    }
    // Telemetry records as the model's own Debug form: every field, one line each.
    for o in &batch.observations {
        let _ = writeln!(out, "observation {o:?}");
    }
    for r in &batch.rejected {
        let _ = writeln!(out, "rejected {}", serde_json::to_string(r).expect("serialises"));
    }
    if decoder.skipped() > 0 {
        let _ = writeln!(out, "skipped {}", decoder.skipped());
    }
    out
}

#[test]
fn golden_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let update = std::env::var_os("UPDATE_GOLDENFILES").is_some();
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut feeds: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).collect();
    feeds.sort();
    for feed_dir in feeds {
        let feed = feed_dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut cases: Vec<_> = std::fs::read_dir(&feed_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "in"))
            .collect();
        cases.sort();
        for case in cases {
            let name = case.file_name().unwrap().to_string_lossy().into_owned();
            let actual = render(&feed, &name, &std::fs::read(&case).unwrap());
            let golden = case.with_extension("out");
            if update {
                std::fs::write(&golden, &actual).unwrap();
            } else {
                let expected = std::fs::read_to_string(&golden).unwrap_or_default();
                if expected != actual {
                    failures.push(format!("{feed}/{name}:\n--- expected\n{expected}--- actual\n{actual}"));
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} golden cases found");
    assert!(failures.is_empty(), "{} golden files differ:\n{}", failures.len(), failures.join("\n"));
}
