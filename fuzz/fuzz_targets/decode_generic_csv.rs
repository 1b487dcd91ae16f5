//! The table-driven (generic) format on text that starts like a real feed: a known header
//! line followed by fuzzed rows, so the fuzzer spends its time in the row path.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vedette_ingest::{decode_all, Catalogue};

const HEADERS: &[(&str, &str)] = &[
    ("abusech-threatfox", "# \"first_seen_utc\", \"ioc_id\", \"ioc_value\", \"ioc_type\", \"threat_type\", \"fk_malware\", \"malware_alias\", \"malware_printable\", \"last_seen_utc\", \"confidence_level\", \"is_compromised\", \"reference\", \"tags\", \"anonymous\", \"reporter\"\n"),
    ("abusech-urlhaus", "# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter\n"),
    ("shadowserver", "timestamp,protocol,src_ip,src_port,src_asn,src_geo,src_region,src_city,src_hostname,src_naics,src_sector,device_vendor,device_type,device_model,dst_ip,dst_port,dst_asn,dst_geo,dst_region,dst_city,dst_hostname,dst_naics,dst_sector,public_source,infection,family,tag,application,version,event_id,http_url,http_host,http_agent,forwarded_by,ssl_cipher,http_referer\n"),
    ("dshield-block", "Start\tEnd\tNetblock\tAttacks\tName\tCountry\temail\n"),
    ("spamhaus-drop", "; Spamhaus DROP List\n"),
    ("cymru-cap", "# category|address|asn|timestamp|optional_information|asninfo\n"),
];

fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(Catalogue::builtin)
}

fuzz_target!(|data: &[u8]| {
    let [pick, rest @ ..] = data else { return };
    let (feed, header) = HEADERS[usize::from(*pick) % HEADERS.len()];
    let mut input = header.as_bytes().to_vec();
    input.extend_from_slice(rest);
    let batch = decode_all(catalogue().get(feed).expect("a shipped feed"), "fuzz.csv", &input);
    assert!(batch.rejected.iter().all(|r| !r.reason.is_empty()));
});
