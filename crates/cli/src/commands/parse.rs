use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};
use vedette_ingest::{Batch, Catalogue, Decoder};
use vedette_model::{Flow, Observation};

/// Parse one file with one feed and print one JSON object per record on stdout, with
/// IntelMQ's flat keys (`source.ip`, `classification.type`, `feed.name`, …); telemetry
/// that is not a flow (DNS lookups, HTTP requests, TLS hellos, sinkhole hits, passive DNS)
/// says which it is in `observation`. Rejected records go to stderr as JSON lines with
/// their line and reason, and a last `{"skipped": N}` line counts records deliberately
/// not read (EVE `stats`, …). Nothing is stored.
///
/// Examples:
///   vedette parse --feed abusech-feodo ipblocklist.csv | jq -r '."source.ip"'
///   vedette parse --feed zeek-dns dns.log | jq -r 'select(."extra.rcode" == 3) | ."extra.query"'
///   vedette parse --feed-file my-feed.toml export.csv   (a feed table of your own)
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The feed that reads the file (see `vedette feeds`)
    #[arg(long, value_name = "NAME", required_unless_present = "feed_file", conflicts_with = "feed_file")]
    feed: Option<String>,
    /// A feed defined in a TOML file of your own, as those in feeds/ (format = "generic"
    /// with [[layouts]] mapping columns to IntelMQ fields)
    #[arg(long, value_name = "TOML")]
    feed_file: Option<PathBuf>,
    /// The file to parse (`-` for standard input)
    file: PathBuf,
}

/// A telemetry record in IntelMQ's key style.
fn flow_json(feed: &str, flow: &Flow) -> Map<String, Value> {
    let mut m = Map::new();
    let time = chrono::DateTime::from_timestamp_micros(flow.start_us).unwrap_or_default();
    m.insert("feed.name".into(), json!(feed));
    m.insert("time.source".into(), json!(time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)));
    m.insert("source.ip".into(), json!(flow.src.to_string()));
    m.insert("source.port".into(), json!(flow.src_port));
    m.insert("destination.ip".into(), json!(flow.dst.to_string()));
    m.insert("destination.port".into(), json!(flow.dst_port));
    m.insert("protocol.transport".into(), json!(flow.transport.name()));
    m.insert("extra.duration_us".into(), json!(flow.duration_us));
    m.insert("extra.bytes_out".into(), json!(flow.bytes_out));
    m.insert("extra.bytes_in".into(), json!(flow.bytes_in));
    m.insert("extra.packets".into(), json!(flow.packets));
    m
}

fn time_text(us: i64) -> String {
    let time = chrono::DateTime::from_timestamp_micros(us).unwrap_or_default();
    time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
}

/// An observation in the same key style: IntelMQ's names where one fits (the client is
/// `source`, the server `destination`), `extra.*` for the rest; passive DNS keeps the
/// Common Output Format's own names.
fn observation_json(feed: &str, observation: &Observation) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("feed.name".into(), json!(feed));
    fn text(m: &mut Map<String, Value>, key: &str, value: Option<&str>) {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            m.insert(key.into(), json!(v));
        }
    }
    match observation {
        Observation::Dns(d) => {
            m.insert("observation".into(), json!("dns"));
            m.insert("time.source".into(), json!(time_text(d.time_us)));
            m.insert("source.ip".into(), json!(d.client.to_string()));
            if let Some(server) = d.server {
                m.insert("destination.ip".into(), json!(server.to_string()));
            }
            m.insert("extra.query".into(), json!(d.query));
            m.insert("extra.qtype".into(), json!(d.qtype));
            if let Some(rcode) = d.rcode {
                m.insert("extra.rcode".into(), json!(rcode));
            }
            m.insert("extra.answers".into(), json!(d.answers.iter().map(|a| a.to_string()).collect::<Vec<_>>()));
        }
        Observation::Http(h) => {
            m.insert("observation".into(), json!("http"));
            m.insert("time.source".into(), json!(time_text(h.time_us)));
            m.insert("source.ip".into(), json!(h.src.to_string()));
            m.insert("source.port".into(), json!(h.src_port));
            m.insert("destination.ip".into(), json!(h.dst.to_string()));
            m.insert("destination.port".into(), json!(h.dst_port));
            text(&mut m, "destination.fqdn", Some(&h.host));
            text(&mut m, "destination.urlpath", Some(&h.uri));
            text(&mut m, "extra.http_method", h.method.as_deref());
            text(&mut m, "extra.user_agent", h.user_agent.as_deref());
            m.insert("protocol.application".into(), json!("http"));
        }
        Observation::Tls(t) => {
            m.insert("observation".into(), json!("tls"));
            m.insert("time.source".into(), json!(time_text(t.time_us)));
            m.insert("source.ip".into(), json!(t.src.to_string()));
            m.insert("source.port".into(), json!(t.src_port));
            m.insert("destination.ip".into(), json!(t.dst.to_string()));
            m.insert("destination.port".into(), json!(t.dst_port));
            text(&mut m, "destination.fqdn", t.sni.as_deref());
            text(&mut m, "extra.ja3", t.ja3.as_deref());
            text(&mut m, "extra.cert_sha1", t.cert_sha1.as_deref());
            m.insert("protocol.application".into(), json!("tls"));
        }
        Observation::Sinkhole(s) => {
            m.insert("observation".into(), json!("sinkhole"));
            m.insert("time.source".into(), json!(time_text(s.time_us)));
            m.insert("source.ip".into(), json!(s.bot.to_string()));
            m.insert("destination.fqdn".into(), json!(s.domain));
            text(&mut m, "malware.name", s.family.as_deref());
        }
        Observation::PassiveDns(p) => {
            m.insert("observation".into(), json!("passive-dns"));
            m.insert("rrname".into(), json!(p.rrname));
            m.insert("rrtype".into(), json!(p.rrtype));
            m.insert("rdata".into(), json!(p.rdata));
            m.insert("time_first".into(), json!(p.first_us / 1_000_000));
            m.insert("time_last".into(), json!(p.last_us / 1_000_000));
            if let Some(count) = p.count {
                m.insert("count".into(), json!(count));
            }
        }
    }
    m
}

pub fn run(args: Args) -> Result<()> {
    let catalogue = match &args.feed_file {
        Some(path) => super::feed_file(path)?,
        None => Catalogue::builtin(),
    };
    let feed = match &args.feed {
        Some(name) => catalogue.get(name)?,
        None => catalogue.entries().first().context("the feed file defines no feed")?,
    };
    let source = args.file.display().to_string();
    let mut reader: Box<dyn Read> = if source == "-" {
        Box::new(std::io::stdin())
    } else {
        vedette_ingest::open_source(&args.file).with_context(|| format!("cannot open {source}"))?
    };
    let mut decoder = Decoder::new(feed, &source);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut err = std::io::stderr().lock();
    let mut buf = vec![0u8; 1 << 20];
    let mut emit = |batch: &mut Batch, out: &mut dyn Write| -> Result<()> {
        for event in batch.events.drain(..) {
            serde_json::to_writer(&mut *out, &event.to_intelmq())?;
            out.write_all(b"\n")?;
        }
        for flow in batch.flows.drain(..) {
            serde_json::to_writer(&mut *out, &flow_json(&feed.name, &flow))?;
            out.write_all(b"\n")?;
        }
        for observation in batch.observations.drain(..) {
            serde_json::to_writer(&mut *out, &observation_json(&feed.name, &observation))?;
            out.write_all(b"\n")?;
        }
        for r in batch.rejected.drain(..) {
            serde_json::to_writer(&mut err, &r)?;
            err.write_all(b"\n")?;
        }
        Ok(())
    };
    if feed.format == vedette_ingest::Format::NetflowPcap {
        let mut failed = None;
        let summary = vedette_ingest::capture::decode_capture(reader, &source, &feed.name, 4096, |mut batch| {
            failed = emit(&mut batch, &mut out).err();
            failed.is_none()
        });
        if let Some(e) = failed {
            return Err(e);
        }
        out.flush()?;
        let n = &summary.netflow;
        let p = &summary.pcap;
        writeln!(
            std::io::stderr(),
            "{}",
            json!({"packets": p.packets, "udp_datagrams": p.datagrams, "flows": n.flows, "rejected_datagrams": n.rejected.total(),
                   "sequence_gaps": n.sequence_gaps, "lost_records": n.lost_records, "lost_packets": n.lost_packets})
        )?;
        return Ok(());
    }
    let mut batch = Batch::default();
    loop {
        let n = reader.read(&mut buf).with_context(|| format!("cannot read {source}"))?;
        if n == 0 {
            break;
        }
        decoder.push(&buf[..n], &mut batch);
        emit(&mut batch, &mut out)?;
    }
    decoder.finish(&mut batch);
    emit(&mut batch, &mut out)?;
    out.flush()?;
    if decoder.skipped() > 0 {
        writeln!(std::io::stderr(), "{}", json!({ "skipped": decoder.skipped() }))?;
    }
    Ok(())
}
