//! The report as one self-contained HTML page: inline CSS and SVG, no script, nothing
//! fetched — it opens offline, mails as one file and prints cleanly to PDF.

use std::collections::HashMap;
use std::fmt::Write as _;

use vedette_model::CountryCode;

use crate::map;
use crate::report::{change, percent, thousands};
use crate::Report;

/// Rows listed per section before "… and N more".
const TOP: usize = 25;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn cc(c: Option<CountryCode>) -> String {
    c.map(|c| c.to_string()).unwrap_or_else(|| "–".into())
}

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;max-width:1040px;margin:2em auto;padding:0 1em;color:#1b1f24}\
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ccd;padding-bottom:.2em}h3{margin-bottom:.3em}\
a{color:#1d4f91}.synthetic{background:#fff3cd;border:1px solid #e0b000;padding:.6em 1em;font-weight:600}\
.statement{font-size:1.15em;background:#f3f6fa;padding:1em;border-left:4px solid #2b6cb0}\
table{border-collapse:collapse;width:100%;margin:.6em 0}th,td{padding:.25em .5em;border-bottom:1px solid #e3e6ea;text-align:right}\
th.l,td.l{text-align:left}tr.home td{font-style:italic;background:#fafafa}\
.chart text{font-size:11px;fill:#333}.muted{color:#667}code{font-size:.95em}\
.map path{stroke:#fff;stroke-width:.4}.map a:hover path{stroke:#000;stroke-width:1}\
.legend span{display:inline-block;width:1.2em;height:.8em;margin:0 .2em 0 .8em;vertical-align:middle}\
@media print{body{margin:0;max-width:none;font-size:11pt}h2{break-after:avoid}table,svg,section{break-inside:avoid}a{color:inherit;text-decoration:none}}";

const CLASSES: [&str; 6] = ["#e8ebef", "#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c"];
const HOME_FILL: &str = "#f2c14e";

impl Report {
    /// The report as one self-contained HTML page.
    pub fn to_html(&self) -> String {
        let mut h = String::new();
        let title =
            format!("Vedette situation report: {} {} to {}", self.home_country_name, self.period.from, self.period.to);
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{}</title><style>{STYLE}</style></head><body>\n",
            esc(&title)
        );
        if let Some(note) = &self.synthetic {
            let _ = writeln!(h, "<p class=\"synthetic\" id=\"synthetic\">Synthetic data. {}</p>", esc(note));
        }
        let _ = writeln!(h, "<h1>{}</h1>", esc(&title));
        let _ = writeln!(h, "<p class=\"statement\" id=\"statement\">{}</p>", esc(&self.statement));
        if self.has_data {
            self.headline_table(&mut h);
            self.world_map(&mut h);
            self.country_table(&mut h);
            self.daily_section(&mut h);
            self.group_tables(&mut h);
            self.conflict_section(&mut h);
            self.server_section(&mut h);
            self.host_section(&mut h);
            self.country_sections(&mut h);
        }
        if !self.not_covered.is_empty() {
            let _ = writeln!(h, "<h2 id=\"not-covered\">Not covered by this report</h2><ul>");
            for line in &self.not_covered {
                let _ = writeln!(h, "<li>{}</li>", esc(line));
            }
            let _ = writeln!(h, "</ul>");
        }
        let _ = writeln!(h, "<h2 id=\"method\">Method</h2><ul>");
        for line in &self.method {
            let _ = writeln!(h, "<li>{}</li>", esc(line));
        }
        let _ = writeln!(
            h,
            "</ul><p class=\"muted\">Report schema <code>{}</code>. Map: Natural Earth 1:110m (public domain) via world-atlas (ISC).</p></body></html>",
            self.schema
        );
        h
    }

    fn headline_table(&self, h: &mut String) {
        let hl = &self.headline;
        let prev = self.previous.as_ref();
        let _ = writeln!(
            h,
            "<h2 id=\"headline\">Headline</h2><table><tr><th class=\"l\">C2 servers</th><th>servers</th><th>change</th><th>hosts controlled</th><th>change</th></tr>"
        );
        let rows = [
            (
                "overseas",
                "overseas",
                hl.overseas_c2_servers,
                hl.overseas_hosts,
                prev.map(|p| (p.overseas_c2_servers, p.overseas_hosts)),
            ),
            (
                "domestic",
                "domestic",
                hl.domestic_c2_servers,
                hl.domestic_hosts,
                prev.map(|p| (p.domestic_c2_servers, p.domestic_hosts)),
            ),
            ("unattributed", "unattributed", hl.unattributed_c2_servers, hl.unattributed_hosts, None),
            ("all", "total", hl.total_c2_servers, hl.total_hosts, None),
        ];
        for (label, key, servers, hosts, before) in rows {
            let _ = writeln!(
                h,
                "<tr><td class=\"l\">{label}</td><td><a href=\"#servers\" data-figure=\"{key}_c2_servers\">{}</a></td><td>{}</td><td><a href=\"#hosts\" data-figure=\"{key}_hosts\">{}</a></td><td>{}</td></tr>",
                thousands(servers),
                change(servers, before.map(|b| b.0)),
                thousands(hosts),
                change(hosts, before.map(|b| b.1)),
            );
        }
        let _ = writeln!(h, "</table>");
        if let Some(p) = prev {
            let _ = writeln!(h, "<p class=\"muted\">Change against {} to {}.</p>", p.period.from, p.period.to);
        }
    }

    fn world_map(&self, h: &mut String) {
        let counts: HashMap<&str, u64> =
            self.countries.iter().filter(|r| !r.domestic).map(|r| (r.country.as_str(), r.c2_servers)).collect();
        let max = counts.values().copied().max().unwrap_or(1).max(1) as f64;
        // Five classes on a logarithmic scale: a few countries hold most servers.
        let class = |n: u64| {
            if n == 0 {
                0
            } else {
                1 + ((n as f64).ln() / max.ln().max(1e-9) * 4.0).floor().min(4.0) as usize
            }
        };
        let _ = writeln!(
            h,
            "<h2 id=\"map\">Where the overseas C2 servers are</h2><svg class=\"map\" width=\"100%\" viewBox=\"0 0 {:.0} {:.0}\" role=\"img\" aria-label=\"world map of C2 servers by country\">",
            map::WIDTH,
            map::HEIGHT
        );
        for shape in map::shapes() {
            let code = shape.alpha2.unwrap_or("");
            let is_home = code == self.home_country;
            let n = counts.get(code).copied().unwrap_or(0);
            let fill = if is_home { HOME_FILL } else { CLASSES[class(n)] };
            let label = if is_home {
                format!("{} (home)", shape.name)
            } else {
                format!("{}: {} C2 server{}", shape.name, thousands(n), if n == 1 { "" } else { "s" })
            };
            if n > 0 || is_home {
                let _ = writeln!(
                    h,
                    "<a href=\"#country-{code}\"><path d=\"{}\" fill=\"{fill}\"><title>{}</title></path></a>",
                    shape.path,
                    esc(&label)
                );
            } else {
                let _ = writeln!(h, "<path d=\"{}\" fill=\"{fill}\"><title>{}</title></path>", shape.path, esc(&label));
            }
        }
        let _ = writeln!(h, "</svg><p class=\"legend muted\">C2 servers:");
        let bounds: Vec<u64> = (1..=5).map(|k| max.powf((k - 1) as f64 / 4.0).ceil() as u64).collect();
        for (k, low) in bounds.iter().enumerate() {
            let _ = write!(h, "<span style=\"background:{}\"></span>{}+", CLASSES[k + 1], thousands(*low));
        }
        let _ = writeln!(h, "<span style=\"background:{HOME_FILL}\"></span>home country</p>");
    }

    fn country_table(&self, h: &mut String) {
        let _ = writeln!(h, "<h2 id=\"countries\">C2 servers by country</h2>");
        let overseas: Vec<_> = self.countries.iter().filter(|r| !r.domestic).take(15).collect();
        let max = overseas.iter().map(|r| r.c2_servers).max().unwrap_or(1).max(1);
        let bar_h = 20;
        let height = overseas.len() * bar_h + 10;
        let _ = writeln!(h, "<svg class=\"chart\" width=\"100%\" viewBox=\"0 0 700 {height}\" role=\"img\" aria-label=\"overseas C2 servers by country\">");
        for (i, row) in overseas.iter().enumerate() {
            let y = i * bar_h + 5;
            let w = (row.c2_servers as f64 / max as f64 * 460.0).max(1.0);
            let _ = writeln!(
                h,
                "<a href=\"#country-{cc}\"><text x=\"0\" y=\"{ty}\">{name}</text><rect x=\"190\" y=\"{y}\" width=\"{w:.1}\" height=\"{bh}\" fill=\"#2b6cb0\"/><text x=\"{tx:.1}\" y=\"{ty}\">{n}</text></a>",
                cc = esc(&row.country),
                ty = y + 13,
                name = esc(&format!("{} ({})", row.name, row.country)),
                bh = bar_h - 5,
                tx = 195.0 + w,
                n = thousands(row.c2_servers)
            );
        }
        let _ = writeln!(h, "</svg>");
        let _ = writeln!(
            h,
            "<table id=\"country-table\"><tr><th>rank</th><th class=\"l\">country</th><th>servers</th><th>share</th><th>change</th><th>hosts</th><th>share</th><th>change</th><th>by registry</th><th>by location</th><th>low confidence</th></tr>"
        );
        for row in &self.countries {
            let _ = writeln!(
                h,
                "<tr id=\"row-{cc}\"{class}><td>{rank}</td><td class=\"l\"><a href=\"#country-{cc}\">{name} ({cc})</a></td><td data-country=\"{cc}\" data-figure=\"servers\">{s}</td><td>{ss}</td><td>{sc}</td><td data-country=\"{cc}\" data-figure=\"hosts\">{n}</td><td>{hs}</td><td>{hc}</td><td>{r}</td><td>{loc}</td><td>{l}</td></tr>",
                cc = esc(&row.country),
                class = if row.domestic { " class=\"home\"" } else { "" },
                rank = if row.domestic { "home".to_string() } else { row.rank.to_string() },
                name = esc(&row.name),
                s = thousands(row.c2_servers),
                ss = percent(row.server_share),
                sc = change(row.c2_servers, row.previous_c2_servers),
                n = thousands(row.hosts),
                hs = percent(row.host_share),
                hc = change(row.hosts, row.previous_hosts),
                r = thousands(row.c2_servers_by_registry),
                loc = row.c2_servers_by_location.map(thousands).unwrap_or_else(|| "–".into()),
                l = thousands(row.low_confidence)
            );
        }
        let _ = writeln!(
            h,
            "</table><p class=\"muted\">Servers are counted under the country the attribution policy gives; \"by registry\" and \"by location\" count the same servers by those views alone, so the difference shows where the sources disagree.</p>"
        );
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
<p class=\"muted\"><span style=\"color:#c53030\">■</span> hosts in contact (peak {}) &nbsp; <span style=\"color:#2b6cb0\">■</span> active C2 servers (peak {}); each line is scaled to its own peak.</p>",
            hosts.join(" "),
            c2s.join(" "),
            self.period.from,
            self.period.to,
            thousands(max_hosts as u64),
            thousands(max_c2 as u64)
        );
    }

    fn group_tables(&self, h: &mut String) {
        if !self.families.is_empty() {
            let _ = writeln!(h, "<h2 id=\"families\">By malware family</h2><table><tr><th class=\"l\">family</th><th>C2 servers</th><th>hosts</th></tr>");
            for f in &self.families {
                let _ = writeln!(
                    h,
                    "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td></tr>",
                    esc(f.key.as_deref().unwrap_or("unknown")),
                    thousands(f.c2_servers),
                    thousands(f.hosts)
                );
            }
            let _ = writeln!(h, "</table>");
        }
        if !self.home_networks.is_empty() {
            let _ = writeln!(
                h,
                "<h2 id=\"networks\">By home network</h2><table><tr><th class=\"l\">network</th><th class=\"l\">holder</th><th class=\"l\">region</th><th>hosts controlled</th><th>C2 servers</th></tr>"
            );
            for n in self.home_networks.iter().take(TOP) {
                let _ = writeln!(
                    h,
                    "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td></tr>",
                    esc(n.key.as_deref().unwrap_or("unknown AS")),
                    esc(n.label.as_deref().unwrap_or("")),
                    esc(n.region.as_deref().unwrap_or("–")),
                    thousands(n.hosts),
                    thousands(n.c2_servers)
                );
            }
            let _ = writeln!(h, "</table>");
            more(h, self.home_networks.len(), "networks");
        }
    }

    fn conflict_section(&self, h: &mut String) {
        if self.conflicted_c2_servers.is_empty() {
            return;
        }
        let _ = writeln!(
            h,
            "<h2 id=\"conflicts\">Attribution conflicts</h2><p>{} C2 server{} whose sources disagree. They are counted as shown; check the evidence before citing their country.</p>",
            self.conflicted_c2_servers.len(),
            if self.conflicted_c2_servers.len() == 1 { "" } else { "s" }
        );
        server_table(h, self.conflicted_c2_servers.iter().take(TOP));
        more(h, self.conflicted_c2_servers.len(), "C2 servers");
    }

    fn server_section(&self, h: &mut String) {
        let _ = writeln!(h, "<h2 id=\"servers\">C2 servers</h2>");
        server_table(h, self.c2_servers.iter().take(TOP));
        more(h, self.c2_servers.len(), "C2 servers");
    }

    fn host_section(&self, h: &mut String) {
        if self.top_hosts.is_empty() {
            return;
        }
        let _ = writeln!(
            h,
            "<h2 id=\"hosts\">Controlled hosts</h2><p>The home hosts with the most C2 contacts in the period, of {} in all.</p><table><tr><th class=\"l\">address</th><th class=\"l\">network</th><th>C2 servers</th><th>flows</th><th>first day</th><th>last day</th></tr>",
            thousands(self.headline.total_hosts)
        );
        for v in self.top_hosts.iter().take(TOP) {
            let _ = writeln!(
                h,
                "<tr><td class=\"l\"><code>{}</code></td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&v.address),
                v.asn.map(|a| format!("AS{a}")).unwrap_or_default(),
                thousands(v.c2_servers),
                thousands(v.flows),
                v.first_day,
                v.last_day
            );
        }
        let _ = writeln!(h, "</table>");
        more(
            h,
            self.headline.total_hosts as usize,
            "hosts (all are in the store: `vedette findings --kind infected_host`)",
        );
    }

    fn country_sections(&self, h: &mut String) {
        let _ = writeln!(h, "<h2 id=\"by-country\">C2 servers of each country</h2>");
        for row in &self.countries {
            let servers: Vec<_> = self
                .c2_servers
                .iter()
                .filter(|c| c.country.map(|c| c.to_string()).as_deref() == Some(row.country.as_str()))
                .collect();
            let _ = writeln!(
                h,
                "<section id=\"country-{cc}\"><h3>{name} ({cc}){home}</h3><p>{s} C2 server{sp} controlling {n} home host{np}.</p>",
                cc = esc(&row.country),
                name = esc(&row.name),
                home = if row.domestic { ": home country" } else { "" },
                s = thousands(row.c2_servers),
                sp = if row.c2_servers == 1 { "" } else { "s" },
                n = thousands(row.hosts),
                np = if row.hosts == 1 { "" } else { "s" },
            );
            server_table(h, servers.iter().copied().take(TOP));
            more(h, servers.len(), "C2 servers");
            let _ = writeln!(h, "</section>");
        }
    }
}

fn server_table<'a>(h: &mut String, servers: impl Iterator<Item = &'a vedette_model::C2Activity>) {
    let _ = writeln!(
        h,
        "<table><tr><th class=\"l\">address</th><th>country</th><th>registry</th><th>location</th><th class=\"l\">AS</th><th class=\"l\">malware</th><th>hosts</th><th>flows</th><th>confidence</th><th class=\"l\">conflicts</th></tr>"
    );
    for c2 in servers {
        let _ = writeln!(
            h,
            "<tr><td class=\"l\"><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td></tr>",
            esc(&c2.address),
            cc(c2.country),
            cc(c2.registry_cc),
            cc(c2.location_cc),
            esc(&match (c2.asn, &c2.as_name) {
                (Some(a), Some(n)) => format!("AS{a} {n}"),
                (Some(a), None) => format!("AS{a}"),
                _ => String::new(),
            }),
            esc(c2.malware.as_deref().unwrap_or("unknown")),
            thousands(c2.hosts),
            thousands(c2.flows),
            c2.confidence.as_str(),
            esc(&c2.conflicts.join(", "))
        );
    }
    let _ = writeln!(h, "</table>");
}

fn more(h: &mut String, total: usize, what: &str) {
    if total > TOP {
        let _ = writeln!(
            h,
            "<p class=\"muted\">… and {} more {what}; the JSON report lists every C2 server.</p>",
            thousands((total - TOP) as u64)
        );
    }
}
