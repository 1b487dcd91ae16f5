//! Any bytes, decoded by any feed of the catalogue (chosen by the first byte) and cut in
//! two at a point chosen by the second: never a panic, and every rejection has a reason;
//! with the first byte's high bit set, the decoder seals and every event comes out sealed.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vedette_ingest::{Batch, Catalogue, Decoder, Sealing};

fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(Catalogue::builtin)
}

fuzz_target!(|data: &[u8]| {
    let [pick, cut, rest @ ..] = data else { return };
    let entries = catalogue().entries();
    let feed = &entries[usize::from(*pick) % entries.len()];
    // The file name matters to some feeds (Shadowserver report types, blocklist.de lists).
    let names = ["feed.csv", "2024-05-01-scan_smb-cn.csv", "2024-05-01-event4_sinkhole_http.csv", "ssh.txt"];
    let name = names[usize::from(*cut) % names.len()];
    let cut = (usize::from(*cut) * rest.len() / 255).min(rest.len());
    // Sealed as read (as the pipeline decodes) on every other pick.
    let mut decoder = Decoder::new(feed, name);
    if pick & 0x80 != 0 {
        decoder = decoder.sealing(Sealing::of_feed(feed));
    }
    let mut batch = Batch::default();
    decoder.push(&rest[..cut], &mut batch);
    decoder.push(&rest[cut..], &mut batch);
    decoder.finish(&mut batch);
    assert!(batch.rejected.iter().all(|r| !r.reason.is_empty()));
    assert!(pick & 0x80 == 0 || batch.events.iter().all(|e| e.sealed_hash.is_some()));
});
