//! The draw of the pre-queue: a Fisher-Yates shuffle driven by ChaCha20
//! from a recorded 32-byte seed, written out here step by step (rather
//! than `rand`'s `shuffle`, whose use of the generator may change between
//! versions) so that a draw replays the same for as long as ChaCha20 is
//! ChaCha20.

use super::{DrawRecord, VisitorId};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The seed of a draw: 32 bytes, shown and parsed as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Seed(pub [u8; 32]);

impl Seed {
    /// A fresh seed from the operating system's random source (through
    /// `rand`'s thread-local generator, a ChaCha seeded by the OS).
    pub fn random() -> Self {
        Seed(rand::random())
    }
}

impl fmt::Display for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Seed({self})")
    }
}

/// A seed that is not 64 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a seed is 64 hex digits")]
pub struct BadSeed;

impl FromStr for Seed {
    type Err = BadSeed;

    fn from_str(s: &str) -> Result<Self, BadSeed> {
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return Err(BadSeed);
        }
        let mut seed = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hex = std::str::from_utf8(pair).map_err(|_| BadSeed)?;
            seed[i] = u8::from_str_radix(hex, 16).map_err(|_| BadSeed)?;
        }
        Ok(Seed(seed))
    }
}

/// A uniform integer in `0..bound` (`bound >= 1`) by Lemire's
/// multiply-and-reject method: no modulo bias.
fn below(rng: &mut ChaCha20Rng, bound: u64) -> u64 {
    let threshold = bound.wrapping_neg() % bound;
    loop {
        let m = u128::from(rng.next_u64()) * u128::from(bound);
        if (m as u64) >= threshold {
            return (m >> 64) as u64;
        }
    }
}

/// Draws the order of `arrivals` (the pre-queue in arrival order) from
/// `seed`: ChaCha20 keyed by the seed, then Fisher-Yates from the last
/// place down, each swap partner drawn uniformly from the places not yet
/// fixed. Every order is equally likely whatever the arrival order, and
/// the same seed over the same arrivals gives the same order.
pub fn draw_order(seed: &Seed, arrivals: &[VisitorId]) -> Vec<VisitorId> {
    let mut order = arrivals.to_vec();
    let mut rng = ChaCha20Rng::from_seed(seed.0);
    for i in (1..order.len()).rev() {
        let j = below(&mut rng, i as u64 + 1) as usize;
        order.swap(i, j);
    }
    order
}

/// Replays a recorded draw: the order `seed` gives over `arrivals`. The
/// same function as [`draw_order`], named for the auditor.
pub fn replay(seed: &Seed, arrivals: &[VisitorId]) -> Vec<VisitorId> {
    draw_order(seed, arrivals)
}

/// What [`audit_draw`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrawAudit {
    /// Visitors in the pre-queue.
    pub arrivals: usize,
    /// The first place where the recorded order differs from the replay,
    /// if any.
    pub first_difference: Option<usize>,
}

impl DrawAudit {
    /// Whether the recorded order is exactly the replay of its seed.
    pub fn passed(&self) -> bool {
        self.first_difference.is_none()
    }
}

/// Checks a recorded draw: replays its seed over its arrivals and compares
/// with the recorded order.
pub fn audit_draw(record: &DrawRecord) -> DrawAudit {
    let replayed = replay(&record.seed, &record.arrivals);
    let first_difference = if replayed.len() != record.order.len() {
        Some(replayed.len().min(record.order.len()))
    } else {
        replayed.iter().zip(&record.order).position(|(a, b)| a != b)
    };
    DrawAudit { arrivals: record.arrivals.len(), first_difference }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn visitors(n: u128) -> Vec<VisitorId> {
        (1..=n).map(|i| VisitorId(Uuid::from_u128(i))).collect()
    }

    #[test]
    fn a_seed_replays_and_another_seed_differs() {
        let arrivals = visitors(50);
        let a = draw_order(&Seed([7; 32]), &arrivals);
        assert_eq!(a, replay(&Seed([7; 32]), &arrivals));
        assert_ne!(a, draw_order(&Seed([8; 32]), &arrivals));
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, arrivals, "a permutation");
    }

    /// The draw is pinned: a change of algorithm (or of the generator's
    /// stream) would make recorded draws unauditable, so it must show here.
    #[test]
    fn the_draw_is_pinned() {
        let order = draw_order(&Seed([0; 32]), &visitors(10));
        let got: Vec<u128> = order.iter().map(|v| v.0.as_u128()).collect();
        assert_eq!(got, PINNED.to_vec());
    }
    const PINNED: [u128; 10] = [3, 7, 5, 8, 9, 4, 10, 1, 2, 6];

    /// The generator is ChaCha20 as specified: with an all-zero key and
    /// nonce its keystream starts 76 b8 e0 ad a0 f1 3d 90 (the first test
    /// vector of RFC 7539, section 2.3.2's block function with zero
    /// input), so anyone can replay a draw with any ChaCha20.
    #[test]
    fn the_generator_is_chacha20() {
        let mut rng = ChaCha20Rng::from_seed([0; 32]);
        assert_eq!(rng.next_u64().to_le_bytes(), [0x76, 0xb8, 0xe0, 0xad, 0xa0, 0xf1, 0x3d, 0x90]);
    }

    #[test]
    fn seeds_print_and_parse() {
        let s = Seed::random();
        assert_eq!(s.to_string().parse::<Seed>(), Ok(s));
        assert_eq!("zz".parse::<Seed>(), Err(BadSeed));
        assert_eq!("g".repeat(64).parse::<Seed>(), Err(BadSeed));
        assert_eq!("é".repeat(32).parse::<Seed>(), Err(BadSeed));
    }

    #[test]
    fn below_is_in_range() {
        let mut rng = ChaCha20Rng::from_seed([1; 32]);
        for bound in [1u64, 2, 3, 7, u64::MAX] {
            for _ in 0..100 {
                assert!(below(&mut rng, bound) < bound);
            }
        }
    }
}
