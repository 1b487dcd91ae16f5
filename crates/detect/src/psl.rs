//! The Public Suffix List: which part of a name its owner registered. `a.b.example.co.uk`
//! was registered as `example.co.uk`; a DGA's random label is the one left of the suffix.
//! The list's ICANN and PRIVATE sections are both used, so a DGA under a dynamic-DNS
//! suffix (`khmfxcglt.dyndns.org`) is judged on `khmfxcglt`, not `dyndns`.

use std::sync::OnceLock;

use vedette_model::fast_hash::FastSet;

const LIST: &str = include_str!("../data/dns/public_suffix_list.dat");

/// Rules of the list: `com`, `*.ck` (any label under `ck`), `!www.ck` (an exception).
#[derive(Debug, Default)]
pub struct PublicSuffixList {
    normal: FastSet<String>,
    /// Parents of wildcard rules: `ck` for `*.ck`.
    wildcard: FastSet<String>,
    exception: FastSet<String>,
}

impl PublicSuffixList {
    /// The list shipped with Vedette (its version is in `crates/detect/data/dns/`).
    pub fn builtin() -> &'static PublicSuffixList {
        static LIST_ONCE: OnceLock<PublicSuffixList> = OnceLock::new();
        LIST_ONCE.get_or_init(|| PublicSuffixList::parse(LIST))
    }

    /// Reads the list's text; non-ASCII rules are also kept in their punycode form, so
    /// `食狮.中国` and `xn--85x722f.xn--fiqs8s` are judged alike.
    pub fn parse(text: &str) -> PublicSuffixList {
        let mut list = PublicSuffixList::default();
        for line in text.lines() {
            let rule = line.split_whitespace().next().unwrap_or("");
            if rule.is_empty() || rule.starts_with("//") {
                continue;
            }
            let mut forms = vec![rule.to_lowercase()];
            if !rule.is_ascii() {
                let (prefix, body) = match rule.strip_prefix("*.") {
                    Some(b) => ("*.", b),
                    None => match rule.strip_prefix('!') {
                        Some(b) => ("!", b),
                        None => ("", rule),
                    },
                };
                if let Ok(ascii) = idna::domain_to_ascii(body) {
                    forms.push(format!("{prefix}{ascii}"));
                }
            }
            for form in forms {
                if let Some(parent) = form.strip_prefix("*.") {
                    list.wildcard.insert(parent.to_string());
                } else if let Some(name) = form.strip_prefix('!') {
                    list.exception.insert(name.to_string());
                } else {
                    list.normal.insert(form);
                }
            }
        }
        list
    }

    /// Splits a normalised name (lower-case, no trailing dot, as [`vedette_model::normalise_name`]
    /// gives) into its registered domain and public suffix, without allocating; `None`
    /// when the name is itself a public suffix or not a name (an empty label).
    pub fn parts<'a>(&self, name: &'a str) -> Option<Parts<'a>> {
        if name.is_empty() || name.starts_with('.') || name.ends_with('.') || name.contains("..") {
            return None;
        }
        // The suffixes of the name, longest first: `a.b.c`, `b.c`, `c`. An exception rule
        // prevails; otherwise the longest matching rule, or the default rule `*`.
        let mut exception = None;
        let mut rule = None;
        let mut at = 0;
        loop {
            let suffix = &name[at..];
            let parent = suffix.find('.').map(|dot| at + dot + 1);
            if exception.is_none() && self.exception.contains(suffix) {
                // The rule's suffix is the rule less its leftmost label.
                exception = parent;
                break;
            }
            if rule.is_none()
                && (self.normal.contains(suffix) || parent.is_some_and(|p| self.wildcard.contains(&name[p..])))
            {
                rule = Some(at);
            }
            match parent {
                Some(p) => at = p,
                None => break,
            }
        }
        let (suffix_at, listed) = match (exception, rule) {
            (Some(at), _) => (at, true),
            (None, Some(at)) => (at, true),
            // The default rule `*`: the last label.
            (None, None) => (name.rfind('.').map_or(0, |dot| dot + 1), false),
        };
        if suffix_at == 0 {
            return None;
        }
        let registered_at = name[..suffix_at - 1].rfind('.').map_or(0, |dot| dot + 1);
        Some(Parts { registered: &name[registered_at..], suffix: &name[suffix_at..], listed })
    }

    /// The registered domain (eTLD+1) of a host name, lowercased; `None` when the name is
    /// itself a public suffix or not a name at all (empty labels, a leading dot).
    pub fn registered_domain(&self, name: &str) -> Option<String> {
        let name = name.trim_end_matches('.').to_lowercase();
        self.parts(&name).map(|p| p.registered.to_string())
    }
}

/// A name cut at its registered domain: `a.b.example.co.uk` → `example.co.uk`, `co.uk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts<'a> {
    /// The registered domain (the public suffix and one label more).
    pub registered: &'a str,
    pub suffix: &'a str,
    /// Whether a rule of the list names the suffix; `false` when only the default rule
    /// `*` applies (`corp`, `home`, `local`: names that exist inside networks only).
    pub listed: bool,
}

impl Parts<'_> {
    /// The registered label: `example` in `example.co.uk`.
    pub fn label(&self) -> &str {
        let end = self.registered.len() - self.suffix.len() - 1;
        &self.registered[..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PSL project's own test vectors (CC0), all of them.
    #[test]
    fn passes_the_public_suffix_list_test_vectors() {
        let list = PublicSuffixList::builtin();
        let vectors = include_str!("../data/dns/test_psl.txt");
        let mut checked = 0;
        for line in vectors.lines().map(str::trim).filter(|l| l.starts_with("checkPublicSuffix(")) {
            let args = line.trim_start_matches("checkPublicSuffix(").trim_end_matches(");");
            let (input, expected) = args.split_once(", ").unwrap();
            let unquote = |s: &str| (s != "null").then(|| s.trim_matches('\'').to_string());
            let Some(input) = unquote(input) else { continue };
            assert_eq!(list.registered_domain(&input), unquote(expected), "{input}");
            checked += 1;
        }
        assert!(checked >= 70, "{checked}");
    }
}
