//! Every telemetry detector behind one `observe(&Flow)` and one
//! `observe_observation(&Observation)`, so the pipeline feeds each record once.

use vedette_model::{Event, Finding, Flow, Observation};

use crate::{BeaconConfig, BeaconTracker, Detections, DnsBehaviour, DnsConfig, Home, IndicatorMatcher, IndicatorSet};

/// Indicator matching, beaconing and the DNS detectors over the same telemetry.
pub struct TelemetryDetector {
    indicators: IndicatorMatcher,
    beacons: BeaconTracker,
    dns: DnsBehaviour,
    home: Home,
}

impl TelemetryDetector {
    /// With the default [`DnsConfig`]; see [`TelemetryDetector::with_dns`].
    pub fn new(indicators: IndicatorSet, home: Home, beacon: BeaconConfig) -> TelemetryDetector {
        TelemetryDetector {
            indicators: IndicatorMatcher::new(indicators, home.clone()),
            beacons: BeaconTracker::new(beacon),
            dns: DnsBehaviour::new(DnsConfig::default(), home.clone()),
            home,
        }
    }

    /// Replaces the DNS detectors' configuration (before anything is observed).
    pub fn with_dns(mut self, config: DnsConfig) -> TelemetryDetector {
        self.dns = DnsBehaviour::new(config, self.home.clone());
        self
    }

    /// One flow: indicator match, then the beacon tracker.
    pub fn observe(&mut self, flow: &Flow) {
        self.indicators.observe(flow);
        self.beacons.observe(flow);
    }

    /// Many flows, as [`TelemetryDetector::observe`] one after the other (the indicator
    /// match reads its address filter a batch at a time: [`IndicatorMatcher::observe_all`]).
    pub fn observe_all(&mut self, flows: &[Flow]) {
        self.indicators.observe_all(flows);
        for flow in flows {
            self.beacons.observe(flow);
        }
    }

    /// One DNS lookup, HTTP request, TLS hello, sinkhole hit or passive DNS record.
    /// Feed passive DNS and DNS lookups before (or with) the flows they explain: an
    /// address learned from a listed name's answer matches the flows that follow it.
    pub fn observe_observation(&mut self, observation: &Observation) {
        self.indicators.observe_observation(observation);
        match observation {
            Observation::Dns(lookup) => {
                self.beacons.observe_lookup(lookup);
                self.dns.observe(lookup)
            }
            // Pairs by name are kept for home callers only: no one reports a foreign
            // host's beacon, and browsing would otherwise fill memory with pairs.
            Observation::Http(request) if !request.host.is_empty() && self.home.contains(request.src) => {
                self.beacons.observe_named(request.src, &request.host, request.time_us);
            }
            Observation::Tls(hello) => {
                if let Some(sni) = hello.sni.as_deref().filter(|s| !s.is_empty()) {
                    if self.home.contains(hello.src) {
                        self.beacons.observe_named(hello.src, sni, hello.time_us);
                    }
                }
            }
            _ => {}
        }
    }

    /// What was found, in two parts:
    ///
    /// 1. [`Detections`]: the confirmed `c2_server`s, the `infected_host`s they confirm,
    ///    the candidate `infected_host`s (DGA walkers, tunnel ends, listed JA3) and the
    ///    daily contacts — [`Detections::findings`] builds the host findings one at a time;
    /// 2. the behavioural findings: `beaconing_pair`s (home callers only), candidate
    ///    `c2_server`s (beaconed to by several hosts, or the address of a generated name),
    ///    `dga_domain`s and `dns_tunnel`s.
    ///
    /// Write the second first: a candidate C2 that a feed also lists is then widened to
    /// confirmed by the first's upsert.
    pub fn finish(mut self) -> (Detections, Vec<Finding>) {
        self.flush()
    }

    /// Adds indicators (a feed fetched while running); returns how many are new.
    pub fn add_indicators<'a>(&mut self, events: impl IntoIterator<Item = &'a Event>) -> usize {
        self.indicators.add_indicators(events)
    }

    /// What was found so far, as [`TelemetryDetector::finish`] gives it, for a long run
    /// that writes as it goes (`vedette run`): contacts and links since the last flush
    /// (they start again from zero, as the store adds them up), and every finding from
    /// all that was seen (beacons and DNS behaviour need the whole history; findings are
    /// upserted, so writing one twice is harmless). Memory is not released: beacon and
    /// DNS state keep growing within their bounds.
    pub fn flush(&mut self) -> (Detections, Vec<Finding>) {
        let home = &self.home;
        // A domestic C2 is a C2 all the same; internal services belong in the known-good list.
        let mut behaviour =
            self.beacons.findings_where(|b| home.contains(b.src) && (b.name.is_some() || !b.dst.is_unspecified()));
        let dns = self.dns.findings();
        behaviour.extend(dns.findings);
        let mut detections = self.indicators.flush();
        detections.add_suspects(dns.suspects);
        (detections, behaviour)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vedette_model::{ClassificationType, Event, FindingKind, HttpRequest, Transport};

    #[test]
    fn flows_reach_both_detectors_and_only_home_callers_are_kept() {
        let mut c2 = Event::new("feed", ClassificationType::C2Server);
        c2.source.ip = Some("198.51.100.4".parse().unwrap());
        let home = Home::new(None, &["10.0.0.0/8"]).unwrap();
        let mut d = TelemetryDetector::new(IndicatorSet::from_events([&c2]), home, BeaconConfig::default());
        for i in 0..48i64 {
            for (src, dst) in [("10.0.0.1", "198.51.100.4"), ("172.16.0.2", "10.9.9.9"), ("10.0.0.3", "203.0.113.5")] {
                d.observe(&Flow {
                    start_us: 1_357_000_000_000_000 + i * 3_600_000_000,
                    duration_us: 0,
                    src: src.parse().unwrap(),
                    src_port: 40_000,
                    dst: dst.parse().unwrap(),
                    dst_port: 443,
                    transport: Transport::TCP,
                    bytes_out: 300,
                    bytes_in: 300,
                    packets: 4,
                });
            }
            for src in ["10.0.0.4", "172.16.0.5"] {
                d.observe_observation(&Observation::Http(HttpRequest {
                    time_us: 1_357_000_000_000_000 + i * 3_600_000_000,
                    src: src.parse().unwrap(),
                    src_port: 40_000,
                    dst: "203.0.113.99".parse().unwrap(),
                    dst_port: 80,
                    host: "poll.example.net".into(),
                    uri: "/".into(),
                    method: None,
                    user_agent: None,
                }));
            }
        }
        let (detections, beacons) = d.finish();
        assert_eq!(detections.c2_servers().count(), 1);
        let subjects: Vec<&str> =
            beacons.iter().filter(|f| f.kind == FindingKind::BeaconingPair).map(|f| f.subject.as_str()).collect();
        assert_eq!(subjects.len(), 3, "{subjects:?}"); // the foreign callers are dropped
        assert!(subjects.iter().all(|s| !s.contains("172.16.0.")));
        assert!(subjects.contains(&"10.0.0.4 -> poll.example.net"));
    }

    #[test]
    fn a_flush_hands_over_contacts_once_and_keeps_what_was_learned() {
        let mut c2 = Event::new("feed", ClassificationType::C2Server);
        c2.source.fqdn = Some("bad-c2.example.net".into());
        let home = Home::new(None, &["10.0.0.0/8"]).unwrap();
        let mut d = TelemetryDetector::new(IndicatorSet::from_events([&c2]), home, BeaconConfig::default());
        let mut lookup = vedette_model::DnsLookup::new(1_000_000, "10.0.0.1".parse().unwrap(), "bad-c2.example.net");
        lookup.answers = vec!["198.51.100.9".parse().unwrap()];
        d.observe_observation(&Observation::Dns(lookup));
        let (first, _) = d.flush();
        assert_eq!((first.contacts.len(), first.observations_seen), (1, 1));
        let (empty, _) = d.flush();
        assert!(empty.contacts.is_empty() && empty.victims.is_empty());
        // The address learned before the flush still matches.
        d.observe(&Flow {
            start_us: 2_000_000,
            duration_us: 0,
            src: "10.0.0.2".parse().unwrap(),
            src_port: 40_000,
            dst: "198.51.100.9".parse().unwrap(),
            dst_port: 443,
            transport: Transport::TCP,
            bytes_out: 1,
            bytes_in: 1,
            packets: 2,
        });
        let (last, _) = d.finish();
        assert_eq!(last.contacts.len(), 1);
        assert_eq!(last.contacts[0].victim.to_string(), "10.0.0.2");
        assert_eq!(last.flows_seen, 1);
    }
}
