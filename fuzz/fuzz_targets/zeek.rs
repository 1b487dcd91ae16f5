//! Zeek logs (conn, dns, http, ssl), TSV or JSON: the first byte picks the log and
//! whether a real `#fields` header comes first, so the fuzzer spends its time in the
//! record path; the second byte picks where the input is cut in two. Never a panic, every
//! rejection has a reason, and where the input is cut changes nothing.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vedette_ingest::{Batch, Catalogue, Decoder};

const LOGS: &[(&str, &str)] = &[
    ("zeek-conn", "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\torig_pkts\tresp_pkts"),
    ("zeek-dns", "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\ttrans_id\trtt\tquery\tqclass\tqclass_name\tqtype\tqtype_name\trcode\trcode_name\tanswers\tTTLs"),
    ("zeek-http", "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\ttrans_depth\tmethod\thost\turi\treferrer\tversion\tuser_agent"),
    ("zeek-ssl", "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tversion\tcipher\tserver_name\tcert_chain_fps\tja3"),
];

fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(Catalogue::builtin)
}

fn decode(feed: &str, bytes: &[u8], cut: usize) -> (Batch, u64) {
    let mut decoder = Decoder::new(catalogue().get(feed).expect("a shipped feed"), "fuzz.log");
    let mut batch = Batch::default();
    decoder.push(&bytes[..cut], &mut batch);
    decoder.push(&bytes[cut..], &mut batch);
    decoder.finish(&mut batch);
    (batch, decoder.skipped())
}

fuzz_target!(|data: &[u8]| {
    let [pick, cut, rest @ ..] = data else { return };
    let (feed, fields) = LOGS[usize::from(*pick) % LOGS.len()];
    let mut input = Vec::new();
    if pick & 0x80 != 0 {
        input.extend_from_slice(
            b"#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#fields\t",
        );
        input.extend_from_slice(fields.as_bytes());
        input.push(b'\n');
    }
    input.extend_from_slice(rest);
    let cut = usize::from(*cut) * input.len() / 255;
    let (whole, whole_skipped) = decode(feed, &input, input.len());
    let (split, split_skipped) = decode(feed, &input, cut.min(input.len()));
    assert!(whole.rejected.iter().all(|r| !r.reason.is_empty()));
    assert_eq!(whole.flows, split.flows);
    assert_eq!(whole.observations, split.observations);
    assert_eq!(whole.rejected, split.rejected);
    assert_eq!(whole_skipped, split_skipped);
});
