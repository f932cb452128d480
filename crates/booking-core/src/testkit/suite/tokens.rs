//! Tokens: only the owner with the current, whole token (design I4), extensions and the per-owner limit.

use super::*;
use crate::backend::fsm::SeatStatus;
use crate::error::{InvalidRequest, InventoryError, Limit};
use crate::ids::{OrderId, OwnerId, PaymentRef, PoolId};
use crate::inventory::{Hold, HoldAction, HoldBest, HoldItems, HoldPool, HoldSeats, HoldToken, SeatInventory, Sell};
use crate::layout::HoldPolicy;
use crate::testkit::Fixture;
use chrono::Duration;
use std::time::Duration as StdDuration;

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
        let sell = Sell {
            owner: a,
            token: token.clone(),
            order: OrderId::new(),
            payment: PaymentRef("p".into()),
            payer: None,
        };
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
        payer: None,
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
