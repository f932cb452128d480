//! Shows and the change feed: listing, read-back, archive, feed order.

use super::*;
use crate::error::InventoryError;
use crate::ids::{OrderId, OwnerId, PoolId, PriceCategory, ShowId};
use crate::inventory::{ChangeKind, HoldItems, HoldPool, HoldSeats, Refund, SeatInventory};
use crate::layout::{ShowSpec, VenueLayout};
use crate::testkit::Fixture;
use std::time::Duration as StdDuration;

/// Shows are listed until archived; a show's specification reads back as
/// created, seat labels included; archiving twice changes nothing.
pub async fn shows_are_listed_read_back_and_archived<I: SeatInventory + ?Sized>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let mut layout = VenueLayout::grid(1, 1, 3, PriceCategory(1));
    layout.sections[0].rows[0].seats[1].label = "12b".into();
    layout.sections[0].name = "Balcony".into();
    let spec = ShowSpec::new("listed", layout).with_pool("standing", 4, PriceCategory(2)).with_policy(test_policy());
    inv.create_show(&spec).await.expect("create");
    let other = create(inv, 1, 1, 2, 0, test_policy()).await;
    let listed = inv.list_shows().await.expect("list");
    assert!(listed.contains(&spec.id) && listed.contains(&other.id));
    assert!(listed.windows(2).all(|w| w[0] < w[1]), "by id");
    assert_eq!(inv.show_spec(spec.id).await.expect("spec"), spec);
    inv.archive_show(spec.id).await.expect("archive");
    inv.archive_show(spec.id).await.expect("archive again");
    let listed = inv.list_shows().await.expect("list");
    assert!(!listed.contains(&spec.id) && listed.contains(&other.id));
    assert_eq!(inv.show_spec(spec.id).await.expect("an archived show's spec"), spec);
    assert!(inv.snapshot(spec.id).await.is_ok(), "an archived show still answers");
    assert!(matches!(inv.show_spec(ShowId::new()).await, Err(InventoryError::UnknownShow(_))));
    assert!(matches!(inv.archive_show(ShowId::new()).await, Err(InventoryError::UnknownShow(_))));
    assert_eq!(inv.prune_feed(StdDuration::from_secs(3600)).await.expect("prune"), 0, "nothing is an hour old");
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
