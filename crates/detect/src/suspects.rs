//! Candidate infected hosts: home hosts that behave like bots with no indicator to prove
//! it. They become unconfirmed `infected_host` findings for an analyst to judge.

use std::net::IpAddr;

use vedette_model::{Finding, FindingKind};

use crate::indicators::time;

/// A home host that behaves like a bot; kept compact until it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Suspect {
    pub ip: IpAddr,
    pub first_us: i64,
    pub last_us: i64,
    pub signals: Vec<Signal>,
}

/// One reason to suspect a host.
#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    /// It looked up many generated-looking names, most of which do not exist: a bot
    /// walking its domain generation algorithm's list for the day.
    Dga {
        /// Distinct generated-looking registered domains it asked for…
        names: u32,
        /// …of which this many were answered NXDOMAIN.
        nx: u32,
        /// Whether `names` stopped at the per-host cap (so it is a lower bound).
        capped: bool,
        examples: Vec<Box<str>>,
    },
    /// It asked for many unique random-looking subdomains of a domain that carries a
    /// DNS tunnel.
    DnsTunnel { domain: Box<str>, queries: u64, hosts: u32 },
    /// It sent the TLS client fingerprint (JA3) a feed lists for a malware family.
    ListedJa3 { ja3: Box<str>, malware: Option<Box<str>>, feeds: Box<str>, hellos: u64 },
}

impl Signal {
    fn score(&self) -> f64 {
        match self {
            Signal::Dga { names, nx, .. } => {
                let score = (0.6 + 0.2 * f64::from(*nx) / f64::from((*names).max(1))).min(0.8);
                (score * 1000.0).round() / 1000.0
            }
            Signal::DnsTunnel { .. } => 0.7,
            // SSLBL warns its fingerprints match benign clients too.
            Signal::ListedJa3 { .. } => 0.5,
        }
    }

    fn reason(&self) -> String {
        match self {
            Signal::Dga { names, nx, capped, examples } => format!(
                "queried {}{names} generated-looking names, {nx} NXDOMAIN, e.g. {}",
                if *capped { "at least " } else { "" },
                examples.join(", ")
            ),
            Signal::DnsTunnel { domain, queries, hosts } => format!(
                "asked {domain} for many random subdomains, as a DNS tunnel does ({queries} queries from {hosts} home host{})",
                if *hosts == 1 { "" } else { "s" }
            ),
            Signal::ListedJa3 { ja3, malware, feeds, hellos } => format!(
                "sent the TLS fingerprint JA3 {ja3} that {feeds} lists{} ({hellos} hello{}); benign clients can share it",
                malware.as_deref().map(|m| format!(" for {m}")).unwrap_or_default(),
                if *hellos == 1 { "" } else { "s" }
            ),
        }
    }
}

impl Suspect {
    /// The candidate `infected_host` finding (unconfirmed).
    pub fn finding(&self) -> Finding {
        let reasons: Vec<String> = self.signals.iter().map(Signal::reason).collect();
        // Two independent signals make a candidate stronger than either.
        let best = self.signals.iter().map(Signal::score).fold(0.0, f64::max);
        let score = if self.signals.len() > 1 { (best + 0.1).min(0.9) } else { best };
        let malware = self.signals.iter().find_map(|s| match s {
            Signal::ListedJa3 { malware, .. } => malware.as_deref().map(str::to_string),
            _ => None,
        });
        Finding {
            kind: FindingKind::InfectedHost,
            subject: self.ip.to_string(),
            first_seen: time(self.first_us),
            last_seen: time(self.last_us),
            score,
            confirmed: false,
            malware,
            reason: format!("candidate: {}", reasons.join("; ")),
            attribution: None,
            evidence: Vec::new(),
        }
    }

    pub(crate) fn merge(&mut self, other: Suspect) {
        self.first_us = self.first_us.min(other.first_us);
        self.last_us = self.last_us.max(other.last_us);
        for s in other.signals {
            if !self.signals.contains(&s) {
                self.signals.push(s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_candidate_says_why_and_two_signals_weigh_more_than_one() {
        let mut s = Suspect {
            ip: "10.0.0.9".parse().unwrap(),
            first_us: 0,
            last_us: 10,
            signals: vec![Signal::Dga {
                names: 12,
                nx: 11,
                capped: false,
                examples: vec!["a.com".into(), "b.net".into()],
            }],
        };
        let one = s.finding();
        assert_eq!(one.reason, "candidate: queried 12 generated-looking names, 11 NXDOMAIN, e.g. a.com, b.net");
        assert!(!one.confirmed);
        s.merge(Suspect {
            ip: s.ip,
            first_us: 5,
            last_us: 20,
            signals: vec![Signal::DnsTunnel { domain: "t.example".into(), queries: 600, hosts: 1 }],
        });
        let two = s.finding();
        assert!(two.score > one.score && two.last_seen > one.last_seen);
        assert!(two.reason.contains("as a DNS tunnel does (600 queries from 1 home host)"), "{}", two.reason);
    }
}
