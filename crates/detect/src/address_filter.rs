//! A filter in front of the indicator map: most flows touch no C2, and this says so
//! without hashing the address into the map.

use std::net::IpAddr;

/// A one-hash Bloom filter of addresses: 2^20 bits (128 KiB, held in the L2 cache). With
/// the ~10^4 addresses feeds list, about 1 % of other addresses pass it and go on to the
/// map; none that is in the map is ever refused.
pub(crate) struct AddressFilter {
    /// An array of a fixed size, so the compiler sees that every slot is inside it: no
    /// bounds check on the hot path.
    bits: Box<[u64; 1 << (BITS - 6)]>,
    seed: u64,
}

const BITS: u32 = 20;

impl AddressFilter {
    pub(crate) fn new() -> AddressFilter {
        AddressFilter { bits: Box::new([0; 1 << (BITS - 6)]), seed: vedette_model::fast_hash::seed() }
    }

    #[inline]
    fn slot(&self, ip: IpAddr) -> usize {
        let key = match ip {
            // The octets as they lie in memory: the multiply mixes them all the same, and
            // no byte swap is needed (two addresses a flow, every flow).
            IpAddr::V4(a) => u64::from(u32::from_ne_bytes(a.octets())),
            IpAddr::V6(a) => {
                let x = u128::from(a);
                (x as u64) ^ ((x >> 64) as u64).rotate_left(29) ^ 0x6a09_e667_f3bc_c909
            }
        };
        ((key ^ self.seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - BITS)) as usize
    }

    pub(crate) fn insert(&mut self, ip: IpAddr) {
        let slot = self.slot(ip);
        self.bits[slot / 64] |= 1 << (slot % 64);
    }

    #[inline]
    pub(crate) fn may_contain(&self, ip: IpAddr) -> bool {
        let slot = self.slot(ip);
        self.bits[slot / 64] & (1 << (slot % 64)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_filter_never_refuses_a_member_and_passes_few_others() {
        let mut filter = AddressFilter::new();
        let members: Vec<IpAddr> = (0..13_408u32)
            .map(|i| IpAddr::V4(std::net::Ipv4Addr::from(0x2d00_0000 + i * 977)))
            .chain((0..100u16).map(|i| IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, i, 0, 0, 0, 0, 1))))
            .collect();
        members.iter().for_each(|ip| filter.insert(*ip));
        assert!(members.iter().all(|ip| filter.may_contain(*ip)));
        let passed = (0..100_000u32)
            .filter(|i| filter.may_contain(IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i))))
            .count();
        assert!(passed < 3_000, "{passed} of 100,000 others passed");
    }
}
