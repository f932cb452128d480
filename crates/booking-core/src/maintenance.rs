//! Inventory maintenance as a ready worker: sweeps expired holds of every
//! listed show and prunes the change feed, at an interval, with counters.
//! Embedders start one per deployment (several are safe: each expired seat
//! is freed by one sweep).

use crate::error::InventoryError;
use crate::inventory::SeatInventory;
use crate::worker::Worker;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What maintenance does each round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaintenanceConfig {
    /// Expired seats and pool holds freed per show per round, at most.
    pub sweep_limit: usize,
    /// Change-feed entries older than this are pruned.
    pub feed_retention: Duration,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        MaintenanceConfig { sweep_limit: 10_000, feed_retention: Duration::from_secs(3600) }
    }
}

/// What one round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaintenanceRound {
    /// Shows swept.
    pub shows: u64,
    /// Holds freed (a hold split over two sweeps counts twice).
    pub holds_freed: u64,
    /// Change-feed entries pruned.
    pub feed_pruned: u64,
    /// Shows whose sweep failed (tried again next round).
    pub errors: u64,
}

/// Totals since the worker started, for a metrics exporter.
#[derive(Debug, Default)]
pub struct MaintenanceTotals {
    /// Holds freed.
    pub holds_freed: AtomicU64,
    /// Change-feed entries pruned.
    pub feed_pruned: AtomicU64,
}

/// Sweeps and prunes an inventory.
#[derive(Debug)]
pub struct Maintenance<I: ?Sized = dyn SeatInventory> {
    inventory: Arc<I>,
    config: MaintenanceConfig,
    totals: Arc<MaintenanceTotals>,
}

impl<I: ?Sized> Clone for Maintenance<I> {
    fn clone(&self) -> Self {
        Maintenance { inventory: self.inventory.clone(), config: self.config.clone(), totals: self.totals.clone() }
    }
}

impl<I: SeatInventory + ?Sized + 'static> Maintenance<I> {
    /// Maintenance of `inventory`.
    pub fn new(inventory: Arc<I>, config: MaintenanceConfig) -> Self {
        Maintenance { inventory, config, totals: Arc::default() }
    }

    /// Totals since this maintenance was made.
    pub fn totals(&self) -> &Arc<MaintenanceTotals> {
        &self.totals
    }

    /// One round: every listed show swept once, then the feed pruned.
    pub async fn run_once(&self) -> Result<MaintenanceRound, InventoryError> {
        let mut round = MaintenanceRound::default();
        for show in self.inventory.list_shows().await? {
            match self.inventory.sweep_expired(show, self.config.sweep_limit.max(1)).await {
                Ok(freed) => {
                    round.shows += 1;
                    round.holds_freed += freed.len() as u64;
                }
                // Archived or deleted since it was listed.
                Err(InventoryError::UnknownShow(_)) => {}
                Err(_) => round.errors += 1,
            }
        }
        round.feed_pruned = self.inventory.prune_feed(self.config.feed_retention).await?;
        self.totals.holds_freed.fetch_add(round.holds_freed, Ordering::Relaxed);
        self.totals.feed_pruned.fetch_add(round.feed_pruned, Ordering::Relaxed);
        Ok(round)
    }

    /// Runs a round every `every` in the background until stopped; the
    /// worker's items count holds freed.
    pub fn spawn(self, every: Duration) -> Worker {
        Worker::spawn(every, move || {
            let m = self.clone();
            async move {
                match m.run_once().await {
                    Ok(r) if r.errors == 0 => Ok(r.holds_freed),
                    Ok(r) => Err(r.errors),
                    Err(_) => Err(1),
                }
            }
        })
    }
}
