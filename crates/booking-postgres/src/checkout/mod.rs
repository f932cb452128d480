//! Checkout's stores on PostgreSQL: the idempotency-key store
//! ([`PgIdempotencyStore`]), the saga log ([`PgSagaLog`]) and the outbox
//! ([`PgOutbox`]), in tables of the `booking` schema created by
//! [`migrations`](crate::migrations).
//!
//! Every decision about time (leases, retry times, retention) is taken by
//! the database against one clock: `booking.clock_ms()` (the database's
//! `clock_timestamp()`) by default, or an injected clock
//! ([`TimeSource::Injected`]) whose time is sent with each statement.
//! Claims of unfinished orders and outbox messages use
//! `FOR UPDATE SKIP LOCKED`, so completers and relays on several servers
//! take disjoint sets.

mod idempotency;
mod outbox;
mod saga_log;

pub use idempotency::PgIdempotencyStore;
pub use outbox::PgOutbox;
pub use saga_log::PgSagaLog;

use crate::outcome::STORE;
use booking_core::TimeSource;
use booking_core::backend::failure::StoreFailure;
use booking_core::checkout::StoreError;
use std::fmt;
use std::time::Duration;

/// A `map_err` for sqlx errors of `operation`: a
/// [`StoreFailure`](booking_core::backend::failure::StoreFailure) naming
/// the store (`postgres`) and the operation, e.g. `"saga log update"`
/// (downcast [`StoreError::Backend`]'s error to read them or the sqlx
/// error).
fn backend(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Backend(Box::new(StoreFailure::new(STORE, operation, Box::new(source))))
}

/// A stored record that cannot be read back (corrupt or written by an
/// incompatible version), as a backend error of `operation`.
fn corrupt(operation: &'static str, what: impl fmt::Display) -> StoreError {
    backend(operation)(sqlx::Error::Decode(what.to_string().into()))
}

/// The longest lease or retention the stores honour (about 73 million
/// years): longer ones are cut to it, so that `now + lease` cannot
/// overflow a bigint.
const MAX_MILLIS: i64 = i64::MAX / 4;

/// A duration in whole milliseconds, capped at [`MAX_MILLIS`].
fn millis(d: Duration) -> i64 {
    booking_core::clock::saturating_millis(d).min(MAX_MILLIS)
}

/// A count or limit as a SQL bigint, saturating.
fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The injected time for a statement, or `None` for the database clock.
fn now(time: &TimeSource) -> Option<i64> {
    time.injected_millis()
}
