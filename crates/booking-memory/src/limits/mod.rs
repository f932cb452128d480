//! Limits' stores in process: rate limits ([`MemoryRateLimitStore`]) and
//! the blacklist ([`MemoryBlacklist`]).
//!
//! The rate-limit store runs booking-core's pure
//! [`gcra_step`](booking_core::limits::gcra_step) under a shard lock rather
//! than the `governor` crate: governor keeps its own GCRA state in
//! nanoseconds with its own rounding, so an in-process limit would not
//! answer exactly as the same limit on Redis or PostgreSQL (which run the
//! shared function), and its clocks are its own trait rather than the
//! injected [`Clock`](booking_core::Clock) every store here decides by.

mod blacklist;
mod rate;

pub use blacklist::MemoryBlacklist;
pub use rate::MemoryRateLimitStore;
