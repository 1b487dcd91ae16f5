//! Nothing a feed sends can crash a decoder: arbitrary bytes, cut anywhere, give events,
//! flows or rejected records, and every line is accounted for.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use proptest::prelude::*;
use vedette_ingest::{Batch, Catalogue, Decoder};

/// Built once: reading the TOML catalogue for every case would dominate the run.
fn catalogue() -> &'static Catalogue {
    static CATALOGUE: std::sync::OnceLock<Catalogue> = std::sync::OnceLock::new();
    CATALOGUE.get_or_init(Catalogue::builtin)
}

fn decode_in_two(feed: &str, bytes: &[u8], cut: usize) -> Batch {
    let mut decoder = Decoder::new(catalogue().get(feed).unwrap(), "fuzz");
    let mut batch = Batch::default();
    let cut = cut.min(bytes.len());
    decoder.push(&bytes[..cut], &mut batch);
    decoder.push(&bytes[cut..], &mut batch);
    decoder.finish(&mut batch);
    batch
}

/// Every feed of the catalogue: a new feed is covered without touching this file.
fn feeds() -> Vec<String> {
    catalogue().entries().iter().map(|e| e.name.clone()).collect()
}

/// Lines that look almost right, to reach deep into the parsers.
fn near_miss_line() -> impl Strategy<Value = String> {
    prop_oneof![
        r#""20[0-9]{2}-[01][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9]","[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}","[0-9]{1,6}","(online|offline)","2013-0[1-9]-1[0-9]","[A-Za-z]{0,8}""#,
        r"1357[0-9]{6}\.[0-9]{1,7}\tC[a-z]{3}\t[0-9.:a-f]{3,20}\t[0-9]{1,6}\t[0-9.:a-f]{3,20}\t[0-9]{1,6}\t(tcp|udp|icmp|x)\t-\t[0-9.]{1,5}\t[0-9-]{1,4}\t[0-9]{1,4}\tSF",
        r#"\{"ts":[0-9.]{1,12},"id.orig_h":"[0-9.]{3,15}","id.resp_h":"[0-9.]{3,15}"(,"id.resp_p":[0-9-]{1,6})?\}"#,
        r"#fields\t[a-z_.\t]{0,60}",
        r"\[?\{.{0,40}",
        r#"# ?"?(first_seen_utc|timestamp|id|dateadded|firstseen|ioc_value|src_ip|ip|url|listingdate|sha1|cidr)"?(, ?"?[a-z_]{1,12}"?){0,8}"#,
        r#"\{"(cidr|sblid|type|sourceip|datetimereceivedutc|ioc_value|ioc_type|url|phish_id)":"?[0-9a-z./:]{0,20}"?(,"[a-z_]{1,10}":"?[0-9a-z./:]{0,12}"?){0,4}\}"#,
        r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(/[0-9]{1,3})?( ?[;|,\t] ?[A-Za-z0-9 :.-]{0,16}){0,6}",
        r"(https?://)?[a-z0-9.-]{1,20}(:[0-9]{1,5})?/[a-z0-9/._-]{0,20}",
        ".{0,80}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes: Vec<u8>, cut in 0usize..256) {
        for feed in feeds() {
            let batch = decode_in_two(&feed, &bytes, cut);
            for r in &batch.rejected {
                prop_assert!(!r.reason.is_empty());
            }
        }
    }

    #[test]
    fn every_data_line_is_an_event_a_flow_or_a_rejection(lines in proptest::collection::vec(near_miss_line(), 1..30), cut in 0usize..2000) {
        let text = lines.join("\n");
        for feed in feeds() {
            let whole = decode_in_two(&feed, text.as_bytes(), text.len());
            let split = decode_in_two(&feed, text.as_bytes(), cut);
            // Where the input is cut does not change what is read.
            prop_assert_eq!(whole.events.len(), split.events.len());
            prop_assert_eq!(whole.flows.len(), split.flows.len());
            prop_assert_eq!(whole.rejected.len(), split.rejected.len());
            prop_assert!(whole.len() <= lines.len().max(1) + 1);
        }
    }
}
