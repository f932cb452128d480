//! The conformance suite: what every [`SeatInventory`] backend must do.
//!
//! **Not API-stable**: it grows with the invariants. Enable it with the
//! `testkit` feature in a backend's `[dev-dependencies]`.
//!
//! Each behaviour is a plain `pub async fn` taking a [`Fixture`]: an
//! inventory whose expiry decisions read the fixture's [`ManualClock`]
//! (design I8), so tests move time and never sleep. Every behaviour creates
//! its own shows with fresh ids, so one store may serve many tests at once.
//!
//! # Running it against a new backend
//!
//! ```ignore
//! // tests/conformance.rs of a backend crate; dev-dependencies:
//! // booking-core (feature "testkit"), tokio (macros, rt-multi-thread),
//! // proptest, proptest-state-machine.
//! use booking_core::testkit::{Fixture, StateMachine, StateMachineBackend};
//! use booking_core::ManualClock;
//!
//! async fn fixture() -> Fixture<MyInventory> {
//!     let clock = ManualClock::fixed();
//!     Fixture::new(MyInventory::connect_with_clock(clock.shared()).await, clock)
//! }
//!
//! // One #[tokio::test] per behaviour.
//! booking_core::conformance_suite!(fixture);
//!
//! // The reference-model state-machine test.
//! struct Mine;
//! impl StateMachineBackend for Mine {
//!     async fn fixture() -> Fixture { fixture().await.into_dyn() }
//! }
//! proptest_state_machine::prop_state_machine! {
//!     #[test]
//!     fn state_machine(sequential 1..40 => StateMachine<Mine>);
//! }
//! ```

pub mod admission;
pub mod botsale;
pub mod catalog;
pub mod checkout;
pub mod crash;
pub mod faults;
pub mod limits;
pub mod lock;
pub mod model;
pub mod payments;
pub mod saga;
mod state_machine;
mod suite;
pub mod throughput;
pub mod tickets;

pub use lock::LockFixture;
pub use state_machine::{Outcome, RefState, StateMachine, StateMachineBackend, Step, Tamper, config};
pub use suite::*;

use crate::clock::ManualClock;
use crate::inventory::SeatInventory;
use std::sync::Arc;

/// An inventory and the clock it decides expiry by.
pub struct Fixture<I: ?Sized = dyn SeatInventory> {
    /// The inventory under test.
    pub inventory: Arc<I>,
    /// The clock the inventory reads; tests move it.
    pub clock: ManualClock,
}

impl<I: SeatInventory + 'static> Fixture<I> {
    /// A fixture over `inventory`, which must read `clock`.
    pub fn new(inventory: I, clock: ManualClock) -> Self {
        Fixture { inventory: Arc::new(inventory), clock }
    }

    /// The same fixture through `Arc<dyn SeatInventory>`.
    pub fn into_dyn(self) -> Fixture {
        Fixture { inventory: self.inventory, clock: self.clock }
    }
}

/// Expands to one `#[tokio::test]` per behaviour of the suite, each calling
/// `$factory().await` for a fresh [`Fixture`].
///
/// The calling crate needs `tokio` with the `macros` and `rt-multi-thread`
/// features among its dev-dependencies.
/// The one list of the conformance suite's behaviours: every backend runs
/// each of them (through [`conformance_suite!`]), and a test of this crate
/// checks that every behaviour defined in `testkit/suite/` is on it, so a
/// new behaviour cannot silently not run.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_behaviours {
    ($mac:ident!($($args:tt)*)) => {
        $crate::$mac! { $($args)*
    create_show_validates,
    hold_and_sell,
    holds_are_all_or_nothing,
    holds_are_exclusive,
    only_the_owner_with_the_current_token,
    expired_holds_never_block,
    sweeper_frees_expired_holds_once,
    extensions_are_bounded,
    release_frees_seats,
    sell_replays_are_idempotent,
    tokens_name_the_whole_hold,
    audit_reports_owners_and_sales,
    verify_checks_without_changing,
    shows_are_listed_read_back_and_archived,
    maintenance_sweeps_every_listed_show,
    refund_returns_seats_to_sale,
    block_and_unblock,
    best_available_prefers_adjacent_seats_without_orphans,
    best_available_honours_filters,
    pools_are_all_or_nothing,
    pool_holds_expire_and_sell,
    per_owner_limit,
    per_owner_limit_survives_forged_tokens,
    bad_requests_change_nothing,
    change_feed_reports_changes,
    race_many_tasks_few_seats,
    race_pool_units,
    race_holds_against_sweeper,
    race_sell_against_release,
    race_per_owner_limit,
    race_refused_hold_against_the_owner_limit,
    race_many_owners_at_their_limits,
    race_releases_of_expired_live_stolen_and_stale_holds,
    ticket_cap_counts_sold_items,
    ticket_cap_freed_by_refunds,
    ticket_cap_release_and_expiry_free_only_held,
    ticket_cap_counts_a_replayed_sell_once,
    ticket_cap_unchanged_by_bad_input,
    race_ticket_cap,
    payment_cap_counts_every_owner_paying_alike,
    payment_cap_freed_by_refunds,
    payment_cap_counts_a_replayed_sell_once,
    payment_cap_not_applied_without_a_payer,
    race_payment_cap,
    race_stale_sale_against_the_payment_cap,
        }
    };
}

/// Expands to one `#[tokio::test]` per behaviour of the suite, each calling
/// `$factory().await` for a fresh [`Fixture`].
///
/// The calling crate needs `tokio` with the `macros` and `rt-multi-thread`
/// features among its dev-dependencies.
#[macro_export]
macro_rules! conformance_suite {
    ($factory:path) => {
        $crate::__conformance_behaviours!(conformance_suite!(@each $factory;));
    };
    (@each $factory:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let fixture = $factory().await;
                $crate::testkit::$name(&fixture).await;
            }
        )*
    };
    (@names $($name:ident),* $(,)?) => {
        &[$(stringify!($name)),*]
    };
}

/// Every behaviour of the conformance suite, by name, as
/// [`conformance_suite!`](crate::conformance_suite) runs them.
pub const BEHAVIOURS: &[&str] = crate::__conformance_behaviours!(conformance_suite!(@names));

/// The behaviours a suite's source defines: every `pub async fn` of
/// `sources` whose parameters include `fixture` (e.g. `"fx: &Fixture<I>"`),
/// sorted. A suite's test compares them with its list, so that a behaviour
/// written but not listed (and so never run) fails the build's tests.
#[cfg(test)]
pub(crate) fn defined_behaviours<'a>(sources: impl IntoIterator<Item = &'a str>, fixture: &str) -> Vec<String> {
    let mut defined = Vec::new();
    for text in sources {
        let mut sig = String::new();
        for line in text.lines() {
            if line.starts_with("pub async fn ") {
                sig = line.to_owned();
            } else if !sig.is_empty() {
                sig.push_str(line);
            }
            if !sig.is_empty() && sig.contains('{') {
                if sig.contains(fixture) {
                    let name = sig["pub async fn ".len()..].split(['<', '(']).next().unwrap_or_default();
                    defined.push(name.to_owned());
                }
                sig.clear();
            }
        }
    }
    defined.sort();
    defined
}

/// Asserts that `listed` names exactly the behaviours `sources` define
/// (see [`defined_behaviours`]).
#[cfg(test)]
pub(crate) fn assert_all_listed<'a>(
    suite: &str,
    sources: impl IntoIterator<Item = &'a str>,
    fixture: &str,
    listed: &[&str],
) {
    let defined = defined_behaviours(sources, fixture);
    assert!(!defined.is_empty(), "no behaviour of the {suite} suite found: is {fixture:?} its fixture parameter?");
    let mut listed: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(defined, listed, "the {suite} suite's behaviours and its list differ");
}

/// The text of every file in `dir` (a suite split over files).
#[cfg(test)]
pub(crate) fn sources_in(dir: &str) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir).expect("suite dir").map(|e| e.expect("entry").path()).collect();
    files.sort();
    files.iter().map(|f| std::fs::read_to_string(f).expect("read")).collect()
}

#[cfg(test)]
mod tests {
    /// Every `pub async fn` taking a `Fixture` in `testkit/suite/` is a
    /// behaviour, and every behaviour is on the list.
    #[test]
    fn every_behaviour_is_on_the_list() {
        let sources = super::sources_in(concat!(env!("CARGO_MANIFEST_DIR"), "/src/testkit/suite"));
        super::assert_all_listed(
            "conformance",
            sources.iter().map(String::as_str),
            "fx: &Fixture<I>",
            super::BEHAVIOURS,
        );
    }
}
