//! HyperLogLog: a distinct count in fixed memory that merges.
//!
//! Counting distinct infected hosts exactly needs every address of the period in memory at
//! once (5.6 million at national scale). A sketch needs 2^p bytes per count whatever the
//! number of hosts, and two sketches merge into the sketch of the union — so counts made
//! per day, per sensor or per store add up without double counting. With the default
//! precision (p = 14, 16 KiB) the standard error is 1.04/√16384 ≈ 0.8 %.
//!
//! ```
//! use vedette_store::HyperLogLog;
//!
//! let mut monday = HyperLogLog::new(14);
//! let mut tuesday = HyperLogLog::new(14);
//! for host in 0..60_000u128 { monday.insert(host); }
//! for host in 40_000..100_000u128 { tuesday.insert(host); }
//! monday.merge(&tuesday).unwrap();
//! let estimate = monday.estimate() as f64;
//! assert!((estimate - 100_000.0).abs() / 100_000.0 < 0.03);
//! ```

/// Precision used for the report's approximate counts.
pub const DEFAULT_PRECISION: u8 = 14;

/// A HyperLogLog sketch over 128-bit keys (IPv4 addresses are mapped into IPv6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HyperLogLog {
    precision: u8,
    registers: Vec<u8>,
}

impl HyperLogLog {
    /// A sketch with 2^`precision` registers; `precision` is clamped to 4..=16.
    pub fn new(precision: u8) -> HyperLogLog {
        let precision = precision.clamp(4, 16);
        HyperLogLog { precision, registers: vec![0; 1 << precision] }
    }

    pub fn precision(&self) -> u8 {
        self.precision
    }

    pub fn insert(&mut self, key: u128) {
        let hash = mix(key);
        let p = u32::from(self.precision);
        let index = (hash >> (64 - p)) as usize;
        // The rank of the first 1 bit after the index bits; the sentinel bit bounds it.
        let rest = (hash << p) | (1 << (p - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        if self.registers[index] < rank {
            self.registers[index] = rank;
        }
    }

    /// Folds `other` in: the result counts the union. Sketches of different precisions
    /// do not merge.
    pub fn merge(&mut self, other: &HyperLogLog) -> Result<(), String> {
        if other.precision != self.precision {
            return Err(format!(
                "cannot merge a precision-{} sketch into a precision-{} one",
                other.precision, self.precision
            ));
        }
        for (mine, theirs) in self.registers.iter_mut().zip(&other.registers) {
            *mine = (*mine).max(*theirs);
        }
        Ok(())
    }

    /// The estimated number of distinct keys inserted.
    pub fn estimate(&self) -> u64 {
        let m = self.registers.len() as f64;
        let alpha = match self.registers.len() {
            16 => 0.673,
            32 => 0.697,
            64 => 0.709,
            _ => 0.7213 / (1.0 + 1.079 / m),
        };
        let sum: f64 = self.registers.iter().map(|&r| 2f64.powi(-i32::from(r))).sum();
        let raw = alpha * m * m / sum;
        let zeros = self.registers.iter().filter(|&&r| r == 0).count();
        // Small counts: linear counting is far more accurate while registers are empty.
        let estimate = if raw <= 2.5 * m && zeros > 0 { m * (m / zeros as f64).ln() } else { raw };
        estimate.round() as u64
    }

    /// The registers, for keeping a sketch or sending it to be merged elsewhere: one byte
    /// of precision, then 2^precision registers.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.registers.len());
        out.push(self.precision);
        out.extend_from_slice(&self.registers);
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<HyperLogLog, String> {
        let (&precision, registers) = bytes.split_first().ok_or("an empty sketch")?;
        if !(4..=16).contains(&precision) || registers.len() != 1 << precision {
            return Err(format!("not a sketch: precision {precision} with {} registers", registers.len()));
        }
        if registers.iter().any(|&r| r > 65 - precision) {
            return Err("not a sketch: a register above its largest possible rank".into());
        }
        Ok(HyperLogLog { precision, registers: registers.to_vec() })
    }
}

/// A 64-bit hash of a 128-bit key: the halves folded through a strong mixer (the
/// finaliser of MurmurHash3 / SplitMix64), so that every bit of the address moves every
/// bit of the hash.
fn mix(key: u128) -> u64 {
    let folded = (key as u64) ^ ((key >> 64) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut z = folded.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IPv4 addresses as the store keys them (mapped into IPv6), as real hosts are.
    fn v4(i: u32) -> u128 {
        0xffff_0000_0000u128 | u128::from(0x2400_0000u32.wrapping_add(i.wrapping_mul(7)))
    }

    #[test]
    fn estimates_stay_within_three_standard_errors() {
        for n in [0u32, 1, 10, 1_000, 20_000, 300_000, 2_000_000] {
            let mut h = HyperLogLog::new(DEFAULT_PRECISION);
            for i in 0..n {
                h.insert(v4(i));
            }
            let error = (h.estimate() as f64 - f64::from(n)).abs() / f64::from(n.max(1));
            assert!(error < 0.025, "n = {n}: estimate {} ({:.2} %)", h.estimate(), error * 100.0);
        }
    }

    #[test]
    fn inserting_again_changes_nothing_and_merge_is_the_union() {
        let (mut a, mut b, mut both) = (HyperLogLog::new(12), HyperLogLog::new(12), HyperLogLog::new(12));
        for i in 0..50_000 {
            a.insert(v4(i));
            both.insert(v4(i));
        }
        let once = a.clone();
        for i in 0..50_000 {
            a.insert(v4(i));
        }
        assert_eq!(a, once);
        for i in 30_000..90_000 {
            b.insert(v4(i));
            both.insert(v4(i));
        }
        a.merge(&b).unwrap();
        assert_eq!(a, both, "merging gives exactly the sketch of the union");
        assert!(a.merge(&HyperLogLog::new(14)).is_err());
    }

    #[test]
    fn bytes_round_trip_and_garbage_is_refused() {
        let mut h = HyperLogLog::new(10);
        (0..5_000).for_each(|i| h.insert(v4(i)));
        assert_eq!(HyperLogLog::from_bytes(&h.to_bytes()).unwrap(), h);
        assert!(HyperLogLog::from_bytes(&[]).is_err());
        assert!(HyperLogLog::from_bytes(&[10, 0, 0]).is_err());
        let mut bad = h.to_bytes();
        bad[1] = 200;
        assert!(HyperLogLog::from_bytes(&bad).is_err());
    }
}
