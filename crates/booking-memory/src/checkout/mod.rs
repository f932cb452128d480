//! Checkout's stores in process: the saga log and the outbox.

mod outbox;
mod saga_log;

pub use outbox::MemoryOutbox;
pub use saga_log::MemorySagaLog;

/// Milliseconds of a lease, saturating.
fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
