//! The HTML report opened in headless Chromium, as a reader opens it: it renders without
//! console or loading errors, fetches nothing, and the figures in the page equal those of
//! the JSON report. `scripts/test` installs Chromium; set VEDETTE_SKIP_BROWSER=1 to skip
//! this test on a machine without it (it fails otherwise, so CI cannot pass silently).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("VEDETTE_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|name| {
        let out = Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().ok()?;
        out.status.success().then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    })
}

/// The text of the element carrying `attrs` (e.g. `data-figure="overseas_hosts"`).
fn figure(dom: &str, attrs: &str) -> Option<u64> {
    let at = dom.find(attrs)?;
    let rest = &dom[at..];
    let start = rest.find('>')? + 1;
    let end = rest[start..].find('<')? + start;
    rest[start..end].replace(',', "").trim().parse().ok()
}

#[test]
fn html_report_renders_cleanly_and_matches_the_json_report() {
    let Some(browser) = chromium() else {
        if std::env::var_os("VEDETTE_SKIP_BROWSER").is_some() {
            eprintln!("skipped: no Chromium and VEDETTE_SKIP_BROWSER is set");
            return;
        }
        panic!("Chromium is needed for this test (scripts/test installs it); set VEDETTE_SKIP_BROWSER=1 to skip");
    };
    let dir = std::env::temp_dir().join(format!("vedette-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vedette"))
        .args(["demo", "--dir", dir.to_str().unwrap(), "--scale", "small", "--seed", "11"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html_path = dir.join("report.html");
    let html = std::fs::read_to_string(&html_path).unwrap();
    // Self-contained: no script, no stylesheet or image fetched from anywhere.
    for forbidden in ["<script", "<link", "src=", "url(", "@import"] {
        assert!(!html.contains(forbidden), "the page contains {forbidden}");
    }

    let profile = dir.join("profile");
    let out = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", html_path.display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium failed: {log}");
    let page_errors: Vec<&str> =
        log.lines().filter(|l| l.contains(":CONSOLE") || l.contains("net::ERR_") || l.contains("Uncaught")).collect();
    assert!(page_errors.is_empty(), "the page logged errors: {page_errors:#?}");
    assert!(dom.contains("id=\"statement\""), "the page did not render: {}", &dom[..dom.len().min(500)]);

    let report: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let h = &report["headline"];
    for key in ["overseas", "domestic", "unattributed", "total"] {
        for what in ["c2_servers", "hosts"] {
            let field = format!("{key}_{what}");
            assert_eq!(figure(&dom, &format!("data-figure=\"{field}\"")), h[&field].as_u64(), "{field}");
        }
    }
    let countries = report["countries"].as_array().unwrap();
    assert!(countries.len() > 5);
    for row in countries {
        let cc = row["country"].as_str().unwrap();
        for what in ["servers", "hosts"] {
            let json_key = if what == "servers" { "c2_servers" } else { "hosts" };
            assert_eq!(
                figure(&dom, &format!("data-country=\"{cc}\" data-figure=\"{what}\"")),
                row[json_key].as_u64(),
                "{cc} {what}"
            );
        }
        // Every country in the table links to its own section, and the map links to it.
        assert!(dom.contains(&format!("id=\"country-{cc}\"")), "no section for {cc}");
    }
    assert!(dom.contains("class=\"map\"") && dom.matches("<path").count() > 150, "the world map is missing");
    let _ = std::fs::remove_dir_all(&dir);
}
