use std::fmt::Write as _;

use crate::report::{change, percent, thousands};
use crate::Report;

/// Wraps `text` at `width` columns, indenting continuation lines by `indent`.
fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            out.push_str(&line);
            out.push('\n');
            line = indent.to_string();
        } else if !line.is_empty() && line != indent {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out
}

impl Report {
    /// The report as plain text, as printed by `vedette report` and `vedette demo`.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if let Some(note) = &self.synthetic {
            let _ = writeln!(out, "NOTE: SYNTHETIC DATA. {note}");
        }
        let _ = writeln!(
            out,
            "Vedette situation report: {} ({}), {} to {}\n",
            self.home_country_name, self.home_country, self.period.from, self.period.to
        );
        let _ = writeln!(out, "{}\n", wrap(&self.statement, 92, ""));
        if !self.has_data {
            return out;
        }
        let _ =
            writeln!(out, "C2 servers by country (counted by the attribution policy; hosts are distinct home hosts)");
        let _ = writeln!(
            out,
            "  {:>4}  {:<28} {:>8} {:>7} {:>7} {:>9} {:>7} {:>12} {:>12} {:>9}",
            "rank",
            "country",
            "servers",
            "share",
            "change",
            "hosts",
            "share",
            "by registry",
            "by location",
            "low conf."
        );
        for row in &self.countries {
            let rank = if row.domestic { "home".to_string() } else { row.rank.to_string() };
            let name = format!("{} ({})", row.name, row.country);
            let _ = writeln!(
                out,
                "  {:>4}  {:<28} {:>8} {:>7} {:>7} {:>9} {:>7} {:>12} {:>12} {:>9}",
                rank,
                truncate(&name, 28),
                thousands(row.c2_servers),
                percent(row.server_share),
                change(row.c2_servers, row.previous_c2_servers),
                thousands(row.hosts),
                percent(row.host_share),
                thousands(row.c2_servers_by_registry),
                row.c2_servers_by_location.map(thousands).unwrap_or_else(|| "–".into()),
                thousands(row.low_confidence)
            );
        }
        if !self.conflicted_c2_servers.is_empty() {
            let _ = writeln!(
                out,
                "\nAttribution conflicts: {} C2 server{} whose views disagree (counted as shown; check before citing)",
                self.conflicted_c2_servers.len(),
                if self.conflicted_c2_servers.len() == 1 { "" } else { "s" }
            );
            for c2 in self.conflicted_c2_servers.iter().take(20) {
                let _ = writeln!(
                    out,
                    "  {:<39} counted {:<3} registry {:<3} AS{:<8} {:<24} confidence {}",
                    c2.address,
                    c2.country.map(|c| c.to_string()).unwrap_or_else(|| "–".into()),
                    c2.registry_cc.map(|c| c.to_string()).unwrap_or_else(|| "–".into()),
                    c2.asn.map(|a| a.to_string()).unwrap_or_else(|| "?".into()),
                    c2.conflicts.join(","),
                    c2.confidence.as_str()
                );
            }
            if self.conflicted_c2_servers.len() > 20 {
                let _ = writeln!(
                    out,
                    "  … and {} more (see the JSON or HTML report)",
                    self.conflicted_c2_servers.len() - 20
                );
            }
        }
        if !self.families.is_empty() {
            let _ = writeln!(out, "\nBy malware family");
            for f in self.families.iter().take(12) {
                let _ = writeln!(
                    out,
                    "  {:<20} {:>6} C2 servers {:>9} hosts",
                    f.key.as_deref().unwrap_or("unknown"),
                    thousands(f.c2_servers),
                    thousands(f.hosts)
                );
            }
        }
        if !self.home_networks.is_empty() {
            let _ = writeln!(out, "\nHome networks with the most controlled hosts");
            for n in self.home_networks.iter().take(10) {
                let holder = match (&n.label, &n.region) {
                    (Some(l), Some(r)) => format!("{l} ({r})"),
                    (Some(l), None) => l.clone(),
                    (None, Some(r)) => format!("({r})"),
                    (None, None) => String::new(),
                };
                let _ = writeln!(
                    out,
                    "  {:<14} {:<32} {:>9} hosts {:>6} C2 servers",
                    n.key.as_deref().unwrap_or("unknown AS"),
                    truncate(&holder, 32),
                    thousands(n.hosts),
                    thousands(n.c2_servers)
                );
            }
        }
        let _ = writeln!(out, "\nC2 servers controlling the most hosts");
        for c2 in self.c2_servers.iter().take(10) {
            let _ = writeln!(
                out,
                "  {:<39} {:<3} {:<14} {:>7} hosts {:>9} flows",
                c2.address,
                c2.country.map(|c| c.to_string()).unwrap_or_else(|| "–".into()),
                c2.malware.as_deref().unwrap_or("unknown"),
                thousands(c2.hosts),
                thousands(c2.flows)
            );
        }
        if let (Some(peak_c2), Some(peak_hosts)) = (
            self.daily.iter().max_by_key(|d| (d.c2_servers, std::cmp::Reverse(d.day))),
            self.daily.iter().max_by_key(|d| (d.hosts, std::cmp::Reverse(d.day))),
        ) {
            let _ = writeln!(
                out,
                "\nDaily activity: {} days with contacts; at most {} C2 servers active (on {}) and {} hosts in contact (on {}).",
                self.daily.len(),
                thousands(peak_c2.c2_servers),
                peak_c2.day,
                thousands(peak_hosts.hosts),
                peak_hosts.day
            );
        }
        if !self.not_covered.is_empty() {
            let _ = writeln!(out, "\nNot covered by this report (no such data is stored)");
            for line in &self.not_covered {
                let _ = writeln!(out, "  - {}", wrap(line, 88, "    "));
            }
        }
        let _ = writeln!(out, "\nMethod");
        for line in &self.method {
            let _ = writeln!(out, "  - {}", wrap(line, 88, "    "));
        }
        out
    }
}

fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(width - 1).collect();
        t.push('…');
        t
    }
}
