//! Background work as ready workers: a round run at an interval until
//! stopped, with counters a metrics exporter can read. The checkout's
//! completer and outbox relay and the inventory's maintenance all run as
//! one.

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
