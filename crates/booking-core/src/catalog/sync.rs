//! Keeping the catalog's availability summaries fresh from the inventory:
//! a service generic over both ports, run on demand, per show along its
//! change feed, or as a ready worker over every listed show.

use super::{AvailabilityPolicy, AvailabilitySummary, Catalog, CatalogError, InvalidField};
use crate::clock::Clock;
use crate::error::InventoryError;
use crate::ids::{PriceCategory, ShowId};
use crate::inventory::SeatInventory;
use crate::worker::Worker;
use std::collections::HashMap;
use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;
use thiserror::Error;

/// Why a refresh failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SyncError {
    /// Reading the inventory failed.
    #[error("inventory: {0}")]
    Inventory(#[from] InventoryError),
    /// Storing in the catalog failed.
    #[error("catalog: {0}")]
    Catalog(#[from] CatalogError),
}

/// What a round of refreshes did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncRound {
    /// Summaries stored.
    pub stored: u64,
    /// Summaries read but not stored: a newer one was there.
    pub stale: u64,
    /// Shows the inventory lists but the catalog does not know.
    pub unknown: u64,
    /// Refreshes that failed (tried again next round).
    pub errors: u64,
}

/// Refreshes availability summaries: reads a show's inventory snapshot,
/// sums it ([`AvailabilitySummary::from_snapshot`]) and stores the sum in
/// the catalog.
///
/// Each summary is stamped with this service's clock read before the
/// snapshot, and the catalog keeps the newest, so refreshes racing each
/// other (two workers, a worker and a feed follower) leave the latest
/// reading. A listing is as fresh as the last refresh: run
/// [`AvailabilitySync::follow`] for shows on sale now and the worker
/// ([`AvailabilitySync::spawn`]) for the rest.
#[derive(Debug)]
pub struct AvailabilitySync<C: ?Sized, I: ?Sized> {
    catalog: Arc<C>,
    inventory: Arc<I>,
    clock: Arc<dyn Clock>,
    policy: AvailabilityPolicy,
    /// Each show's pool categories, read once from its spec (pools never
    /// change after a show is created).
    pools: Mutex<HashMap<ShowId, Arc<[PriceCategory]>>>,
}

impl<C: Catalog + ?Sized, I: SeatInventory + ?Sized> AvailabilitySync<C, I> {
    /// A service storing summaries of `inventory` in `catalog`, stamped by
    /// `clock`, with the default policy.
    pub fn new(catalog: Arc<C>, inventory: Arc<I>, clock: Arc<dyn Clock>) -> Self {
        AvailabilitySync {
            catalog,
            inventory,
            clock,
            policy: AvailabilityPolicy::default(),
            pools: Mutex::new(HashMap::new()),
        }
    }

    /// Uses `policy` to decide when a show is selling fast.
    pub fn with_policy(mut self, policy: AvailabilityPolicy) -> Result<Self, InvalidField> {
        policy.validate()?;
        self.policy = policy;
        Ok(self)
    }

    async fn pool_categories(&self, show: ShowId) -> Result<Arc<[PriceCategory]>, SyncError> {
        if let Some(c) = self.pools.lock().unwrap_or_else(|e| e.into_inner()).get(&show) {
            return Ok(c.clone());
        }
        let spec = self.inventory.show_spec(show).await?;
        let categories: Arc<[PriceCategory]> = spec.pools.iter().map(|p| p.category).collect();
        self.pools.lock().unwrap_or_else(|e| e.into_inner()).insert(show, categories.clone());
        Ok(categories)
    }

    /// Reads `show`'s snapshot and stores its summary; returns the summary
    /// and whether the catalog took it (false: it had a newer one).
    ///
    /// Errors: the inventory's (`UnknownShow`, ...), the catalog's
    /// (`UnknownShow` when the catalog has no such show, ...).
    pub async fn refresh(&self, show: ShowId) -> Result<(AvailabilitySummary, bool), SyncError> {
        let observed_at = self.clock.now();
        let snapshot = self.inventory.snapshot(show).await?;
        let pools = if snapshot.pools.is_empty() { Arc::from([]) } else { self.pool_categories(show).await? };
        let summary = AvailabilitySummary::from_snapshot(&snapshot, &pools, &self.policy, observed_at);
        let stored = self.catalog.set_availability(show, &summary).await?;
        Ok((summary, stored))
    }

    /// Refreshes every show the inventory lists (not archived) that the
    /// catalog knows.
    ///
    /// Errors: listing the inventory's shows failed.
    pub async fn refresh_listed(&self) -> Result<SyncRound, SyncError> {
        let mut round = SyncRound::default();
        for show in self.inventory.list_shows().await? {
            self.count(&mut round, self.refresh(show).await);
        }
        Ok(round)
    }

    fn count(&self, round: &mut SyncRound, r: Result<(AvailabilitySummary, bool), SyncError>) {
        match r {
            Ok((_, true)) => round.stored += 1,
            Ok((_, false)) => round.stale += 1,
            Err(SyncError::Catalog(CatalogError::UnknownShow(_))) => round.unknown += 1,
            // Archived or gone since it was listed.
            Err(SyncError::Inventory(InventoryError::UnknownShow(_))) => {}
            Err(_) => round.errors += 1,
        }
    }

    /// Follows `show`'s change feed: refreshes once at once, then after
    /// changes, at most once per `min_interval` (changes arriving in
    /// between are folded into the next refresh; a lagging feed only
    /// means a refresh is due). Returns when the feed ends; a failed
    /// refresh is counted and the next change tries again.
    ///
    /// Errors: subscribing failed.
    pub async fn follow(&self, show: ShowId, min_interval: Duration) -> Result<SyncRound, SyncError> {
        let mut feed = self.inventory.subscribe(show).await?;
        let mut round = SyncRound::default();
        self.count(&mut round, self.refresh(show).await);
        loop {
            if poll_fn(|cx| feed.as_mut().poll_next(cx)).await.is_none() {
                return Ok(round);
            }
            tokio::time::sleep(min_interval).await;
            // Take whatever arrived meanwhile without waiting for more.
            let open = poll_fn(|cx| {
                loop {
                    match feed.as_mut().poll_next(cx) {
                        Poll::Ready(Some(_)) => continue,
                        Poll::Ready(None) => return Poll::Ready(false),
                        Poll::Pending => return Poll::Ready(true),
                    }
                }
            })
            .await;
            self.count(&mut round, self.refresh(show).await);
            if !open {
                return Ok(round);
            }
        }
    }
}

impl<C: Catalog + ?Sized + 'static, I: SeatInventory + ?Sized + 'static> AvailabilitySync<C, I> {
    /// Runs [`AvailabilitySync::refresh_listed`] every `every` in the
    /// background until stopped; the worker's items count summaries
    /// stored.
    pub fn spawn(self: Arc<Self>, every: Duration) -> Worker {
        Worker::spawn(every, move || {
            let sync = self.clone();
            async move {
                match sync.refresh_listed().await {
                    Ok(r) if r.errors == 0 => Ok(r.stored),
                    Ok(r) => Err(r.errors),
                    Err(_) => Err(1),
                }
            }
        })
    }
}
