//! The stages' shared fast hasher ([`vedette_model::fast_hash`]), under the name the
//! detectors use.

pub use vedette_model::fast_hash::{fingerprint, seed, FastMap, FastSet};
