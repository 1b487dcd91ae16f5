//! Sets of domain names that match a name and everything under it.

use crate::PublicSuffixList;
use vedette_model::fast_hash::FastMap;

/// Names mapped to values; a name matches a listed domain when it equals it or is a
/// subdomain of it. A listed name that is itself a public suffix (`duckdns.org`,
/// `blogspot.com`, `in-addr.arpa` is not one but `arpa` is) matches only itself: its
/// subdomains belong to as many owners as the suffix has customers.
#[derive(Debug, Clone)]
pub struct DomainSet<V> {
    names: FastMap<Box<str>, (V, bool)>,
}

impl<V> Default for DomainSet<V> {
    fn default() -> Self {
        DomainSet { names: FastMap::default() }
    }
}

impl<V> DomainSet<V> {
    /// Adds a normalised name as a feed lists it: a public suffix matches only itself.
    /// Returns the value already there, if any, and leaves it.
    pub fn insert_listed(&mut self, name: &str, value: impl FnOnce() -> V) -> &mut V {
        let exact_only = PublicSuffixList::builtin().parts(name).is_none();
        &mut self.names.entry(name.into()).or_insert_with(|| (value(), exact_only)).0
    }

    /// Adds a normalised name that matches everything under it, public suffix or not
    /// (`in-addr.arpa` in a list of services to leave alone).
    pub fn insert_tree(&mut self, name: &str, value: impl FnOnce() -> V) -> &mut V {
        &mut self.names.entry(name.into()).or_insert_with(|| (value(), false)).0
    }

    /// The listed domain a normalised name falls under (the longest one), with its value.
    pub fn find<'a>(&'a self, name: &str) -> Option<(&'a str, &'a V)> {
        if self.names.is_empty() || name.is_empty() {
            return None;
        }
        let mut at = 0;
        loop {
            if let Some((listed, (value, exact_only))) = self.names.get_key_value(&name[at..]) {
                if at == 0 || !exact_only {
                    return Some((listed, value));
                }
            }
            at += name[at..].find('.')? + 1;
        }
    }

    pub fn get(&self, name: &str) -> Option<&V> {
        self.names.get(name).map(|(v, _)| v)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.names.iter().map(|(k, (v, _))| (&**k, v))
    }
}

impl DomainSet<()> {
    /// A set of the given names (normalised here), each matching everything under it.
    pub fn trees<'a>(names: impl IntoIterator<Item = &'a str>) -> DomainSet<()> {
        let mut set = DomainSet::default();
        for name in names {
            let name = vedette_model::normalise_name(name);
            if !name.is_empty() {
                set.insert_tree(&name, || ());
            }
        }
        set
    }

    pub fn matches(&self, name: &str) -> bool {
        self.find(name).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_matches_itself_and_below_but_a_public_suffix_only_itself() {
        let mut set = DomainSet::default();
        for name in ["evil.example.net", "duckdns.org", "bad.duckdns.org", "example.org"] {
            set.insert_listed(name, || ());
        }
        assert!(set.matches("evil.example.net"));
        assert!(set.matches("a.b.evil.example.net"));
        assert!(!set.matches("xevil.example.net"));
        assert!(!set.matches("example.net"));
        assert!(set.matches("duckdns.org"));
        assert!(!set.matches("good.duckdns.org"));
        assert_eq!(set.find("x.bad.duckdns.org").map(|f| f.0), Some("bad.duckdns.org"));
        assert!(set.matches("www.example.org"));
        assert!(!DomainSet::<()>::default().matches("example.org"));
        let trees = DomainSet::trees(["In-Addr.ARPA.", "duckdns.org"]);
        assert!(trees.matches("4.3.2.1.in-addr.arpa") && trees.matches("good.duckdns.org"));
    }
}
