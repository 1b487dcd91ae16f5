//! `vedette`: the watch post of a national CERT. This binary only wires the stages
//! together — configuration, the pipeline's order, one file per subcommand.

mod attribution;
mod commands;
mod config;
mod demo;
mod pipeline;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc's malloc: an event is a dozen small allocations, and glibc's
/// allocator was a quarter of feed parsing (perf; BENCHMARKS.md, issue 3).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Vedette finds botnet C2 servers and the home hosts they control, attributes every
/// address with its evidence, and writes the situation report a national CERT publishes.
///
/// Start with `vedette demo`: it builds a synthetic national sample, runs the whole
/// pipeline on it and prints the report.
#[derive(Parser)]
#[command(name = "vedette", version, max_term_width = 100)]
struct Cli {
    /// Configuration file [default: ./vedette.toml when it exists, else built-in defaults]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Store URL, overriding the configuration (e.g. sqlite://vedette.db)
    #[arg(long, global = true, value_name = "URL")]
    store: Option<String>,

    #[command(subcommand)]
    command: Command,
}

// Each command's short line is `about` here, not a doc comment: a doc comment on the
// variant would also replace the long help (with its examples) that the command's `Args`
// carries, and `--help` would teach nothing more than `-h`.
#[derive(Subcommand)]
enum Command {
    #[command(about = "Generate a realistic synthetic sample, run the whole pipeline, print the report")]
    Demo(commands::demo::Args),
    #[command(about = "Read feed files and telemetry logs into the store, detecting as they stream")]
    Ingest(commands::ingest::Args),
    #[command(about = "Download feeds now (conditional requests, retries) and read what changed")]
    Fetch(commands::fetch::Args),
    #[command(about = "Collect NetFlow/IPFIX continuously and fetch feeds on their schedules")]
    Run(commands::run::Args),
    #[command(about = "Parse one file with one feed and print IntelMQ-style JSON lines (nothing is stored)")]
    Parse(commands::parse::Args),
    #[command(about = "List the feeds and telemetry formats Vedette reads")]
    Feeds(commands::feeds::Args),
    #[command(about = "List stored findings: C2 servers, infected hosts, …")]
    Findings(commands::findings::Args),
    #[command(about = "Write the situation report for a period")]
    Report(commands::report::Args),
    #[command(about = "Every view of whom an address belongs to, the conflicts and the confidence")]
    Whois(commands::whois::Args),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("VEDETTE_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let global = commands::Global { config: cli.config, store: cli.store };
        match cli.command {
            Command::Demo(args) => commands::demo::run(global, args).await,
            Command::Ingest(args) => commands::ingest::run(global, args).await,
            Command::Fetch(args) => commands::fetch::run(global, args).await,
            Command::Run(args) => commands::run::run(global, args).await,
            Command::Parse(args) => commands::parse::run(args),
            Command::Feeds(args) => commands::feeds::run(global, args).await,
            Command::Findings(args) => commands::findings::run(global, args).await,
            Command::Report(args) => commands::report::run(global, args).await,
            Command::Whois(args) => commands::whois::run(global, args),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `vedette parse … | head`: the reader went away, which is not an error of ours.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
                    || c.downcast_ref::<serde_json::Error>().and_then(|j| j.io_error_kind())
                        == Some(std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("error: {}", chain.join(": "));
            ExitCode::FAILURE
        }
    }
}
