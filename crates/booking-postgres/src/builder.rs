//! Setting up a [`PgInventory`]: the builder and the recommended pool options.

use crate::db::{Backoff, Conns};
use crate::feed;
use crate::inventory::{Inner, PgInventory};

use booking_core::{Coalescing, TimeSource};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Pool options this crate recommends: no ping before each acquire (the
/// inventory closes connections that fail at the connection level itself).
pub fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new().test_before_acquire(false).max_connections(16)
}

/// How a [`PgInventory`] is set up; see [`PgInventory::builder`].
pub struct PgInventoryBuilder {
    pub(crate) pool: PgPool,
    pub(crate) time: TimeSource,
    pub(crate) feed_poll: Duration,
    pub(crate) feed_capacity: usize,
    pub(crate) backoff: Backoff,
    pub(crate) coalesce: Option<Coalescing>,
}

impl PgInventoryBuilder {
    /// Which clock decides expiry (docs/design.md, "Time"). The default,
    /// [`TimeSource::Store`], is the database's `clock_timestamp()`, read
    /// inside each function after its row locks: every process of a
    /// deployment agrees, whatever their own clocks say.
    /// [`TimeSource::Injected`] sends the injected clock's Unix-ms time with
    /// every request instead: for tests, which move a
    /// [`booking_core::ManualClock`] rather than sleep.
    pub fn time_source(mut self, time: TimeSource) -> Self {
        self.time = time;
        self
    }

    /// How often the change-feed reader looks for changes made by other
    /// processes while someone is subscribed (default 50 ms). Changes made
    /// through this inventory wake it at once.
    pub fn feed_poll_interval(mut self, every: Duration) -> Self {
        self.feed_poll = every.max(Duration::from_millis(1));
        self
    }

    /// How many changes a subscriber may fall behind before it gets
    /// [`InventoryError::FeedLagged`](booking_core::InventoryError::FeedLagged) (default 4096).
    pub fn feed_capacity(mut self, changes: usize) -> Self {
        self.feed_capacity = changes.max(1);
        self
    }

    /// How often a statement that hit a serialization failure or a deadlock
    /// is retried (default 8), with exponential backoff from 2 ms capped at
    /// 100 ms, jittered.
    pub fn retries(mut self, retries: u32) -> Self {
        self.backoff.retries = retries;
        self
    }

    /// Combines concurrent seat holds and seat releases into one statement
    /// and one commit each. Every caller still gets its own all-or-nothing
    /// answer, decided in arrival order.
    ///
    /// On by default, with [`DEFAULT_COALESCING`](crate::DEFAULT_COALESCING)
    /// (`max_batch` 64, `max_in_flight` 4): with 32 callers on one show it
    /// gave about 2x the single-seat hold+release throughput of the same
    /// inventory without it, at 8 callers about 0.94x, and a lone caller
    /// goes as before (see BENCHMARKS.md). Turn it off with
    /// [`without_coalescing`](Self::without_coalescing).
    ///
    /// When a request waits is [`Coalescing`]'s one meaning, shared with
    /// `booking-redis`: per show and kind (seat holds, seat releases), a
    /// request is sent at once, as the single function call, while fewer
    /// than `max_in_flight` calls (single requests or batches) are in
    /// flight; beyond that it waits, and the waiting requests go together as
    /// one batch of at most `max_batch` when a call returns. Both are at
    /// least 1.
    ///
    /// A request that has to wait starts, on its tokio runtime, the task
    /// that sends the show's batches; it ends when no request waits, and
    /// each batch is a task of its own. A batch whose runtime stops before
    /// the database answers gives its requests `OutcomeUnknown`.
    pub fn coalesce(mut self, settings: Coalescing) -> Self {
        self.coalesce =
            Some(Coalescing { max_batch: settings.max_batch.max(1), max_in_flight: settings.max_in_flight.max(1) });
        self
    }

    /// Sends every seat hold and release as its own function call, however
    /// many callers wait (see [`coalesce`](Self::coalesce), on by default).
    pub fn without_coalescing(mut self) -> Self {
        self.coalesce = None;
        self
    }

    /// Builds the inventory. The schema must exist (see [`migrations`](crate::migrations)).
    pub fn build(self) -> PgInventory {
        let conns = Arc::new(Conns::new(self.pool));
        let feed = feed::Feed::new(conns.clone(), self.backoff, self.feed_poll, self.feed_capacity);
        PgInventory {
            inner: Arc::new(Inner {
                conns,
                time: self.time,
                backoff: self.backoff,
                shows: RwLock::new(HashMap::new()),
                feed,
                coalesce: self.coalesce,
                lanes: Mutex::new(HashMap::new()),
            }),
        }
    }
}
