//! DGA scoring: how unlike a real domain name a name's registered label reads.
//!
//! A character trigram model is trained on real registered domains (a public popularity
//! list shipped in `crates/detect/data/dns/`); a label's score is its average surprise,
//! in bits per character, under that model. Random-looking labels that malware generates
//! (`04vjluur5pq4wy6p`) surprise the model far more than `wikipedia` or `taobao` do.
//! Wordlist DGAs, which glue dictionary words, are out of its reach by design; the score
//! is one signal, with NXDOMAIN bursts and query volume to come beside it.
//!
//! ```
//! use vedette_detect::DgaModel;
//!
//! let model = DgaModel::builtin();
//! assert!(model.score("04vjluur5pq4wy6p.info").unwrap().bits_per_char > model.score("wikipedia.org").unwrap().bits_per_char);
//! assert!(model.score("04vjluur5pq4wy6p.info").unwrap().dga);
//! ```

use std::sync::OnceLock;

use crate::PublicSuffixList;

const BENIGN: &str = include_str!("../data/dns/benign-train.txt");
/// Letters, digits, hyphen, and the label's start and end.
const ALPHABET: usize = 39;
const START: usize = 37;
const END: usize = 38;

fn symbol(c: u8) -> Option<usize> {
    match c {
        b'a'..=b'z' => Some((c - b'a') as usize),
        b'0'..=b'9' => Some(26 + (c - b'0') as usize),
        b'-' => Some(36),
        _ => None,
    }
}

/// The score of one name.
#[derive(Debug, Clone, PartialEq)]
pub struct DgaScore {
    /// The label that was scored (left of the public suffix).
    pub label: String,
    pub registered_domain: String,
    /// Average surprise under the model of real names, bits per character.
    pub bits_per_char: f64,
    /// Whether the score is above the model's threshold.
    pub dga: bool,
}

/// A trigram model of real registered labels.
pub struct DgaModel {
    /// -log2 P(c3 | c1 c2), indexed by `(c1 * ALPHABET + c2) * ALPHABET + c3`.
    surprise: Vec<f32>,
    /// Bits per character above which a label is called generated.
    pub threshold: f64,
}

/// Every 5th benign name is held out of training, to measure the model honestly.
pub fn is_held_out(index: usize) -> bool {
    index % 5 == 4
}

impl DgaModel {
    /// The model trained on the shipped benign list (the held-out fifth excluded), with
    /// the threshold at the 99.5th percentile of the training names' scores (0.5 % of real
    /// names called generated).
    pub fn builtin() -> &'static DgaModel {
        static MODEL: OnceLock<DgaModel> = OnceLock::new();
        MODEL.get_or_init(|| {
            let psl = PublicSuffixList::builtin();
            let labels: Vec<String> = BENIGN
                .lines()
                .enumerate()
                .filter(|(i, _)| !is_held_out(*i))
                .filter_map(|(_, name)| label_of(psl, name).map(|(l, _)| l))
                .collect();
            DgaModel::train(labels.iter().map(String::as_str), 0.995)
        })
    }

    /// Trains on labels (lowercase ASCII; others are skipped) with add-0.1 smoothing.
    pub fn train<'a>(labels: impl Iterator<Item = &'a str> + Clone, percentile: f64) -> DgaModel {
        let mut trigrams = vec![0u32; ALPHABET * ALPHABET * ALPHABET];
        let mut contexts = vec![0u32; ALPHABET * ALPHABET];
        for label in labels.clone() {
            let Some(symbols) = symbols(label) else { continue };
            for w in symbols.windows(3) {
                trigrams[(w[0] * ALPHABET + w[1]) * ALPHABET + w[2]] += 1;
                contexts[w[0] * ALPHABET + w[1]] += 1;
            }
        }
        const K: f64 = 0.1;
        let surprise = trigrams
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let context = contexts[i / ALPHABET];
                -((f64::from(n) + K) / (f64::from(context) + K * ALPHABET as f64)).log2() as f32
            })
            .collect();
        let mut model = DgaModel { surprise, threshold: f64::INFINITY };
        let mut scores: Vec<f64> = labels.filter_map(|l| model.bits(l)).collect();
        scores.sort_by(|a, b| a.total_cmp(b));
        if !scores.is_empty() {
            model.threshold = scores[((scores.len() - 1) as f64 * percentile) as usize];
        }
        model
    }

    /// Average surprise of a label, bits per character; `None` for characters outside
    /// letters, digits and hyphen (IDNs are judged in their `xn--` form).
    pub fn bits(&self, label: &str) -> Option<f64> {
        let symbols = symbols(label)?;
        let total: f64 =
            symbols.windows(3).map(|w| f64::from(self.surprise[(w[0] * ALPHABET + w[1]) * ALPHABET + w[2]])).sum();
        Some(total / (symbols.len() - 2) as f64)
    }

    /// Scores a host name by its registered label.
    pub fn score(&self, name: &str) -> Option<DgaScore> {
        let (label, registered_domain) = label_of(PublicSuffixList::builtin(), name)?;
        let bits = self.bits(&label)?;
        Some(DgaScore { dga: bits > self.threshold, label, registered_domain, bits_per_char: bits })
    }
}

fn symbols(label: &str) -> Option<Vec<usize>> {
    let mut out = vec![START, START];
    for b in label.bytes() {
        out.push(symbol(b.to_ascii_lowercase())?);
    }
    out.push(END);
    (out.len() > 3).then_some(out)
}

/// The registered label of a name and its registered domain.
fn label_of(psl: &PublicSuffixList, name: &str) -> Option<(String, String)> {
    let registered = psl.registered_domain(name)?;
    let label = registered.split('.').next()?.to_string();
    Some((label, registered))
}

/// The area under the ROC curve of scores for negatives and positives: the chance that
/// a random positive scores above a random negative (ties count half).
pub fn auc(negatives: &[f64], positives: &[f64]) -> f64 {
    let mut all: Vec<(f64, bool)> =
        negatives.iter().map(|&s| (s, false)).chain(positives.iter().map(|&s| (s, true))).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        let average_rank = (i + j + 1) as f64 / 2.0; // ranks are 1-based
        rank_sum += average_rank * all[i..j].iter().filter(|x| x.1).count() as f64;
        i = j;
    }
    let (p, n) = (positives.len() as f64, negatives.len() as f64);
    (rank_sum - p * (p + 1.0) / 2.0) / (p * n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The model's AUC on names it never saw: the held-out fifth of the benign list against
    /// the 360netlab `chinad` DGA domains. Recorded in BENCHMARKS.md.
    #[test]
    fn separates_held_out_real_names_from_generated_ones() {
        let model = DgaModel::builtin();
        let psl = PublicSuffixList::builtin();
        let negatives: Vec<f64> = BENIGN
            .lines()
            .enumerate()
            .filter(|(i, _)| is_held_out(*i))
            .filter_map(|(_, n)| label_of(psl, n).and_then(|(l, _)| model.bits(&l)))
            .collect();
        let positives: Vec<f64> = include_str!("../data/dns/dga-train.csv")
            .lines()
            .skip(1)
            .filter_map(|l| l.split(',').next())
            .filter_map(|n| model.score(n).map(|s| s.bits_per_char))
            .collect();
        assert!(negatives.len() > 20_000 && positives.len() == 256);
        let area = auc(&negatives, &positives);
        let flagged_real = negatives.iter().filter(|&&s| s > model.threshold).count() as f64 / negatives.len() as f64;
        let caught = positives.iter().filter(|&&s| s > model.threshold).count() as f64 / positives.len() as f64;
        eprintln!(
            "AUC {area:.4}; at the threshold {:.2} bits/char: {:.1}% of real names flagged, {:.1}% of DGA names caught",
            model.threshold,
            flagged_real * 100.0,
            caught * 100.0
        );
        assert!(area >= 0.97, "AUC {area}");
        assert!(flagged_real < 0.03 && caught > 0.9, "{flagged_real} {caught}");
    }

    #[test]
    fn auc_of_known_orders() {
        assert_eq!(auc(&[1.0, 2.0], &[3.0, 4.0]), 1.0);
        assert_eq!(auc(&[3.0, 4.0], &[1.0, 2.0]), 0.0);
        assert_eq!(auc(&[1.0], &[1.0]), 0.5);
    }

    #[test]
    fn labels_under_private_suffixes_and_odd_names() {
        let model = DgaModel::builtin();
        let s = model.score("khmfxcglt.dyndns.org").unwrap();
        assert_eq!(s.label, "khmfxcglt");
        assert!(model.score("com").is_none());
        assert!(model.score("b\u{fc}cher.de").is_none()); // judged in its xn-- form only
    }
}
