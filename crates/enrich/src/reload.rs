//! Loading sources from files, and swapping in a rebuilt table when one changes.
//!
//! A source that cannot be used (unreadable file, corrupt MMDB) is reported with its name
//! and path and left out; the others still load. Readers of a [`Reloading`] handle keep the
//! table they took (an `Arc`) while a new one is built off to the side; the swap itself is
//! one pointer store under a lock held for no longer than that.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use vedette_model::Rejected;

use crate::{Attributor, AttributorBuilder, Policy, SourceKind};

/// One configured source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSpec {
    pub kind: SourceKind,
    pub name: String,
    pub path: PathBuf,
}

impl SourceSpec {
    /// Reads `KIND:NAME=PATH` (or `KIND=PATH`, named after the file), as `--source` takes it.
    pub fn parse(text: &str) -> Result<SourceSpec, String> {
        let (head, path) = text
            .split_once('=')
            .filter(|(_, p)| !p.is_empty())
            .ok_or_else(|| format!("{text:?}: expected KIND:NAME=PATH"))?;
        let (kind, name) = match head.split_once(':') {
            Some((kind, name)) => (kind, Some(name)),
            None => (head, None),
        };
        let kind: SourceKind = kind.parse()?;
        let path = PathBuf::from(path);
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => n.to_string(),
            None => path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned()),
        };
        Ok(SourceSpec { kind, name, path })
    }
}

/// What happened to one source while loading.
#[derive(Debug, Clone)]
pub struct SourceReport {
    pub spec: SourceSpec,
    /// The malformed lines that were skipped, or why the whole source was left out.
    pub outcome: Result<Vec<Rejected>, String>,
}

impl SourceReport {
    /// One line for a person: `mmdb:city (data/city.mmdb): not a valid MMDB database: …`.
    pub fn describe(&self) -> Option<String> {
        let who = format!("{}:{} ({})", self.spec.kind, self.spec.name, self.spec.path.display());
        match &self.outcome {
            Err(e) => Some(format!("attribution source {who}: {e}; left out, the other sources are used")),
            Ok(rejected) if rejected.is_empty() => None,
            Ok(rejected) => Some(format!(
                "attribution source {who}: {} malformed line{} skipped (first: {})",
                rejected.len(),
                if rejected.len() == 1 { "" } else { "s" },
                rejected[0]
            )),
        }
    }
}

/// An attributor and how each of its sources loaded.
pub struct Loaded {
    pub attributor: Attributor,
    pub reports: Vec<SourceReport>,
}

/// Reads every source; one that fails is reported and left out.
pub fn load(policy: Policy, specs: &[SourceSpec]) -> Loaded {
    let mut builder = AttributorBuilder::new(policy);
    let mut reports = Vec::with_capacity(specs.len());
    for spec in specs {
        let outcome = match std::fs::read(&spec.path) {
            Err(e) => Err(format!("cannot read {}: {e}", spec.path.display())),
            Ok(bytes) => builder.add(spec.kind, &spec.name, &bytes).map_err(|e| e.to_string()),
        };
        reports.push(SourceReport { spec: spec.clone(), outcome });
    }
    Loaded { attributor: builder.build(), reports }
}

type Stamp = Option<(SystemTime, u64)>;

fn stamps(specs: &[SourceSpec]) -> Vec<Stamp> {
    specs.iter().map(|s| std::fs::metadata(&s.path).ok().and_then(|m| Some((m.modified().ok()?, m.len())))).collect()
}

/// A shared attributor that is rebuilt when a source file changes (its modification
/// time or size), for long-running processes.
pub struct Reloading {
    policy: Policy,
    specs: Vec<SourceSpec>,
    current: RwLock<Arc<Attributor>>,
    stamps: Mutex<Vec<Stamp>>,
}

impl Reloading {
    pub fn open(policy: Policy, specs: Vec<SourceSpec>) -> (Reloading, Vec<SourceReport>) {
        let seen = stamps(&specs);
        let loaded = load(policy, &specs);
        let handle =
            Reloading { policy, specs, current: RwLock::new(Arc::new(loaded.attributor)), stamps: Mutex::new(seen) };
        (handle, loaded.reports)
    }

    /// The table in use now; it stays valid for as long as the caller holds it.
    pub fn current(&self) -> Arc<Attributor> {
        self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Rebuilds and swaps the table if any source file changed since the last build;
    /// returns the new load reports when it did.
    pub fn reload_if_changed(&self) -> Option<Vec<SourceReport>> {
        // Held while building, so two callers never build the same table twice.
        let mut seen = self.stamps.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = stamps(&self.specs);
        if now == *seen {
            return None;
        }
        let loaded = load(self.policy, &self.specs);
        *self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(loaded.attributor);
        *seen = now;
        Some(loaded.reports)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_specs_from_the_command_line() {
        let s = SourceSpec::parse("mmdb:city=data/GeoIP2-City-Test.mmdb").unwrap();
        assert_eq!((s.kind, s.name.as_str()), (SourceKind::Mmdb, "city"));
        let s = SourceSpec::parse("pfx2as=/x/ipasn.dat").unwrap();
        assert_eq!(s.name, "ipasn.dat");
        assert!(SourceSpec::parse("mmdb:city").unwrap_err().contains("KIND:NAME=PATH"));
        assert!(SourceSpec::parse("whois:x=y").unwrap_err().contains("unknown attribution source kind"));
    }

    #[test]
    fn reloads_when_a_source_file_changes() {
        let dir = std::env::temp_dir().join(format!("vedette-enrich-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("overrides.csv");
        std::fs::write(&path, "36.0.16.0/20,KR,Bank,\n").unwrap();
        let spec = SourceSpec { kind: SourceKind::Override, name: "ours".into(), path: path.clone() };
        let (handle, reports) = Reloading::open(Policy::LocationFirst, vec![spec]);
        assert!(reports[0].outcome.as_ref().unwrap().is_empty());
        let ip = "36.0.16.1".parse().unwrap();
        let before = handle.current();
        assert_eq!(before.lookup(ip).country.unwrap().as_str(), "KR");
        assert!(handle.reload_if_changed().is_none(), "nothing changed");

        // A different size is a change even where the clock's granularity hides the mtime.
        std::fs::write(&path, "36.0.16.0/20,JP,Another Bank,moved\n").unwrap();
        assert!(handle.reload_if_changed().is_some());
        assert_eq!(handle.current().lookup(ip).country.unwrap().as_str(), "JP");
        // A reader that took the old table keeps a consistent view.
        assert_eq!(before.lookup(ip).country.unwrap().as_str(), "KR");

        // A source that turns unreadable is reported; the rebuilt table simply lacks it.
        std::fs::remove_file(&path).unwrap();
        let reports = handle.reload_if_changed().unwrap();
        assert!(reports[0].outcome.as_ref().unwrap_err().contains("cannot read"));
        assert_eq!(handle.current().lookup(ip).country, None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
