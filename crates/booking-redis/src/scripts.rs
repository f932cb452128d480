//! The Lua scripts, as the server runs them.
//!
//! Each script is `lua/lib.lua` (shared helpers) followed by the script's
//! own file; the header comment of each file lists its KEYS and ARGV. The
//! library sends them with EVALSHA and loads a script on the server only
//! when the server answers NOSCRIPT (after a restart or `SCRIPT FLUSH`).
//! The sources are public so that operators can preload them and
//! benchmarks can send them raw.

use redis::Script;
use std::sync::LazyLock;

macro_rules! scripts {
    ($($(#[$doc:meta])* $name:ident => $file:literal;)*) => {
        $(
            $(#[$doc])*
            pub const $name: &str = concat!(include_str!("../lua/lib.lua"), include_str!(concat!("../lua/", $file)));
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
    CREATE => "create.lua";
    /// Holds named seats.
    HOLD => "hold.lua";
    /// Holds pool units.
    HOLD_POOL => "hold_pool.lua";
    /// Extends a seat hold.
    EXTEND => "extend.lua";
    /// Extends a pool hold.
    EXTEND_POOL => "extend_pool.lua";
    /// Releases a seat hold.
    RELEASE => "release.lua";
    /// Releases a pool hold.
    RELEASE_POOL => "release_pool.lua";
    /// Sells a seat hold.
    SELL => "sell.lua";
    /// Sells a pool hold.
    SELL_POOL => "sell_pool.lua";
    /// Refunds seats.
    REFUND => "refund.lua";
    /// Refunds pool units.
    REFUND_POOL => "refund_pool.lua";
    /// Blocks or unblocks seats.
    BLOCK => "block.lua";
    /// Frees expired holds.
    SWEEP => "sweep.lua";
    /// Reads a show's state.
    SNAPSHOT => "snapshot.lua";
    /// Takes seat locks.
    LOCK => "lock.lua";
    /// Releases seat locks.
    UNLOCK => "unlock.lua";
}
