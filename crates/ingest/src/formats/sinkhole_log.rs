//! A sinkhole operator's own log of bots calling in: `time,bot_ip,sinkholed_domain` and
//! an optional fourth column, the malware `family`; with or without a header line (a
//! header may order the columns differently); the time in ISO 8601, Unix seconds or Unix
//! milliseconds. One [`SinkholeHit`] per line. (Shadowserver's sinkhole reports are a
//! different, richer layout, read by the `shadowserver` feed.)
//!
//! ```text
//! time,bot_ip,sinkholed_domain,family
//! 2024-05-01T10:00:00Z,198.51.100.23,Kqzvxw.Example.net,Conficker
//!   -> SinkholeHit { bot: 198.51.100.23, domain: "kqzvxw.example.net", family: Some("conficker"), .. }
//! ```

use std::borrow::Cow;
use std::net::IpAddr;

use vedette_model::{normalise_name, Observation, SinkholeHit};

use super::{csv_line, values, Context, LineFormat};
use crate::Batch;

pub(crate) fn probe(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&head[..head.len().min(4096)]);
    let Some(first) = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')) else {
        return false;
    };
    let fields: Vec<&str> = first.split(',').map(|f| f.trim().trim_matches('"')).collect();
    // A header of this log's own columns only: Shadowserver's sinkhole reports also have
    // `timestamp`, `src_ip` and `query`, among twenty others.
    let header: Option<Vec<Column>> = fields.iter().map(|f| column(f)).collect();
    if let Some(header) = header {
        return [Column::Time, Column::Bot, Column::Domain].iter().all(|c| header.contains(c));
    }
    matches!(fields.len(), 3 | 4)
        && time_us(fields[0]).is_some()
        && fields[1].parse::<IpAddr>().is_ok()
        && fields[2].contains('.')
        && fields[2].parse::<IpAddr>().is_err()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Time,
    Bot,
    Domain,
    Family,
}

fn column(name: &str) -> Option<Column> {
    Some(match name.trim().trim_matches('"').to_ascii_lowercase().as_str() {
        "time" | "timestamp" | "ts" | "date" | "datetime" => Column::Time,
        "bot_ip" | "bot" | "ip" | "src_ip" | "source_ip" | "client_ip" => Column::Bot,
        "sinkholed_domain" | "sinkhole_domain" | "domain" | "query" | "qname" | "fqdn" => Column::Domain,
        "family" | "malware" | "malware_family" => Column::Family,
        _ => return None,
    })
}

/// Where each value sits; `None` for a header's columns not read.
struct Layout {
    columns: Vec<Option<Column>>,
    /// From a header: exactly this many columns; the default layout takes 3 or 4.
    exact: bool,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            columns: vec![Some(Column::Time), Some(Column::Bot), Some(Column::Domain), Some(Column::Family)],
            exact: false,
        }
    }
}

#[derive(Default)]
pub(crate) struct SinkholeLog {
    layout: Layout,
    /// A header without the columns a hit needs: every row after it is refused with this.
    broken: Option<String>,
}

/// ISO 8601 or Unix seconds, or Unix milliseconds (13 digits, as JavaScript writes them).
fn time_us(value: &str) -> Option<i64> {
    if value.len() == 13 && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<i64>().ok()?.checked_mul(1000);
    }
    values::micros(value)
}

impl LineFormat for SinkholeLog {
    fn line(&mut self, ctx: &Context, number: u64, line: &str, out: &mut Batch) {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return;
        }
        let fields: Vec<Cow<str>> = match csv_line::split_borrowed(trimmed, ",") {
            Ok(f) => f,
            Err(reason) => return out.rejected.push(ctx.reject(number, line.as_bytes(), reason)),
        };
        // A header: no time where the time goes, and names some of the log's columns.
        let names: Vec<Option<Column>> = fields.iter().map(|f| column(f)).collect();
        let first = fields.first().map_or("", |f| f.trim());
        if time_us(first).is_none() && names.iter().any(Option::is_some) {
            self.header(names);
            return;
        }
        match self.row(&fields) {
            Ok(hit) => out.observations.push(Observation::Sinkhole(hit)),
            Err(reason) => out.rejected.push(ctx.reject(number, line.as_bytes(), reason)),
        }
    }
}

impl SinkholeLog {
    fn header(&mut self, names: Vec<Option<Column>>) {
        let missing = [(Column::Time, "time"), (Column::Bot, "bot_ip"), (Column::Domain, "sinkholed_domain")]
            .into_iter()
            .find(|(c, _)| !names.contains(&Some(*c)));
        self.broken = missing.map(|(_, name)| format!("the header has no {name} column"));
        self.layout = Layout { columns: names, exact: true };
    }

    fn row(&self, fields: &[Cow<str>]) -> Result<SinkholeHit, String> {
        if let Some(reason) = &self.broken {
            return Err(reason.clone());
        }
        let l = &self.layout;
        if l.exact && fields.len() != l.columns.len() {
            return Err(format!("expected {} columns, found {}", l.columns.len(), fields.len()));
        }
        if !l.exact && !(3..=4).contains(&fields.len()) {
            return Err(format!(
                "expected 3 or 4 columns (time,bot_ip,sinkholed_domain[,family]), found {}",
                fields.len()
            ));
        }
        let (mut time, mut bot, mut domain, mut family) = (None, None, None, None);
        for (column, value) in l.columns.iter().zip(fields) {
            let value = value.trim();
            match column {
                Some(Column::Time) => {
                    time = Some(time_us(value).ok_or_else(|| format!("time: {value:?} is not a time"))?)
                }
                Some(Column::Bot) => bot = Some(values::ip("bot_ip", Some(value))?),
                Some(Column::Domain) => domain = Some(normalise_name(value)).filter(|d| !d.is_empty()),
                Some(Column::Family) => family = Some(value.to_lowercase().into_boxed_str()).filter(|f| !f.is_empty()),
                None => {}
            }
        }
        Ok(SinkholeHit {
            time_us: time.ok_or("time: missing")?,
            bot: bot.ok_or("bot_ip: missing")?,
            domain: domain.ok_or("sinkholed_domain: missing")?,
            family,
        })
    }
}

#[cfg(test)]
mod tests {
    use vedette_model::Observation;

    use crate::formats::decode_all;
    use crate::Catalogue;

    fn decode(bytes: &[u8]) -> crate::Batch {
        decode_all(Catalogue::builtin().get("sinkhole-log").unwrap(), "sinkhole.csv", bytes)
    }

    #[test]
    fn headerless_rows_with_and_without_family() {
        let out = decode(
            b"1714557600,198.51.100.23,Kqzvxw.Example.net.\n2024-05-01T10:00:01Z,198.51.100.24,a.example,Conficker\n",
        );
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
        let Observation::Sinkhole(h) = &out.observations[0] else { panic!() };
        assert_eq!((h.time_us, &*h.domain, h.family.as_deref()), (1_714_557_600_000_000, "kqzvxw.example.net", None));
        let Observation::Sinkhole(h) = &out.observations[1] else { panic!() };
        assert_eq!(h.family.as_deref(), Some("conficker"));
    }

    #[test]
    fn shadowserver_reports_are_not_taken_for_a_sinkhole_log() {
        assert!(super::probe(b"time,bot_ip,sinkholed_domain\n"));
        assert!(super::probe(b"2024-05-01T10:00:00Z,198.51.100.23,a.example.net\n"));
        assert!(!super::probe(b"timestamp,protocol,src_ip,src_port,src_asn,src_geo,query_type,query,count\n"));
    }

    #[test]
    fn a_header_reorders_columns() {
        let out = decode(
            b"bot_ip,time,sinkholed_domain\n198.51.100.23,1714557600123,a.example\n1.2.3,1714557600,a.example\n",
        );
        let Observation::Sinkhole(h) = &out.observations[0] else { panic!("{:?}", out.rejected) };
        assert_eq!(h.time_us, 1_714_557_600_123_000);
        assert_eq!(out.rejected[0].reason, "bot_ip: \"1.2.3\" is not an IP address");
    }
}
