//! Sources over HTTP(S): a feed's URL downloaded into a file that the pipeline then reads
//! like any other, so deduplication by content and rejected records stay one code path.
//!
//! A fetch is a conditional GET (`If-None-Match` and `If-Modified-Since` from the last
//! success; a `304` means nothing to read), retried with exponential back-off and jitter
//! after connection errors, time-outs, `5xx`, `408` and `429` (a `Retry-After` is
//! honoured), bounded in attempts, in time per request and in size. Gzip bodies
//! (`Content-Encoding: gzip`, or a `.gz` file) are unpacked; a zip archive gives one file
//! per member, or only the member the feed names. Unpacked bytes count against the same
//! size limit, so a zip or gzip bomb is refused instead of written.
//!
//! ```no_run
//! use std::path::Path;
//! use vedette_ingest::fetch::{FeedRequest, FetchOptions, Fetched, Fetcher};
//!
//! let fetcher = Fetcher::new(FetchOptions::default());
//! let request = FeedRequest::new("abusech-feodo", "https://feodotracker.abuse.ch/downloads/ipblocklist.json");
//! match fetcher.fetch(&request, None, Path::new("downloads/abusech-feodo")) {
//!     Ok(Fetched::Downloaded(d)) => println!("{} new, {} bytes", d.files.len(), d.bytes),
//!     Ok(Fetched::NotModified { .. }) => println!("not modified"),
//!     Err(e) => eprintln!("{e}"),
//! }
//! ```
//!
//! Header values (API keys) are secrets: [`Header`] never shows its value, and no error
//! or log line carries one. URLs are shown without their query string and user info
//! ([`display_url`]), where some providers put keys.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Redirects followed before giving up.
const MAX_REDIRECTS: u32 = 5;
/// Members read from one zip archive at most.
const MAX_MEMBERS: usize = 1000;

/// How hard a fetch tries, how long it waits and how much it takes.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Requests per fetch, the first included.
    pub attempts: u32,
    /// The wait before the first retry; doubled for each retry after it, with jitter.
    pub first_retry: Duration,
    /// The longest wait between two attempts; a server asking for a longer one
    /// (`Retry-After`) makes the fetch give up instead.
    pub max_retry: Duration,
    /// One request — connecting, the headers and the whole body — must finish within this.
    pub timeout: Duration,
    /// The most bytes a download may have, counted after unpacking gzip and zip.
    pub max_bytes: u64,
    pub user_agent: String,
    /// The certificate authorities HTTPS servers are checked against, DER-encoded
    /// ([`read_ca_file`]); empty: the Mozilla roots built in. Given, they replace the
    /// built-in roots, as `curl --cacert` does: a partner's portal signed by a private CA.
    pub ca_certs: Vec<Vec<u8>>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            attempts: 4,
            first_retry: Duration::from_secs(2),
            max_retry: Duration::from_secs(60),
            timeout: Duration::from_secs(120),
            max_bytes: 256 << 20,
            user_agent: format!("vedette/{}", env!("CARGO_PKG_VERSION")),
            ca_certs: Vec::new(),
        }
    }
}

/// Reads the certificates of a PEM file (a CA bundle), DER-encoded, for
/// [`FetchOptions::ca_certs`]. Other PEM items (keys) are ignored; a file without a
/// certificate is an error.
pub fn read_ca_file(path: &std::path::Path) -> Result<Vec<Vec<u8>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => certs.push(cert.der().to_vec()),
            Ok(_) => {}
            Err(e) => return Err(format!("{}: not a PEM file: {e}", path.display())),
        }
    }
    if certs.is_empty() {
        return Err(format!("{}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display()));
    }
    Ok(certs)
}

/// A request header a feed is fetched with (an API key, typically). Its value is never
/// shown: `Debug` prints the name only.
#[derive(Clone)]
pub struct Header {
    pub name: String,
    value: String,
}

impl Header {
    /// Checks the name and value as HTTP allows them; the error never repeats the value.
    pub fn new(name: &str, value: &str) -> Result<Header, String> {
        ureq::http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("{name:?} is not a valid header name"))?;
        ureq::http::HeaderValue::from_str(value)
            .map_err(|_| "the value is not a valid header value (it is not shown)".to_string())?;
        Ok(Header { name: name.to_string(), value: value.to_string() })
    }
}

impl std::fmt::Debug for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: <not shown>", self.name)
    }
}

/// What to fetch for one feed.
#[derive(Debug, Clone)]
pub struct FeedRequest {
    pub feed: String,
    pub url: String,
    pub headers: Vec<Header>,
    /// In a zip archive, the one member to read (its path or file name); every file
    /// member when `None`.
    pub member: Option<String>,
}

impl FeedRequest {
    pub fn new(feed: &str, url: &str) -> FeedRequest {
        FeedRequest { feed: feed.to_string(), url: url.to_string(), headers: Vec::new(), member: None }
    }
}

/// What is remembered of a feed's fetches between runs (kept in the store's meta table
/// under [`FetchState::key`]): the validators of the last download, and how the last
/// fetch went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FetchState {
    /// A hash of the URL the validators belong to, not the URL, which may hold a key.
    #[serde(default)]
    pub url_hash: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub last_fetch: Option<DateTime<Utc>>,
    /// `200 OK`, `304 not modified` or `failed: …`.
    pub last_status: Option<String>,
    pub last_success: Option<DateTime<Utc>>,
}

impl FetchState {
    pub fn key(feed: &str) -> String {
        format!("fetch.{feed}")
    }

    /// The stored form; a value that does not read is treated as no state at all.
    pub fn parse(text: &str) -> Option<FetchState> {
        serde_json::from_str(text).ok()
    }

    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The `(ETag, Last-Modified)` to send to `url`: only those it gave itself.
    pub fn validators(&self, url: &str) -> (Option<&str>, Option<&str>) {
        if self.url_hash == url_hash(url) {
            (self.etag.as_deref(), self.last_modified.as_deref())
        } else {
            (None, None)
        }
    }

    /// A download of `url` that was read: its validators are the ones to send next time.
    pub fn downloaded(&mut self, url: &str, at: DateTime<Utc>, download: &Download) {
        self.url_hash = url_hash(url);
        self.etag = download.etag.clone();
        self.last_modified = download.last_modified.clone();
        self.last_fetch = Some(at);
        self.last_success = Some(at);
        self.last_status = Some(download.status_line());
    }

    pub fn not_modified(&mut self, at: DateTime<Utc>) {
        self.last_fetch = Some(at);
        self.last_success = Some(at);
        self.last_status = Some("304 not modified".into());
    }

    /// A failed fetch keeps the validators of the last success.
    pub fn failed(&mut self, at: DateTime<Utc>, reason: &str) {
        self.last_fetch = Some(at);
        self.last_status = Some(format!("failed: {reason}"));
    }
}

fn url_hash(url: &str) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(url.as_bytes()))
}

/// A download written to files.
#[derive(Debug, Clone)]
pub struct Download {
    pub status: u16,
    pub reason: String,
    /// The files written: one, or one per zip member read.
    pub files: Vec<PathBuf>,
    /// Bytes written, after unpacking.
    pub bytes: u64,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub attempts: u32,
}

impl Download {
    /// `200 OK`.
    pub fn status_line(&self) -> String {
        format!("{} {}", self.status, self.reason).trim_end().to_string()
    }
}

/// What a fetch gave.
#[derive(Debug)]
pub enum Fetched {
    /// `304`: the feed has not changed since the last download.
    NotModified {
        attempts: u32,
    },
    Downloaded(Download),
}

/// A fetch that gave nothing to read, with the feed, its URL (as [`display_url`] shows
/// it) and the attempts made.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{feed} ({url}): failed after {attempts} attempt{s}: {reason}", s = if *.attempts == 1 { "" } else { "s" })]
pub struct FetchError {
    pub feed: String,
    pub url: String,
    pub attempts: u32,
    pub reason: String,
}

/// Downloads feeds. One per process is enough: connections are pooled.
pub struct Fetcher {
    agent: ureq::Agent,
    options: FetchOptions,
    stop: Option<Arc<AtomicBool>>,
}

/// rustls, checking servers against the given authorities, or the built-in Mozilla roots.
fn tls_config(ca_certs: &[Vec<u8>]) -> ureq::tls::TlsConfig {
    let roots = if ca_certs.is_empty() {
        ureq::tls::RootCerts::WebPki
    } else {
        let certs: Vec<_> = ca_certs.iter().map(|der| ureq::tls::Certificate::from_der(der).to_owned()).collect();
        ureq::tls::RootCerts::new_with_certs(&certs)
    };
    ureq::tls::TlsConfig::builder().root_certs(roots).build()
}

/// Why one attempt failed.
#[derive(Debug, Clone, PartialEq)]
enum Failure {
    /// Worth another attempt: a connection error, a time-out, `5xx`, `408`, `429`.
    Transient { reason: String, retry_after: Option<Duration> },
    /// Another attempt would fail the same way: `404`, a body over the limit, a bad archive.
    Permanent(String),
}

impl Fetcher {
    pub fn new(options: FetchOptions) -> Fetcher {
        let agent = ureq::Agent::config_builder()
            // Statuses are answers to read (Retry-After, 304), not errors.
            .http_status_as_error(false)
            // Redirects are followed here, so that the feed's headers (API keys) are not
            // sent on to another host.
            .max_redirects(0)
            .timeout_global(Some(options.timeout))
            .timeout_connect(Some(options.timeout.min(Duration::from_secs(30))))
            .user_agent(options.user_agent.as_str())
            .tls_config(tls_config(&options.ca_certs))
            .build()
            .new_agent();
        Fetcher { agent, options, stop: None }
    }

    /// A flag that, once set, ends the waits between attempts: a stopping collector does
    /// not sit out a back-off.
    pub fn with_stop(mut self, stop: Arc<AtomicBool>) -> Fetcher {
        self.stop = Some(stop);
        self
    }

    /// Fetches one feed into `dir` (created if missing), conditionally on `previous`.
    /// Blocking: call it from a thread that may block.
    pub fn fetch(
        &self,
        request: &FeedRequest,
        previous: Option<&FetchState>,
        dir: &Path,
    ) -> Result<Fetched, FetchError> {
        let error = |attempts: u32, reason: String| FetchError {
            feed: request.feed.clone(),
            url: display_url(&request.url),
            attempts,
            reason,
        };
        let (etag, last_modified) = previous.map(|p| p.validators(&request.url)).unwrap_or((None, None));
        let stamp = Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let backoff = Backoff {
            attempts: self.options.attempts.max(1),
            first: self.options.first_retry,
            max: self.options.max_retry,
        };
        let mut jitter = Jitter::new();
        let stop = self.stop.clone();
        let mut pause = |wait: Duration| pause(wait, stop.as_deref());
        let outcome = retry(&backoff, &mut pause, &mut || jitter.next(), |attempt| {
            let mut result = self.attempt(request, etag, last_modified, dir, &stamp);
            // Transport errors may quote the URL they were given, query string and all.
            if let Err(Failure::Transient { reason, .. } | Failure::Permanent(reason)) = &mut result {
                if reason.contains(&request.url) {
                    *reason = reason.replace(&request.url, &display_url(&request.url));
                }
            }
            if let Err(Failure::Transient { reason, .. }) = &result {
                if attempt < backoff.attempts {
                    tracing::warn!(
                        feed = %request.feed,
                        url = %display_url(&request.url),
                        "attempt {attempt} of {} failed: {reason}; retrying",
                        backoff.attempts
                    );
                }
            }
            result
        });
        match outcome {
            Ok((Fetched::Downloaded(mut d), attempts)) => {
                d.attempts = attempts;
                Ok(Fetched::Downloaded(d))
            }
            Ok((Fetched::NotModified { .. }, attempts)) => Ok(Fetched::NotModified { attempts }),
            Err((reason, attempts)) => Err(error(attempts, reason)),
        }
    }

    /// One request, following redirects.
    fn attempt(
        &self,
        request: &FeedRequest,
        etag: Option<&str>,
        last_modified: Option<&str>,
        dir: &Path,
        stamp: &str,
    ) -> Result<Fetched, Failure> {
        let mut url = request.url.clone();
        let mut own_host = true;
        for _ in 0..=MAX_REDIRECTS {
            let mut call = self.agent.get(&url).header("Accept-Encoding", "gzip");
            if own_host {
                for h in &request.headers {
                    call = call.header(h.name.as_str(), h.value.as_str());
                }
            }
            if let Some(etag) = etag {
                call = call.header("If-None-Match", etag);
            }
            if let Some(since) = last_modified {
                call = call.header("If-Modified-Since", since);
            }
            let response = call.call().map_err(classify)?;
            let status = response.status();
            let code = status.as_u16();
            let header =
                |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(|v| v.trim().to_string());
            let reason = status.canonical_reason().unwrap_or("").to_string();
            match code {
                304 => return Ok(Fetched::NotModified { attempts: 0 }),
                300..=399 => {
                    let location = header("location")
                        .ok_or_else(|| Failure::Permanent(format!("{code} {reason} without a Location")))?;
                    let next = resolve_location(&url, &location);
                    own_host &= same_origin(&url, &next);
                    url = next;
                    continue;
                }
                200..=299 => {}
                408 | 429 | 500..=599 => {
                    let retry_after = header("retry-after").and_then(|v| parse_retry_after(&v, Utc::now()));
                    return Err(Failure::Transient {
                        reason: format!("{code} {reason}").trim_end().into(),
                        retry_after,
                    });
                }
                _ => return Err(Failure::Permanent(format!("{code} {reason}").trim_end().into())),
            }
            let limit = self.options.max_bytes;
            let gzip_encoded = header("content-encoding").is_some_and(|e| e.eq_ignore_ascii_case("gzip"));
            if let Some(length) = header("content-length").and_then(|l| l.parse::<u64>().ok()) {
                if length > limit && !gzip_encoded {
                    return Err(Failure::Permanent(too_big(limit)));
                }
            }
            let etag = header("etag");
            let last_modified = header("last-modified");
            let name = header("content-disposition")
                .and_then(|d| disposition_file_name(&d))
                .or_else(|| url_file_name(&url))
                .unwrap_or_else(|| request.feed.clone());
            let name = sanitise(&name);
            // The bytes on the wire are capped too: a gzip stream of empty members would
            // otherwise unpack to nothing for ever.
            let body = Capped { inner: response.into_body().into_reader(), left: limit };
            let body: Box<dyn Read> =
                if gzip_encoded { Box::new(flate2::read::MultiGzDecoder::new(body)) } else { Box::new(body) };
            // Created only for a body: failed fetches leave no empty folders.
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::Permanent(format!("cannot create {}: {e}", dir.display())))?;
            let partial = dir.join(format!(".partial-{stamp}-{name}"));
            let written = write_partial(body, &partial, limit);
            let files = written.and_then(|_| {
                unpack(&partial, dir, stamp, &name, request.member.as_deref(), limit).map_err(Failure::Permanent)
            });
            let _ = std::fs::remove_file(&partial);
            let (files, bytes) = files?;
            return Ok(Fetched::Downloaded(Download {
                status: code,
                reason,
                files,
                bytes,
                etag,
                last_modified,
                attempts: 0,
            }));
        }
        Err(Failure::Permanent(format!("more than {MAX_REDIRECTS} redirects")))
    }
}

fn too_big(limit: u64) -> String {
    format!("the download is larger than the {} limit ([fetch] max_mib); it was not read", human_bytes(limit))
}

/// `256 MiB`, `1.5 KiB`, `12 bytes`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Transport errors: those another attempt may cure, and those it will not.
fn classify(e: ureq::Error) -> Failure {
    use ureq::Error as E;
    let reason = e.to_string();
    match e {
        E::Io(_) | E::Timeout(_) | E::HostNotFound | E::ConnectionFailed | E::Protocol(_) => {
            Failure::Transient { reason, retry_after: None }
        }
        _ => Failure::Permanent(reason),
    }
}

/// Copies the body to `path`, refusing more than `limit` bytes. Read errors (a dropped
/// connection) are worth another attempt; write errors (a full disk) are not.
fn write_partial(mut body: impl Read, path: &Path, limit: u64) -> Result<u64, Failure> {
    let mut file =
        File::create(path).map_err(|e| Failure::Permanent(format!("cannot create {}: {e}", path.display())))?;
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.get_ref().is_some_and(|inner| inner.is::<OverLimit>()) => {
                return Err(Failure::Permanent(too_big(limit)))
            }
            Err(e) => return Err(Failure::Transient { reason: format!("reading the body: {e}"), retry_after: None }),
        };
        total += n as u64;
        if total > limit {
            return Err(Failure::Permanent(too_big(limit)));
        }
        file.write_all(&buf[..n]).map_err(|e| Failure::Permanent(format!("cannot write {}: {e}", path.display())))?;
    }
    file.flush().map_err(|e| Failure::Permanent(format!("cannot write {}: {e}", path.display())))?;
    Ok(total)
}

/// A reader that fails with [`OverLimit`] past `left` bytes, instead of ending quietly as
/// `take` would (a cut gzip stream would read as a corrupt one).
struct Capped<R> {
    inner: R,
    left: u64,
}

#[derive(Debug)]
struct OverLimit;

impl std::fmt::Display for OverLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("over the size limit")
    }
}

impl std::error::Error for OverLimit {}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(io::Error::new(io::ErrorKind::InvalidData, OverLimit));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Turns the downloaded bytes into the files to read: a gzip file unpacked, a zip
/// archive's members, else the file as it came. Returns the files and their total size.
fn unpack(
    partial: &Path,
    dir: &Path,
    stamp: &str,
    name: &str,
    member: Option<&str>,
    limit: u64,
) -> Result<(Vec<PathBuf>, u64), String> {
    let mut head = [0u8; 4];
    let n = File::open(partial)
        .and_then(|mut f| read_head(&mut f, &mut head))
        .map_err(|e| format!("cannot read {}: {e}", partial.display()))?;
    let head = &head[..n];
    if head.starts_with(&[0x1f, 0x8b]) {
        let plain = name.strip_suffix(".gz").or_else(|| name.strip_suffix(".gzip")).unwrap_or(name);
        let target = unique(dir, stamp, plain);
        let file = File::open(partial).map_err(|e| format!("cannot read {}: {e}", partial.display()))?;
        let decoder = flate2::read::MultiGzDecoder::new(BufReader::new(file));
        let bytes = write_bounded(decoder, &target, limit, "the gzip body")?
            .ok_or_else(|| unpacks_too_big("the gzip body", limit))?;
        return Ok((vec![target], bytes));
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return unzip(partial, dir, stamp, member, limit);
    }
    let target = unique(dir, stamp, name);
    std::fs::rename(partial, &target).map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    let bytes = std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0);
    Ok((vec![target], bytes))
}

fn read_head(file: &mut File, head: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Writes `reader` to `target`, refusing (and removing) more than `limit` bytes;
/// `Ok(None)` when there were more. `what` names the source in errors.
fn write_bounded(mut reader: impl Read, target: &Path, limit: u64, what: &str) -> Result<Option<u64>, String> {
    let result = (|| {
        let mut out = File::create(target).map_err(|e| format!("cannot create {}: {e}", target.display()))?;
        let copied =
            io::copy(&mut (&mut reader).take(limit + 1), &mut out).map_err(|e| format!("cannot unpack {what}: {e}"))?;
        if copied > limit {
            return Ok(None);
        }
        out.flush().map_err(|e| format!("cannot write {}: {e}", target.display()))?;
        Ok(Some(copied))
    })();
    if !matches!(result, Ok(Some(_))) {
        let _ = std::fs::remove_file(target);
    }
    result
}

fn unpacks_too_big(what: &str, limit: u64) -> String {
    format!("{what} unpacks to more than the {} limit ([fetch] max_mib)", human_bytes(limit))
}

/// The members of a zip archive to read: the one named (by path or file name), else every
/// member that is not a folder (nor macOS's `__MACOSX/` shadow files).
pub fn select_members(entries: &[(String, bool)], wanted: Option<&str>) -> Result<Vec<usize>, String> {
    let files: Vec<usize> = (0..entries.len())
        .filter(|&i| !entries[i].1 && !entries[i].0.ends_with('/') && !entries[i].0.starts_with("__MACOSX/"))
        .collect();
    let list = || {
        let names: Vec<&str> = files.iter().take(10).map(|&i| entries[i].0.as_str()).collect();
        let more = if files.len() > 10 { format!(" and {} more", files.len() - 10) } else { String::new() };
        if names.is_empty() {
            "none".to_string()
        } else {
            format!("{}{more}", names.join(", "))
        }
    };
    match wanted {
        Some(wanted) => {
            let base = |name: &str| name.rsplit('/').next().unwrap_or(name).to_string();
            let exact: Vec<usize> = files.iter().copied().filter(|&i| entries[i].0 == wanted).collect();
            let found = if exact.is_empty() {
                files.iter().copied().filter(|&i| base(&entries[i].0) == wanted).collect()
            } else {
                exact
            };
            match found.len() {
                0 => Err(format!("the zip archive has no member {wanted:?} (members: {})", list())),
                1 => Ok(found),
                _ => Err(format!("the zip archive has several members named {wanted:?}; name one by its path")),
            }
        }
        None if files.is_empty() => Err("the zip archive holds no file".into()),
        None if files.len() > MAX_MEMBERS => {
            Err(format!("the zip archive holds {} files, more than {MAX_MEMBERS}", files.len()))
        }
        None => Ok(files),
    }
}

fn unzip(
    path: &Path,
    dir: &Path,
    stamp: &str,
    member: Option<&str>,
    limit: u64,
) -> Result<(Vec<PathBuf>, u64), String> {
    let file = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut archive =
        zip::ZipArchive::new(BufReader::new(file)).map_err(|e| format!("not a readable zip archive: {e}"))?;
    let mut entries = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|e| format!("zip member {i}: {e}"))?;
        entries.push((entry.name().to_string(), entry.is_dir()));
    }
    let chosen = select_members(&entries, member)?;
    let mut files = Vec::with_capacity(chosen.len());
    let mut total = 0u64;
    let result = (|| {
        for i in chosen {
            let name = &entries[i].0;
            let mut entry = archive.by_index(i).map_err(|e| format!("zip member {name:?}: {e}"))?;
            let base = sanitise(name.rsplit('/').next().unwrap_or(name));
            let target = unique(dir, stamp, &base);
            // The sizes an archive declares are not trusted: the bytes are counted.
            let bytes = write_bounded(&mut entry, &target, limit - total, &format!("zip member {name:?}"))?
                .ok_or_else(|| unpacks_too_big(&format!("the zip archive (at member {name:?})"), limit))?;
            total += bytes;
            files.push(target);
        }
        Ok(())
    })();
    if let Err(e) = result {
        for f in &files {
            let _ = std::fs::remove_file(f);
        }
        return Err(e);
    }
    Ok((files, total))
}

/// `<stamp>-<name>` in `dir`, or `<stamp>-<n>-<name>` when that is taken: the stamp stays
/// first, so the files of one download sort and group together ([`download_stamp`]).
fn unique(dir: &Path, stamp: &str, name: &str) -> PathBuf {
    let first = dir.join(format!("{stamp}-{name}"));
    if !first.exists() {
        return first;
    }
    (1..).map(|i| dir.join(format!("{stamp}-{i}-{name}"))).find(|p| !p.exists()).unwrap_or(first)
}

/// The download a file in a feed's folder came from (its time stamp), for pruning old
/// downloads; `None` for other files.
pub fn download_stamp(file_name: &str) -> Option<&str> {
    let (stamp, _) = file_name.split_once('-')?;
    (stamp.len() == 16 && stamp.ends_with('Z') && stamp.as_bytes()[8] == b'T').then_some(stamp)
}

/// A file name safe on every system: letters, digits, `.`, `-` and `_`; never empty,
/// never a dot file.
fn sanitise(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .take(100)
        .collect();
    let cleaned = cleaned.trim_start_matches('.').to_string();
    if cleaned.is_empty() {
        "download".into()
    } else {
        cleaned
    }
}

/// The file name a `Content-Disposition` header gives: `filename*=UTF-8''…` or `filename=…`.
pub fn disposition_file_name(value: &str) -> Option<String> {
    let mut plain = None;
    for part in value.split(';').map(str::trim) {
        let Some((key, v)) = part.split_once('=') else { continue };
        let v = v.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "filename*" => {
                // RFC 5987: charset'language'percent-encoded
                let encoded = v.splitn(3, '\'').nth(2)?;
                let name = percent_decode(encoded);
                if !name.is_empty() {
                    return Some(base_name(&name));
                }
            }
            "filename" => plain = Some(base_name(v.trim_matches('"'))),
            _ => {}
        }
    }
    plain.filter(|n| !n.is_empty())
}

fn base_name(name: &str) -> String {
    name.rsplit(['/', '\\']).next().unwrap_or(name).to_string()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The last non-empty segment of a URL's path (`…/lists/all.txt` → `all.txt`).
fn url_file_name(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.split(['?', '#']).next().unwrap_or("");
    let path = path.split_once('/').map(|(_, p)| p)?;
    path.split('/').rev().find(|s| !s.is_empty()).map(percent_decode)
}

/// `Retry-After`: seconds, or an HTTP date (then the time until it, from `now`).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// `scheme://host[:port]` of a URL, lower-cased.
fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or(authority);
    format!("{}://{}", scheme.to_ascii_lowercase(), host.to_ascii_lowercase())
}

fn same_origin(a: &str, b: &str) -> bool {
    origin(a) == origin(b)
}

/// A redirect's `Location`, absolute or relative to `base`.
fn resolve_location(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let scheme = base.split_once("://").map_or("https", |(s, _)| s);
    if let Some(rest) = location.strip_prefix("//") {
        return format!("{scheme}://{rest}");
    }
    let origin = origin(base);
    if location.starts_with('/') {
        return format!("{origin}{location}");
    }
    let path = base.split(['?', '#']).next().unwrap_or(base);
    let dir = match path.split_once("://").map(|(_, r)| r) {
        Some(r) if r.contains('/') => &path[..path.rfind('/').map_or(path.len(), |i| i + 1)],
        _ => return format!("{origin}/{location}"),
    };
    format!("{dir}{location}")
}

/// A URL as messages show it: without user info and query string, where keys hide.
pub fn display_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), url),
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((b, _)) => (b, "?…"),
        None => (rest.split('#').next().unwrap_or(rest), ""),
    };
    let (authority, path) = match before_query.find('/') {
        Some(i) => before_query.split_at(i),
        None => (before_query, ""),
    };
    let host = authority.rsplit('@').next().unwrap_or(authority);
    format!("{scheme}{host}{path}{query}")
}

/// Whether a URL is one the fetcher can download: `http://` or `https://` with a host.
pub fn check_url(url: &str) -> Result<(), String> {
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(format!("{:?} is not an http:// or https:// URL", display_url(url)));
    }
    match ureq::http::Uri::try_from(url) {
        Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) => Ok(()),
        _ => Err(format!("{:?} is not a valid URL", display_url(url))),
    }
}

/// How long between fetches: `30s`, `5m`, `1h`, `24h`, `7d`, or in words (`hourly`,
/// `daily`, `weekly`, `every 5 minutes`).
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let t = text.trim().to_ascii_lowercase();
    let bad = || format!("{text:?} is not an interval (e.g. 5m, 1h, 24h, hourly, daily)");
    let words = match t.as_str() {
        "hourly" | "every hour" => Some(3600),
        "daily" | "every day" => Some(86_400),
        "weekly" | "every week" => Some(7 * 86_400),
        _ => None,
    };
    if let Some(s) = words {
        return Ok(Duration::from_secs(s));
    }
    let t = t.strip_prefix("every ").unwrap_or(&t).trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let unit_seconds = match unit.trim() {
        "s" | "sec" | "second" | "seconds" => 1,
        "m" | "min" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        _ => return Err(bad()),
    };
    match n.checked_mul(unit_seconds) {
        Some(0) => Err(format!("{text:?}: an interval must be at least one second")),
        Some(s) => Ok(Duration::from_secs(s)),
        None => Err(bad()),
    }
}

/// An interval as `parse_interval` reads it back: `30s`, `5m`, `1h`, `24h`.
pub fn format_interval(d: Duration) -> String {
    let s = d.as_secs();
    if s > 0 && s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s > 0 && s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// Exponential back-off: the n-th retry waits `first × 2^(n-1)`, at most `max`, times a
/// random factor in [0.5, 1) so that many collectors do not retry in step.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub attempts: u32,
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The wait after `failures` failed attempts (1 or more), for a `jitter` in [0, 1).
    pub fn delay(&self, failures: u32, jitter: f64) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(30));
        let nominal = self.first.saturating_mul(factor).min(self.max);
        nominal.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// Runs `attempt` until it succeeds, fails for good, or the attempts run out. `pause`
/// waits (and says `false` when the wait was cut short by a stop); `jitter` draws from
/// [0, 1). Returns what succeeded with the number of attempts, or the last reason.
fn retry<T>(
    backoff: &Backoff,
    pause: &mut dyn FnMut(Duration) -> bool,
    jitter: &mut dyn FnMut() -> f64,
    mut attempt: impl FnMut(u32) -> Result<T, Failure>,
) -> Result<(T, u32), (String, u32)> {
    let mut n = 1;
    loop {
        match attempt(n) {
            Ok(value) => return Ok((value, n)),
            Err(Failure::Permanent(reason)) => return Err((reason, n)),
            Err(Failure::Transient { reason, retry_after }) => {
                if n >= backoff.attempts {
                    return Err((reason, n));
                }
                let mut wait = backoff.delay(n, jitter());
                if let Some(asked) = retry_after {
                    if asked > backoff.max {
                        return Err((
                            format!(
                                "{reason} (the server asks to retry after {} s, longer than the {} s the fetcher waits)",
                                asked.as_secs(),
                                backoff.max.as_secs()
                            ),
                            n,
                        ));
                    }
                    wait = wait.max(asked);
                }
                if !pause(wait) {
                    return Err((format!("{reason} (stopped before retrying)"), n));
                }
                n += 1;
            }
        }
    }
}

/// Sleeps, in short steps while a stop flag may cut it short; `false` when it did.
fn pause(wait: Duration, stop: Option<&AtomicBool>) -> bool {
    let Some(stop) = stop else {
        std::thread::sleep(wait);
        return true;
    };
    let end = std::time::Instant::now() + wait;
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = std::time::Instant::now();
        if now >= end {
            return true;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(100)));
    }
}

/// A small xorshift generator seeded from the standard library's random hasher keys:
/// jitter needs spread, not cryptographic strength.
struct Jitter(u64);

impl Jitter {
    fn new() -> Jitter {
        use std::hash::{BuildHasher, Hasher};
        let seed = std::collections::hash_map::RandomState::new().build_hasher().finish();
        Jitter(seed | 1)
    }

    fn next(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff() -> Backoff {
        Backoff { attempts: 4, first: Duration::from_secs(1), max: Duration::from_secs(5) }
    }

    fn transient(retry_after: Option<Duration>) -> Failure {
        Failure::Transient { reason: "503 Service Unavailable".into(), retry_after }
    }

    #[test]
    fn back_off_doubles_with_jitter_up_to_the_cap() {
        let b = backoff();
        assert_eq!(b.delay(1, 0.0), Duration::from_millis(500));
        assert_eq!(b.delay(1, 0.999_999), Duration::from_secs(1).mul_f64(0.999_999_5));
        assert_eq!(b.delay(2, 0.0), Duration::from_secs(1));
        assert_eq!(b.delay(3, 0.0), Duration::from_secs(2));
        assert_eq!(b.delay(4, 0.0), Duration::from_millis(2500)); // 8 s capped at 5 s, halved
        assert_eq!(b.delay(40, 0.5), Duration::from_millis(3750));
    }

    #[test]
    fn retries_wait_as_the_back_off_says_and_stop_after_the_last_attempt() {
        let mut waits = Vec::new();
        let mut calls = 0;
        let result: Result<((), u32), (String, u32)> = retry(
            &backoff(),
            &mut |d| {
                waits.push(d);
                true
            },
            &mut || 0.0,
            |n| {
                calls += 1;
                assert_eq!(n, calls);
                Err(transient(None))
            },
        );
        assert_eq!(result, Err(("503 Service Unavailable".into(), 4)));
        assert_eq!(waits, [500, 1000, 2000].map(Duration::from_millis));
    }

    #[test]
    fn success_after_failures_counts_the_attempts() {
        let mut waits = Vec::new();
        let result = retry(
            &backoff(),
            &mut |d| {
                waits.push(d);
                true
            },
            &mut || 0.5,
            |n| {
                if n < 3 {
                    Err(transient(None))
                } else {
                    Ok("body")
                }
            },
        );
        assert_eq!(result, Ok(("body", 3)));
        assert_eq!(waits, [750, 1500].map(Duration::from_millis));
    }

    #[test]
    fn retry_after_is_honoured_and_one_too_long_gives_up() {
        let mut waits = Vec::new();
        let result = retry(
            &backoff(),
            &mut |d| {
                waits.push(d);
                true
            },
            &mut || 0.0,
            |n| {
                if n == 1 {
                    Err(transient(Some(Duration::from_secs(3))))
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!(result, Ok(((), 2)));
        assert_eq!(waits, [Duration::from_secs(3)]);

        let result: Result<((), u32), _> =
            retry(&backoff(), &mut |_| true, &mut || 0.0, |_| Err(transient(Some(Duration::from_secs(600)))));
        let (reason, attempts) = result.unwrap_err();
        assert_eq!(attempts, 1);
        assert!(reason.contains("retry after 600 s"), "{reason}");
    }

    #[test]
    fn permanent_failures_and_stops_are_not_retried() {
        let result: Result<((), u32), _> = retry(&backoff(), &mut |_| panic!("no wait"), &mut || 0.0, |_| {
            Err(Failure::Permanent("404 Not Found".into()))
        });
        assert_eq!(result, Err(("404 Not Found".into(), 1)));
        let result: Result<((), u32), _> = retry(&backoff(), &mut |_| false, &mut || 0.0, |_| Err(transient(None)));
        assert!(result.unwrap_err().0.contains("stopped"));
    }

    #[test]
    fn jitter_stays_in_range() {
        let mut j = Jitter::new();
        for _ in 0..10_000 {
            let x = j.next();
            assert!((0.0..1.0).contains(&x), "{x}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn content_disposition_gives_a_base_name() {
        assert_eq!(disposition_file_name(r#"attachment; filename="full.csv.zip""#).as_deref(), Some("full.csv.zip"));
        assert_eq!(disposition_file_name("attachment; filename=report.csv").as_deref(), Some("report.csv"));
        assert_eq!(
            disposition_file_name("attachment; filename=\"x.csv\"; filename*=UTF-8''caf%C3%A9%20list.csv").as_deref(),
            Some("café list.csv")
        );
        assert_eq!(disposition_file_name(r#"attachment; filename="../../etc/passwd""#).as_deref(), Some("passwd"));
        assert_eq!(disposition_file_name("inline"), None);
        assert_eq!(sanitise("café list.csv"), "caf__list.csv");
        assert_eq!(sanitise("..hidden"), "hidden");
        assert_eq!(sanitise(""), "download");
    }

    #[test]
    fn url_names_origins_and_redirects() {
        assert_eq!(url_file_name("https://lists.blocklist.de/lists/all.txt?x=1").as_deref(), Some("all.txt"));
        assert_eq!(url_file_name("https://threatfox.abuse.ch/export/csv/recent/").as_deref(), Some("recent"));
        assert_eq!(url_file_name("https://example.org"), None);
        assert!(same_origin("https://A.example/x", "https://a.example/y?z"));
        assert!(!same_origin("https://a.example/x", "http://a.example/x"));
        assert!(!same_origin("https://a.example/x", "https://cdn.example/x"));
        assert_eq!(resolve_location("https://a.example/d/f.csv", "/g.csv"), "https://a.example/g.csv");
        assert_eq!(resolve_location("https://a.example/d/f.csv", "g.csv"), "https://a.example/d/g.csv");
        assert_eq!(resolve_location("https://a.example/d/f.csv", "//b.example/h"), "https://b.example/h");
        assert_eq!(resolve_location("https://a.example/d/f.csv", "http://c.example/"), "http://c.example/");
        assert_eq!(resolve_location("https://a.example", "g.csv"), "https://a.example/g.csv");
    }

    #[test]
    fn urls_are_shown_without_keys() {
        assert_eq!(
            display_url("https://user:pw@feeds.example/list.csv?apikey=s3cret"),
            "https://feeds.example/list.csv?…"
        );
        assert_eq!(display_url("http://127.0.0.1:8080/a#frag"), "http://127.0.0.1:8080/a");
        assert!(check_url("https://feeds.example/x").is_ok());
        assert!(check_url("ftp://feeds.example/x").unwrap_err().contains("http://"));
        assert!(check_url("https:///x").is_err());
    }

    #[test]
    fn headers_check_names_and_values_and_never_show_values() {
        let h = Header::new("Auth-Key", "s3cret").unwrap();
        assert_eq!(format!("{h:?}"), "Auth-Key: <not shown>");
        assert!(Header::new("Bad Name", "x").unwrap_err().contains("header name"));
        let e = Header::new("X-Key", "line\nbreak-s3cret").unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
    }

    #[test]
    fn intervals_read_units_and_words() {
        for (text, s) in [
            ("30s", 30),
            ("5m", 300),
            ("5min", 300),
            ("1h", 3600),
            ("24h", 86_400),
            ("7d", 604_800),
            ("hourly", 3600),
            ("daily", 86_400),
            ("every 5 minutes", 300),
            ("every 2 hours", 7200),
        ] {
            assert_eq!(parse_interval(text), Ok(Duration::from_secs(s)), "{text}");
        }
        for bad in ["", "5", "h", "0s", "5 fortnights", "-1h"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
        assert_eq!(format_interval(Duration::from_secs(300)), "5m");
        assert_eq!(format_interval(Duration::from_secs(86_400)), "24h");
        assert_eq!(format_interval(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn zip_members_are_chosen_by_path_or_name() {
        let entries: Vec<(String, bool)> = [
            ("data/", true),
            ("data/ipblocklist.csv", false),
            ("data/readme.txt", false),
            ("__MACOSX/data/._ipblocklist.csv", false),
            ("other/ipblocklist.csv", false),
        ]
        .iter()
        .map(|(n, d)| (n.to_string(), *d))
        .collect();
        assert_eq!(select_members(&entries, None), Ok(vec![1, 2, 4]));
        assert_eq!(select_members(&entries, Some("data/ipblocklist.csv")), Ok(vec![1]));
        assert_eq!(select_members(&entries, Some("readme.txt")), Ok(vec![2]));
        assert!(select_members(&entries, Some("ipblocklist.csv")).unwrap_err().contains("several"));
        let e = select_members(&entries, Some("nope.csv")).unwrap_err();
        assert!(e.contains("no member \"nope.csv\"") && e.contains("data/readme.txt"), "{e}");
        assert!(select_members(&entries[..1], None).unwrap_err().contains("no file"));
    }

    #[test]
    fn state_sends_validators_only_to_the_url_that_gave_them() {
        let mut state = FetchState::default();
        let at = Utc::now();
        let d = Download {
            status: 200,
            reason: "OK".into(),
            files: vec![],
            bytes: 1,
            etag: Some("\"v1\"".into()),
            last_modified: Some("Sun, 06 Nov 1994 08:49:37 GMT".into()),
            attempts: 1,
        };
        state.downloaded("https://a.example/x?key=secret", at, &d);
        assert_eq!(
            state.validators("https://a.example/x?key=secret"),
            (Some("\"v1\""), Some("Sun, 06 Nov 1994 08:49:37 GMT"))
        );
        assert_eq!(state.validators("https://a.example/y"), (None, None));
        assert!(!state.to_text().contains("secret"));
        state.failed(at, "503 Service Unavailable");
        let back = FetchState::parse(&state.to_text()).unwrap();
        assert_eq!(back, state);
        assert_eq!(back.last_status.as_deref(), Some("failed: 503 Service Unavailable"));
        assert_eq!(back.etag.as_deref(), Some("\"v1\""));
        assert_eq!(FetchState::parse("not json"), None);
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vedette-fetch-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn gzip_and_zip_bodies_are_unpacked_within_the_limit() {
        let dir = temp_dir("unpack");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"198.51.100.1\n").unwrap();
        let partial = dir.join(".partial-a");
        std::fs::write(&partial, gz.finish().unwrap()).unwrap();
        let (files, bytes) = unpack(&partial, &dir, "T1", "all.txt.gz", None, 1000).unwrap();
        assert_eq!(bytes, 13);
        assert_eq!(files, vec![dir.join("T1-all.txt")]);
        assert_eq!(std::fs::read(&files[0]).unwrap(), b"198.51.100.1\n");

        // A gzip bomb in miniature: 100 kB of zeros, limit 10 kB.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b'0'; 100_000]).unwrap();
        std::fs::write(&partial, gz.finish().unwrap()).unwrap();
        let e = unpack(&partial, &dir, "T2", "bomb.gz", None, 10_000).unwrap_err();
        assert!(e.contains("more than the 9.8 KiB limit"), "{e}");
        assert!(!dir.join("T2-bomb").exists());

        let plain = dir.join(".partial-b");
        std::fs::write(&plain, b"plain\n").unwrap();
        let (files, _) = unpack(&plain, &dir, "T3", "feed.txt", None, 1000).unwrap();
        assert_eq!(files, vec![dir.join("T3-feed.txt")]);
        assert!(!plain.exists());
        std::fs::write(&plain, b"again\n").unwrap();
        let (files, _) = unpack(&plain, &dir, "T3", "feed.txt", None, 1000).unwrap();
        assert_eq!(files, vec![dir.join("T3-1-feed.txt")]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn download_files_are_grouped_by_their_stamp() {
        assert_eq!(download_stamp("20261129T071000Z-ipblocklist.csv"), Some("20261129T071000Z"));
        assert_eq!(download_stamp("20261129T071000Z-1-ipblocklist.csv"), Some("20261129T071000Z"));
        assert_eq!(download_stamp(".partial-20261129T071000Z-x"), None);
        assert_eq!(download_stamp("notes-2026.txt"), None);
    }

    #[test]
    fn bodies_over_the_limit_are_refused_not_cut() {
        let dir = temp_dir("capped");
        let path = dir.join(".partial");
        let body = Capped { inner: &[b'x'; 100][..], left: 99 };
        assert_eq!(write_partial(body, &path, 1000), Err(Failure::Permanent(too_big(1000))));
        let body = Capped { inner: &[b'x'; 100][..], left: 100 };
        assert_eq!(write_partial(body, &path, 1000), Ok(100));
        assert_eq!(write_partial(&[b'x'; 100][..], &path, 99), Err(Failure::Permanent(too_big(99))));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_bytes(12), "12 bytes");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(256 << 20), "256 MiB");
    }
}
