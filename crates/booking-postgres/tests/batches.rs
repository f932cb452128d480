//! A coalesced batch answers each request as the single-request function
//! would, one request after another in arrival order, and leaves the same
//! rows: the same requests go as one batch to one show and one by one to a
//! twin show in the same state, and the answers, the seats, the hold rows
//! and the change feed of the two shows are compared. The batches mix
//! requests that share nothing with others (decided together) and requests
//! that share a seat or an owner (decided in order): the same seat asked
//! twice, an owner going over its limit, a multi-seat request refused with
//! one of its seats free, which a later request then takes.

mod common;

use booking_core::testkit::{create, test_policy};
use booking_core::{Clock, HoldPolicy, ManualClock, ShowId};
use booking_postgres::PgInventory;
use sqlx::postgres::PgDatabaseError;
use sqlx::{PgPool, Row};
use uuid::Uuid;

/// An answer: refusal or follow-up, n, seats, version.
type Answer = (Option<String>, Option<i64>, Option<Vec<i32>>, Option<i64>);

#[derive(Clone, Debug)]
struct Req {
    owner: Uuid,
    hold: Uuid,
    seats: Vec<i32>,
    version: i64,
}

fn req(owner: Uuid, seats: &[i32]) -> Req {
    Req { owner, hold: Uuid::now_v7(), seats: seats.to_vec(), version: 0 }
}

/// A raised refusal as an answer: its message, and the seats in its detail.
fn raised(e: &sqlx::Error) -> Answer {
    let pg = e.as_database_error().and_then(|d| d.try_downcast_ref::<PgDatabaseError>()).expect("a raised refusal");
    let seats = pg
        .detail()
        .filter(|d| !d.is_empty())
        .map(|d| d.split(',').map(|s| s.parse().expect("a seat number")).collect());
    (Some(pg.message().to_owned()), None, seats, None)
}

fn answer(row: &sqlx::postgres::PgRow) -> Answer {
    let refusal: Option<String> = row.get("refusal");
    let follow_up: Option<String> = row.get("follow_up");
    (refusal.or(follow_up), row.get("n"), row.get("seats"), row.get("version"))
}

/// A SEATS_TAKEN answer without its owner count (a raised refusal has
/// none).
fn comparable(a: &Answer) -> Answer {
    match a.0.as_deref() {
        Some("SEATS_TAKEN") => (a.0.clone(), None, a.2.clone(), None),
        _ => a.clone(),
    }
}

async fn hold_batch(pool: &PgPool, show: ShowId, reqs: &[Req], now: i64) -> Vec<Answer> {
    let rows = sqlx::query(
        "SELECT refusal, follow_up, n, seats, version FROM booking.hold_seats_batch($1, $2, $3, $4, $5, $6)",
    )
    .bind(vec![show.0; reqs.len()])
    .bind(reqs.iter().map(|r| r.owner).collect::<Vec<_>>())
    .bind(reqs.iter().map(|r| r.hold).collect::<Vec<_>>())
    .bind(reqs.iter().map(|r| r.seats.len() as i32).collect::<Vec<_>>())
    .bind(reqs.iter().flat_map(|r| r.seats.iter().copied()).collect::<Vec<_>>())
    .bind(vec![Some(now); reqs.len()])
    .fetch_all(pool)
    .await
    .expect("hold batch");
    rows.iter().map(answer).collect()
}

async fn hold_one_by_one(pool: &PgPool, show: ShowId, reqs: &[Req], now: i64) -> Vec<Answer> {
    let mut out = Vec::new();
    for r in reqs {
        let res =
            sqlx::query("SELECT refusal, follow_up, n, seats, version FROM booking.hold_seats($1, $2, $3, $4, $5)")
                .bind(show.0)
                .bind(r.owner)
                .bind(r.hold)
                .bind(&r.seats)
                .bind(now)
                .fetch_one(pool)
                .await;
        out.push(match res {
            Ok(row) => answer(&row),
            Err(e) => raised(&e),
        });
    }
    out
}

async fn release_batch(pool: &PgPool, show: ShowId, reqs: &[Req], now: i64) -> Vec<Answer> {
    let rows = sqlx::query(
        "SELECT refusal, follow_up, n, seats, version FROM booking.release_seats_batch($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(vec![show.0; reqs.len()])
    .bind(reqs.iter().map(|r| r.owner).collect::<Vec<_>>())
    .bind(reqs.iter().map(|r| r.hold).collect::<Vec<_>>())
    .bind(reqs.iter().map(|r| r.version).collect::<Vec<_>>())
    .bind(reqs.iter().map(|r| r.seats.len() as i32).collect::<Vec<_>>())
    .bind(reqs.iter().flat_map(|r| r.seats.iter().copied()).collect::<Vec<_>>())
    .bind(vec![Some(now); reqs.len()])
    .fetch_all(pool)
    .await
    .expect("release batch");
    rows.iter().map(answer).collect()
}

async fn release_one_by_one(pool: &PgPool, show: ShowId, reqs: &[Req], now: i64) -> Vec<Answer> {
    let mut out = Vec::new();
    for r in reqs {
        let res = sqlx::query(
            "SELECT refusal, follow_up, n, seats, version \
             FROM booking.finish_seats($1, $2, $3, $4, $5, $6, NULL, NULL)",
        )
        .bind(show.0)
        .bind(r.owner)
        .bind(r.hold)
        .bind(r.version)
        .bind(&r.seats)
        .bind(now)
        .fetch_one(pool)
        .await;
        out.push(match res {
            Ok(row) => answer(&row),
            Err(e) => raised(&e),
        });
    }
    out
}

/// The show's seats, its pool hold rows and each held seat's owner row
/// entry, and its change feed, as comparable text.
async fn state(pool: &PgPool, show: ShowId) -> (Vec<String>, Vec<String>, Vec<String>) {
    let lines = |sql: &'static str| async move {
        sqlx::query_scalar::<_, String>(sql).bind(show.0).fetch_all(pool).await.expect("read state")
    };
    (
        lines(
            "SELECT concat_ws(' ', seat, state, owner, hold, held_until, deadline, renewals, version, size) \
             FROM booking.seats WHERE show = $1 ORDER BY seat",
        )
        .await,
        lines(
            "SELECT x FROM ( \
               SELECT concat_ws(' ', 'pool', hold, owner, pool, quantity, held_until, deadline, version) AS x \
               FROM booking.holds WHERE show = $1 \
               UNION ALL \
               SELECT concat_ws(' ', 'seat', s.seat, s.owner, EXISTS (SELECT 1 FROM booking.owner_seats o \
                   WHERE o.show = s.show AND o.owner = s.owner AND s.seat = ANY (o.seats))) \
               FROM booking.seats s WHERE s.show = $1 AND s.state = 1) q ORDER BY x",
        )
        .await,
        lines(
            "SELECT concat_ws(' ', kind, hold, seats, quantity, version) FROM booking.change_events \
             WHERE show = $1 ORDER BY stamp, k",
        )
        .await,
    )
}

/// A small xorshift generator.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_batches_answer_as_one_by_one() {
    let name = common::create_database().await;
    let pool = common::pool(&name, 2).await;
    let clock = ManualClock::fixed();
    let inv = PgInventory::with_clock(pool.clone(), clock.shared());
    let policy = HoldPolicy { max_held_per_owner: Some(3), ..test_policy() };
    let batched = create(&inv, 1, 1, 40, 0, policy.clone()).await.id;
    let alone = create(&inv, 1, 1, 40, 0, policy.clone()).await.id;
    let now = clock.now_millis();
    let o: Vec<Uuid> = (0..20).map(|_| Uuid::now_v7()).collect();
    // The same state in both shows: o0 holds 5, o1 holds 6-7, o2's hold of
    // 8 has expired.
    let before = [req(o[0], &[5]), req(o[1], &[6, 7])];
    let expired = [req(o[2], &[8])];
    for show in [batched, alone] {
        hold_one_by_one(&pool, show, &before, now).await;
        hold_one_by_one(&pool, show, &expired, now - policy.ttl_millis() - 1_000).await;
    }
    let mut reqs = vec![
        req(o[3], &[10, 11]),     // held
        req(o[4], &[11]),         // the same seat again: taken
        req(o[5], &[5, 12]),      // 5 is o0's: refused, 12 stays free
        req(o[6], &[12]),         // takes 12
        req(o[0], &[13, 14, 15]), // o0 would hold 4 > 3
        req(o[0], &[13, 14]),     // o0 holds 3
        req(o[0], &[16]),         // o0 would hold 4
        req(o[2], &[8]),          // o2's expired hold neither counts nor blocks
        req(o[7], &[9]),          // alone: held
        req(o[8], &[6]),          // alone: taken by o1
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..40 {
        let owner = o[7 + rng.below(12) as usize];
        let n = 1 + rng.below(3) as i32;
        let first = 17 + rng.below(23 - n as u64 + 1) as i32;
        reqs.push(req(owner, &(first..first + n).collect::<Vec<_>>()));
    }
    let got = hold_batch(&pool, batched, &reqs, now).await;
    let want = hold_one_by_one(&pool, alone, &reqs, now).await;
    assert_eq!(got.iter().map(comparable).collect::<Vec<_>>(), want.iter().map(comparable).collect::<Vec<_>>());
    let refusals: Vec<Option<&str>> = got.iter().take(10).map(|a| a.0.as_deref()).collect();
    assert_eq!(
        refusals,
        [
            None,
            Some("SEATS_TAKEN"),
            Some("SEATS_TAKEN"),
            None,
            Some("HELD_PER_OWNER"),
            None,
            Some("HELD_PER_OWNER"),
            None,
            None,
            Some("SEATS_TAKEN")
        ]
    );
    assert_eq!((got[1].2.clone(), got[2].2.clone()), (Some(vec![11]), Some(vec![5])));
    assert_eq!((got[4].1, got[5].1, got[6].1), (Some(4), Some(3), Some(4)));
    assert!(got.iter().skip(10).any(|a| a.0.is_none()) && got.iter().skip(10).any(|a| a.0.is_some()));
    let (seats, holds, feed) = state(&pool, batched).await;
    let (seats_alone, holds_alone, feed_alone) = state(&pool, alone).await;
    assert_eq!(seats, seats_alone);
    assert_eq!(holds, holds_alone);
    assert_eq!(feed, feed_alone);

    // Releases: every granted hold, one of them twice, one with a stale
    // version, one with a seat it does not hold, and o0's first hold.
    let mut releases: Vec<Req> = reqs
        .iter()
        .zip(&got)
        .filter(|(_, a)| a.0.is_none())
        .map(|(r, a)| Req { version: a.3.expect("version"), ..r.clone() })
        .collect();
    releases.insert(1, releases[0].clone());
    releases[3].version += 1;
    releases[4].seats = vec![releases[4].seats[0] + 30];
    releases.push(Req { version: 1, ..before[0].clone() });
    let got = release_batch(&pool, batched, &releases, now).await;
    let want = release_one_by_one(&pool, alone, &releases, now).await;
    assert_eq!(got, want);
    assert_eq!((got[0].0.as_deref(), got[1].0.as_deref()), (None, Some("READ_SEATS")));
    assert_eq!((got[3].0.as_deref(), got[4].0.as_deref()), (Some("READ_SEATS"), Some("READ_SEATS")));
    assert_eq!(state(&pool, batched).await, state(&pool, alone).await);
}

/// A batch writes one feed row for all its changes; the feed reads it as
/// those changes, in arrival order, and pages by whole rows: read one row
/// at a time, the feed gives exactly the changes `booking.change_events`
/// lists, in the same order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_reads_a_batch_row_as_its_changes() {
    let name = common::create_database().await;
    let pool = common::pool(&name, 2).await;
    let clock = ManualClock::fixed();
    let inv = PgInventory::with_clock(pool.clone(), clock.shared());
    let show = create(&inv, 1, 1, 40, 0, test_policy()).await.id;
    let now = clock.now_millis();
    let from: String = sqlx::query_scalar("SELECT booking.feed_position()").fetch_one(&pool).await.unwrap();
    let o: Vec<Uuid> = (0..6).map(|_| Uuid::now_v7()).collect();
    hold_one_by_one(&pool, show, &[req(o[0], &[1])], now).await;
    let reqs = [req(o[1], &[2, 3]), req(o[2], &[3]), req(o[3], &[4]), req(o[4], &[5, 6, 7]), req(o[5], &[1])];
    let got = hold_batch(&pool, show, &reqs, now).await;
    let granted: Vec<Req> = reqs
        .iter()
        .zip(&got)
        .filter(|(_, a)| a.0.is_none())
        .map(|(r, a)| Req { version: a.3.expect("version"), ..r.clone() })
        .collect();
    assert_eq!(granted.len(), 3, "seat 3 and seat 1 were taken");
    release_batch(&pool, show, &granted, now).await;

    let text = |kind: i16, hold: Option<Uuid>, seats: Option<Vec<i32>>, quantity: i32, version: i64| {
        format!("{kind} {hold:?} {seats:?} {quantity} {version}")
    };
    let mut read = Vec::new();
    let (mut upto, mut after): (Option<String>, i64) = (None, 0);
    loop {
        let rows = sqlx::query(
            "SELECT kind, stamp, hold, seats, quantity, version, upto FROM booking.feed_read($1, $2, $3, $4, 1)",
        )
        .bind(vec![show.0])
        .bind(&from)
        .bind(&upto)
        .bind(after)
        .fetch_all(&pool)
        .await
        .expect("feed_read");
        let changes: Vec<_> = rows.iter().filter(|r| r.get::<i16, _>("kind") >= 0).collect();
        if upto.is_none() {
            upto = rows[0].get("upto");
        }
        let Some(last) = changes.last() else { break };
        after = last.get("stamp");
        assert!(changes.iter().all(|r| r.get::<i64, _>("stamp") == after), "one row a page");
        read.extend(
            changes
                .iter()
                .map(|r| text(r.get("kind"), r.get("hold"), r.get("seats"), r.get("quantity"), r.get("version"))),
        );
    }
    let listed: Vec<String> = sqlx::query(
        "SELECT kind, hold, seats, quantity, version FROM booking.change_events WHERE show = $1 ORDER BY stamp, k",
    )
    .bind(show.0)
    .fetch_all(&pool)
    .await
    .unwrap()
    .iter()
    .map(|r| text(r.get("kind"), r.get("hold"), r.get("seats"), r.get("quantity"), r.get("version")))
    .collect();
    let change = |kind: i16, r: &Req, version: i64| {
        text(kind, Some(r.hold), Some(r.seats.clone()), r.seats.len() as i32, version)
    };
    let want: Vec<String> = granted
        .iter()
        .map(|r| change(0, r, r.version))
        .chain(granted.iter().map(|r| change(2, r, r.version + 1)))
        .collect();
    assert_eq!(read, listed);
    assert_eq!(read.len(), 7, "the single hold, three grants and three releases");
    assert_eq!(read[1..], want[..]);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM booking.changes WHERE show = $1")
        .bind(show.0)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 3, "one row for the single hold and one for each batch");
}
