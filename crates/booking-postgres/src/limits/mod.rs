//! Limits' stores on PostgreSQL: rate limits ([`PgRateLimitStore`]) and
//! the blacklist ([`PgBlacklist`]), in tables of the `booking` schema
//! created by [`migrations`](crate::migrations).
//!
//! Rate limits decide by one clock: `booking.clock_ms()` (the database's
//! `clock_timestamp()`) by default, or an injected clock
//! ([`TimeSource::Injected`]) whose time is sent with each statement, so
//! every server of a deployment shares each budget.

mod blacklist;
mod rate;

pub use blacklist::PgBlacklist;
pub use rate::PgRateLimitStore;

use booking_core::TimeSource;
use booking_core::backend::failure::StoreFailure;
use booking_core::limits::{LimitError, micros_from_millis};

/// A `map_err` for sqlx errors of `operation`: a backend error carrying
/// a [`StoreFailure`] naming the store (`postgres`) and the operation.
fn backend(operation: &'static str) -> impl FnOnce(sqlx::Error) -> LimitError {
    move |source| LimitError::Backend(Box::new(StoreFailure::new(crate::outcome::STORE, operation, Box::new(source))))
}

/// The injected decision time in Unix µs, or `None` for the database's.
///
/// Errors: `ClockOutOfRange`.
fn now_micros(time: &TimeSource) -> Result<Option<i64>, LimitError> {
    time.injected_millis().map(micros_from_millis).transpose()
}
