use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tokio::sync::mpsc;
use vedette_detect::{BeaconConfig, IndicatorSet, TelemetryDetector};
use vedette_ingest::netflow::{NetflowDecoder, NetflowLimits, NetflowStats};
use vedette_model::{Flow, Rejected};

use super::{open_store, Global};
use crate::pipeline::{Pipeline, Summary};

/// Run as a collector: receive NetFlow v5, v9 and IPFIX from exporters over UDP, match
/// and score the flows as they stream, and write findings and C2 contacts to the store
/// every --flush seconds and once more when stopped (Ctrl-C or SIGTERM: what was received
/// is flushed, nothing is lost).
///
/// Indicators are the C2 feeds already ingested (`vedette ingest`); home is [home] in
/// vedette.toml.
///
/// Examples:
///   vedette run --netflow 0.0.0.0:2055
///   vedette run --netflow 127.0.0.1:9995 --flush 60
///   vedette run                (listens on the [run] netflow addresses of vedette.toml)
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
    #[serde(flatten)]
    detection: Summary,
}

pub async fn run(global: Global, args: Args) -> Result<()> {
    let config = global.config()?;
    let addresses = if args.netflow.is_empty() { config.run.netflow.clone() } else { args.netflow.clone() };
    if addresses.is_empty() {
        bail!("nothing to collect: give --netflow ADDR, or list netflow addresses under [run] in vedette.toml");
    }
    let flush_every = Duration::from_secs(args.flush.or(config.run.flush_seconds).unwrap_or(60).max(1));

    // Attribution data is swapped in while running when its files change (a new month's
    // RIR statistics, a fresh MMDB): checked at every flush.
    let (attribution, home) = crate::attribution::reloading(&config)?;
    let store = open_store(&config.store).await?;
    let mut pipeline =
        Pipeline { store: store.as_ref(), attributor: attribution.current(), home: home.clone(), show_progress: false };
    let indicator_events = store.c2_indicators().await?;
    let indicators = IndicatorSet::from_events(&indicator_events);
    let mut detector = TelemetryDetector::new(indicators, home, BeaconConfig::default());

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
    loop {
        tokio::select! {
            message = rx.recv() => match message {
                Some(Message::Flows(flows)) => {
                    summary.detection.flows_read += flows.len() as u64;
                    for flow in &flows {
                        detector.observe(flow);
                    }
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
                // Every receiver has stopped and sent what it had.
                None => break,
            },
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
            }
            _ = terminate.recv(), if !stopping => {
                eprintln!("stopping (SIGTERM): flushing what was received …");
                stopping = true;
                stop.store(true, Ordering::Relaxed);
            }
            _ = &mut deadline, if !stopping => {
                stopping = true;
                stop.store(true, Ordering::Relaxed);
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
    let _ = writeln!(o, "  listened on      {}", s.listening.join(", "));
    let _ = writeln!(o, "  datagrams        {}", s.datagrams);
    let _ = writeln!(o, "  flows            {}", s.flows);
    let _ = writeln!(o, "  rejected         {} datagrams", s.rejected_datagrams);
    let _ = writeln!(o, "  sequence gaps    {} lost (as the exporters number them)", s.sequence_lost);
    if s.data_without_template > 0 {
        let _ =
            writeln!(o, "  no template      {} data sets dropped (their template never came)", s.data_without_template);
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
