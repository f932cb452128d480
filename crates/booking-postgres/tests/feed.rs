//! The change feed on PostgreSQL beyond the conformance suite: a change
//! whose transaction was in flight when `subscribe` ran, one reader however
//! subscribers come and go, reads that allocate no transaction id, and a
//! prune that deleted unread changes reported as lag.

mod common;

use booking_core::testkit::{create, ids, next_change, test_policy};
use booking_core::{
    ChangeKind, ChangeStream, Clock, HoldId, HoldItems, HoldSeats, InventoryError, ManualClock, OwnerId, SeatChange,
    SeatInventory, SeatStatus, ShowId,
};
use booking_postgres::PgInventory;
use sqlx::{Connection, Executor, PgConnection, Row};
use std::time::Duration;

async fn connect(name: &str) -> PgConnection {
    PgConnection::connect_with(&common::options(name)).await.expect("connect")
}

/// The transaction id the connection's open transaction was given, if any.
async fn assigned(conn: &mut PgConnection) -> Option<String> {
    sqlx::query("SELECT pg_current_xact_id_if_assigned()::text").fetch_one(conn).await.expect("query").get(0)
}

async fn hold(inv: &PgInventory, show: ShowId, seat: u32) {
    inv.hold_seats(&HoldSeats { show, owner: OwnerId::new(), seats: ids(&[seat]) }).await.expect("hold");
}

fn held(c: &SeatChange) -> (ChangeKind, HoldItems) {
    (c.kind, c.items.clone())
}

fn seat(s: u32) -> (ChangeKind, HoldItems) {
    (ChangeKind::Held, HoldItems::Seats(ids(&[s])))
}

/// The next item of `feed`, whatever it is (10 s at most).
async fn next_item(feed: &mut ChangeStream) -> Option<booking_core::Result<SeatChange>> {
    let next = std::future::poll_fn(|cx| feed.as_mut().poll_next(cx));
    tokio::time::timeout(Duration::from_secs(10), next).await.expect("the feed answers")
}

/// Starts a hold of `seat` in a transaction of its own and leaves it open:
/// its change row (and stamp) exist, uncommitted.
async fn open_hold(db: &str, show: ShowId, seat: u32, now: i64) -> PgConnection {
    let mut tx = connect(db).await;
    tx.execute("BEGIN").await.expect("begin");
    let answer: String = sqlx::query(
        "SELECT coalesce(refusal, follow_up, 'DONE') FROM booking.hold_seats($1, $2, $3, ARRAY[$4::int], $5)",
    )
    .bind(show.0)
    .bind(OwnerId::new().0)
    .bind(HoldId::new().0)
    .bind(seat as i32)
    .bind(now)
    .fetch_one(&mut tx)
    .await
    .expect("hold in a transaction")
    .get(0);
    assert_eq!(answer, "DONE");
    tx
}

/// A hold left uncommitted while `subscribe` runs, and committed after the
/// subscriber read its snapshot: the snapshot shows the seat available, so
/// the feed must deliver the hold. Both with the reader started by this
/// subscriber and with a reader already running for another one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_in_flight_at_subscribe_is_delivered() {
    let db = common::create_database().await;
    let clock = ManualClock::fixed();
    let inv = PgInventory::with_clock(common::pool(&db, 4).await, clock.shared());
    let spec = create(&inv, 1, 1, 10, 0, test_policy()).await;
    let show = spec.id;

    for (round, (in_flight, after)) in [(1u32, 2u32), (3, 4)].into_iter().enumerate() {
        // Round 1 starts the reader; round 2 joins it (`probe` keeps it running).
        let probe = if round == 1 { Some(inv.subscribe(show).await.unwrap()) } else { None };
        let mut tx = open_hold(&db, show, in_flight, clock.now_millis()).await;
        let mut feed = inv.subscribe(show).await.unwrap();
        let snap = inv.snapshot(show).await.unwrap();
        assert_eq!(snap.seats[in_flight as usize].status, SeatStatus::Available, "not committed yet");
        tx.execute("COMMIT").await.unwrap();
        hold(&inv, show, after).await;
        assert_eq!(held(&next_change(&mut feed).await), seat(in_flight), "round {round}: the hold in flight");
        assert_eq!(held(&next_change(&mut feed).await), seat(after), "round {round}: then the next change");
        drop(probe);
    }
}

/// A transaction that allocated a transaction id and stays open elsewhere
/// on the server does not hold back changes committed after it began.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_transaction_elsewhere_does_not_hold_the_feed_back() {
    let db = common::create_database().await;
    let clock = ManualClock::fixed();
    let inv = PgInventory::with_clock(common::pool(&db, 4).await, clock.shared());
    let spec = create(&inv, 1, 1, 10, 0, test_policy()).await;
    let mut feed = inv.subscribe(spec.id).await.unwrap();
    let mut long = connect(&db).await;
    long.execute("BEGIN").await.unwrap();
    long.execute("SELECT pg_current_xact_id()").await.unwrap();
    hold(&inv, spec.id, 5).await;
    assert_eq!(held(&next_change(&mut feed).await), seat(5));
    long.execute("ROLLBACK").await.unwrap();
}

/// Subscribers that leave while the reader is about to hand out changes,
/// and new ones that come right after, never make a second reader: each
/// change comes once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_reader_however_subscribers_come_and_go() {
    let db = common::create_database().await;
    let clock = ManualClock::fixed();
    let inv = PgInventory::with_clock(common::pool(&db, 4).await, clock.shared());
    let spec = create(&inv, 1, 1, 2, 0, test_policy()).await;
    let show = spec.id;
    let owner = OwnerId::new();
    let cycle = |seat: u32| {
        let inv = inv.clone();
        async move {
            let h = inv.hold_seats(&HoldSeats { show, owner, seats: ids(&[seat]) }).await.expect("hold");
            inv.release(&booking_core::HoldAction { owner, token: h.token }).await.expect("release");
        }
    };
    for round in 0..96 {
        let first = inv.subscribe(show).await.unwrap();
        // A change wakes the reader and its only subscriber leaves while
        // the reader is still handing the change out; a new subscriber comes
        // a moment later. The pause varies with the round (there is no clock
        // to move: it places the new subscriber at different points of the
        // reader's few-millisecond cycle).
        cycle(0).await;
        drop(first);
        tokio::time::sleep(Duration::from_micros(250 * (round % 24))).await;
        let mut feed = inv.subscribe(show).await.unwrap();
        assert!(inv.feed_reader_tasks() <= 1, "round {round}: {} readers", inv.feed_reader_tasks());
        // Every change of seat 1 after the subscription comes once, in order.
        cycle(1).await;
        cycle(1).await;
        let mut kinds = Vec::new();
        for _ in 0..4 {
            let c = next_change(&mut feed).await;
            if c.items == HoldItems::Seats(ids(&[1])) {
                kinds.push((c.kind, c.version));
            }
            if kinds.len() == 4 {
                break;
            }
        }
        let base = kinds.first().map_or(0, |k| k.1);
        let want: Vec<_> = [ChangeKind::Held, ChangeKind::Released, ChangeKind::Held, ChangeKind::Released]
            .into_iter()
            .zip(base..)
            .collect();
        assert_eq!(kinds, want, "round {round}: each change once, in order");
        drop(feed);
    }
}

/// The statements the feed reader and `subscribe` run are reads: a poll
/// allocates no transaction id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_reads_allocate_no_transaction_id() {
    let db = common::create_database().await;
    let clock = ManualClock::fixed();
    let inv = PgInventory::with_clock(common::pool(&db, 2).await, clock.shared());
    let spec = create(&inv, 1, 1, 4, 0, test_policy()).await;
    hold(&inv, spec.id, 0).await;
    let mut conn = connect(&db).await;
    conn.execute("BEGIN").await.unwrap();
    let from: String = sqlx::query("SELECT booking.feed_position()").fetch_one(&mut conn).await.unwrap().get(0);
    assert_eq!(assigned(&mut conn).await, None, "taking a position");
    conn.execute("COMMIT").await.unwrap();
    hold(&inv, spec.id, 1).await;
    conn.execute("BEGIN").await.unwrap();
    let rows = sqlx::query("SELECT kind, upto FROM booking.feed_read($1, $2, NULL, -1, 1000)")
        .bind(vec![spec.id.0])
        .bind(&from)
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let kinds: Vec<i16> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(kinds, [-1, 0], "the position, then the hold committed after it");
    assert_eq!(assigned(&mut conn).await, None, "reading a window");
    conn.execute("COMMIT").await.unwrap();
}

/// A reader that has not read some changes yet when `prune_changes`
/// deletes them tells its subscribers it lagged, then goes on; changes it
/// had already delivered can be pruned silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prune_of_unread_changes_is_reported_as_lag() {
    let db = common::create_database().await;
    let clock = ManualClock::fixed();
    // The reader wakes only when this inventory changes something: changes
    // made by `other` stay unread until then.
    let inv = PgInventory::builder(common::pool(&db, 4).await)
        .time_source(booking_core::TimeSource::Injected(clock.shared()))
        .feed_poll_interval(Duration::from_secs(3_600))
        .build();
    let other = PgInventory::with_clock(common::pool(&db, 2).await, clock.shared());
    let spec = create(&inv, 1, 1, 10, 0, test_policy()).await;
    let show = spec.id;
    let mut feed = inv.subscribe(show).await.unwrap();
    hold(&inv, show, 0).await;
    assert_eq!(held(&next_change(&mut feed).await), seat(0));

    hold(&other, show, 1).await;
    hold(&other, show, 2).await;
    let pruned = other.prune_changes(Duration::ZERO).await.unwrap();
    assert_eq!(pruned, 3, "the delivered hold and the two unread ones");
    hold(&inv, show, 3).await;
    match next_item(&mut feed).await {
        Some(Err(InventoryError::FeedLagged { .. })) => {}
        other => panic!("expected FeedLagged for the two pruned holds, got {other:?}"),
    }
    assert_eq!(held(&next_change(&mut feed).await), seat(3), "the stream goes on");
}
