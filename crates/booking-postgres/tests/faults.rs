//! PostgreSQL-specific behaviour beyond the conformance suite: the
//! READ COMMITTED re-check of a compare-and-set, connections killed in the
//! middle of a hold and right after its COMMIT, bad input leaving every
//! table unchanged, and the change feed across a killed connection and a
//! lagging subscriber. (The 64-tasks-for-10-seats race is the suite's
//! `race_many_tasks_few_seats`, run on PostgreSQL by `tests/conformance.rs`.)

mod common;

use booking_core::testkit::{create, ids, test_policy};
use booking_core::{
    Clock, HoldAction, HoldBest, HoldId, HoldItems, HoldPool, HoldSeats, HoldToken, InventoryError, ManualClock,
    OrderId, OwnerId, PaymentRef, PoolId, Refund, SeatInventory, SeatStatus, Sell, ShowId,
};
use booking_postgres::PgInventory;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection, Row};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn connect(name: &str) -> PgConnection {
    PgConnection::connect_with(&common::options(name)).await.expect("connect")
}

/// Waits (polling, up to 10 s) until `cond` holds.
async fn until<F: AsyncFnMut() -> bool>(what: &str, mut cond: F) {
    for _ in 0..2_000 {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{what}: not reached in 10 s");
}

/// The pid of a backend of database `db` waiting on a lock.
async fn waiting_backend(admin: &mut PgConnection, db: &str) -> Option<i32> {
    sqlx::query("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'")
        .bind(db)
        .fetch_optional(&mut *admin)
        .await
        .expect("pg_stat_activity")
        .map(|r| r.get(0))
}

async fn inventory(db: &str, max: u32) -> (PgInventory, ManualClock) {
    let clock = ManualClock::fixed();
    (PgInventory::with_clock(common::pool(db, max).await, clock.shared()), clock)
}

/// Two connections run the same compare-and-set; the second waits for the
/// first's row lock and, once the first commits, re-checks its WHERE
/// against the new row and matches nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_cas_affects_no_rows() {
    let db = common::create_database().await;
    let (inv, clock) = inventory(&db, 4).await;
    let spec = create(&inv, 1, 1, 4, 0, test_policy()).await;
    let h = inv.hold_seats(&HoldSeats { show: spec.id, owner: OwnerId::new(), seats: ids(&[0]) }).await.unwrap();
    let now = clock.now_millis();
    let release = "SELECT coalesce(refusal, follow_up, 'DONE') FROM booking.finish_seats($1, $2, $3, $4, ARRAY[0], $5, NULL, NULL)";
    let (show, owner, hold, version) = (spec.id.0, h.owner.0, h.token.hold.0, h.token.version as i64);
    let bind = move |q: &'static str| sqlx::query(q).bind(show).bind(owner).bind(hold).bind(version).bind(now);

    let mut first = connect(&db).await;
    first.execute("BEGIN").await.unwrap();
    let answer: String = bind(release).fetch_one(&mut first).await.unwrap().get(0);
    assert_eq!(answer, "DONE", "the first compare-and-set matches");

    let mut second = connect(&db).await;
    let second_cas = bind(release);
    let task = tokio::spawn(async move { second_cas.fetch_one(&mut second).await.unwrap().get::<String, _>(0) });
    let mut admin = connect(&db).await;
    until("a backend waits", async || waiting_backend(&mut admin, &db).await.is_some()).await;
    first.execute("COMMIT").await.unwrap();
    assert_eq!(task.await.unwrap(), "READ_SEATS", "the second matches no row after the re-check");

    let snap = inv.snapshot(spec.id).await.unwrap();
    assert_eq!((snap.seats[0].status, snap.seats[0].version), (SeatStatus::Available, 2), "released once");
    let released: i64 =
        sqlx::query("SELECT count(*) FROM booking.changes WHERE kind = 2").fetch_one(&mut admin).await.unwrap().get(0);
    assert_eq!(released, 1, "one release published");

    // The same for a hold: the second UPDATE finds the seat taken.
    let hold = "SELECT coalesce(refusal, follow_up, 'DONE') FROM booking.hold_seats($1, $2, $3, ARRAY[1], $4)";
    let mut first = connect(&db).await;
    first.execute("BEGIN").await.unwrap();
    let q = |owner: OwnerId| sqlx::query(hold).bind(spec.id.0).bind(owner.0).bind(HoldId::new().0).bind(now);
    let answer: String = q(OwnerId::new()).fetch_one(&mut first).await.unwrap().get(0);
    assert_eq!(answer, "DONE");
    let mut second = connect(&db).await;
    let other = q(OwnerId::new());
    let task = tokio::spawn(async move { other.fetch_one(&mut second).await.unwrap().get::<String, _>(0) });
    until("a backend waits", async || waiting_backend(&mut admin, &db).await.is_some()).await;
    first.execute("COMMIT").await.unwrap();
    assert_eq!(task.await.unwrap(), "SEATS_TAKEN", "the second hold finds the seat taken");
}

/// Holds and releases a few times; every request must succeed.
async fn pool_is_healthy(inv: &PgInventory, show: ShowId, seat: u32) {
    for _ in 0..20 {
        let h = inv
            .hold_seats(&HoldSeats { show, owner: OwnerId::new(), seats: ids(&[seat]) })
            .await
            .expect("hold after the fault");
        inv.release(&HoldAction { owner: h.owner, token: h.token }).await.expect("release after the fault");
    }
}

/// A connection terminated while its hold waits for a row lock: the hold is
/// reported as unknown (it rolled back), nothing is held, and the pool goes
/// on working with the broken connection closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_mid_hold() {
    let db = common::create_database().await;
    let (inv, _clock) = inventory(&db, 2).await;
    let spec = create(&inv, 1, 1, 4, 0, test_policy()).await;
    let mut locker = connect(&db).await;
    locker.execute("BEGIN").await.unwrap();
    sqlx::query("SELECT 1 FROM booking.seats WHERE show = $1 AND seat = 1 FOR UPDATE")
        .bind(spec.id.0)
        .fetch_one(&mut locker)
        .await
        .unwrap();
    let task = {
        let inv = inv.clone();
        let show = spec.id;
        tokio::spawn(
            async move { inv.hold_seats(&HoldSeats { show, owner: OwnerId::new(), seats: ids(&[0, 1]) }).await },
        )
    };
    let mut admin = connect(&db).await;
    let mut pid = None;
    until("a backend waits", async || {
        pid = waiting_backend(&mut admin, &db).await;
        pid.is_some()
    })
    .await;
    sqlx::query("SELECT pg_terminate_backend($1)").bind(pid).execute(&mut admin).await.unwrap();
    let got = task.await.unwrap();
    assert!(matches!(got, Err(InventoryError::OutcomeUnknown(_))), "{got:?}");
    locker.execute("ROLLBACK").await.unwrap();

    let snap = inv.snapshot(spec.id).await.unwrap();
    assert_eq!(snap.totals().held, 0, "the terminated hold left nothing");
    let held: i64 = sqlx::query(
        "SELECT (SELECT count(*) FROM booking.holds) + (SELECT count(*) FROM booking.owner_seats) \
         + (SELECT count(*) FROM booking.seats WHERE state = 1)",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap()
    .get(0);
    assert_eq!(held, 0);
    pool_is_healthy(&inv, spec.id, 0).await;
    pool_is_healthy(&inv, spec.id, 1).await;
}

/// A TCP proxy in front of PostgreSQL that can withhold the server's
/// answers, so that a test can kill a backend after it committed but before
/// the client heard of it.
struct Proxy {
    port: u16,
    withhold: Arc<AtomicBool>,
}

impl Proxy {
    async fn start(target: (String, u16)) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let withhold = Arc::new(AtomicBool::new(false));
        let flag = withhold.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect((target.0.as_str(), target.1)).await else { continue };
                // Only connections open before the answers were withheld are
                // affected: a new connection (the inventory's own check after
                // the loss) talks normally.
                let flag = flag.clone();
                let affected = !flag.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = tokio::spawn(async move {
                        let mut buf = vec![0u8; 16 * 1024];
                        while let Ok(n) = cr.read(&mut buf).await {
                            if n == 0 || sw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    });
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n) = sr.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        let withheld = affected && flag.load(Ordering::SeqCst);
                        if !withheld && cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    // The server side is gone: so is the client's connection.
                    let _ = cw.shutdown().await;
                    up.abort();
                });
            }
        });
        Proxy { port, withhold }
    }
}

/// A connection terminated right after its hold committed, before the
/// client read the answer: the inventory looks the hold up on another
/// connection and reports it as made (it would answer `OutcomeUnknown` only
/// if that look-up failed too), never holds the seat twice, and the pool
/// goes on working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_right_after_commit() {
    let db = common::create_database().await;
    let real = common::options(&db);
    let proxy = Proxy::start((real.get_host().to_owned(), real.get_port())).await;
    let through: PgConnectOptions = common::options(&db).host("127.0.0.1").port(proxy.port);
    // One connection, so that the hold runs on the one that has its
    // statement prepared (sqlx waits for the answer to a Parse).
    let pool = booking_postgres::pool_options().max_connections(1).connect_with(through).await.unwrap();
    let clock = ManualClock::fixed();
    let inv = PgInventory::with_clock(pool, clock.shared());
    let spec = create(&inv, 1, 1, 4, 0, test_policy()).await;
    let owner = OwnerId::new();

    pool_is_healthy(&inv, spec.id, 3).await;
    // Let the pool finish returning its connection (sqlx pings on release).
    until("pool idle", async || inv.pool().num_idle() as u32 == inv.pool().size()).await;
    proxy.withhold.store(true, Ordering::SeqCst);
    let task = {
        let inv = inv.clone();
        let show = spec.id;
        tokio::spawn(async move { inv.hold_seats(&HoldSeats { show, owner, seats: ids(&[2]) }).await })
    };
    let mut admin = connect(&db).await;
    until("the hold committed", async || {
        let n: i64 = sqlx::query("SELECT count(*) FROM booking.seats WHERE state = 1")
            .fetch_one(&mut admin)
            .await
            .unwrap()
            .get(0);
        n == 1
    })
    .await;
    let pid: i32 = sqlx::query(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%booking.hold_seats%' \
         AND pid <> pg_backend_pid()",
    )
    .bind(&db)
    .fetch_one(&mut admin)
    .await
    .unwrap()
    .get(0);
    sqlx::query("SELECT pg_terminate_backend($1)").bind(pid).execute(&mut admin).await.unwrap();
    until("the backend exited", async || {
        let n: i64 = sqlx::query("SELECT count(*) FROM pg_stat_activity WHERE pid = $1")
            .bind(pid)
            .fetch_one(&mut admin)
            .await
            .unwrap()
            .get(0);
        n == 0
    })
    .await;
    proxy.withhold.store(false, Ordering::SeqCst);

    match task.await.unwrap() {
        Ok(h) => {
            assert_eq!(h.owner, owner);
            assert_eq!(h.token.items, HoldItems::Seats(ids(&[2])));
            assert_eq!(h.token.version, 1);
            // The reported hold is the real one: its owner can sell it.
            inv.sell(&Sell {
                owner,
                token: h.token,
                order: OrderId::new(),
                payment: PaymentRef("cap".into()),
                payer: None,
            })
            .await
            .expect("sell the hold the inventory reported");
        }
        // Only if the check after the loss could not reach the database.
        Err(InventoryError::OutcomeUnknown(e)) => panic!("the hold committed and is findable: {e}"),
        other => panic!("expected the hold, got {other:?}"),
    }
    let again = inv.hold_seats(&HoldSeats { show: spec.id, owner: OwnerId::new(), seats: ids(&[2]) }).await;
    assert!(matches!(again, Err(InventoryError::SeatsTaken { .. })), "never held twice: {again:?}");
    let snap = inv.snapshot(spec.id).await.unwrap();
    assert_eq!(snap.seats[2].version, if snap.seats[2].status == SeatStatus::Sold { 2 } else { 1 });
    pool_is_healthy(&inv, spec.id, 0).await;
}

/// A fingerprint of every row of every inventory table.
async fn fingerprint(admin: &mut PgConnection) -> String {
    sqlx::query(
        "SELECT md5(string_agg(x, '|' ORDER BY x)) FROM ( \
           SELECT 'seat' || t::text AS x FROM booking.seats t UNION ALL \
           SELECT 'pool' || t::text FROM booking.pools t UNION ALL \
           SELECT 'hold' || t::text FROM booking.holds t UNION ALL \
           SELECT 'owner' || t::text FROM booking.owner_seats t UNION ALL \
           SELECT 'sale' || t::text FROM booking.pool_sales t UNION ALL \
           SELECT 'record' || t::text FROM booking.sales t UNION ALL \
           SELECT 'change' || t::text FROM booking.changes t UNION ALL \
           SELECT 'show' || t::text FROM booking.shows t) q",
    )
    .fetch_one(admin)
    .await
    .expect("fingerprint")
    .get(0)
}

/// Malformed and unauthorized requests leave every table as it was, not
/// only the snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_leaves_tables_unchanged() {
    let db = common::create_database().await;
    let (inv, clock) = inventory(&db, 4).await;
    let spec = create(&inv, 1, 2, 5, 5, test_policy()).await;
    let show = spec.id;
    let (a, b) = (OwnerId::new(), OwnerId::new());
    let first = inv.hold_seats(&HoldSeats { show, owner: a, seats: ids(&[0, 1]) }).await.unwrap();
    let h = inv.extend(&HoldAction { owner: a, token: first.token.clone() }).await.unwrap();
    let g = inv.hold_pool(&HoldPool { show, owner: a, pool: PoolId(0), quantity: 2 }).await.unwrap();
    let sold = inv.hold_seats(&HoldSeats { show, owner: b, seats: ids(&[5]) }).await.unwrap();
    let order = OrderId::new();
    let pay = PaymentRef("cap".into());
    inv.sell(&Sell { owner: b, token: sold.token.clone(), order, payment: pay.clone(), payer: None }).await.unwrap();
    let mut admin = connect(&db).await;
    let before = fingerprint(&mut admin).await;

    let unknown = ShowId::new();
    let seats = |s: &[u32]| HoldSeats { show, owner: b, seats: ids(s) };
    let mut errors = Vec::new();
    errors.push(inv.hold_seats(&HoldSeats { show: unknown, ..seats(&[2]) }).await.err());
    for s in [&[2, 10][..], &[u32::MAX], &[2, 3, 2], &[], &[0], &[0, 2]] {
        errors.push(inv.hold_seats(&seats(s)).await.err());
    }
    for quantity in [0, 11, u32::MAX] {
        errors.push(inv.hold_best(&HoldBest { show, owner: b, quantity, section: None, category: None }).await.err());
    }
    for (pool, quantity) in [(0, 0), (0, 4), (0, 1_000_000), (3, 1)] {
        errors.push(inv.hold_pool(&HoldPool { show, owner: b, pool: PoolId(pool), quantity }).await.err());
    }
    for held in [&h, &g] {
        let thief = HoldAction { owner: b, token: held.token.clone() };
        errors.push(inv.release(&thief).await.err());
        errors.push(inv.extend(&thief).await.err());
        let steal =
            Sell { owner: b, token: held.token.clone(), order: OrderId::new(), payment: pay.clone(), payer: None };
        errors.push(inv.sell(&steal).await.err());
        for payment in [String::new(), "x".repeat(10_000)] {
            let bad = Sell {
                owner: a,
                token: held.token.clone(),
                order: OrderId::new(),
                payment: PaymentRef(payment),
                payer: None,
            };
            errors.push(inv.sell(&bad).await.err());
        }
        let elsewhere = HoldAction { owner: a, token: HoldToken { show: unknown, ..held.token.clone() } };
        errors.push(inv.release(&elsewhere).await.err());
        let made_up = HoldAction { owner: a, token: HoldToken { hold: HoldId::new(), ..held.token.clone() } };
        errors.push(inv.release(&made_up).await.err());
    }
    errors.push(inv.release(&HoldAction { owner: a, token: first.token.clone() }).await.err());
    errors.push(inv.extend(&HoldAction { owner: a, token: first.token.clone() }).await.err());
    for items in [
        HoldItems::Seats(ids(&[0, 1, 5])),
        HoldItems::Seats(ids(&[0, 0])),
        HoldItems::Seats(ids(&[0, 99])),
        HoldItems::Seats(vec![]),
        HoldItems::Pool { pool: PoolId(0), quantity: 5 },
        HoldItems::Pool { pool: PoolId(7), quantity: 2 },
    ] {
        errors.push(inv.release(&HoldAction { owner: a, token: HoldToken { items, ..h.token.clone() } }).await.err());
    }
    for (o, items) in [
        (OrderId::new(), HoldItems::Seats(ids(&[5]))),
        (order, HoldItems::Seats(ids(&[0]))),
        (order, HoldItems::Seats(ids(&[5, 6]))),
        (order, HoldItems::Seats(vec![])),
        (order, HoldItems::Pool { pool: PoolId(0), quantity: 1 }),
    ] {
        errors.push(inv.refund(&Refund { show, order: o, items }).await.err());
    }
    errors.push(inv.block(show, &ids(&[0])).await.err());
    errors.push(inv.block(show, &ids(&[2, 0])).await.err());
    errors.push(inv.block(show, &ids(&[2, 2])).await.err());
    errors.push(inv.block(show, &ids(&[10])).await.err());
    errors.push(inv.unblock(show, &ids(&[2])).await.err());
    errors.push(inv.sweep_expired(show, 0).await.err());
    errors.push(inv.sweep_expired(unknown, 1).await.err());
    errors.push(inv.subscribe(unknown).await.err());
    clock.advance(chrono::Duration::seconds(1));

    for (i, e) in errors.iter().enumerate() {
        let e = e.as_ref().unwrap_or_else(|| panic!("request {i} should have failed"));
        assert!(
            !matches!(
                e,
                InventoryError::Backend(_) | InventoryError::Unavailable(_) | InventoryError::OutcomeUnknown(_)
            ),
            "request {i}: a typed error, not {e:?}"
        );
    }
    assert_eq!(fingerprint(&mut admin).await, before, "no table changed");
}

/// The change feed loses nothing when the reader's connection is killed,
/// sees changes made by another inventory (another process), and tells a
/// subscriber that fell too far behind that it lagged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_survives_a_reconnect_and_reports_lag() {
    use booking_core::testkit::next_change;
    use booking_core::{ChangeKind, InventoryError};

    let db = common::create_database().await;
    let clock = ManualClock::fixed();
    let inv = PgInventory::builder(common::pool(&db, 4).await)
        .time_source(booking_core::TimeSource::Injected(clock.shared()))
        .feed_poll_interval(Duration::from_millis(20))
        .feed_capacity(4)
        .build();
    let other = PgInventory::with_clock(common::pool(&db, 2).await, clock.shared());
    let spec = create(&inv, 1, 1, 20, 0, test_policy()).await;
    let mut feed = inv.subscribe(spec.id).await.unwrap();
    let hold = |inv: &PgInventory, seat: u32| {
        let (inv, show) = (inv.clone(), spec.id);
        async move { inv.hold_seats(&HoldSeats { show, owner: OwnerId::new(), seats: ids(&[seat]) }).await.unwrap() }
    };
    hold(&inv, 0).await;
    assert_eq!(next_change(&mut feed).await.items, HoldItems::Seats(ids(&[0])));

    // Kill every connection of the database (the reader's among them).
    let mut admin = connect(&db).await;
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&db)
    .execute(&mut admin)
    .await
    .unwrap();
    // Changes by another inventory: no local wake-up, found by polling.
    for seat in 1..4 {
        hold(&other, seat).await;
    }
    for seat in 1..4 {
        let c = next_change(&mut feed).await;
        assert_eq!((c.kind, c.items), (ChangeKind::Held, HoldItems::Seats(ids(&[seat]))), "in order, none lost");
    }

    // Fall 8 changes behind a 4-change buffer: the next read says so. A
    // second subscriber shows when the 8 have been handed out.
    let mut probe = inv.subscribe(spec.id).await.unwrap();
    for seat in 4..12 {
        hold(&inv, seat).await;
    }
    loop {
        let next = std::future::poll_fn(|cx| probe.as_mut().poll_next(cx));
        match tokio::time::timeout(Duration::from_secs(10), next).await.expect("probe answers") {
            Some(Ok(c)) if c.items == HoldItems::Seats(ids(&[11])) => break,
            Some(_) => {}
            None => panic!("probe ended"),
        }
    }
    let next = std::future::poll_fn(|cx| feed.as_mut().poll_next(cx));
    let lagged = match tokio::time::timeout(Duration::from_secs(10), next).await.expect("feed answers") {
        Some(Err(InventoryError::FeedLagged { missed })) => missed,
        other => panic!("expected FeedLagged, got {other:?}"),
    };
    assert!(lagged > 0);
    // And the stream goes on with newer changes.
    let c = next_change(&mut feed).await;
    assert_eq!(c.kind, ChangeKind::Held);
}
