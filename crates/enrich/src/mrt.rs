//! MRT RIB dumps (RFC 6396; RouteViews and RIPE RIS `rib.*`/`bview.*`, plain or bzip2)
//! read with bgpkit-parser: every prefix with every origin AS the peers see, most seen
//! first (as CAIDA orders multi-origin prefixes), so MOAS prefixes keep all their origins.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use bgpkit_parser::BgpkitParser;

use crate::routing::Route;
use crate::SourceError;

/// What reading a dump found besides the routes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MrtSummary {
    pub elements: u64,
    /// The dump's time (its first RIB entry's), Unix seconds.
    pub time: Option<i64>,
    pub prefixes: usize,
    pub multi_origin: usize,
    /// RIB entries for 0.0.0.0/0 or ::/0, left out.
    pub default_routes: u64,
}

/// Routes with their key bounds.
pub type Routes = Vec<(u128, u128, Route)>;

/// Reads a RIB dump. A dump cut short (as the fixtures are) yields what came before the
/// cut; a file with no RIB entry at all (no peer table, not MRT) is an error.
pub fn parse(source: &str, bytes: &[u8]) -> Result<(Routes, MrtSummary), SourceError> {
    let reader: Box<dyn Read + Send + '_> =
        if bytes.starts_with(b"BZh") { Box::new(bzip2::read::MultiBzDecoder::new(bytes)) } else { Box::new(bytes) };
    let name: Arc<str> = Arc::from(source);
    // prefix bounds → (prefix text, origin → number of peers that see it)
    let mut seen: HashMap<(u128, u128), (String, HashMap<u32, u32>)> = HashMap::new();
    let mut summary = MrtSummary::default();
    for elem in BgpkitParser::from_reader(reader).disable_warnings().into_elem_iter() {
        summary.elements += 1;
        summary.time = summary.time.or(Some(elem.timestamp as i64));
        let Some(origins) = elem.origin_asns.as_ref() else { continue };
        let net = elem.prefix.prefix;
        // A default route (some peers announce 0.0.0.0/0) says nothing about who
        // originates an address, and would mark all of the space as routed.
        if net.prefix_len() == 0 {
            summary.default_routes += 1;
            continue;
        }
        let Some(bounds) = crate::prefix_bounds(net.addr(), net.prefix_len()) else { continue };
        let entry = seen.entry(bounds).or_insert_with(|| (net.to_string(), HashMap::new()));
        for asn in origins {
            *entry.1.entry(u32::from(*asn)).or_default() += 1;
        }
    }
    if summary.elements == 0 {
        return Err(SourceError::Corrupt(
            "no RIB entry could be read (not an MRT TABLE_DUMP/TABLE_DUMP_V2 file, or no peer index table)".into(),
        ));
    }
    let mut routes: Routes = seen
        .into_iter()
        .map(|((first, last), (prefix, counts))| {
            let mut origins: Vec<(u32, u32)> = counts.into_iter().collect();
            origins.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let origins: Vec<u32> = origins.into_iter().map(|(asn, _)| asn).collect();
            (first, last, Route { source: name.clone(), prefix, origins })
        })
        .collect();
    routes.sort_by_key(|r| (r.0, r.1));
    summary.prefixes = routes.len();
    summary.multi_origin = routes.iter().filter(|r| r.2.origins.len() > 1).count();
    Ok((routes, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pyasn").join(name)).unwrap()
    }

    #[test]
    fn routeviews_rib_keeps_every_origin() {
        // The fixture is the first MiB of a bzip2 RIB, cut mid-record: what precedes the
        // cut is read. (bgpkit-parser 0.23 counted 269,914 elements, 9,069 prefixes and
        // 63 multi-origin on it; 0.11 reads 91 more elements and 3 more prefixes, one of them
        // the default route, which is left out.)
        let (routes, summary) = parse("rv", &fixture("rib.20140523.0600_firstMB.bz2")).unwrap();
        assert_eq!(
            summary,
            MrtSummary {
                elements: 270_005,
                time: Some(1_400_824_800),
                prefixes: 9_071,
                multi_origin: 63,
                default_routes: 1
            }
        );
        let moas = routes.iter().find(|r| r.2.prefix == "1.2.4.0/24").unwrap();
        assert_eq!(moas.2.origins, vec![24151, 24409], "most-seen origin first");
        let single = routes.iter().find(|r| r.2.prefix == "1.0.4.0/24").unwrap();
        assert_eq!(single.2.origins, vec![56203]);
    }

    #[test]
    fn dump_without_a_peer_table_is_an_error() {
        let e = parse("ris", &fixture("bview.20140112.1600_3samples.bz2")).unwrap_err();
        assert!(e.to_string().contains("no RIB entry could be read"), "{e}");
        assert!(parse("x", b"not mrt at all").is_err());
    }
}
