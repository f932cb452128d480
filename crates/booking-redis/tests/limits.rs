//! Limits on Redis: booking-core's limits suite under a fresh key prefix
//! per test and a manual clock; and what is particular to Redis: under the
//! server's clock a key decides by `TIME` and expires by itself once its
//! burst is full again, and every rate-limit key is its own hash tag.

mod common;

use booking_core::limits::{Acquire, LimitKey, Quota, RateLimitStore};
use booking_core::testkit::limits::LimitsFixture;
use booking_core::{ManualClock, TimeSource};
use booking_redis::limits::RedisLimits;
use booking_redis::redis;
use common::{redis_url, test_prefix};
use std::sync::Arc;
use std::time::Duration;

async fn limits(prefix: &str, time: TimeSource) -> RedisLimits {
    RedisLimits::builder(&redis_url())
        .expect("url")
        .prefix(prefix)
        .time_source(time)
        .build()
        .await
        .unwrap_or_else(|e| panic!("cannot reach Redis at {}: {e}", redis_url()))
}

async fn fixture() -> LimitsFixture {
    let clock = ManualClock::fixed();
    let l = limits(&test_prefix(), TimeSource::Injected(clock.shared())).await;
    LimitsFixture::new(Arc::new(l.rates), Arc::new(l.blacklist), clock)
}

booking_core::limits_suite!(fixture);

/// Under the server's clock: the burst passes, the refusal's retry-after
/// is counted from the server's `TIME`, and the key carries a TTL that
/// ends when its burst is full again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_the_store_clock_keys_expire_when_full_again() {
    let prefix = test_prefix();
    let l = limits(&prefix, TimeSource::Store).await;
    let q = Quota::per_minute(1, 2).expect("quota");
    let key = LimitKey("store-clock".into());
    let req = Acquire::one(key.clone(), q);
    assert!(l.rates.acquire(&req).await.expect("acquire").allowed);
    assert!(l.rates.acquire(&req).await.expect("acquire").allowed);
    let d = l.rates.acquire(&req).await.expect("acquire");
    assert!(!d.allowed);
    assert!(d.retry_after > Duration::from_secs(55) && d.retry_after <= Duration::from_secs(60), "{d:?}");
    let client = redis::Client::open(redis_url()).expect("client");
    let mut conn = client.get_multiplexed_async_connection().await.expect("connect");
    let ttl: i64 = redis::cmd("PTTL").arg(l.rates.redis_key(&key)).query_async(&mut conn).await.expect("pttl");
    assert!(ttl > 115_000 && ttl <= 120_000, "the TTL ends when the burst is full again: {ttl} ms");
    assert_eq!(l.rates.purge().await.expect("purge"), 0, "nothing to purge: keys expire by themselves");
    l.rates.reset(&key).await.expect("reset");
    assert_eq!(l.rates.acquire(&req).await.expect("acquire").remaining, 1);
}

/// Each rate-limit key is its own hash tag, so a Cluster spreads keys over
/// its slots; the blacklist's two keys share one.
#[tokio::test]
async fn keys_carry_their_own_hash_tags() {
    let prefix = test_prefix();
    let l = limits(&prefix, TimeSource::Store).await;
    let a = l.rates.redis_key(&LimitKey("hold:a:1".into()));
    let b = l.rates.redis_key(&LimitKey("hold:a:2".into()));
    assert_eq!(a, format!("{{{prefix}rl:hold:a:1}}"));
    assert_ne!(booking_redis::key_slot(a.as_bytes()), booking_redis::key_slot(b.as_bytes()));
}

/// The limits suite on a Redis Cluster (`REDIS_CLUSTER_URLS`, or a
/// throwaway cluster this binary starts): rate-limit keys spread over the
/// masters, `purge` walks every master, the blacklist on its one slot.
mod cluster {
    use super::*;
    use common::cluster_urls;

    async fn fixture() -> LimitsFixture {
        let clock = ManualClock::fixed();
        let l = RedisLimits::cluster_builder(cluster_urls())
            .expect("urls")
            .prefix(test_prefix())
            .time_source(TimeSource::Injected(clock.shared()))
            .build()
            .await
            .expect("limits");
        LimitsFixture::new(Arc::new(l.rates), Arc::new(l.blacklist), clock)
    }

    booking_core::limits_suite!(fixture);
}
