//! Checkout's stores in process: the saga log and the outbox.

mod outbox;
mod saga_log;

pub use outbox::MemoryOutbox;
pub use saga_log::MemorySagaLog;
