//! A fast hasher for the maps on the hot paths (addresses, short names, the NetFlow
//! decoder's template and stream tables), shared by the stages.
//!
//! The standard library's SipHash costs about as much per flow as the rest of the match
//! (and, per datagram, as reading a third of its records);
//! this one folds each word into the state with one 64×64→128-bit multiply (the
//! "folded multiply" of aHash and foldhash). Keys come from the network, so an attacker
//! could try to make them collide: the seed is drawn once per process from the standard
//! library's random keys, which keeps collisions unpredictable without a dependency.
//!
//! ```
//! use vedette_model::fast_hash::FastMap;
//!
//! let mut flows: FastMap<std::net::IpAddr, u64> = FastMap::default();
//! *flows.entry("192.0.2.1".parse().unwrap()).or_default() += 1;
//! assert_eq!(flows.len(), 1);
//! ```

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::OnceLock;

const MULTIPLE: u64 = 0x5851_f42d_4c95_7f2d;
const FINAL: u64 = 0x9e37_79b9_7f4a_7c15;

// Inlined into the other crates' lookups: a call per hashed word costs as much as the word.
#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

/// The process's seed, for other structures keyed by network data.
pub fn seed() -> u64 {
    process_seed()
}

fn process_seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| RandomState::new().hash_one(0x0076_6564_6574_7465_u64) | 1)
}

/// Builds [`FastHasher`]s with the process's seed.
#[derive(Debug, Clone, Copy)]
pub struct FastState {
    seed: u64,
}

impl Default for FastState {
    fn default() -> Self {
        FastState { seed: process_seed() }
    }
}

impl BuildHasher for FastState {
    type Hasher = FastHasher;

    #[inline]
    fn build_hasher(&self) -> FastHasher {
        FastHasher { state: self.seed }
    }
}

/// See the module documentation.
#[derive(Debug, Clone, Copy)]
pub struct FastHasher {
    state: u64,
}

impl FastHasher {
    #[inline(always)]
    fn add(&mut self, word: u64) {
        self.state = folded_multiply(self.state ^ word, MULTIPLE);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            // The length keeps "ab" and "ab\0" apart.
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_u128(&mut self, n: u128) {
        self.add(n as u64);
        self.add((n >> 64) as u64);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        folded_multiply(self.state, FINAL)
    }
}

pub type FastMap<K, V> = HashMap<K, V, FastState>;
pub type FastSet<K> = HashSet<K, FastState>;

/// 64 bits that stand for a name in the sets that count distinct names: one word per
/// name, whatever its length (two names in 2^64 share one by chance).
pub fn fingerprint(text: &str) -> u64 {
    let mut h = FastHasher { state: 0x243f_6a88_85a3_08d3 };
    h.write(text.as_bytes());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hash;

    fn hash_of<T: Hash>(value: T) -> u64 {
        FastState { seed: 1 }.hash_one(value)
    }

    #[test]
    fn spreads_nearby_keys_over_the_top_and_bottom_bits() {
        // The table uses the top 7 bits to filter and the bottom bits to place: both must
        // change when one address does.
        let mut tops = FastSet::default();
        let mut bottoms = FastSet::default();
        for i in 0u32..4096 {
            let h = hash_of(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            tops.insert(h >> 57);
            bottoms.insert(h & 0xfff);
        }
        assert_eq!(tops.len(), 128);
        assert!(bottoms.len() > 2500, "{}", bottoms.len());
        assert_ne!(hash_of("ab"), hash_of("ab\0"));
        assert_ne!(fingerprint("abcdefgh1"), fingerprint("abcdefgh2"));
    }
}
