//! Background work of checkout, as ready workers: the completer that
//! finishes sagas left unfinished (a crash, a provider that did not
//! answer), and the outbox relay that delivers messages at least once.
//! Each has a `run_once` for tests and cron-like callers, and a `spawn`
//! that runs it at an interval until stopped, with counters a metrics
//! exporter can read.

use super::{Checkout, CheckoutError, Outbox, OutboxMessage, WorkerId};
use async_trait::async_trait;
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Counters of a running worker.
#[derive(Debug, Default)]
pub struct WorkerStats {
    runs: AtomicU64,
    items: AtomicU64,
    errors: AtomicU64,
}

impl WorkerStats {
    /// Rounds run so far.
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// Items handled (sagas finished, messages delivered) so far.
    pub fn items(&self) -> u64 {
        self.items.load(Ordering::Relaxed)
    }

    /// Rounds or items that failed so far (retried in a later round).
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}

/// A worker running in the background; stop it with [`Worker::stop`].
#[derive(Debug)]
pub struct Worker {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
    stats: Arc<WorkerStats>,
}

impl Worker {
    /// Runs `round` every `every` until stopped. A round's `Ok(n)` counts
    /// `n` items; an `Err` counts an error.
    pub fn spawn<F, Fut>(every: Duration, mut round: F) -> Worker
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<u64, u64>> + Send,
    {
        let (stop, mut stopped) = watch::channel(false);
        let stats = Arc::new(WorkerStats::default());
        let counters = stats.clone();
        let handle = tokio::spawn(async move {
            loop {
                let (items, errors) = match round().await {
                    Ok(n) => (n, 0),
                    Err(n) => (0, n.max(1)),
                };
                counters.runs.fetch_add(1, Ordering::Relaxed);
                counters.items.fetch_add(items, Ordering::Relaxed);
                counters.errors.fetch_add(errors, Ordering::Relaxed);
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stopped.changed() => break,
                }
            }
        });
        Worker { stop, handle, stats }
    }

    /// The worker's counters.
    pub fn stats(&self) -> &Arc<WorkerStats> {
        &self.stats
    }

    /// Stops after the round in progress, and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.handle.await;
    }
}

/// What one round of the completer did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompleterStats {
    /// Unfinished orders claimed.
    pub claimed: u64,
    /// Of those, brought to a final status.
    pub finished: u64,
    /// Of those, still waiting for an answer (tried again later).
    pub pending: u64,
    /// Of those, stopped by a store error.
    pub failed: u64,
}

/// Finishes unfinished sagas: after a crash, after a provider that did not
/// answer, after a webhook. Safe to run on several servers at once: each
/// saga is claimed under a lease, and every step is recorded once whatever
/// runs it.
#[derive(Debug, Clone)]
pub struct Completer {
    checkout: Checkout,
    id: WorkerId,
    lease: Duration,
    batch: usize,
}

impl Completer {
    /// A completer claiming up to `batch` orders per round, each for
    /// `lease` (longer than a round's work on one order takes).
    pub fn new(checkout: Checkout, lease: Duration, batch: usize) -> Self {
        let id = WorkerId(uuid::Uuid::now_v7().as_u128());
        Completer { checkout, id, lease, batch: batch.max(1) }
    }

    /// One round: claims unfinished orders and drives each as far as it
    /// goes.
    pub async fn run_once(&self) -> Result<CompleterStats, CheckoutError> {
        let claimed = self.checkout.log().claim_unfinished(self.id, self.lease, self.batch).await?;
        let mut stats = CompleterStats { claimed: claimed.len() as u64, ..CompleterStats::default() };
        for order in claimed {
            match self.checkout.drive(order).await {
                Ok(_) => stats.finished += 1,
                Err(CheckoutError::Pending { .. }) => stats.pending += 1,
                Err(_) => stats.failed += 1,
            }
        }
        Ok(stats)
    }

    /// Runs a round every `every` in the background.
    pub fn spawn(self, every: Duration) -> Worker {
        Worker::spawn(every, move || {
            let c = self.clone();
            async move {
                match c.run_once().await {
                    Ok(s) if s.failed == 0 => Ok(s.finished),
                    Ok(s) => Err(s.failed),
                    Err(_) => Err(1),
                }
            }
        })
    }
}

/// Where the outbox relay delivers messages (email, SMS, a queue, a
/// webhook). Deliveries are at least once: a consumer dedupes by
/// [`OutboxMessage::id`].
#[async_trait]
pub trait Deliver: Send + Sync + Debug {
    /// Delivers one message; an error leaves it for a later round.
    async fn deliver(&self, msg: &OutboxMessage) -> Result<(), String>;
}

/// What one round of the relay did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Messages claimed.
    pub claimed: u64,
    /// Delivered and acknowledged.
    pub delivered: u64,
    /// Delivery failed; tried again when the claim lapses.
    pub failed: u64,
}

/// Delivers outbox messages at least once.
#[derive(Debug, Clone)]
pub struct OutboxRelay {
    outbox: Arc<dyn Outbox>,
    deliver: Arc<dyn Deliver>,
    id: WorkerId,
    lease: Duration,
    batch: usize,
}

impl OutboxRelay {
    /// A relay claiming up to `batch` messages per round, each for `lease`.
    pub fn new(outbox: Arc<dyn Outbox>, deliver: Arc<dyn Deliver>, lease: Duration, batch: usize) -> Self {
        OutboxRelay { outbox, deliver, id: WorkerId(uuid::Uuid::now_v7().as_u128()), lease, batch: batch.max(1) }
    }

    /// One round: claims, delivers, acknowledges.
    pub async fn run_once(&self) -> Result<RelayStats, super::StoreError> {
        let msgs = self.outbox.claim(self.id, self.lease, self.batch).await?;
        let mut stats = RelayStats { claimed: msgs.len() as u64, ..RelayStats::default() };
        for m in msgs {
            match self.deliver.deliver(&m).await {
                Ok(()) => {
                    self.outbox.ack(&m.id).await?;
                    stats.delivered += 1;
                }
                Err(_) => stats.failed += 1,
            }
        }
        Ok(stats)
    }

    /// Runs a round every `every` in the background.
    pub fn spawn(self, every: Duration) -> Worker {
        Worker::spawn(every, move || {
            let r = self.clone();
            async move {
                match r.run_once().await {
                    Ok(s) if s.failed == 0 => Ok(s.delivered),
                    Ok(s) => Err(s.failed),
                    Err(_) => Err(1),
                }
            }
        })
    }
}
