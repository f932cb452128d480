//! Whole holds and sale records on PostgreSQL beyond the conformance suite:
//! concurrent sales of one order, and holds made before the whole-hold
//! migration.

mod common;

use booking_core::testkit::{create, ids, test_policy};
use booking_core::{
    HoldAction, HoldId, HoldPolicy, HoldSeats, InventoryError, ManualClock, OrderId, OwnerId, PaymentRef,
    SeatInventory, SeatStatus, Sell,
};
use booking_postgres::PgInventory;
use sqlx::Row;
use std::borrow::Cow;

/// Two holds sold to one order at the same time, on separate connections:
/// one sale, the other `SaleConflict`, its hold untouched, one record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sales_of_one_order_sell_one_hold() {
    let db = common::create_database().await;
    let clock = ManualClock::fixed();
    let inv = PgInventory::with_clock(common::pool(&db, 8).await, clock.shared());
    let policy = HoldPolicy { max_held_per_owner: None, ..test_policy() };
    let spec = create(&inv, 1, 1, 100, 0, policy).await;
    let show = spec.id;
    let owner = OwnerId::new();
    for round in 0..40u32 {
        let order = OrderId::new();
        let payment = PaymentRef(format!("cap-{round}"));
        let mut tasks = Vec::new();
        let mut holds = Vec::new();
        for seat in [2 * round, 2 * round + 1] {
            let h = inv.hold_seats(&HoldSeats { show, owner, seats: ids(&[seat]) }).await.expect("hold");
            holds.push(h.clone());
            let (inv, payment) = (inv.clone(), payment.clone());
            tasks.push(tokio::spawn(async move {
                inv.sell(&Sell { owner, token: h.token, order, payment, payer: None }).await
            }));
        }
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.expect("task"));
        }
        let sold: Vec<usize> = (0..2).filter(|&i| answers[i].is_ok()).collect();
        assert_eq!(sold.len(), 1, "round {round}: one hold sold to the order: {answers:?}");
        let lost = 1 - sold[0];
        assert!(
            matches!(&answers[lost], Err(InventoryError::SaleConflict { order: o }) if *o == order),
            "round {round}: {:?}",
            answers[lost]
        );
        let snap = inv.snapshot(show).await.expect("snapshot");
        assert_eq!(snap.seats[(2 * round) as usize + lost].status, SeatStatus::Held, "round {round}");
        inv.release(&HoldAction { owner, token: holds[lost].token.clone() }).await.expect("the other hold is intact");
    }
    let audit = inv.audit(show).await.expect("audit");
    assert_eq!(audit.sales.len(), 40, "one record per order");
}

/// Holds made before the whole-hold migration get their hold's size from
/// it, so their whole tokens keep working and partial ones are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_made_before_the_migration_keep_working() {
    let db = common::create_empty_database().await;
    let pool = common::pool(&db, 2).await;
    let all = booking_postgres::migrations();
    let mut before = booking_postgres::migrations();
    let whole_holds = 20261201000002;
    before.migrations = Cow::Owned(all.iter().filter(|m| m.version < whole_holds).cloned().collect());
    before.run(&pool).await.expect("the migrations before");
    let clock = ManualClock::fixed();
    let inv = PgInventory::with_clock(pool.clone(), clock.shared());
    let spec = create(&inv, 1, 1, 6, 0, test_policy()).await;
    let (owner, hold) = (OwnerId::new(), HoldId::new());
    let code: i32 = sqlx::query("SELECT code FROM booking.hold_seats($1, $2, $3, ARRAY[1, 2, 3], $4)")
        .bind(spec.id.0)
        .bind(owner.0)
        .bind(hold.0)
        .bind(booking_core::Clock::now_millis(&clock))
        .fetch_one(&pool)
        .await
        .expect("an old hold")
        .get(0);
    assert_eq!(code, 0);
    all.run(&pool).await.expect("the whole-hold migration");

    let token = |seats: &[u32]| booking_core::HoldToken {
        show: spec.id,
        hold,
        version: 1,
        items: booking_core::HoldItems::Seats(ids(seats)),
    };
    let part = inv.release(&HoldAction { owner, token: token(&[1, 2]) }).await;
    assert!(
        matches!(part, Err(InventoryError::InvalidRequest(booking_core::InvalidRequest::TokenMismatch))),
        "{part:?}"
    );
    inv.release(&HoldAction { owner, token: token(&[1, 2, 3]) }).await.expect("the whole token releases");
}
