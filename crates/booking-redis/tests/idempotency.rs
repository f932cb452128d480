//! Idempotency keys on Redis: booking-core's idempotency-key store suite
//! (Stripe's semantics: run once then replay, mismatches, in progress,
//! lease hand-over, reaping) with an injected clock, and what is particular
//! to Redis: under the store's clock the records expire by themselves, and
//! every script stays on its key's slot.

mod common;

use booking_core::idempotency::{Begin, Fingerprint, IdempotencyError, IdempotencyKey, IdempotencyStore, Started};
use booking_core::testkit::checkout::StoreFixture;
use booking_core::{ManualClock, OwnerId, TimeSource};
use booking_redis::keys::{idempotency_record, key_slot};
use booking_redis::{DEFAULT_RETENTION, RedisIdempotencyStore};
use common::{redis_url, test_prefix};
use std::sync::Arc;
use std::time::Duration;

async fn store(prefix: &str, time: TimeSource) -> RedisIdempotencyStore {
    RedisIdempotencyStore::builder(&redis_url())
        .expect("url")
        .prefix(prefix)
        .time_source(time)
        .build()
        .await
        .expect("connect")
}

async fn fixture() -> StoreFixture<RedisIdempotencyStore> {
    let clock = ManualClock::fixed();
    StoreFixture::new(Arc::new(store(&test_prefix(), TimeSource::Injected(clock.shared())).await), clock)
}

booking_core::idempotency_suite!(fixture);

fn begin(principal: OwnerId, key: &str) -> Begin {
    Begin {
        principal,
        key: IdempotencyKey(key.into()),
        fingerprint: Fingerprint([7; 32]),
        lease: Duration::from_secs(30),
    }
}

/// Under the store's clock a key's record expires by itself after the
/// retention (its TTL, set at first use, not moved by later writes), and
/// `reap` has nothing left to do; the lease is decided by the server's
/// clock as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_the_store_clock_records_expire_by_themselves() {
    let prefix = test_prefix();
    let s = store(&prefix, TimeSource::Store).await;
    let who = OwnerId::new();
    let req = begin(who, "order-42");
    let Started::Run { resumed: false, lease } = s.begin(&req).await.expect("begin") else { panic!("first run") };
    assert!(matches!(s.begin(&req).await, Err(IdempotencyError::InProgress { .. })));
    let record = idempotency_record(&prefix, who, "order-42");
    let mut c = redis::Client::open(redis_url()).expect("url").get_multiplexed_async_connection().await.expect("c");
    let ttl = |c: &mut redis::aio::MultiplexedConnection| {
        let record = record.clone();
        let mut c = c.clone();
        async move { redis::cmd("PTTL").arg(record).query_async::<i64>(&mut c).await.expect("PTTL") }
    };
    let first = ttl(&mut c).await;
    let day = DEFAULT_RETENTION.as_millis() as i64;
    assert!(first > day - 60_000 && first <= day, "the record expires a retention after first use: {first}");
    let response = booking_core::idempotency::StoredResponse { status: 200, body: b"{}".to_vec() };
    s.finish(who, &req.key, lease, &response).await.expect("finish");
    assert!(ttl(&mut c).await <= first, "finishing does not extend the retention");
    assert_eq!(s.begin(&req).await.expect("replay"), Started::Replay(response));
    assert_eq!(s.reap(DEFAULT_RETENTION).await.expect("reap"), 0, "nothing is a day old");
}

/// Each key's scripts touch only its record and its bucket's index, on one
/// slot; keys of one principal spread over the buckets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_lives_on_one_slot_with_its_bucket_index() {
    let prefix = test_prefix();
    let clock = ManualClock::fixed();
    let s = store(&prefix, TimeSource::Injected(clock.shared())).await;
    let who = OwnerId::new();
    let mut slots = std::collections::HashSet::new();
    let mut c = redis::Client::open(redis_url()).expect("url").get_multiplexed_async_connection().await.expect("c");
    for i in 0..40 {
        let key = format!("k-{i}");
        let Started::Run { lease, .. } = s.begin(&begin(who, &key)).await.expect("begin") else { panic!("run") };
        s.release(who, &IdempotencyKey(key.clone()), lease).await.expect("release");
        let record = idempotency_record(&prefix, who, &key);
        slots.insert(key_slot(record.as_bytes()));
        let tag = &record[record.find('{').expect("tag")..=record.find('}').expect("tag")];
        let index = format!("{prefix}idem:{tag}:index");
        let score: Option<i64> =
            redis::cmd("ZSCORE").arg(&index).arg(&record).query_async(&mut c).await.expect("ZSCORE");
        assert_eq!(score, Some(booking_core::Clock::now_millis(&clock)), "indexed by creation time");
        assert_eq!(key_slot(index.as_bytes()), key_slot(record.as_bytes()));
    }
    assert!(slots.len() > 4, "keys spread over buckets: {} slots", slots.len());
}
