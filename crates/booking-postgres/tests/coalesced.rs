//! The conformance suite and the state-machine test again, with request
//! coalescing on: batching must not change any answer.

mod common;

use booking_core::ManualClock;
use booking_core::testkit::{Fixture, StateMachine, StateMachineBackend};
use booking_postgres::PgInventory;
use tokio::sync::OnceCell;

booking_core::conformance_suite!(common::fixture_coalesced);

static SHARED: OnceCell<String> = OnceCell::const_new();

struct PgCoalesced;

impl StateMachineBackend for PgCoalesced {
    async fn fixture() -> Fixture {
        let name = SHARED.get_or_init(common::create_database).await;
        let clock = ManualClock::fixed();
        let pool = common::pool(name, 2).await;
        Fixture::new(
            PgInventory::builder(pool)
                .time_source(booking_core::TimeSource::Injected(clock.shared()))
                .coalesce(booking_core::Coalescing { max_batch: 64, max_in_flight: 2 })
                .build(),
            clock,
        )
        .into_dyn()
    }
}

proptest_state_machine::prop_state_machine! {
    #![proptest_config(booking_core::testkit::config(48))]
    #[test]
    fn state_machine_coalesced(sequential 1..60 => StateMachine<PgCoalesced>);
}

/// One batch decides its requests as if they ran one after another: a
/// request sees the seats and the per-owner count of the requests granted
/// before it, and a refused request changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_answers_as_one_by_one() {
    use booking_core::testkit::{create, test_policy};
    use booking_core::{Clock, HoldId, HoldPolicy, OwnerId, SeatInventory, SeatStatus};
    use sqlx::Row;

    let name = common::create_database().await;
    let pool = common::pool(&name, 2).await;
    let clock = ManualClock::fixed();
    let inv = PgInventory::with_clock(pool.clone(), clock.shared());
    let spec = create(&inv, 1, 1, 10, 0, HoldPolicy { max_held_per_owner: Some(3), ..test_policy() }).await;
    let (a, b) = (OwnerId::new(), OwnerId::new());
    // (owner, seats): a takes 1-2; b wants 2-3 (2 is taken); a wants 4-5
    // (would hold 4 > 3); b takes 3; a takes 6; a wants 7 (would hold 4).
    let requests: [(OwnerId, &[i32]); 6] = [(a, &[1, 2]), (b, &[2, 3]), (a, &[4, 5]), (b, &[3]), (a, &[6]), (a, &[7])];
    let shows = vec![spec.id.0; requests.len()];
    let owners: Vec<_> = requests.iter().map(|r| r.0.0).collect();
    let holds: Vec<_> = requests.iter().map(|_| HoldId::new().0).collect();
    let counts: Vec<i32> = requests.iter().map(|r| r.1.len() as i32).collect();
    let seats: Vec<i32> = requests.iter().flat_map(|r| r.1.iter().copied()).collect();
    let nows = vec![Some(clock.now_millis()); requests.len()];
    let rows = sqlx::query("SELECT refusal, n, seats FROM booking.hold_seats_batch($1, $2, $3, $4, $5, $6)")
        .bind(shows)
        .bind(owners)
        .bind(holds)
        .bind(counts)
        .bind(seats)
        .bind(nows)
        .fetch_all(&pool)
        .await
        .unwrap();
    // (refusal, n, seats) of each request.
    type Answer = (Option<String>, Option<i64>, Option<Vec<i32>>);
    let got: Vec<Answer> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    assert_eq!(
        got,
        vec![
            (None, Some(2), None),
            (Some("SEATS_TAKEN".into()), Some(2), Some(vec![2])),
            (Some("HELD_PER_OWNER".into()), Some(4), None),
            (None, Some(1), None),
            (None, Some(3), None),
            (Some("HELD_PER_OWNER".into()), Some(4), None),
        ]
    );
    let snap = inv.snapshot(spec.id).await.unwrap();
    let held: Vec<u32> = snap.seats.iter().filter(|s| s.status == SeatStatus::Held).map(|s| s.seat.0).collect();
    assert_eq!(held, vec![1, 2, 3, 6]);
}

/// A subscriber gets every change of a coalesced batch, one by one, as the
/// callers' answers name them: 48 callers hold one seat each and release
/// it, through a lane that sends one call at a time (so the others wait
/// and go in batches); every hold and release comes on the stream with
/// its hold, seat and version, and the batches wrote fewer feed rows than
/// changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_gets_every_change_of_a_batch() {
    use booking_core::testkit::{create, ids, next_change, test_policy};
    use booking_core::{ChangeKind, HoldAction, HoldId, HoldItems, HoldSeats, OwnerId, SeatInventory};
    use std::sync::Arc;

    let name = common::create_database().await;
    let pool = common::pool(&name, 8).await;
    let inv = Arc::new(
        PgInventory::builder(pool.clone())
            .coalesce(booking_core::Coalescing { max_batch: 64, max_in_flight: 1 })
            .build(),
    );
    let show = create(&*inv, 1, 1, 48, 0, test_policy()).await.id;
    let mut feed = inv.subscribe(show).await.unwrap();
    let callers: Vec<_> = (0..48u32)
        .map(|seat| {
            let inv = inv.clone();
            tokio::spawn(async move {
                let owner = OwnerId::new();
                let hold = inv.hold_seats(&HoldSeats { show, owner, seats: ids(&[seat]) }).await.expect("hold");
                let token = hold.token.clone();
                inv.release(&HoldAction { owner, token: token.clone() }).await.expect("release");
                token
            })
        })
        .collect();
    // (kind, hold, items, version) of each change, as text, sorted.
    let change = |kind: ChangeKind, hold: HoldId, items: &HoldItems, version: u64| {
        format!("{kind:?} {hold:?} {items:?} {version}")
    };
    let mut want = Vec::new();
    for caller in callers {
        let t = caller.await.unwrap();
        want.push(change(ChangeKind::Held, t.hold, &t.items, t.version));
        want.push(change(ChangeKind::Released, t.hold, &t.items, t.version + 1));
    }
    let mut got = Vec::new();
    for _ in 0..want.len() {
        let c = next_change(&mut feed).await;
        assert!(matches!(c.items, HoldItems::Seats(ref s) if s.len() == 1));
        got.push(change(c.kind, c.hold.expect("a hold's change names it"), &c.items, c.version));
    }
    want.sort();
    got.sort();
    assert_eq!(got, want);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM booking.changes WHERE show = $1")
        .bind(show.0)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(rows < 96, "the batches wrote one feed row each ({rows} rows for 96 changes)");
}

/// Coalescing is on by default: 64 callers at once on an inventory built
/// with the defaults are batched (the batches write one feed row each, so
/// fewer rows than changes), and each gets its own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coalescing_is_on_by_default() {
    use booking_core::testkit::{create, ids, test_policy};
    use booking_core::{HoldAction, HoldSeats, InventoryError, OwnerId, SeatInventory, SeatStatus};
    use std::sync::Arc;

    let name = common::create_database().await;
    let pool = common::pool(&name, 8).await;
    let inv = Arc::new(PgInventory::new(pool.clone()));
    let show = create(&*inv, 1, 1, 64, 0, test_policy()).await.id;
    // 96 callers on 64 seats: each seat granted once, the rest refused.
    let callers: Vec<_> = (0..96u32)
        .map(|i| {
            let inv = inv.clone();
            tokio::spawn(async move {
                let owner = OwnerId::new();
                match inv.hold_seats(&HoldSeats { show, owner, seats: ids(&[i % 64]) }).await {
                    Ok(hold) => {
                        inv.release(&HoldAction { owner, token: hold.token }).await.expect("release");
                        true
                    }
                    Err(InventoryError::SeatsTaken { .. }) => false,
                    Err(e) => panic!("hold: {e:?}"),
                }
            })
        })
        .collect();
    let mut granted = 0;
    for caller in callers {
        granted += u32::from(caller.await.unwrap());
    }
    assert!((64..=96).contains(&granted), "{granted} granted");
    let snap = inv.snapshot(show).await.unwrap();
    assert!(snap.seats.iter().all(|s| s.status == SeatStatus::Available));
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM booking.changes WHERE show = $1")
        .bind(show.0)
        .fetch_one(&pool)
        .await
        .unwrap();
    let changes: i64 = sqlx::query_scalar("SELECT count(*) FROM booking.change_events WHERE show = $1")
        .bind(show.0)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(changes, 2 * i64::from(granted));
    assert!(rows < changes, "no batch: {rows} feed rows for {changes} changes");
}
