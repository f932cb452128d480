//! The Lua scripts, as the server runs them.
//!
//! Each script is `lua/lib.lua` (core helpers), then the helper files it
//! uses (`lua/seat.lua`, `lua/pool.lua`, `lua/owner.lua`, `lua/batch.lua`), then the
//! script's own file, whose header comment lists its KEYS and ARGV. The
//! seat-lock scripts (`lock.lua`, `unlock.lua`) need no helpers. Helpers
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
}
