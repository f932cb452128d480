//! The behaviours, one `pub async fn` each. See the module docs.

use super::Fixture;
use crate::clock::Clock;
use crate::error::{InvalidRequest, InventoryError, Limit};
use crate::fsm::SeatStatus;
use crate::ids::{HoldId, OrderId, OwnerId, PaymentRef, PoolId, PriceCategory, SeatId, SectionId, ShowId};
use crate::inventory::{
    ChangeKind, Hold, HoldAction, HoldBest, HoldItems, HoldPool, HoldSeats, HoldToken, Refund, Sale, SeatChange,
    SeatInventory, Sell, Snapshot,
};
use crate::layout::{HoldPolicy, ShowSpec, VenueLayout};
use chrono::Duration;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration as StdDuration;

/// The policy most behaviours use: 8-minute holds, 2 renewals, 15 minutes
/// at most, 8 seats per owner, 10 per request.
pub fn test_policy() -> HoldPolicy {
    HoldPolicy::default()
}

/// Creates a show of `sections` x `rows` x `per_row` seats plus one pool of
/// `pool` units (none when 0) and returns its spec.
pub async fn create<I: SeatInventory + ?Sized>(
    inv: &I,
    sections: u32,
    rows: u32,
    per_row: u32,
    pool: u32,
    policy: HoldPolicy,
) -> ShowSpec {
    let mut spec = ShowSpec::new("conformance", VenueLayout::grid(sections, rows, per_row, PriceCategory(1)));
    if pool > 0 {
        spec = spec.with_pool("standing", pool, PriceCategory(9));
    }
    spec = spec.with_policy(policy);
    inv.create_show(&spec).await.expect("create_show");
    spec
}

/// Seat ids from numbers.
pub fn ids(seats: &[u32]) -> Vec<SeatId> {
    seats.iter().copied().map(SeatId).collect()
}

/// Holds `seats` for `owner`, expecting success.
pub async fn hold<I: SeatInventory + ?Sized>(inv: &I, show: ShowId, owner: OwnerId, seats: &[u32]) -> Hold {
    inv.hold_seats(&HoldSeats { show, owner, seats: ids(seats) })
        .await
        .unwrap_or_else(|e| panic!("hold {seats:?} failed: {e:?}"))
}

/// A sell request for `hold`.
pub fn sell_req(hold: &Hold, order: OrderId) -> Sell {
    Sell { owner: hold.owner, token: hold.token.clone(), order, payment: PaymentRef(format!("cap_{order}")) }
}

/// A release or extend request for `hold`.
pub fn action(hold: &Hold) -> HoldAction {
    HoldAction { owner: hold.owner, token: hold.token.clone() }
}

/// The statuses of `seats` in `snap`.
pub fn statuses(snap: &Snapshot, seats: &[u32]) -> Vec<SeatStatus> {
    seats.iter().map(|&s| snap.seats[s as usize].status).collect()
}

async fn snap<I: SeatInventory + ?Sized>(inv: &I, show: ShowId) -> Snapshot {
    inv.snapshot(show).await.expect("snapshot")
}

fn ttl(spec: &ShowSpec) -> Duration {
    Duration::milliseconds(spec.policy.ttl_millis())
}

/// Shows are created once, with every seat available, and bad specs are refused.
pub async fn create_show_validates<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 2, 3, 4, 5, test_policy()).await;
    let s = snap(inv, spec.id).await;
    assert_eq!(s.seats.len(), 24);
    assert!(s.seats.iter().all(|v| v.status == SeatStatus::Available && v.version == 0));
    assert_eq!(s.pools.len(), 1);
    assert_eq!((s.pools[0].capacity, s.pools[0].available, s.pools[0].held, s.pools[0].sold), (5, 5, 0, 0));
    assert_eq!(s.totals().available, 24);
    assert_eq!(s.categories.len(), 2, "one entry per (section, category)");
    assert!(matches!(inv.create_show(&spec).await, Err(InventoryError::ShowExists(id)) if id == spec.id));
    let empty = ShowSpec::new("empty", VenueLayout::default());
    assert!(matches!(inv.create_show(&empty).await, Err(InventoryError::InvalidRequest(_))));
    assert!(matches!(inv.snapshot(empty.id).await, Err(InventoryError::UnknownShow(_))));
    let zero_pool =
        ShowSpec::new("zero", VenueLayout::grid(1, 1, 1, PriceCategory(1))).with_pool("ga", 0, PriceCategory(1));
    assert!(matches!(inv.create_show(&zero_pool).await, Err(InventoryError::InvalidRequest(_))));
    assert!(matches!(inv.snapshot(zero_pool.id).await, Err(InventoryError::UnknownShow(_))));
}

/// A hold shows as held, and a sale as sold, with versions bumped (design: the seat state machine).
pub async fn hold_and_sell<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 2, 6, 0, test_policy()).await;
    let owner = OwnerId::new();
    let h = hold(inv, spec.id, owner, &[3, 1, 2]).await;
    assert_eq!(h.token.items, HoldItems::Seats(ids(&[1, 2, 3])), "seats come back sorted");
    assert_eq!(h.owner, owner);
    assert_eq!(h.token.show, spec.id);
    assert_eq!(h.held_until, fx.clock.now() + ttl(&spec));
    assert_eq!(h.token.version, 1);
    assert_eq!(h.renewals, 0);
    let s = snap(inv, spec.id).await;
    assert_eq!(
        statuses(&s, &[0, 1, 2, 3, 4]),
        [SeatStatus::Available, SeatStatus::Held, SeatStatus::Held, SeatStatus::Held, SeatStatus::Available]
    );
    assert_eq!(s.seats[2].version, 1);
    assert_eq!(s.totals().held, 3);
    let order = OrderId::new();
    let sale = inv.sell(&sell_req(&h, order)).await.expect("sell");
    assert_eq!(sale, Sale { show: spec.id, order, owner, items: h.token.items.clone(), version: 2 });
    let s = snap(inv, spec.id).await;
    assert_eq!(statuses(&s, &[1, 2, 3]), [SeatStatus::Sold; 3]);
    assert_eq!(s.totals().sold, 3);
    assert_eq!(s.seats[1].version, 2);
}

/// A multi-seat hold takes every seat or none (design I3).
pub async fn holds_are_all_or_nothing<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 8, 0, test_policy()).await;
    hold(inv, spec.id, OwnerId::new(), &[2]).await;
    let before = snap(inv, spec.id).await;
    let err = inv.hold_seats(&HoldSeats { show: spec.id, owner: OwnerId::new(), seats: ids(&[0, 1, 2, 3]) }).await;
    assert!(matches!(err, Err(InventoryError::SeatsTaken { ref seats }) if seats == &ids(&[2])), "{err:?}");
    assert_eq!(snap(inv, spec.id).await, before, "a refused hold takes nothing");
    hold(inv, spec.id, OwnerId::new(), &[0, 1, 3]).await;
}

/// A seat has at most one live hold at a time (design I2).
pub async fn holds_are_exclusive<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 4, 0, test_policy()).await;
    let a = OwnerId::new();
    let h = hold(inv, spec.id, a, &[1]).await;
    for owner in [a, OwnerId::new()] {
        let err = inv.hold_seats(&HoldSeats { show: spec.id, owner, seats: ids(&[1]) }).await;
        assert!(matches!(err, Err(InventoryError::SeatsTaken { .. })), "{err:?}");
    }
    inv.sell(&sell_req(&h, OrderId::new())).await.expect("sell");
    let err = inv.hold_seats(&HoldSeats { show: spec.id, owner: OwnerId::new(), seats: ids(&[1]) }).await;
    assert!(matches!(err, Err(InventoryError::SeatsTaken { .. })), "a sold seat cannot be held: {err:?}");
}

/// Only the owner with the newest token may extend, release or sell (design I4).
pub async fn only_the_owner_with_the_current_token<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 4, 4, test_policy()).await;
    let (a, b) = (OwnerId::new(), OwnerId::new());
    let seat_hold = hold(inv, spec.id, a, &[0, 1]).await;
    let pool_hold =
        inv.hold_pool(&HoldPool { show: spec.id, owner: a, pool: PoolId(0), quantity: 2 }).await.expect("hold_pool");
    for h in [seat_hold, pool_hold] {
        let thief = HoldAction { owner: b, token: h.token.clone() };
        assert!(matches!(inv.release(&thief).await, Err(InventoryError::NotOwner { .. })));
        assert!(matches!(inv.extend(&thief).await, Err(InventoryError::NotOwner { .. })));
        let steal = Sell { owner: b, ..sell_req(&h, OrderId::new()) };
        assert!(matches!(inv.sell(&steal).await, Err(InventoryError::NotOwner { .. })));

        fx.clock.advance(Duration::seconds(30));
        let newer = inv.extend(&action(&h)).await.expect("extend");
        assert!(newer.token.version > h.token.version);
        assert_eq!(newer.renewals, 1);
        let stale = |e: &InventoryError| {
            matches!(e, InventoryError::StaleToken { presented, current, .. }
                if *presented == h.token.version && *current == newer.token.version)
        };
        let e = inv.release(&action(&h)).await.expect_err("stale release");
        assert!(stale(&e), "{e:?}");
        let e = inv.extend(&action(&h)).await.expect_err("stale extend");
        assert!(stale(&e), "{e:?}");
        let e = inv.sell(&sell_req(&h, OrderId::new())).await.expect_err("stale sell");
        assert!(stale(&e), "{e:?}");
        inv.sell(&sell_req(&newer, OrderId::new())).await.expect("current token sells");
    }
}

/// A hold past its expiry counts as available at once, before any sweep
/// (design I5), decided by the injected clock (I8).
pub async fn expired_holds_never_block<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 4, 0, test_policy()).await;
    let first = hold(inv, spec.id, OwnerId::new(), &[0, 1]).await;
    fx.clock.advance(ttl(&spec) - Duration::milliseconds(1));
    let err = inv.hold_seats(&HoldSeats { show: spec.id, owner: OwnerId::new(), seats: ids(&[1]) }).await;
    assert!(matches!(err, Err(InventoryError::SeatsTaken { .. })), "1 ms before expiry: {err:?}");
    assert_eq!(statuses(&snap(inv, spec.id).await, &[0, 1]), [SeatStatus::Held; 2]);
    fx.clock.advance(Duration::milliseconds(1));
    assert_eq!(statuses(&snap(inv, spec.id).await, &[0, 1]), [SeatStatus::Available; 2]);
    let second = hold(inv, spec.id, OwnerId::new(), &[1, 2]).await;
    assert!(second.token.version > first.token.version);
    for e in [
        inv.sell(&sell_req(&first, OrderId::new())).await.map(|_| ()),
        inv.extend(&action(&first)).await.map(|_| ()),
        inv.release(&action(&first)).await,
    ] {
        assert!(matches!(e, Err(InventoryError::HoldExpired { hold }) if hold == first.token.hold), "{e:?}");
    }
    assert_eq!(
        statuses(&snap(inv, spec.id).await, &[0, 1, 2]),
        [SeatStatus::Available, SeatStatus::Held, SeatStatus::Held]
    );
}

/// The sweeper frees expired holds, reports each once, leaves live holds
/// alone and announces the release on the change feed.
pub async fn sweeper_frees_expired_holds_once<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 8, 6, test_policy()).await;
    let mut feed = inv.subscribe(spec.id).await.expect("subscribe");
    let a = hold(inv, spec.id, OwnerId::new(), &[0, 1]).await;
    let b = hold(inv, spec.id, OwnerId::new(), &[5]).await;
    let g = inv
        .hold_pool(&HoldPool { show: spec.id, owner: OwnerId::new(), pool: PoolId(0), quantity: 3 })
        .await
        .expect("hold_pool");
    fx.clock.advance(Duration::minutes(5));
    let live = hold(inv, spec.id, OwnerId::new(), &[7]).await;
    assert!(matches!(
        inv.sweep_expired(spec.id, 0).await,
        Err(InventoryError::InvalidRequest(InvalidRequest::ZeroLimit))
    ));
    assert!(inv.sweep_expired(spec.id, 100).await.expect("sweep").is_empty(), "nothing expired yet");
    fx.clock.advance(ttl(&spec) - Duration::minutes(5));
    let mut swept = inv.sweep_expired(spec.id, 100).await.expect("sweep");
    swept.sort_by_key(|e| e.hold);
    let mut expect = vec![
        (a.token.hold, a.owner, a.token.items.clone()),
        (b.token.hold, b.owner, b.token.items.clone()),
        (g.token.hold, g.owner, g.token.items.clone()),
    ];
    expect.sort_by_key(|e| e.0);
    let got: Vec<_> = swept.iter().map(|e| (e.hold, e.owner, e.items.clone())).collect();
    assert_eq!(got, expect);
    assert!(swept.iter().all(|e| e.show == spec.id));
    assert!(inv.sweep_expired(spec.id, 100).await.expect("sweep").is_empty(), "each hold is reported once");
    let s = snap(inv, spec.id).await;
    assert_eq!(
        statuses(&s, &[0, 1, 5, 7]),
        [SeatStatus::Available, SeatStatus::Available, SeatStatus::Available, SeatStatus::Held]
    );
    assert_eq!(s.seats[0].version, 2, "the sweep is a transition");
    assert_eq!(s.pools[0].available, 6);
    inv.sell(&sell_req(&live, OrderId::new())).await.expect("a live hold survives the sweep");
    let kinds = next_kinds(&mut feed, 8).await;
    assert_eq!(&kinds[..4], &[ChangeKind::Held; 4]);
    assert_eq!(&kinds[4..7], &[ChangeKind::Expired; 3], "one event per swept hold");
    assert_eq!(kinds[7], ChangeKind::Sold);
}

async fn next_kinds(feed: &mut crate::inventory::ChangeStream, n: usize) -> Vec<ChangeKind> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(next_change(feed).await.kind);
    }
    out
}

/// The next change on a feed, failing the test after 10 s of silence.
pub async fn next_change(feed: &mut crate::inventory::ChangeStream) -> SeatChange {
    use std::future::poll_fn;
    let next = poll_fn(|cx| feed.as_mut().poll_next(cx));
    match tokio::time::timeout(StdDuration::from_secs(10), next).await {
        Ok(Some(Ok(c))) => c,
        other => panic!("expected a change, got {other:?}"),
    }
}

/// Extensions are limited in number and by the hold's maximum lifetime.
pub async fn extensions_are_bounded<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let policy = HoldPolicy {
        hold_ttl: StdDuration::from_secs(60),
        max_renewals: 3,
        max_hold_time: StdDuration::from_secs(150),
        ..test_policy()
    };
    let spec = create(inv, 1, 1, 4, 0, policy).await;
    let h0 = hold(inv, spec.id, OwnerId::new(), &[0]).await;
    let t0 = h0.held_until - Duration::seconds(60);
    fx.clock.advance(Duration::seconds(50));
    let h1 = inv.extend(&action(&h0)).await.expect("extend 1");
    assert_eq!(h1.held_until, t0 + Duration::seconds(110));
    fx.clock.advance(Duration::seconds(50));
    let h2 = inv.extend(&action(&h1)).await.expect("extend 2");
    assert_eq!(h2.held_until, t0 + Duration::seconds(150), "capped at the maximum lifetime");
    fx.clock.advance(Duration::seconds(10));
    let e = inv.extend(&action(&h2)).await;
    assert!(matches!(e, Err(InventoryError::LimitExceeded(Limit::HoldLifetime))), "{e:?}");

    let spec = create(inv, 1, 1, 4, 0, HoldPolicy { max_renewals: 1, ..test_policy() }).await;
    let h0 = hold(inv, spec.id, OwnerId::new(), &[0]).await;
    let h1 = inv.extend(&action(&h0)).await.expect("extend");
    let e = inv.extend(&action(&h1)).await;
    assert!(matches!(e, Err(InventoryError::LimitExceeded(Limit::Renewals { max: 1 }))), "{e:?}");
    inv.release(&action(&h1)).await.expect("the hold is still usable");
}

/// Release frees the seats at once; a second release finds no hold.
pub async fn release_frees_seats<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 4, 0, test_policy()).await;
    let h = hold(inv, spec.id, OwnerId::new(), &[1, 2]).await;
    inv.release(&action(&h)).await.expect("release");
    let s = snap(inv, spec.id).await;
    assert_eq!(statuses(&s, &[1, 2]), [SeatStatus::Available; 2]);
    assert_eq!(s.seats[1].version, 2);
    assert!(matches!(inv.release(&action(&h)).await, Err(InventoryError::HoldExpired { .. })));
    hold(inv, spec.id, OwnerId::new(), &[2, 3]).await;
}

/// Selling again with the same order returns the same sale and changes
/// A sell replay (the same request again) returns the first sale, byte for
/// byte, even after a refund; a different request for a sold order is a
/// `SaleConflict` and changes nothing (design I4, I6).
pub async fn sell_replays_are_idempotent<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 6, 6, test_policy()).await;
    let (owner, other) = (OwnerId::new(), OwnerId::new());
    let seat_hold = hold(inv, spec.id, owner, &[0, 1]).await;
    let pool_hold =
        inv.hold_pool(&HoldPool { show: spec.id, owner, pool: PoolId(0), quantity: 2 }).await.expect("hold_pool");
    for h in [seat_hold, pool_hold] {
        let order = OrderId::new();
        let first = inv.sell(&sell_req(&h, order)).await.expect("sell");
        let before = snap(inv, spec.id).await;
        let again = inv.sell(&sell_req(&h, order)).await.expect("replay");
        assert_eq!(again, first);
        assert_eq!(snap(inv, spec.id).await, before, "a replay changes nothing");
        let conflict =
            |r: Result<Sale, InventoryError>| matches!(r, Err(InventoryError::SaleConflict { order: o }) if o == order);
        let paid_otherwise = Sell { payment: PaymentRef("cap_other".into()), ..sell_req(&h, order) };
        assert!(conflict(inv.sell(&paid_otherwise).await), "a replay with another payment");
        let by_other = Sell { owner: other, ..sell_req(&h, order) };
        assert!(conflict(inv.sell(&by_other).await), "a replay by another owner");
        let edited = Sell { token: HoldToken { version: 999, ..h.token.clone() }, ..sell_req(&h, order) };
        assert!(conflict(inv.sell(&edited).await), "a replay with an edited token");
        let sold_elsewhere = inv.sell(&sell_req(&h, OrderId::new())).await;
        assert!(matches!(sold_elsewhere, Err(InventoryError::HoldExpired { .. })), "{sold_elsewhere:?}");
        assert_eq!(snap(inv, spec.id).await, before, "no refused sell changed anything");
        inv.refund(&Refund { show: spec.id, order, items: first.items.clone() }).await.expect("refund");
        assert_eq!(inv.sell(&sell_req(&h, order)).await.expect("replay after a refund"), first);
        assert!(conflict(inv.sell(&paid_otherwise).await));
    }
    // An order buys one hold: a second hold sold to the same order is
    // refused, even one naming seats sold to it, and the live hold keeps
    // its seats and its owner's count.
    let order = OrderId::new();
    let sold = hold(inv, spec.id, owner, &[2]).await;
    let live = hold(inv, spec.id, owner, &[3]).await;
    inv.sell(&sell_req(&sold, order)).await.expect("sell");
    let before = snap(inv, spec.id).await;
    let second = inv.sell(&sell_req(&live, order)).await;
    assert!(matches!(second, Err(InventoryError::SaleConflict { .. })), "{second:?}");
    let forged = Sell {
        token: HoldToken { hold: live.token.hold, version: 999, ..sold.token.clone() },
        ..sell_req(&sold, order)
    };
    assert!(matches!(inv.sell(&forged).await, Err(InventoryError::SaleConflict { .. })));
    assert_eq!(snap(inv, spec.id).await, before);
    inv.release(&action(&live)).await.expect("the live hold is intact");
}

/// A token proves the whole hold: a subset or superset of its seats, or
/// another pool quantity, is refused by extend, release and sell, and
/// changes nothing (design I4, I7).
pub async fn tokens_name_the_whole_hold<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 6, 6, test_policy()).await;
    let (a, b) = (OwnerId::new(), OwnerId::new());
    let h = hold(inv, spec.id, a, &[1, 2, 3]).await;
    let neighbour = hold(inv, spec.id, b, &[4]).await;
    let g = inv.hold_pool(&HoldPool { show: spec.id, owner: a, pool: PoolId(0), quantity: 3 }).await.expect("pool");
    let before = snap(inv, spec.id).await;
    let with = |items: HoldItems, of: &Hold| HoldToken { items, ..of.token.clone() };
    let mismatch = |e: InventoryError| matches!(e, InventoryError::InvalidRequest(InvalidRequest::TokenMismatch));
    for token in [
        with(HoldItems::Seats(ids(&[1])), &h),
        with(HoldItems::Seats(ids(&[1, 2])), &h),
        with(HoldItems::Seats(ids(&[2, 3])), &h),
        with(HoldItems::Seats(ids(&[1, 2, 3, 4])), &h),
        with(HoldItems::Pool { pool: PoolId(0), quantity: 1 }, &g),
        with(HoldItems::Pool { pool: PoolId(0), quantity: 4 }, &g),
    ] {
        let req = HoldAction { owner: a, token: token.clone() };
        let e = inv.extend(&req).await.expect_err("partial extend");
        assert!(mismatch(e), "extend {token:?}");
        let e = inv.release(&req).await.expect_err("partial release");
        assert!(mismatch(e), "release {token:?}");
        let sell = Sell { owner: a, token: token.clone(), order: OrderId::new(), payment: PaymentRef("p".into()) };
        let e = inv.sell(&sell).await.expect_err("partial sell");
        assert!(mismatch(e), "sell {token:?}");
    }
    // Seats of another hold, or free seats, in place of the hold's own.
    for seats in [&[1, 2, 4][..], &[0, 1, 2], &[4]] {
        let req = HoldAction { owner: a, token: with(HoldItems::Seats(ids(seats)), &h) };
        let e = inv.release(&req).await.expect_err("edited release");
        assert!(matches!(e, InventoryError::HoldExpired { .. }), "{seats:?}: {e:?}");
    }
    assert_eq!(snap(inv, spec.id).await, before, "no partial token changed anything");
    inv.sell(&sell_req(&h, OrderId::new())).await.expect("the whole token sells");
    inv.release(&action(&neighbour)).await.expect("the neighbour's hold is intact");
    inv.release(&action(&g)).await.expect("the whole pool token releases");
}

/// Verify answers as release would, and changes nothing: the hold as it
/// stands for its current, whole token presented by its owner.
pub async fn verify_checks_without_changing<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 6, 6, test_policy()).await;
    let (a, b) = (OwnerId::new(), OwnerId::new());
    let first = hold(inv, spec.id, a, &[1, 2]).await;
    fx.clock.advance(Duration::seconds(10));
    let h = inv.extend(&action(&first)).await.expect("extend");
    let g = inv.hold_pool(&HoldPool { show: spec.id, owner: a, pool: PoolId(0), quantity: 2 }).await.expect("pool");
    let before = snap(inv, spec.id).await;
    for held in [&h, &g] {
        assert_eq!(&inv.verify(&action(held)).await.expect("verify"), held);
        let thief = HoldAction { owner: b, token: held.token.clone() };
        assert!(matches!(inv.verify(&thief).await, Err(InventoryError::NotOwner { .. })));
    }
    assert!(matches!(inv.verify(&action(&first)).await, Err(InventoryError::StaleToken { .. })));
    let mismatch = |e| matches!(e, Err(InventoryError::InvalidRequest(InvalidRequest::TokenMismatch)));
    let part = HoldAction { owner: a, token: HoldToken { items: HoldItems::Seats(ids(&[1])), ..h.token.clone() } };
    assert!(mismatch(inv.verify(&part).await));
    let units = HoldItems::Pool { pool: PoolId(0), quantity: 3 };
    let more = HoldAction { owner: a, token: HoldToken { items: units, ..g.token.clone() } };
    assert!(mismatch(inv.verify(&more).await));
    assert_eq!(snap(inv, spec.id).await, before, "verify changed nothing");
    fx.clock.set(h.held_until);
    assert!(matches!(inv.verify(&action(&h)).await, Err(InventoryError::HoldExpired { .. })));
    assert!(matches!(inv.verify(&action(&g)).await, Err(InventoryError::HoldExpired { .. })));
}

/// The audit names every seat's owner, hold and order, every live pool hold
/// and every sale record with its payment.
pub async fn audit_reports_owners_and_sales<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    use crate::fsm::SeatState;
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 5, 6, test_policy()).await;
    let (a, b) = (OwnerId::new(), OwnerId::new());
    let held = hold(inv, spec.id, a, &[0, 1]).await;
    let sold = hold(inv, spec.id, b, &[3]).await;
    let order = OrderId::new();
    let sale = inv.sell(&sell_req(&sold, order)).await.expect("sell");
    let g = inv.hold_pool(&HoldPool { show: spec.id, owner: a, pool: PoolId(0), quantity: 2 }).await.expect("pool");
    let gs = inv.hold_pool(&HoldPool { show: spec.id, owner: b, pool: PoolId(0), quantity: 3 }).await.expect("pool");
    let pool_order = OrderId::new();
    let pool_sale = inv.sell(&sell_req(&gs, pool_order)).await.expect("sell pool");
    inv.block(spec.id, &ids(&[4])).await.expect("block");

    let audit = inv.audit(spec.id).await.expect("audit");
    assert_eq!(audit.show, spec.id);
    assert_eq!(audit.now, fx.clock.now());
    assert_eq!(audit.seats.len(), 5);
    for s in [0, 1] {
        let seat = audit.seats[s];
        assert_eq!(seat.version, held.token.version);
        assert!(
            matches!(seat.state, SeatState::Held { owner, hold, until, size: 2, renewals: 0, .. }
                if owner == a && hold == held.token.hold && until == held.held_until.timestamp_millis()),
            "{seat:?}"
        );
    }
    assert_eq!(audit.seats[2].state, SeatState::Available);
    assert_eq!(audit.seats[3].state, SeatState::Sold { owner: b, order });
    assert_eq!(audit.seats[3].version, sale.version);
    assert_eq!(audit.seats[4].state, SeatState::Blocked);
    let pool = &audit.pools[0];
    assert_eq!((pool.pool, pool.capacity, pool.sold, pool.version), (PoolId(0), 6, 3, pool_sale.version));
    assert_eq!(pool.holds.len(), 1);
    assert_eq!((pool.holds[0].hold, pool.holds[0].owner, pool.holds[0].quantity), (g.token.hold, a, 2));
    assert_eq!(pool.holds[0].version, g.token.version);
    assert_eq!(pool.sales.len(), 1);
    assert_eq!((pool.sales[0].order, pool.sales[0].hold, pool.sales[0].quantity), (pool_order, gs.token.hold, 3));
    let mut records = vec![
        crate::inventory::SaleRecord::new(&sell_req(&sold, order), sale),
        crate::inventory::SaleRecord::new(&sell_req(&gs, pool_order), pool_sale),
    ];
    records.sort_by_key(|r| r.sale.order);
    assert_eq!(audit.sales, records);
    assert!(matches!(inv.audit(ShowId::new()).await, Err(InventoryError::UnknownShow(_))));
}

/// Refunds return an order's seats and units to sale; other orders' are refused.
pub async fn refund_returns_seats_to_sale<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 4, 5, test_policy()).await;
    let owner = OwnerId::new();
    let order = OrderId::new();
    let h = hold(inv, spec.id, owner, &[0, 1, 2]).await;
    inv.sell(&sell_req(&h, order)).await.expect("sell");
    let pool_order = OrderId::new();
    let g = inv.hold_pool(&HoldPool { show: spec.id, owner, pool: PoolId(0), quantity: 3 }).await.expect("hold_pool");
    inv.sell(&sell_req(&g, pool_order)).await.expect("sell pool");
    let before = snap(inv, spec.id).await;
    let wrong = Refund { show: spec.id, order: OrderId::new(), items: HoldItems::Seats(ids(&[0])) };
    assert!(matches!(inv.refund(&wrong).await, Err(InventoryError::NotSold { .. })));
    let mixed = Refund { show: spec.id, order, items: HoldItems::Seats(ids(&[2, 3])) };
    assert!(matches!(inv.refund(&mixed).await, Err(InventoryError::NotSold { .. })));
    let too_many = Refund { show: spec.id, order: pool_order, items: HoldItems::Pool { pool: PoolId(0), quantity: 4 } };
    assert!(matches!(inv.refund(&too_many).await, Err(InventoryError::NotSold { .. })));
    let other_order = Refund { show: spec.id, order, items: HoldItems::Pool { pool: PoolId(0), quantity: 1 } };
    assert!(matches!(inv.refund(&other_order).await, Err(InventoryError::NotSold { .. })));
    assert_eq!(snap(inv, spec.id).await, before);

    inv.refund(&Refund { show: spec.id, order, items: HoldItems::Seats(ids(&[0, 2])) }).await.expect("refund");
    inv.refund(&Refund { show: spec.id, order: pool_order, items: HoldItems::Pool { pool: PoolId(0), quantity: 2 } })
        .await
        .expect("refund pool");
    let s = snap(inv, spec.id).await;
    assert_eq!(statuses(&s, &[0, 1, 2]), [SeatStatus::Available, SeatStatus::Sold, SeatStatus::Available]);
    assert_eq!(s.seats[0].version, 3);
    assert_eq!((s.pools[0].sold, s.pools[0].available), (1, 4));
    let again = Refund { show: spec.id, order, items: HoldItems::Seats(ids(&[0])) };
    assert!(matches!(inv.refund(&again).await, Err(InventoryError::NotSold { .. })), "refunded once only");
    hold(inv, spec.id, OwnerId::new(), &[0, 2]).await;
}

/// Blocked seats are out of sale until unblocked; only free seats block.
pub async fn block_and_unblock<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 6, 0, test_policy()).await;
    hold(inv, spec.id, OwnerId::new(), &[0]).await;
    let before = snap(inv, spec.id).await;
    let e = inv.block(spec.id, &ids(&[0, 1])).await;
    assert!(matches!(e, Err(InventoryError::WrongState { ref seats }) if seats == &ids(&[0])), "{e:?}");
    let e = inv.unblock(spec.id, &ids(&[1])).await;
    assert!(matches!(e, Err(InventoryError::WrongState { .. })), "{e:?}");
    assert_eq!(snap(inv, spec.id).await, before);
    inv.block(spec.id, &ids(&[1, 2])).await.expect("block");
    assert_eq!(statuses(&snap(inv, spec.id).await, &[1, 2]), [SeatStatus::Blocked; 2]);
    let e = inv.hold_seats(&HoldSeats { show: spec.id, owner: OwnerId::new(), seats: ids(&[2]) }).await;
    assert!(matches!(e, Err(InventoryError::SeatsTaken { .. })), "{e:?}");
    let best = inv
        .hold_best(&HoldBest { show: spec.id, owner: OwnerId::new(), quantity: 3, section: None, category: None })
        .await
        .expect("best");
    assert_eq!(best.token.items, HoldItems::Seats(ids(&[3, 4, 5])), "best-available skips blocked seats");
    inv.unblock(spec.id, &ids(&[1, 2])).await.expect("unblock");
    assert_eq!(statuses(&snap(inv, spec.id).await, &[1, 2]), [SeatStatus::Available; 2]);
    hold(inv, spec.id, OwnerId::new(), &[1, 2]).await;
}

fn best(show: ShowId, quantity: u32) -> HoldBest {
    HoldBest { show, owner: OwnerId::new(), quantity, section: None, category: None }
}

/// Best-available takes adjacent seats in the best row, nearest the middle,
/// and never strands a lone seat when another choice exists.
pub async fn best_available_prefers_adjacent_seats_without_orphans<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 2, 8, 0, test_policy()).await;
    let first = inv.hold_best(&best(spec.id, 2)).await.expect("best");
    assert_eq!(first.token.items, HoldItems::Seats(ids(&[3, 4])), "middle of the best row");
    inv.release(&action(&first)).await.expect("release");
    inv.block(spec.id, &ids(&[0, 4])).await.expect("block");
    // Free in row 1: 1-3 and 5-7. Only 5-6 strands no lone seat between taken ones.
    let h = inv.hold_best(&best(spec.id, 2)).await.expect("best");
    assert_eq!(h.token.items, HoldItems::Seats(ids(&[5, 6])));
    let h = inv.hold_best(&best(spec.id, 3)).await.expect("best");
    assert_eq!(h.token.items, HoldItems::Seats(ids(&[1, 2, 3])));
    // Row 1 has only seat 7 left: the next pair comes from row 2's middle.
    let h = inv.hold_best(&best(spec.id, 2)).await.expect("best");
    assert_eq!(h.token.items, HoldItems::Seats(ids(&[11, 12])));
}

/// Best-available honours section and price category and refuses what it
/// cannot satisfy.
pub async fn best_available_honours_filters<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let mut layout = VenueLayout::grid(2, 1, 4, PriceCategory(1));
    for seat in &mut layout.sections[1].rows[0].seats[2..] {
        seat.category = PriceCategory(2);
    }
    let spec = ShowSpec::new("filters", layout);
    inv.create_show(&spec).await.expect("create");
    let in_section =
        inv.hold_best(&HoldBest { section: Some(SectionId(1)), ..best(spec.id, 2) }).await.expect("section");
    let HoldItems::Seats(seats) = &in_section.token.items else { panic!("seats expected") };
    assert!(seats.iter().all(|s| s.0 >= 4), "{seats:?}");
    inv.release(&action(&in_section)).await.expect("release");
    let cat =
        inv.hold_best(&HoldBest { category: Some(PriceCategory(2)), ..best(spec.id, 2) }).await.expect("category");
    assert_eq!(cat.token.items, HoldItems::Seats(ids(&[6, 7])));
    let before = snap(inv, spec.id).await;
    let e = inv.hold_best(&HoldBest { category: Some(PriceCategory(2)), ..best(spec.id, 1) }).await;
    assert!(matches!(e, Err(InventoryError::NoSeatsAvailable { requested: 1 })), "{e:?}");
    let e = inv.hold_best(&best(spec.id, 7)).await;
    assert!(matches!(e, Err(InventoryError::NoSeatsAvailable { requested: 7 })), "{e:?}");
    let e = inv.hold_best(&HoldBest { section: Some(SectionId(9)), ..best(spec.id, 1) }).await;
    assert!(matches!(e, Err(InventoryError::NoSeatsAvailable { .. })), "{e:?}");
    assert_eq!(snap(inv, spec.id).await, before);
    let scattered = inv.hold_best(&best(spec.id, 6)).await.expect("scattered fallback");
    assert_eq!(scattered.token.items.count(), 6);
}

/// A pool hold takes every requested unit or none.
pub async fn pools_are_all_or_nothing<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 1, 10, test_policy()).await;
    let req = |quantity| HoldPool { show: spec.id, owner: OwnerId::new(), pool: PoolId(0), quantity };
    let h = inv.hold_pool(&req(6)).await.expect("hold 6");
    assert_eq!(h.token.items, HoldItems::Pool { pool: PoolId(0), quantity: 6 });
    let before = snap(inv, spec.id).await;
    assert_eq!((before.pools[0].held, before.pools[0].available), (6, 4));
    let e = inv.hold_pool(&req(5)).await;
    assert!(matches!(e, Err(InventoryError::InsufficientCapacity { requested: 5, available: 4, .. })), "{e:?}");
    assert_eq!(snap(inv, spec.id).await, before);
    inv.hold_pool(&req(4)).await.expect("hold the rest");
    assert_eq!(snap(inv, spec.id).await.pools[0].available, 0);
    inv.release(&action(&h)).await.expect("release");
    assert_eq!(snap(inv, spec.id).await.pools[0].available, 6);
}

/// Pool holds expire lazily like seats, and sell.
pub async fn pool_holds_expire_and_sell<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 1, 5, test_policy()).await;
    let req = |quantity| HoldPool { show: spec.id, owner: OwnerId::new(), pool: PoolId(0), quantity };
    let old = inv.hold_pool(&req(5)).await.expect("hold");
    assert!(matches!(inv.hold_pool(&req(1)).await, Err(InventoryError::InsufficientCapacity { .. })));
    fx.clock.advance(ttl(&spec));
    assert_eq!(snap(inv, spec.id).await.pools[0].available, 5, "lazy expiry");
    let h = inv.hold_pool(&req(3)).await.expect("hold after expiry");
    let e = inv.sell(&sell_req(&old, OrderId::new())).await;
    assert!(matches!(e, Err(InventoryError::HoldExpired { .. })), "{e:?}");
    let order = OrderId::new();
    let sale = inv.sell(&sell_req(&h, order)).await.expect("sell");
    assert_eq!(sale.items, HoldItems::Pool { pool: PoolId(0), quantity: 3 });
    let p = snap(inv, spec.id).await.pools[0];
    assert_eq!((p.sold, p.held, p.available), (3, 0, 2));
    fx.clock.advance(Duration::hours(1));
    assert_eq!(snap(inv, spec.id).await.pools[0].sold, 3, "sold units never expire");
}

/// One owner may hold at most the show's limit of seats plus units at once.
pub async fn per_owner_limit<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 12, 10, HoldPolicy { max_held_per_owner: Some(4), ..test_policy() }).await;
    let a = OwnerId::new();
    let h = hold(inv, spec.id, a, &[0, 1, 2]).await;
    let before = snap(inv, spec.id).await;
    let e = inv.hold_seats(&HoldSeats { show: spec.id, owner: a, seats: ids(&[3, 4]) }).await;
    assert!(matches!(e, Err(InventoryError::LimitExceeded(Limit::HeldPerOwner { would_hold: 5, max: 4 }))), "{e:?}");
    let e = inv.hold_pool(&HoldPool { show: spec.id, owner: a, pool: PoolId(0), quantity: 2 }).await;
    assert!(matches!(e, Err(InventoryError::LimitExceeded(Limit::HeldPerOwner { .. }))), "{e:?}");
    let e = inv.hold_best(&HoldBest { owner: a, ..best(spec.id, 2) }).await;
    assert!(matches!(e, Err(InventoryError::LimitExceeded(Limit::HeldPerOwner { .. }))), "{e:?}");
    assert_eq!(snap(inv, spec.id).await, before);
    let g = inv.hold_pool(&HoldPool { show: spec.id, owner: a, pool: PoolId(0), quantity: 1 }).await.expect("4th");
    hold(inv, spec.id, OwnerId::new(), &[5, 6, 7, 8]).await;
    inv.release(&action(&h)).await.expect("release");
    let h2 = hold(inv, spec.id, a, &[0, 1, 2]).await;
    inv.sell(&sell_req(&g, OrderId::new())).await.expect("sold units stop counting");
    hold(inv, spec.id, a, &[3]).await;
    inv.sell(&sell_req(&h2, OrderId::new())).await.expect("sell");
    fx.clock.advance(ttl(&spec));
    hold(inv, spec.id, a, &[9, 10, 11]).await;
    inv.hold_pool(&HoldPool { show: spec.id, owner: a, pool: PoolId(0), quantity: 1 })
        .await
        .expect("expired holds stop counting");
}

/// The per-owner limit counts what the owner really holds: partial
/// releases, forged sell replays and partial extensions followed by a sweep
/// cannot lower the count (each was a way past the limit once).
pub async fn per_owner_limit_survives_forged_tokens<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 12, 0, HoldPolicy { max_held_per_owner: Some(4), ..test_policy() }).await;
    let a = OwnerId::new();
    let over =
        |e: Result<Hold, InventoryError>| matches!(e, Err(InventoryError::LimitExceeded(Limit::HeldPerOwner { .. })));
    let h = hold(inv, spec.id, a, &[0, 1, 2, 3]).await;
    let part = |seats: &[u32]| HoldAction {
        owner: a,
        token: HoldToken { items: HoldItems::Seats(ids(seats)), ..h.token.clone() },
    };
    for _ in 0..3 {
        assert!(inv.release(&part(&[0])).await.is_err(), "a partial release");
        assert!(inv.extend(&part(&[1])).await.is_err(), "a partial extension");
    }
    // A forged replay: the live hold's id with a seat sold to the order.
    let other = hold(inv, spec.id, OwnerId::new(), &[8]).await;
    let order = OrderId::new();
    inv.sell(&sell_req(&other, order)).await.expect("sell");
    let forged = Sell {
        owner: a,
        token: HoldToken { hold: h.token.hold, version: 999, items: HoldItems::Seats(ids(&[8])), show: spec.id },
        order,
        payment: PaymentRef(format!("cap_{order}")),
    };
    assert!(inv.sell(&forged).await.is_err(), "a forged replay");
    fx.clock.advance(Duration::seconds(1));
    assert_eq!(inv.sweep_expired(spec.id, 100).await.expect("sweep"), vec![], "nothing expired");
    assert!(over(inv.hold_seats(&HoldSeats { show: spec.id, owner: a, seats: ids(&[4]) }).await), "still 4 held");
    assert!(over(inv.hold_best(&HoldBest { owner: a, ..best(spec.id, 1) }).await));
    assert_eq!(statuses(&snap(inv, spec.id).await, &[0, 1, 2, 3]), [SeatStatus::Held; 4]);
    inv.release(&action(&h)).await.expect("the whole token releases");
    hold(inv, spec.id, a, &[4, 5, 6, 7]).await;
}

/// Malformed and unauthorized requests get typed errors and change nothing (design I7).
pub async fn bad_requests_change_nothing<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 2, 5, 5, test_policy()).await;
    let show = spec.id;
    let (a, b) = (OwnerId::new(), OwnerId::new());
    let stale = hold(inv, show, a, &[0, 1]).await;
    let h = inv.extend(&action(&stale)).await.expect("extend");
    let g = inv.hold_pool(&HoldPool { show, owner: a, pool: PoolId(0), quantity: 2 }).await.expect("pool");
    let sold = hold(inv, show, b, &[5]).await;
    let order = OrderId::new();
    inv.sell(&sell_req(&sold, order)).await.expect("sell");
    let before = snap(inv, show).await;

    let unknown = ShowId::new();
    let seats = |s: &[u32]| HoldSeats { show, owner: b, seats: ids(s) };
    let inval = |e: Result<Hold, InventoryError>| match e {
        Err(InventoryError::InvalidRequest(r)) => r,
        other => panic!("expected InvalidRequest, got {other:?}"),
    };
    assert!(
        matches!(inv.hold_seats(&HoldSeats { show: unknown, ..seats(&[2]) }).await, Err(InventoryError::UnknownShow(s)) if s == unknown)
    );
    assert!(matches!(
        inv.hold_seats(&seats(&[2, 10])).await,
        Err(InventoryError::UnknownSeat { seat: SeatId(10), .. })
    ));
    assert!(matches!(inv.hold_seats(&seats(&[u32::MAX])).await, Err(InventoryError::UnknownSeat { .. })));
    assert_eq!(inval(inv.hold_seats(&seats(&[2, 3, 2])).await), InvalidRequest::DuplicateSeat(SeatId(2)));
    assert_eq!(inval(inv.hold_seats(&seats(&[])).await), InvalidRequest::NoSeats);
    let all: Vec<u32> = (0..10).chain(0..10).collect();
    assert!(matches!(inval(inv.hold_seats(&seats(&all)).await), InvalidRequest::TooMany { requested: 20, max: 10 }));
    assert_eq!(inval(inv.hold_best(&best(show, 0)).await), InvalidRequest::ZeroQuantity);
    assert!(matches!(inval(inv.hold_best(&best(show, u32::MAX)).await), InvalidRequest::TooMany { .. }));
    assert!(matches!(inv.hold_best(&best(unknown, 1)).await, Err(InventoryError::UnknownShow(_))));
    let pool = |pool, quantity| HoldPool { show, owner: b, pool: PoolId(pool), quantity };
    assert_eq!(inval(inv.hold_pool(&pool(0, 0)).await), InvalidRequest::ZeroQuantity);
    assert!(matches!(inval(inv.hold_pool(&pool(0, 1_000_000)).await), InvalidRequest::TooMany { .. }));
    assert!(matches!(inv.hold_pool(&pool(3, 1)).await, Err(InventoryError::UnknownPool { pool: PoolId(3), .. })));
    assert!(matches!(
        inv.hold_pool(&HoldPool { show: unknown, ..pool(0, 1) }).await,
        Err(InventoryError::UnknownShow(_))
    ));

    for held in [&h, &g] {
        let thief = HoldAction { owner: b, token: held.token.clone() };
        assert!(matches!(inv.release(&thief).await, Err(InventoryError::NotOwner { .. })));
        assert!(matches!(inv.extend(&thief).await, Err(InventoryError::NotOwner { .. })));
        assert!(matches!(
            inv.sell(&Sell { owner: b, ..sell_req(held, OrderId::new()) }).await,
            Err(InventoryError::NotOwner { .. })
        ));
        let no_pay = Sell { payment: PaymentRef(String::new()), ..sell_req(held, OrderId::new()) };
        assert!(matches!(inv.sell(&no_pay).await, Err(InventoryError::InvalidRequest(InvalidRequest::BadPaymentRef))));
        let huge_pay = Sell { payment: PaymentRef("x".repeat(10_000)), ..sell_req(held, OrderId::new()) };
        assert!(matches!(
            inv.sell(&huge_pay).await,
            Err(InventoryError::InvalidRequest(InvalidRequest::BadPaymentRef))
        ));
        let elsewhere = HoldAction { owner: a, token: HoldToken { show: unknown, ..held.token.clone() } };
        assert!(matches!(inv.release(&elsewhere).await, Err(InventoryError::UnknownShow(_))));
        let made_up = HoldAction { owner: a, token: HoldToken { hold: HoldId::new(), ..held.token.clone() } };
        assert!(matches!(inv.release(&made_up).await, Err(InventoryError::HoldExpired { .. })));
    }
    assert!(matches!(inv.release(&action(&stale)).await, Err(InventoryError::StaleToken { .. })));
    assert!(matches!(inv.sell(&sell_req(&stale, OrderId::new())).await, Err(InventoryError::StaleToken { .. })));
    let forged = |items| HoldAction { owner: a, token: HoldToken { items, ..h.token.clone() } };
    assert!(matches!(
        inv.release(&forged(HoldItems::Seats(ids(&[0, 1, 5])))).await,
        Err(InventoryError::InvalidRequest(InvalidRequest::TokenMismatch))
    ));
    assert!(matches!(
        inv.release(&forged(HoldItems::Seats(ids(&[0, 0])))).await,
        Err(InventoryError::InvalidRequest(InvalidRequest::DuplicateSeat(_)))
    ));
    assert!(matches!(
        inv.release(&forged(HoldItems::Seats(ids(&[0, 99])))).await,
        Err(InventoryError::UnknownSeat { .. })
    ));
    let g_forged = HoldAction {
        owner: a,
        token: HoldToken { items: HoldItems::Pool { pool: PoolId(0), quantity: 5 }, ..g.token.clone() },
    };
    assert!(matches!(inv.release(&g_forged).await, Err(InventoryError::InvalidRequest(InvalidRequest::TokenMismatch))));
    let g_elsewhere = HoldAction {
        owner: a,
        token: HoldToken { items: HoldItems::Pool { pool: PoolId(7), quantity: 2 }, ..g.token.clone() },
    };
    assert!(matches!(inv.release(&g_elsewhere).await, Err(InventoryError::UnknownPool { .. })));

    let refund = |order, items| Refund { show, order, items };
    assert!(matches!(
        inv.refund(&refund(OrderId::new(), HoldItems::Seats(ids(&[5])))).await,
        Err(InventoryError::NotSold { .. })
    ));
    assert!(matches!(
        inv.refund(&refund(order, HoldItems::Seats(ids(&[0])))).await,
        Err(InventoryError::NotSold { .. })
    ));
    assert!(matches!(
        inv.refund(&refund(order, HoldItems::Seats(vec![]))).await,
        Err(InventoryError::InvalidRequest(InvalidRequest::NoSeats))
    ));
    assert!(matches!(
        inv.refund(&Refund { show: unknown, order, items: HoldItems::Seats(ids(&[5])) }).await,
        Err(InventoryError::UnknownShow(_))
    ));
    assert!(matches!(inv.block(show, &ids(&[0])).await, Err(InventoryError::WrongState { .. })));
    assert!(matches!(
        inv.block(show, &ids(&[2, 2])).await,
        Err(InventoryError::InvalidRequest(InvalidRequest::DuplicateSeat(_)))
    ));
    assert!(matches!(inv.block(show, &ids(&[10])).await, Err(InventoryError::UnknownSeat { .. })));
    assert!(matches!(inv.unblock(show, &ids(&[2])).await, Err(InventoryError::WrongState { .. })));
    assert!(matches!(inv.sweep_expired(show, 0).await, Err(InventoryError::InvalidRequest(InvalidRequest::ZeroLimit))));
    assert!(matches!(inv.sweep_expired(unknown, 1).await, Err(InventoryError::UnknownShow(_))));
    assert!(inv.subscribe(unknown).await.is_err());

    assert_eq!(snap(inv, show).await, before, "no bad request changed anything");
}

/// The change feed reports every change of the show, in order.
pub async fn change_feed_reports_changes<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 6, 4, test_policy()).await;
    let other = create(inv, 1, 1, 6, 0, test_policy()).await;
    let mut feed = inv.subscribe(spec.id).await.expect("subscribe");
    hold(inv, other.id, OwnerId::new(), &[0]).await;
    let h = hold(inv, spec.id, OwnerId::new(), &[1, 2]).await;
    let c = next_change(&mut feed).await;
    assert_eq!(
        (c.show, c.kind, c.hold, c.items.clone(), c.version),
        (spec.id, ChangeKind::Held, Some(h.token.hold), h.token.items.clone(), 1)
    );
    let h = inv.extend(&action(&h)).await.expect("extend");
    assert_eq!(next_change(&mut feed).await.kind, ChangeKind::Extended);
    let order = OrderId::new();
    inv.sell(&sell_req(&h, order)).await.expect("sell");
    let c = next_change(&mut feed).await;
    assert_eq!((c.kind, c.order, c.version), (ChangeKind::Sold, Some(order), 3));
    inv.refund(&Refund { show: spec.id, order, items: HoldItems::Seats(ids(&[1])) }).await.expect("refund");
    let c = next_change(&mut feed).await;
    assert_eq!((c.kind, c.items), (ChangeKind::Refunded, HoldItems::Seats(ids(&[1]))));
    let r = hold(inv, spec.id, OwnerId::new(), &[4]).await;
    inv.release(&action(&r)).await.expect("release");
    assert_eq!(next_kinds(&mut feed, 2).await, [ChangeKind::Held, ChangeKind::Released]);
    inv.block(spec.id, &ids(&[5])).await.expect("block");
    inv.unblock(spec.id, &ids(&[5])).await.expect("unblock");
    assert_eq!(next_kinds(&mut feed, 2).await, [ChangeKind::Blocked, ChangeKind::Unblocked]);
    let g = inv
        .hold_pool(&HoldPool { show: spec.id, owner: OwnerId::new(), pool: PoolId(0), quantity: 2 })
        .await
        .expect("pool");
    let c = next_change(&mut feed).await;
    assert_eq!((c.kind, c.items), (ChangeKind::Held, g.token.items.clone()));
    // A refused request publishes nothing: the next event is the next change.
    assert!(inv.hold_seats(&HoldSeats { show: spec.id, owner: OwnerId::new(), seats: ids(&[2]) }).await.is_err());
    inv.release(&action(&g)).await.expect("release pool");
    assert_eq!(next_change(&mut feed).await.kind, ChangeKind::Released);
}

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
