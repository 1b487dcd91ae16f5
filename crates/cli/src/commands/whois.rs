use std::io::{BufRead, Write};
use std::net::IpAddr;

use anyhow::{Context, Result};
use vedette_enrich::{Attributor, Policy, SourceSpec};
use vedette_model::{Attribution, GeoKind};

use super::Global;

/// The long help: what the answer holds, the source kinds, examples.
const AFTER_HELP: &str = "\
Every view of whom an address belongs to (registry, routing, geolocation databases,
geofeeds, your own overrides), each with its source, dataset version and matched prefix;
the conflicts between them; the confidence with the rule that set it; and the country the
report counts the address under. Read this before writing \"controlled from\".

Sources come from the [attribution] section of vedette.toml and from --source.
Kinds: rir-delegated, pfx2as, mrt (RIB dump, plain or .bz2), as-names, mmdb (country,
city or ASN database of any vendor), geofeed (RFC 8805: prefix,cc,region,city,postal),
override (cidr,cc,org,note).

Examples:
  vedette whois 8.130.1.1 2001:218::1
  vedette whois --source mmdb:city=GeoIP2-City.mmdb --source pfx2as:rv=ipasn.dat 81.2.69.160
  vedette whois --source override:ours=overrides.csv --policy registry-first 36.0.16.1
  cut -d, -f2 ipblocklist.csv | vedette whois --json | jq -c '[.ip, .country, .conflicts]'";

#[derive(clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// Addresses to attribute; with none (or `-`), one per line from standard input
    #[arg(value_name = "ADDRESS")]
    addresses: Vec<String>,
    /// One JSON object per address and line (the stored attribution form)
    #[arg(long)]
    json: bool,
    /// A further source, KIND:NAME=PATH (or KIND=PATH, named after the file); repeatable
    #[arg(long = "source", value_name = "KIND:NAME=PATH")]
    sources: Vec<String>,
    /// Use only the --source sources, not the configured ones
    #[arg(long)]
    only: bool,
    /// Which view gives the counted country: location-first or registry-first
    /// [default: the configuration's]
    #[arg(long, value_name = "POLICY")]
    policy: Option<String>,
}

pub fn run(global: Global, args: Args) -> Result<()> {
    let config = global.config()?;
    let mut specs = if args.only { Vec::new() } else { crate::attribution::specs(&config) };
    let mut errors = Vec::new();
    for text in &args.sources {
        match SourceSpec::parse(text) {
            Ok(spec) => specs.push(spec),
            Err(e) => errors.push(format!("--source {e}")),
        }
    }
    let policy = match &args.policy {
        None => config.policy,
        Some(p) => p.parse::<Policy>().unwrap_or_else(|e| {
            errors.push(format!("--policy: {e}"));
            config.policy
        }),
    };
    if !errors.is_empty() {
        anyhow::bail!("{}", errors.join("; "));
    }
    if specs.is_empty() {
        eprintln!(
            "warning: no attribution sources: list them under [attribution] in vedette.toml or give --source KIND:NAME=PATH; only special-use ranges are known"
        );
    }
    let attributor = crate::attribution::load_specs(policy, &specs);

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if !args.json {
        let versions: Vec<String> = attributor
            .source_versions()
            .into_iter()
            .map(|(name, version)| match version {
                Some(v) => format!("{name} ({v})"),
                None => name,
            })
            .collect();
        if !versions.is_empty() {
            writeln!(out, "sources: {}", versions.join(", "))?;
        }
    }
    let mut bad = 0usize;
    let mut answer = |text: &str, line: Option<usize>, out: &mut dyn Write| -> Result<()> {
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') {
            return Ok(());
        }
        match text.parse::<IpAddr>() {
            Ok(ip) => write_answer(out, &attributor, ip, args.json),
            Err(_) => {
                bad += 1;
                let at = line.map(|l| format!("line {l}: ")).unwrap_or_default();
                eprintln!("error: {at}{text:?} is not an IP address");
                Ok(())
            }
        }
    };
    let from_stdin = args.addresses.is_empty() || args.addresses.iter().any(|a| a == "-");
    for a in args.addresses.iter().filter(|a| *a != "-") {
        answer(a, None, &mut out)?;
    }
    if from_stdin {
        for (i, line) in std::io::stdin().lock().lines().enumerate() {
            let line = line.context("cannot read standard input")?;
            answer(&line, Some(i + 1), &mut out)?;
        }
    }
    out.flush()?;
    if bad > 0 {
        anyhow::bail!("{bad} input{} not an IP address", if bad == 1 { " was" } else { "s were" });
    }
    Ok(())
}

fn write_answer(out: &mut dyn Write, attributor: &Attributor, ip: IpAddr, json: bool) -> Result<()> {
    let a = attributor.attribute(ip);
    if json {
        serde_json::to_writer(&mut *out, &a)?;
        writeln!(out)?;
        return Ok(());
    }
    write!(out, "{}", render(&a))?;
    Ok(())
}

fn or_dash(value: Option<impl ToString>) -> String {
    value.map(|v| v.to_string()).unwrap_or_else(|| "–".into())
}

/// The text form: the verdict first, then every view.
fn render(a: &Attribution) -> String {
    let mut s = format!("\n{}\n", a.ip);
    s += &format!("  counted country  {} ({})\n", or_dash(a.country), a.country_rule);
    s += &format!("  by registry      {}\n", or_dash(a.registry_cc()));
    s += &format!("  by location      {}\n", or_dash(a.location_cc()));
    s += &format!("  confidence       {} ({})\n", a.confidence.as_str(), a.confidence_rule);
    let conflicts: Vec<&str> = a.conflicts.iter().map(|c| c.code()).collect();
    s += &format!("  conflicts        {}\n", if conflicts.is_empty() { "none".into() } else { conflicts.join(" ") });
    match &a.registry {
        Some(r) => {
            s += &format!(
                "  registry         {} {} {} ({}, {}{}) [{}]\n",
                r.cc,
                r.registry,
                r.range,
                r.status,
                or_dash(r.date.as_deref()),
                r.holder.as_deref().map(|h| format!(", holder {h}")).unwrap_or_default(),
                r.source
            );
        }
        None => s += "  registry         –\n",
    }
    match &a.routing {
        Some(r) => {
            let origins: Vec<String> = r.origins.iter().map(|o| format!("AS{o}")).collect();
            s += &format!(
                "  routing          {} from {}: {} ({}) [{}]\n",
                r.prefix,
                origins.join(" "),
                or_dash(r.as_name.as_deref()),
                or_dash(r.as_cc),
                r.source
            );
        }
        None => s += "  routing          –\n",
    }
    if a.geo.is_empty() {
        s += "  location         –\n";
    }
    for g in &a.geo {
        let mut details = Vec::new();
        if let Some(r) = g.registered_cc {
            details.push(format!("registered {r}"));
        }
        for part in [&g.region, &g.city, &g.postal, &g.org].into_iter().flatten() {
            details.push(part.clone());
        }
        if let Some(note) = &g.note {
            details.push(format!("note: {note}"));
        }
        if g.anycast {
            details.push("anycast".into());
        }
        let label = match g.kind {
            GeoKind::Database => "location",
            GeoKind::Geofeed => "geofeed",
            GeoKind::Override => "override",
        };
        s += &format!(
            "  {label:<16} {} {}{} [{}{}]\n",
            g.cc,
            g.prefix,
            if details.is_empty() { String::new() } else { format!(" ({})", details.join(", ")) },
            g.source,
            g.version.as_deref().map(|v| format!(", {v}")).unwrap_or_default()
        );
    }
    s
}
