//! Accuracy of the DNS detectors on synthetic traffic built from real names: the
//! held-out fifth of the benign list (never seen by the DGA model's training) for the
//! hosts that browse, the 360netlab `chinad` DGA names for the bots, random encodings
//! for the tunnels. The floors are set under the figures measured when they were written
//! (recorded beside each assertion), so a regression shows and noise does not.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use vedette_detect::{is_held_out, DgaModel, DnsBehaviour, DnsConfig, Home};
use vedette_model::{rcode, DnsLookup, FindingKind};

const BENIGN: &str = include_str!("../data/dns/benign-train.txt");
const DGA: &str = include_str!("../data/dns/dga-train.csv");

/// SplitMix64: repeatable randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn text(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len).map(|_| alphabet[self.below(alphabet.len())] as char).collect()
    }
}

/// A mistyped name: one letter of the first label doubled, dropped or swapped with the
/// next. Typos are what real names answer NXDOMAIN for.
fn typo(rng: &mut Rng, name: &str) -> String {
    let (label, rest) = name.split_once('.').unwrap_or((name, ""));
    let mut letters: Vec<char> = label.chars().collect();
    let i = rng.below(letters.len());
    match rng.below(3) {
        0 => letters.insert(i, letters[i]),
        1 if letters.len() > 1 => {
            letters.remove(i);
        }
        _ if i + 1 < letters.len() => letters.swap(i, i + 1),
        _ => letters.push('s'),
    }
    format!("{}.{rest}", letters.into_iter().collect::<String>())
}

fn held_out() -> Vec<&'static str> {
    BENIGN.lines().enumerate().filter(|(i, _)| is_held_out(*i)).map(|(_, n)| n).collect()
}

fn host(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i as u32))
}

fn lookup(t: i64, client: IpAddr, query: &str, nx: bool) -> DnsLookup {
    let mut l = DnsLookup::new(t, client, query);
    l.qtype = 1;
    l.rcode = Some(if nx { rcode::NXDOMAIN } else { rcode::NOERROR });
    if !nx {
        l.answers = vec!["203.0.113.10".parse().expect("an address")];
    }
    l
}

fn ratio(hit: usize, of: usize) -> f64 {
    if of == 0 {
        1.0
    } else {
        hit as f64 / of as f64
    }
}

/// The per-name false-positive rate the DGA threshold gives, as the DNS detector applies
/// it (labels of 7 letters or more).
#[test]
fn dga_scoring_flags_few_held_out_real_names() {
    let model = DgaModel::builtin();
    let config = DnsConfig::default();
    let names = held_out();
    let (mut scored, mut flagged) = (0usize, 0usize);
    for name in &names {
        if let Some(s) = model.score(name) {
            if s.label.len() >= config.dga_min_label {
                scored += 1;
                flagged += usize::from(s.dga);
            }
        }
    }
    let rate = ratio(flagged, scored);
    eprintln!("held-out real names: {flagged} of {scored} scored ({:.2} %) called generated", rate * 100.0);
    // Measured: 0.38 % (62 of 16,356).
    assert!(rate < 0.01, "{rate}");
}

/// 400 browsing hosts (200–2,000 distinct real names each, 5 % of them mistyped and
/// answered NXDOMAIN), 40 hosts with 30 % mistyped lookups, and 60 bots that also browse
/// and walk 10–60 `chinad` names (all NXDOMAIN but one).
#[test]
fn dga_candidate_hosts_are_mostly_bots() {
    let names = held_out();
    let generated: Vec<&str> = DGA.lines().skip(1).filter_map(|l| l.split(',').next()).collect();
    let mut rng = Rng(0x5eed);
    let home = Home::new(None, &["10.0.0.0/8"]).unwrap();
    let mut dns = DnsBehaviour::new(DnsConfig::default(), home);
    let (browsers, bots) = (440, 60);
    let mut t = 1_700_000_000_000_000i64;
    for h in 0..browsers + bots {
        let client = host(h);
        let distinct = 200 + rng.below(1_800);
        let nx_rate = if (400..440).contains(&h) { 0.3 } else { 0.05 };
        for _ in 0..distinct {
            t += 1_000_000;
            let name = *rng.pick(&names);
            let mistyped = rng.chance(nx_rate);
            let name = if mistyped { typo(&mut rng, name) } else { name.to_string() };
            let query = if rng.chance(0.5) { format!("www.{name}") } else { name };
            dns.observe(&lookup(t, client, &query, mistyped));
        }
        if h >= browsers {
            let walked = 10 + rng.below(51);
            let start = rng.below(generated.len());
            for i in 0..walked {
                t += 1_000_000;
                let name = generated[(start + i) % generated.len()];
                dns.observe(&lookup(t, client, name, i + 1 != walked));
            }
        }
    }
    let found = dns.finish();
    let flagged: BTreeSet<IpAddr> = found.suspects.iter().map(|s| s.ip).collect();
    let bots_found = flagged.iter().filter(|ip| **ip >= host(browsers)).count();
    let (precision, recall) = (ratio(bots_found, flagged.len()), ratio(bots_found, bots));
    let generated_set: BTreeSet<&str> = generated.iter().copied().collect();
    let domains: Vec<&str> =
        found.findings.iter().filter(|f| f.kind == FindingKind::DgaDomain).map(|f| f.subject.as_str()).collect();
    let domain_hits = domains.iter().filter(|d| generated_set.contains(*d)).count();
    let domain_precision = ratio(domain_hits, domains.len());
    eprintln!(
        "DGA candidates: {} flagged, {bots_found} of {bots} bots: precision {precision:.3}, recall {recall:.3}; \
         dga_domain findings: {} ({domain_hits} generated, precision {domain_precision:.3})",
        flagged.len(),
        domains.len()
    );
    // Measured: candidates precision 1.000 (60 of 60), recall 1.000; dga_domain
    // precision 0.996 (254 of 255). The hosts that mistype 30 % of their names are all
    // left out: their few generated-looking NXDOMAIN names are a small share of their
    // NXDOMAIN answers (without that rule one of the 40 was a candidate).
    assert!(precision >= 0.95, "precision {precision}");
    assert!(recall >= 0.8, "recall {recall}");
    assert!(domain_precision >= 0.9, "dga_domain precision {domain_precision}");
}

/// 40 tunnels (hex, base32 and base64-like labels of 20–60 characters, 100–800
/// queries, one or two hosts) among busy benign lookups with subdomains, reverse
/// lookups, blocklist and anti-virus lookups, and a hash service many hosts ask — and
/// one service no list knows that a single host asks for hashes: the detector cannot
/// tell it from a tunnel (an analyst adds it to the known-good list), so it counts
/// against precision here.
#[test]
fn dns_tunnels_are_found_and_services_are_not() {
    let names = held_out();
    let mut rng = Rng(0x7e11);
    let home = Home::new(None, &["10.0.0.0/8"]).unwrap();
    let mut dns = DnsBehaviour::new(DnsConfig::default(), home);
    let words = ["www", "mail", "cdn", "api", "img", "static", "m", "login", "assets", "news", "video", "shop"];
    let hex = b"0123456789abcdef";
    let base32 = b"abcdefghijklmnopqrstuvwxyz234567";
    let base64ish = b"abcdefghijklmnopqrstuvwxyz0123456789-";
    let mut t = 1_700_000_000_000_000i64;
    let mut lookups: Vec<DnsLookup> = Vec::new();
    // Browsing, with the subdomains real sites use, and CDN edge names.
    for _ in 0..200_000 {
        t += 100_000;
        let client = host(rng.below(500));
        let name = *rng.pick(&names);
        let query = match rng.below(4) {
            0 => name.to_string(),
            1 => format!("{}.{name}", rng.pick(&words)),
            2 => format!("{}{}.{}.{name}", rng.pick(&words), rng.below(100), rng.pick(&words)),
            _ => format!("e{}.dscx.{}", rng.below(99_999), rng.pick(&["akamaiedge.net", "cloudfront.net"])),
        };
        lookups.push(lookup(t, client, &query, rng.chance(0.03)));
    }
    // Services that put data in names: a mail server's blocklist lookups, reverse
    // lookups, anti-virus hash lookups, and a hash service every host asks.
    for _ in 0..5_000 {
        t += 100_000;
        let o = rng.next().to_be_bytes();
        let mail = host(7);
        lookups.push(lookup(t, mail, &format!("{}.{}.{}.{}.zen.spamhaus.org", o[0], o[1], o[2], o[3]), true));
        lookups.push(lookup(t, mail, &format!("{}.{}.{}.{}.in-addr.arpa", o[4], o[5], o[6], o[7]), false));
        lookups.push(lookup(t, host(8), &format!("{}.0.avqs.mcafee.com", rng.text(hex, 32)), false));
        lookups.push(lookup(
            t,
            host(rng.below(500)),
            &format!("{}.hash.reputation-service.com", rng.text(hex, 40)),
            false,
        ));
        if rng.chance(0.05) {
            lookups.push(lookup(t, host(9), &format!("{}.files.backup-dedup.net", rng.text(hex, 40)), false));
        }
    }
    // The tunnels.
    let mut tunnels = BTreeSet::new();
    for k in 0..40 {
        let domain = format!(
            "{}{k}.{}",
            rng.pick(&["sync", "cdn-update", "metrics", "files"]),
            rng.pick(&["net", "com", "xyz"])
        );
        tunnels.insert(domain.clone());
        let alphabet: &[u8] = match k % 3 {
            0 => hex,
            1 => base32,
            _ => base64ish,
        };
        let ends = [host(1_000 + 2 * k), host(1_001 + 2 * k)];
        for _ in 0..100 + rng.below(700) {
            t += 1_000_000;
            let len = 20 + rng.below(41);
            let label = rng.text(alphabet, len);
            let query = if len > 30 && rng.chance(0.5) {
                format!("{}.{}.{domain}", &label[..len / 2], &label[len / 2..])
            } else {
                format!("{label}.t.{domain}")
            };
            let client = if rng.chance(0.7) { ends[0] } else { ends[1] };
            let mut l = lookup(t, client, &query, false);
            l.qtype = 16;
            lookups.push(l);
        }
    }
    lookups.sort_by_key(|l| l.time_us);
    for l in &lookups {
        dns.observe(l);
    }
    let found = dns.finish();
    let flagged: BTreeSet<String> =
        found.findings.iter().filter(|f| f.kind == FindingKind::DnsTunnel).map(|f| f.subject.clone()).collect();
    let hits = flagged.intersection(&tunnels).count();
    let (precision, recall) = (ratio(hits, flagged.len()), ratio(hits, tunnels.len()));
    let wrong: Vec<&String> = flagged.difference(&tunnels).collect();
    eprintln!(
        "DNS tunnels: {} flagged, {hits} of {} tunnels: precision {precision:.3}, recall {recall:.3}; wrong: {wrong:?}",
        flagged.len(),
        tunnels.len()
    );
    // Measured: precision 0.976 (backup-dedup.net is the one wrong), recall 1.000.
    assert!(precision >= 0.95, "precision {precision}");
    assert!(recall >= 0.9, "recall {recall}");
    let browsers = found.suspects.iter().filter(|s| s.ip < host(1_000) && s.ip != host(9)).count();
    assert_eq!(browsers, 0, "only the hosts at a tunnel's end are candidates");
}
