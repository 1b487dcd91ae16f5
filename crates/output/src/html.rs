use std::fmt::Write as _;

use crate::report::{percent, thousands};
use crate::Report;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#1b1f24}\
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ccd;padding-bottom:.2em}\
.synthetic{background:#fff3cd;border:1px solid #e0b000;padding:.6em 1em;font-weight:600}\
.statement{font-size:1.15em;background:#f3f6fa;padding:1em;border-left:4px solid #2b6cb0}\
table{border-collapse:collapse;width:100%;margin:.6em 0}th,td{padding:.3em .6em;border-bottom:1px solid #e3e6ea;text-align:right}\
th:nth-child(-n+2),td:nth-child(-n+2){text-align:left}tr.home td{font-style:italic;background:#fafafa}\
.chart text{font-size:11px;fill:#333}.muted{color:#667}code{font-size:.95em}\
@media print{body{margin:0;max-width:none}h2{break-after:avoid}table,svg{break-inside:avoid}}";

impl Report {
    /// One self-contained HTML page: inline CSS and SVG, nothing fetched.
    pub fn to_html(&self) -> String {
        let mut h = String::new();
        let title =
            format!("Vedette situation report: {} {} to {}", self.home_country_name, self.period.from, self.period.to);
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n",
            esc(&title)
        );
        if let Some(note) = &self.synthetic {
            let _ = writeln!(h, "<p class=\"synthetic\" id=\"synthetic\">Synthetic data. {}</p>", esc(note));
        }
        let _ = writeln!(h, "<h1>{}</h1>", esc(&title));
        let _ = writeln!(h, "<p class=\"statement\" id=\"statement\">{}</p>", esc(&self.statement));
        if self.has_data {
            self.headline_table(&mut h);
            self.country_section(&mut h);
            self.daily_section(&mut h);
            self.server_section(&mut h);
        }
        let _ = writeln!(h, "<h2 id=\"method\">Method</h2><ul>");
        for line in &self.method {
            let _ = writeln!(h, "<li>{}</li>", esc(line));
        }
        let _ = writeln!(h, "</ul><p class=\"muted\">Report schema {}.</p></body></html>", self.schema);
        h
    }

    fn headline_table(&self, h: &mut String) {
        let hl = &self.headline;
        let _ = writeln!(h, "<h2 id=\"headline\">Headline</h2><table><tr><th>C2 servers</th><th></th><th>servers</th><th>hosts controlled</th></tr>");
        for (label, key, servers, hosts) in [
            ("overseas", "overseas", hl.overseas_c2_servers, hl.overseas_hosts),
            ("domestic", "domestic", hl.domestic_c2_servers, hl.domestic_hosts),
            ("unattributed", "unattributed", hl.unattributed_c2_servers, hl.unattributed_hosts),
            ("all", "total", hl.total_c2_servers, hl.total_hosts),
        ] {
            let _ = writeln!(
                h,
                "<tr><td>{label}</td><td></td><td data-figure=\"{key}_c2_servers\">{}</td><td data-figure=\"{key}_hosts\">{}</td></tr>",
                thousands(servers),
                thousands(hosts)
            );
        }
        let _ = writeln!(h, "</table>");
    }

    fn country_section(&self, h: &mut String) {
        let _ = writeln!(h, "<h2 id=\"countries\">C2 servers by country</h2>");
        let overseas: Vec<_> = self.countries.iter().filter(|r| !r.domestic).take(15).collect();
        let max = overseas.iter().map(|r| r.c2_servers).max().unwrap_or(1).max(1);
        let bar_h = 20;
        let height = overseas.len() * bar_h + 10;
        let _ = writeln!(h, "<svg class=\"chart\" width=\"100%\" viewBox=\"0 0 700 {height}\" role=\"img\" aria-label=\"overseas C2 servers by country\">");
        for (i, row) in overseas.iter().enumerate() {
            let y = i * bar_h + 5;
            let w = (row.c2_servers as f64 / max as f64 * 480.0).max(1.0);
            let _ = writeln!(
                h,
                "<a href=\"#country-{cc}\"><text x=\"0\" y=\"{ty}\">{name}</text><rect x=\"170\" y=\"{y}\" width=\"{w:.1}\" height=\"{bh}\" fill=\"#2b6cb0\"/><text x=\"{tx:.1}\" y=\"{ty}\">{n}</text></a>",
                cc = esc(&row.country),
                ty = y + 13,
                name = esc(&format!("{} ({})", row.name, row.country)),
                bh = bar_h - 5,
                tx = 175.0 + w,
                n = thousands(row.c2_servers)
            );
        }
        let _ = writeln!(h, "</svg>");
        let _ = writeln!(h, "<table id=\"country-table\"><tr><th>rank</th><th>country</th><th>servers</th><th>share</th><th>hosts</th><th>share</th><th>by registry</th><th>low confidence</th></tr>");
        for row in &self.countries {
            let _ = writeln!(
                h,
                "<tr id=\"country-{cc}\"{class}><td>{rank}</td><td>{name} ({cc})</td><td data-country=\"{cc}\" data-figure=\"servers\">{s}</td><td>{ss}</td><td data-country=\"{cc}\" data-figure=\"hosts\">{n}</td><td>{hs}</td><td>{r}</td><td>{l}</td></tr>",
                cc = esc(&row.country),
                class = if row.domestic { " class=\"home\"" } else { "" },
                rank = if row.domestic { "home".to_string() } else { row.rank.to_string() },
                name = esc(&row.name),
                s = thousands(row.c2_servers),
                ss = percent(row.server_share),
                n = thousands(row.hosts),
                hs = percent(row.host_share),
                r = thousands(row.c2_servers_by_registry),
                l = thousands(row.low_confidence)
            );
        }
        let _ = writeln!(h, "</table>");
    }

    fn daily_section(&self, h: &mut String) {
        if self.daily.is_empty() {
            return;
        }
        let _ = writeln!(h, "<h2 id=\"daily\">Daily activity</h2>");
        let days = (self.period.to - self.period.from).num_days().max(1) as f64;
        let max_hosts = self.daily.iter().map(|d| d.hosts).max().unwrap_or(1).max(1) as f64;
        let max_c2 = self.daily.iter().map(|d| d.c2_servers).max().unwrap_or(1).max(1) as f64;
        let (w, ht) = (680.0, 160.0);
        let point = |day: chrono::NaiveDate, v: f64, max: f64| {
            let x = 10.0 + (day - self.period.from).num_days() as f64 / days * w;
            let y = 10.0 + ht - v / max * ht;
            format!("{x:.1},{y:.1}")
        };
        let hosts: Vec<_> = self.daily.iter().map(|d| point(d.day, d.hosts as f64, max_hosts)).collect();
        let c2s: Vec<_> = self.daily.iter().map(|d| point(d.day, d.c2_servers as f64, max_c2)).collect();
        let _ = writeln!(
            h,
            "<svg class=\"chart\" width=\"100%\" viewBox=\"0 0 700 200\" role=\"img\" aria-label=\"daily activity\">\
<polyline fill=\"none\" stroke=\"#c53030\" stroke-width=\"1.5\" points=\"{}\"/><polyline fill=\"none\" stroke=\"#2b6cb0\" stroke-width=\"1.5\" points=\"{}\"/>\
<text x=\"10\" y=\"195\">{}</text><text x=\"620\" y=\"195\">{}</text></svg>\
<p class=\"muted\"><span style=\"color:#c53030\">■</span> hosts in contact (peak {}) &nbsp; <span style=\"color:#2b6cb0\">■</span> active C2 servers (peak {})</p>",
            hosts.join(" "),
            c2s.join(" "),
            self.period.from,
            self.period.to,
            thousands(max_hosts as u64),
            thousands(max_c2 as u64)
        );
    }

    fn server_section(&self, h: &mut String) {
        const TOP: usize = 50;
        let _ = writeln!(h, "<h2 id=\"servers\">C2 servers</h2><table><tr><th>address</th><th>country</th><th>registry</th><th>AS</th><th>malware</th><th>hosts</th><th>flows</th><th>confidence</th><th>conflicts</th></tr>");
        for c2 in self.c2_servers.iter().take(TOP) {
            let cc = |c: Option<vedette_model::CountryCode>| c.map(|c| c.to_string()).unwrap_or_else(|| "–".into());
            let _ = writeln!(
                h,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&c2.address),
                cc(c2.country),
                cc(c2.registry_cc),
                c2.asn.map(|a| format!("AS{a}")).unwrap_or_default(),
                esc(c2.malware.as_deref().unwrap_or("unknown")),
                thousands(c2.hosts),
                thousands(c2.flows),
                c2.confidence.as_str(),
                esc(&c2.conflicts.join(", "))
            );
        }
        let _ = writeln!(h, "</table>");
        if self.c2_servers.len() > TOP {
            let _ = writeln!(
                h,
                "<p class=\"muted\">… and {} more C2 servers (all are in the JSON report).</p>",
                self.c2_servers.len() - TOP
            );
        }
    }
}
