//! Tickets on the memory backend: booking-core's check-in store suite, and
//! a ticket's whole life on the memory inventory: a seat held and sold,
//! its ticket issued from the sale record, verified offline at a scanner,
//! checked in once, then reissued, which makes the old QR code fail.

use booking_core::testkit::checkout::StoreFixture;
use booking_core::testkit::{create, hold, sell_req, test_policy};
use booking_core::tickets::{
    CheckIn, CheckInError, CheckInStore, DeviceId, GateId, KeyId, OfflineScanner, Registered, Registration,
    RotationKey, RotationPolicy, ScanRefusal, ScannerSync, SigningKeyring, TicketIssuer,
};
use booking_core::{Clock, ManualClock, OrderId, OwnerId, SaleRecord, SeatInventory};
use booking_memory::MemoryInventory;
use booking_memory::tickets::MemoryCheckInStore;
use std::sync::Arc;

mod checkin {
    use super::*;
    async fn fixture() -> StoreFixture<MemoryCheckInStore> {
        let clock = ManualClock::fixed();
        StoreFixture::new(Arc::new(MemoryCheckInStore::with_clock(clock.shared())), clock)
    }
    booking_core::checkin_suite!(fixture);
}

#[tokio::test]
async fn a_sold_seat_gets_a_ticket_that_scans_once_and_a_reissue_voids_the_old_qr() {
    let clock = ManualClock::fixed();
    let inventory = MemoryInventory::with_clock(clock.shared());
    let store = MemoryCheckInStore::with_clock(clock.shared());
    let spec = create(&inventory, 1, 2, 10, 0, test_policy()).await;
    let buyer = OwnerId::new();
    let held = hold(&inventory, spec.id, buyer, &[3, 4]).await;
    let sell = sell_req(&held, OrderId::new());
    let sale = inventory.sell(&sell).await.expect("sell");
    let record = SaleRecord::new(&sell, sale);

    let issuer = TicketIssuer::new(SigningKeyring::new(KeyId(1), [42; 32]));
    let rotation = RotationKey([7; 32]);
    let tickets = issuer.issue_sale(&record, Some(&rotation)).expect("issue");
    assert_eq!(tickets.len(), 2);
    for t in &tickets {
        assert_eq!(store.register(&Registration::from(&t.claims)).await.expect("register"), Registered::New);
    }

    // The scanner syncs, then works offline.
    let sync = |revocations| ScannerSync {
        show: spec.id,
        keys: issuer.keys().public(),
        revocations,
        rotation: Some(rotation.clone()),
        policy: RotationPolicy::default(),
    };
    let device = DeviceId::new("north-1").expect("device");
    let gate = GateId::new("Gate A").expect("gate");
    let scanner =
        OfflineScanner::new(sync(store.revocations(spec.id).await.expect("list")), device.clone(), clock.shared());
    let policy = RotationPolicy::default();
    let qr = tickets[0].qr_text(&policy, clock.now_millis());
    let verified = scanner.verify(&qr).expect("verifies offline");
    assert_eq!((verified.claims.show, verified.claims.order, verified.claims.holder), (spec.id, sell.order, buyer));

    // Online check-in: the first scan wins, the second is refused with when
    // and where.
    let first = store.check_in(&CheckIn::new(&verified.claims, device.clone(), gate.clone())).await.expect("check in");
    clock.advance(chrono::Duration::minutes(3));
    let again = scanner.verify(&tickets[0].qr_text(&policy, clock.now_millis())).expect("still a valid ticket");
    let refused =
        store.check_in(&CheckIn::new(&again.claims, DeviceId::new("south-2").expect("d"), gate.clone())).await;
    assert_eq!(refused.expect_err("second check-in"), CheckInError::AlreadyCheckedIn(Box::new(first)));

    // The second ticket is transferred: reissued to a friend. The buyer's
    // QR code fails offline (after the next sync) and online.
    let friend = OwnerId::new();
    let old_qr = tickets[1].qr_text(&policy, clock.now_millis());
    let new = issuer.reissue(&tickets[1].claims, friend, Some(&rotation)).expect("reissue");
    assert_eq!(
        store.register(&Registration::from(&new.claims)).await.expect("register"),
        Registered::Reissued { previous: 1 }
    );
    let mut scanner = scanner;
    scanner.resync(sync(store.revocations(spec.id).await.expect("list")));
    assert_eq!(
        scanner.verify(&old_qr),
        Err(ScanRefusal::Revoked { ticket: new.claims.ticket, version: 1, min_version: 2 })
    );
    let online = store.check_in(&CheckIn::new(&tickets[1].claims, device.clone(), gate.clone())).await;
    assert!(matches!(online, Err(CheckInError::Superseded { version: 1, current: 2, .. })), "{online:?}");
    let friends = scanner.verify(&new.qr_text(&policy, clock.now_millis())).expect("the friend's ticket");
    assert_eq!(friends.claims.holder, friend);
    store.check_in(&CheckIn::new(&friends.claims, device, gate)).await.expect("the friend gets in");
}
