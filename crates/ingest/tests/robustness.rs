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
    decode_counting_skips(feed, bytes, cut).0
}

/// [`decode_in_two`], with the records the decoder skipped on purpose.
fn decode_counting_skips(feed: &str, bytes: &[u8], cut: usize) -> (Batch, u64) {
    let mut decoder = Decoder::new(catalogue().get(feed).unwrap(), "fuzz");
    let mut batch = Batch::default();
    let cut = cut.min(bytes.len());
    decoder.push(&bytes[..cut], &mut batch);
    decoder.push(&bytes[cut..], &mut batch);
    decoder.finish(&mut batch);
    (batch, decoder.skipped())
}

const TELEMETRY_FEEDS: &[&str] =
    &["zeek-conn", "zeek-dns", "zeek-http", "zeek-ssl", "suricata-eve", "sinkhole-log", "passive-dns"];

/// Telemetry lines that look almost right: Zeek headers and rows, EVE records of each
/// type, sinkhole rows, passive DNS records (one `rdata` each, so one record a line).
fn telemetry_line() -> impl Strategy<Value = String> {
    const IP: &str = r"(10\.0\.[0-9]{1,3}\.[0-9]{1,3}|2001:db8::[0-9a-f]{1,4}|[0-9.:a-f]{3,12})";
    let zeek_row = format!(
        r"1714[0-9]{{6}}(\.[0-9]{{1,7}})?\t{IP}\t([0-9-]{{1,6}}\t)?{IP}\t([0-9-]{{1,6}}\t)?[a-zA-Z0-9.\\x-]{{0,20}}(\t[-a-zA-Z0-9.,:/()]{{0,40}}){{0,5}}"
    );
    let zeek_json = format!(
        r#"\{{"ts":"?(1714[0-9]{{6}}\.[0-9]{{1,6}}|[0-9.TZ:-]{{1,26}})"?,"id\.orig_h":"{IP}","id\.resp_h":"{IP}"(,"(query|host|uri|server_name|ja3)":"[a-z0-9.]{{0,12}}")*(,"(answers|cert_chain_fps)":\["[0-9a-f.:]{{0,40}}"\])?\}}"#
    );
    // The nested object named after the event type, holding a few of the keys read.
    let value = format!(
        r#"("(query|answer|request|response|NOERROR|NXDOMAIN|A|AAAA|2024-05-01T10:00:0[0-9]\+0000|[A-Za-z0-9.:/]{{0,20}})"|[0-9-]{{1,5}}|\[\{{"rrname":"a","rrtype":"A","rdata":"{IP}"\}}\]|\{{"A":\["{IP}"\]\}}|\{{"hash":"[0-9a-f]{{32}}"\}})"#
    );
    let key = r#""(type|rrname|rrtype|rcode|signature|sni|hostname|url|bytes_toserver|start|end|queries|answers|grouped|fingerprint|ja3|[a-z_]{1,8})""#;
    let kinds: Vec<String> = ["flow", "dns", "http", "tls", "alert"]
        .iter()
        .map(|t| format!(r#""event_type":"{t}","src_ip":"{IP}"(,"src_port":[0-9]{{1,5}})?,"dest_ip":"{IP}","proto":"(TCP|UDP|ICMP|x)","{t}":\{{({key}:{value}(,{key}:{value}){{0,4}})?\}}"#))
        .collect();
    let eve = format!(
        r#"\{{"timestamp":"2024-05-01T10:00:0[0-9](\.[0-9]{{1,6}})?[+-]0[0-9]00",({}|"event_type":"stats","stats":\{{\}})\}}"#,
        kinds.join("|")
    );
    let sinkhole = format!(
        r"(time,bot_ip,sinkholed_domain(,family)?|(1714[0-9]{{6}}|2024-05-0[1-9]T10:00:00Z|[0-9TZ:.-]{{1,24}}),{IP},[a-z0-9.]{{0,16}}(,[a-z]{{0,8}})?)"
    );
    let pdns = format!(
        r#"\{{"rrname":"[a-z.]{{0,12}}","rrtype":"(A|AAAA|NS|1)","rdata":"({IP}|[a-z.]{{0,12}})","time_first":17145[0-9]{{5}},"time_last":17146[0-9]{{5}}(,"count":[0-9-]{{1,4}})?\}}"#
    );
    let re = |pattern: &str| proptest::string::string_regex(pattern).unwrap();
    prop_oneof![
        re(r"#(separator \\x09|set_separator\t[,;]|unset_field\t-|empty_field\t\(empty\)|path\t(dns|http|ssl|conn))"),
        re(
            r"#fields\tts\tid\.orig_h\t(id\.orig_p\t)?id\.resp_h\t(id\.resp_p\t)?(query|host|server_name)(\t(uri|qtype|rcode|answers|ja3|cert_chain_fps|method))*"
        ),
        re(&zeek_row),
        re(&zeek_json),
        re(&eve),
        re(&sinkhole),
        re(&pdns),
        re(".{0,80}"),
    ]
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

    #[test]
    fn every_telemetry_line_is_read_once(lines in proptest::collection::vec(telemetry_line(), 1..30), cut in 0usize..3000) {
        let text = lines.join("\n");
        for feed in TELEMETRY_FEEDS {
            let (whole, whole_skipped) = decode_counting_skips(feed, text.as_bytes(), text.len());
            let (split, split_skipped) = decode_counting_skips(feed, text.as_bytes(), cut);
            prop_assert_eq!(&whole.flows, &split.flows);
            prop_assert_eq!(&whole.observations, &split.observations);
            prop_assert_eq!(&whole.rejected, &split.rejected);
            prop_assert_eq!(whole.events.len(), split.events.len());
            prop_assert_eq!(whole_skipped, split_skipped);
            // At most one outcome per line (and one for an empty input): nothing is read
            // twice, and a line is read, refused, skipped or a header.
            prop_assert!(whole.len() as u64 + whole_skipped <= lines.len() as u64 + 1);
            for r in &whole.rejected {
                prop_assert!(!r.reason.is_empty());
            }
        }
    }
}

/// Pieces of a Feodo Tracker JSON export, right and wrong: records (one with escapes and
/// brackets inside its strings), a record with a bad address, scalars, nesting, stray
/// brackets and quotes, line breaks, a two-byte character.
fn feodo_json_piece() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("["),
        Just("]"),
        Just(","),
        Just(", "),
        Just("\n"),
        Just("  "),
        Just(r#"{"ip_address": "192.0.2.1", "port": 443, "malware": "Emotet"}"#),
        Just(r#"{"ip_address": "192.0.2.2", "as_name": "A \"B\" ]}\\", "first_seen": "2013-01-17 07:44:46"}"#),
        Just("{\"ip_address\":\n \"192.0.2.3\", \"country\": \"FR\"}"),
        Just(r#"{"ip_address": "not an address"}"#),
        Just(r#"{"nested": [1, {"a": "]"}], "ip_address": "192.0.2.4"}"#),
        Just(r#""a string""#),
        Just("12"),
        Just("{"),
        Just("}"),
        Just("\""),
        Just("é"),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The export is read as it arrives, a record at a time: wherever the bytes are cut
    /// (even inside a character), the same events and the same rejections come out.
    #[test]
    fn feodo_json_reads_the_same_however_it_is_cut(
        pieces in proptest::collection::vec(feodo_json_piece(), 0..40),
        lead in prop_oneof![Just(""), Just("\n"), Just("  \n ")],
        cut in 0usize..600,
    ) {
        let text = format!("{lead}[{}", pieces.concat());
        let whole = decode_in_two("abusech-feodo", text.as_bytes(), text.len());
        let split = decode_in_two("abusech-feodo", text.as_bytes(), cut);
        let events = |b: &Batch| b.events.iter().map(|e| serde_json::Value::Object(e.to_intelmq()).to_string()).collect::<Vec<_>>();
        let rejected = |b: &Batch| b.rejected.iter().map(|r| (r.line, r.reason.clone(), r.raw.clone())).collect::<Vec<_>>();
        prop_assert_eq!(events(&whole), events(&split));
        prop_assert_eq!(rejected(&whole), rejected(&split));
        // Every record piece is an event or a rejection, and nothing is read twice.
        let records = pieces.iter().filter(|p| p.starts_with("{\"")).count();
        prop_assert!(whole.events.len() <= records);
    }
}
