//! Building blocks for fault tests of a [`SeatLock`] in front of an
//! inventory (docs/design.md, "Seat lock in front of an inventory"): a lock that stalls a request after it got
//! its locks, a lock that counts its answers, and a crowd of buyers racing
//! to sell a show out, so that a test can break things while it runs.

use crate::error::{InventoryError, Result};
use crate::ids::{OrderId, OwnerId, SeatId, ShowId};
use crate::inventory::{HoldSeats, Sale, SeatInventory};
use crate::layered::{LockOutcome, LockToken, SeatLock};
use async_trait::async_trait;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::oneshot;

use super::suite::Rng;
use super::{action, ids, sell_req};

/// A seat lock that, when armed, stalls the next request that gets its
/// locks right after getting them, as a process paused by the scheduler, a
/// stop-the-world pause or a slow network would stall.
#[derive(Debug)]
pub struct PausingLock<L> {
    inner: L,
    armed: Mutex<Option<Pause>>,
}

#[derive(Debug)]
struct Pause {
    locked: oneshot::Sender<LockToken>,
    resume: oneshot::Receiver<()>,
}

impl<L> PausingLock<L> {
    /// `inner`, not armed.
    pub fn new(inner: L) -> Self {
        PausingLock { inner, armed: Mutex::new(None) }
    }

    /// Stalls the next request that takes its locks. Returns a receiver told
    /// (with the lock token) once it has them, and a sender that resumes it.
    pub fn arm(&self) -> (oneshot::Receiver<LockToken>, oneshot::Sender<()>) {
        let (locked_tx, locked_rx) = oneshot::channel();
        let (resume_tx, resume_rx) = oneshot::channel();
        *self.armed.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Pause { locked: locked_tx, resume: resume_rx });
        (locked_rx, resume_tx)
    }
}

#[async_trait]
impl<L: SeatLock> SeatLock for PausingLock<L> {
    async fn try_lock(&self, show: ShowId, seats: &[SeatId], ttl: Duration) -> Result<LockOutcome> {
        let outcome = self.inner.try_lock(show, seats, ttl).await?;
        if let LockOutcome::Locked(token) = &outcome {
            let pause = self.armed.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(pause) = pause {
                let _ = pause.locked.send(token.clone());
                let _ = pause.resume.await;
            }
        }
        Ok(outcome)
    }

    async fn unlock(&self, show: ShowId, seats: &[SeatId], token: &LockToken) -> Result<()> {
        self.inner.unlock(show, seats, token).await
    }
}

/// What a [`CountingLock`]'s lock store answered so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LockCounts {
    /// Requests that got their locks.
    pub locked: u64,
    /// Requests refused because another request held a lock.
    pub busy: u64,
    /// Requests the lock store failed to answer.
    pub failed: u64,
}

/// A seat lock that counts what its lock store answered.
#[derive(Debug)]
pub struct CountingLock<L> {
    inner: L,
    locked: AtomicU64,
    busy: AtomicU64,
    failed: AtomicU64,
}

impl<L> CountingLock<L> {
    /// `inner`, all counts at zero.
    pub fn new(inner: L) -> Self {
        CountingLock { inner, locked: AtomicU64::new(0), busy: AtomicU64::new(0), failed: AtomicU64::new(0) }
    }

    /// The counts so far.
    pub fn counts(&self) -> LockCounts {
        LockCounts {
            locked: self.locked.load(Ordering::SeqCst),
            busy: self.busy.load(Ordering::SeqCst),
            failed: self.failed.load(Ordering::SeqCst),
        }
    }
}

#[async_trait]
impl<L: SeatLock> SeatLock for CountingLock<L> {
    async fn try_lock(&self, show: ShowId, seats: &[SeatId], ttl: Duration) -> Result<LockOutcome> {
        let outcome = self.inner.try_lock(show, seats, ttl).await;
        let counter = match &outcome {
            Ok(LockOutcome::Locked(_)) => &self.locked,
            Ok(LockOutcome::Busy(_)) => &self.busy,
            Err(_) => &self.failed,
        };
        counter.fetch_add(1, Ordering::SeqCst);
        outcome
    }

    async fn unlock(&self, show: ShowId, seats: &[SeatId], token: &LockToken) -> Result<()> {
        self.inner.unlock(show, seats, token).await
    }
}

/// A crowd of buyers selling out a show of `seats` seats numbered from 0
/// (a show without a per-owner limit): see [`BuyOut::run`].
#[derive(Clone, Debug)]
pub struct BuyOut {
    /// The show.
    pub show: ShowId,
    /// Its seats, 0 to `seats - 1`.
    pub seats: u32,
    /// How many buyers race (tasks).
    pub buyers: u32,
    /// A buyer releases one granted hold in this many instead of buying.
    pub release_one_in: u32,
    /// Hold attempts per buyer at most.
    pub attempts: u32,
    /// Seats sold so far, counted as sales are answered.
    pub sold: Arc<AtomicU32>,
}

impl BuyOut {
    /// Buyers for `show`'s `seats` seats, with the defaults: 16 buyers,
    /// one granted hold in 3 released, 50 000 attempts each.
    pub fn new(show: ShowId, seats: u32) -> Self {
        BuyOut { show, seats, buyers: 16, release_one_in: 3, attempts: 50_000, sold: Arc::new(AtomicU32::new(0)) }
    }

    /// Runs the race on `inv` until every seat is sold (or the attempts
    /// run out): each buyer holds one random seat at a time as a new owner,
    /// then buys it or releases it; a refused hold is retried on another
    /// seat. Returns every sale with its seat.
    ///
    /// Panics on any answer other than a grant or `SeatsTaken`.
    pub async fn run<I: SeatInventory + ?Sized + 'static>(self, inv: Arc<I>) -> Vec<(u32, Sale)> {
        let mut tasks = Vec::new();
        for t in 0..self.buyers {
            let (inv, this) = (inv.clone(), self.clone());
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ u64::from(t + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9));
                for _ in 0..this.attempts {
                    if this.sold.load(Ordering::SeqCst) >= this.seats {
                        break;
                    }
                    let seat = rng.below(this.seats);
                    let req = HoldSeats { show: this.show, owner: OwnerId::new(), seats: ids(&[seat]) };
                    match inv.hold_seats(&req).await {
                        Ok(h) if rng.below(this.release_one_in) == 0 => {
                            inv.release(&action(&h)).await.expect("release own hold")
                        }
                        Ok(h) => {
                            mine.push((seat, inv.sell(&sell_req(&h, OrderId::new())).await.expect("sell own hold")));
                            this.sold.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(InventoryError::SeatsTaken { .. }) => tokio::task::yield_now().await,
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                }
                mine
            }));
        }
        let mut sales = Vec::new();
        for t in tasks {
            sales.extend(t.await.expect("buyer"));
        }
        sales
    }

    /// Waits until at least `n` seats are sold; panics after `timeout`.
    pub async fn wait_for(&self, n: u32, timeout: Duration) {
        let start = tokio::time::Instant::now();
        while self.sold.load(Ordering::SeqCst) < n {
            assert!(start.elapsed() < timeout, "fewer than {n} seats sold in {timeout:?}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Asserts that `sales` sold every seat of the show exactly once.
    pub fn assert_sold_once(&self, sales: &[(u32, Sale)]) {
        let seats: HashSet<u32> = sales.iter().map(|(s, _)| *s).collect();
        assert_eq!(
            (sales.len(), seats.len()),
            (self.seats as usize, self.seats as usize),
            "every seat sold exactly once"
        );
    }
}
