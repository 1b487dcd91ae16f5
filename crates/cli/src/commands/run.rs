use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::Utc;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use vedette_detect::{BeaconConfig, IndicatorSet, TelemetryDetector};
use vedette_ingest::fetch::{format_interval, Fetcher};
use vedette_ingest::netflow::{NetflowDecoder, NetflowLimits, NetflowStats};
use vedette_model::{Flow, Rejected};
use vedette_store::Store;

use super::fetch::{Outcome, Reader, Report};
use super::{open_store, Global};
use crate::config::FetchTarget;
use crate::pipeline::{Pipeline, Summary};

/// Run as a collector: receive NetFlow v5, v9 and IPFIX from exporters over UDP, match
/// and score the flows as they stream, and write findings and C2 contacts to the store
/// every --flush seconds and once more when stopped (Ctrl-C or SIGTERM: what was received
/// is flushed, nothing is lost). Feeds listed in vedette.toml with a url and a schedule
/// are downloaded when due, beside the receivers, and read as `vedette fetch` reads them:
/// at the start when never fetched, then every schedule interval.
///
/// Indicators are the C2 feeds already ingested (`vedette ingest`, `vedette fetch`); home
/// is [home] in vedette.toml. Indicators a scheduled fetch adds are matched from then on.
///
/// Examples:
///   vedette run --netflow 0.0.0.0:2055
///   vedette run --netflow 127.0.0.1:9995 --flush 60
///   vedette run                (the [run] netflow addresses and the scheduled [[feeds]]
///                               of vedette.toml; with only feeds, it only fetches)
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// UDP address to receive NetFlow/IPFIX on (repeat for several; port 0 picks a free one)
    #[arg(long = "netflow", value_name = "ADDR")]
    netflow: Vec<SocketAddr>,
    /// Seconds between writes to the store [default: [run] flush_seconds, else 60]
    #[arg(long, value_name = "SECONDS")]
    flush: Option<u64>,
    /// Stop by itself after this many seconds (for scheduled runs and tests)
    #[arg(long, value_name = "SECONDS")]
    stop_after: Option<u64>,
}

/// Flows per message from a receiver to the detector.
const FLOW_BATCH: usize = 4096;
/// Rejected datagrams kept per receiver between two flushes; the rest are only counted,
/// so a flood of garbage cannot fill the store.
const REJECTED_KEPT: usize = 1000;

/// What a receiver thread sends: flows, refused datagrams, and its counters at the end.
enum Message {
    Flows(Vec<Flow>),
    Rejected(Rejected),
    Done(SocketAddr, NetflowStats),
}

/// What a collector run did, printed when it stops and kept with the run.
#[derive(Debug, Default, Serialize)]
struct CollectorSummary {
    listening: Vec<String>,
    datagrams: u64,
    flows: u64,
    rejected_datagrams: u64,
    /// Flows (v5, IPFIX) or export packets (v9) the exporters' sequence numbers say were lost.
    sequence_lost: u64,
    data_without_template: u64,
    flushes: u64,
    /// Times the attribution data was rebuilt because a source file changed.
    attribution_reloads: u64,
    /// Scheduled feed fetches that read new content, found nothing new, or failed.
    fetches_read: u64,
    fetches_unchanged: u64,
    fetches_failed: u64,
    /// Events the fetched feeds added to the store.
    fetched_events: u64,
    /// Indicators the fetched feeds added to the running detector.
    indicators_added: u64,
    #[serde(flatten)]
    detection: Summary,
}

pub async fn run(global: Global, args: Args) -> Result<()> {
    let config = global.config()?;
    let addresses = if args.netflow.is_empty() { config.run.netflow.clone() } else { args.netflow.clone() };
    let scheduled: Vec<FetchTarget> = config.fetch.iter().filter(|t| t.schedule.is_some()).cloned().collect();
    if addresses.is_empty() && scheduled.is_empty() {
        bail!(
            "nothing to collect: give --netflow ADDR, list netflow addresses under [run] in vedette.toml, \
             or list [[feeds]] with a url and a schedule there"
        );
    }
    let flush_every = Duration::from_secs(args.flush.or(config.run.flush_seconds).unwrap_or(60).max(1));

    // Attribution data is swapped in while running when its files change (a new month's
    // RIR statistics, a fresh MMDB): checked at every flush.
    let (attribution, home) = crate::attribution::reloading(&config)?;
    let store: Arc<dyn Store> = Arc::from(open_store(&config.store).await?);
    let mut pipeline =
        Pipeline { store: store.as_ref(), attributor: attribution.current(), home: home.clone(), show_progress: false };
    let indicator_events = store.c2_indicators().await?;
    let indicators = IndicatorSet::from_events(&indicator_events);
    let mut detector = TelemetryDetector::new(indicators, home.clone(), BeaconConfig::default());

    let run = store.begin_run("run").await?;
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = mpsc::channel::<Message>(64);
    let mut summary = CollectorSummary::default();
    let mut receivers = Vec::new();
    for address in &addresses {
        let socket = UdpSocket::bind(address).with_context(|| format!("cannot listen on {address} (UDP)"))?;
        let bound = socket.local_addr()?;
        // Readiness, on one line a supervisor or a test can wait for.
        eprintln!("listening for NetFlow v5/v9/IPFIX on {bound} (UDP)");
        summary.listening.push(bound.to_string());
        receivers.push(spawn_receiver(socket, bound, tx.clone(), stop.clone())?);
    }
    drop(tx);
    let mut schedule = Schedule::new(store.as_ref(), scheduled).await;
    for (target, due_in) in schedule.plan() {
        eprintln!(
            "fetching {} every {}{}",
            target.request.feed,
            target.schedule.map(format_interval).unwrap_or_default(),
            if due_in.is_zero() { ", now".to_string() } else { format!(", next in {} s", due_in.as_secs()) }
        );
    }
    let fetch_stop = Arc::new(AtomicBool::new(false));
    let fetcher = Arc::new(Fetcher::new(config.fetch_options.clone()).with_stop(fetch_stop.clone()));
    let downloads = super::fetch::downloads_dir(&config);
    // One feed is read into the store at a time; the receivers are never waited for.
    let reading = Arc::new(tokio::sync::Mutex::new(()));
    let mut fetches: JoinSet<Report> = JoinSet::new();
    eprintln!(
        "{} C2 indicators loaded; writing to the store every {} s; stop with Ctrl-C or SIGTERM",
        indicator_events.len(),
        flush_every.as_secs()
    );

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot watch for SIGTERM")?;
    let mut tick = tokio::time::interval(flush_every);
    tick.tick().await; // the first tick is immediate
    let deadline = async {
        match args.stop_after {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    let mut rejected: Vec<Rejected> = Vec::new();
    let mut stopping = false;
    // With no NetFlow address the channel is closed from the start.
    let mut receiving = true;
    loop {
        if stopping && !receiving && fetches.is_empty() {
            break;
        }
        let next_fetch = schedule.next_due();
        tokio::select! {
            message = rx.recv(), if receiving => match message {
                Some(Message::Flows(flows)) => {
                    summary.detection.flows_read += flows.len() as u64;
                    detector.observe_all(&flows);
                }
                Some(Message::Rejected(r)) => rejected.push(r),
                Some(Message::Done(exporter_socket, stats)) => {
                    tracing::info!(%exporter_socket, ?stats, "receiver stopped");
                    summary.datagrams += stats.datagrams;
                    summary.flows += stats.flows;
                    summary.rejected_datagrams += stats.rejected.total();
                    summary.sequence_lost += stats.lost_records + stats.lost_packets;
                    summary.data_without_template += stats.sets_without_template;
                }
                // Every receiver has stopped and sent what it had (or there is none).
                None => receiving = false,
            },
            _ = sleep_until(next_fetch), if !stopping && next_fetch.is_some() => {
                for target in schedule.take_due() {
                    let reader = Reader {
                        store: store.clone(),
                        attributor: attribution.current(),
                        home: home.clone(),
                        show_progress: false,
                        downloads: downloads.clone(),
                    };
                    let (fetcher, reading) = (fetcher.clone(), reading.clone());
                    fetches.spawn(async move {
                        let previous = super::fetch::state(reader.store.as_ref(), &target.request.feed).await;
                        let at = Utc::now();
                        let fetched = super::fetch::download(fetcher, &target, &previous, &reader.downloads).await;
                        let _one_at_a_time = reading.lock().await;
                        reader.finish(&target, previous, at, fetched).await
                    });
                }
            }
            Some(done) = fetches.join_next(), if !fetches.is_empty() => {
                match done {
                    Ok(report) => {
                        eprintln!("{}", report.line);
                        schedule.finished(&report.feed);
                        match report.outcome {
                            Outcome::Read => summary.fetches_read += 1,
                            Outcome::Unchanged => summary.fetches_unchanged += 1,
                            Outcome::Failed => summary.fetches_failed += 1,
                        }
                        summary.fetched_events += report.events_added;
                        // New indicators join the running detector: the flows that follow
                        // are matched against them (what it learned and scored stays).
                        if report.indicators_added && !summary.listening.is_empty() {
                            let events = store.c2_indicators().await?;
                            let added = detector.add_indicators(&events);
                            summary.indicators_added += added as u64;
                            if added > 0 {
                                eprintln!("{added} new C2 indicators now matched");
                            }
                        }
                    }
                    Err(e) => {
                        summary.fetches_failed += 1;
                        eprintln!("warning: a scheduled fetch stopped unexpectedly: {e}");
                    }
                }
            }
            _ = tick.tick(), if !stopping => {
                if let Some(reports) = attribution.reload_if_changed() {
                    for line in reports.iter().filter_map(|r| r.describe()) {
                        eprintln!("warning: {line}");
                    }
                    pipeline.attributor = attribution.current();
                    summary.attribution_reloads += 1;
                    eprintln!("attribution data changed: reloaded");
                }
                flush(&pipeline, run, &mut detector, &mut rejected, &mut summary).await?;
            }
            _ = tokio::signal::ctrl_c(), if !stopping => {
                eprintln!("stopping: flushing what was received …");
                stopping = true;
                stop.store(true, Ordering::Relaxed);
                fetch_stop.store(true, Ordering::Relaxed);
            }
            _ = terminate.recv(), if !stopping => {
                eprintln!("stopping (SIGTERM): flushing what was received …");
                stopping = true;
                stop.store(true, Ordering::Relaxed);
                fetch_stop.store(true, Ordering::Relaxed);
            }
            _ = &mut deadline, if !stopping => {
                stopping = true;
                stop.store(true, Ordering::Relaxed);
                fetch_stop.store(true, Ordering::Relaxed);
            }
        }
    }
    for receiver in receivers {
        receiver.join().map_err(|_| anyhow::anyhow!("a NetFlow receiver panicked"))?;
    }
    flush(&pipeline, run, &mut detector, &mut rejected, &mut summary).await?;
    summary.detection.rejected = summary.rejected_datagrams;
    summary.detection.elapsed_seconds = started.elapsed().as_secs_f64();
    store.finish_run(run, &serde_json::to_value(&summary)?).await?;
    print!("{}", render(&summary));
    Ok(())
}

/// Writes what detection holds so far, and the datagrams refused since the last flush.
async fn flush(
    pipeline: &Pipeline<'_>,
    run: i64,
    detector: &mut TelemetryDetector,
    rejected: &mut Vec<Rejected>,
    summary: &mut CollectorSummary,
) -> Result<()> {
    let found = detector.flush();
    pipeline.store_detections(found, &mut summary.detection).await?;
    if !rejected.is_empty() {
        pipeline.store.insert_rejected(run, rejected).await?;
        rejected.clear();
    }
    summary.flushes += 1;
    tracing::info!(flows = summary.detection.flows_read, "flushed");
    Ok(())
}

/// A thread that receives datagrams on one socket, decodes them and sends flows on.
fn spawn_receiver(
    socket: UdpSocket,
    bound: SocketAddr,
    tx: mpsc::Sender<Message>,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>> {
    // Wake up regularly to see whether the collector is stopping.
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    let thread = std::thread::Builder::new().name(format!("netflow {bound}")).spawn(move || {
        let mut decoder = NetflowDecoder::new(NetflowLimits::default());
        let mut buf = vec![0u8; 65_536];
        let mut flows = Vec::with_capacity(FLOW_BATCH);
        let mut kept = 0usize;
        let mut last_send = Instant::now();
        let mut draining = false;
        loop {
            match socket.recv_from(&mut buf) {
                Ok((n, exporter)) => {
                    let received_us = chrono::Utc::now().timestamp_micros();
                    if let Err(e) = decoder.decode(exporter, &buf[..n], received_us, &mut flows) {
                        if kept < REJECTED_KEPT {
                            kept += 1;
                            let source = format!("udp://{exporter}");
                            let number = decoder.stats().datagrams;
                            let r = Rejected::new(&source, "netflow", number, &buf[..n.min(256)], e.to_string());
                            if tx.blocking_send(Message::Rejected(r)).is_err() {
                                return;
                            }
                        }
                    }
                }
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    if draining {
                        break;
                    }
                    if stop.load(Ordering::Relaxed) {
                        // Take what the kernel still holds, then stop.
                        draining = true;
                        let _ = socket.set_nonblocking(true);
                    }
                }
                Err(e) => tracing::warn!(%bound, "receive error: {e}"),
            }
            if flows.len() >= FLOW_BATCH || (!flows.is_empty() && last_send.elapsed() > Duration::from_millis(200)) {
                if tx.blocking_send(Message::Flows(std::mem::take(&mut flows))).is_err() {
                    return;
                }
                flows.reserve(FLOW_BATCH);
                last_send = Instant::now();
                kept = 0;
            }
        }
        if !flows.is_empty() {
            let _ = tx.blocking_send(Message::Flows(flows));
        }
        let _ = tx.blocking_send(Message::Done(bound, decoder.stats().clone()));
    })?;
    Ok(thread)
}

fn render(s: &CollectorSummary) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(o, "Collector summary");
    if !s.listening.is_empty() {
        let _ = writeln!(o, "  listened on      {}", s.listening.join(", "));
        let _ = writeln!(o, "  datagrams        {}", s.datagrams);
        let _ = writeln!(o, "  flows            {}", s.flows);
        let _ = writeln!(o, "  rejected         {} datagrams", s.rejected_datagrams);
        let _ = writeln!(o, "  sequence gaps    {} lost (as the exporters number them)", s.sequence_lost);
        if s.data_without_template > 0 {
            let _ = writeln!(
                o,
                "  no template      {} data sets dropped (their template never came)",
                s.data_without_template
            );
        }
    }
    let fetches = s.fetches_read + s.fetches_unchanged + s.fetches_failed;
    if fetches > 0 {
        let _ = writeln!(
            o,
            "  feeds fetched    {fetches} times: {} with new content, {} unchanged, {} failed; {} new events",
            s.fetches_read, s.fetches_unchanged, s.fetches_failed, s.fetched_events
        );
    }
    if s.indicators_added > 0 {
        let _ = writeln!(o, "  new indicators   {} joined the running detector", s.indicators_added);
    }
    let _ = writeln!(o, "  flushes          {}", s.flushes);
    if s.attribution_reloads > 0 {
        let _ = writeln!(o, "  reloads          {} (attribution data changed while running)", s.attribution_reloads);
    }
    let findings: Vec<String> = s.detection.findings.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let _ = writeln!(o, "  findings         {}", if findings.is_empty() { "none".into() } else { findings.join(", ") });
    let _ = writeln!(o, "  C2 contacts      {} (host, C2, day) links written", s.detection.contacts);
    let _ = writeln!(o, "  elapsed          {:.1} s", s.detection.elapsed_seconds);
    o
}

/// When each scheduled feed is due: at the start if it was never fetched, else its
/// schedule interval after its last fetch (whatever became of it).
struct Schedule {
    feeds: Vec<Scheduled>,
}

struct Scheduled {
    target: FetchTarget,
    every: Duration,
    due: tokio::time::Instant,
    running: bool,
}

impl Schedule {
    async fn new(store: &dyn Store, targets: Vec<FetchTarget>) -> Schedule {
        let now = tokio::time::Instant::now();
        let mut feeds = Vec::with_capacity(targets.len());
        for target in targets {
            let Some(every) = target.schedule else { continue };
            let state = super::fetch::state(store, &target.request.feed).await;
            let since = state.last_fetch.and_then(|t| (Utc::now() - t).to_std().ok());
            let due = match since {
                Some(since) => now + every.saturating_sub(since),
                None if state.last_fetch.is_some() => now + every, // a clock that went back
                None => now,
            };
            feeds.push(Scheduled { target, every, due, running: false });
        }
        Schedule { feeds }
    }

    /// Each feed with the time until it is due.
    fn plan(&self) -> Vec<(&FetchTarget, Duration)> {
        let now = tokio::time::Instant::now();
        self.feeds.iter().map(|f| (&f.target, f.due.saturating_duration_since(now))).collect()
    }

    /// The earliest time a feed that is not being fetched is due.
    fn next_due(&self) -> Option<tokio::time::Instant> {
        self.feeds.iter().filter(|f| !f.running).map(|f| f.due).min()
    }

    /// The feeds due now, marked as running; each is due again an interval later.
    fn take_due(&mut self) -> Vec<FetchTarget> {
        let now = tokio::time::Instant::now();
        let mut due = Vec::new();
        for f in self.feeds.iter_mut().filter(|f| !f.running && f.due <= now) {
            f.running = true;
            f.due = now + f.every;
            due.push(f.target.clone());
        }
        due
    }

    fn finished(&mut self, feed: &str) {
        let now = tokio::time::Instant::now();
        for f in self.feeds.iter_mut().filter(|f| f.target.request.feed == feed) {
            f.running = false;
            // A fetch that outlasted its interval is next due one interval after it ended.
            if f.due <= now {
                f.due = now + f.every;
            }
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
