//! The key layout: every key of one show carries the show's hash tag, so a
//! whole show lives on one Redis Cluster slot and every script runs there.

use booking_core::{OwnerId, SeatId, ShowId};

/// The names of one show's keys, in the order scripts receive them.
///
/// Every key is `<prefix>{<show id as 32 hex digits>}:<name>`; Redis Cluster
/// hashes only the part between the braces, so all of them share one slot
/// (see [`key_slot`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShowKeys {
    /// Hash: the show's specification, seat and pool counts, change counter.
    pub meta: String,
    /// Hash: seat id -> encoded seat state (absent = available, version 0),
    /// and the marker field `#` (the free-seat index's time).
    pub seats: String,
    /// Sorted set: held seat id, scored by its hold's expiry (Unix ms).
    pub seat_expiry: String,
    /// Hash: per pool capacity, sold, held units and version.
    pub pools: String,
    /// Hash: pool hold id -> encoded pool hold.
    pub pool_holds: String,
    /// Sorted set: pool hold id, scored by its expiry (Unix ms).
    pub pool_expiry: String,
    /// Hash: `<pool>:<order>` -> the order's sales from the pool (hold, owner,
    /// units), oldest first.
    pub pool_sales: String,
    /// Hash: order id -> the order's sale record (`<version>|<json>`).
    pub orders: String,
    /// Stream: the change feed.
    pub feed: String,
    /// String (bitmap): the free-seat index, one bit per seat.
    pub free: String,
    /// Hash: owner id -> units sold to the owner and not refunded, kept
    /// only for a show with a per-owner ticket cap.
    pub owner_sold: String,
    /// Hash: `p:<payer key>` -> units sold to the payer and not refunded,
    /// and `o:<order id>` -> the payer of the order, kept only for a show
    /// with a per-payment cap.
    pub payer_sold: String,
    base: String,
}

impl ShowKeys {
    /// The keys of `show` under `prefix`.
    pub fn new(prefix: &str, show: ShowId) -> Self {
        let base = format!("{prefix}{{{}}}:", hex(show.as_u128()));
        let k = |name: &str| format!("{base}{name}");
        ShowKeys {
            meta: k("meta"),
            seats: k("seats"),
            seat_expiry: k("sexp"),
            pools: k("pools"),
            pool_holds: k("pholds"),
            pool_expiry: k("pexp"),
            pool_sales: k("psales"),
            orders: k("orders"),
            feed: k("feed"),
            free: k("free"),
            owner_sold: k("osold"),
            payer_sold: k("psold"),
            base,
        }
    }

    /// String: an owner's holds in the show that may count towards the
    /// per-owner limit; expires after the owner's last hold could live.
    pub fn owner(&self, owner: OwnerId) -> String {
        format!("{}own:{}", self.base, hex(owner.as_u128()))
    }

    /// String: the advisory lock of a seat ([`crate::RedisSeatLock`]),
    /// holding the locker's token; expires by itself.
    pub fn seat_lock(&self, seat: SeatId) -> String {
        format!("{}lock:{}", self.base, seat.0)
    }

    /// Every key but the per-owner ([`ShowKeys::owner`]) and per-seat-lock
    /// ([`ShowKeys::seat_lock`]) ones.
    pub fn all(&self) -> [&str; 12] {
        [
            &self.meta,
            &self.seats,
            &self.seat_expiry,
            &self.pools,
            &self.pool_holds,
            &self.pool_expiry,
            &self.pool_sales,
            &self.orders,
            &self.feed,
            &self.free,
            &self.owner_sold,
            &self.payer_sold,
        ]
    }
}

/// Sorted set: the shows under `prefix` that are not archived, as 32 hex
/// digits with score 0 (so in id order). Written after the show's own keys
/// (by `create_show` and `archive_show`), and on a Redis Cluster it lives
/// on a slot of its own: no script touches it.
pub fn show_index(prefix: &str) -> String {
    format!("{prefix}shows")
}

/// How many buckets idempotency keys are spread over: each bucket is one
/// hash tag (one Cluster slot) holding its keys' records and an index of
/// them by creation time, which `reap` reads instead of scanning the
/// keyspace.
pub const IDEMPOTENCY_BUCKETS: u32 = 16;

/// The hash-tagged base of an idempotency bucket's keys.
fn idempotency_bucket(prefix: &str, bucket: u32) -> String {
    format!("{prefix}idem:{{b{bucket:02}}}:")
}

/// Hash: the record of idempotency key `key` of `principal`, in the bucket
/// the two pick: `<prefix>idem:{b<nn>}:<principal as 32 hex digits>:<key>`.
pub fn idempotency_record(prefix: &str, principal: OwnerId, key: &str) -> String {
    let mut h: u32 = 0x811c_9dc5; // FNV-1a: stable across processes
    for b in principal.as_u128().to_be_bytes().iter().chain(key.as_bytes()) {
        h = (h ^ u32::from(*b)).wrapping_mul(0x0100_0193);
    }
    format!("{}{}:{key}", idempotency_bucket(prefix, h % IDEMPOTENCY_BUCKETS), hex(principal.as_u128()))
}

/// Sorted set: the records of an idempotency bucket, by creation time (Unix
/// ms), for `reap`.
pub fn idempotency_index(prefix: &str, bucket: u32) -> String {
    format!("{}index", idempotency_bucket(prefix, bucket))
}

/// An id as the 32 lowercase hex digits the scripts store.
pub(crate) fn hex(v: u128) -> String {
    format!("{v:032x}")
}

/// Parses an id stored by the scripts.
pub(crate) fn parse_hex(s: &[u8]) -> Option<u128> {
    std::str::from_utf8(s).ok().and_then(|s| u128::from_str_radix(s, 16).ok())
}

/// The Redis Cluster slot of `key` (0..16384): CRC16-XMODEM of the key's hash
/// tag (the text between the first `{` and the next `}`, when not empty) or
/// of the whole key, modulo 16384.
pub fn key_slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        rest.iter().position(|&b| b == b'}').filter(|&close| close > 0).map(|close| &rest[..close])
    });
    crc16_xmodem(tagged.unwrap_or(key)) % 16384
}

fn crc16_xmodem(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= (byte as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_the_cluster_specification() {
        // Reference values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"{user1000}.followers"));
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"), "empty tag hashes the whole key");
        assert_ne!(key_slot(b"foo{}{bar}"), key_slot(b"bar"));
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
    }

    #[test]
    fn an_idempotency_record_shares_its_bucket_index_slot() {
        let mut buckets = std::collections::HashSet::new();
        for i in 0..200 {
            let record = idempotency_record("p:", OwnerId::new(), &format!("key-{i}"));
            let slot = key_slot(record.as_bytes());
            let bucket = (0..IDEMPOTENCY_BUCKETS)
                .find(|b| key_slot(idempotency_index("p:", *b).as_bytes()) == slot)
                .expect("the record's slot is one bucket's");
            assert!(record.starts_with(&format!("p:idem:{{b{bucket:02}}}:")), "{record}");
            buckets.insert(bucket);
        }
        assert_eq!(buckets.len(), IDEMPOTENCY_BUCKETS as usize, "keys spread over every bucket");
    }

    #[test]
    fn every_key_of_a_show_shares_one_slot() {
        for prefix in ["", "booking:", "t-1:x:"] {
            for _ in 0..50 {
                let keys = ShowKeys::new(prefix, ShowId::new());
                let slot = key_slot(keys.meta.as_bytes());
                assert!(keys.all().iter().all(|k| key_slot(k.as_bytes()) == slot), "{keys:?}");
                assert_eq!(key_slot(keys.owner(OwnerId::new()).as_bytes()), slot);
                assert_eq!(key_slot(keys.seat_lock(SeatId(u32::MAX)).as_bytes()), slot);
            }
        }
    }
}
