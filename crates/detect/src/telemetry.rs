//! Every telemetry detector behind one `observe(&Flow)`, so the pipeline feeds flows once.

use vedette_model::{Finding, Flow};

use crate::{BeaconConfig, BeaconTracker, Detections, Home, IndicatorMatcher, IndicatorSet};

/// Indicator matching and beaconing over the same flows.
pub struct TelemetryDetector {
    indicators: IndicatorMatcher,
    beacons: BeaconTracker,
    home: Home,
}

impl TelemetryDetector {
    pub fn new(indicators: IndicatorSet, home: Home, beacon: BeaconConfig) -> TelemetryDetector {
        TelemetryDetector {
            indicators: IndicatorMatcher::new(indicators, home.clone()),
            beacons: BeaconTracker::new(beacon),
            home,
        }
    }

    pub fn observe(&mut self, flow: &Flow) {
        self.indicators.observe(flow);
        self.beacons.observe(flow);
    }

    /// The indicator matches, and the beaconing findings whose caller is a home host (a
    /// domestic C2 is a C2 all the same; internal services belong in the known-good list).
    pub fn finish(self) -> (Detections, Vec<Finding>) {
        let home = &self.home;
        let beacons = self
            .beacons
            .findings()
            .into_iter()
            .filter(|f| match f.subject.split_once(" -> ") {
                Some((src, dst)) => {
                    let dst = dst.rsplit_once(':').map_or(dst, |(ip, _)| ip);
                    let (Ok(src), Ok(dst)) =
                        (src.parse::<std::net::IpAddr>(), dst.trim_matches(['[', ']']).parse::<std::net::IpAddr>())
                    else {
                        return false;
                    };
                    home.contains(src) && !dst.is_unspecified()
                }
                // A candidate C2 server, wherever it is.
                None => true,
            })
            .collect();
        (self.indicators.finish(), beacons)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vedette_model::{ClassificationType, Event, FindingKind, Transport};

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
        }
        let (detections, beacons) = d.finish();
        assert_eq!(detections.c2_servers().count(), 1);
        let subjects: Vec<&str> =
            beacons.iter().filter(|f| f.kind == FindingKind::BeaconingPair).map(|f| f.subject.as_str()).collect();
        assert_eq!(subjects.len(), 2, "{subjects:?}"); // the foreign caller 172.16.0.2 is dropped
        assert!(subjects.iter().all(|s| !s.contains("172.16.0.2")));
    }
}
