//! `vedette whois` run as a user would: sources from vedette.toml and from --source, on
//! the real fixtures of the enrich crate (MaxMind's test databases, a real ip-location-db
//! database, pyasn's RouteViews table, a corrupt MMDB).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn data(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../enrich/tests/data").join(path).display().to_string()
}

fn vedette(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vedette"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vedette-whois-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn whois_shows_every_view_from_config_and_command_line() {
    let dir = temp_dir("views");
    let config = dir.join("vedette.toml");
    std::fs::write(
        &config,
        format!(
            "[attribution]\npolicy = \"location-first\"\n\n[[attribution.sources]]\nkind = \"mmdb\"\nname = \"city\"\npath = {:?}\n\n[[attribution.sources]]\nkind = \"mmdb\"\nname = \"broken\"\npath = {:?}\n",
            data("maxmind/GeoIP2-City-Test.mmdb"),
            data("maxmind/bad-data/GeoIP2-City-Test-truncated.mmdb"),
        ),
    )
    .unwrap();
    let overrides = dir.join("overrides.csv");
    std::fs::write(
        &overrides,
        "cidr,cc,org,note\n202.196.224.0/24,KR,Example Bank,this range is used by a bank in KR\n",
    )
    .unwrap();
    let iptoasn = format!("mmdb:iptoasn={}", data("ip-location-db/iptoasn-country-ipv4.mmdb"));
    let ours = format!("override:ours={}", overrides.display());
    let config_arg = config.to_str().unwrap();

    let out = vedette(
        &[
            "--config",
            config_arg,
            "whois",
            "--source",
            &iptoasn,
            "--source",
            &ours,
            "81.2.69.160",
            "202.196.224.1",
            "202.196.230.1",
        ],
        None,
    );
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The corrupt database is one warning naming it; the rest answer.
    assert!(stderr.contains("mmdb:broken") && stderr.contains("GeoIP2-City-Test-truncated.mmdb"), "{stderr}");
    assert!(stderr.contains("not a valid MMDB database"), "{stderr}");
    assert!(stdout.contains("sources: mmdb:city (2026-02-04 GeoIP2-City"), "{stdout}");
    let blocks: Vec<&str> = stdout.split("\n\n").collect();
    let london = blocks.iter().find(|b| b.starts_with("81.2.69.160")).unwrap();
    assert!(london.contains("counted country  GB (location)"), "{london}");
    assert!(london.contains("by registry      US"), "{london}");
    assert!(london.contains("REG_GEO_MISMATCH"), "{london}");
    assert!(london.contains("81.2.69.160/27 (registered US"), "{london}");
    let bank = blocks.iter().find(|b| b.starts_with("202.196.224.1")).unwrap();
    assert!(bank.contains("counted country  KR (operator override)"), "{bank}");
    assert!(bank.contains("OVERRIDDEN"), "{bank}");
    assert!(bank.contains("note: this range is used by a bank in KR"), "{bank}");
    let split = blocks.iter().find(|b| b.starts_with("202.196.230.1")).unwrap();
    assert!(split.contains("GEO_DBS_DISAGREE"), "{split}");
    assert!(split.contains("confidence       low"), "{split}");

    // JSON lines from standard input; --only drops the configured sources.
    let out = vedette(
        &["--config", config_arg, "whois", "--json", "--only", "--source", &iptoasn],
        Some("8.130.1.1\n# a comment\n\n10.1.2.3\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
    let lines: Vec<Value> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["country"], "CN");
    assert_eq!(lines[0]["geo"][0]["source"], "iptoasn");
    assert_eq!(lines[0]["geo"][0]["prefix"], "8.130.0.0/15");
    assert_eq!(lines[0]["geo"][0]["version"], "2026-06-17 country ipv4");
    assert_eq!(lines[1]["conflicts"][0], "SPECIAL_USE");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn whois_bad_input_is_one_clear_line_each() {
    let out = vedette(&["whois", "--only", "--source", "whois:x=y", "1.1.1.1"], None);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("unknown attribution source kind \"whois\""), "{}", text(&out.stderr));

    let out = vedette(&["whois", "--only", "1.1.1.1", "not-an-ip"], None);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("\"not-an-ip\" is not an IP address"), "{stderr}");
    assert!(stderr.contains("no attribution sources"), "{stderr}");
    // The good address was still answered.
    assert!(text(&out.stdout).contains("1.1.1.1"));

    let out = vedette(&["whois", "--help"], None);
    let help = text(&out.stdout);
    assert!(help.contains("KIND:NAME=PATH") && help.contains("Examples:"), "{help}");
}
