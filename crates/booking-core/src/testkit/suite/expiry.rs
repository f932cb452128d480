//! Expiry: expired holds never block, the sweeper and maintenance (design I5, I8).

use super::*;
use crate::backend::fsm::SeatStatus;
use crate::error::{InvalidRequest, InventoryError};
use crate::ids::{OrderId, OwnerId, PoolId};
use crate::inventory::{ChangeKind, HoldItems, HoldPool, HoldSeats, SeatInventory};
use crate::testkit::Fixture;
use chrono::Duration;
use std::sync::atomic::Ordering;
use std::time::Duration as StdDuration;

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

/// The maintenance worker sweeps the expired holds of every listed show,
/// and no archived one.
pub async fn maintenance_sweeps_every_listed_show<I: SeatInventory + ?Sized + 'static>(fx: &Fixture<I>) {
    let inv = &*fx.inventory;
    let (a, b, archived) = (
        create(inv, 1, 1, 4, 0, test_policy()).await,
        create(inv, 1, 1, 4, 0, test_policy()).await,
        create(inv, 1, 1, 4, 0, test_policy()).await,
    );
    for s in [&a, &b, &archived] {
        hold(inv, s.id, OwnerId::new(), &[0, 1]).await;
    }
    inv.archive_show(archived.id).await.expect("archive");
    fx.clock.advance(ttl(&a));
    let maintenance = crate::maintenance::Maintenance::new(
        fx.inventory.clone(),
        crate::maintenance::MaintenanceConfig { sweep_limit: 100, feed_retention: StdDuration::from_secs(3600) },
    );
    let round = maintenance.run_once().await.expect("maintenance");
    assert!(round.holds_freed >= 2, "{round:?}");
    assert_eq!(round.errors, 0);
    for s in [&a, &b] {
        assert!(inv.sweep_expired(s.id, 100).await.expect("sweep").is_empty(), "already swept");
    }
    assert_eq!(inv.sweep_expired(archived.id, 100).await.expect("sweep").len(), 1, "archived shows are left alone");
    assert!(maintenance.totals().holds_freed.load(Ordering::Relaxed) >= 2);
}
