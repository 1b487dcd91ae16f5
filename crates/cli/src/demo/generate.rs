//! Builds the demo's world: a home country with its networks and ASes, C2 servers across
//! many countries with a realistic skew (a few countries host most of them, a few servers
//! control most hosts), infected home hosts assigned to them, benign traffic around it,
//! and the files a CERT would receive:
//!
//! - `ipblocklist.csv`: a Feodo Tracker-format indicator file listing only part of the
//!   C2s (and some that nobody contacts), with a few malformed rows;
//! - `conn.log`: Zeek conn.log lines of infected hosts reaching their C2s amid benign
//!   traffic, with a few malformed lines;
//! - `threatfox.csv`: a ThreatFox export listing the domains of some C2s no address list
//!   has, which their bots resolve in `dns.log` before connecting;
//! - `dns.log`: Zeek dns.log with those lookups, a DGA family's daily names (mostly
//!   NXDOMAIN), a DNS tunnel, benign lookups and a mail server's blocklist queries;
//! - `sinkhole.csv`: bots of sinkholed families reaching a sinkhole, home and foreign;
//! - `delegated-demo-extended`, `pfx2as.txt`, `asn.txt`: a small registry and routing
//!   dataset with planted conflicts (a Chinese range routed by a Korean bank's AS, a US range
//!   routed from Germany, a multi-origin prefix, an unrouted range);
//! - `ground-truth.json`: everything above, as the generator decided it.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde_json::json;

use super::dns;
use super::rng::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scale {
    /// About 60 C2 servers and 1,200 infected hosts: for tests.
    Small,
    /// About 400 C2 servers and 10,000 infected hosts.
    Default,
    /// A national CERT's scale (CNCERT, first five months of 2013): 13,408 C2 servers and
    /// 5.63 million infected home hosts, with a day of their contacts (about 2.5 GB of
    /// conn.log).
    National,
}

struct Params {
    /// First simulated day and how many: a month each side of the report period for the
    /// smaller scales, the period's last day for the national one.
    span_from: &'static str,
    span_days: i64,
    /// Longest infection, in days.
    max_window: i64,
    /// Sort conn.log by time (it must then fit in memory).
    sorted: bool,
    /// Write every infection into the ground truth (not at national scale).
    detailed_truth: bool,
    /// Share of C2 servers the Feodo-format feed lists.
    listed_share: f64,
    /// Share of the hosts of unlisted C2s whose implant beacons hourly.
    beaconing_share: f64,
    c2_servers: usize,
    infected_hosts: usize,
    clean_hosts: usize,
    benign_flows: usize,
    dead_indicators: usize,
    foreign_victim_flows: usize,
    /// Write the DNS side (`threatfox.csv`, `dns.log`, `sinkhole.csv`).
    dns: bool,
    /// Home bots of sinkholed families in the sinkhole's log.
    sinkholed_bots: usize,
}

impl Scale {
    fn params(self) -> Params {
        match self {
            Scale::Small => Params {
                span_from: SPAN_FROM,
                span_days: SPAN_DAYS,
                max_window: 60,
                sorted: true,
                detailed_truth: true,
                listed_share: LISTED_SHARE,
                beaconing_share: 0.3,
                c2_servers: 60,
                infected_hosts: 1_200,
                clean_hosts: 600,
                benign_flows: 15_000,
                dead_indicators: 8,
                foreign_victim_flows: 100,
                dns: true,
                sinkholed_bots: 40,
            },
            Scale::Default => Params {
                span_from: SPAN_FROM,
                span_days: SPAN_DAYS,
                max_window: 60,
                sorted: true,
                detailed_truth: true,
                listed_share: LISTED_SHARE,
                beaconing_share: 0.3,
                c2_servers: 400,
                infected_hosts: 10_000,
                clean_hosts: 4_000,
                benign_flows: 150_000,
                dead_indicators: 40,
                foreign_victim_flows: 600,
                dns: true,
                sinkholed_bots: 300,
            },
            Scale::National => Params {
                span_from: PERIOD_TO,
                span_days: 1,
                max_window: 1,
                sorted: false,
                detailed_truth: false,
                // Every C2 is listed, so the store holds the whole national scale (finding
                // unlisted C2s is the beaconing detector's work, not indicator matching's).
                listed_share: 1.0,
                beaconing_share: 0.0,
                c2_servers: 13_408,
                infected_hosts: 5_630_000,
                clean_hosts: 1_000_000,
                benign_flows: 4_000_000,
                dead_indicators: 1_000,
                foreign_victim_flows: 50_000,
                dns: false,
                sinkholed_bots: 0,
            },
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Scale::Small => "small",
            Scale::Default => "default",
            Scale::National => "national",
        }
    }
}

pub const HOME: &str = "CN";
pub const PERIOD_FROM: &str = "2013-01-01";
pub const PERIOD_TO: &str = "2013-05-31";
/// Traffic is simulated a month on each side of the period, so period filtering matters.
const SPAN_FROM: &str = "2012-12-01";
const SPAN_DAYS: i64 = 212;

/// Where overseas C2 servers sit, with weights loosely after published national reports
/// (the US hosting by far the most).
const C2_COUNTRIES: &[(&str, f64)] = &[
    ("US", 30.0),
    ("JP", 6.0),
    ("KR", 6.0),
    ("HK", 5.0),
    ("DE", 5.0),
    ("RU", 5.0),
    ("NL", 5.0),
    ("TW", 4.0),
    ("FR", 4.0),
    ("GB", 4.0),
    ("CA", 3.0),
    ("UA", 3.0),
    ("BR", 3.0),
    ("IN", 3.0),
    ("SG", 3.0),
    ("TR", 2.0),
    ("VN", 2.0),
    ("TH", 2.0),
    ("RO", 2.0),
    ("PL", 2.0),
    ("IT", 2.0),
    ("ES", 2.0),
    ("AU", 2.0),
    ("IR", 1.0),
    ("ZA", 1.0),
    ("MX", 1.0),
    ("AR", 1.0),
    ("EG", 1.0),
    ("NG", 1.0),
    ("KE", 1.0),
];
/// Share of C2 servers inside the home country.
const DOMESTIC_SHARE: f64 = 0.08;
/// Share of C2 servers the Feodo-format feed lists.
const LISTED_SHARE: f64 = 0.65;
/// The update service benign hosts check every hour (a known-good name).
const UPDATE_NAME: &str = "ctldl.windowsupdate.com";
/// A beaconing implant calls home every hour, ±30 s.
const BEACON_INTERVAL_US: i64 = 3_600_000_000;

const FAMILIES: &[(&str, &[u16])] = &[
    ("Emotet", &[443, 8080, 7080]),
    ("Dridex", &[443, 3389, 4664]),
    ("TrickBot", &[447, 449, 443]),
    ("QakBot", &[443, 995, 2222]),
    ("BazarLoader", &[443]),
    ("IcedID", &[443, 8443]),
    ("Heodo", &[8080, 443]),
];

fn rir_of(cc: &str) -> &'static str {
    match cc {
        "US" | "CA" => "arin",
        "DE" | "RU" | "NL" | "FR" | "GB" | "UA" | "TR" | "RO" | "PL" | "IT" | "ES" | "IR" => "ripencc",
        "BR" | "MX" | "AR" => "lacnic",
        "ZA" | "EG" | "NG" | "KE" => "afrinic",
        _ => "apnic",
    }
}

/// A /16 of the synthetic address plan.
#[derive(Debug, Clone)]
struct Block {
    first: [u8; 2],
    registry_cc: String,
    /// Origin ASes; empty when the block is not routed.
    origins: Vec<u32>,
    /// Planted conflicts an attribution engine should report for addresses in it.
    conflicts: Vec<&'static str>,
}

struct As {
    number: u32,
    cc: String,
    name: String,
}

struct World {
    rng: Rng,
    blocks: Vec<Block>,
    ases: Vec<As>,
    used_blocks: HashSet<[u8; 2]>,
    used_addresses: HashSet<Ipv4Addr>,
}

/// First octets outside special-use space.
fn public_first_octet(rng: &mut Rng) -> u8 {
    loop {
        let a = rng.range(1, 223) as u8;
        if !matches!(a, 10 | 100 | 127 | 169 | 172 | 192 | 198 | 203) {
            return a;
        }
    }
}

impl World {
    fn new_as(&mut self, cc: &str, name: String) -> u32 {
        let number = 4_200_000_000 + self.ases.len() as u32 * 7 + 11;
        self.ases.push(As { number, cc: cc.to_string(), name });
        number
    }

    fn new_block(&mut self, registry_cc: &str, origins: Vec<u32>, conflicts: Vec<&'static str>) -> usize {
        let first = loop {
            let candidate = [public_first_octet(&mut self.rng), self.rng.below(256) as u8];
            if self.used_blocks.insert(candidate) {
                break candidate;
            }
        };
        self.blocks.push(Block { first, registry_cc: registry_cc.to_string(), origins, conflicts });
        self.blocks.len() - 1
    }

    /// A block registered and routed in `cc`, with an AS of its own.
    fn plain_block(&mut self, cc: &str) -> usize {
        let n = self.blocks.iter().filter(|b| b.registry_cc == cc).count() + 1;
        let asn = self.new_as(cc, format!("DEMO-{cc}-NET-{n}"));
        self.new_block(cc, vec![asn], Vec::new())
    }

    fn address_in(&mut self, block: usize) -> Ipv4Addr {
        let [a, b] = self.blocks[block].first;
        loop {
            let ip = Ipv4Addr::new(a, b, self.rng.below(256) as u8, self.rng.range(1, 254) as u8);
            if self.used_addresses.insert(ip) {
                return ip;
            }
        }
    }
}

/// The files the demo wrote.
#[derive(Debug, Clone)]
pub struct DemoFiles {
    pub feodo: PathBuf,
    pub conn_log: PathBuf,
    /// The DNS side, when the scale has one.
    pub threatfox: Option<PathBuf>,
    pub dns_log: Option<PathBuf>,
    pub sinkhole_log: Option<PathBuf>,
    pub delegated: PathBuf,
    pub pfx2as: PathBuf,
    pub as_names: PathBuf,
    pub ground_truth: PathBuf,
}

struct C2 {
    ip: Ipv4Addr,
    port: u16,
    family: &'static str,
    block: usize,
    /// In the Feodo-format address list.
    listed: bool,
    /// The domain its bots resolve, listed by the ThreatFox export.
    domain: Option<String>,
    /// Its bots find it through the DGA's names instead.
    dga: bool,
}

impl C2 {
    /// Whether some feed lists it (by address or by domain).
    fn known(&self) -> bool {
        self.listed || self.domain.is_some()
    }
}

struct Line {
    ts_us: i64,
    text: String,
}

fn ts(day0: DateTime<Utc>, us: i64) -> i64 {
    day0.timestamp_micros() + us
}

fn uid(rng: &mut Rng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut s = String::from("C");
    for _ in 0..17 {
        s.push(*rng.pick(ALPHABET) as char);
    }
    s
}

#[allow(clippy::too_many_arguments)]
fn conn_line(
    rng: &mut Rng,
    ts_us: i64,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    dport: u16,
    proto: &str,
    orig: u64,
    resp: u64,
) -> String {
    let sport = rng.range(32768, 60999);
    let duration = rng.range(20_000, 4_000_000);
    let (opk, rpk) = (orig / 500 + 3, resp / 1000 + 3);
    let service = match (proto, dport) {
        ("udp", 53) => "dns",
        (_, 443) | (_, 8443) => "ssl",
        (_, 80) | (_, 8080) => "http",
        _ => "-",
    };
    format!(
        "{}.{:06}\t{}\t{src}\t{sport}\t{dst}\t{dport}\t{proto}\t{service}\t{}.{:06}\t{orig}\t{resp}\tSF\tT\tF\t0\tShADadFf\t{opk}\t{}\t{rpk}\t{}\t-\t{}",
        ts_us.div_euclid(1_000_000),
        ts_us.rem_euclid(1_000_000),
        uid(rng),
        duration / 1_000_000,
        duration % 1_000_000,
        orig + opk * 40,
        resp + rpk * 40,
        if proto == "udp" { 17 } else { 6 },
    )
}

const CONN_HEADER: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#open\t2012-12-01-00-00-00\n\
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\tip_proto\n\
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\tcount\n";

/// Malformed lines planted in conn.log, as a real sensor's log has: a cut line, a bad
/// address, a bad time, bytes that are not UTF-8.
const BAD_CONN: [&[u8]; 4] = [
    b"1357000000.000000\tCbad1\t36.1.1.1\t40000\n",
    b"1357000000.000000\tCbad2\t36.1.1.999\t40000\t8.8.8.8\t53\tudp\tdns\t0.1\t40\t80\tSF\tT\tF\t0\tDd\t1\t68\t1\t108\t-\t17\n",
    b"yesterday\tCbad3\t36.1.1.1\t40000\t8.8.8.8\t53\tudp\tdns\t0.1\t40\t80\tSF\tT\tF\t0\tDd\t1\t68\t1\t108\t-\t17\n",
    b"1357000000.000000\tC\xff\xfe\t36.1.1.1\t40000\t8.8.8.8\t53\tudp\tdns\t0.1\t40\t80\tSF\tT\tF\t0\tDd\t1\t68\t1\t108\t-\t17\n",
];

/// The conn.log being written: held and sorted by time (as Zeek writes it) for the
/// smaller scales, streamed as generated for the national one, which would not fit.
struct ConnLog {
    out: std::io::BufWriter<std::fs::File>,
    held: Option<Vec<Line>>,
    written: u64,
    planted: usize,
}

impl ConnLog {
    fn create(path: &Path, sorted: bool) -> Result<ConnLog> {
        let file = std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        out.write_all(CONN_HEADER.as_bytes())?;
        Ok(ConnLog { out, held: sorted.then(Vec::new), written: 0, planted: 0 })
    }

    fn push(&mut self, ts_us: i64, text: String) -> Result<()> {
        match &mut self.held {
            Some(held) => held.push(Line { ts_us, text }),
            None => self.write(&text, 200_000)?,
        }
        Ok(())
    }

    fn write(&mut self, text: &str, every: u64) -> Result<()> {
        if self.written > 0 && self.written % every == 0 && self.planted < BAD_CONN.len() {
            self.out.write_all(BAD_CONN[self.planted])?;
            self.planted += 1;
        }
        self.out.write_all(text.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.written += 1;
        Ok(())
    }

    /// Writes what is held and closes the log; returns (lines, planted bad lines).
    fn finish(mut self) -> Result<(u64, usize)> {
        if let Some(mut held) = self.held.take() {
            held.sort_by_key(|l| l.ts_us);
            let every = (held.len() as u64 / 5).max(1);
            for line in &held {
                self.write(&line.text, every)?;
            }
        }
        self.out.write_all(b"#close\t2013-07-01-00-00-00\n")?;
        self.out.flush()?;
        Ok((self.written, self.planted))
    }
}

/// Writes the demo's inputs and ground truth into `dir`.
pub fn generate(dir: &Path, seed: u64, scale: Scale) -> Result<DemoFiles> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let p = scale.params();
    let mut w = World {
        rng: Rng::new(seed),
        blocks: Vec::new(),
        ases: Vec::new(),
        used_blocks: HashSet::new(),
        used_addresses: HashSet::new(),
    };

    // The address plan: home blocks for hosts and domestic C2s, a few blocks per foreign
    // country, and the planted conflicts.
    let home_blocks: Vec<usize> =
        (0..((p.infected_hosts + p.clean_hosts) / 2_000).min(250) + 4).map(|_| w.plain_block(HOME)).collect();
    let mut country_blocks: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (cc, weight) in C2_COUNTRIES {
        let n = if *weight >= 5.0 { 3 } else { 1 };
        country_blocks.insert(cc, (0..n).map(|_| w.plain_block(cc)).collect());
    }
    let kr_bank = w.new_as("KR", "DEMO-KR-BANK Korean bank".into());
    let cn_range_kr_bank = w.new_block(HOME, vec![kr_bank], vec!["AS_CC_MISMATCH"]);
    let de_hoster = w.new_as("DE", "DEMO-DE-HOSTING".into());
    let us_range_de_as = w.new_block("US", vec![de_hoster], vec!["AS_CC_MISMATCH"]);
    let nl_a = w.new_as("NL", "DEMO-NL-TRANSIT-A".into());
    let nl_b = w.new_as("NL", "DEMO-NL-TRANSIT-B".into());
    let nl_moas = w.new_block("NL", vec![nl_a, nl_b], vec!["MOAS"]);
    let ru_unrouted = w.new_block("RU", Vec::new(), vec!["UNROUTED"]);

    // C2 servers: planted ones first, then domestic and overseas by weight.
    let mut c2s: Vec<C2> = Vec::new();
    let new_c2 = |w: &mut World, block: usize| {
        let (family, ports) = *w.rng.pick(FAMILIES);
        let port = *w.rng.pick(ports);
        let ip = w.address_in(block);
        let listed = w.rng.chance(p.listed_share);
        C2 { ip, port, family, block, listed, domain: None, dga: false }
    };
    for block in [cn_range_kr_bank, cn_range_kr_bank, us_range_de_as, us_range_de_as, nl_moas, ru_unrouted] {
        c2s.push(new_c2(&mut w, block));
    }
    let weights: Vec<f64> = C2_COUNTRIES.iter().map(|(_, weight)| *weight).collect();
    while c2s.len() < p.c2_servers {
        let block = if w.rng.chance(DOMESTIC_SHARE) {
            *w.rng.pick(&home_blocks)
        } else {
            let cc = C2_COUNTRIES[w.rng.weighted(&weights)].0;
            let blocks = country_blocks[cc].clone();
            *w.rng.pick(&blocks)
        };
        c2s.push(new_c2(&mut w, block));
    }
    // The planted ones are always listed, so their conflicts reach the report.
    for c2 in c2s.iter_mut().take(6) {
        c2.listed = true;
    }
    // The DNS side draws from a stream of its own, so the traffic above stays as it was.
    let mut dns_rng = Rng::new(seed ^ 0xD0D5_0000_0000_0053);
    if p.dns {
        let mut dga_left = 2;
        for c2 in c2s.iter_mut().skip(6).filter(|c| !c.listed) {
            if dga_left > 0 {
                c2.dga = true;
                dga_left -= 1;
            } else if dns_rng.chance(0.4) {
                c2.domain = Some(dns::c2_domain(&mut dns_rng));
            }
        }
    }

    let day0 = Utc.from_utc_datetime(
        &NaiveDate::parse_from_str(p.span_from, "%Y-%m-%d")
            .expect("constant date")
            .and_hms_opt(0, 0, 0)
            .expect("midnight"),
    );
    let files = DemoFiles {
        feodo: dir.join("ipblocklist.csv"),
        conn_log: dir.join("conn.log"),
        threatfox: p.dns.then(|| dir.join("threatfox.csv")),
        dns_log: p.dns.then(|| dir.join("dns.log")),
        sinkhole_log: p.dns.then(|| dir.join("sinkhole.csv")),
        delegated: dir.join("delegated-demo-extended"),
        pfx2as: dir.join("pfx2as.txt"),
        as_names: dir.join("asn.txt"),
        ground_truth: dir.join("ground-truth.json"),
    };
    let mut conn = ConnLog::create(&files.conn_log, p.sorted)?;
    let span_us = p.span_days as u64 * 86_400_000_000;
    let period_from: NaiveDate = PERIOD_FROM.parse().expect("constant date");
    let period_to: NaiveDate = PERIOD_TO.parse().expect("constant date");

    // Infected hosts: each assigned to one C2, with a skew so that a few C2s control many.
    let mut cumulative = 0.0;
    let c2_cdf: Vec<f64> = (0..c2s.len())
        .map(|i| {
            cumulative += 1.0 / ((i % 97) as f64 + 1.0).powf(0.9);
            cumulative
        })
        .collect();
    let mut infections = Vec::new();
    let mut beaconing_pairs = Vec::new();
    // Hosts of C2s found through DNS, with the first contact of each day: they look the
    // name up just before.
    let mut resolving_hosts: Vec<(Ipv4Addr, usize, BTreeMap<NaiveDate, i64>)> = Vec::new();
    let mut home_hosts = Vec::new();
    // Expected figures, from the generator's own bookkeeping: a host counts when its C2 is
    // listed and it made contact on a day of the period.
    let mut expected_servers: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    let mut expected_hosts: BTreeMap<String, u64> = BTreeMap::new();
    for _ in 0..p.infected_hosts {
        let block = *w.rng.pick(&home_blocks);
        let host = w.address_in(block);
        home_hosts.push(host);
        let c2_index = w.rng.weighted_cdf(&c2_cdf);
        let c2 = &c2s[c2_index];
        let mut days = BTreeSet::new();
        // Some implants of C2s no feed lists beacon on a fixed schedule: what the beaconing
        // detector must find without an indicator.
        let beaconing = p.beaconing_share > 0.0 && !c2.known() && w.rng.chance(p.beaconing_share);
        let mut first_contact: BTreeMap<NaiveDate, i64> = BTreeMap::new();
        let mut contact = |days: &mut BTreeSet<NaiveDate>, at: i64| {
            let day = DateTime::from_timestamp_micros(at).expect("in range").date_naive();
            days.insert(day);
            let first = first_contact.entry(day).or_insert(at);
            *first = (*first).min(at);
        };
        if beaconing {
            let start = w.rng.below((p.span_days - 5) as u64) as i64 * 86_400_000_000;
            let length = w.rng.range(2, 5) as i64 * 86_400_000_000;
            let bytes = w.rng.range(300, 900);
            let mut t = start + w.rng.below(3_600_000_000) as i64;
            while t < start + length {
                let jitter = w.rng.below(60_000_000) as i64 - 30_000_000;
                let at = ts(day0, t + jitter);
                let (orig, resp) = (bytes + w.rng.below(8), 200 + w.rng.below(16));
                let text = conn_line(&mut w.rng, at, host, c2.ip, c2.port, "tcp", orig, resp);
                contact(&mut days, at);
                conn.push(at, text)?;
                t += BEACON_INTERVAL_US;
            }
            beaconing_pairs.push(json!({"host": host.to_string(), "c2": c2.ip.to_string(), "port": c2.port}));
        }
        let start = w.rng.below(p.span_days as u64) as i64;
        let length = 1 + (w.rng.unit().powi(2) * (p.max_window - 1) as f64) as i64;
        let activity = if p.span_days == 1 { 1.0 } else { 0.3 + w.rng.unit() * 0.6 };
        for day in start..(start + length).min(p.span_days) {
            if beaconing || !w.rng.chance(activity) {
                continue;
            }
            for _ in 0..w.rng.range(1, 3) {
                let t = ts(day0, day * 86_400_000_000 + w.rng.below(86_400_000_000) as i64);
                let (orig, resp) = (w.rng.range(200, 1_500), w.rng.range(300, 40_000));
                let text = conn_line(&mut w.rng, t, host, c2.ip, c2.port, "tcp", orig, resp);
                contact(&mut days, t);
                conn.push(t, text)?;
            }
        }
        if (c2.domain.is_some() || c2.dga) && !first_contact.is_empty() {
            resolving_hosts.push((host, c2_index, first_contact));
        }
        if c2.known() && days.iter().any(|d| period_from <= *d && *d <= period_to) {
            let cc = w.blocks[c2.block].registry_cc.clone();
            expected_servers.entry(cc.clone()).or_default().insert(c2_index);
            *expected_hosts.entry(cc).or_default() += 1;
        }
        if p.detailed_truth && !days.is_empty() {
            infections.push(json!({
                "host": host.to_string(),
                "c2": c2.ip.to_string(),
                "contact_days": days.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
            }));
        }
    }
    // Clean home hosts and benign servers everywhere.
    for _ in 0..p.clean_hosts {
        let block = *w.rng.pick(&home_blocks);
        let host = w.address_in(block);
        home_hosts.push(host);
    }
    let all_blocks: Vec<usize> = (0..w.blocks.len()).collect();
    let benign_servers: Vec<Ipv4Addr> = (0..(p.benign_flows / 50).max(20))
        .map(|_| {
            let block = *w.rng.pick(&all_blocks);
            w.address_in(block)
        })
        .collect();
    for _ in 0..p.benign_flows {
        let src = *w.rng.pick(&home_hosts);
        let dst = *w.rng.pick(&benign_servers);
        let t = ts(day0, w.rng.below(span_us) as i64);
        let (port, proto) =
            *w.rng.pick(&[(443u16, "tcp"), (443, "tcp"), (80, "tcp"), (53, "udp"), (123, "udp"), (993, "tcp")]);
        let (orig, resp) = (w.rng.range(60, 5_000), w.rng.range(60, 2_000_000));
        let text = conn_line(&mut w.rng, t, src, dst, port, proto, orig, resp);
        conn.push(t, text)?;
    }
    // Foreign hosts reaching C2s: seen by the sensor, but not home hosts, so not counted.
    let foreign_blocks: Vec<usize> = country_blocks.values().flatten().copied().collect();
    for _ in 0..p.foreign_victim_flows {
        let block = *w.rng.pick(&foreign_blocks);
        let src = w.address_in(block);
        let c2 = &c2s[w.rng.below(c2s.len() as u64) as usize];
        let t = ts(day0, w.rng.below(span_us) as i64);
        let text = conn_line(&mut w.rng, t, src, c2.ip, c2.port, "tcp", 400, 900);
        conn.push(t, text)?;
    }
    // Benign traffic on a timer: hosts keeping their clocks (NTP every 1,024 s) and
    // checking for updates every hour over HTTPS, the update name looked up each day —
    // periodic, but no beacon of an implant.
    let mut update_lookups = Vec::new();
    let periodic = if p.dns {
        let clean = &home_hosts[p.infected_hosts..];
        let first = 2 + p.sinkholed_bots + 10;
        let ntp_server = w.address_in(home_blocks[1]);
        let update_block = *w.rng.pick(&foreign_blocks);
        let update_server = w.address_in(update_block);
        let ntp_hosts: Vec<Ipv4Addr> = clean.iter().skip(first).take(30).copied().collect();
        let update_hosts: Vec<Ipv4Addr> = clean.iter().skip(first + 30).take(20).copied().collect();
        for host in &ntp_hosts {
            let start = dns_rng.below((p.span_days - 5) as u64) as i64 * 86_400_000_000;
            for i in 0..170 {
                let at = ts(day0, start + i * 1_024_000_000 + dns_rng.below(2_000_000) as i64);
                conn.push(at, conn_line(&mut dns_rng, at, *host, ntp_server, 123, "udp", 48, 48))?;
            }
        }
        for host in &update_hosts {
            let start = dns_rng.below((p.span_days - 5) as u64) as i64 * 86_400_000_000;
            for i in 0..72 {
                let at = ts(day0, start + i * 3_600_000_000 + dns_rng.below(60_000_000) as i64);
                if i % 24 == 0 {
                    update_lookups.push(dns::Lookup {
                        ts_us: at - 1_000_000,
                        client: *host,
                        query: UPDATE_NAME.into(),
                        txt: false,
                        answer: Some(update_server),
                    });
                }
                let (orig, resp) = (900 + dns_rng.below(40), 4_000 + dns_rng.below(200));
                conn.push(at, conn_line(&mut dns_rng, at, *host, update_server, 443, "tcp", orig, resp))?;
            }
        }
        json!({
            "ntp_server": ntp_server.to_string(),
            "ntp_hosts": ntp_hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
            "update_name": UPDATE_NAME,
            "update_server": update_server.to_string(),
            "update_hosts": update_hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
        })
    } else {
        json!(null)
    };
    let (conn_lines, planted_conn) = conn.finish()?;

    let dns_truth = if p.dns {
        let clean_hosts = home_hosts[p.infected_hosts..].to_vec();
        let resolver = w.address_in(home_blocks[0]);
        let foreign: Vec<Ipv4Addr> = (0..20)
            .map(|_| {
                let block = *w.rng.pick(&foreign_blocks);
                w.address_in(block)
            })
            .collect();
        let hosts = Hosts {
            resolving: &resolving_hosts,
            clean: &clean_hosts,
            foreign_bots: &foreign,
            servers: &benign_servers,
            resolver,
            extra_lookups: update_lookups,
        };
        dns_side(&files, &c2s, hosts, day0, p.span_days, p.sinkholed_bots, &mut dns_rng)?
    } else {
        json!(null)
    };

    // The Feodo Tracker-format indicator file.
    let mut feodo = String::from("################################################################\n# abuse.ch Feodo Tracker Botnet C2 IP Blocklist (CSV)          #\n# Synthetic sample written by `vedette demo`                   #\n################################################################\n#\n");
    feodo.push_str("\"first_seen_utc\",\"dst_ip\",\"dst_port\",\"c2_status\",\"last_online\",\"malware\"\n");
    let mut listed = Vec::new();
    let mut dead = Vec::new();
    for c2 in c2s.iter().filter(|c| c.listed) {
        listed.push(c2);
    }
    for _ in 0..p.dead_indicators {
        let block = *w.rng.pick(&foreign_blocks);
        let ip = w.address_in(block);
        dead.push(ip);
    }
    let mut rows: Vec<String> = Vec::new();
    for c2 in &listed {
        let first = day0 + Duration::days(w.rng.below(120) as i64) - Duration::days(60)
            + Duration::seconds(w.rng.below(86_400) as i64);
        let last = first + Duration::days(w.rng.range(5, 180) as i64);
        let status = if w.rng.chance(0.3) { "online" } else { "offline" };
        rows.push(format!(
            "\"{}\",\"{}\",\"{}\",\"{status}\",\"{}\",\"{}\"",
            first.format("%Y-%m-%d %H:%M:%S"),
            c2.ip,
            c2.port,
            last.format("%Y-%m-%d"),
            c2.family
        ));
    }
    for ip in &dead {
        let (family, ports) = *w.rng.pick(FAMILIES);
        rows.push(format!("\"2012-11-02 08:00:00\",\"{ip}\",\"{}\",\"offline\",\"2012-12-20\",\"{family}\"", ports[0]));
    }
    rows.insert(
        rows.len() / 3,
        "\"2013-01-07 10:00:00\",\"203.0.113.300\",\"443\",\"offline\",\"2013-02-01\",\"Emotet\"".into(),
    );
    rows.insert(rows.len() / 2, "\"2013-01-07 10:00:00\",\"203.0.113.30\",\"443\",\"offline\"".into());
    rows.insert(
        2 * rows.len() / 3,
        "\"2013-13-45 10:00:00\",\"203.0.113.31\",\"443\",\"offline\",\"2013-02-01\",\"Dridex\"".into(),
    );
    for row in &rows {
        let _ = writeln!(feodo, "{row}");
    }
    let _ = writeln!(feodo, "# Number of entries: {}", listed.len() + dead.len());
    std::fs::write(&files.feodo, feodo).with_context(|| format!("cannot write {}", files.feodo.display()))?;

    // Registry, routing and AS names.
    let mut delegated = format!("2.3|demo|20130601|{}|19700101|20130601|+0000\n", w.blocks.len() + w.ases.len());
    for (i, b) in w.blocks.iter().enumerate() {
        let _ = writeln!(
            delegated,
            "{}|{}|ipv4|{}.{}.0.0|65536|2008{:02}{:02}|allocated|DEMO-HOLDER-{i}",
            rir_of(&b.registry_cc),
            b.registry_cc,
            b.first[0],
            b.first[1],
            i % 12 + 1,
            i % 28 + 1
        );
    }
    for a in &w.ases {
        let _ = writeln!(
            delegated,
            "{}|{}|asn|{}|1|20080101|allocated|DEMO-AS-{}",
            rir_of(&a.cc),
            a.cc,
            a.number,
            a.number
        );
    }
    std::fs::write(&files.delegated, delegated)?;
    let mut pfx = String::from("# synthetic prefix-to-AS table (CAIDA pfx2as layout), written by `vedette demo`\n");
    for b in w.blocks.iter().filter(|b| !b.origins.is_empty()) {
        let origins: Vec<String> = b.origins.iter().map(u32::to_string).collect();
        let _ = writeln!(pfx, "{}.{}.0.0\t16\t{}", b.first[0], b.first[1], origins.join("_"));
    }
    std::fs::write(&files.pfx2as, pfx)?;
    let mut names = String::new();
    for a in &w.ases {
        let _ = writeln!(names, "{} {}, {}", a.number, a.name, a.cc);
    }
    std::fs::write(&files.as_names, names)?;

    let as_cc = |asn: u32| w.ases.iter().find(|a| a.number == asn).map(|a| a.cc.clone());
    let truth = json!({
        "synthetic": true,
        "seed": seed,
        "scale": scale.name(),
        "home_country": HOME,
        "period": {"from": PERIOD_FROM, "to": PERIOD_TO},
        "c2_servers": c2s.iter().map(|c| {
            let b = &w.blocks[c.block];
            json!({
                "ip": c.ip.to_string(),
                "port": c.port,
                "malware": c.family.to_lowercase(),
                "listed": c.known(),
                "listed_by": match (c.listed, &c.domain) {
                    (true, _) => "address",
                    (false, Some(_)) => "domain",
                    (false, None) => "none",
                },
                "domain": c.domain,
                "dga": c.dga,
                "registry_cc": b.registry_cc,
                "as_cc": b.origins.first().and_then(|a| as_cc(*a)),
                "conflicts": b.conflicts,
            })
        }).collect::<Vec<_>>(),
        "beaconing": {"interval_s": BEACON_INTERVAL_US / 1_000_000, "pairs": beaconing_pairs},
        "dns": dns_truth,
        "benign_periodic": periodic,
        "dead_indicators": dead.iter().map(|ip| ip.to_string()).collect::<Vec<_>>(),
        "infections": infections,
        "planted_rejections": {"ipblocklist.csv": 3, "conn.log": planted_conn},
        "conn_log_lines": conn_lines,
        "expected": {
            "servers_by_registry_country": expected_servers.iter().map(|(cc, s)| (cc.clone(), s.len())).collect::<BTreeMap<_, _>>(),
            "hosts_by_registry_country": expected_hosts,
        },
    });
    std::fs::write(&files.ground_truth, serde_json::to_string_pretty(&truth)?)?;
    Ok(files)
}

/// The hosts the DNS side is made of.
struct Hosts<'a> {
    /// Hosts of C2s found through DNS, with their first contact of each day.
    resolving: &'a [(Ipv4Addr, usize, BTreeMap<NaiveDate, i64>)],
    clean: &'a [Ipv4Addr],
    foreign_bots: &'a [Ipv4Addr],
    /// Benign servers that names resolve to.
    servers: &'a [Ipv4Addr],
    /// The home resolver every lookup goes through.
    resolver: Ipv4Addr,
    /// Lookups made elsewhere (the update checks'), written with the others.
    extra_lookups: Vec<dns::Lookup>,
}

/// The DNS side of the demo: what C2s' bots look up, a DGA, a tunnel, benign and
/// blocklist lookups, the ThreatFox export and the sinkhole log. Returns its ground truth.
fn dns_side(
    files: &DemoFiles,
    c2s: &[C2],
    hosts: Hosts<'_>,
    day0: DateTime<Utc>,
    span_days: i64,
    sinkholed_bots: usize,
    rng: &mut Rng,
) -> Result<serde_json::Value> {
    const DGA_SEED: u64 = 0xD6A;
    const DGA_NAMES_PER_DAY: usize = 40;
    let Hosts {
        resolving: resolving_hosts,
        clean: clean_hosts,
        foreign_bots,
        servers: benign_servers,
        resolver,
        extra_lookups,
    } = hosts;
    let day_number = |d: NaiveDate| (d - day0.date_naive()).num_days();
    let mut lookups = extra_lookups;
    let mut dga_hosts = BTreeSet::new();
    let mut dga_registered = BTreeSet::new();
    let mut dga_queried = BTreeSet::new();
    for (host, c2_index, first_contact) in resolving_hosts {
        let c2 = &c2s[*c2_index];
        for (day, first) in first_contact {
            // Just before the first contact, and on the same day.
            let midnight = ts(day0, day_number(*day) * 86_400_000_000);
            let at = (*first - 2_000_000).max(midnight);
            if let Some(domain) = &c2.domain {
                lookups.push(dns::Lookup {
                    ts_us: at,
                    client: *host,
                    query: domain.clone(),
                    txt: false,
                    answer: Some(c2.ip),
                });
            } else if c2.dga {
                // The bot walks the day's list until a name answers: the registered one.
                let names = dns::dga_names(DGA_SEED + *c2_index as u64, day_number(*day), DGA_NAMES_PER_DAY);
                let registered = (day_number(*day) as usize * 7 + c2_index) % names.len();
                for (i, name) in names.iter().enumerate().take(registered + 1) {
                    let answer = (i == registered).then_some(c2.ip);
                    dga_queried.insert(name.clone());
                    let t = (at - (registered - i) as i64 * 150_000).max(midnight);
                    lookups.push(dns::Lookup { ts_us: t, client: *host, query: name.clone(), txt: false, answer });
                }
                dga_hosts.insert(host.to_string());
                dga_registered.insert(names[registered].clone());
            }
        }
    }
    // Benign lookups by every kind of home host.
    let everyone: Vec<Ipv4Addr> =
        resolving_hosts.iter().map(|(h, _, _)| *h).chain(clean_hosts.iter().copied()).collect();
    let benign_names: Vec<String> = (0..600).map(|_| dns::benign_name(rng)).collect();
    for _ in 0..(everyone.len() * 12).max(5_000) {
        let t = ts(day0, rng.below(span_days as u64 * 86_400_000_000) as i64);
        let query = rng.pick(&benign_names).clone();
        let answer = if rng.chance(0.03) { None } else { Some(*rng.pick(benign_servers)) };
        lookups.push(dns::Lookup { ts_us: t, client: *rng.pick(&everyone), query, txt: false, answer });
    }
    // A home mail server checking senders against a DNS blocklist: hundreds of unique
    // names under one domain, like a tunnel, but a known service.
    let mail_server = clean_hosts[0];
    for _ in 0..400 {
        let t = ts(day0, rng.below(span_days as u64 * 86_400_000_000) as i64);
        let sender =
            Ipv4Addr::new(rng.range(1, 223) as u8, rng.below(256) as u8, rng.below(256) as u8, rng.range(1, 254) as u8);
        let o = sender.octets();
        let query = format!("{}.{}.{}.{}.zen.spamhaus.org", o[3], o[2], o[1], o[0]);
        let answer = rng.chance(0.1).then(|| Ipv4Addr::new(127, 0, 0, 2));
        lookups.push(dns::Lookup { ts_us: t, client: mail_server, query, txt: false, answer });
    }
    // A DNS tunnel: one home host sending data in TXT queries under a domain of its own.
    let tunnel_host = clean_hosts[1];
    let tunnel_domain = "cdn-sync-service.net";
    let start = ts(day0, 40 * 86_400_000_000 + 9 * 3_600_000_000);
    for i in 0..600 {
        let query = format!("{}.t.{tunnel_domain}", dns::tunnel_label(rng));
        lookups.push(dns::Lookup {
            ts_us: start + i * 20_000_000,
            client: tunnel_host,
            query,
            txt: true,
            answer: None,
        });
    }
    let dns_log = files.dns_log.as_ref().expect("the DNS side has a log");
    let dns_lines = dns::write_dns_log(dns_log, lookups, resolver, rng)?;

    // ThreatFox lists the domains of the C2s found through DNS.
    let listed: Vec<dns::ListedDomain> = c2s
        .iter()
        .filter_map(|c| {
            c.domain.as_ref().map(|d| dns::ListedDomain {
                first_seen: format!("2012-11-{:02} 08:00:00", rng.range(1, 28)),
                domain: d.clone(),
                family: c.family,
            })
        })
        .collect();
    dns::write_threatfox(files.threatfox.as_ref().expect("the DNS side has a ThreatFox export"), &listed)?;

    // Bots of sinkholed families (their C2 domains now point at a sinkhole).
    let families = [("Conficker", "wqkxprzlmv.ws"), ("Necurs", "ohqpqgjcmxbqa.net"), ("Ramnit", "kfdnkrqfyaoch.com")];
    let mut hits = Vec::new();
    let mut home_bots = BTreeMap::new();
    let bots = clean_hosts.iter().skip(2).take(sinkholed_bots);
    for (bot, home) in bots.map(|b| (*b, true)).chain(foreign_bots.iter().map(|b| (*b, false))) {
        let (family, domain) = *rng.pick(&families);
        for _ in 0..rng.range(1, 4) {
            let t = ts(day0, rng.below(span_days as u64 * 86_400_000_000) as i64);
            hits.push(dns::SinkholeHit { ts_us: t, bot, domain: domain.to_string(), family });
        }
        if home {
            home_bots.insert(bot.to_string(), family.to_lowercase());
        }
    }
    dns::write_sinkhole_log(files.sinkhole_log.as_ref().expect("the DNS side has a sinkhole log"), hits)?;

    Ok(json!({
        "dns_log_lines": dns_lines,
        "domain_c2s": c2s.iter().filter_map(|c| c.domain.as_ref().map(|d| json!({"domain": d, "ip": c.ip.to_string()}))).collect::<Vec<_>>(),
        "dga": {
            "c2s": c2s.iter().filter(|c| c.dga).map(|c| c.ip.to_string()).collect::<Vec<_>>(),
            "hosts": dga_hosts,
            "registered": dga_registered,
            "queried": dga_queried,
        },
        "tunnel": {"domain": tunnel_domain, "hosts": [tunnel_host.to_string()]},
        "dnsbl_client": mail_server.to_string(),
        "sinkhole": {"home_bots": home_bots, "foreign_bots": foreign_bots.iter().map(|b| b.to_string()).collect::<Vec<_>>()},
    }))
}
