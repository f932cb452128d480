//! The Lua scripts, as the server runs them.
//!
//! Each script is `lua/lib.lua` (core helpers), then the helper files it
//! uses (`lua/seat.lua`, `lua/pool.lua`, `lua/owner.lua`, `lua/batch.lua`), then the
//! script's own file, whose header comment lists its KEYS and ARGV. The
//! seat-lock scripts (`lock.lua`, `unlock.lua`) need no helpers; the
//! idempotency-key scripts (`idem_*.lua`) use `lua/idem_lib.lua` instead of
//! `lua/lib.lua`; the saga-log and outbox scripts (`saga_*.lua`,
//! `outbox_*.lua`) need no helpers; the limits scripts (`rate_*.lua`,
//! `blacklist_*.lua`) use `lua/limits_lib.lua`, the blacklist's also
//! `lua/blacklist_lib.lua`. Helpers
//! are split so that a script defines only the functions it uses: the
//! prelude runs on every call, and each function it defines costs a
//! closure on the server's one thread. The library sends the scripts with
//! EVALSHA and loads a script on the server only when the server answers
//! NOSCRIPT (after a restart or `SCRIPT FLUSH`). The sources are public so
//! that operators can preload them and benchmarks can send them raw.

use redis::Script;
use std::sync::LazyLock;

macro_rules! scripts {
    ($($(#[$doc:meta])* $name:ident => [$($part:literal),*] $file:literal;)*) => {
        $(
            $(#[$doc])*
            pub const $name: &str = concat!($(include_str!(concat!("../lua/", $part)),)* include_str!(concat!("../lua/", $file)));
        )*

        /// Every script as `(file name, full source)`.
        pub const ALL: &[(&str, &str)] = &[$(($file, $name)),*];

        /// The scripts wrapped once, with their SHA1 computed.
        #[allow(non_snake_case)]
        pub(crate) struct Loaded {
            $(pub(crate) $name: Script,)*
        }

        pub(crate) static LOADED: LazyLock<Loaded> = LazyLock::new(|| Loaded {
            $($name: Script::new($name),)*
        });
    };
}

scripts! {
    /// Creates a show.
    CREATE => ["lib.lua"] "create.lua";
    /// Archives a show.
    ARCHIVE => ["lib.lua"] "archive.lua";
    /// Holds named seats.
    HOLD => ["lib.lua", "owner.lua"] "hold.lua";
    /// Holds named seats for several requests of one show, in order
    /// (request coalescing).
    HOLD_BATCH => ["lib.lua", "owner.lua", "batch.lua"] "hold_batch.lua";
    /// Picks and holds the best available seats.
    BEST => ["lib.lua", "owner.lua"] "best.lua";
    /// Holds pool units.
    HOLD_POOL => ["lib.lua", "pool.lua", "owner.lua"] "hold_pool.lua";
    /// Extends a seat hold.
    EXTEND => ["lib.lua", "seat.lua"] "extend.lua";
    /// Extends a pool hold.
    EXTEND_POOL => ["lib.lua", "pool.lua"] "extend_pool.lua";
    /// Checks a seat hold without changing it.
    VERIFY => ["lib.lua", "seat.lua"] "verify.lua";
    /// Checks a pool hold without changing it.
    VERIFY_POOL => ["lib.lua", "pool.lua"] "verify_pool.lua";
    /// Reads everything a show records.
    AUDIT => ["lib.lua"] "audit.lua";
    /// Releases a seat hold.
    RELEASE => ["lib.lua", "seat.lua"] "release.lua";
    /// Releases several seat holds of one show, in order (request
    /// coalescing).
    RELEASE_BATCH => ["lib.lua", "seat.lua", "batch.lua"] "release_batch.lua";
    /// Releases a pool hold.
    RELEASE_POOL => ["lib.lua", "pool.lua"] "release_pool.lua";
    /// Sells a seat hold.
    SELL => ["lib.lua", "seat.lua"] "sell.lua";
    /// Sells a pool hold.
    SELL_POOL => ["lib.lua", "pool.lua"] "sell_pool.lua";
    /// Refunds seats.
    REFUND => ["lib.lua", "seat.lua"] "refund.lua";
    /// Refunds pool units.
    REFUND_POOL => ["lib.lua"] "refund_pool.lua";
    /// Restores a sale of seats from the application's order log.
    RESTORE => ["lib.lua", "seat.lua"] "restore.lua";
    /// Restores a sale of pool units from the application's order log.
    RESTORE_POOL => ["lib.lua", "pool.lua"] "restore_pool.lua";
    /// Blocks or unblocks seats.
    BLOCK => ["lib.lua", "seat.lua"] "block.lua";
    /// Frees expired holds.
    SWEEP => ["lib.lua", "seat.lua", "pool.lua"] "sweep.lua";
    /// Reads a show's state.
    SNAPSHOT => ["lib.lua"] "snapshot.lua";
    /// Takes seat locks.
    LOCK => [] "lock.lua";
    /// Releases seat locks.
    UNLOCK => [] "unlock.lua";
    /// Takes an idempotency key, or answers why not.
    IDEM_BEGIN => ["idem_lib.lua"] "idem_begin.lua";
    /// Finishes or releases a held idempotency key.
    IDEM_END => ["idem_lib.lua"] "idem_end.lua";
    /// Reads an idempotency key's record.
    IDEM_GET => ["idem_lib.lua"] "idem_get.lua";
    /// Deletes idempotency keys past a cutoff.
    IDEM_REAP => ["idem_lib.lua"] "idem_reap.lua";
    /// Records a new order in the saga log.
    SAGA_CREATE => [] "saga_create.lua";
    /// Replaces an order by compare-and-set on its version.
    SAGA_UPDATE => [] "saga_update.lua";
    /// Claims unfinished orders for a completer.
    SAGA_CLAIM => [] "saga_claim.lua";
    /// Adds a message to the outbox.
    OUTBOX_ENQUEUE => [] "outbox_enqueue.lua";
    /// Claims outbox messages for a relay.
    OUTBOX_CLAIM => [] "outbox_claim.lua";
    /// Marks an outbox message delivered.
    OUTBOX_ACK => [] "outbox_ack.lua";
    /// One GCRA step on a rate-limit key.
    RATE_ACQUIRE => ["limits_lib.lua"] "rate_acquire.lua";
    /// Deletes a rate-limit key whose burst is full again.
    RATE_PURGE => ["limits_lib.lua"] "rate_purge.lua";
    /// Adds a blacklist entry (and forgets lapsed ones).
    BLACKLIST_ADD => ["limits_lib.lua", "blacklist_lib.lua"] "blacklist_add.lua";
    /// Removes a blacklist entry.
    BLACKLIST_REMOVE => ["limits_lib.lua", "blacklist_lib.lua"] "blacklist_remove.lua";
    /// Finds the live blacklist entries among an identity's fields.
    BLACKLIST_CHECK => ["limits_lib.lua", "blacklist_lib.lua"] "blacklist_check.lua";
    /// Lists a page of live blacklist entries.
    BLACKLIST_LIST => ["limits_lib.lua", "blacklist_lib.lua"] "blacklist_list.lua";
}

#[cfg(test)]
mod tests {
    use booking_core::backend::refusal::Refusal;

    /// What a script may answer besides a refusal: a success, the answers
    /// that are not refusals (a sale record to replay, a sale already
    /// restored, a show that exists), lost data, and the lock's outcome.
    const OUTCOMES: &[&str] = &["OK", "RECORD", "ALREADY", "EXISTS", "LOST", "BUSY"];

    /// What the idempotency-key scripts answer: `booking_core::idempotency`'s
    /// outcomes (`Started::Run`, `Started::Replay`, `IdempotencyError::
    /// Mismatch`, `InProgress`, `NotHeld`), a record or none.
    const IDEMPOTENCY: &[&str] = &["OK", "RUN", "REPLAY", "MISMATCH", "IN_PROGRESS", "NOT_HELD", "RECORD", "NONE"];

    /// What the saga-log and outbox scripts answer: `booking_core::checkout`'s
    /// outcomes (`StoreError::NotFound`, `Conflict`), a new or existing record.
    const CHECKOUT: &[&str] = &["OK", "CREATED", "EXISTS", "NOT_FOUND", "CONFLICT"];

    /// Every status a script answers (`{ 'WORD'` at the head of a reply
    /// table) is a refusal code of `booking_core::backend::refusal` or one
    /// of the few outcomes above (for the idempotency-key scripts, their
    /// port's outcomes): one vocabulary, no code of the library's own.
    #[test]
    fn scripts_answer_only_the_refusal_vocabulary() {
        let mut seen = 0;
        for (file, source) in super::ALL {
            let idempotency = file.starts_with("idem_");
            let checkout = file.starts_with("saga_") || file.starts_with("outbox_");
            for (i, _) in source.match_indices("{ '") {
                let word: String =
                    source[i + 3..].chars().take_while(|c| c.is_ascii_uppercase() || *c == '_').collect();
                if word.is_empty() || !source[i + 3 + word.len()..].starts_with('\'') {
                    continue;
                }
                seen += 1;
                let known = if idempotency {
                    IDEMPOTENCY.contains(&word.as_str())
                } else if checkout {
                    CHECKOUT.contains(&word.as_str())
                } else {
                    Refusal::from_code(&word).is_some() || OUTCOMES.contains(&word.as_str())
                };
                assert!(known, "{file} answers {word:?}, which is not in its vocabulary");
            }
        }
        assert!(seen > 40, "found only {seen} answers");
    }
}
