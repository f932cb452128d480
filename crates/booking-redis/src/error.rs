//! Mapping Redis failures onto the port's error variants.

use booking_core::InventoryError;
use redis::{ErrorKind, RedisError, ServerErrorKind};

/// Whether a failed request could have changed the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    /// A read: whatever happened, nothing changed.
    Read,
    /// A script that may write.
    Write,
}

/// Maps a Redis failure:
///
/// - refused connections, server answers that reject a command before
///   running it (`LOADING`, `TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN`,
///   `READONLY`, `MOVED`/`ASK`, `BUSY`, `OOM`, `NOREPLICAS`), and a Cluster
///   client that has no connection to send a request on, are
///   [`InventoryError::Unavailable`]: the request was not applied;
/// - I/O failures and timeouts after a write may have been sent are
///   [`InventoryError::OutcomeUnknown`] (for reads, `Unavailable`);
/// - anything else is [`InventoryError::Backend`].
pub(crate) fn from_redis(e: RedisError, effect: Effect) -> InventoryError {
    let rejected = matches!(
        e.kind(),
        ErrorKind::Server(
            ServerErrorKind::BusyLoading
                | ServerErrorKind::TryAgain
                | ServerErrorKind::ClusterDown
                | ServerErrorKind::MasterDown
                | ServerErrorKind::ReadOnly
                | ServerErrorKind::Moved
                | ServerErrorKind::Ask
        )
    ) || matches!(e.code(), Some("BUSY" | "OOM" | "NOREPLICAS"))
        // Raised before a request is written to any node.
        || matches!(e.kind(), ErrorKind::ClusterConnectionNotFound);
    if rejected || e.is_connection_refusal() {
        return InventoryError::Unavailable(Box::new(e));
    }
    let lost = e.is_io_error() || e.is_timeout() || e.is_connection_dropped();
    match (lost, effect) {
        (true, Effect::Write) => InventoryError::OutcomeUnknown(Box::new(e)),
        (true, Effect::Read) => InventoryError::Unavailable(Box::new(e)),
        (false, _) => InventoryError::Backend(Box::new(e)),
    }
}
