//! The waiting room's Lua scripts, as the server runs them: each is
//! `lua/idem_lib.lua` (the decision time and number formatting, shared
//! with the idempotency-key scripts), `lua/adm_lib.lua` (the key layout
//! and the waiting room's helpers), then the script's own
//! file, whose header comment lists its ARGV. Sent with EVALSHA, loaded on
//! `NOSCRIPT`; the sources are public so that operators can preload them.

use redis::Script;
use std::sync::LazyLock;

macro_rules! scripts {
    ($($(#[$doc:meta])* $name:ident => $field:ident $file:literal;)*) => {
        $(
            $(#[$doc])*
            pub const $name: &str = concat!(include_str!("../../lua/idem_lib.lua"), include_str!("../../lua/adm_lib.lua"), include_str!(concat!("../../lua/", $file)));
        )*

        /// Every waiting-room script as `(file name, full source)`.
        pub const ALL: &[(&str, &str)] = &[$(($file, $name)),*];

        /// The scripts wrapped once, with their SHA1 computed.
        pub(crate) struct Loaded {
            $(pub(crate) $field: Script,)*
        }

        pub(crate) static LOADED: LazyLock<Loaded> = LazyLock::new(|| Loaded {
            $($field: Script::new($name),)*
        });
    };
}

scripts! {
    /// Creates a room.
    CREATE => create "adm_create.lua";
    /// Reads a room's settings and counts.
    STATE => state "adm_state.lua";
    /// Switches a room's mode.
    MODE => mode "adm_mode.lua";
    /// Puts a session in a room, or finds its place.
    JOIN => join "adm_join.lua";
    /// Reads a session's visitor.
    VISITOR => visitor "adm_visitor.lua";
    /// Reads the pre-queue and the recorded draw.
    DRAW_READ => draw_read "adm_draw_read.lua";
    /// Records the draw.
    DRAW => draw "adm_draw.lua";
    /// Admits a wave.
    ADMIT => admit "adm_admit.lua";
    /// Ends a visitor's place or session (leave, revoke).
    END => end "adm_end.lua";
    /// Voids every admission of a room.
    REVOKE_ALL => revoke_all "adm_revoke_all.lua";
    /// Reads a room's revocations.
    REVOCATIONS => revocations "adm_revocations.lua";
    /// Gives an inlet credits.
    CREDITS => credits "adm_credits.lua";
}

#[cfg(test)]
mod tests {
    /// What the waiting-room scripts answer: `booking_core::admission`'s
    /// outcomes and nothing else.
    const VOCABULARY: &[&str] = &[
        "OK",
        "EXISTS",
        "UNKNOWN_ROOM",
        "UNKNOWN_VISITOR",
        "SESSION_MISMATCH",
        "CLOSED",
        "ID_IN_USE",
        "NOT_OPEN",
        "ALREADY",
        "MISMATCH",
        "NOT_DRAWN",
    ];

    #[test]
    fn scripts_answer_only_their_vocabulary() {
        let mut seen = 0;
        for (file, source) in super::ALL {
            for (i, _) in source.match_indices("{ '") {
                let word: String =
                    source[i + 3..].chars().take_while(|c| c.is_ascii_uppercase() || *c == '_').collect();
                if word.is_empty() || !source[i + 3 + word.len()..].starts_with('\'') {
                    continue;
                }
                seen += 1;
                assert!(VOCABULARY.contains(&word.as_str()), "{file} answers {word:?}");
            }
        }
        assert!(seen > 25, "found only {seen} answers");
    }
}
