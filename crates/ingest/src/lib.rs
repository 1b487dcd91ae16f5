//! Formats: bytes from a feed file or a telemetry log become [`Event`]s and [`Flow`]s.
//!
//! Every format is pure — no I/O, no clock — and shares one shape: `probe(head)` says
//! whether a file looks like it, and a [`Decoder`] turns whole lines into a [`Batch`].
//! A record that cannot be read becomes a [`Rejected`] with its line and reason; it never
//! stops the run.
//!
//! Most feeds are not code but a table: the [`Catalogue`] is built from `feeds/*.toml`,
//! and a `format = "generic"` entry lists its file layouts ([`LayoutConfig`]) — CSV, one
//! value per line, JSON, JSON lines — mapping columns to IntelMQ fields; the tables are
//! checked when the catalogue loads, every problem reported. [`seal_within`] gives the
//! identity of a feed with a dedupe window; [`open_source`] reads plain or gzip files.
//!
//! ```
//! use vedette_ingest::{Batch, Catalogue, Decoder};
//!
//! let catalogue = Catalogue::builtin();
//! let feed = catalogue.get("abusech-feodo").unwrap();
//! let mut decoder = Decoder::new(feed, "ipblocklist.csv");
//! let mut batch = Batch::default();
//! decoder.push(b"\"2013-01-05 10:00:00\",\"198.51.100.4\",\"447\",\"online\",\"2013-05-01\",\"Dridex\"\n", &mut batch);
//! decoder.push(b"\"2013-01-05\",\"not-an-ip\",\"447\",\"online\",\"2013-05-01\",\"Dridex\"\n", &mut batch);
//! decoder.finish(&mut batch);
//! assert_eq!(batch.events.len(), 1);
//! assert_eq!(batch.rejected[0].line, 2);
//! ```

pub mod capture;
mod catalogue;
pub mod fetch;
mod fields;
mod formats;
mod identity;
mod lines;
pub mod netflow;
pub mod pcap;
mod source;
mod time;

pub use catalogue::{Catalogue, CatalogueError, FeedEntry, FeedKind};
pub use formats::generic::{HeaderMode, LayoutConfig, Syntax, TargetConfig, Unmapped};
pub use formats::{decode_all, Decoder, Format};
pub use identity::{seal_within, Sealing};
pub use lines::LineSplitter;
pub use source::open_source;
pub use time::parse_utc;

use vedette_model::{Event, Flow, Observation, Rejected};

/// What decoding some input produced: events (feed records), flows (telemetry) and the
/// records that were refused.
#[derive(Debug, Default)]
pub struct Batch {
    pub events: Vec<Event>,
    pub flows: Vec<Flow>,
    /// DNS lookups, HTTP requests, TLS hellos, sinkhole hits, passive DNS.
    pub observations: Vec<Observation>,
    pub rejected: Vec<Rejected>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.events.len() + self.flows.len() + self.observations.len() + self.rejected.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
