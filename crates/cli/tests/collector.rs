//! `vedette run` as a NetFlow/IPFIX collector, fed by a real exporter: softflowd replays a
//! capture to it over loopback, and the flows it counts must equal those nfdump counts
//! when nfcapd collects the same replay. `scripts/test` installs softflowd and nfdump;
//! elsewhere the test says it is skipped unless VEDETTE_REQUIRE_NETFLOW_PEERS is set.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_vedette");

fn capture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ingest/tests/data/netflow/tiny.pcap")
}

fn installed(program: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {program}")]).output().is_ok_and(|o| o.status.success())
}

fn peers_present() -> bool {
    let present = ["softflowd", "nfcapd", "nfdump"].iter().all(|p| installed(p));
    if !present {
        assert!(
            std::env::var_os("VEDETTE_REQUIRE_NETFLOW_PEERS").is_none(),
            "softflowd, nfcapd and nfdump are required (scripts/test installs them)"
        );
        eprintln!("skipped: softflowd/nfdump not installed (scripts/test installs them)");
    }
    present
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vedette-collector-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// softflowd's arguments for one export version (peers.md: -a keeps the capture's times;
/// IPFIX with millisecond times).
fn softflowd(version: u8, port: u16) {
    let target = format!("127.0.0.1:{port}");
    let mut args = vec!["-a".to_string(), "-r".into(), capture().display().to_string(), "-n".into(), target];
    match version {
        5 => args.extend(["-v".into(), "5".into()]),
        9 => args.extend(["-v".into(), "9".into(), "-6".into()]),
        _ => args.extend(["-v".into(), "10".into(), "-6".into(), "-A".into(), "milli".into()]),
    }
    let out = Command::new("softflowd").args(&args).output().unwrap();
    assert!(out.status.success(), "softflowd {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn terminate(child: &Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

/// The flows nfcapd collects from the same replay, as `nfdump -I` counts them.
fn nfdump_count(dir: &Path, version: u8) -> u64 {
    let data = dir.join(format!("nfcapd-v{version}"));
    std::fs::create_dir_all(&data).unwrap();
    let port = free_udp_port();
    let pid_file = dir.join(format!("nfcapd-v{version}.pid"));
    let mut nfcapd = Command::new("nfcapd")
        .args(["-b", "127.0.0.1", "-p", &port.to_string(), "-w"])
        .arg(&data)
        .args(["-t", "3600", "-B", "16777216", "-P"])
        .arg(&pid_file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !(pid_file.exists() && udp_listening(port)) {
        assert!(started.elapsed() < Duration::from_secs(20), "nfcapd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    softflowd(version, port);
    std::thread::sleep(Duration::from_millis(300));
    terminate(&nfcapd);
    assert!(nfcapd.wait().unwrap().success());
    let out = Command::new("nfdump").arg("-R").arg(&data).arg("-I").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("Flows:").map(|n| n.trim().parse::<u64>().unwrap()))
        .unwrap_or_else(|| panic!("no flow count in nfdump -I: {text}"))
}

fn udp_listening(port: u16) -> bool {
    // A bind that fails means someone holds the port.
    std::net::UdpSocket::bind(("127.0.0.1", port)).is_err()
}

/// Starts `vedette run`, waits for its readiness line, and returns it with its port.
fn start_collector(config: &Path) -> (Child, u16) {
    let (child, port, _) = start_collector_with_log(config);
    (child, port)
}

/// As [`start_collector`], with the lines it writes on stderr after its readiness line.
fn start_collector_with_log(config: &Path) -> (Child, u16, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(["run", "--netflow", "127.0.0.1:0", "--flush", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let port = loop {
        let line = lines.next().expect("vedette run ended before listening").unwrap();
        if let Some(rest) = line.strip_prefix("listening for NetFlow v5/v9/IPFIX on ") {
            let address = rest.split_whitespace().next().unwrap();
            break address.rsplit_once(':').unwrap().1.parse().unwrap();
        }
    };
    // Keep reading its stderr so it never blocks on a full pipe.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, port, rx)
}

fn summary_value(stdout: &str, label: &str) -> u64 {
    let line =
        stdout.lines().find(|l| l.trim_start().starts_with(label)).unwrap_or_else(|| panic!("{label}: {stdout}"));
    line.trim_start()[label.len()..].split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn softflowd_exports_reach_the_collector_as_nfdump_counts_them() {
    if !peers_present() {
        return;
    }
    let dir = temp_dir("softflowd");
    let store = dir.join("vedette.db");
    let config = dir.join("vedette.toml");
    std::fs::write(&config, format!("store = \"sqlite://{}\"\n[home]\nnetworks = [\"10.0.0.0/8\"]\n", store.display()))
        .unwrap();
    // The beacon's destination in the capture, listed as a C2 server.
    let feed = dir.join("ipblocklist.csv");
    std::fs::write(
        &feed,
        "\"first_seen_utc\",\"dst_ip\",\"dst_port\",\"c2_status\",\"last_online\",\"malware\"\n\"2025-11-01 00:00:00\",\"203.0.113.10\",\"443\",\"online\",\"2025-11-30\",\"Emotet\"\n",
    )
    .unwrap();
    let out = Command::new(BIN).arg("--config").arg(&config).arg("ingest").arg(&feed).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    for version in [5u8, 9, 10] {
        let expected = nfdump_count(&dir, version);
        assert!(expected >= 60, "nfdump counted only {expected} v{version} flows");
        let (collector, port) = start_collector(&config);
        softflowd(version, port);
        std::thread::sleep(Duration::from_millis(300));
        terminate(&collector);
        let out = collector.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "vedette run v{version}: {stdout}");
        assert_eq!(summary_value(&stdout, "flows"), expected, "v{version}: {stdout}");
        assert_eq!(summary_value(&stdout, "rejected"), 0, "v{version}: {stdout}");
    }

    // What the flows showed: the home host that reached the listed C2, and the C2.
    let out = Command::new(BIN).arg("--config").arg(&config).args(["findings", "--json"]).output().unwrap();
    let findings: Value = serde_json::from_slice(&out.stdout).unwrap();
    let subjects: Vec<(String, String)> = findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["kind"].as_str().unwrap().to_string(), f["subject"].as_str().unwrap().to_string()))
        .collect();
    assert!(subjects.contains(&("infected_host".into(), "10.0.0.5".into())), "{subjects:?}");
    assert!(subjects.contains(&("c2_server".into(), "203.0.113.10".into())), "{subjects:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_collector_refuses_garbage_datagrams_and_keeps_running() {
    let dir = temp_dir("garbage");
    let config = dir.join("vedette.toml");
    std::fs::write(&config, format!("store = \"sqlite://{}\"\n", dir.join("vedette.db").display())).unwrap();
    let (collector, port) = start_collector(&config);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for datagram in [&b"\x00\x09\x00"[..], b"\x00\x0a\x00\x40garbage-garbage", b"\x00\x05\x00\x1e", b"hello"] {
        socket.send_to(datagram, ("127.0.0.1", port)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    terminate(&collector);
    let out = collector.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(summary_value(&stdout, "datagrams"), 4, "{stdout}");
    assert_eq!(summary_value(&stdout, "rejected"), 4, "{stdout}");
    assert_eq!(summary_value(&stdout, "flows"), 0, "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// One NetFlow v5 datagram holding one TCP flow from `src` to `dst:443`, exported at
/// `unix_secs` by an exporter that booted 1,000 s earlier.
fn v5_datagram(src: [u8; 4], dst: [u8; 4], unix_secs: u32, sequence: u32) -> Vec<u8> {
    let mut d = Vec::with_capacity(72);
    d.extend_from_slice(&5u16.to_be_bytes());
    d.extend_from_slice(&1u16.to_be_bytes());
    d.extend_from_slice(&1_000_000u32.to_be_bytes()); // sysUptime, ms
    d.extend_from_slice(&unix_secs.to_be_bytes());
    d.extend_from_slice(&0u32.to_be_bytes());
    d.extend_from_slice(&sequence.to_be_bytes());
    d.extend_from_slice(&[0, 0, 0, 0]); // engine type and id, sampling
    d.extend_from_slice(&src);
    d.extend_from_slice(&dst);
    d.extend_from_slice(&[0; 4]); // next hop
    d.extend_from_slice(&[0; 4]); // input and output interfaces
    d.extend_from_slice(&4u32.to_be_bytes()); // packets
    d.extend_from_slice(&900u32.to_be_bytes()); // octets
    d.extend_from_slice(&999_000u32.to_be_bytes()); // first, ms of uptime
    d.extend_from_slice(&999_500u32.to_be_bytes()); // last
    d.extend_from_slice(&50_000u16.to_be_bytes());
    d.extend_from_slice(&443u16.to_be_bytes());
    d.extend_from_slice(&[0, 0x1b, 6, 0]); // pad, TCP flags, protocol, ToS
    d.extend_from_slice(&[0; 8]); // ASes, masks, pad
    d
}

fn counted_country(config: &Path, subject: &str) -> Option<String> {
    let out = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(["findings", "--kind", "c2_server", "--json"])
        .output()
        .unwrap();
    let findings: Value = serde_json::from_slice(&out.stdout).unwrap();
    let finding = findings.as_array().unwrap().iter().find(|f| f["subject"] == subject)?;
    finding["attribution"]["country"].as_str().map(str::to_string)
}

/// (An address outside special-use space: special-use addresses are never given a country.)
#[test]
fn a_running_collector_picks_up_changed_attribution_data() {
    let dir = temp_dir("reload");
    let overrides = dir.join("overrides.csv");
    std::fs::write(&overrides, "100.200.1.0/24,US,Example hosting,first view\n").unwrap();
    let config = dir.join("vedette.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"sqlite://{}\"\n[home]\nnetworks = [\"10.0.0.0/8\"]\n[[attribution.sources]]\nkind = \"override\"\npath = \"{}\"\n",
            dir.join("vedette.db").display(),
            overrides.display()
        ),
    )
    .unwrap();
    let feed = dir.join("ipblocklist.csv");
    std::fs::write(
        &feed,
        "\"first_seen_utc\",\"dst_ip\",\"dst_port\",\"c2_status\",\"last_online\",\"malware\"\n\"2025-11-01 00:00:00\",\"100.200.1.10\",\"443\",\"online\",\"2025-11-30\",\"Emotet\"\n",
    )
    .unwrap();
    let out = Command::new(BIN).arg("--config").arg(&config).arg("ingest").arg(&feed).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let (collector, port) = start_collector(&config);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let flow = |sequence| v5_datagram([10, 0, 0, 5], [100, 200, 1, 10], 1_764_000_000, sequence);
    socket.send_to(&flow(0), ("127.0.0.1", port)).unwrap();
    let wait_for = |country: &str| {
        let started = Instant::now();
        while counted_country(&config, "100.200.1.10").as_deref() != Some(country) {
            assert!(started.elapsed() < Duration::from_secs(20), "never counted in {country}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait_for("US");
    // A new view of the range; the next flush reloads it and re-attributes what it writes.
    std::fs::write(&overrides, "100.200.1.0/24,DE,Example hosting,moved\n").unwrap();
    std::thread::sleep(Duration::from_millis(1_200));
    socket.send_to(&flow(1), ("127.0.0.1", port)).unwrap();
    wait_for("DE");
    terminate(&collector);
    let out = collector.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(summary_value(&stdout, "reloads") >= 1, "{stdout}");
    assert_eq!(summary_value(&stdout, "flows"), 2, "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A feed fetched on schedule while the collector runs: its new C2 joins the running
/// detector, and the next flow to it makes an infected host. The feed is served by
/// Python's own HTTP server on loopback.
#[test]
fn indicators_fetched_while_running_are_matched_from_then_on() {
    let dir = temp_dir("fetched");
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(
        www.join("ipblocklist.csv"),
        "\"first_seen_utc\",\"dst_ip\",\"dst_port\",\"c2_status\",\"last_online\",\"malware\"\n\"2025-11-01 00:00:00\",\"100.200.1.10\",\"443\",\"online\",\"2025-11-30\",\"Emotet\"\n",
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string(), "--directory"])
        .arg(&www)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "the HTTP server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let config = dir.join("vedette.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"sqlite://{}\"\n[home]\nnetworks = [\"10.0.0.0/8\"]\n[[feeds]]\nname = \"abusech-feodo\"\nurl = \"http://127.0.0.1:{port}/ipblocklist.csv\"\nschedule = \"1h\"\n",
            dir.join("vedette.db").display()
        ),
    )
    .unwrap();
    let (collector, netflow_port, log) = start_collector_with_log(&config);
    let joined = log.iter().find(|l| l.contains("new C2 indicators now matched"));
    assert!(joined.as_ref().is_some_and(|l| l.starts_with("1 new")), "{joined:?}");
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .send_to(&v5_datagram([10, 0, 0, 5], [100, 200, 1, 10], 1_764_000_000, 0), ("127.0.0.1", netflow_port))
        .unwrap();
    std::thread::sleep(Duration::from_millis(1_500));
    terminate(&collector);
    let out = collector.wait_with_output().unwrap();
    let _ = server.kill();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(summary_value(&stdout, "new indicators"), 1, "{stdout}");
    let out = Command::new(BIN).arg("--config").arg(&config).args(["findings", "--json"]).output().unwrap();
    let findings: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(findings.as_array().unwrap().iter().any(|f| f["kind"] == "infected_host" && f["subject"] == "10.0.0.5"));
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
