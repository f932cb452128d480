#![doc = include_str!("../README.md")]

mod feed;
mod owners;
mod show;
mod sync;

use async_trait::async_trait;
use booking_core::{
    ChangeStream, Clock, ExpiredHold, Hold, HoldAction, HoldBest, HoldPool, HoldSeats, InventoryError, Refund, Result,
    Sale, SeatId, SeatInventory, Sell, ShowId, ShowSpec, Snapshot, SystemClock,
};
use show::ShowState;
use std::collections::HashMap;
use sync::{Arc, RwLock};

/// Shards of the show map; shows hash across them.
const SHOW_SHARDS: usize = 16;

type ShowMap = HashMap<ShowId, Arc<ShowState>>;

/// The whole seat inventory in process memory: the embedded default.
///
/// Cheap to share (`Arc<MemoryInventory>` or `Arc<dyn SeatInventory>`).
/// Shows live in a sharded map; within a show, seats are spread over up to
/// 256 locks, so requests on different shows or different seats rarely
/// wait on each other. Nothing is persisted: a restart starts empty.
#[derive(Debug)]
pub struct MemoryInventory {
    // Always `std`'s Arc: the clock is outside the model-checked core.
    clock: std::sync::Arc<dyn Clock>,
    shards: Box<[RwLock<ShowMap>]>,
}

impl Default for MemoryInventory {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryInventory {
    /// An empty inventory on the system clock.
    pub fn new() -> Self {
        Self::with_clock(std::sync::Arc::new(SystemClock))
    }

    /// An empty inventory that decides expiry by `clock` (DESIGN I9); tests
    /// pass a [`booking_core::ManualClock`].
    pub fn with_clock(clock: std::sync::Arc<dyn Clock>) -> Self {
        MemoryInventory { clock, shards: (0..SHOW_SHARDS).map(|_| RwLock::new(HashMap::new())).collect() }
    }

    fn shard(&self, show: ShowId) -> &RwLock<ShowMap> {
        let b = show.as_u128();
        &self.shards[((b ^ (b >> 64)) as usize) % SHOW_SHARDS]
    }

    fn show(&self, show: ShowId) -> Result<Arc<ShowState>> {
        let map = self.shard(show).read().unwrap_or_else(|e| e.into_inner());
        map.get(&show).cloned().ok_or(InventoryError::UnknownShow(show))
    }

    fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    /// Creates a show (the synchronous form of [`SeatInventory::create_show`]).
    pub fn create_show_sync(&self, spec: &ShowSpec) -> Result<()> {
        spec.validate()?;
        let mut map = self.shard(spec.id).write().unwrap_or_else(|e| e.into_inner());
        if map.contains_key(&spec.id) {
            return Err(InventoryError::ShowExists(spec.id));
        }
        map.insert(spec.id, Arc::new(ShowState::new(spec.clone())));
        Ok(())
    }

    /// Holds seats (the synchronous form of [`SeatInventory::hold_seats`]).
    pub fn hold_seats_sync(&self, req: &HoldSeats) -> Result<Hold> {
        self.show(req.show)?.hold_seats(req.owner, &req.seats, self.now())
    }

    /// Releases a hold (the synchronous form of [`SeatInventory::release`]).
    pub fn release_sync(&self, req: &HoldAction) -> Result<()> {
        self.show(req.token.show)?.release(req, self.now())
    }

    /// Sells a hold (the synchronous form of [`SeatInventory::sell`]).
    pub fn sell_sync(&self, req: &Sell) -> Result<Sale> {
        self.show(req.token.show)?.sell(req, self.now())
    }

    /// Holds the best seats (the synchronous form of [`SeatInventory::hold_best`]).
    pub fn hold_best_sync(&self, req: &HoldBest) -> Result<Hold> {
        self.show(req.show)?.hold_best(req, self.now())
    }

    /// Sweeps a show (the synchronous form of [`SeatInventory::sweep_expired`]).
    pub fn sweep_expired_sync(&self, show: ShowId, limit: usize) -> Result<Vec<ExpiredHold>> {
        self.show(show)?.sweep(limit, self.now())
    }

    /// A show's snapshot (the synchronous form of [`SeatInventory::snapshot`]).
    pub fn snapshot_sync(&self, show: ShowId) -> Result<Snapshot> {
        Ok(self.show(show)?.snapshot(self.now()))
    }
}

#[async_trait]
impl SeatInventory for MemoryInventory {
    async fn create_show(&self, show: &ShowSpec) -> Result<()> {
        self.create_show_sync(show)
    }

    async fn hold_seats(&self, req: &HoldSeats) -> Result<Hold> {
        self.hold_seats_sync(req)
    }

    async fn hold_best(&self, req: &HoldBest) -> Result<Hold> {
        self.hold_best_sync(req)
    }

    async fn hold_pool(&self, req: &HoldPool) -> Result<Hold> {
        self.show(req.show)?.hold_pool(req.owner, req.pool, req.quantity, self.now())
    }

    async fn extend(&self, req: &HoldAction) -> Result<Hold> {
        self.show(req.token.show)?.extend(req, self.now())
    }

    async fn release(&self, req: &HoldAction) -> Result<()> {
        self.release_sync(req)
    }

    async fn sell(&self, req: &Sell) -> Result<Sale> {
        self.sell_sync(req)
    }

    async fn refund(&self, req: &Refund) -> Result<()> {
        self.show(req.show)?.refund(req, self.now())
    }

    async fn block(&self, show: ShowId, seats: &[SeatId]) -> Result<()> {
        self.show(show)?.block(seats, true, self.now())
    }

    async fn unblock(&self, show: ShowId, seats: &[SeatId]) -> Result<()> {
        self.show(show)?.block(seats, false, self.now())
    }

    async fn snapshot(&self, show: ShowId) -> Result<Snapshot> {
        self.snapshot_sync(show)
    }

    async fn sweep_expired(&self, show: ShowId, limit: usize) -> Result<Vec<ExpiredHold>> {
        self.sweep_expired_sync(show, limit)
    }

    async fn subscribe(&self, show: ShowId) -> Result<ChangeStream> {
        Ok(self.show(show)?.feed.subscribe())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_seat_fits_in_64_bytes() {
        assert!(std::mem::size_of::<booking_core::fsm::Seat>() <= 64);
    }
}
