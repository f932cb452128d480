//! The seat-lock conformance suite of booking-core on the Redis seat lock
//! (one server here; `tests/cluster.rs` runs it on a Redis Cluster), and
//! how each time source decides a lock's expiry.

mod common;

use booking_core::layered::{LockOutcome, SeatLock};
use booking_core::testkit::LockFixture;
use booking_core::{ManualClock, SeatId, ShowId, TimeSource};
use booking_redis::{RedisSeatLock, ShowKeys};
use common::{redis_url, test_prefix};
use std::time::Duration;

async fn fixture() -> LockFixture<RedisSeatLock> {
    let clock = ManualClock::fixed();
    let lock = RedisSeatLock::builder(&redis_url())
        .expect("url")
        .prefix(test_prefix())
        .time_source(TimeSource::Injected(clock.shared()))
        .build()
        .await
        .expect("lock");
    LockFixture::new(lock, clock)
}

booking_core::seat_lock_suite!(fixture);

/// With the store's clock a lock key expires by itself (`PX` set to the
/// TTL, the Redis server's clock deciding); with an injected clock the key
/// has no TTL and records when it ends, for the lock script to decide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_time_source_decides_expiry_its_own_way() {
    let mut c = redis::Client::open(redis_url()).expect("url").get_multiplexed_async_connection().await.expect("c");
    let ttl = Duration::from_secs(7);
    let clock = ManualClock::fixed();
    for time in [TimeSource::Store, TimeSource::Injected(clock.shared())] {
        let prefix = test_prefix();
        let lock = RedisSeatLock::builder(&redis_url())
            .expect("url")
            .prefix(prefix.clone())
            .time_source(time.clone())
            .build()
            .await
            .expect("lock");
        let show = ShowId::new();
        let LockOutcome::Locked(token) = lock.try_lock(show, &[SeatId(5)], ttl).await.expect("lock") else {
            panic!("a fresh seat is free")
        };
        let key = ShowKeys::new(&prefix, show).seat_lock(SeatId(5));
        let pttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut c).await.expect("PTTL");
        let value: String = redis::cmd("GET").arg(&key).query_async(&mut c).await.expect("GET");
        let (holder, until) = value.split_once('|').expect("token|until");
        assert_eq!(holder, format!("{:032x}", token.0));
        match time {
            TimeSource::Store => {
                assert!(pttl > 0 && pttl <= 7_000, "the key expires by the server's clock: PTTL {pttl}");
                assert_eq!(until, "store");
            }
            TimeSource::Injected(_) => {
                assert_eq!(pttl, -1, "no server-side expiry under an injected clock");
                assert_eq!(until, (booking_core::Clock::now_millis(&clock) + 7_000).to_string());
            }
        }
        lock.unlock(show, &[SeatId(5)], &token).await.expect("unlock");
        let gone: i64 = redis::cmd("EXISTS").arg(&key).query_async(&mut c).await.expect("EXISTS");
        assert_eq!(gone, 0);
    }
}
