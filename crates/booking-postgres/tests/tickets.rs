//! Tickets on PostgreSQL: booking-core's check-in store suite, each test in
//! a fresh database, admissions stamped by a manual clock.

mod common;

use booking_core::testkit::checkout::StoreFixture;
use booking_core::{ManualClock, TimeSource};
use booking_postgres::tickets::PgCheckInStore;
use common::{create_database, pool};
use std::sync::Arc;

mod checkin {
    use super::*;
    async fn fixture() -> StoreFixture<PgCheckInStore> {
        let clock = ManualClock::fixed();
        let name = create_database().await;
        // Enough connections for the 64 racing scans to meet at the row.
        let pool = pool(&name, 16).await;
        StoreFixture::new(Arc::new(PgCheckInStore::with_time_source(pool, TimeSource::Injected(clock.shared()))), clock)
    }
    booking_core::checkin_suite!(fixture);
}

/// Without an injected clock, admissions are stamped by the database's.
#[tokio::test]
async fn admissions_are_stamped_by_the_database_clock() {
    use booking_core::tickets::{CheckIn, CheckInStore, DeviceId, GateId, Registration, TicketId};
    use booking_core::{OwnerId, ShowId};
    let name = create_database().await;
    let mut admin = common::connect(&name).await;
    let start = common::settable_database_clock(&mut admin).await;
    let store = PgCheckInStore::new(pool(&name, 2).await);
    let r = Registration {
        show: ShowId::new(),
        ticket: TicketId(uuid::Uuid::now_v7()),
        version: 1,
        holder: OwnerId::new(),
    };
    store.register(&r).await.expect("register");
    common::set_database_clock(&mut admin, start + 1_234).await;
    let req = CheckIn {
        show: r.show,
        ticket: r.ticket,
        version: 1,
        holder: r.holder,
        device: DeviceId::new("d").expect("device"),
        gate: GateId::new("g").expect("gate"),
    };
    let a = store.check_in(&req).await.expect("check in");
    assert_eq!(a.at.timestamp_millis(), start + 1_234);
}
