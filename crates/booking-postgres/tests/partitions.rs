//! The per-partition copies of the per-show functions (the migration
//! `partition_routes`): each copy is its function rewritten for its
//! partition, as `booking.route_partitions` makes it now (so a migration
//! that changed a function without routing it again fails here); a copy
//! locks only its own partition of each per-show table; and the inventory
//! sends each show's requests to the copies of the partition that holds
//! the show's rows.

mod common;

use booking_core::testkit::{create, test_policy};
use booking_core::{HoldAction, HoldPool, HoldSeats, OwnerId, PoolId, SeatId, SeatInventory};
use booking_postgres::PgInventory;
use common::{create_database, pool};
use sqlx::{PgPool, Row};
use uuid::Uuid;

/// Every routed function and its copies, as (function, partition, copy's
/// definition, the definition generated from the function now).
async fn copies(pool: &PgPool) -> Vec<(String, i32, Option<String>, String)> {
    sqlx::query(
        "WITH r AS (SELECT booking.routed_functions(booking.routed_roots()) AS names) \
         SELECT p.oid::regprocedure::text AS function, i, \
                (SELECT pg_get_functiondef(c.oid) FROM pg_proc c \
                 WHERE c.pronamespace = p.pronamespace AND c.proname = p.proname || '_p' || i \
                   AND c.proargtypes = p.proargtypes) AS copy, \
                booking.partition_source(pg_get_functiondef(p.oid), i, r.names) AS generated \
         FROM r, pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace AND n.nspname = 'booking' \
         CROSS JOIN generate_series(0, 7) i \
         WHERE p.proname = ANY (r.names) ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await
    .expect("read the copies")
    .iter()
    .map(|row| (row.get("function"), row.get("i"), row.get("copy"), row.get("generated")))
    .collect()
}

#[tokio::test]
async fn every_copy_is_its_function_rewritten_for_its_partition() {
    let pool = pool(&create_database().await, 2).await;
    let copies = copies(&pool).await;
    let functions: std::collections::BTreeSet<&str> = copies.iter().map(|c| c.0.as_str()).collect();
    // The hot paths and the helpers they call that touch per-show tables.
    for name in ["hold_seats(", "finish_seats(", "hold_seats_batch(", "owner_check(", "held_by(", "publish("] {
        assert!(functions.iter().any(|f| f.starts_with(&format!("booking.{name}"))), "{name} is routed");
    }
    let mut wrong = Vec::new();
    for (function, part, copy, generated) in &copies {
        if copy.as_deref() != Some(generated.as_str()) {
            wrong.push(format!("{function} on partition {part}"));
        }
        let copy = copy.as_deref().unwrap_or_default();
        // No copy names a per-show table through its parent.
        for table in ["seats", "holds", "owner_seats", "changes", "pools", "pool_sales", "sales"] {
            let parent = format!("booking.{table} ");
            assert!(!copy.contains(&parent), "{function} on partition {part} names {parent}");
        }
    }
    assert!(wrong.is_empty(), "copies out of date (route them again in the migration): {wrong:?}");
}

/// A routed function changed without routing it again is caught.
#[tokio::test]
async fn a_function_changed_without_routing_again_is_caught() {
    let pool = pool(&create_database().await, 2).await;
    sqlx::query(
        "CREATE OR REPLACE FUNCTION booking.held_by(p_show uuid, p_owner uuid, p_now bigint) RETURNS integer \
         LANGUAGE sql STABLE AS $$ SELECT coalesce(sum(quantity), 0)::integer FROM booking.holds \
         WHERE show = p_show AND owner = p_owner AND held_until > p_now $$",
    )
    .execute(&pool)
    .await
    .expect("change held_by");
    let stale: Vec<_> = copies(&pool).await.into_iter().filter(|c| c.2.as_deref() != Some(c.3.as_str())).collect();
    assert_eq!(stale.len(), 8, "every copy of held_by is stale: {:?}", stale.iter().map(|c| &c.0).collect::<Vec<_>>());
    let made: i32 = sqlx::query_scalar("SELECT booking.route_partitions()").fetch_one(&pool).await.expect("route");
    assert!(made > 0);
    assert!(copies(&pool).await.iter().all(|c| c.2.as_deref() == Some(c.3.as_str())), "routed again");
}

/// The per-show partitions (of every per-show table) that a transaction
/// holds locks on.
async fn locked_partitions(conn: &mut sqlx::PgConnection) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT DISTINCT c.relname::text FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
         WHERE l.pid = pg_backend_pid() AND c.relispartition AND c.relkind = 'r' ORDER BY 1",
    )
    .fetch_all(conn)
    .await
    .expect("read locks")
}

/// A routed copy of the seat hold locks only its own partitions, the
/// function itself those of every partition; on a show with a pool the
/// hold reads the owner's pool holds (`holds`), on a show without one it
/// does not touch them.
#[tokio::test]
async fn a_copy_locks_only_its_partition_and_the_parent_function_locks_all() {
    use sqlx::Connection;
    let name = create_database().await;
    let inv = PgInventory::new(pool(&name, 2).await);
    for pool_units in [5, 0] {
        let show = create(&inv, 1, 4, 10, pool_units, test_policy()).await.id;
        let mut conn = common::connect(&name).await;
        let part: i32 = sqlx::query_scalar("SELECT booking.show_partition($1)")
            .bind(show.0)
            .fetch_one(&mut conn)
            .await
            .expect("partition");
        let read = if pool_units > 0 { vec!["seats", "holds"] } else { vec!["seats"] };
        for (function, seat, routed) in
            [(format!("booking.hold_seats_p{part}"), 1, true), ("booking.hold_seats".to_owned(), 2, false)]
        {
            let mut tx = conn.begin().await.expect("begin");
            let refusal: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT refusal FROM {function}($1, $2, $3, ARRAY[$4]::integer[], NULL)"
            )))
            .bind(show.0)
            .bind(Uuid::now_v7())
            .bind(Uuid::now_v7())
            .bind(seat)
            .fetch_one(&mut *tx)
            .await
            .expect("hold");
            assert_eq!(refusal, None, "{function} holds");
            let locked = locked_partitions(&mut tx).await;
            if routed {
                let suffix = format!("_p{part}");
                assert!(locked.iter().all(|t| t.ends_with(&suffix)), "{function} locks {locked:?}");
                for table in read.iter().copied().chain(["changes"]) {
                    assert!(locked.contains(&format!("{table}{suffix}")), "{function} locks {locked:?}");
                }
            } else {
                // Through the parents: every partition of the tables it reads
                // or updates (an INSERT locks only the partition it goes to).
                for table in &read {
                    for p in 0..8 {
                        assert!(locked.contains(&format!("{table}_p{p}")), "{function} locks {locked:?}");
                    }
                }
            }
            if pool_units == 0 {
                assert!(!locked.iter().any(|t| t.starts_with("holds_")), "no pool holds read: {locked:?}");
            }
            tx.rollback().await.expect("rollback");
        }
    }
}

#[tokio::test]
async fn each_show_is_served_by_the_partition_holding_its_rows() {
    let name = create_database().await;
    let pool = pool(&name, 4).await;
    let inv = PgInventory::new(pool.clone());
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..24 {
        let show = create(&inv, 1, 2, 5, 10, test_policy()).await.id;
        let owner = OwnerId(Uuid::now_v7());
        let seats = inv.hold_seats(&HoldSeats { show, owner, seats: vec![SeatId(3), SeatId(4)] }).await.expect("hold");
        let units = inv.hold_pool(&HoldPool { show, owner, pool: PoolId(0), quantity: 2 }).await.expect("hold pool");
        let row = sqlx::query(
            "SELECT booking.show_partition($1) AS part, \
                    (SELECT tableoid::regclass::text FROM booking.seats WHERE show = $1 LIMIT 1) AS seats, \
                    (SELECT array_agg(DISTINCT tableoid::regclass::text) FROM booking.holds WHERE show = $1) AS holds, \
                    (SELECT array_agg(DISTINCT tableoid::regclass::text) FROM booking.owner_seats WHERE show = $1) \
                        AS owners, \
                    (SELECT array_agg(DISTINCT tableoid::regclass::text) FROM booking.changes WHERE show = $1) \
                        AS changes, \
                    (SELECT count(*) FROM booking.holds WHERE show = $1) AS hold_rows",
        )
        .bind(show.0)
        .fetch_one(&pool)
        .await
        .expect("read rows");
        let part: i32 = row.get("part");
        seen.insert(part);
        assert_eq!(row.get::<String, _>("seats"), format!("booking.seats_p{part}"));
        assert_eq!(row.get::<Vec<String>, _>("holds"), vec![format!("booking.holds_p{part}")]);
        assert_eq!(row.get::<Vec<String>, _>("owners"), vec![format!("booking.owner_seats_p{part}")]);
        assert_eq!(row.get::<Vec<String>, _>("changes"), vec![format!("booking.changes_p{part}")]);
        // The pool hold has a row; the seat hold lives on its seat rows.
        assert_eq!(row.get::<i64, _>("hold_rows"), 1);
        inv.release(&HoldAction { owner, token: seats.token }).await.expect("release seats");
        inv.release(&HoldAction { owner, token: units.token }).await.expect("release units");
        let left: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM booking.holds WHERE show = $1) \
                  + (SELECT count(*) FROM booking.seats WHERE show = $1 AND state = 1)",
        )
        .bind(show.0)
        .fetch_one(&pool)
        .await
        .expect("count holds");
        assert_eq!(left, 0, "released through the copies");
    }
    assert!(seen.len() >= 4, "24 shows spread over several partitions: {seen:?}");
}
