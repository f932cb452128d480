//! Conformance suites of checkout's stores: the idempotency-key store, the
//! saga log and the outbox. Every backend that implements a store runs its
//! suite through the macros at the end; the saga tests over all of them
//! are in [`super::saga`].

use crate::checkout::{Order, OrderStatus, Outbox, OutboxMessage, Priced, SagaLog, StoreError, WorkerId};
use crate::clock::{Clock, ManualClock};
use crate::idempotency::{
    Begin, Fingerprint, IdempotencyError, IdempotencyKey, IdempotencyStore, LeaseId, Started, StoredResponse,
};
use crate::ids::{HoldId, OrderId, OwnerId, SeatId, ShowId};
use crate::inventory::{HoldItems, HoldToken};
use crate::money::{Currency, Money};
use crate::payments::PaymentMethod;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// A store under test and the clock it decides leases and retention by.
pub struct StoreFixture<S: ?Sized> {
    /// The store.
    pub store: Arc<S>,
    /// Its clock; tests move it.
    pub clock: ManualClock,
}

impl<S: ?Sized> StoreFixture<S> {
    /// A fixture over `store`, which must read `clock`.
    pub fn new(store: Arc<S>, clock: ManualClock) -> Self {
        StoreFixture { store, clock }
    }
}

fn advance(clock: &ManualClock, d: Duration) {
    clock.advance(chrono::Duration::from_std(d).expect("duration"));
}

// ------------------------------------------------------------ idempotency

const LEASE: Duration = Duration::from_secs(30);

fn begin(principal: OwnerId, key: &str, fp: u8) -> Begin {
    Begin { principal, key: IdempotencyKey(key.into()), fingerprint: Fingerprint([fp; 32]), lease: LEASE }
}

fn response(n: u8) -> StoredResponse {
    StoredResponse { status: 201, body: vec![n, 0, 255, b'{'] }
}

async fn run<S: IdempotencyStore + ?Sized>(store: &S, req: &Begin) -> (bool, LeaseId) {
    match store.begin(req).await.expect("begin") {
        Started::Run { resumed, lease } => (resumed, lease),
        Started::Replay(r) => panic!("expected to run, got a replay of {r:?}"),
    }
}

/// The first request runs; duplicates in flight are told to wait; after
/// `finish`, every request with the key gets the stored response, byte
/// for byte.
pub async fn idempotency_runs_once_then_replays<S: IdempotencyStore + ?Sized>(fx: &StoreFixture<S>) {
    let s = &*fx.store;
    let who = OwnerId::new();
    let req = begin(who, "order-1", 1);
    let (resumed, lease) = run(s, &req).await;
    assert!(!resumed);
    let dup = s.begin(&req).await;
    assert!(
        matches!(dup, Err(IdempotencyError::InProgress { retry_after }) if retry_after > Duration::ZERO),
        "{dup:?}"
    );
    s.finish(who, &req.key, lease, &response(7)).await.expect("finish");
    for _ in 0..3 {
        assert_eq!(s.begin(&req).await.expect("replay"), Started::Replay(response(7)));
    }
    let record = s.get(who, &req.key).await.expect("get").expect("record");
    assert_eq!((record.fingerprint, record.response), (req.fingerprint, Some(response(7))));
    assert_eq!(s.finish(who, &req.key, lease, &response(8)).await, Err(IdempotencyError::NotHeld), "finished once");
    assert_eq!(s.begin(&req).await.expect("replay"), Started::Replay(response(7)));
}

/// The same key with another request is refused, in flight and after;
/// keys are scoped by principal; malformed keys are refused and stored
/// nowhere.
pub async fn idempotency_refuses_mismatches<S: IdempotencyStore + ?Sized>(fx: &StoreFixture<S>) {
    let s = &*fx.store;
    let (a, b) = (OwnerId::new(), OwnerId::new());
    let (_, lease) = run(s, &begin(a, "k", 1)).await;
    assert_eq!(s.begin(&begin(a, "k", 2)).await, Err(IdempotencyError::Mismatch));
    let (resumed, _) = run(s, &begin(b, "k", 2)).await;
    assert!(!resumed, "another principal's key is another key");
    s.finish(a, &IdempotencyKey("k".into()), lease, &response(1)).await.expect("finish");
    assert_eq!(s.begin(&begin(a, "k", 2)).await, Err(IdempotencyError::Mismatch));
    assert_eq!(s.begin(&begin(a, "", 1)).await, Err(IdempotencyError::InvalidKey));
    assert_eq!(s.begin(&begin(a, &"x".repeat(256), 1)).await, Err(IdempotencyError::InvalidKey));
    assert_eq!(s.get(a, &IdempotencyKey(String::new())).await.expect("get"), None);
    let unknown = IdempotencyKey("never".into());
    assert_eq!(s.finish(a, &unknown, LeaseId(1), &response(1)).await, Err(IdempotencyError::NotHeld));
    assert_eq!(s.release(a, &unknown, LeaseId(1)).await, Err(IdempotencyError::NotHeld));
    assert_eq!(s.get(a, &unknown).await.expect("get"), None);
}

/// A holder whose lease ran out loses the key to the next request, which
/// resumes; the old holder can then neither finish nor release. A released
/// key runs again at once, resumed.
pub async fn idempotency_leases_hand_over<S: IdempotencyStore + ?Sized>(fx: &StoreFixture<S>) {
    let s = &*fx.store;
    let who = OwnerId::new();
    let req = begin(who, "crashy", 3);
    let (_, first) = run(s, &req).await;
    advance(&fx.clock, LEASE - Duration::from_millis(1));
    assert!(matches!(s.begin(&req).await, Err(IdempotencyError::InProgress { .. })));
    advance(&fx.clock, Duration::from_millis(1));
    let (resumed, second) = run(s, &req).await;
    assert!(resumed, "the first holder's lease ran out: the key is resumed");
    assert_ne!(first, second);
    assert_eq!(s.finish(who, &req.key, first, &response(1)).await, Err(IdempotencyError::NotHeld));
    assert_eq!(s.release(who, &req.key, first).await, Err(IdempotencyError::NotHeld));
    s.release(who, &req.key, second).await.expect("release");
    let (resumed, third) = run(s, &req).await;
    assert!(resumed);
    s.finish(who, &req.key, third, &response(3)).await.expect("finish");
    assert_eq!(s.begin(&req).await.expect("replay"), Started::Replay(response(3)));
    // A holder past its lease that nobody replaced may still finish.
    let late = begin(who, "late", 4);
    let (_, lease) = run(s, &late).await;
    advance(&fx.clock, LEASE * 2);
    s.finish(who, &late.key, lease, &response(4)).await.expect("late finish");
    assert_eq!(s.begin(&late).await.expect("replay"), Started::Replay(response(4)));
}

/// Concurrent first requests with one key: exactly one runs.
pub async fn idempotency_concurrent_duplicates_run_once<S: IdempotencyStore + ?Sized + 'static>(fx: &StoreFixture<S>) {
    let who = OwnerId::new();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let s = fx.store.clone();
        tasks.push(tokio::spawn(async move { s.begin(&begin(who, "race", 9)).await }));
    }
    let mut runs = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(Started::Run { .. }) => runs += 1,
            Err(IdempotencyError::InProgress { .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(runs, 1);
}

/// Keys older than the retention are reaped; younger ones stay.
pub async fn idempotency_keys_are_reaped<S: IdempotencyStore + ?Sized>(fx: &StoreFixture<S>) {
    let s = &*fx.store;
    let who = OwnerId::new();
    let old = begin(who, "old", 1);
    let (_, lease) = run(s, &old).await;
    s.finish(who, &old.key, lease, &response(1)).await.expect("finish");
    advance(&fx.clock, Duration::from_secs(3600));
    let young = begin(who, "young", 1);
    run(s, &young).await;
    advance(&fx.clock, Duration::from_secs(23 * 3600) + Duration::from_millis(1));
    let reaped = s.reap(Duration::from_secs(24 * 3600)).await.expect("reap");
    assert!(reaped >= 1, "the old key is reaped");
    assert_eq!(s.get(who, &old.key).await.expect("get"), None);
    assert!(s.get(who, &young.key).await.expect("get").is_some());
    let (resumed, _) = run(s, &old).await;
    assert!(!resumed, "a reaped key starts afresh");
}

/// Expands to one `#[tokio::test]` per behaviour of the idempotency-key
/// store suite, each calling `$factory().await` for a fresh
/// [`StoreFixture`].
#[macro_export]
macro_rules! idempotency_suite {
    ($factory:path) => {
        $crate::store_suite!(@each $factory;
            idempotency_runs_once_then_replays,
            idempotency_refuses_mismatches,
            idempotency_leases_hand_over,
            idempotency_concurrent_duplicates_run_once,
            idempotency_keys_are_reaped,
        );
    };
}

// --------------------------------------------------------------- saga log

/// An order in a given status, for store tests.
pub fn sample_order(buyer: OwnerId, status: OrderStatus, at: chrono::DateTime<chrono::Utc>) -> Order {
    let eur = Currency::new("EUR").expect("EUR");
    Order {
        id: OrderId::new(),
        show: ShowId::new(),
        buyer,
        key: IdempotencyKey(format!("key-{}", uuid::Uuid::now_v7())),
        hold: HoldToken {
            show: ShowId::new(),
            hold: HoldId::new(),
            version: 1,
            items: HoldItems::Seats(vec![SeatId(1)]),
        },
        method: PaymentMethod("pm_card_visa".into()),
        priced: Priced { lines: Vec::new(), fees: Vec::new(), total: Money::new(12_345, eur) },
        status,
        payment: None,
        capture: None,
        refund: None,
        sale: None,
        reason: None,
        attempts: 0,
        retry_at: None,
        webhooks: Vec::new(),
        log: Vec::new(),
        version: 1,
        created_at: at,
        updated_at: at,
    }
}

/// Orders are created once and updated by compare-and-set on their
/// version.
pub async fn saga_log_creates_once_and_updates_by_version<S: SagaLog + ?Sized>(fx: &StoreFixture<S>) {
    let log = &*fx.store;
    let buyer = OwnerId::new();
    let o = sample_order(buyer, OrderStatus::Created, fx.clock.now());
    assert_eq!(log.create(&o).await.expect("create"), o);
    let other = Order { status: OrderStatus::Declined, ..o.clone() };
    assert_eq!(log.create(&other).await.expect("create again"), o, "the first record stands");
    let mut next = o.clone();
    next.status = OrderStatus::Authorized;
    next.version = 2;
    log.update(&next).await.expect("update");
    assert!(matches!(log.update(&next).await, Err(StoreError::Conflict)), "the same version twice");
    let mut skip = next.clone();
    skip.version = 4;
    assert!(matches!(log.update(&skip).await, Err(StoreError::Conflict)));
    assert_eq!(log.get(o.id).await.expect("get"), Some(next.clone()));
    let unknown = sample_order(buyer, OrderStatus::Created, fx.clock.now());
    assert!(matches!(log.update(&Order { version: 2, ..unknown.clone() }).await, Err(StoreError::NotFound)));
    assert_eq!(log.get(unknown.id).await.expect("get"), None);
    let later = sample_order(buyer, OrderStatus::Completed, fx.clock.now() + chrono::Duration::seconds(1));
    log.create(&later).await.expect("create");
    let mine: Vec<OrderId> = log.by_buyer(buyer).await.expect("by buyer").iter().map(|o| o.id).collect();
    assert_eq!(mine, vec![o.id, later.id]);
    assert!(log.by_buyer(OwnerId::new()).await.expect("by buyer").is_empty());
}

/// Unfinished orders due for a retry are claimed once per lease, by one
/// worker at a time; final orders and orders waiting for their retry time
/// are not claimed.
pub async fn saga_log_claims_unfinished_orders<S: SagaLog + ?Sized + 'static>(fx: &StoreFixture<S>) {
    let log = &*fx.store;
    let now = fx.clock.now();
    let buyer = OwnerId::new();
    let mut due = HashSet::new();
    for status in [OrderStatus::Created, OrderStatus::Captured, OrderStatus::Refunding] {
        let o = log.create(&sample_order(buyer, status, now)).await.expect("create");
        due.insert(o.id);
    }
    for status in [OrderStatus::Completed, OrderStatus::Declined, OrderStatus::NeedsAttention] {
        log.create(&sample_order(buyer, status, now)).await.expect("create");
    }
    let waiting = Order {
        retry_at: Some(now + chrono::Duration::seconds(5)),
        ..sample_order(buyer, OrderStatus::Authorized, now)
    };
    log.create(&waiting).await.expect("create");
    let lease = Duration::from_secs(10);
    let (w1, w2) = (WorkerId(1), WorkerId(2));
    let mine = |v: Vec<Order>| -> HashSet<OrderId> {
        v.into_iter().map(|o| o.id).filter(|id| *id == waiting.id || due.contains(id)).collect()
    };
    // Other tests may share the store: look only at this test's orders.
    let first = mine(log.claim_unfinished(w1, lease, 10_000).await.expect("claim"));
    assert_eq!(first, due);
    assert!(mine(log.claim_unfinished(w2, lease, 10_000).await.expect("claim")).is_empty(), "claimed by w1");
    advance(&fx.clock, Duration::from_secs(5));
    assert_eq!(mine(log.claim_unfinished(w2, lease, 10_000).await.expect("claim")), HashSet::from([waiting.id]));
    advance(&fx.clock, Duration::from_secs(5));
    let again = mine(log.claim_unfinished(w2, lease, 10_000).await.expect("claim"));
    assert_eq!(again, due, "w1's lease ran out");
    // Racing claimers get disjoint sets.
    advance(&fx.clock, lease);
    let (a, b) = tokio::join!(log.claim_unfinished(w1, lease, 10_000), log.claim_unfinished(w2, lease, 10_000));
    let (a, b) = (mine(a.expect("claim")), mine(b.expect("claim")));
    assert!(a.is_disjoint(&b));
    assert_eq!(a.len() + b.len(), due.len() + 1);
}

/// Every order can be listed in pages.
pub async fn saga_log_lists_in_pages<S: SagaLog + ?Sized>(fx: &StoreFixture<S>) {
    let log = &*fx.store;
    let buyer = OwnerId::new();
    let mut ids = HashSet::new();
    for _ in 0..7 {
        ids.insert(log.create(&sample_order(buyer, OrderStatus::Created, fx.clock.now())).await.expect("create").id);
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = log.list(after, 3).await.expect("list");
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(page.into_iter().map(|o| o.id));
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "pages come in id order without repeats");
    assert!(ids.iter().all(|id| seen.contains(id)));
}

/// Expands to one `#[tokio::test]` per behaviour of the saga-log suite.
#[macro_export]
macro_rules! saga_log_suite {
    ($factory:path) => {
        $crate::store_suite!(@each $factory;
            saga_log_creates_once_and_updates_by_version,
            saga_log_claims_unfinished_orders,
            saga_log_lists_in_pages,
        );
    };
}

// ----------------------------------------------------------------- outbox

fn message(id: &str) -> OutboxMessage {
    OutboxMessage {
        id: id.into(),
        topic: "order.completed".into(),
        payload: format!("{{\"id\":\"{id}\"}}"),
        attempts: 0,
    }
}

/// Messages are enqueued once per id, claimed once per lease, counted per
/// attempt, and gone once acknowledged.
pub async fn outbox_delivers_at_least_once<S: Outbox + ?Sized>(fx: &StoreFixture<S>) {
    let out = &*fx.store;
    let tag = uuid::Uuid::now_v7().to_string();
    let (m1, m2) = (message(&format!("{tag}-1")), message(&format!("{tag}-2")));
    out.enqueue(&m1).await.expect("enqueue");
    out.enqueue(&m1).await.expect("enqueue again");
    out.enqueue(&m2).await.expect("enqueue");
    let lease = Duration::from_secs(10);
    let mine =
        |v: Vec<OutboxMessage>| -> Vec<OutboxMessage> { v.into_iter().filter(|m| m.id.starts_with(&tag)).collect() };
    let first = mine(out.claim(WorkerId(1), lease, 10_000).await.expect("claim"));
    assert_eq!(first.iter().map(|m| m.id.clone()).collect::<Vec<_>>(), vec![m1.id.clone(), m2.id.clone()]);
    assert!(first.iter().all(|m| m.attempts == 1 && m.payload.contains(&tag)));
    assert!(mine(out.claim(WorkerId(2), lease, 10_000).await.expect("claim")).is_empty());
    out.ack(&m1.id).await.expect("ack");
    advance(&fx.clock, lease);
    let again = mine(out.claim(WorkerId(2), lease, 10_000).await.expect("claim"));
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id.as_str(), again[0].attempts), (m2.id.as_str(), 2));
    out.ack(&m2.id).await.expect("ack");
    advance(&fx.clock, lease);
    assert!(mine(out.claim(WorkerId(3), lease, 10_000).await.expect("claim")).is_empty());
    out.enqueue(&m1).await.expect("enqueue a delivered id");
    assert!(
        mine(out.claim(WorkerId(3), lease, 10_000).await.expect("claim")).is_empty(),
        "delivered ids stay delivered"
    );
    assert!(matches!(out.ack(&format!("{tag}-none")).await, Err(StoreError::NotFound)));
}

/// Expands to one `#[tokio::test]` per behaviour of the outbox suite.
#[macro_export]
macro_rules! outbox_suite {
    ($factory:path) => {
        $crate::store_suite!(@each $factory; outbox_delivers_at_least_once,);
    };
}

/// The expansion shared by the store suites.
#[doc(hidden)]
#[macro_export]
macro_rules! store_suite {
    (@each $factory:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let fixture = $factory().await;
                $crate::testkit::checkout::$name(&fixture).await;
            }
        )*
    };
}
