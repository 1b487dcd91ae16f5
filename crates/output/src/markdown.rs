use std::fmt::Write as _;

use crate::report::{change, percent, thousands};
use crate::Report;

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

impl Report {
    /// The report as Markdown, for wikis and tickets.
    pub fn to_markdown(&self) -> String {
        let mut m = String::new();
        if let Some(note) = &self.synthetic {
            let _ = writeln!(m, "> **Synthetic data.** {}\n", cell(note));
        }
        let _ = writeln!(
            m,
            "# Vedette situation report: {} ({}), {} to {}\n",
            self.home_country_name, self.home_country, self.period.from, self.period.to
        );
        let _ = writeln!(m, "{}\n", self.statement);
        if self.has_data {
            let h = &self.headline;
            let _ = writeln!(m, "| C2 servers | servers | hosts controlled |\n|---|---:|---:|");
            for (label, s, n) in [
                ("overseas", h.overseas_c2_servers, h.overseas_hosts),
                ("domestic", h.domestic_c2_servers, h.domestic_hosts),
                ("unattributed", h.unattributed_c2_servers, h.unattributed_hosts),
                ("all", h.total_c2_servers, h.total_hosts),
            ] {
                let _ = writeln!(m, "| {label} | {} | {} |", thousands(s), thousands(n));
            }
            let _ = writeln!(m, "\n## C2 servers by country\n");
            let _ = writeln!(
                m,
                "| rank | country | servers | share | change | hosts | share | by registry | by location | low confidence |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
            );
            for r in &self.countries {
                let _ = writeln!(
                    m,
                    "| {} | {} ({}) | {} | {} | {} | {} | {} | {} | {} | {} |",
                    if r.domestic { "home".to_string() } else { r.rank.to_string() },
                    cell(&r.name),
                    r.country,
                    thousands(r.c2_servers),
                    percent(r.server_share),
                    change(r.c2_servers, r.previous_c2_servers),
                    thousands(r.hosts),
                    percent(r.host_share),
                    thousands(r.c2_servers_by_registry),
                    r.c2_servers_by_location.map(thousands).unwrap_or_else(|| "–".into()),
                    thousands(r.low_confidence)
                );
            }
            if !self.families.is_empty() {
                let _ = writeln!(m, "\n## By malware family\n\n| family | C2 servers | hosts |\n|---|---:|---:|");
                for f in &self.families {
                    let _ = writeln!(
                        m,
                        "| {} | {} | {} |",
                        cell(f.key.as_deref().unwrap_or("unknown")),
                        thousands(f.c2_servers),
                        thousands(f.hosts)
                    );
                }
            }
            if !self.home_networks.is_empty() {
                let _ = writeln!(m, "\n## By home network\n\n| network | holder | region | hosts | C2 servers |\n|---|---|---|---:|---:|");
                for n in self.home_networks.iter().take(25) {
                    let _ = writeln!(
                        m,
                        "| {} | {} | {} | {} | {} |",
                        cell(n.key.as_deref().unwrap_or("unknown AS")),
                        cell(n.label.as_deref().unwrap_or("")),
                        cell(n.region.as_deref().unwrap_or("–")),
                        thousands(n.hosts),
                        thousands(n.c2_servers)
                    );
                }
            }
            if !self.conflicted_c2_servers.is_empty() {
                let _ = writeln!(m, "\n## Attribution conflicts\n\n| address | counted | registry | AS | conflicts | confidence |\n|---|---|---|---|---|---|");
                for c in &self.conflicted_c2_servers {
                    let cc =
                        |c: Option<vedette_model::CountryCode>| c.map(|c| c.to_string()).unwrap_or_else(|| "–".into());
                    let _ = writeln!(
                        m,
                        "| `{}` | {} | {} | {} | {} | {} |",
                        c.address,
                        cc(c.country),
                        cc(c.registry_cc),
                        c.asn.map(|a| format!("AS{a}")).unwrap_or_default(),
                        c.conflicts.join(", "),
                        c.confidence.as_str()
                    );
                }
            }
        }
        if !self.not_covered.is_empty() {
            let _ = writeln!(m, "\n## Not covered\n");
            for line in &self.not_covered {
                let _ = writeln!(m, "- {line}");
            }
        }
        let _ = writeln!(m, "\n## Method\n");
        for line in &self.method {
            let _ = writeln!(m, "- {line}");
        }
        m
    }
}
