//! The faults a [`SeatLock`] in front of an inventory must survive without
//! a seat being held or sold twice (docs/design.md, "Seat lock in front of
//! an inventory"), as scenarios every lock x inventory composition runs
//! through [`lock_fault_suite!`](crate::lock_fault_suite): a lock deleted
//! while a hold is in flight, lock keys deleted throughout a race, a holder
//! paused past the lock's TTL and past its hold's TTL, and the lock store
//! killed and restarted in the middle of a run.
//!
//! The lock only sheds contention; the inventory's compare-and-set on the
//! seat versions (the fencing token) decides. Besides the answers, every
//! scenario reads the inventory's own records: the [`Audit`] (who holds or
//! bought each seat, at which version) and the change feed, whose per-seat
//! history (ordered by version) shows that no seat was ever under two holds
//! at once.
//!
//! The building blocks are public too: a lock that stalls a request after
//! it got its locks ([`PausingLock`]), a lock that counts its answers
//! ([`CountingLock`]), and a crowd of buyers racing to sell a show out
//! ([`BuyOut`]).
//!
//! ```ignore
//! // A backend crate's tests: the lock, the inventory, one clock both
//! // decide expiry by, and the hooks into the lock's store.
//! async fn fixture() -> LockFaultFixture<MyLock, MyInventory> { /* ... */ }
//! booking_core::lock_fault_suite!(fixture);
//! ```

use crate::backend::fsm::SeatState;
use crate::clock::ManualClock;
use crate::error::{InventoryError, Result};
use crate::ids::{OrderId, OwnerId, SeatId, ShowId};
use crate::inventory::{Audit, ChangeKind, HoldItems, HoldSeats, Sale, SeatChange, SeatInventory};
use crate::layered::{LockOutcome, LockToken, LockedInventory, SeatLock};
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::oneshot;

use super::suite::Rng;
use super::{action, create, ids, sell_req, test_policy};

mod locks;
pub use locks::{CountingLock, LockCounts, PausingLock};

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

// ------------------------------------------------------------- scenarios

/// How long the scenarios' seat locks live unless released, by the
/// fixture's clock.
pub const FAULT_LOCK_TTL: Duration = Duration::from_secs(2);

/// What the scenarios do to a lock's store behind the lock's back.
#[async_trait]
pub trait LockHooks: Send + Sync {
    /// Deletes the lock of `seat` of `show` from the store, as a flush, an
    /// eviction or a failover that lost it would. True when a lock was
    /// there.
    async fn delete_lock(&self, show: ShowId, seat: SeatId) -> bool;

    /// Kills the lock store as a crash would (SIGKILL): lock requests fail
    /// until [`LockHooks::restart`].
    async fn kill(&self);

    /// Starts the killed lock store again, empty.
    async fn restart(&self);
}

/// A seat lock, an inventory, the one clock both decide expiry by, and
/// the hooks into the lock's store: what each scenario composes as
/// `LockedInventory<PausingLock<CountingLock<L>>, I>` with
/// [`FAULT_LOCK_TTL`]. Fresh for each scenario (a lock store that may be
/// killed, a key prefix or database of its own).
pub struct LockFaultFixture<L, I> {
    /// The lock under test.
    pub lock: L,
    /// The inventory behind it.
    pub inventory: I,
    /// The clock the lock and the inventory read; the scenarios move it.
    pub clock: ManualClock,
    /// Hooks into the lock's store.
    pub hooks: Box<dyn LockHooks>,
}

/// The composition every scenario runs.
pub type Faulty<L, I> = LockedInventory<PausingLock<CountingLock<L>>, I>;

impl<L: SeatLock, I: SeatInventory> LockFaultFixture<L, I> {
    fn compose(self) -> (Arc<Faulty<L, I>>, ManualClock, Box<dyn LockHooks>) {
        let inv = LockedInventory::new(PausingLock::new(CountingLock::new(self.lock)), self.inventory, FAULT_LOCK_TTL);
        (Arc::new(inv), self.clock, self.hooks)
    }
}

fn taken<T: std::fmt::Debug>(r: &Result<T>, seats: &[u32]) -> bool {
    matches!(r, Err(InventoryError::SeatsTaken { seats: s }) if s == &ids(seats))
}

fn advance(clock: &ManualClock, by: Duration) {
    clock.advance(chrono::Duration::from_std(by).expect("duration"));
}

async fn audit<I: SeatInventory + ?Sized>(inv: &I, show: ShowId) -> Audit {
    inv.audit(show).await.expect("audit")
}

/// Asserts that the audit shows each sold seat sold to its sale's owner and
/// order, at the sale's version: nothing wrote after the sale.
fn assert_audit_matches(a: &Audit, sales: &[(u32, Sale)]) {
    for (seat, sale) in sales {
        let s = a.seats[*seat as usize];
        assert_eq!(s.state, SeatState::Sold { owner: sale.owner, order: sale.order }, "seat {seat}");
        assert_eq!(s.version, sale.version, "seat {seat}: nothing wrote after the sale");
    }
}

/// The change feed of a show, recorded from subscription on by a task of
/// its own.
pub struct History {
    changes: Arc<Mutex<Vec<SeatChange>>>,
    task: tokio::task::JoinHandle<()>,
}

impl History {
    /// Subscribes to `show` and records every change. Panics when the feed
    /// lags (the history would have holes).
    pub async fn record<I: SeatInventory + ?Sized>(inv: &I, show: ShowId) -> History {
        let mut feed = inv.subscribe(show).await.expect("subscribe");
        let changes = Arc::new(Mutex::new(Vec::new()));
        let sink = changes.clone();
        let task = tokio::spawn(async move {
            while let Some(change) = std::future::poll_fn(|cx| feed.as_mut().poll_next(cx)).await {
                match change {
                    Ok(c) => sink.lock().unwrap_or_else(PoisonError::into_inner).push(c),
                    Err(e) => panic!("the change feed failed, the history would have holes: {e:?}"),
                }
            }
        });
        History { changes, task }
    }

    /// Waits until `n` seats were reported sold; panics after `timeout`
    /// (or when the recording task stopped).
    pub async fn wait_sold(&self, n: usize, timeout: Duration) {
        let start = tokio::time::Instant::now();
        loop {
            let sold: usize = self
                .changes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .filter(|c| c.kind == ChangeKind::Sold)
                .map(|c| c.items.count() as usize)
                .sum();
            if sold >= n {
                return;
            }
            assert!(!self.task.is_finished(), "the change feed ended after {sold} of {n} sales");
            assert!(start.elapsed() < timeout, "the feed reported {sold} of {n} sales in {timeout:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Per seat, the kinds of its changes in version order.
    pub fn per_seat(&self) -> HashMap<u32, Vec<ChangeKind>> {
        let mut by_seat: HashMap<u32, Vec<(u64, ChangeKind)>> = HashMap::new();
        for c in self.changes.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            if let HoldItems::Seats(seats) = &c.items {
                for s in seats {
                    by_seat.entry(s.0).or_default().push((c.version, c.kind));
                }
            }
        }
        by_seat
            .into_iter()
            .map(|(seat, mut v)| {
                v.sort_by_key(|(version, _)| *version);
                (seat, v.into_iter().map(|(_, k)| k).collect())
            })
            .collect()
    }

    /// Asserts that, with the clock standing still (no hold expires), no
    /// seat was ever held while held or sold, and none sold twice: every
    /// seat's history is (held, released)* followed by at most one (held,
    /// sold).
    pub fn assert_never_held_twice(&self) {
        use crate::backend::fsm::SeatStatus;
        for (seat, kinds) in self.per_seat() {
            let mut state = SeatStatus::Available;
            for &kind in &kinds {
                state = match (state, kind) {
                    (SeatStatus::Available, ChangeKind::Held) => SeatStatus::Held,
                    (SeatStatus::Held, ChangeKind::Released) => SeatStatus::Available,
                    (SeatStatus::Held, ChangeKind::Sold) => SeatStatus::Sold,
                    _ => panic!("seat {seat}: {kind:?} while {state:?}; history {kinds:?}"),
                };
            }
        }
    }
}

impl Drop for History {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Request A has taken seat 3's lock and is on its way to the inventory
/// when the lock is deleted (flushed, evicted, a failover that lost it).
/// Request B, shed while the lock stood, now gets the lock and holds the
/// seat; A's hold then reaches the inventory, whose compare-and-set refuses
/// it. A's lock token, used late, unlocks nobody else's lock. B buys the
/// seat; the audit and the seat's history show B alone.
pub async fn a_lock_deleted_while_a_hold_is_in_flight_cannot_cause_a_double_hold<L, I>(fx: LockFaultFixture<L, I>)
where
    L: SeatLock + 'static,
    I: SeatInventory + 'static,
{
    let (inv, _clock, hooks) = fx.compose();
    let spec = create(&*inv, 1, 1, 6, 0, test_policy()).await;
    let show = spec.id;
    let history = History::record(&*inv, show).await;
    let (a, b) = (OwnerId::new(), OwnerId::new());

    let (locked, resume) = inv.lock().arm();
    let a_hold = {
        let inv = inv.clone();
        tokio::spawn(async move { inv.hold_seats(&HoldSeats { show, owner: a, seats: ids(&[3]) }).await })
    };
    let a_token = locked.await.expect("A takes the lock");

    let before = audit(&*inv, show).await;
    let shed = inv.hold_seats(&HoldSeats { show, owner: b, seats: ids(&[3]) }).await;
    assert!(taken(&shed, &[3]), "B is shed while A decides: {shed:?}");
    assert_eq!(audit(&*inv, show).await, before, "shedding touched nothing");

    assert!(hooks.delete_lock(show, SeatId(3)).await, "A's lock was in the store");
    let hb = inv.hold_seats(&HoldSeats { show, owner: b, seats: ids(&[3]) }).await.expect("B holds");
    assert!(!hooks.delete_lock(show, SeatId(3)).await, "B released its lock once decided");

    // C takes the seat's lock now; A's unlock, late, must leave it.
    let c = match inv.lock().try_lock(show, &ids(&[3]), FAULT_LOCK_TTL).await.expect("lock") {
        LockOutcome::Locked(t) => t,
        LockOutcome::Busy(b) => panic!("seat 3's lock is free, busy: {b:?}"),
    };
    resume.send(()).expect("A resumes");
    let ha = a_hold.await.expect("A");
    assert!(taken(&ha, &[3]), "the inventory refuses A: {ha:?}");
    inv.lock().unlock(show, &ids(&[3]), &a_token).await.expect("A's late unlock");
    let busy = inv.lock().try_lock(show, &ids(&[3]), FAULT_LOCK_TTL).await.expect("lock");
    assert_eq!(busy, LockOutcome::Busy(ids(&[3])), "A's token unlocked C's lock");
    inv.lock().unlock(show, &ids(&[3]), &c).await.expect("C unlocks");

    let b_order = OrderId::new();
    let sale = inv.sell(&sell_req(&hb, b_order)).await.expect("B buys");
    assert_eq!(sale.version, 2, "one hold and one sale ever changed the seat");
    let after = audit(&*inv, show).await;
    assert_audit_matches(&after, &[(3, sale)]);
    for (i, s) in after.seats.iter().enumerate() {
        if i != 3 {
            assert_eq!(s.state, SeatState::Available, "seat {i}: A left nothing behind");
        }
    }
    history.wait_sold(1, Duration::from_secs(30)).await;
    assert_eq!(history.per_seat()[&3], vec![ChangeKind::Held, ChangeKind::Sold]);
}

/// Buyers race for few seats while the seat locks are deleted as fast as
/// they appear: the lock sheds little, the inventory decides every race.
/// Every seat is sold exactly once and no seat was ever held twice.
pub async fn lock_keys_deleted_throughout_a_race_sell_no_seat_twice<L, I>(fx: LockFaultFixture<L, I>)
where
    L: SeatLock + 'static,
    I: SeatInventory + 'static,
{
    const SEATS: u32 = 40;
    let (inv, _clock, hooks) = fx.compose();
    let policy = crate::layout::HoldPolicy { max_held_per_owner: None, ..test_policy() };
    let spec = create(&*inv, 1, 1, SEATS, 0, policy).await;
    let show = spec.id;
    let history = History::record(&*inv, show).await;

    let hooks: Arc<dyn LockHooks> = Arc::from(hooks);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let deleter = {
        let (done, hooks) = (done.clone(), hooks.clone());
        tokio::spawn(async move {
            let mut deleted = 0u64;
            while !done.load(Ordering::SeqCst) {
                for seat in 0..SEATS {
                    deleted += u64::from(hooks.delete_lock(show, SeatId(seat)).await);
                }
                tokio::task::yield_now().await;
            }
            deleted
        })
    };

    let buyers = BuyOut { release_one_in: 4, attempts: 20_000, ..BuyOut::new(show, SEATS) };
    let sales = buyers.clone().run(inv.clone()).await;
    done.store(true, Ordering::SeqCst);
    let deleted = deleter.await.expect("deleter");
    assert!(deleted > 0, "the race ran with its locks deleted");

    buyers.assert_sold_once(&sales);
    assert_audit_matches(&audit(&*inv, show).await, &sales);
    history.wait_sold(SEATS as usize, Duration::from_secs(30)).await;
    history.assert_never_held_twice();
    assert_eq!(inv.snapshot(show).await.expect("snapshot").totals().sold, SEATS);
}

/// A holder paused past the lock's TTL, then past its hold's TTL, while
/// another buys the seat: the paused holder's writes change nothing, and
/// its late unlock leaves a later locker's lock alone. Time is the
/// fixture's clock, moved, never waited for.
pub async fn a_holder_paused_past_the_ttl_changes_nothing<L, I>(fx: LockFaultFixture<L, I>)
where
    L: SeatLock + 'static,
    I: SeatInventory + 'static,
{
    let (inv, clock, _hooks) = fx.compose();
    let spec = create(&*inv, 1, 1, 6, 0, test_policy()).await;
    let show = spec.id;
    let history = History::record(&*inv, show).await;
    let (a, b) = (OwnerId::new(), OwnerId::new());

    // Round 1: A takes seat 1's lock and stalls before the inventory,
    // past the lock's TTL.
    let (locked, resume) = inv.lock().arm();
    let a_hold = {
        let inv = inv.clone();
        tokio::spawn(async move { inv.hold_seats(&HoldSeats { show, owner: a, seats: ids(&[1]) }).await })
    };
    locked.await.expect("A takes the lock");
    let shed = inv.hold_seats(&HoldSeats { show, owner: b, seats: ids(&[1]) }).await;
    assert!(taken(&shed, &[1]), "A's lock sheds B before its TTL: {shed:?}");
    advance(&clock, FAULT_LOCK_TTL);
    let hb = inv.hold_seats(&HoldSeats { show, owner: b, seats: ids(&[1]) }).await.expect("B holds: A's lock lapsed");
    let b_sale = inv.sell(&sell_req(&hb, OrderId::new())).await.expect("B buys");
    // C holds the seat's lock when A comes back.
    let c = match inv.lock().try_lock(show, &ids(&[1]), FAULT_LOCK_TTL).await.expect("lock") {
        LockOutcome::Locked(t) => t,
        LockOutcome::Busy(b) => panic!("seat 1's lock is free, busy: {b:?}"),
    };
    let before = audit(&*inv, show).await;
    resume.send(()).expect("A resumes");
    let late = a_hold.await.expect("A");
    assert!(taken(&late, &[1]), "the inventory refuses A: {late:?}");
    assert_eq!(audit(&*inv, show).await, before, "A's late hold changed nothing");
    let busy = inv.lock().try_lock(show, &ids(&[1]), FAULT_LOCK_TTL).await.expect("lock");
    assert_eq!(busy, LockOutcome::Busy(ids(&[1])), "A's late unlock freed C's lock");
    inv.lock().unlock(show, &ids(&[1]), &c).await.expect("C unlocks");

    // Round 2: A holds seat 2 (version 1), then stalls past its hold's TTL
    // before paying; B holds the seat (version 2) and buys it (version 3).
    let ha = inv.hold_seats(&HoldSeats { show, owner: a, seats: ids(&[2]) }).await.expect("A holds");
    advance(&clock, Duration::from_millis(spec.policy.ttl_millis() as u64));
    let hb = inv.hold_seats(&HoldSeats { show, owner: b, seats: ids(&[2]) }).await.expect("B holds after expiry");
    let b_sale2 = inv.sell(&sell_req(&hb, OrderId::new())).await.expect("B buys");
    assert_eq!((ha.token.version, hb.token.version, b_sale2.version), (1, 2, 3), "versions fence A out");
    let before = audit(&*inv, show).await;
    for e in [
        inv.sell(&sell_req(&ha, OrderId::new())).await.map(|_| ()),
        inv.extend(&action(&ha)).await.map(|_| ()),
        inv.release(&action(&ha)).await,
    ] {
        assert!(matches!(e, Err(InventoryError::HoldExpired { .. })), "{e:?}");
    }
    assert_eq!(audit(&*inv, show).await, before, "A's stale writes changed nothing");
    assert_audit_matches(&before, &[(1, b_sale), (2, b_sale2)]);
    history.wait_sold(2, Duration::from_secs(30)).await;
    let h = history.per_seat();
    assert_eq!(h[&1], vec![ChangeKind::Held, ChangeKind::Sold]);
    assert_eq!(h[&2], vec![ChangeKind::Held, ChangeKind::Held, ChangeKind::Sold], "B's hold superseded A's lapsed one");
}

/// Buyers race holds, releases and sales through the composition while the
/// lock store is killed and later restarted empty: meanwhile requests go
/// to the inventory without locks; afterwards the locks work again. Every
/// seat is sold once, and the audit and the history agree with the sales.
pub async fn the_lock_store_killed_and_restarted_mid_run_sells_no_seat_twice<L, I>(fx: LockFaultFixture<L, I>)
where
    L: SeatLock + 'static,
    I: SeatInventory + 'static,
{
    const SEATS: u32 = 300;
    let (inv, _clock, hooks) = fx.compose();
    let policy = crate::layout::HoldPolicy { max_held_per_owner: None, ..test_policy() };
    let spec = create(&*inv, 1, 1, SEATS, 0, policy).await;
    let show = spec.id;
    let history = History::record(&*inv, show).await;
    let counts = || inv.lock().inner().counts();
    let buyers = BuyOut::new(show, SEATS);
    let race = tokio::spawn(buyers.clone().run(inv.clone()));
    let within = Duration::from_secs(60);
    buyers.wait_for(SEATS / 4, within).await;
    let at_kill = counts();
    hooks.kill().await;
    let down_at = buyers.sold.load(Ordering::SeqCst);
    buyers.wait_for(SEATS / 2, within).await;
    let up_at = buyers.sold.load(Ordering::SeqCst);
    let at_restart = counts();
    hooks.restart().await;
    let sales = race.await.expect("buyers");
    let at_end = counts();

    assert!(at_kill.locked > 0, "the locks worked before the kill: {at_kill:?}");
    assert!(at_restart.failed > at_kill.failed, "lock requests failed while the store was down: {at_restart:?}");
    assert!(up_at > down_at, "sales went on while the lock store was down ({down_at} -> {up_at})");
    assert!(
        at_end.locked > at_restart.locked,
        "the locks worked again after the restart: {at_restart:?} -> {at_end:?}"
    );

    buyers.assert_sold_once(&sales);
    assert_audit_matches(&audit(&*inv, show).await, &sales);
    history.wait_sold(SEATS as usize, Duration::from_secs(30)).await;
    history.assert_never_held_twice();
    let snap = inv.snapshot(show).await.expect("snapshot");
    assert_eq!(snap.totals().sold, SEATS);
}

/// Expands to one `#[tokio::test]` per lock fault scenario, each calling
/// `$factory().await` for a fresh [`LockFaultFixture`].
#[macro_export]
macro_rules! lock_fault_suite {
    ($factory:path) => {
        $crate::lock_fault_suite!(@each $factory;
            a_lock_deleted_while_a_hold_is_in_flight_cannot_cause_a_double_hold,
            lock_keys_deleted_throughout_a_race_sell_no_seat_twice,
            a_holder_paused_past_the_ttl_changes_nothing,
            the_lock_store_killed_and_restarted_mid_run_sells_no_seat_twice,
        );
    };
    (@each $factory:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let fixture = $factory().await;
                $crate::testkit::faults::$name(fixture).await;
            }
        )*
    };
}
