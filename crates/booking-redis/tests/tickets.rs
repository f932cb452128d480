//! Tickets on Redis: booking-core's check-in store suite, each test under
//! its own key prefix, admissions stamped by a manual clock.

mod common;

use booking_core::testkit::checkout::StoreFixture;
use booking_core::{ManualClock, TimeSource};
use booking_redis::tickets::RedisCheckInStore;
use common::{redis_url, test_prefix};
use std::sync::Arc;

async fn store(time: TimeSource) -> RedisCheckInStore {
    RedisCheckInStore::builder(&redis_url())
        .expect("REDIS_URL")
        .prefix(test_prefix())
        .time_source(time)
        .build()
        .await
        .unwrap_or_else(|e| panic!("cannot reach Redis at {}: {e}", redis_url()))
}

mod checkin {
    use super::*;
    async fn fixture() -> StoreFixture<RedisCheckInStore> {
        let clock = ManualClock::fixed();
        StoreFixture::new(Arc::new(store(TimeSource::Injected(clock.shared())).await), clock)
    }
    booking_core::checkin_suite!(fixture);
}

/// Without an injected clock, admissions are stamped by the server's
/// `TIME`; a prefix with braces is refused.
#[tokio::test]
async fn admissions_are_stamped_by_the_server_clock() {
    use booking_core::tickets::{CheckIn, CheckInStore, DeviceId, GateId, Registration, TicketId};
    use booking_core::{OwnerId, ShowId};
    let s = store(TimeSource::Store).await;
    let r = Registration {
        show: ShowId::new(),
        ticket: TicketId(uuid::Uuid::now_v7()),
        version: 1,
        holder: OwnerId::new(),
    };
    s.register(&r).await.expect("register");
    let before = chrono::Utc::now();
    let req = CheckIn {
        show: r.show,
        ticket: r.ticket,
        version: 1,
        holder: r.holder,
        device: DeviceId::new("d").expect("device"),
        gate: GateId::new("g").expect("gate"),
    };
    let a = s.check_in(&req).await.expect("check in");
    assert!((a.at - before).num_seconds().abs() < 60, "stamped by the server: {} vs {before}", a.at);
    assert_eq!(s.status(r.show, r.ticket).await.expect("status").and_then(|t| t.admitted), Some(a));
    let bad = RedisCheckInStore::builder(&redis_url()).expect("url").prefix("a{b}").build().await;
    assert!(bad.is_err());
}

/// On a Redis Cluster: a ticket's record and its show's revocation list
/// share the show's slot, so registrations and check-ins run as on one
/// server.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_store_runs_on_a_cluster() {
    use booking_core::tickets::{CheckIn, CheckInError, CheckInStore, DeviceId, GateId, Registration, TicketId};
    use booking_core::{OwnerId, ShowId};
    let clock = ManualClock::fixed();
    let s = RedisCheckInStore::cluster_builder(common::cluster_urls())
        .expect("cluster urls")
        .prefix(test_prefix())
        .time_source(TimeSource::Injected(clock.shared()))
        .build()
        .await
        .expect("cluster");
    let show = ShowId::new();
    for _ in 0..8 {
        let r = Registration { show, ticket: TicketId(uuid::Uuid::now_v7()), version: 1, holder: OwnerId::new() };
        s.register(&r).await.expect("register");
        s.register(&Registration { version: 2, ..r }).await.expect("reissue");
        let req = CheckIn {
            show,
            ticket: r.ticket,
            version: 2,
            holder: r.holder,
            device: DeviceId::new("d").expect("device"),
            gate: GateId::new("g").expect("gate"),
        };
        let a = s.check_in(&req).await.expect("check in");
        assert!(matches!(s.check_in(&req).await, Err(CheckInError::AlreadyCheckedIn(first)) if *first == a));
    }
    assert_eq!(s.revocations(show).await.expect("list").len(), 8);
}
