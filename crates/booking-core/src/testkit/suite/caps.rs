//! The per-owner ticket cap: what one owner may have in a show, held and
//! bought together, decided with every hold; and the per-payment purchase
//! cap: what one payer may have bought in a show, decided with every sale.

use super::*;
use crate::error::{InvalidRequest, InventoryError, Limit};
use crate::ids::{OrderId, OwnerId, PayerKey, PoolId, SectionId};
use crate::inventory::{Hold, HoldBest, HoldItems, HoldPool, HoldSeats, Refund, SeatInventory, Sell};
use crate::layout::HoldPolicy;
use crate::testkit::Fixture;

/// A policy with a ticket cap of `max` and no held limit, so that only the
/// cap decides.
fn capped(max: u32) -> HoldPolicy {
    HoldPolicy { max_held_per_owner: None, max_tickets_per_owner: Some(max), ..test_policy() }
}

fn pool_req(show: ShowId, owner: OwnerId, quantity: u32) -> HoldPool {
    HoldPool { show, owner, pool: PoolId(0), quantity }
}

fn best_req(show: ShowId, owner: OwnerId, quantity: u32) -> HoldBest {
    HoldBest { show, owner, quantity, section: None, category: None }
}

/// True when `r` is the ticket cap's refusal with these numbers.
fn capped_at<T: std::fmt::Debug>(r: &Result<T, InventoryError>, would_have: u32, max: u32) -> bool {
    matches!(r, Err(InventoryError::LimitExceeded(Limit::TicketsPerOwner { would_have: w, max: m }))
        if *w == would_have && *m == max)
}

/// Every way to hold (named seats, best available, pool units) is refused
/// when `owner` would have `would_have` of `max`; nothing changes.
async fn assert_capped<I: SeatInventory + ?Sized>(
    inv: &I,
    show: ShowId,
    owner: OwnerId,
    seat: u32,
    have: u32,
    max: u32,
) {
    let before = snap(inv, show).await;
    let r = inv.hold_seats(&HoldSeats { show, owner, seats: ids(&[seat]) }).await;
    assert!(capped_at(&r, have + 1, max), "seat hold at {have} of {max}: {r:?}");
    let r = inv.hold_best(&best_req(show, owner, 2)).await;
    assert!(capped_at(&r, have + 2, max), "best available at {have} of {max}: {r:?}");
    let r = inv.hold_pool(&pool_req(show, owner, 1)).await;
    assert!(capped_at(&r, have + 1, max), "pool hold at {have} of {max}: {r:?}");
    assert_eq!(snap(inv, show).await, before, "a refused hold changes nothing");
}

/// The cap counts sold, not refunded, items as well as live holds, seats
/// and pool units alike; other owners are not affected.
pub async fn ticket_cap_counts_sold_items<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 12, 10, capped(5)).await;
    let a = OwnerId::new();
    let seats = hold(inv, spec.id, a, &[0, 1, 2]).await;
    inv.sell(&sell_req(&seats, OrderId::new())).await.expect("sell seats");
    let units = inv.hold_pool(&pool_req(spec.id, a, 1)).await.expect("pool hold");
    inv.sell(&sell_req(&units, OrderId::new())).await.expect("sell units");
    // 4 sold: one more may be held, then nothing.
    let last = hold(inv, spec.id, a, &[3]).await;
    assert_capped(inv, spec.id, a, 4, 5, 5).await;
    inv.sell(&sell_req(&last, OrderId::new())).await.expect("a held unit sells: the cap is not checked twice");
    assert_capped(inv, spec.id, a, 4, 5, 5).await;
    let b = OwnerId::new();
    hold(inv, spec.id, b, &[4, 5, 6, 7, 8]).await;
    let r = inv.hold_seats(&HoldSeats { show: spec.id, owner: b, seats: ids(&[9]) }).await;
    assert!(capped_at(&r, 6, 5), "holds count alone too: {r:?}");
}

/// A refund frees the cap by what it returned: a partial refund part of
/// it, seats and pool units alike.
pub async fn ticket_cap_freed_by_refunds<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 12, 10, capped(5)).await;
    let a = OwnerId::new();
    let h = hold(inv, spec.id, a, &[0, 1, 2, 3]).await;
    let seat_order = OrderId::new();
    inv.sell(&sell_req(&h, seat_order)).await.expect("sell seats");
    let g = inv.hold_pool(&pool_req(spec.id, a, 1)).await.expect("pool hold");
    let unit_order = OrderId::new();
    inv.sell(&sell_req(&g, unit_order)).await.expect("sell units");
    assert_capped(inv, spec.id, a, 5, 5, 5).await;
    let refund = |order, items| Refund { show: spec.id, order, items };
    inv.refund(&refund(seat_order, HoldItems::Seats(ids(&[1, 2])))).await.expect("partial refund");
    // 3 sold: 2 more, not 3.
    let r = inv.hold_seats(&HoldSeats { show: spec.id, owner: a, seats: ids(&[5, 6, 7]) }).await;
    assert!(capped_at(&r, 6, 5), "{r:?}");
    let two = hold(inv, spec.id, a, &[1, 2]).await;
    assert_capped(inv, spec.id, a, 8, 5, 5).await;
    inv.refund(&refund(unit_order, HoldItems::Pool { pool: PoolId(0), quantity: 1 })).await.expect("pool refund");
    inv.hold_pool(&pool_req(spec.id, a, 1)).await.expect("the refunded unit is free again");
    inv.release(&action(&two)).await.expect("release");
    inv.refund(&refund(seat_order, HoldItems::Seats(ids(&[0, 3])))).await.expect("refund the rest");
    let r = inv.hold_pool(&pool_req(spec.id, a, 5)).await;
    assert!(capped_at(&r, 6, 5), "the held unit still counts: {r:?}");
    inv.hold_best(&best_req(spec.id, a, 4)).await.expect("1 held, nothing sold: 4 more");
}

/// Releasing or letting a hold expire frees only what it held: what the
/// owner bought still counts.
pub async fn ticket_cap_release_and_expiry_free_only_held<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 12, 10, capped(4)).await;
    let a = OwnerId::new();
    let bought = hold(inv, spec.id, a, &[0, 1]).await;
    inv.sell(&sell_req(&bought, OrderId::new())).await.expect("sell");
    let h = hold(inv, spec.id, a, &[2, 3]).await;
    assert_capped(inv, spec.id, a, 4, 4, 4).await;
    inv.release(&action(&h)).await.expect("release");
    let r = inv.hold_seats(&HoldSeats { show: spec.id, owner: a, seats: ids(&[2, 3, 4]) }).await;
    assert!(capped_at(&r, 5, 4), "released: 2 sold still count: {r:?}");
    let g = inv.hold_pool(&pool_req(spec.id, a, 2)).await.expect("2 more");
    assert_capped(inv, spec.id, a, 4, 4, 4).await;
    fx.clock.advance(Duration::milliseconds(spec.policy.ttl_millis()));
    let r = inv.hold_pool(&pool_req(spec.id, a, 3)).await;
    assert!(capped_at(&r, 5, 4), "expired: 2 sold still count: {r:?}");
    inv.sweep_expired(spec.id, 100).await.expect("sweep");
    let r = inv.hold_best(&best_req(spec.id, a, 3)).await;
    assert!(capped_at(&r, 5, 4), "swept: 2 sold still count: {r:?}");
    let again: Hold = inv.hold_pool(&pool_req(spec.id, a, 2)).await.expect("2 more after expiry");
    assert_eq!(again.token.items.count(), 2);
    assert!(matches!(inv.release(&action(&g)).await, Err(InventoryError::HoldExpired { .. })));
}

/// A replayed sell is answered from the sale record and counts once; a
/// conflicting one counts nothing.
pub async fn ticket_cap_counts_a_replayed_sell_once<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 12, 10, capped(5)).await;
    let a = OwnerId::new();
    let h = hold(inv, spec.id, a, &[0, 1]).await;
    let order = OrderId::new();
    let first = inv.sell(&sell_req(&h, order)).await.expect("sell");
    for _ in 0..3 {
        assert_eq!(inv.sell(&sell_req(&h, order)).await.expect("replay"), first);
    }
    let other = inv.hold_pool(&pool_req(spec.id, a, 1)).await.expect("pool hold");
    let conflict = inv.sell(&sell_req(&other, order)).await;
    assert!(matches!(conflict, Err(InventoryError::SaleConflict { .. })), "{conflict:?}");
    // 2 sold, 1 held: 2 more, not 3.
    let r = inv.hold_seats(&HoldSeats { show: spec.id, owner: a, seats: ids(&[2, 3, 4]) }).await;
    assert!(capped_at(&r, 6, 5), "{r:?}");
    hold(inv, spec.id, a, &[2, 3]).await;
    assert_capped(inv, spec.id, a, 4, 5, 5).await;
}

/// Malformed requests and refused refunds change neither the inventory nor
/// what an owner counts towards the cap.
pub async fn ticket_cap_unchanged_by_bad_input<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 12, 10, capped(4)).await;
    let a = OwnerId::new();
    let h = hold(inv, spec.id, a, &[0, 1]).await;
    let order = OrderId::new();
    inv.sell(&sell_req(&h, order)).await.expect("sell");
    let before = snap(inv, spec.id).await;
    let too_many = |r: &Result<Hold, InventoryError>| {
        matches!(r, Err(InventoryError::InvalidRequest(InvalidRequest::TooMany { .. })))
    };
    for quantity in [u32::MAX, u32::MAX / 2 + 1, 10_001] {
        assert!(too_many(&inv.hold_pool(&pool_req(spec.id, a, quantity)).await), "pool {quantity}");
        assert!(too_many(&inv.hold_best(&best_req(spec.id, a, quantity)).await), "best {quantity}");
    }
    let r = inv.hold_pool(&pool_req(spec.id, a, 0)).await;
    assert!(matches!(r, Err(InventoryError::InvalidRequest(InvalidRequest::ZeroQuantity))), "{r:?}");
    let r = inv.hold_seats(&HoldSeats { show: spec.id, owner: a, seats: ids(&[2, 2]) }).await;
    assert!(matches!(r, Err(InventoryError::InvalidRequest(_))), "{r:?}");
    let refund = |order, items| Refund { show: spec.id, order, items };
    let units = HoldItems::Pool { pool: PoolId(0), quantity: u32::MAX };
    assert!(inv.refund(&refund(order, units)).await.is_err(), "an absurd refund");
    assert!(inv.refund(&refund(order, HoldItems::Seats(ids(&[0, 1, 2])))).await.is_err(), "more than was sold");
    assert!(inv.refund(&refund(OrderId::new(), HoldItems::Seats(ids(&[0])))).await.is_err(), "another order");
    assert_eq!(snap(inv, spec.id).await, before, "nothing changed");
    // Still 2 sold: exactly 2 more.
    let r = inv.hold_seats(&HoldSeats { show: spec.id, owner: a, seats: ids(&[2, 3, 4]) }).await;
    assert!(capped_at(&r, 5, 4), "{r:?}");
    hold(inv, spec.id, a, &[2, 3]).await;
    assert_capped(inv, spec.id, a, 4, 4, 4).await;
    // The largest cap a policy can say is a cap like any other.
    let spec = create(inv, 1, 1, 4, 4, capped(u32::MAX)).await;
    let h = hold(inv, spec.id, a, &[0, 1, 2]).await;
    inv.sell(&sell_req(&h, OrderId::new())).await.expect("sell under the largest cap");
    inv.hold_pool(&pool_req(spec.id, a, 4)).await.expect("hold under the largest cap");
}

/// 64 holds of one owner at once (named seats, best available, pool
/// units, one unit each), on top of what it bought: together they never
/// exceed the cap, and as seats suffice, exactly the cap is reached.
pub async fn race_ticket_cap<I: SeatInventory + ?Sized + 'static>(fx: &Fixture<I>) {
    // Named holds take seats of section 0, best available picks from
    // section 1: no hold is refused for a seat another one took.
    let spec = create(&*fx.inventory, 2, 1, 64, 30, capped(7)).await;
    let owner = OwnerId::new();
    let bought = hold(&*fx.inventory, spec.id, owner, &[126, 127]).await;
    fx.inventory.sell(&sell_req(&bought, OrderId::new())).await.expect("sell");
    let mut tasks = Vec::new();
    for t in 0..64u32 {
        let (inv, show) = (fx.inventory.clone(), spec.id);
        tasks.push(tokio::spawn(async move {
            let r = match t % 4 {
                0 => inv.hold_pool(&pool_req(show, owner, 1)).await,
                1 => inv.hold_best(&HoldBest { section: Some(SectionId(1)), ..best_req(show, owner, 1) }).await,
                _ => inv.hold_seats(&HoldSeats { show, owner, seats: ids(&[t]) }).await,
            };
            match r {
                Ok(h) => h.token.items.count(),
                Err(InventoryError::LimitExceeded(Limit::TicketsPerOwner { max: 7, .. })) => 0,
                Err(e) => panic!("unexpected {e:?}"),
            }
        }));
    }
    let mut granted = 0;
    for t in tasks {
        granted += t.await.expect("task");
    }
    let s = snap(&*fx.inventory, spec.id).await;
    assert_eq!(s.totals().held + s.pools[0].held, granted, "every granted unit is held");
    assert_eq!(granted, 5, "2 bought + 5 held: exactly the cap of 7");
    assert_capped(&*fx.inventory, spec.id, owner, 70, 7, 7).await;
}

/// A policy with a per-payment cap of `max` and no per-owner limits, so
/// that only the payment cap decides.
fn payment_capped(max: u32) -> HoldPolicy {
    HoldPolicy { max_held_per_owner: None, max_tickets_per_payment: Some(max), ..test_policy() }
}

fn payer(name: &str) -> PayerKey {
    PayerKey::new(name).expect("a valid payer key")
}

/// A sell request for `hold` paid by `payer`.
fn paid_by(hold: &Hold, order: OrderId, payer: Option<&PayerKey>) -> Sell {
    Sell { payer: payer.cloned(), ..sell_req(hold, order) }
}

/// True when `r` is the payment cap's refusal with these numbers.
fn payment_capped_at<T: std::fmt::Debug>(r: &Result<T, InventoryError>, would_have: u32, max: u32) -> bool {
    matches!(r, Err(InventoryError::LimitExceeded(Limit::TicketsPerPayment { would_have: w, max: m }))
        if *w == would_have && *m == max)
}

/// Owners paying with one payment method share its cap, seats and pool
/// units alike: the sale that would pass it is refused and changes
/// nothing (the hold stays, the order is not recorded); the same hold
/// sells to another payer, and another payer's sales do not count.
pub async fn payment_cap_counts_every_owner_paying_alike<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 12, 10, payment_capped(4)).await;
    let (card, other) = (payer("fp_card-1"), payer("fp_card-2"));
    let (a, b, c) = (OwnerId::new(), OwnerId::new(), OwnerId::new());
    let h = hold(inv, spec.id, a, &[0, 1]).await;
    inv.sell(&paid_by(&h, OrderId::new(), Some(&card))).await.expect("a: 2 of 4");
    let g = inv.hold_pool(&pool_req(spec.id, b, 1)).await.expect("pool hold");
    inv.sell(&paid_by(&g, OrderId::new(), Some(&card))).await.expect("b: 3 of 4");
    let h = hold(inv, spec.id, b, &[2, 3]).await;
    inv.sell(&paid_by(&h, OrderId::new(), Some(&other))).await.expect("another payer counts apart");
    let late = hold(inv, spec.id, c, &[4, 5]).await;
    let units = inv.hold_pool(&pool_req(spec.id, c, 2)).await.expect("pool hold");
    let before = snap(inv, spec.id).await;
    let order = OrderId::new();
    let r = inv.sell(&paid_by(&late, order, Some(&card))).await;
    assert!(payment_capped_at(&r, 5, 4), "seats past the cap: {r:?}");
    let r = inv.sell(&paid_by(&units, OrderId::new(), Some(&card))).await;
    assert!(payment_capped_at(&r, 5, 4), "units past the cap: {r:?}");
    assert_eq!(snap(inv, spec.id).await, before, "a refused sale changes nothing");
    // The refused order has no record: it sells to another payer, once.
    let sale = inv.sell(&paid_by(&late, order, Some(&other))).await.expect("the hold was kept");
    assert_eq!(inv.sell(&paid_by(&late, order, Some(&other))).await.expect("replay"), sale);
    let last = hold(inv, spec.id, c, &[6]).await;
    inv.sell(&paid_by(&last, OrderId::new(), Some(&card))).await.expect("c: 4 of 4, exactly the cap");
    let more = hold(inv, spec.id, a, &[7]).await;
    let r = inv.sell(&paid_by(&more, OrderId::new(), Some(&card))).await;
    assert!(payment_capped_at(&r, 5, 4), "{r:?}");
}

/// A refund frees the payer's cap by what it returned, seats and pool
/// units alike; a refused sale then succeeds when retried.
pub async fn payment_cap_freed_by_refunds<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 12, 10, payment_capped(3)).await;
    let card = payer("fp_card-1");
    let (a, b) = (OwnerId::new(), OwnerId::new());
    let h = hold(inv, spec.id, a, &[0, 1]).await;
    let seat_order = OrderId::new();
    inv.sell(&paid_by(&h, seat_order, Some(&card))).await.expect("sell seats");
    let g = inv.hold_pool(&pool_req(spec.id, a, 1)).await.expect("pool hold");
    let unit_order = OrderId::new();
    inv.sell(&paid_by(&g, unit_order, Some(&card))).await.expect("sell a unit");
    let wants = hold(inv, spec.id, b, &[2, 3]).await;
    let order = OrderId::new();
    let r = inv.sell(&paid_by(&wants, order, Some(&card))).await;
    assert!(payment_capped_at(&r, 5, 3), "{r:?}");
    let refund = |order, items| Refund { show: spec.id, order, items };
    inv.refund(&refund(seat_order, HoldItems::Seats(ids(&[1])))).await.expect("partial refund");
    let r = inv.sell(&paid_by(&wants, order, Some(&card))).await;
    assert!(payment_capped_at(&r, 4, 3), "one seat freed, not two: {r:?}");
    inv.refund(&refund(unit_order, HoldItems::Pool { pool: PoolId(0), quantity: 1 })).await.expect("pool refund");
    inv.sell(&paid_by(&wants, order, Some(&card))).await.expect("1 + 2 of 3 after the refunds");
    let one = hold(inv, spec.id, b, &[4]).await;
    let r = inv.sell(&paid_by(&one, OrderId::new(), Some(&card))).await;
    assert!(payment_capped_at(&r, 4, 3), "{r:?}");
}

/// A replayed sale is answered from its record and counts once; the same
/// order with another payer is a conflict and counts nothing.
pub async fn payment_cap_counts_a_replayed_sell_once<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 12, 10, payment_capped(4)).await;
    let (card, other) = (payer("fp_card-1"), payer("fp_card-2"));
    let h = hold(inv, spec.id, OwnerId::new(), &[0, 1]).await;
    let order = OrderId::new();
    let first = inv.sell(&paid_by(&h, order, Some(&card))).await.expect("sell");
    for _ in 0..3 {
        assert_eq!(inv.sell(&paid_by(&h, order, Some(&card))).await.expect("replay"), first);
    }
    let before = snap(inv, spec.id).await;
    for changed in [Some(&other), None] {
        let r = inv.sell(&paid_by(&h, order, changed)).await;
        assert!(matches!(r, Err(InventoryError::SaleConflict { .. })), "another payer, same order: {r:?}");
    }
    assert_eq!(snap(inv, spec.id).await, before, "a conflicting replay changes nothing");
    // 2 of 4 counted, not 8: two more sell, a third does not.
    let b = OwnerId::new();
    let two = hold(inv, spec.id, b, &[2, 3]).await;
    inv.sell(&paid_by(&two, OrderId::new(), Some(&card))).await.expect("4 of 4");
    let one = hold(inv, spec.id, b, &[4]).await;
    let r = inv.sell(&paid_by(&one, OrderId::new(), Some(&card))).await;
    assert!(payment_capped_at(&r, 5, 4), "{r:?}");
}

/// Sales without a payer are not counted, however many; the cap of a show
/// does not count a payer's sales in another show.
pub async fn payment_cap_not_applied_without_a_payer<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let spec = create(inv, 1, 1, 12, 10, payment_capped(2)).await;
    let card = payer("fp_card-1");
    let a = OwnerId::new();
    let h = hold(inv, spec.id, a, &[0, 1, 2, 3]).await;
    inv.sell(&paid_by(&h, OrderId::new(), None)).await.expect("no payer: not capped");
    let g = inv.hold_pool(&pool_req(spec.id, a, 5)).await.expect("pool hold");
    inv.sell(&paid_by(&g, OrderId::new(), None)).await.expect("no payer: not capped");
    let elsewhere = create(inv, 1, 1, 4, 0, payment_capped(2)).await;
    let e = hold(inv, elsewhere.id, a, &[0, 1]).await;
    inv.sell(&paid_by(&e, OrderId::new(), Some(&card))).await.expect("2 of 2 in another show");
    let h = hold(inv, spec.id, a, &[4, 5]).await;
    inv.sell(&paid_by(&h, OrderId::new(), Some(&card))).await.expect("2 of 2 here");
    let one = hold(inv, spec.id, a, &[6]).await;
    let r = inv.sell(&paid_by(&one, OrderId::new(), Some(&card))).await;
    assert!(payment_capped_at(&r, 3, 2), "{r:?}");
    // An uncapped show counts nothing.
    let free = create(inv, 1, 1, 4, 0, test_policy()).await;
    let f = hold(inv, free.id, a, &[0, 1, 2]).await;
    inv.sell(&paid_by(&f, OrderId::new(), Some(&card))).await.expect("no cap");
}

/// 24 owners' sales paid by one payer at once, one seat or unit each:
/// exactly the cap sells, every other sale is refused with the cap, and
/// the refused holds are still held.
pub async fn race_payment_cap<I: SeatInventory + ?Sized + 'static>(fx: &Fixture<I>) {
    let spec = create(&*fx.inventory, 1, 1, 16, 8, payment_capped(5)).await;
    let card = payer("fp_card-1");
    let mut holds = Vec::new();
    for t in 0..24u32 {
        let owner = OwnerId::new();
        let h = if t % 3 == 0 {
            fx.inventory.hold_pool(&pool_req(spec.id, owner, 1)).await.expect("pool hold")
        } else {
            hold(&*fx.inventory, spec.id, owner, &[t - t / 3 - 1]).await
        };
        holds.push(h);
    }
    let mut tasks = Vec::new();
    for h in holds {
        let (inv, card) = (fx.inventory.clone(), card.clone());
        tasks.push(tokio::spawn(async move {
            match inv.sell(&paid_by(&h, OrderId::new(), Some(&card))).await {
                Ok(sale) => sale.items.count(),
                Err(InventoryError::LimitExceeded(Limit::TicketsPerPayment { max: 5, .. })) => 0,
                Err(e) => panic!("unexpected {e:?}"),
            }
        }));
    }
    let mut sold = 0;
    for t in tasks {
        sold += t.await.expect("task");
    }
    assert_eq!(sold, 5, "exactly the cap sells");
    let s = snap(&*fx.inventory, spec.id).await;
    assert_eq!(s.totals().sold + s.pools[0].sold, 5, "every sale is in the inventory");
    assert_eq!(s.totals().held + s.pools[0].held, 19, "every refused hold is still held");
}

/// A sale with a stale token races the same hold's current token, both
/// paid by one payer whose cap fits the hold once. The current sale
/// succeeds; the stale one is refused as if decided before it
/// (`StaleToken`) or after it (the payer's cap, which a sale checks before
/// the hold: 6 of 4), never with an answer no order of the two gives, such
/// as `HoldExpired`. The rounds, each with its own seats and payer, run
/// all at once, so that refusals are decided while other sales commit.
pub async fn race_stale_sale_against_the_payment_cap<I: SeatInventory + ?Sized + 'static>(fx: &Fixture<I>) {
    const ROUNDS: u32 = 16;
    let spec = create(&*fx.inventory, 1, 1, 3 * ROUNDS, 0, payment_capped(4)).await;
    let mut rounds = Vec::new();
    for round in 0..ROUNDS {
        let first = 3 * round;
        let stale = hold(&*fx.inventory, spec.id, OwnerId::new(), &[first, first + 1, first + 2]).await;
        let current = fx.inventory.extend(&action(&stale)).await.expect("extend");
        assert_ne!(stale.token.version, current.token.version, "an extension moves the version");
        let card = payer(&format!("fp_card-{round}"));
        let sell = |h: Hold| {
            let (inv, card) = (fx.inventory.clone(), card.clone());
            tokio::spawn(async move { inv.sell(&paid_by(&h, OrderId::new(), Some(&card))).await })
        };
        rounds.push((sell(stale), sell(current)));
    }
    for (stale, current) in rounds {
        let (stale, current) = (stale.await.expect("task"), current.await.expect("task"));
        assert!(current.is_ok(), "the current token sells: {current:?} (the stale one: {stale:?})");
        assert!(
            matches!(stale, Err(InventoryError::StaleToken { .. })) || payment_capped_at(&stale, 6, 4),
            "a stale sale is refused as before the other (StaleToken) or after it (the cap): {stale:?}"
        );
    }
    let s = snap(&*fx.inventory, spec.id).await;
    assert_eq!(s.totals().sold, 3 * ROUNDS, "every hold sold once");
}
