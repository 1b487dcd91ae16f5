//! `vedette fetch` and scheduled fetches in `vedette run`, against a real HTTP server on
//! loopback: a Python 3 standard-library script (http.server) that the test writes and
//! starts. It serves Feodo Tracker-format CSV with an ETag and Last-Modified (and 304 to
//! a matching conditional request), a URL that fails with 503 twice before answering,
//! gzip bodies (a `.gz` file and `Content-Encoding: gzip`), zip archives, an oversized
//! body, a zip bomb, a 404, and a URL that needs an API key header. Every request is
//! logged as a JSON line, which the tests read back.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_vedette");

const SERVER: &str = r#"
import email.utils, gzip, http.server, io, json, sys, threading, time, zipfile

LOG = sys.argv[1]
FEODO = b'''################################################################
# abuse.ch Feodo Tracker Botnet C2 IP Blocklist (CSV)          #
################################################################
"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"
"2013-01-17 07:44:46","51.178.161.32","4643","online","2013-05-28","Dridex"
"2013-02-02 11:05:12","2001:db8:1::5","443","offline","2013-03-01","Emotet"
"2013-03-11 00:00:01","185.117.73.22","447","offline","2013-04-02","TrickBot"
# Number of entries: 3
'''
ETAG = '"feodo-v1"'
LAST_MODIFIED = "Fri, 31 May 2013 10:00:05 GMT"
DROP = b'{"cidr":"192.0.2.0/24","sblid":"SBL000001","rir":"ripencc"}\n{"cidr":"198.51.100.0/24","sblid":"SBL000002","rir":"arin"}\n'
URLS = b"https://login.example-bank.com.phish.example/secure/\nhttp://198.51.100.120/paypal/\n"
DSHIELD = b"Start\tEnd\tNetblock\tAttacks\tName\tCountry\temail\n198.51.100.0\t198.51.100.255\t24\t12345\tEXAMPLE-AS\tCN\tabuse@example.cn\n"

def zipped(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            if name.endswith("/"):
                z.writestr(zipfile.ZipInfo(name), b"")
            else:
                z.writestr(name, data)
    return buf.getvalue()

FEODO_ZIP = zipped([("README.txt", b"not a feed\n"), ("ipblocklist.csv", FEODO)])
LISTS_ZIP = zipped([("lists/", b""), ("lists/ssh.txt", b"198.51.100.80\n198.51.100.81\n"),
                    ("lists/mail.txt", b"203.0.113.7\n203.0.113.8\n")])
BOMB_ZIP = zipped([("lists/all.txt", b"0" * (3 << 20))])
BIG = b"198.51.100.1\n" * 120000  # 1.6 MB, over a 1 MiB limit
counts = {}
lock = threading.Lock()

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304:
            self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?")[0]
        with lock:
            counts[path] = counts.get(path, 0) + 1
            n = counts[path]
            with open(LOG, "a") as f:
                f.write(json.dumps({"path": path, "n": n, "t": time.time(),
                                    "if_none_match": self.headers.get("If-None-Match"),
                                    "if_modified_since": self.headers.get("If-Modified-Since"),
                                    "accept_encoding": self.headers.get("Accept-Encoding"),
                                    "auth_key": self.headers.get("Auth-Key")}) + "\n")
        if path == "/feodo.csv":
            validators = [("ETag", ETAG), ("Last-Modified", LAST_MODIFIED)]
            if self.headers.get("If-None-Match") == ETAG:
                return self.send(304, headers=validators)
            return self.send(200, FEODO, validators + [("Content-Type", "text/csv")])
        if path == "/flaky.csv":
            if n == 1:
                return self.send(503, b"busy")
            if n == 2:
                return self.send(503, b"busy", [("Retry-After", "1")])
            return self.send(200, FEODO)
        if path == "/down.json":
            return self.send(503, b"down for maintenance")
        if path == "/urls.txt.gz":
            return self.send(200, gzip.compress(URLS), [("Content-Type", "application/gzip")])
        if path == "/drop.json":
            if "gzip" in (self.headers.get("Accept-Encoding") or ""):
                return self.send(200, gzip.compress(DROP), [("Content-Encoding", "gzip")])
            return self.send(200, DROP)
        if path == "/feodo.zip":
            return self.send(200, FEODO_ZIP, [("Content-Type", "application/zip")])
        if path == "/lists.zip":
            return self.send(200, LISTS_ZIP, [("Content-Disposition", 'attachment; filename="lists.zip"')])
        if path == "/bomb.zip":
            return self.send(200, BOMB_ZIP)
        if path == "/big.txt":
            return self.send(200, BIG)
        if path == "/keyed.txt":
            if self.headers.get("Auth-Key") != "s3cret-key-value":
                return self.send(403, b"forbidden")
            return self.send(200, DSHIELD)
        if path == "/moved.txt":
            return self.send(302, b"", [("Location", "/keyed.txt")])
        return self.send(404, b"not found")

class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that hangs up on a refused body is expected here

server = Server(("127.0.0.1", 0), Handler)
if len(sys.argv) > 3:  # HTTPS: certificate chain and key
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[2], sys.argv[3])
    server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// The HTTP server, stopped when dropped.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
    scheme: &'static str,
}

impl Server {
    fn start(dir: &Path) -> Server {
        Server::start_with(dir, &[])
    }

    /// HTTPS, with the certificate chain and key given (PEM files).
    fn start_tls(dir: &Path, chain: &Path, key: &Path) -> Server {
        let mut server = Server::start_with(dir, &[chain, key]);
        server.scheme = "https";
        server
    }

    fn start_with(dir: &Path, tls: &[&Path]) -> Server {
        let script = dir.join("server.py");
        std::fs::write(&script, SERVER).unwrap();
        let log = dir.join("requests.jsonl");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(&log)
            .args(tls)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs the test's HTTP server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| panic!("the server printed {line:?}, not its port"));
        Server { child, port, log, scheme: "http" }
    }

    fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{path}", self.scheme, self.port)
    }

    /// The requests made for one path, in order.
    fn requests(&self, path: &str) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).filter(|r| r["path"] == path).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vedette-fetch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn vedette(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["--config", &dir.join("vedette.toml").display().to_string()])
        .args(["--store", &format!("sqlite://{}", dir.join("vedette.db").display())])
        .args(args)
        .env("VEDETTE_LOG", "debug")
        .env("VEDETTE_TEST_FEED_KEY", "s3cret-key-value")
        // The server is on loopback: no proxy stands between.
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .output()
        .unwrap()
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The line of stdout about one feed.
fn line_of<'a>(stdout: &'a str, feed: &str) -> &'a str {
    let prefix = format!("{feed}: ");
    stdout.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no line for {feed} in:\n{stdout}"))
}

/// `vedette feeds --json`, by feed name.
fn feeds_json(dir: &Path) -> Vec<Value> {
    let out = vedette(dir, &["feeds", "--json"]);
    assert!(out.status.success(), "{:?}", text(&out));
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

fn feed<'a>(all: &'a [Value], name: &str) -> &'a Value {
    all.iter().find(|f| f["name"] == name).unwrap()
}

#[test]
fn conditional_fetch_reads_once_then_304_and_feeds_shows_the_status() {
    let dir = temp_dir("conditional");
    let server = Server::start(&dir);
    std::fs::write(
        dir.join("vedette.toml"),
        format!("[[feeds]]\nname = \"abusech-feodo\"\nurl = \"{}\"\n", server.url("/feodo.csv")),
    )
    .unwrap();

    let out = vedette(&dir, &["fetch"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let line = line_of(&stdout, "abusech-feodo");
    assert!(line.starts_with("abusech-feodo: 200 OK, 3 events read, 3 new, 0 rejected ("), "{line}");
    let f = feeds_json(&dir);
    assert_eq!(feed(&f, "abusech-feodo")["events"], 3);
    assert_eq!(feed(&f, "abusech-feodo")["last_status"], "200 OK");
    assert_eq!(feed(&f, "abusech-feodo")["url"], server.url("/feodo.csv"));
    // The download is kept beside the store, named after the URL.
    let kept: Vec<String> = std::fs::read_dir(dir.join("downloads/abusech-feodo"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(kept.len() == 1 && kept[0].ends_with("Z-feodo.csv"), "{kept:?}");

    let out = vedette(&dir, &["fetch", "abusech-feodo"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(line_of(&stdout, "abusech-feodo"), "abusech-feodo: 304 not modified");
    let requests = server.requests("/feodo.csv");
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0]["if_none_match"], Value::Null);
    assert_eq!(requests[1]["if_none_match"], "\"feodo-v1\"");
    assert_eq!(requests[1]["if_modified_since"], "Fri, 31 May 2013 10:00:05 GMT");

    let f = feeds_json(&dir);
    assert_eq!(feed(&f, "abusech-feodo")["events"], 3, "a 304 adds nothing");
    assert_eq!(feed(&f, "abusech-feodo")["last_status"], "304 not modified");
    let out = vedette(&dir, &["feeds"]);
    let (stdout, _) = text(&out);
    let header = stdout.lines().next().unwrap();
    assert!(header.contains("LAST FETCH") && header.contains("LAST STATUS"), "{header}");
    let row = stdout.lines().find(|l| l.starts_with("abusech-feodo ")).unwrap();
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert!(row.contains(" 304 ") && row.contains(&today), "{row}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn retries_back_off_and_honour_retry_after() {
    let dir = temp_dir("retries");
    let server = Server::start(&dir);
    std::fs::write(
        dir.join("vedette.toml"),
        format!(
            "[fetch]\nattempts = 4\nretry_seconds = 0.4\n\n[[feeds]]\nname = \"abusech-feodo\"\nurl = \"{}\"\n",
            server.url("/flaky.csv")
        ),
    )
    .unwrap();
    let out = vedette(&dir, &["fetch"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let line = line_of(&stdout, "abusech-feodo");
    assert!(line.contains("200 OK, 3 events read, 3 new") && line.ends_with("(after 3 attempts)"), "{line}");
    assert!(stderr.contains("attempt 1 of 4 failed: 503 Service Unavailable; retrying"), "{stderr}");
    let requests = server.requests("/flaky.csv");
    assert_eq!(requests.len(), 3);
    let t: Vec<f64> = requests.iter().map(|r| r["t"].as_f64().unwrap()).collect();
    // The first retry waits 0.4 s × [0.5, 1); the second at least the 1 s Retry-After.
    assert!(t[1] - t[0] >= 0.19, "first wait {:.3} s", t[1] - t[0]);
    assert!(t[1] - t[0] < 2.0, "first wait {:.3} s", t[1] - t[0]);
    assert!(t[2] - t[1] >= 0.99, "second wait {:.3} s (Retry-After: 1)", t[2] - t[1]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn gzip_and_zip_bodies_are_unpacked_and_read() {
    let dir = temp_dir("unpack");
    let server = Server::start(&dir);
    std::fs::write(
        dir.join("vedette.toml"),
        format!(
            r#"
[[feeds]]
name = "abusech-feodo"
url = "{}"
member = "ipblocklist.csv"
[[feeds]]
name = "blocklistde"
url = "{}"
[[feeds]]
name = "openphish"
url = "{}"
[[feeds]]
name = "spamhaus-drop"
url = "{}"
[[feeds]]
name = "dshield-block"
url = "{}"
headers = {{ "Auth-Key" = "${{VEDETTE_TEST_FEED_KEY}}" }}
"#,
            server.url("/feodo.zip"),
            server.url("/lists.zip"),
            server.url("/urls.txt.gz"),
            server.url("/drop.json"),
            server.url("/moved.txt"),
        ),
    )
    .unwrap();
    let out = vedette(&dir, &["fetch"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // The named member only: the README beside it is not read.
    let feodo = line_of(&stdout, "abusech-feodo");
    assert!(
        feodo.contains("200 OK, 3 events read, 3 new, 0 rejected") && feodo.contains("-ipblocklist.csv"),
        "{feodo}"
    );
    // Every file member; the folder entry is skipped, and each list keeps its name (the
    // service it is about).
    let lists = line_of(&stdout, "blocklistde");
    assert!(lists.contains("200 OK, 4 events read, 4 new, 0 rejected"), "{lists}");
    assert!(lists.contains("-ssh.txt") && lists.contains("-mail.txt"), "{lists}");
    assert!(line_of(&stdout, "openphish").contains("200 OK, 2 events read, 2 new, 0 rejected"), "{stdout}");
    assert!(line_of(&stdout, "spamhaus-drop").contains("200 OK, 2 events read, 2 new, 0 rejected"), "{stdout}");
    assert_eq!(server.requests("/drop.json")[0]["accept_encoding"], "gzip");
    // The key goes to the feed's own host, through its redirect, and is never printed.
    assert!(line_of(&stdout, "dshield-block").contains("200 OK, 1 events read, 1 new"), "{stdout}");
    assert_eq!(server.requests("/keyed.txt")[0]["auth_key"], "s3cret-key-value");
    assert!(!stdout.contains("s3cret") && !stderr.contains("s3cret"), "{stdout}\n{stderr}");
    let gz: Vec<String> = std::fs::read_dir(dir.join("downloads/openphish"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(gz.len() == 1 && gz[0].ends_with("-urls.txt"), "unpacked, named without .gz: {gz:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn failures_are_one_clear_line_each_and_only_all_failing_is_an_error() {
    let dir = temp_dir("failures");
    let server = Server::start(&dir);
    std::fs::write(
        dir.join("vedette.toml"),
        format!(
            r#"
[fetch]
max_mib = 1
attempts = 2
retry_seconds = 0.1

[[feeds]]
name = "blocklistde"
url = "{}"
[[feeds]]
name = "dataplane"
url = "{}"
[[feeds]]
name = "openphish"
url = "{}"
[[feeds]]
name = "spamhaus-drop"
url = "{}"
[[feeds]]
name = "abusech-feodo"
url = "{}"
"#,
            server.url("/big.txt"),
            server.url("/bomb.zip"),
            server.url("/missing.txt"),
            server.url("/down.json"),
            server.url("/feodo.csv"),
        ),
    )
    .unwrap();
    let out = vedette(&dir, &["fetch"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "one feed worked, so the run did: {stdout}\n{stderr}");
    assert_eq!(
        line_of(&stdout, "blocklistde"),
        format!(
            "blocklistde: failed after 1 attempt: the download is larger than the 1 MiB limit ([fetch] max_mib); \
             it was not read ({})",
            server.url("/big.txt")
        )
    );
    let bomb = line_of(&stdout, "dataplane");
    assert!(
        bomb.contains(r#"failed after 1 attempt: the zip archive (at member "lists/all.txt") unpacks to more than the 1 MiB limit"#),
        "{bomb}"
    );
    assert_eq!(
        line_of(&stdout, "openphish"),
        format!("openphish: failed after 1 attempt: 404 Not Found ({})", server.url("/missing.txt"))
    );
    assert_eq!(
        line_of(&stdout, "spamhaus-drop"),
        format!("spamhaus-drop: failed after 2 attempts: 503 Service Unavailable ({})", server.url("/down.json"))
    );
    assert!(line_of(&stdout, "abusech-feodo").contains("200 OK, 3 events read"), "{stdout}");
    assert_eq!(server.requests("/down.json").len(), 2);
    // Nothing of the refused downloads is left behind.
    for feed in ["blocklistde", "dataplane"] {
        let left = std::fs::read_dir(dir.join("downloads").join(feed)).map(|d| d.count()).unwrap_or(0);
        assert_eq!(left, 0, "{feed}");
    }
    let f = feeds_json(&dir);
    assert_eq!(feed(&f, "openphish")["last_status"], "failed: 404 Not Found");
    assert_eq!(feed(&f, "openphish")["events"], 0);

    let out = vedette(&dir, &["fetch", "openphish", "spamhaus-drop"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stdout.contains("openphish: failed") && stdout.contains("spamhaus-drop: failed"), "{stdout}");
    assert!(stderr.trim_end().ends_with("error: all 2 feeds failed"), "{stderr}");

    let out = vedette(&dir, &["fetch", "cymru-cap"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("cymru-cap has no url in the catalogue"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_fetches_on_schedule_without_netflow() {
    let dir = temp_dir("schedule");
    let server = Server::start(&dir);
    std::fs::write(
        dir.join("vedette.toml"),
        format!(
            "[run]\nflush_seconds = 1\n\n[[feeds]]\nname = \"abusech-feodo\"\nurl = \"{}\"\nschedule = \"2s\"\n",
            server.url("/feodo.csv")
        ),
    )
    .unwrap();
    let out = vedette(&dir, &["run", "--stop-after", "5"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("fetching abusech-feodo every 2s, now"), "{stderr}");
    assert!(stderr.contains("abusech-feodo: 200 OK, 3 events read, 3 new"), "{stderr}");
    assert!(stderr.contains("abusech-feodo: 304 not modified"), "{stderr}");
    let requests = server.requests("/feodo.csv");
    assert!((2..=4).contains(&requests.len()), "{requests:?}");
    assert!(!stdout.contains("listened on"), "{stdout}");
    assert!(stdout.contains("feeds fetched"), "{stdout}");
    assert_eq!(feed(&feeds_json(&dir), "abusech-feodo")["events"], 3);

    // A start within the interval since the last fetch waits for it.
    std::fs::write(
        dir.join("vedette.toml"),
        format!("[[feeds]]\nname = \"abusech-feodo\"\nurl = \"{}\"\nschedule = \"1h\"\n", server.url("/feodo.csv")),
    )
    .unwrap();
    let out = vedette(&dir, &["run", "--stop-after", "1"]);
    let (_, stderr) = text(&out);
    assert!(out.status.success() && stderr.contains("fetching abusech-feodo every 1h, next in 35"), "{stderr}");
    assert_eq!(server.requests("/feodo.csv").len(), requests.len());

    std::fs::write(dir.join("vedette.toml"), "").unwrap();
    let out = vedette(&dir, &["run"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("nothing to collect") && stderr.contains("[[feeds]] with a url and a schedule"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A certificate authority and a server certificate it signed for 127.0.0.1, made with
/// the openssl command: (CA certificate, server chain, server key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Vedette test CA"],
    ]
    .concat());
    run(&[&["req"][..], &ec, &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]].concat());
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key"))
}

#[test]
fn https_checks_the_server_against_the_configured_authority() {
    let dir = temp_dir("https");
    let (ca, chain, key) = certificates(&dir);
    let server = Server::start_tls(&dir, &chain, &key);
    let feeds = format!("[[feeds]]\nname = \"abusech-feodo\"\nurl = \"{}\"\n", server.url("/feodo.csv"));

    // The built-in Mozilla roots do not know the test CA: refused, and said so.
    std::fs::write(dir.join("vedette.toml"), format!("[fetch]\nattempts = 1\n\n{feeds}")).unwrap();
    let out = vedette(&dir, &["fetch"]);
    let (stdout, stderr) = text(&out);
    let line = line_of(&stdout, "abusech-feodo");
    assert!(line.contains("failed after 1 attempt") && line.to_lowercase().contains("certificate"), "{line}\n{stderr}");
    assert!(server.requests("/feodo.csv").is_empty(), "no request crosses an unchecked connection");

    // With the CA given, the same server is trusted and the feed read.
    std::fs::write(dir.join("vedette.toml"), format!("[fetch]\nca_file = \"{}\"\n\n{feeds}", ca.display())).unwrap();
    let out = vedette(&dir, &["fetch"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let line = line_of(&stdout, "abusech-feodo");
    assert!(line.starts_with("abusech-feodo: 200 OK, 3 events read, 3 new, 0 rejected ("), "{line}\n{stderr}");
    assert_eq!(server.requests("/feodo.csv").len(), 1);

    // A CA file that holds no certificate is a configuration error naming the key.
    std::fs::write(dir.join("vedette.toml"), format!("[fetch]\nca_file = \"{}\"\n\n{feeds}", key.display())).unwrap();
    let out = vedette(&dir, &["fetch"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("fetch.ca_file:") && stderr.contains("holds no PEM certificate"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
