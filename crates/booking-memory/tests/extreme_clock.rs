//! Expiry arithmetic saturates: a clock at the end of time (an injected
//! clock gone wrong) gets answers, never an overflow panic.

use booking_core::{
    Clock, HoldAction, HoldPool, HoldSeats, InventoryError, Limit, OrderId, OwnerId, PaymentRef, PoolId, PriceCategory,
    SeatInventory, SeatStatus, Sell, ShowSpec, VenueLayout,
};
use booking_memory::MemoryInventory;
use chrono::{DateTime, Utc};
use std::sync::Arc;

#[derive(Debug)]
struct EndOfTime;

impl Clock for EndOfTime {
    fn now(&self) -> DateTime<Utc> {
        DateTime::<Utc>::MAX_UTC
    }

    fn now_millis(&self) -> i64 {
        i64::MAX - 5
    }
}

#[tokio::test]
async fn holds_extend_and_sell_at_the_end_of_time() {
    let inv = MemoryInventory::with_clock(Arc::new(EndOfTime));
    let spec =
        ShowSpec::new("late", VenueLayout::grid(1, 1, 4, PriceCategory(1))).with_pool("floor", 4, PriceCategory(2));
    inv.create_show(&spec).await.expect("create");
    let owner = OwnerId::new();
    let h =
        inv.hold_seats(&HoldSeats { show: spec.id, owner, seats: vec![booking_core::SeatId(0)] }).await.expect("hold");
    assert_eq!(h.token.version, 1);
    // Expiry and deadline both saturate at the end of time, so the hold has
    // reached its lifetime: a typed refusal, not an overflow.
    let lifetime = |e| matches!(e, Err(InventoryError::LimitExceeded(Limit::HoldLifetime)));
    assert!(lifetime(inv.extend(&HoldAction { owner, token: h.token.clone() }).await.map(|_| ())));
    let g = inv.hold_pool(&HoldPool { show: spec.id, owner, pool: PoolId(0), quantity: 2 }).await.expect("hold pool");
    assert!(lifetime(inv.extend(&HoldAction { owner, token: g.token.clone() }).await.map(|_| ())));
    let sell = |token| Sell { owner, token, order: OrderId::new(), payment: PaymentRef("cap".into()), payer: None };
    inv.sell(&sell(h.token)).await.expect("sell");
    inv.sell(&sell(g.token)).await.expect("sell pool");
    let snap = inv.snapshot(spec.id).await.expect("snapshot");
    assert_eq!(snap.seats[0].status, SeatStatus::Sold);
    assert_eq!(snap.pools[0].sold, 2);
}
