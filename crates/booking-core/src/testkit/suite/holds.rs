//! Holds: no oversell, exclusive holds, all or nothing (design I1-I3), best-available and pools.

use super::*;
use crate::backend::fsm::SeatStatus;
use crate::clock::Clock;
use crate::error::InventoryError;
use crate::ids::{OrderId, OwnerId, PoolId, PriceCategory, SectionId};
use crate::inventory::{HoldBest, HoldItems, HoldPool, HoldSeats, Sale, SeatInventory};
use crate::layout::{ShowSpec, VenueLayout};
use crate::testkit::Fixture;

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
