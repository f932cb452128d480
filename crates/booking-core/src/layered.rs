//! A per-seat lock in front of any inventory, to shed contention before it
//! reaches the store (docs/design.md, "Seat lock in front of an inventory").
//!
//! The lock only sheds load: a request that finds a seat locked by another
//! request in flight is answered `SeatsTaken` at once instead of queueing on
//! the database. Correctness stays with the inner inventory's compare-and-set,
//! which checks every seat's version (the fencing token): a lock that
//! vanishes early, a holder paused past the lock's TTL, or a lock store that
//! is down cannot cause a double hold or a double sale. When the lock store
//! fails, requests go straight to the inner inventory.
//!
//! While a seat is locked by a request in flight, another hold naming it is
//! answered `SeatsTaken` without consulting the store, whatever else is
//! wrong with it; sequentially the composition answers exactly as the inner
//! inventory does, and the conformance suite holds it to that.
//!
//! The lock pays where contention is the cost: in an on-sale rush most
//! attempts race holds being decided on the same seats, and the lock refuses
//! them without queueing them on the store. Under steady traffic it adds two
//! lock-store round trips per hold for little shedding (figures for a Redis
//! lock in front of PostgreSQL: `crates/booking-layered/BENCHMARKS.md`).
//!
//! A refusal by the lock yields to the executor once before it is returned.
//! A lock that answers without waiting (an in-process lock) could otherwise
//! refuse a caller that retries at once over and over without the caller's
//! task ever giving way, so that on a small runtime the task holding the lock
//! never gets to finish its hold and release it.

use crate::error::{InventoryError, Result};
use crate::ids::{SeatId, ShowId};
use crate::inventory::{
    Audit, ChangeStream, ExpiredHold, Hold, HoldAction, HoldBest, HoldPool, HoldSeats, Refund, Sale, SeatInventory,
    Sell, Snapshot,
};
use crate::layout::ShowSpec;
use async_trait::async_trait;
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Proof of holding a set of seat locks, given back to unlock them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LockToken(pub u128);

/// What [`SeatLock::try_lock`] got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockOutcome {
    /// Every lock was taken.
    Locked(LockToken),
    /// These seats are locked by someone else; nothing was taken.
    Busy(Vec<SeatId>),
}

/// Short-lived advisory locks on seats.
#[async_trait]
pub trait SeatLock: Send + Sync + Debug {
    /// Takes the locks of all `seats` (sorted, unique) for at most `ttl`, or
    /// none of them.
    ///
    /// Errors: whatever keeps the lock store from answering; the caller
    /// then goes on without locks.
    async fn try_lock(&self, show: ShowId, seats: &[SeatId], ttl: Duration) -> Result<LockOutcome>;

    /// Releases locks taken with `token`; locks that expired or were taken
    /// over since are left alone.
    async fn unlock(&self, show: ShowId, seats: &[SeatId], token: &LockToken) -> Result<()>;
}

/// An inventory behind a [`SeatLock`]. Holds of specific seats take the
/// seats' locks first; everything else goes straight to the inventory.
#[derive(Debug)]
pub struct LockedInventory<L, I> {
    lock: L,
    inner: I,
    ttl: Duration,
}

impl<L: SeatLock, I: SeatInventory> LockedInventory<L, I> {
    /// `inner` behind `lock`, with locks that expire after `ttl` (they are
    /// released as soon as the hold is decided; the TTL only bounds how long
    /// a crashed request can shed others).
    pub fn new(lock: L, inner: I, ttl: Duration) -> Self {
        LockedInventory { lock, inner, ttl }
    }

    /// The inner inventory.
    pub fn inner(&self) -> &I {
        &self.inner
    }

    /// The lock.
    pub fn lock(&self) -> &L {
        &self.lock
    }
}

#[async_trait]
impl<L: SeatLock, I: SeatInventory> SeatInventory for LockedInventory<L, I> {
    async fn create_show(&self, show: &ShowSpec) -> Result<()> {
        self.inner.create_show(show).await
    }

    async fn hold_seats(&self, req: &HoldSeats) -> Result<Hold> {
        let mut seats = req.seats.clone();
        seats.sort_unstable();
        seats.dedup();
        if seats.len() != req.seats.len() || seats.is_empty() {
            // Malformed: let the inventory give its typed answer.
            return self.inner.hold_seats(req).await;
        }
        match self.lock.try_lock(req.show, &seats, self.ttl).await {
            Ok(LockOutcome::Locked(token)) => {
                let result = self.inner.hold_seats(req).await;
                // A failed unlock only delays others until the TTL.
                let _ = self.lock.unlock(req.show, &seats, &token).await;
                result
            }
            // Another request is deciding these seats right now: shed this
            // one without touching the store.
            Ok(LockOutcome::Busy(busy)) => {
                // Give way once, so that a caller retrying at once cannot
                // keep the lock's holder from running.
                YieldNow(false).await;
                Err(InventoryError::SeatsTaken { seats: busy })
            }
            // The lock store is down: correctness never depended on it.
            Err(_) => self.inner.hold_seats(req).await,
        }
    }

    async fn hold_best(&self, req: &HoldBest) -> Result<Hold> {
        self.inner.hold_best(req).await
    }

    async fn hold_pool(&self, req: &HoldPool) -> Result<Hold> {
        self.inner.hold_pool(req).await
    }

    async fn extend(&self, req: &HoldAction) -> Result<Hold> {
        self.inner.extend(req).await
    }

    async fn release(&self, req: &HoldAction) -> Result<()> {
        self.inner.release(req).await
    }

    async fn sell(&self, req: &Sell) -> Result<Sale> {
        self.inner.sell(req).await
    }

    async fn refund(&self, req: &Refund) -> Result<()> {
        self.inner.refund(req).await
    }

    async fn block(&self, show: ShowId, seats: &[SeatId]) -> Result<()> {
        self.inner.block(show, seats).await
    }

    async fn unblock(&self, show: ShowId, seats: &[SeatId]) -> Result<()> {
        self.inner.unblock(show, seats).await
    }

    async fn snapshot(&self, show: ShowId) -> Result<Snapshot> {
        self.inner.snapshot(show).await
    }

    async fn sweep_expired(&self, show: ShowId, limit: usize) -> Result<Vec<ExpiredHold>> {
        self.inner.sweep_expired(show, limit).await
    }

    async fn verify(&self, req: &HoldAction) -> Result<Hold> {
        self.inner.verify(req).await
    }

    async fn audit(&self, show: ShowId) -> Result<Audit> {
        self.inner.audit(show).await
    }

    async fn subscribe(&self, show: ShowId) -> Result<ChangeStream> {
        self.inner.subscribe(show).await
    }
}

/// Returns `Pending` once (after asking to be woken), then `Ready`: lets
/// the executor run other tasks, on any runtime.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
