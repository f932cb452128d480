//! The conformance suite of the [`SeatLock`] port: what every seat lock
//! must do, whatever its store. Each behaviour takes a [`LockFixture`]
//! whose lock decides expiry by the fixture's clock, and uses fresh show
//! ids, so one store may serve many tests at once.
//!
//! ```ignore
//! async fn fixture() -> booking_core::testkit::LockFixture<MyLock> { /* fresh lock + ManualClock */ }
//! booking_core::seat_lock_suite!(fixture);
//! ```

use crate::clock::ManualClock;
use crate::ids::{SeatId, ShowId};
use crate::layered::{LockOutcome, LockToken, SeatLock};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A seat lock and the clock it decides expiry by.
pub struct LockFixture<L: ?Sized = dyn SeatLock> {
    /// The lock under test.
    pub lock: Arc<L>,
    /// The clock the lock reads; tests move it.
    pub clock: ManualClock,
}

impl<L: SeatLock + 'static> LockFixture<L> {
    /// A fixture over `lock`, which must read `clock`.
    pub fn new(lock: L, clock: ManualClock) -> Self {
        LockFixture { lock: Arc::new(lock), clock }
    }
}

const TTL: Duration = Duration::from_secs(10);

fn seats(ids: &[u32]) -> Vec<SeatId> {
    ids.iter().copied().map(SeatId).collect()
}

async fn take<L: SeatLock + ?Sized>(lock: &L, show: ShowId, ids: &[u32]) -> LockToken {
    match lock.try_lock(show, &seats(ids), TTL).await.expect("try_lock") {
        LockOutcome::Locked(t) => t,
        LockOutcome::Busy(b) => panic!("seats {ids:?} should be free, busy: {b:?}"),
    }
}

async fn busy<L: SeatLock + ?Sized>(lock: &L, show: ShowId, ids: &[u32]) -> Vec<SeatId> {
    match lock.try_lock(show, &seats(ids), TTL).await.expect("try_lock") {
        LockOutcome::Busy(b) => b,
        LockOutcome::Locked(_) => panic!("seats {ids:?} should be busy"),
    }
}

/// A locked seat cannot be locked again; a request naming it takes none of
/// its seats (all or nothing) and is told which are busy; other shows and
/// other seats are independent.
pub async fn lock_is_exclusive_and_all_or_nothing<L: SeatLock + ?Sized>(fx: &LockFixture<L>) {
    let lock = &*fx.lock;
    let (show, other) = (ShowId::new(), ShowId::new());
    take(lock, show, &[1, 2]).await;
    assert_eq!(busy(lock, show, &[2, 3]).await, seats(&[2]));
    assert_eq!(busy(lock, show, &[0, 1, 2, 3]).await, seats(&[1, 2]));
    take(lock, show, &[3]).await; // not taken by the refused requests
    take(lock, show, &[0]).await;
    take(lock, other, &[1, 2]).await;
}

/// Unlocking with the token frees the seats; unlocking with another token
/// (a stale holder, or a forged token) leaves them locked.
pub async fn only_the_token_unlocks<L: SeatLock + ?Sized>(fx: &LockFixture<L>) {
    let lock = &*fx.lock;
    let show = ShowId::new();
    let t = take(lock, show, &[1, 2]).await;
    lock.unlock(show, &seats(&[1, 2]), &LockToken(t.0 ^ 1)).await.expect("unlock");
    assert_eq!(busy(lock, show, &[1]).await, seats(&[1]));
    lock.unlock(ShowId::new(), &seats(&[1, 2]), &t).await.expect("unlock elsewhere");
    assert_eq!(busy(lock, show, &[2]).await, seats(&[2]));
    lock.unlock(show, &seats(&[1, 2]), &t).await.expect("unlock");
    take(lock, show, &[1, 2]).await;
}

/// A lock expires after its TTL by the lock's clock; a holder that comes
/// back after another took the seat over cannot unlock the new holder.
pub async fn locks_expire_and_stale_unlocks_leave_them<L: SeatLock + ?Sized>(fx: &LockFixture<L>) {
    let lock = &*fx.lock;
    let show = ShowId::new();
    let stale = take(lock, show, &[4]).await;
    fx.clock.advance(chrono::Duration::from_std(TTL).expect("ttl") - chrono::Duration::milliseconds(1));
    assert_eq!(busy(lock, show, &[4]).await, seats(&[4]), "1 ms before the TTL");
    fx.clock.advance(chrono::Duration::milliseconds(1));
    let fresh = take(lock, show, &[4]).await;
    assert_ne!(fresh, stale);
    lock.unlock(show, &seats(&[4]), &stale).await.expect("stale unlock");
    assert_eq!(busy(lock, show, &[4]).await, seats(&[4]), "the stale holder left the new lock alone");
    lock.unlock(show, &seats(&[4]), &fresh).await.expect("unlock");
    take(lock, show, &[4]).await;
}

/// Many tasks racing for one seat: at any instant at most one holds it.
pub async fn racing_lockers_hold_one_at_a_time<L: SeatLock + ?Sized + 'static>(fx: &LockFixture<L>) {
    let show = ShowId::new();
    let inside = Arc::new(AtomicU32::new(0));
    let won = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (lock, inside, won) = (fx.lock.clone(), inside.clone(), won.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                if let LockOutcome::Locked(t) = lock.try_lock(show, &seats(&[7]), TTL).await.expect("try_lock") {
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders at once");
                    won.fetch_add(1, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                    lock.unlock(show, &seats(&[7]), &t).await.expect("unlock");
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    assert!(won.load(Ordering::SeqCst) > 0, "somebody got the lock");
}

/// Expands to one `#[tokio::test]` per behaviour of the seat-lock suite,
/// each calling `$factory().await` for a fresh [`LockFixture`].
#[macro_export]
macro_rules! seat_lock_suite {
    ($factory:path) => {
        $crate::seat_lock_suite!(@each $factory;
            lock_is_exclusive_and_all_or_nothing,
            only_the_token_unlocks,
            locks_expire_and_stale_unlocks_leave_them,
            racing_lockers_hold_one_at_a_time,
        );
    };
    (@each $factory:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let fixture = $factory().await;
                $crate::testkit::lock::$name(&fixture).await;
            }
        )*
    };
}
