//! Suricata EVE JSON. The first byte picks an event type; with its high bit set, the
//! fuzzed bytes become that type's nested object inside a well-formed record, so the
//! fuzzer reaches the dns (v2 and v3), flow, http, tls and alert readers rather than the
//! JSON syntax checks; otherwise they are read as they are. The second byte picks where
//! the input is cut in two. Never a panic, every rejection has a reason, and where the
//! input is cut changes nothing.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vedette_ingest::{Batch, Catalogue, Decoder};

const TYPES: &[&str] = &["dns", "flow", "http", "tls", "alert", "stats"];

fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(Catalogue::builtin)
}

fn decode(bytes: &[u8], cut: usize) -> (Batch, u64) {
    let mut decoder = Decoder::new(catalogue().get("suricata-eve").expect("a shipped feed"), "eve.json");
    let mut batch = Batch::default();
    decoder.push(&bytes[..cut], &mut batch);
    decoder.push(&bytes[cut..], &mut batch);
    decoder.finish(&mut batch);
    (batch, decoder.skipped())
}

fuzz_target!(|data: &[u8]| {
    let [pick, cut, rest @ ..] = data else { return };
    let kind = TYPES[usize::from(*pick & 0x7f) % TYPES.len()];
    let input = if pick & 0x80 != 0 {
        let mut record = format!(
            "{{\"timestamp\":\"2024-05-01T10:00:00.000001+0000\",\"flow_id\":1,\"event_type\":\"{kind}\",\"src_ip\":\"10.0.0.5\",\"src_port\":53211,\"dest_ip\":\"192.0.2.53\",\"dest_port\":53,\"proto\":\"UDP\",\"{kind}\":"
        )
        .into_bytes();
        record.extend_from_slice(rest);
        record.extend_from_slice(b"}\n");
        record
    } else {
        rest.to_vec()
    };
    let cut = usize::from(*cut) * input.len() / 255;
    let (whole, whole_skipped) = decode(&input, input.len());
    let (split, split_skipped) = decode(&input, cut.min(input.len()));
    assert!(whole.rejected.iter().all(|r| !r.reason.is_empty()));
    assert_eq!(whole.flows, split.flows);
    assert_eq!(whole.observations, split.observations);
    assert_eq!(whole.rejected, split.rejected);
    assert_eq!(whole.events.len(), split.events.len());
    assert_eq!(whole_skipped, split_skipped);
});
