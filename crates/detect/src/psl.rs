//! The Public Suffix List: which part of a name its owner registered. `a.b.example.co.uk`
//! was registered as `example.co.uk`; a DGA's random label is the one left of the suffix.
//! The list's ICANN and PRIVATE sections are both used, so a DGA under a dynamic-DNS
//! suffix (`khmfxcglt.dyndns.org`) is judged on `khmfxcglt`, not `dyndns`.

use std::collections::HashSet;
use std::sync::OnceLock;

const LIST: &str = include_str!("../data/dns/public_suffix_list.dat");

/// Rules of the list: `com`, `*.ck` (any label under `ck`), `!www.ck` (an exception).
#[derive(Debug, Default)]
pub struct PublicSuffixList {
    normal: HashSet<String>,
    /// Parents of wildcard rules: `ck` for `*.ck`.
    wildcard: HashSet<String>,
    exception: HashSet<String>,
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

    /// How many labels at the right of `labels` form the public suffix.
    fn suffix_len(&self, labels: &[&str]) -> usize {
        let n = labels.len();
        // An exception rule prevails: its suffix is the rule less its leftmost label.
        for i in 0..n {
            if self.exception.contains(&labels[i..].join(".")) {
                return n - i - 1;
            }
        }
        for i in 0..n {
            let candidate = labels[i..].join(".");
            if self.normal.contains(&candidate) || (i + 1 < n && self.wildcard.contains(&labels[i + 1..].join("."))) {
                return n - i;
            }
        }
        1 // the default rule `*`
    }

    /// The registered domain (eTLD+1) of a host name, lowercased; `None` when the name is
    /// itself a public suffix or not a name at all (empty labels, a leading dot).
    pub fn registered_domain(&self, name: &str) -> Option<String> {
        let name = name.trim_end_matches('.').to_lowercase();
        if name.is_empty() || name.starts_with('.') {
            return None;
        }
        let labels: Vec<&str> = name.split('.').collect();
        if labels.iter().any(|l| l.is_empty()) {
            return None;
        }
        let suffix = self.suffix_len(&labels);
        (suffix < labels.len()).then(|| labels[labels.len() - suffix - 1..].join("."))
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
