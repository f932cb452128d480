//! Refusals by name: the inventory functions answer with the refusal codes
//! of `booking_core::backend::refusal` (and three follow-ups), never with
//! integer codes; a refusal raised to roll back a partial change names the
//! request's own seats and order; an answer the library cannot read, and
//! any other failure of the store, is a `Backend` error naming PostgreSQL
//! and the operation.

mod common;

use booking_core::backend::failure::StoreFailure;
use booking_core::backend::refusal::Refusal;
use booking_core::testkit::{create, ids, test_policy};
use booking_core::{
    HoldPool, HoldSeats, InventoryError, ManualClock, OrderId, OwnerId, PaymentRef, PoolId, Refund, SeatInventory, Sell,
};
use booking_postgres::PgInventory;
use sqlx::{Executor, Row};

/// What a function answers when it did not decide (`booking.outcome.follow_up`).
const FOLLOW_UPS: [&str; 3] = ["READ_SEATS", "READ_RECORD", "PICK_AGAIN"];

async fn inventory(db: &str) -> PgInventory {
    PgInventory::with_clock(common::pool(db, 4).await, ManualClock::fixed().shared())
}

/// Every function of the schema, by name, with its source.
async fn functions(db: &str) -> Vec<(String, String)> {
    let mut conn = common::connect(db).await;
    sqlx::query(
        "SELECT p.proname::text, p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
         WHERE n.nspname = 'booking' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .expect("pg_proc")
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// Upper-case words quoted in `src` ('SEATS_TAKEN', 'BK000', ...).
fn quoted_codes(src: &str) -> Vec<&str> {
    src.split('\'')
        .skip(1)
        .step_by(2)
        .filter(|w| w.len() >= 3 && w.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .collect()
}

#[tokio::test]
async fn functions_answer_refusal_codes_only() {
    let db = common::create_database().await;
    let functions = functions(&db).await;
    let outcome = ["hold_seats", "extend_seats", "sell_seats", "finish_seats", "regroup_seats", "hold_pool"];
    for name in outcome {
        assert!(functions.iter().any(|(n, _)| n == name), "{name} is in the schema");
    }
    let mut answered = Vec::new();
    // Run by the migrations, never by a request.
    let maintenance = ["route_partitions"];
    for (name, src) in functions.iter().filter(|(name, _)| !maintenance.contains(&name.as_str())) {
        for old in ["r.code", "v_codes", "'BK4", ":= 13", ":= 16", ":= 17"] {
            assert!(!src.contains(old), "{name} still answers the old way ({old})");
        }
        for code in quoted_codes(src) {
            let known = Refusal::from_code(code).is_some() || FOLLOW_UPS.contains(&code) || code == "BK000";
            assert!(known, "{name} answers {code:?}, which is neither a refusal, a follow-up nor BK000");
            answered.push(code);
        }
        if src.contains("RAISE") {
            assert!(
                src.matches("RAISE EXCEPTION USING ERRCODE = 'BK000', MESSAGE = '").count()
                    == src.matches("RAISE").count(),
                "{name}: every exception is BK000 with a code as its message"
            );
        }
    }
    for must in ["UNKNOWN_SHOW", "SEATS_TAKEN", "STALE_TOKEN", "NOT_SOLD", "WRONG_STATE", "READ_SEATS", "PICK_AGAIN"] {
        assert!(answered.contains(&must), "no function answers {must}");
    }
}

/// Partial changes are rolled back by a raised refusal: the error names the
/// request's seats and order, and nothing changed.
#[tokio::test]
async fn raised_refusals_name_the_request() {
    let db = common::create_database().await;
    let inv = inventory(&db).await;
    let show = create(&inv, 1, 2, 5, 5, test_policy()).await.id;
    let (a, b) = (OwnerId::new(), OwnerId::new());
    let held = inv.hold_seats(&HoldSeats { show, owner: a, seats: ids(&[1, 3]) }).await.expect("hold");

    // Some seats free, some held by another: the hold's own UPDATE took
    // the free ones, then rolled back.
    let e = inv.hold_seats(&HoldSeats { show, owner: b, seats: ids(&[0, 1, 2, 3]) }).await.expect_err("taken");
    assert!(matches!(&e, InventoryError::SeatsTaken { seats } if *seats == ids(&[1, 3])), "{e:?}");
    inv.hold_seats(&HoldSeats { show, owner: b, seats: ids(&[0, 2]) }).await.expect("rolled back");

    // A refund naming seats of the order and seats it never bought.
    let order = OrderId::new();
    let sell = Sell { owner: a, token: held.token.clone(), order, payment: PaymentRef("cap".into()), payer: None };
    inv.sell(&sell).await.expect("sell");
    let refund = Refund { show, order, items: booking_core::HoldItems::Seats(ids(&[1, 3, 4])) };
    let e = inv.refund(&refund).await.expect_err("not all sold to the order");
    assert!(matches!(e, InventoryError::NotSold { order: o } if o == order), "{e:?}");
    let other = OrderId::new();
    let e = inv.refund(&Refund { order: other, ..refund.clone() }).await.expect_err("nothing sold to it");
    assert!(matches!(e, InventoryError::NotSold { order: o } if o == other), "{e:?}");

    // A block naming free seats and sold or live-held ones.
    let e = inv.block(show, &ids(&[1, 4, 5, 0])).await.expect_err("wrong state");
    assert!(matches!(&e, InventoryError::WrongState { seats } if *seats == ids(&[0, 1])), "{e:?}");

    // Nothing of the refused requests stuck.
    inv.refund(&Refund { items: booking_core::HoldItems::Seats(ids(&[1, 3])), ..refund }).await.expect("refund");
    inv.block(show, &ids(&[4, 5])).await.expect("block the free seats");

    // A pool short of units names the pool and the quantity asked for.
    inv.hold_pool(&HoldPool { show, owner: a, pool: PoolId(0), quantity: 4 }).await.expect("pool hold");
    let e = inv.hold_pool(&HoldPool { show, owner: b, pool: PoolId(0), quantity: 2 }).await.expect_err("short");
    assert!(matches!(e, InventoryError::InsufficientCapacity { pool: PoolId(0), requested: 2, available: 1 }), "{e:?}");
}

/// An answer outside the vocabulary, or a failing statement, is a `Backend`
/// error that names the store and the operation; it never panics.
#[tokio::test]
async fn unreadable_answers_and_failures_name_postgres_and_the_operation() {
    let db = common::create_database().await;
    let inv = inventory(&db).await;
    let show = create(&inv, 1, 1, 5, 5, test_policy()).await.id;
    let mut admin = common::connect(&db).await;
    admin
        .execute(
            "CREATE OR REPLACE FUNCTION booking.hold_pool(p_show uuid, p_owner uuid, p_hold uuid, p_pool integer, p_quantity integer, p_now bigint) \
             RETURNS booking.outcome LANGUAGE sql AS \
             $$ SELECT ROW(NULL, NULL, NULL, NULL, NULL, 'OUT_OF_CHEESE', NULL)::booking.outcome $$; \
             CREATE OR REPLACE FUNCTION booking.regroup_seats(p_show uuid, p_kind integer, p_seats integer[], p_order uuid, p_now bigint) \
             RETURNS booking.outcome LANGUAGE sql AS \
             $$ SELECT ROW(NULL, NULL, NULL, NULL, NULL, NULL, 'LATER')::booking.outcome $$; \
             CREATE OR REPLACE FUNCTION booking.hold_seats(p_show uuid, p_owner uuid, p_hold uuid, p_seats integer[], p_now bigint) \
             RETURNS booking.outcome LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION USING ERRCODE = 'BK000', MESSAGE = '17'; END $$; \
             ALTER FUNCTION booking.sweep(uuid, integer, bigint) RENAME TO sweep_gone; \
             SELECT booking.route_partitions();",
        )
        .await
        .expect("replace functions");
    let owner = OwnerId::new();
    let named = |e: InventoryError, operation: &str| {
        assert!(matches!(e, InventoryError::Backend(_)), "{operation}: {e:?}");
        let f = StoreFailure::of(&e).unwrap_or_else(|| panic!("{operation}: {e:?} names no store"));
        assert_eq!((f.store, f.operation), ("postgres", operation), "{e}");
        assert!(e.to_string().contains(&format!("postgres, {operation}: ")), "{e}");
    };
    let e = inv.hold_pool(&HoldPool { show, owner, pool: PoolId(0), quantity: 1 }).await.expect_err("unknown code");
    assert!(e.to_string().contains("OUT_OF_CHEESE"), "{e}");
    named(e, "hold_pool");
    named(inv.block(show, &ids(&[0])).await.expect_err("unknown follow-up"), "block");
    named(inv.hold_seats(&HoldSeats { show, owner, seats: ids(&[0]) }).await.expect_err("raised"), "hold_seats");
    named(inv.sweep_expired(show, 10).await.expect_err("no such function"), "sweep_expired");
}

/// A database migrated by the previous version, with a live seat hold and
/// a pool hold made by its functions: after this migration they keep
/// working, and refusals on them name the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_previous_version_keeps_working() {
    use booking_core::{Clock, HoldAction, HoldId, HoldItems, HoldToken};
    use std::borrow::Cow;

    let db = common::create_empty_database().await;
    let pool = common::pool(&db, 2).await;
    let refusal_codes = 20261203000000;
    let mut before = booking_postgres::migrations();
    let all: Vec<_> = before.iter().cloned().collect();
    assert!(all.iter().any(|m| m.version == refusal_codes), "the migration is shipped");
    before.migrations = Cow::Owned(all.into_iter().filter(|m| m.version < refusal_codes).collect());
    before.run(&pool).await.expect("the migrations before");
    let inv = inventory(&db).await;
    let show = create(&inv, 1, 1, 6, 5, test_policy()).await.id;
    let now = ManualClock::fixed().now_millis();
    let (a, b, seats, units) = (OwnerId::new(), OwnerId::new(), HoldId::new(), HoldId::new());
    let old = |sql: &'static str, hold: HoldId| sqlx::query(sql).bind(show.0).bind(a.0).bind(hold.0).bind(now);
    let row = old("SELECT code, version FROM booking.hold_seats($1, $2, $3, ARRAY[1, 2], $4)", seats)
        .fetch_one(&pool)
        .await
        .expect("a hold the old way");
    assert_eq!(row.get::<i32, _>(0), 0);
    let seat_version = row.get::<i64, _>(1) as u64;
    let row = old("SELECT code, version FROM booking.hold_pool($1, $2, $3, 0, 3, $4)", units)
        .fetch_one(&pool)
        .await
        .expect("units held the old way");
    assert_eq!(row.get::<i32, _>(0), 0);
    let pool_version = row.get::<i64, _>(1) as u64;

    booking_postgres::migrate(&pool).await.expect("this migration");
    let e = inv.hold_seats(&HoldSeats { show, owner: b, seats: ids(&[0, 1]) }).await.expect_err("held");
    assert!(matches!(&e, InventoryError::SeatsTaken { seats } if *seats == ids(&[1])), "{e:?}");
    let e = inv.hold_pool(&HoldPool { show, owner: b, pool: PoolId(0), quantity: 3 }).await.expect_err("short");
    assert!(matches!(e, InventoryError::InsufficientCapacity { pool: PoolId(0), requested: 3, available: 2 }), "{e:?}");
    let units =
        HoldToken { show, hold: units, version: pool_version, items: HoldItems::Pool { pool: PoolId(0), quantity: 3 } };
    let stale = HoldToken { version: pool_version + 7, ..units.clone() };
    let e = inv.extend(&HoldAction { owner: a, token: stale }).await.expect_err("stale");
    assert!(
        matches!(e, InventoryError::StaleToken { hold, presented, current }
            if hold == units.hold && presented == pool_version + 7 && current == pool_version),
        "{e:?}"
    );
    let e = inv.extend(&HoldAction { owner: b, token: units.clone() }).await.expect_err("not b's");
    assert!(matches!(e, InventoryError::NotOwner { hold } if hold == units.hold), "{e:?}");
    inv.extend(&HoldAction { owner: a, token: units }).await.expect("the old pool hold extends");
    let token = HoldToken { show, hold: seats, version: seat_version, items: HoldItems::Seats(ids(&[1, 2])) };
    let order = OrderId::new();
    inv.sell(&Sell { owner: a, token, order, payment: PaymentRef("cap".into()), payer: None })
        .await
        .expect("the old hold sells");
    let e = inv.refund(&Refund { show, order, items: HoldItems::Seats(ids(&[1, 2, 3])) }).await;
    assert!(matches!(e, Err(InventoryError::NotSold { order: o }) if o == order), "{e:?}");
}
