//! Mapping Redis failures onto the port's error variants, and naming the
//! store and the operation in them.

use booking_core::InventoryError;
use booking_core::backend::failure::{self, StoreFailure};
use redis::{ErrorKind, RedisError, ServerErrorKind};
use std::error::Error;

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

/// What went wrong that is particular to the Redis backend.
///
/// Carried inside the port's [`InventoryError`]: [`InventoryError::Backend`]
/// for the configuration and data-loss cases, and
/// [`InventoryError::OutcomeUnknown`] for a sale whose durability could not
/// be confirmed (the sale was applied in memory: retrying `sell` with the
/// same order is a replay that waits again). [`StoreError::of`] finds it:
///
/// ```rust
/// # fn demo(e: booking_core::InventoryError) {
/// use booking_redis::StoreError;
///
/// if let Some(StoreError::DataLost { show }) = StoreError::of(&e) {
///     eprintln!("show {show} lost data in Redis: repair it from the order log");
/// }
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// A server (on a Cluster: a master) may evict keys: its
    /// `maxmemory-policy` is not `noeviction`. An evicted seat, order or
    /// owner-index key would silently free sold seats or reset per-owner
    /// counts, so the inventory refuses to run on it.
    EvictionPolicy {
        /// The server's address.
        node: String,
        /// Its `maxmemory-policy`.
        policy: String,
    },
    /// A server's `maxmemory-policy` could not be read (`CONFIG GET` is
    /// disabled or renamed, as on some managed services). See
    /// [`crate::RedisInventoryBuilder::assume_noeviction`].
    PolicyUnknown {
        /// The server's address.
        node: String,
        /// What the server answered.
        reason: String,
    },
    /// Part of a show's data is missing from Redis while the rest is there
    /// (a key was evicted or deleted): the inventory refuses to decide
    /// anything on the show rather than read the missing part as free
    /// seats. Repair: recreate the show's keys and restore its sales
    /// ([`crate::RedisInventory::restore_sale`]).
    DataLost {
        /// The show.
        show: booking_core::ShowId,
    },
    /// The durability asked for ([`crate::RedisInventoryBuilder::sale_durability`])
    /// cannot be had from this server: `WAITAOF` needs Redis 7.2 or newer
    /// and `appendonly yes`.
    DurabilityUnsupported {
        /// The server's address.
        node: String,
        /// Why.
        reason: String,
    },
    /// A sale was applied, but the server did not confirm within the
    /// timeout that it reached the append-only file or the replicas asked
    /// for. Retry the `sell` (a replay with the same order waits again).
    DurabilityNotConfirmed {
        /// Local AOF fsyncs asked for (0 or 1).
        wanted_local: u32,
        /// Replicas asked for.
        wanted_replicas: u32,
        /// Local AOF fsyncs confirmed (0 or 1; 0 when `WAIT` was used).
        local: u32,
        /// Replicas that confirmed.
        replicas: u32,
    },
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::EvictionPolicy { node, policy } => write!(
                f,
                "Redis at {node} has maxmemory-policy {policy}: it may evict inventory keys; set it to noeviction"
            ),
            StoreError::PolicyUnknown { node, reason } => {
                write!(f, "cannot read the maxmemory-policy of Redis at {node}: {reason}")
            }
            StoreError::DataLost { show } => {
                write!(f, "data of show {show} is missing from Redis (evicted or deleted); refusing to decide on it")
            }
            StoreError::DurabilityUnsupported { node, reason } => {
                write!(f, "Redis at {node} cannot confirm the durability asked for: {reason}")
            }
            StoreError::DurabilityNotConfirmed { wanted_local, wanted_replicas, local, replicas } => write!(
                f,
                "the sale was applied but not confirmed durable: {local}/{wanted_local} local AOF, \
                 {replicas}/{wanted_replicas} replicas"
            ),
        }
    }
}

impl std::error::Error for StoreError {}

impl StoreError {
    /// The Redis-specific error inside `e` (directly, or as the cause of a
    /// [`RedisFailure`]), if any.
    pub fn of(e: &InventoryError) -> Option<&StoreError> {
        if let Some(failure) = RedisFailure::of(e) {
            return failure.cause.downcast_ref::<StoreError>();
        }
        match e {
            InventoryError::Backend(inner)
            | InventoryError::Unavailable(inner)
            | InventoryError::OutcomeUnknown(inner) => inner.downcast_ref::<StoreError>(),
            _ => None,
        }
    }

    /// This error as the port's error.
    pub(crate) fn into_inventory(self) -> InventoryError {
        match self {
            StoreError::DurabilityNotConfirmed { .. } => InventoryError::OutcomeUnknown(Box::new(self)),
            other => InventoryError::Backend(Box::new(other)),
        }
    }
}

/// A failure of the Redis store in one operation, as the port's
/// `Backend`, `Unavailable` and `OutcomeUnknown` errors of this crate
/// carry it: booking-core's
/// [`StoreFailure`], naming the store (`Redis`), the operation (the port's
/// method, `connect` for a builder, `restore_sale`, ...) and the cause (a
/// `redis::RedisError`, a [`StoreError`], an answer the library could not
/// read). `Display` reads `"Redis, <operation>: <cause>"`.
///
/// ```rust
/// # fn demo(e: booking_core::InventoryError) {
/// use booking_redis::RedisFailure;
///
/// if let Some(f) = RedisFailure::of(&e) {
///     eprintln!("the Redis store failed in {}: {}", f.operation, f.cause);
/// }
/// # }
/// ```
pub type RedisFailure = StoreFailure;

/// The store's name in its failures.
const STORE: &str = "Redis";

/// A failure of the store in `operation`.
pub(crate) fn failure(operation: &'static str, cause: Box<dyn Error + Send + Sync>) -> RedisFailure {
    StoreFailure::new(STORE, operation, cause)
}

/// Names `operation` in a failure of the store (`Backend`, `Unavailable`,
/// `OutcomeUnknown`); decisions pass unchanged, and so does a failure that
/// already names its operation.
pub(crate) fn in_operation(operation: &'static str) -> impl Fn(InventoryError) -> InventoryError {
    failure::in_operation(STORE, operation)
}
