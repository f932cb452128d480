//! Sales: one sale per order, refunds, the audit (design I6).

use super::*;
use crate::backend::fsm::SeatStatus;
use crate::clock::Clock;
use crate::error::InventoryError;
use crate::ids::{OrderId, OwnerId, PaymentRef, PoolId, ShowId};
use crate::inventory::{HoldItems, HoldPool, HoldToken, Refund, Sale, SeatInventory, Sell};
use crate::testkit::Fixture;

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

/// The audit names every seat's owner, hold and order, every live pool hold
/// and every sale record with its payment.
pub async fn audit_reports_owners_and_sales<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    use crate::backend::fsm::SeatState;
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
