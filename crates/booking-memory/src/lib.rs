#![doc = include_str!("../README.md")]

// The workspace README compiles as a doctest too.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct WorkspaceReadme;

pub mod admission;
pub mod catalog;
pub mod checkout;
mod feed;
mod hash;
mod idempotency;
mod ids;
pub mod limits;
mod lock;
mod now;
mod owners;
mod payers;
mod show;
#[cfg(not(booking_loom))]
mod spin;
mod sync;
mod tick;
pub mod tickets;

use async_trait::async_trait;
use booking_core::{
    Audit, ChangeStream, Clock, ExpiredHold, Hold, HoldAction, HoldBest, HoldPool, HoldSeats, InventoryError, Refund,
    Result, Sale, SeatId, SeatInventory, Sell, ShowId, ShowSpec, Snapshot,
};
pub use catalog::MemoryCatalog;
pub use idempotency::MemoryIdempotencyStore;
pub use limits::{MemoryBlacklist, MemoryRateLimitStore};
pub use lock::MemorySeatLock;
pub use now::CoarseClock;
use show::ShowState;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use sync::{Arc, RwLock};
pub use tick::TickClock;

/// Distinguishes inventories in the per-thread show cache.
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

#[cfg(not(booking_loom))]
thread_local! {
    static LAST_SHOW: std::cell::RefCell<Option<(u64, ShowId, Arc<ShowState>)>> = const { std::cell::RefCell::new(None) };
}

/// Shards of the show map; shows hash across them.
const SHOW_SHARDS: usize = 16;

/// Slots of an inventory's hot-show table (see `MemoryInventory::hot`).
#[cfg(not(booking_loom))]
const HOT_SLOTS: usize = 64;

type ShowMap = HashMap<ShowId, Arc<ShowState>, hash::IdHash>;

/// The whole seat inventory in process memory: the embedded default.
///
/// Cheap to share (`Arc<MemoryInventory>` or `Arc<dyn SeatInventory>`).
/// Shows live in a sharded map; within a show, seats are spread over up to
/// 256 locks, so requests on different shows or different seats rarely
/// wait on each other. Nothing is persisted: a restart starts empty.
///
/// Most shows are found in a table the inventory fills as shows are
/// created (one show per slot, kept for the inventory's life): a load and
/// a compare, no lock. A show whose slot another show took is found
/// through the last show each thread served, then the sharded map; that
/// thread's reference keeps the show's state alive until the thread serves
/// another show or exits, even after the inventory is dropped.
#[derive(Debug)]
pub struct MemoryInventory {
    /// Tells this inventory's entries in the per-thread show cache apart
    /// (the cache is off in the loom models).
    #[cfg_attr(booking_loom, allow(dead_code))]
    id: u64,
    /// The clock (outside the model-checked core: always `std`'s Arc).
    clock: now::Now,
    shards: Box<[RwLock<ShowMap>]>,
    /// A show found without the per-thread cache or a lock: the first show
    /// created in each slot (by its id's hash) stays there for the
    /// inventory's life, as shows are never removed. Reading a set slot is
    /// a plain load of memory no request writes, so threads serving the
    /// same show share it without contention; a show whose slot is taken
    /// goes through the per-thread cache as before.
    #[cfg(not(booking_loom))]
    hot: Box<[std::sync::OnceLock<Arc<ShowState>>]>,
}

impl Default for MemoryInventory {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryInventory {
    /// An empty inventory on the system clock.
    pub fn new() -> Self {
        Self::with_now(now::Now::System)
    }

    /// An empty inventory that decides expiry by `clock` (design I8); tests
    /// pass a [`booking_core::ManualClock`].
    pub fn with_clock(clock: std::sync::Arc<dyn Clock>) -> Self {
        Self::with_now(now::Now::Clock(clock))
    }

    fn with_now(clock: now::Now) -> Self {
        MemoryInventory {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            clock,
            shards: (0..SHOW_SHARDS).map(|_| RwLock::new(HashMap::default())).collect(),
            #[cfg(not(booking_loom))]
            hot: (0..HOT_SLOTS).map(|_| std::sync::OnceLock::new()).collect(),
        }
    }

    fn shard(&self, show: ShowId) -> &RwLock<ShowMap> {
        &self.shards[hash::slot(show.as_u128(), SHOW_SHARDS)]
    }

    fn lookup(&self, show: ShowId) -> Result<Arc<ShowState>> {
        let map = self.shard(show).read().unwrap_or_else(|e| e.into_inner());
        map.get(&show).cloned().ok_or(InventoryError::UnknownShow(show))
    }

    /// Runs `f` on a show's state. Shows are never removed, so the
    /// per-thread cache can never serve a stale entry.
    #[cfg(not(booking_loom))]
    #[inline]
    fn with_show<R>(&self, show: ShowId, f: impl FnOnce(&ShowState) -> Result<R>) -> Result<R> {
        if let Some(state) = self.hot[hash::slot(show.as_u128(), HOT_SLOTS)].get()
            && state.spec.id == show
        {
            return f(state);
        }
        LAST_SHOW.with(|last| {
            if let Some((inv, id, state)) = &*last.borrow()
                && *inv == self.id
                && *id == show
            {
                return f(state);
            }
            let state = self.lookup(show)?;
            let r = f(&state);
            *last.borrow_mut() = Some((self.id, show, state));
            r
        })
    }

    /// Under loom every lookup goes through the shared map.
    #[cfg(booking_loom)]
    fn with_show<R>(&self, show: ShowId, f: impl FnOnce(&ShowState) -> Result<R>) -> Result<R> {
        let state = self.lookup(show)?;
        f(&state)
    }

    fn now(&self) -> i64 {
        self.clock.millis()
    }

    /// Creates a show (the synchronous form of [`SeatInventory::create_show`]).
    pub fn create_show_sync(&self, spec: &ShowSpec) -> Result<()> {
        spec.validate()?;
        // Built before the shard is locked: packing a large layout takes a
        // while, and other shows of the shard stay readable meanwhile.
        let state = Arc::new(ShowState::new(spec));
        let mut map = self.shard(spec.id).write().unwrap_or_else(|e| e.into_inner());
        if map.contains_key(&spec.id) {
            return Err(InventoryError::ShowExists(spec.id));
        }
        // Kept by the slot only if it is still free (a `set` on a taken
        // slot changes nothing).
        #[cfg(not(booking_loom))]
        let _ = self.hot[hash::slot(spec.id.as_u128(), HOT_SLOTS)].set(state.clone());
        map.insert(spec.id, state);
        Ok(())
    }

    /// Holds seats (the synchronous form of [`SeatInventory::hold_seats`]).
    pub fn hold_seats_sync(&self, req: &HoldSeats) -> Result<Hold> {
        self.with_show(req.show, |s| s.hold_seats(req.owner, &req.seats, self.now()))
    }

    /// Releases a hold (the synchronous form of [`SeatInventory::release`]).
    pub fn release_sync(&self, req: &HoldAction) -> Result<()> {
        self.with_show(req.token.show, |s| s.release(req, self.now()))
    }

    /// Sells a hold (the synchronous form of [`SeatInventory::sell`]).
    pub fn sell_sync(&self, req: &Sell) -> Result<Sale> {
        self.with_show(req.token.show, |s| s.sell(req, self.now()))
    }

    /// Holds the best seats (the synchronous form of [`SeatInventory::hold_best`]).
    pub fn hold_best_sync(&self, req: &HoldBest) -> Result<Hold> {
        self.with_show(req.show, |s| s.hold_best(req, self.now()))
    }

    /// Sweeps a show (the synchronous form of [`SeatInventory::sweep_expired`]).
    pub fn sweep_expired_sync(&self, show: ShowId, limit: usize) -> Result<Vec<ExpiredHold>> {
        self.with_show(show, |s| s.sweep(limit, self.now()))
    }

    /// Blocks seats (the synchronous form of [`SeatInventory::block`]).
    pub fn block_sync(&self, show: ShowId, seats: &[SeatId]) -> Result<()> {
        self.with_show(show, |s| s.block(seats, true, self.now()))
    }

    /// A show's snapshot (the synchronous form of [`SeatInventory::snapshot`]).
    pub fn snapshot_sync(&self, show: ShowId) -> Result<Snapshot> {
        self.with_show(show, |s| Ok(s.snapshot(self.now())))
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
        self.with_show(req.show, |s| s.hold_pool(req.owner, req.pool, req.quantity, self.now()))
    }

    async fn extend(&self, req: &HoldAction) -> Result<Hold> {
        self.with_show(req.token.show, |s| s.extend(req, self.now()))
    }

    async fn release(&self, req: &HoldAction) -> Result<()> {
        self.release_sync(req)
    }

    async fn sell(&self, req: &Sell) -> Result<Sale> {
        self.sell_sync(req)
    }

    async fn refund(&self, req: &Refund) -> Result<()> {
        self.with_show(req.show, |s| s.refund(req, self.now()))
    }

    async fn block(&self, show: ShowId, seats: &[SeatId]) -> Result<()> {
        self.block_sync(show, seats)
    }

    async fn unblock(&self, show: ShowId, seats: &[SeatId]) -> Result<()> {
        self.with_show(show, |s| s.block(seats, false, self.now()))
    }

    async fn snapshot(&self, show: ShowId) -> Result<Snapshot> {
        self.snapshot_sync(show)
    }

    async fn sweep_expired(&self, show: ShowId, limit: usize) -> Result<Vec<ExpiredHold>> {
        self.sweep_expired_sync(show, limit)
    }

    async fn verify(&self, req: &HoldAction) -> Result<Hold> {
        self.with_show(req.token.show, |s| s.verify(req, self.now()))
    }

    async fn audit(&self, show: ShowId) -> Result<Audit> {
        self.with_show(show, |s| Ok(s.audit(self.now())))
    }

    async fn list_shows(&self) -> Result<Vec<ShowId>> {
        let mut shows: Vec<ShowId> = self
            .shards
            .iter()
            .flat_map(|shard| {
                let map = shard.read().unwrap_or_else(|e| e.into_inner());
                map.iter().filter(|(_, s)| !s.archived.load(Ordering::Relaxed)).map(|(id, _)| *id).collect::<Vec<_>>()
            })
            .collect();
        shows.sort_unstable();
        Ok(shows)
    }

    async fn show_spec(&self, show: ShowId) -> Result<ShowSpec> {
        self.with_show(show, |s| Ok(s.full_spec()))
    }

    async fn archive_show(&self, show: ShowId) -> Result<()> {
        self.with_show(show, |s| {
            s.archived.store(true, Ordering::Relaxed);
            Ok(())
        })
    }

    /// The memory feed is a bounded buffer: nothing to prune.
    async fn prune_feed(&self, _older_than: std::time::Duration) -> Result<u64> {
        Ok(0)
    }

    async fn subscribe(&self, show: ShowId) -> Result<ChangeStream> {
        self.with_show(show, |s| Ok(s.feed.subscribe()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use booking_core::{HoldAction, OwnerId, PriceCategory, SeatStatus, VenueLayout};

    /// More shows than hot slots: each request reaches its own show, whether
    /// found in the hot table, the per-thread cache or the map, from
    /// threads that served other shows in between.
    #[test]
    fn every_show_is_served_through_the_hot_table_or_the_cache() {
        let inv = MemoryInventory::new();
        let shows: Vec<ShowSpec> = (0..3 * HOT_SLOTS as u32)
            .map(|i| ShowSpec::new("show", VenueLayout::grid(1, 1, 1 + i % 7, PriceCategory(1))))
            .collect();
        for spec in &shows {
            inv.create_show_sync(spec).expect("create");
        }
        std::thread::scope(|scope| {
            for t in 0..2usize {
                let (inv, shows) = (&inv, &shows);
                scope.spawn(move || {
                    let owner = OwnerId::new();
                    for (i, spec) in shows.iter().enumerate().filter(|(i, _)| i % 2 == t) {
                        let seat = SeatId(i as u32 % 7 % spec.layout.seat_count() as u32);
                        let held =
                            inv.hold_seats_sync(&HoldSeats { show: spec.id, owner, seats: vec![seat] }).expect("hold");
                        assert_eq!(held.token.show, spec.id);
                        let snap = inv.snapshot_sync(spec.id).expect("snapshot");
                        assert_eq!(snap.seats.len(), spec.layout.seat_count());
                        let taken: Vec<usize> =
                            (0..snap.seats.len()).filter(|&k| snap.seats[k].status == SeatStatus::Held).collect();
                        assert_eq!(taken, vec![seat.0 as usize], "show {i}");
                        inv.release_sync(&HoldAction { owner, token: held.token }).expect("release");
                    }
                });
            }
        });
        let unknown = ShowId::new();
        assert!(matches!(inv.snapshot_sync(unknown), Err(InventoryError::UnknownShow(s)) if s == unknown));
    }

    #[test]
    fn a_seat_fits_in_64_bytes() {
        assert!(std::mem::size_of::<booking_core::backend::fsm::Seat>() <= 64);
    }
}
