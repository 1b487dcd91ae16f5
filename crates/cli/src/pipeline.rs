//! The order of the stages — the one thing only the binary knows:
//! sources → formats → enrich → detect → store, over bounded channels.
//!
//! Indicator feeds go first, so that telemetry read in the same run is matched against
//! what they list. A reader thread per input parses while the main task enriches, detects
//! and writes; the channel between them is bounded, so a slow store slows the reader
//! instead of filling memory.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Read;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, Result};
use chrono::{DateTime, SubsecRound, Utc};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use tokio::sync::mpsc;
use vedette_detect::{BeaconConfig, Detections, Home, IndicatorSet, ReportedInfections, TelemetryDetector};
use vedette_enrich::Attributor;
use vedette_ingest::{Batch, Decoder, FeedEntry, FeedKind, Format, Sealing};
use vedette_model::{Finding, FindingKind, Rejected};
use vedette_store::{EventRows, IngestedFile, Store};

/// Records per message between the reader and the writer.
const BATCH: usize = 8192;
/// Contacts per store write: each write merges whole (day, C2) sets, so fewer, larger
/// writes rewrite less.
const CONTACT_BATCH: usize = 1 << 18;
/// Rows written in one store transaction at most, when that many are waiting.
const ROWS_PER_TRANSACTION: usize = 1 << 16;
/// Messages in flight between them, per reader.
const CHANNEL_DEPTH: usize = 4;
/// Indicator files read at once: parsing two files keeps both cores busy while the store
/// writes (the store's writer is one thread, SQLite's).
const READERS: usize = 2;

/// One file to read, with the feed that reads it.
#[derive(Debug, Clone)]
pub struct Input {
    pub path: PathBuf,
    pub feed: FeedEntry,
}

pub struct Pipeline<'a> {
    pub store: &'a dyn Store,
    pub attributor: Arc<Attributor>,
    pub home: Home,
    pub show_progress: bool,
}

/// What a run did; printed at the end and kept with the run in the store.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub files_read: u64,
    /// Files whose exact content was ingested before: skipped, so nothing is counted twice.
    pub files_skipped: Vec<String>,
    pub bytes: u64,
    pub events_read: u64,
    pub events_added: u64,
    pub flows_read: u64,
    pub flows_matched: u64,
    /// DNS lookups, HTTP requests, TLS hellos, sinkhole hits, passive DNS records.
    pub observations_read: u64,
    pub observations_matched: u64,
    pub rejected: u64,
    pub top_rejection_reasons: Vec<(String, u64)>,
    pub findings: BTreeMap<String, u64>,
    pub contacts: u64,
    pub elapsed_seconds: f64,
    /// The feeds read, as `name (provider)`.
    pub feeds: std::collections::BTreeSet<String>,
    #[serde(skip)]
    pub first_rejections: Vec<Rejected>,
}

impl Summary {
    /// The summary as printed at the end of a run.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut o = String::new();
        let _ = writeln!(o, "Ingest summary");
        let _ = writeln!(o, "  files read       {}", self.files_read);
        for skipped in &self.files_skipped {
            let _ = writeln!(o, "  skipped          {skipped}");
        }
        let _ = writeln!(o, "  events           {} read, {} new", self.events_read, self.events_added);
        if self.flows_read > 0 {
            let _ = writeln!(
                o,
                "  flows            {} read, {} to or from known C2 servers",
                self.flows_read, self.flows_matched
            );
        }
        if self.observations_read > 0 {
            let _ = writeln!(
                o,
                "  DNS/HTTP/TLS     {} records read, {} naming known C2s",
                self.observations_read, self.observations_matched
            );
        }
        let _ = writeln!(o, "  rejected         {}", self.rejected);
        for (reason, n) in &self.top_rejection_reasons {
            let _ = writeln!(o, "    {n:>8}  {reason}");
        }
        let findings: Vec<String> = self.findings.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let _ =
            writeln!(o, "  findings         {}", if findings.is_empty() { "none".into() } else { findings.join(", ") });
        if self.contacts > 0 {
            let _ = writeln!(o, "  C2 contacts      {} (host, C2, day) links", self.contacts);
        }
        let _ = writeln!(o, "  elapsed          {:.1} s", self.elapsed_seconds);
        o
    }
}

/// Reduces a rejection reason to its kind, so "ip: \"a\" is not…" and "ip: \"b\" is not…"
/// count together: quoted values are elided.
fn reason_kind(reason: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for c in reason.chars() {
        if c == '"' {
            if !quoted {
                out.push('…');
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

fn content_hash(path: &PathBuf) -> Result<(String, u64)> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((format!("{:032x}", hasher.digest128()), size))
}

fn progress_bar(show: bool, size: u64, label: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(size);
    bar.set_style(
        ProgressStyle::with_template("{msg:24!} [{bar:32}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .expect("the progress template is valid")
            .progress_chars("=> "),
    );
    bar.set_message(label.to_string());
    bar
}

/// A batch read from a file, its events made into store rows.
struct Prepared {
    /// Everything but the events.
    batch: Batch,
    rows: EventRows,
}

/// Makes a batch's events into rows on the reader's thread, beside the store's writes:
/// the events were sealed as they were read (their identity, the dedupe key, is the
/// feed's), then the attribution fills geolocation.cc, asn, as_name and network where the
/// feed left them empty, and the row's body is written. The rows reuse a batch the writer
/// handed back, whose vector of events the decoder fills next: a batch is ten megabytes,
/// and fresh memory for each was a tenth of the time of an ingest (the kernel zeroing its
/// pages).
fn prepare(batch: &mut Batch, spent: &SpentRows, attributor: &Attributor, observed: DateTime<Utc>) -> Prepared {
    for event in &mut batch.events {
        attributor.fill_event(event);
        event.time_observation = Some(observed);
    }
    let mut rows = spent.take();
    rows.fill(&mut batch.events);
    let mut events = std::mem::take(&mut batch.events);
    events.reserve(BATCH + BATCH / 2);
    let rest = std::mem::replace(batch, Batch { events, ..Batch::default() });
    Prepared { batch: rest, rows }
}

/// Row batches the writer has written, for the readers to fill again.
#[derive(Clone, Default)]
struct SpentRows(Arc<std::sync::Mutex<Vec<EventRows>>>);

impl SpentRows {
    /// A batch to fill: its spent events are dropped when it is filled, on the reader's
    /// thread, beside the allocations they came from.
    fn take(&self) -> EventRows {
        self.0.lock().ok().and_then(|mut spent| spent.pop()).unwrap_or_default()
    }

    /// Keeps the batches for reuse, as many as can be in flight at once.
    fn give_back(&self, batches: Vec<EventRows>, most: usize) {
        if let Ok(mut spent) = self.0.lock() {
            let room = most.saturating_sub(spent.len());
            spent.extend(batches.into_iter().take(room));
        }
    }
}

/// A batch and those already waiting behind it (up to `ROWS_PER_TRANSACTION` rows), so
/// that their rows go into one transaction: SQLite writes each page of the dedupe index a
/// transaction touches once per transaction (8 % of the store's time at 8,192 rows). Stops
/// at a reader's `Done`, returned with them to be handled after.
fn gather_waiting(rx: &mut mpsc::Receiver<Message>, first: Prepared) -> (Vec<EventRows>, Vec<Batch>, Option<usize>) {
    let (mut rows, mut batches) = (vec![first.rows], vec![first.batch]);
    let mut waiting = rows[0].len();
    while waiting < ROWS_PER_TRANSACTION {
        match rx.try_recv() {
            Ok(Message::Batch(more)) => {
                waiting += more.rows.len();
                rows.push(more.rows);
                batches.push(more.batch);
            }
            Ok(Message::Done(index)) => return (rows, batches, Some(index)),
            Err(_) => break,
        }
    }
    (rows, batches, None)
}

/// What a reader thread sends: its file's batches, then once that it has stopped.
enum Message {
    Batch(Prepared),
    /// The reader of file `usize` is done (or failed: its thread's result says).
    Done(usize),
}

/// Parses one file on its own thread, sending batches as they fill, then `Done`.
fn spawn_reader(
    index: usize,
    input: Input,
    attributor: Arc<Attributor>,
    tx: mpsc::Sender<Message>,
    rows: SpentRows,
    bar: ProgressBar,
) -> std::thread::JoinHandle<std::io::Result<()>> {
    // To the microsecond, as IntelMQ writes `time.observation` (and as the store's column
    // holds it).
    let observed = Utc::now().trunc_subsecs(6);
    std::thread::spawn(move || {
        let result = read_file(&input, &attributor, observed, &tx, &rows, &bar);
        bar.finish_and_clear();
        let _ = tx.blocking_send(Message::Done(index));
        result
    })
}

fn read_file(
    input: &Input,
    attributor: &Attributor,
    observed: DateTime<Utc>,
    tx: &mpsc::Sender<Message>,
    rows: &SpentRows,
    bar: &ProgressBar,
) -> std::io::Result<()> {
    // Plain or gzip, recognised by the bytes; the content hash above is of the file as stored.
    let mut file = vedette_ingest::open_source(&input.path)?;
    let source = input.path.display().to_string();
    if input.feed.format == Format::NetflowPcap {
        let counted = CountingReader { inner: file, bar: bar.clone() };
        let summary = vedette_ingest::capture::decode_capture(counted, &source, &input.feed.name, BATCH, |batch| {
            tx.blocking_send(Message::Batch(Prepared { batch, rows: EventRows::default() })).is_ok()
        });
        tracing::info!(?summary, "capture read");
        return Ok(());
    }
    // Each event's identity is fixed as it is read: the dedupe key, taken as the feed gave
    // it, so enrichment and updated attribution data never make a duplicate.
    let mut decoder = Decoder::new(&input.feed, &source).sealing(Sealing::of_feed(&input.feed));
    // A batch is cut after the read that fills it: 256 KiB reads keep it near BATCH.
    let mut buf = vec![0u8; 1 << 18];
    let mut batch = Batch::default();
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        decoder.push(&buf[..n], &mut batch);
        bar.inc(n as u64);
        if batch.len() >= BATCH {
            let prepared = prepare(&mut batch, rows, attributor, observed);
            if tx.blocking_send(Message::Batch(prepared)).is_err() {
                return Ok(()); // the writer stopped; its error is reported there
            }
        }
    }
    decoder.finish(&mut batch);
    let _ = tx.blocking_send(Message::Batch(prepare(&mut batch, rows, attributor, observed)));
    Ok(())
}

/// What the records of a file feed besides the store.
enum Reading<'a> {
    /// Indicator feeds: their infected-system reports.
    Indicators(&'a mut ReportedInfections),
    /// Telemetry: the detector.
    Telemetry(&'a mut TelemetryDetector),
}

/// A reader that moves the progress bar as bytes go through it.
struct CountingReader<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

impl Pipeline<'_> {
    pub async fn run(&self, command: &str, inputs: Vec<Input>) -> Result<Summary> {
        let started = Instant::now();
        let run = self.store.begin_run(command).await?;
        let mut summary = Summary::default();
        let mut reasons: BTreeMap<String, u64> = BTreeMap::new();

        let (indicator_inputs, mut telemetry_inputs): (Vec<_>, Vec<_>) =
            inputs.into_iter().partition(|i| i.feed.kind == FeedKind::Indicators);
        // Names before flows: an address learned from a listed name's DNS answer matches
        // only the flows read after it.
        telemetry_inputs.sort_by_key(|i| telemetry_rank(i.feed.format));

        // Reports that name infected home hosts (Shadowserver sinkhole and drone reports):
        // findings of their own, whatever telemetry says, gathered as their events stream by.
        let mut reports = ReportedInfections::new(self.home.clone());
        // Indicator files are independent: two are parsed at once while the store writes.
        let reading = Reading::Indicators(&mut reports);
        self.ingest_files(run, indicator_inputs, READERS, &mut summary, &mut reasons, reading).await?;
        if !reports.is_empty() {
            self.store_detections((Detections::default(), reports.findings().collect()), &mut summary).await?;
        }
        if !telemetry_inputs.is_empty() {
            let indicators = IndicatorSet::from_events(&self.store.c2_indicators().await?);
            let (addresses, domains, urls, certificates, ja3) = indicators.counts();
            tracing::info!(addresses, domains, urls, certificates, ja3, "indicators compiled");
            let mut matcher = TelemetryDetector::new(indicators, self.home.clone(), BeaconConfig::default());
            // One at a time, in the order above.
            let reading = Reading::Telemetry(&mut matcher);
            self.ingest_files(run, telemetry_inputs, 1, &mut summary, &mut reasons, reading).await?;
            tracing::info!(elapsed_s = started.elapsed().as_secs_f64(), "telemetry read");
            let found = matcher.finish();
            tracing::info!(elapsed_s = started.elapsed().as_secs_f64(), "detection finished");
            self.store_detections(found, &mut summary).await?;
            tracing::info!(elapsed_s = started.elapsed().as_secs_f64(), "findings stored");
        }

        self.record_sources(&summary).await?;
        let mut top: Vec<(String, u64)> = reasons.into_iter().collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        top.truncate(5);
        summary.top_rejection_reasons = top;
        summary.elapsed_seconds = started.elapsed().as_secs_f64();
        self.store.finish_run(run, &serde_json::to_value(&summary)?).await?;
        Ok(summary)
    }

    /// Attributes what detection found and writes it: findings a batch at a time (a
    /// national run finds millions of infected hosts, and only their compact form is kept
    /// in memory), then the C2 contacts with each victim's origin AS.
    pub async fn store_detections(&self, found: (Detections, Vec<Finding>), summary: &mut Summary) -> Result<()> {
        let (mut detections, beacons) = found;
        summary.flows_matched += detections.flows_matched;
        summary.observations_matched += detections.observations_matched;
        let mut victim_asn: HashMap<IpAddr, u32> = HashMap::with_capacity(detections.victims.len());
        let mut chunk: Vec<Finding> = Vec::with_capacity(BATCH);
        // Beaconing findings come first: a candidate C2 that a feed also lists is then
        // widened to confirmed by the indicator match's upsert.
        for mut finding in beacons.into_iter().chain(detections.findings()) {
            if let Ok(ip) = finding.subject.parse::<IpAddr>() {
                let attribution = self.attributor.attribute(ip);
                if finding.kind == FindingKind::InfectedHost {
                    if let Some(asn) = attribution.asn() {
                        victim_asn.insert(ip, asn);
                    }
                }
                finding.attribution = Some(attribution);
            }
            *summary.findings.entry(finding.kind.to_string()).or_default() += 1;
            chunk.push(finding);
            if chunk.len() == BATCH {
                self.store.upsert_findings(&chunk).await?;
                chunk.clear();
            }
        }
        self.store.upsert_findings(&chunk).await?;
        for contact in &mut detections.contacts {
            contact.victim_asn = victim_asn.get(&contact.victim).copied();
        }
        for part in detections.contacts.chunks(CONTACT_BATCH) {
            self.store.add_contacts(part).await?;
        }
        summary.contacts += detections.contacts.len() as u64;
        Ok(())
    }

    /// Keeps the names of the feeds and attribution sources behind the stored figures,
    /// for the report's method section.
    pub async fn record_sources(&self, summary: &Summary) -> Result<()> {
        // With each dataset's version (build date, serial) where the source gives one.
        let attribution = self
            .attributor
            .source_versions()
            .into_iter()
            .map(|(source, version)| match version {
                Some(v) => format!("{source} ({v})"),
                None => source,
            })
            .collect::<Vec<_>>()
            .join(", ");
        if !attribution.is_empty() {
            self.store.set_meta("sources.attribution", &attribution).await?;
        }
        let mut feeds: std::collections::BTreeSet<String> = self
            .store
            .meta("sources.feeds")
            .await?
            .map(|f| f.split(", ").map(str::to_string).collect())
            .unwrap_or_default();
        feeds.extend(summary.feeds.iter().cloned());
        if !feeds.is_empty() {
            self.store.set_meta("sources.feeds", &feeds.into_iter().collect::<Vec<_>>().join(", ")).await?;
        }
        Ok(())
    }

    /// Reads the files, at most `readers` at a time (each on its own thread, in the order
    /// given), and writes what they hold as it comes.
    async fn ingest_files(
        &self,
        run: i64,
        inputs: Vec<Input>,
        readers: usize,
        summary: &mut Summary,
        reasons: &mut BTreeMap<String, u64>,
        mut reading: Reading<'_>,
    ) -> Result<()> {
        let (tx, mut rx) = mpsc::channel::<Message>(CHANNEL_DEPTH * readers.max(1));
        let row_vectors = SpentRows::default();
        let bars = if self.show_progress {
            MultiProgress::new()
        } else {
            MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
        };
        let mut pending = inputs.into_iter().enumerate();
        let mut open: HashMap<usize, OpenFile> = HashMap::new();
        loop {
            while open.len() < readers.max(1) {
                let Some((index, input)) = pending.next() else { break };
                if let Some(file) = self.open_file(index, input, &tx, &row_vectors, &bars, summary).await? {
                    open.insert(index, file);
                }
            }
            if open.is_empty() {
                return Ok(());
            }
            let Some(message) = rx.recv().await else { return Ok(()) };
            let (mut rows, batches, done) = match message {
                Message::Batch(first) => gather_waiting(&mut rx, first),
                Message::Done(index) => (Vec::new(), Vec::new(), Some(index)),
            };
            self.write_rows(run, &mut rows, summary, &mut reading).await?;
            // As many as can be in flight: in the channel, being written, being filled.
            row_vectors.give_back(rows, 2 * (CHANNEL_DEPTH + 1) * readers.max(1));
            for batch in batches {
                self.write_batch(run, batch, summary, reasons, &mut reading).await?;
            }
            if let Some(file) = done.and_then(|index| open.remove(&index)) {
                self.close_file(run, file, summary).await?;
            }
        }
    }

    /// Starts reading a file, unless its exact content was ingested before.
    async fn open_file(
        &self,
        index: usize,
        input: Input,
        tx: &mpsc::Sender<Message>,
        row_vectors: &SpentRows,
        bars: &MultiProgress,
        summary: &mut Summary,
    ) -> Result<Option<OpenFile>> {
        let (hash, size) = content_hash(&input.path)?;
        let shown = input.path.display().to_string();
        if let Some(previous) = self.store.ingested_file(&hash).await? {
            summary.files_skipped.push(format!(
                "{shown} (same content as {} on {})",
                previous.path,
                previous.ingested.format("%Y-%m-%d %H:%M UTC")
            ));
            return Ok(None);
        }
        let bar = bars.add(progress_bar(self.show_progress, size, &crate::config::file_name(&input.path)));
        let feed = input.feed.name.clone();
        let feed_for_meta = format!("{} ({})", input.feed.name, input.feed.provider);
        let reader = spawn_reader(index, input, self.attributor.clone(), tx.clone(), row_vectors.clone(), bar);
        Ok(Some(OpenFile { hash, size, shown, feed, feed_for_meta, reader }))
    }

    /// Events made into rows go to the store, in one transaction, and to detection.
    async fn write_rows(
        &self,
        run: i64,
        rows: &mut [EventRows],
        summary: &mut Summary,
        reading: &mut Reading<'_>,
    ) -> Result<()> {
        let count: usize = rows.iter().map(EventRows::len).sum();
        if count == 0 {
            return Ok(());
        }
        summary.events_read += count as u64;
        if let Reading::Indicators(reports) = reading {
            rows.iter().flat_map(EventRows::events).for_each(|e| _ = reports.add(e));
        }
        summary.events_added += self.store.insert_rows(run, rows).await?;
        Ok(())
    }

    /// What a batch holds besides events goes to detection, its rejections to the store.
    async fn write_batch(
        &self,
        run: i64,
        batch: Batch,
        summary: &mut Summary,
        reasons: &mut BTreeMap<String, u64>,
        reading: &mut Reading<'_>,
    ) -> Result<()> {
        if !batch.observations.is_empty() {
            summary.observations_read += batch.observations.len() as u64;
            if let Reading::Telemetry(m) = reading {
                for observation in &batch.observations {
                    m.observe_observation(observation);
                }
            }
        }
        if !batch.flows.is_empty() {
            summary.flows_read += batch.flows.len() as u64;
            if let Reading::Telemetry(m) = reading {
                m.observe_all(&batch.flows);
            }
        }
        if !batch.rejected.is_empty() {
            summary.rejected += batch.rejected.len() as u64;
            for r in &batch.rejected {
                *reasons.entry(reason_kind(&r.reason)).or_default() += 1;
            }
            let room = 5usize.saturating_sub(summary.first_rejections.len());
            summary.first_rejections.extend(batch.rejected.iter().take(room).cloned());
            self.store.insert_rejected(run, &batch.rejected).await?;
        }
        Ok(())
    }

    /// A file read to its end: remembered by its content, so it is not read twice.
    async fn close_file(&self, run: i64, file: OpenFile, summary: &mut Summary) -> Result<()> {
        let OpenFile { hash, size, shown, feed, feed_for_meta, reader } = file;
        reader
            .join()
            .map_err(|_| anyhow::anyhow!("the reader of {shown} panicked"))?
            .with_context(|| format!("cannot read {shown}"))?;
        self.store
            .record_file(run, &IngestedFile { content_hash: hash, path: shown, feed, size, ingested: Utc::now() })
            .await?;
        summary.files_read += 1;
        summary.feeds.insert(feed_for_meta);
        summary.bytes += size;
        Ok(())
    }
}

/// A file being read.
struct OpenFile {
    hash: String,
    size: u64,
    shown: String,
    feed: String,
    feed_for_meta: String,
    reader: std::thread::JoinHandle<std::io::Result<()>>,
}

/// The order telemetry is read in: records that name hosts (DNS, passive DNS) first, then
/// the other named records, then flows.
fn telemetry_rank(format: Format) -> u8 {
    match format {
        Format::ZeekDns | Format::PassiveDns => 0,
        Format::ZeekConn | Format::NetflowPcap => 2,
        _ => 1,
    }
}

/// Findings of one kind, counted: used by `findings` and the summary.
pub fn count_kinds(findings: &[Finding]) -> BTreeMap<FindingKind, u64> {
    let mut counts = BTreeMap::new();
    for f in findings {
        *counts.entry(f.kind).or_default() += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    #[test]
    fn reasons_group_by_kind() {
        assert_eq!(super::reason_kind(r#"dst_ip: "1.2.3.999" is not an IP address"#), "dst_ip: … is not an IP address");
    }
}
