//! Hold ids without a system call: UUID v7 from the request's clock reading
//! and a per-thread xorshift generator seeded once from the OS.

use booking_core::HoldId;
use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

thread_local! {
    static STATE: Cell<(u64, u64)> = Cell::new(seed());
}

fn seed() -> (u64, u64) {
    // `RandomState` keys come from the OS's random source.
    let s = RandomState::new();
    (s.hash_one(0x5eed_u64) | 1, s.hash_one(0xf00d_u64) | 1)
}

/// A fresh hold id stamped `now` (Unix ms).
pub(crate) fn hold_id(now: i64) -> HoldId {
    STATE.with(|st| {
        // xorshift128+
        let (mut a, b) = st.get();
        let out = a.wrapping_add(b);
        a ^= a << 23;
        let next = a ^ b ^ (a >> 17) ^ (b >> 26);
        st.set((b, next));
        let hi = out.rotate_left(32) ^ b;
        // The UUID v7 layout `HoldId::from_parts` builds, set directly: 48
        // bits of Unix ms, version 7, 12 random bits, variant 0b10, 62
        // random bits.
        let ms = (now.max(0) as u128) & 0xffff_ffff_ffff;
        let random = ((hi as u128 & 0xfff) << 64) | (out as u128 & 0x3fff_ffff_ffff_ffff);
        HoldId::from_u128((ms << 80) | (0x7 << 76) | (0b10 << 62) | random)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_distinct_and_time_ordered() {
        let a = super::hold_id(1_000);
        let b = super::hold_id(1_000);
        let c = super::hold_id(2_000);
        assert_ne!(a, b);
        assert!(c > a && c > b);
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert_eq!(a.as_uuid().get_variant(), uuid::Variant::RFC4122);
        // The timestamp is the one `HoldId::from_parts` would stamp.
        let reference = booking_core::HoldId::from_parts(1_000, 0);
        assert_eq!(a.as_uuid().get_timestamp(), reference.as_uuid().get_timestamp());
        let late = super::hold_id(0xffff_ffff_ffff);
        assert_eq!(
            late.as_uuid().get_timestamp(),
            booking_core::HoldId::from_parts(0xffff_ffff_ffff, 0).as_uuid().get_timestamp()
        );
    }
}
