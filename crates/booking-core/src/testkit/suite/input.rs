//! Bad input changes nothing (design I7).

use super::*;
use crate::error::{InvalidRequest, InventoryError};
use crate::ids::{HoldId, OrderId, OwnerId, PaymentRef, PoolId, SeatId, ShowId};
use crate::inventory::{Hold, HoldAction, HoldItems, HoldPool, HoldSeats, HoldToken, Refund, SeatInventory, Sell};
use crate::testkit::Fixture;

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
