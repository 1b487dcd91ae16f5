//! The demo's DNS side: the names C2 servers hide behind, a domain generation algorithm,
//! a DNS tunnel, benign lookups and a mail server's blocklist queries (which look like a
//! tunnel and must not be called one), written as a Zeek `dns.log`; plus the ThreatFox
//! export that lists C2 domains and the log of a sinkhole operator.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::{Context, Result};

use super::rng::Rng;

/// Syllables for names people choose (benign sites, C2 domains that pose as services).
const WORDS: &[&str] = &[
    "news", "shop", "mail", "cloud", "video", "music", "travel", "bank", "sports", "weather", "photo", "game",
    "market", "china", "online", "home", "city", "book", "health", "auto", "food", "tech", "data", "soft", "star",
    "sun", "blue", "green", "east", "west", "life", "media", "group", "global", "net", "link", "web", "info", "school",
    "study", "job", "house", "car", "tea", "art", "film", "radio", "store", "mobile", "office", "design", "service",
    "update", "secure", "portal", "world", "daily", "post", "times", "live",
];
const TLDS: &[&str] = &["com", "com", "com", "cn", "net", "org", "com.cn", "info"];
const C2_TLDS: &[&str] = &["top", "xyz", "com", "net", "ru", "info"];

/// A name a person would register: two words, sometimes a hyphen or a number.
pub fn benign_name(rng: &mut Rng) -> String {
    let (a, b) = (*rng.pick(WORDS), *rng.pick(WORDS));
    let glue = if rng.chance(0.2) { "-" } else { "" };
    let host = *rng.pick(&["www", "www", "", "m", "api", "img"]);
    let tld = *rng.pick(TLDS);
    if host.is_empty() {
        format!("{a}{glue}{b}.{tld}")
    } else {
        format!("{host}.{a}{glue}{b}.{tld}")
    }
}

/// A C2 domain posing as a service (`secure-update42.top`).
pub fn c2_domain(rng: &mut Rng) -> String {
    format!("{}-{}{}.{}", rng.pick(WORDS), rng.pick(WORDS), rng.range(1, 99), rng.pick(C2_TLDS))
}

/// The demo's domain generation algorithm: for a day, `count` names of 10 to 15 random
/// letters, the same for every bot of the family (seeded by the day, as real DGAs are).
pub fn dga_names(family_seed: u64, day: i64, count: usize) -> Vec<String> {
    let mut rng = Rng::new(family_seed.wrapping_mul(31).wrapping_add(day as u64));
    (0..count)
        .map(|_| {
            let len = rng.range(10, 15);
            let label: String = (0..len).map(|_| (b'a' + rng.below(26) as u8) as char).collect();
            format!("{label}.{}", rng.pick(&["com", "net", "org", "info", "biz"]))
        })
        .collect()
}

/// A subdomain label carrying 20 bytes of tunnelled data, base32-encoded.
pub fn tunnel_label(rng: &mut Rng) -> String {
    const BASE32: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    (0..32).map(|_| *rng.pick(BASE32) as char).collect()
}

const DNS_HEADER: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tdns\n#open\t2012-12-01-00-00-00\n\
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\ttrans_id\trtt\tquery\tqclass\tqclass_name\tqtype\tqtype_name\trcode\trcode_name\tAA\tTC\tRD\tRA\tZ\tanswers\tTTLs\trejected\n\
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tcount\tinterval\tstring\tcount\tstring\tcount\tstring\tcount\tstring\tbool\tbool\tbool\tbool\tcount\tvector[string]\tvector[interval]\tbool\n";

/// One lookup to write: when, who asked, what, and the answer (`None` = NXDOMAIN).
pub struct Lookup {
    pub ts_us: i64,
    pub client: Ipv4Addr,
    pub query: String,
    pub txt: bool,
    pub answer: Option<Ipv4Addr>,
}

/// Writes the lookups as a Zeek dns.log, sorted by time, through `resolver`.
pub fn write_dns_log(path: &Path, mut lookups: Vec<Lookup>, resolver: Ipv4Addr, rng: &mut Rng) -> Result<u64> {
    lookups.sort_by_key(|l| l.ts_us);
    let mut out = String::with_capacity(lookups.len() * 160 + DNS_HEADER.len());
    out.push_str(DNS_HEADER);
    for l in &lookups {
        let (qtype, qname) = if l.txt { (16, "TXT") } else { (1, "A") };
        let (rcode, rname, answers, ttls) = match l.answer {
            Some(ip) => (0, "NOERROR", ip.to_string(), "300.000000".to_string()),
            None if l.txt => (0, "NOERROR", "TXT 12 aGVsbG8gd29ybGQ=".into(), "0.000000".into()),
            None => (3, "NXDOMAIN", "-".into(), "-".into()),
        };
        let _ = writeln!(
            out,
            "{}.{:06}\tD{:016x}\t{}\t{}\t{resolver}\t53\tudp\t{}\t0.{:06}\t{}\t1\tC_INTERNET\t{qtype}\t{qname}\t{rcode}\t{rname}\tF\tF\tT\tT\t0\t{answers}\t{ttls}\tF",
            l.ts_us.div_euclid(1_000_000),
            l.ts_us.rem_euclid(1_000_000),
            rng.next_u64(),
            l.client,
            rng.range(32768, 60999),
            rng.below(65536),
            rng.range(800, 90_000),
            l.query,
        );
    }
    out.push_str("#close\t2013-07-01-00-00-00\n");
    std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(lookups.len() as u64)
}

/// A C2 domain as a ThreatFox CSV export lists it.
pub struct ListedDomain {
    pub first_seen: String,
    pub domain: String,
    pub family: &'static str,
}

/// Writes a ThreatFox CSV export (commented header, `", "` separators, entry-count trailer).
pub fn write_threatfox(path: &Path, domains: &[ListedDomain]) -> Result<()> {
    let mut out = String::from(
        "################################################################\n# ThreatFox IOCs: CSV export                                   #\n# Synthetic sample written by `vedette demo`                   #\n################################################################\n#\n",
    );
    out.push_str("# \"first_seen_utc\", \"ioc_id\", \"ioc_value\", \"ioc_type\", \"threat_type\", \"fk_malware\", \"malware_alias\", \"malware_printable\", \"last_seen_utc\", \"confidence_level\", \"is_compromised\", \"reference\", \"tags\", \"anonymous\", \"reporter\"\n");
    for (i, d) in domains.iter().enumerate() {
        let _ = writeln!(
            out,
            "\"{}\", \"{}\", \"{}\", \"domain\", \"botnet_cc\", \"win.{}\", \"None\", \"{}\", \"\", \"75\", \"0\", \"\", \"None\", \"0\", \"demo\"",
            d.first_seen,
            900_000 + i,
            d.domain,
            d.family.to_lowercase(),
            d.family
        );
    }
    let _ = writeln!(out, "# Number of entries: {}", domains.len());
    std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))
}

/// One bot reaching the sinkhole.
pub struct SinkholeHit {
    pub ts_us: i64,
    pub bot: Ipv4Addr,
    pub domain: String,
    pub family: &'static str,
}

/// Writes a sinkhole operator's log: `time,bot_ip,sinkholed_domain,family`.
pub fn write_sinkhole_log(path: &Path, mut hits: Vec<SinkholeHit>) -> Result<()> {
    hits.sort_by_key(|h| h.ts_us);
    let mut out = String::from("time,bot_ip,sinkholed_domain,family\n");
    for h in &hits {
        let time = chrono::DateTime::from_timestamp_micros(h.ts_us).unwrap_or_default();
        let _ = writeln!(out, "{},{},{},{}", time.format("%Y-%m-%dT%H:%M:%SZ"), h.bot, h.domain, h.family);
    }
    std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dga_names_depend_on_the_day_only() {
        assert_eq!(dga_names(5, 100, 3), dga_names(5, 100, 3));
        assert_ne!(dga_names(5, 100, 3), dga_names(5, 101, 3));
        assert!(dga_names(5, 100, 40).iter().all(|n| n.split('.').next().is_some_and(|l| l.len() >= 10)));
    }
}
