//! Races on real concurrency: many tasks, one answer per seat (design I1-I3).

use super::*;
use crate::backend::fsm::SeatStatus;
use crate::error::{InventoryError, Limit};
use crate::ids::{OrderId, OwnerId, PoolId, SeatId};
use crate::inventory::{HoldAction, HoldItems, HoldPool, HoldSeats, SeatInventory};
use crate::layout::HoldPolicy;
use crate::testkit::Fixture;
use chrono::Duration;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// A tiny deterministic generator for the race behaviours.
/// A small xorshift generator: each racing task has its own.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    /// A number below `n` (`n` > 0).
    pub(crate) fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as u32
    }
}

fn no_limit() -> HoldPolicy {
    HoldPolicy { max_held_per_owner: None, ..test_policy() }
}

/// 64 tasks race for 10 seats, holding, releasing and buying: exactly 10
/// seats are sold, none twice (design I1, I2, I3).
pub async fn race_many_tasks_few_seats<I: SeatInventory + ?Sized + 'static>(fx: &Fixture<I>) {
    const SEATS: u32 = 10;
    let spec = create(&*fx.inventory, 1, 1, SEATS, 0, no_limit()).await;
    let sold = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for t in 0..64u64 {
        let (inv, sold, show) = (fx.inventory.clone(), sold.clone(), spec.id);
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9));
            let owner = OwnerId::new();
            let mut mine: Vec<SeatId> = Vec::new();
            for _ in 0..20_000 {
                if sold.load(Ordering::SeqCst) >= SEATS {
                    break;
                }
                let a = rng.below(SEATS);
                let seats = if rng.below(2) == 0 { vec![a] } else { vec![a, (a + 1 + rng.below(SEATS - 1)) % SEATS] };
                match inv.hold_seats(&HoldSeats { show, owner, seats: ids(&seats) }).await {
                    Ok(h) if rng.below(4) == 0 => inv.release(&action(&h)).await.expect("release own hold"),
                    Ok(h) => {
                        let sale = inv.sell(&sell_req(&h, OrderId::new())).await.expect("sell own live hold");
                        let HoldItems::Seats(s) = sale.items else { panic!("seat sale expected") };
                        sold.fetch_add(s.len() as u32, Ordering::SeqCst);
                        mine.extend(s);
                    }
                    Err(InventoryError::SeatsTaken { .. }) => tokio::task::yield_now().await,
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    let unique: HashSet<SeatId> = all.iter().copied().collect();
    assert_eq!(all.len(), SEATS as usize, "exactly the available seats were sold: {all:?}");
    assert_eq!(unique.len(), SEATS as usize, "no seat sold twice");
    assert_eq!(snap(&*fx.inventory, spec.id).await.totals().sold, SEATS);
}

/// 32 tasks race for 20 pool units: exactly 20 are sold.
pub async fn race_pool_units<I: SeatInventory + ?Sized + 'static>(fx: &Fixture<I>) {
    const UNITS: u32 = 20;
    let spec = create(&*fx.inventory, 1, 1, 1, UNITS, no_limit()).await;
    let mut tasks = Vec::new();
    for t in 0..32u64 {
        let (inv, show) = (fx.inventory.clone(), spec.id);
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0xDEAD_BEEF ^ (t + 1).wrapping_mul(0x94D0_49BB_1331_11EB));
            let mut bought = 0u32;
            loop {
                let quantity = 1 + rng.below(3);
                match inv.hold_pool(&HoldPool { show, owner: OwnerId::new(), pool: PoolId(0), quantity }).await {
                    Ok(h) => {
                        inv.sell(&sell_req(&h, OrderId::new())).await.expect("sell");
                        bought += quantity;
                    }
                    Err(InventoryError::InsufficientCapacity { available: 0, .. }) => return bought,
                    Err(InventoryError::InsufficientCapacity { .. }) => tokio::task::yield_now().await,
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    assert_eq!(total, UNITS);
    let p = snap(&*fx.inventory, spec.id).await.pools[0];
    assert_eq!((p.sold, p.held, p.available), (UNITS, 0, 0));
}

/// Holders, buyers and sweepers run at once while time moves: every seat is
/// sold at most once and every expired hold is swept at most once.
pub async fn race_holds_against_sweeper<I: SeatInventory + ?Sized + 'static>(fx: &Fixture<I>) {
    const SEATS: u32 = 24;
    let spec = create(&*fx.inventory, 1, 2, SEATS / 2, 0, no_limit()).await;
    let mut tasks = Vec::new();
    for t in 0..16u64 {
        let (inv, clock, show) = (fx.inventory.clone(), fx.clock.clone(), spec.id);
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0xA5A5_5A5A ^ (t + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93));
            let mut sold = Vec::new();
            for _ in 0..300 {
                let a = rng.below(SEATS);
                match inv.hold_seats(&HoldSeats { show, owner: OwnerId::new(), seats: ids(&[a]) }).await {
                    Ok(h) => {
                        if rng.below(3) == 0 {
                            clock.advance(Duration::minutes(3));
                        }
                        match inv.sell(&sell_req(&h, OrderId::new())).await {
                            Ok(s) => sold.push(s),
                            Err(InventoryError::HoldExpired { .. }) => {}
                            Err(e) => panic!("unexpected {e:?}"),
                        }
                    }
                    Err(InventoryError::SeatsTaken { .. }) => tokio::task::yield_now().await,
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
            (sold, Vec::new())
        }));
    }
    for _ in 0..2 {
        let (inv, show) = (fx.inventory.clone(), spec.id);
        tasks.push(tokio::spawn(async move {
            let mut swept = Vec::new();
            for _ in 0..300 {
                swept.extend(inv.sweep_expired(show, 5).await.expect("sweep"));
                tokio::task::yield_now().await;
            }
            (Vec::new(), swept)
        }));
    }
    let (mut sales, mut swept) = (Vec::new(), Vec::new());
    for t in tasks {
        let (s, w) = t.await.expect("task");
        sales.extend(s);
        swept.extend(w);
    }
    let mut seats_sold = HashSet::new();
    for s in &sales {
        let HoldItems::Seats(seats) = &s.items else { panic!("seat sale expected") };
        for seat in seats {
            assert!(seats_sold.insert(*seat), "{seat} sold twice");
        }
    }
    let mut seen = HashSet::new();
    for e in &swept {
        let HoldItems::Seats(seats) = &e.items else { panic!("seat hold expected") };
        for seat in seats {
            assert!(seen.insert((e.hold, *seat)), "{seat} of {} swept twice", e.hold);
            assert!(!sales.iter().any(|s| s.items == e.items && s.owner == e.owner), "a sold hold was swept");
        }
    }
    let s = snap(&*fx.inventory, spec.id).await;
    assert_eq!(s.totals().sold as usize, seats_sold.len());
}

/// Sell and release of the same hold race: exactly one wins.
pub async fn race_sell_against_release<I: SeatInventory + ?Sized + 'static>(fx: &Fixture<I>) {
    let spec = create(&*fx.inventory, 1, 1, 40, 0, no_limit()).await;
    for seat in 0..40 {
        let h = hold(&*fx.inventory, spec.id, OwnerId::new(), &[seat]).await;
        let (i1, i2) = (fx.inventory.clone(), fx.inventory.clone());
        let (r, s) = (action(&h), sell_req(&h, OrderId::new()));
        let rel = tokio::spawn(async move { i1.release(&r).await.is_ok() });
        let sell = tokio::spawn(async move { i2.sell(&s).await.is_ok() });
        let (released, sold) = (rel.await.expect("task"), sell.await.expect("task"));
        assert!(released ^ sold, "seat {seat}: released {released}, sold {sold}");
        let status = snap(&*fx.inventory, spec.id).await.seats[seat as usize].status;
        assert_eq!(status, if sold { SeatStatus::Sold } else { SeatStatus::Available });
    }
}

/// One owner's concurrent holds race the per-owner limit: exactly the limit
/// is granted, never more.
pub async fn race_per_owner_limit<I: SeatInventory + ?Sized + 'static>(fx: &Fixture<I>) {
    let spec = create(&*fx.inventory, 1, 1, 40, 10, HoldPolicy { max_held_per_owner: Some(4), ..test_policy() }).await;
    let owner = OwnerId::new();
    let mut tasks = Vec::new();
    for t in 0..24u32 {
        let (inv, show) = (fx.inventory.clone(), spec.id);
        tasks.push(tokio::spawn(async move {
            let r = if t % 3 == 0 {
                inv.hold_pool(&HoldPool { show, owner, pool: PoolId(0), quantity: 1 }).await
            } else {
                inv.hold_seats(&HoldSeats { show, owner, seats: ids(&[t]) }).await
            };
            match r {
                Ok(h) => h.token.items.count(),
                Err(InventoryError::LimitExceeded(Limit::HeldPerOwner { .. })) => 0,
                Err(e) => panic!("unexpected {e:?}"),
            }
        }));
    }
    let mut granted = 0;
    for t in tasks {
        granted += t.await.expect("task");
    }
    assert_eq!(granted, 4, "the limit is exact under concurrency");
    let s = snap(&*fx.inventory, spec.id).await;
    assert_eq!(s.totals().held + s.pools[0].held, 4);
}

/// An owner's hold of taken seats races the same owner's hold of free
/// seats, under a per-owner limit that fits one of them. The free seats
/// are always granted: before the other, the refused hold took nothing
/// (`SeatsTaken`); after it, the limit refuses it (4 of 2). A hold refused
/// by the limit because of a hold that was itself refused is an answer no
/// order gives. The rounds, each with its own owner and seats, run at once.
pub async fn race_refused_hold_against_the_owner_limit<I: SeatInventory + ?Sized + 'static>(fx: &Fixture<I>) {
    const ROUNDS: u32 = 16;
    let policy = HoldPolicy { max_held_per_owner: Some(2), ..test_policy() };
    let spec = create(&*fx.inventory, 1, 1, 4 * ROUNDS, 0, policy).await;
    let mut rounds = Vec::new();
    for round in 0..ROUNDS {
        let (taken, free) = ([4 * round, 4 * round + 1], [4 * round + 2, 4 * round + 3]);
        hold(&*fx.inventory, spec.id, OwnerId::new(), &taken).await;
        let owner = OwnerId::new();
        let try_hold = |seats: [u32; 2]| {
            let (inv, show) = (fx.inventory.clone(), spec.id);
            tokio::spawn(async move { inv.hold_seats(&HoldSeats { show, owner, seats: ids(&seats) }).await })
        };
        rounds.push((try_hold(taken), try_hold(free)));
    }
    for (taken, free) in rounds {
        let (taken, free) = (taken.await.expect("task"), free.await.expect("task"));
        assert!(free.is_ok(), "the free seats are held: {free:?} (the taken ones: {taken:?})");
        assert!(
            matches!(taken, Err(InventoryError::SeatsTaken { .. }))
                || matches!(taken, Err(InventoryError::LimitExceeded(Limit::HeldPerOwner { would_hold: 4, max: 2 }))),
            "taken seats are refused as taken (before) or by the limit (after): {taken:?}"
        );
    }
    let s = snap(&*fx.inventory, spec.id).await;
    assert_eq!(s.totals().held, 4 * ROUNDS, "every seat held once");
}

/// Many owners, each at a different point of its limits, hold one free
/// seat each at once, while other owners try seats already held or sold:
/// every request gets the answer it would get alone. An owner holding 2
/// seats, or 2 pool units, is refused by the hold limit (3 of 2); one with
/// 2 seats sold and 1 held by the ticket cap (4 of 3); one holding nothing
/// gets its seat; a held or sold seat is refused as taken. The requests
/// are independent, so a backend that decides them together must still
/// weigh each owner's own holdings and each seat's own state.
pub async fn race_many_owners_at_their_limits<I: SeatInventory + ?Sized + 'static>(fx: &Fixture<I>) {
    const OWNERS: u32 = 24;
    let policy = HoldPolicy { max_held_per_owner: Some(2), max_tickets_per_owner: Some(3), ..test_policy() };
    let spec = create(&*fx.inventory, 1, 1, 4 * OWNERS, OWNERS, policy).await;
    let (inv, show) = (&*fx.inventory, spec.id);
    let owners: Vec<OwnerId> = (0..OWNERS).map(|_| OwnerId::new()).collect();
    for (k, &owner) in (0..OWNERS).zip(&owners) {
        match k % 4 {
            0 => drop(hold(inv, show, owner, &[4 * k, 4 * k + 1]).await),
            1 => drop(inv.hold_pool(&HoldPool { show, owner, pool: PoolId(0), quantity: 2 }).await.expect("pool")),
            2 => {
                let bought = hold(inv, show, owner, &[4 * k, 4 * k + 1]).await;
                inv.sell(&sell_req(&bought, OrderId::new())).await.expect("sell");
                hold(inv, show, owner, &[4 * k + 2]).await;
            }
            _ => {}
        }
    }
    let before = snap(inv, show).await;
    let try_hold = |owner: OwnerId, seat: u32| {
        let inv = fx.inventory.clone();
        tokio::spawn(async move { inv.hold_seats(&HoldSeats { show, owner, seats: ids(&[seat]) }).await })
    };
    let mut own = Vec::new();
    let mut taken = Vec::new();
    for (k, &owner) in (0..OWNERS).zip(&owners) {
        own.push((k, try_hold(owner, 4 * k + 3)));
        if k % 2 == 0 {
            taken.push((k, try_hold(OwnerId::new(), 4 * k)));
        }
    }
    for (k, task) in own {
        let r = task.await.expect("task");
        let expected = match k % 4 {
            0 | 1 => matches!(r, Err(InventoryError::LimitExceeded(Limit::HeldPerOwner { would_hold: 3, max: 2 }))),
            2 => matches!(r, Err(InventoryError::LimitExceeded(Limit::TicketsPerOwner { would_have: 4, max: 3 }))),
            _ => r.is_ok(),
        };
        assert!(expected, "owner {k} (case {}) holding seat {}: {r:?}", k % 4, 4 * k + 3);
    }
    for (k, task) in taken {
        let r = task.await.expect("task");
        assert!(matches!(r, Err(InventoryError::SeatsTaken { .. })), "seat {} is taken: {r:?}", 4 * k);
    }
    let after = snap(inv, show).await;
    let expected: Vec<SeatStatus> = (0..4 * OWNERS)
        .map(|seat| match (seat / 4 % 4, seat % 4) {
            (0, 0 | 1) | (2, 2) | (3, 3) => SeatStatus::Held,
            (2, 0 | 1) => SeatStatus::Sold,
            _ => SeatStatus::Available,
        })
        .collect();
    assert_eq!(
        after.seats.iter().map(|s| s.status).collect::<Vec<_>>(),
        expected,
        "only the free owners' seats changed"
    );
    assert_eq!(after.pools, before.pools, "the pool is untouched");
}

/// Releases of expired, live, stolen and stale holds, all at once, each on
/// its own seat: each gets the answer it would get alone. An expired hold
/// answers `HoldExpired` (its seat is free all the same), a live one is
/// released, another owner's release is `NotOwner` and a release with the
/// token an extension replaced is `StaleToken`; those two leave their
/// holds in place. A backend that decides releases together must still
/// judge each seat by the clock and by its own hold.
pub async fn race_releases_of_expired_live_stolen_and_stale_holds<I: SeatInventory + ?Sized + 'static>(
    fx: &Fixture<I>,
) {
    const N: u32 = 8;
    let spec = create(&*fx.inventory, 1, 1, 4 * N, 0, test_policy()).await;
    let (inv, show) = (&*fx.inventory, spec.id);
    let half = ttl(&spec) / 2;
    let mut expired = Vec::new();
    for seat in 0..N {
        expired.push(hold(inv, show, OwnerId::new(), &[seat]).await);
    }
    fx.clock.advance(half);
    let (mut live, mut stolen, mut stale) = (Vec::new(), Vec::new(), Vec::new());
    for seat in N..2 * N {
        live.push(hold(inv, show, OwnerId::new(), &[seat]).await);
        stolen.push(hold(inv, show, OwnerId::new(), &[seat + N]).await);
        let old = hold(inv, show, OwnerId::new(), &[seat + 2 * N]).await;
        let newer = inv.extend(&action(&old)).await.expect("extend");
        stale.push((old, newer.token.version));
    }
    fx.clock.advance(ttl(&spec) - half);
    let release = |req: HoldAction| {
        let inv = fx.inventory.clone();
        tokio::spawn(async move { inv.release(&req).await })
    };
    let expired: Vec<_> = expired.iter().map(|h| (h.token.hold, release(action(h)))).collect();
    let live: Vec<_> = live.iter().map(|h| release(action(h))).collect();
    let stolen: Vec<_> = stolen.iter().map(|h| release(HoldAction { owner: OwnerId::new(), ..action(h) })).collect();
    let stale: Vec<_> = stale.iter().map(|(h, current)| (*current, release(action(h)))).collect();
    for (id, task) in expired {
        let r = task.await.expect("task");
        assert!(matches!(r, Err(InventoryError::HoldExpired { hold }) if hold == id), "expired: {r:?}");
    }
    for task in live {
        let r = task.await.expect("task");
        assert!(r.is_ok(), "live: {r:?}");
    }
    for task in stolen {
        let r = task.await.expect("task");
        assert!(matches!(r, Err(InventoryError::NotOwner { .. })), "stolen: {r:?}");
    }
    for (current, task) in stale {
        let r = task.await.expect("task");
        assert!(matches!(r, Err(InventoryError::StaleToken { current: c, .. }) if c == current), "stale: {r:?}");
    }
    let s = snap(inv, show).await;
    let expected: Vec<SeatStatus> =
        (0..4 * N).map(|seat| if seat < 2 * N { SeatStatus::Available } else { SeatStatus::Held }).collect();
    assert_eq!(s.seats.iter().map(|s| s.status).collect::<Vec<_>>(), expected, "only the refused holds stand");
}
