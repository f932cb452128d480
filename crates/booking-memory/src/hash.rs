//! A fast, per-process-seeded hasher for the id maps (show, owner). Ids
//! are 128-bit UUIDs; SipHash over them was a fifth of a hold's cost. The
//! seed comes from the OS, so colliding ids cannot be chosen in advance.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

fn seed() -> (u64, u64) {
    static SEED: OnceLock<(u64, u64)> = OnceLock::new();
    *SEED.get_or_init(|| {
        let s = RandomState::new();
        (s.hash_one(1u64), s.hash_one(2u64) | 1)
    })
}

/// Builds [`IdHasher`]s.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IdHash((u64, u64));

impl Default for IdHash {
    fn default() -> Self {
        IdHash(seed())
    }
}

impl BuildHasher for IdHash {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher { state: self.0.0, key: self.0.1 }
    }
}

/// Folded-multiply hashing of the bytes written.
pub(crate) struct IdHasher {
    state: u64,
    key: u64,
}

impl IdHasher {
    fn mix(&mut self, word: u64) {
        let m = ((self.state ^ word) as u128).wrapping_mul(self.key as u128);
        self.state = (m as u64) ^ ((m >> 64) as u64);
    }
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }

    /// A whole id as its two halves, without the length prefix and byte
    /// loop a `[u8; 16]` key goes through (maps keyed by `u128` ids hash
    /// through here).
    fn write_u128(&mut self, n: u128) {
        self.mix(n as u64);
        self.mix((n >> 64) as u64);
    }

    /// One more keyed multiply, so that ids differing in a few bits of
    /// one half (sequential ids, a counter in the high bits) still spread
    /// over hashbrown's buckets (low bits) and tags (top bits).
    fn finish(&self) -> u64 {
        let m = (self.state as u128).wrapping_mul((self.key ^ 0x9e37_79b9_7f4a_7c15) as u128);
        ((m as u64) ^ ((m >> 64) as u64)).rotate_left(26)
    }
}

/// The slot of a 128-bit id among `n` stripes or shards: both halves folded
/// together, so ids that differ only in their high or low half (UUID v7's
/// timestamp, its random tail) still spread.
pub(crate) fn slot(id: u128, n: usize) -> usize {
    ((id ^ (id >> 64)) as usize) % n
}

#[cfg(test)]
mod tests {
    use super::*;
    use booking_core::OwnerId;

    #[test]
    fn distinct_ids_spread_over_buckets() {
        let h = IdHash::default();
        let mut low_bits = std::collections::HashSet::new();
        for _ in 0..1_000 {
            low_bits.insert(h.hash_one(OwnerId::new()) & 0xff);
        }
        assert!(low_bits.len() > 200, "only {} of 256 buckets used", low_bits.len());
    }

    #[test]
    fn u128_ids_spread_over_buckets_and_tags() {
        let h = IdHash::default();
        // Random v7-like ids, and sequential ones that differ only in their
        // lowest or highest bits.
        let ids = (0..1_000u128)
            .map(|_| OwnerId::new().as_u128())
            .chain(0..1_000)
            .chain((0..1_000).map(|i| i << 100))
            .collect::<Vec<_>>();
        for chunk in ids.chunks(1_000) {
            let hashes: Vec<u64> = chunk.iter().map(|id| h.hash_one(id)).collect();
            // hashbrown takes the bucket from the low bits, the tag from the top 7.
            let low: std::collections::HashSet<u64> = hashes.iter().map(|x| x & 0xff).collect();
            let top: std::collections::HashSet<u64> = hashes.iter().map(|x| x >> 57).collect();
            assert!(low.len() > 200, "only {} of 256 buckets used", low.len());
            assert!(top.len() > 100, "only {} of 128 tags used", top.len());
            let distinct: std::collections::HashSet<u64> = hashes.iter().copied().collect();
            assert_eq!(distinct.len(), chunk.len());
        }
    }
}
