//! A show's change feed: a broadcast channel that costs nothing while no
//! one listens.

use crate::sync::{Arc, AtomicUsize, Ordering};
use booking_core::{ChangeStream, InventoryError, SeatChange};
use futures_core::Stream;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

/// Events a subscriber may fall behind by before it is told it lagged.
const CAPACITY: usize = 4096;

#[derive(Debug)]
pub(crate) struct Feed {
    /// Made on first subscription: its buffer is worth ~600 KB, which a
    /// show nobody watches should not pay.
    tx: std::sync::OnceLock<broadcast::Sender<SeatChange>>,
    subscribers: Arc<AtomicUsize>,
}

impl Feed {
    pub(crate) fn new() -> Self {
        Feed { tx: std::sync::OnceLock::new(), subscribers: Arc::new(AtomicUsize::new(0)) }
    }

    /// True when someone listens; checked before an event is even built.
    pub(crate) fn has_subscribers(&self) -> bool {
        self.subscribers.load(Ordering::Acquire) > 0
    }

    pub(crate) fn publish(&self, change: SeatChange) {
        if let Some(tx) = self.tx.get() {
            // An error only means every receiver has gone since the check.
            let _ = tx.send(change);
        }
    }

    pub(crate) fn subscribe(&self) -> ChangeStream {
        let rx = self.tx.get_or_init(|| broadcast::channel(CAPACITY).0).subscribe();
        self.subscribers.fetch_add(1, Ordering::AcqRel);
        Box::pin(Subscription { inner: BroadcastStream::new(rx), count: self.subscribers.clone() })
    }
}

struct Subscription {
    inner: BroadcastStream<SeatChange>,
    count: Arc<AtomicUsize>,
}

impl Stream for Subscription {
    type Item = Result<SeatChange, InventoryError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.inner).poll_next(cx).map(|item| {
            item.map(|r| r.map_err(|BroadcastStreamRecvError::Lagged(missed)| InventoryError::FeedLagged { missed }))
        })
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}
