//! The conformance suite of the check-in store
//! ([`CheckInStore`]): every backend runs it
//! through [`checkin_suite!`](crate::checkin_suite), on a fixture whose
//! store reads the fixture's [`ManualClock`](crate::ManualClock).
//!
//! Every behaviour uses fresh show and ticket ids, so one store may serve
//! many tests at once.

use super::checkout::StoreFixture;
use crate::clock::Clock;
use crate::ids::{OrderId, OwnerId, SeatId, ShowId};
use crate::tickets::{
    Admission, CheckIn, CheckInError, CheckInStore, DeviceId, GateId, Registered, Registration, TicketId, TicketItem,
};
use std::collections::HashSet;

fn ticket(n: u32) -> TicketId {
    TicketId::for_item(OrderId::new(), TicketItem::Seat(SeatId(n)), 0)
}

fn reg(show: ShowId, ticket: TicketId, version: u32, holder: OwnerId) -> Registration {
    Registration { show, ticket, version, holder }
}

fn scan(r: &Registration, device: &str, gate: &str) -> CheckIn {
    CheckIn {
        show: r.show,
        ticket: r.ticket,
        version: r.version,
        holder: r.holder,
        device: DeviceId(device.into()),
        gate: GateId(gate.into()),
    }
}

async fn registered<S: CheckInStore + ?Sized>(s: &S, show: ShowId) -> Registration {
    let r = reg(show, ticket(1), 1, OwnerId::new());
    assert_eq!(s.register(&r).await.expect("register"), Registered::New);
    r
}

/// The first scan wins; a second scan, from another device and later, is
/// refused with when and where the first happened; the record shows the
/// admission.
pub async fn checkin_first_scan_wins<S: CheckInStore + ?Sized>(fx: &StoreFixture<S>) {
    let s = &*fx.store;
    let show = ShowId::new();
    let r = registered(s, show).await;
    let first = s.check_in(&scan(&r, "north-1", "Gate A")).await.expect("first scan");
    let expected = Admission {
        ticket: r.ticket,
        version: 1,
        at: fx.clock.now(),
        device: DeviceId("north-1".into()),
        gate: GateId("Gate A".into()),
    };
    assert_eq!(first, expected);
    fx.clock.advance(chrono::Duration::seconds(90));
    for (device, gate) in [("south-2", "Gate C"), ("north-1", "Gate A")] {
        let again = s.check_in(&scan(&r, device, gate)).await;
        assert_eq!(again.expect_err("second scan"), CheckInError::AlreadyCheckedIn(Box::new(expected.clone())));
    }
    let status = s.status(show, r.ticket).await.expect("status").expect("record");
    assert_eq!((status.version, status.holder, status.admitted), (1, r.holder, Some(expected)));
    // Another ticket of the show is unaffected.
    let other = reg(show, ticket(2), 1, r.holder);
    s.register(&other).await.expect("register");
    s.check_in(&scan(&other, "north-1", "Gate A")).await.expect("another ticket");
}

/// Registration is idempotent for the same version and holder; a reissue
/// takes a higher version; an older version, or the current version to
/// another holder, is refused.
pub async fn checkin_registers_versions<S: CheckInStore + ?Sized>(fx: &StoreFixture<S>) {
    let s = &*fx.store;
    let show = ShowId::new();
    let r1 = registered(s, show).await;
    assert_eq!(s.register(&r1).await.expect("retry"), Registered::Unchanged);
    let stranger = OwnerId::new();
    assert_eq!(
        s.register(&reg(show, r1.ticket, 1, stranger)).await.expect_err("same version, another holder"),
        CheckInError::NotHolder { ticket: r1.ticket, version: 1 }
    );
    let r3 = reg(show, r1.ticket, 3, stranger);
    assert_eq!(s.register(&r3).await.expect("reissue"), Registered::Reissued { previous: 1 });
    assert_eq!(s.register(&r3).await.expect("retry"), Registered::Unchanged);
    assert_eq!(
        s.register(&reg(show, r1.ticket, 2, r1.holder)).await.expect_err("older"),
        CheckInError::Superseded { ticket: r1.ticket, version: 2, current: 3 }
    );
    let status = s.status(show, r1.ticket).await.expect("status").expect("record");
    assert_eq!((status.version, status.holder, status.admitted), (3, stranger, None));
    // The same ticket id in another show is another record.
    assert_eq!(s.status(ShowId::new(), r1.ticket).await.expect("status"), None);
    assert_eq!(s.register(&reg(ShowId::new(), r1.ticket, 1, r1.holder)).await.expect("other show"), Registered::New);
}

/// Only the current version checks in, and only for its holder: the
/// previous holder's QR code (an older version) is refused, and so is a
/// version never registered or a check-in naming someone else. A ticket
/// already admitted cannot be reissued.
pub async fn checkin_only_the_current_version_and_holder<S: CheckInStore + ?Sized>(fx: &StoreFixture<S>) {
    let s = &*fx.store;
    let show = ShowId::new();
    let r1 = registered(s, show).await;
    let buyer2 = OwnerId::new();
    let r2 = reg(show, r1.ticket, 2, buyer2);
    s.register(&r2).await.expect("reissue");
    assert_eq!(
        s.check_in(&scan(&r1, "d", "g")).await.expect_err("old version"),
        CheckInError::Superseded { ticket: r1.ticket, version: 1, current: 2 }
    );
    let future = reg(show, r1.ticket, 3, buyer2);
    assert_eq!(
        s.check_in(&scan(&future, "d", "g")).await.expect_err("unregistered version"),
        CheckInError::UnknownVersion { ticket: r1.ticket, version: 3, current: 2 }
    );
    let someone_else = reg(show, r1.ticket, 2, r1.holder);
    assert_eq!(
        s.check_in(&scan(&someone_else, "d", "g")).await.expect_err("another holder"),
        CheckInError::NotHolder { ticket: r1.ticket, version: 2 }
    );
    assert_eq!(s.status(show, r1.ticket).await.expect("status").expect("record").admitted, None, "nothing changed");
    let admitted = s.check_in(&scan(&r2, "d", "g")).await.expect("current version");
    assert_eq!(
        s.register(&reg(show, r1.ticket, 3, OwnerId::new())).await.expect_err("reissue after entry"),
        CheckInError::AlreadyCheckedIn(Box::new(admitted.clone()))
    );
    assert_eq!(s.register(&r2).await.expect("retry of the admitted version"), Registered::Unchanged);
    let status = s.status(show, r1.ticket).await.expect("status").expect("record");
    assert_eq!((status.version, status.holder, status.admitted), (2, buyer2, Some(admitted)));
}

/// Malformed and unknown requests are refused with their reason and
/// change nothing.
pub async fn checkin_bad_requests_change_nothing<S: CheckInStore + ?Sized>(fx: &StoreFixture<S>) {
    let s = &*fx.store;
    let show = ShowId::new();
    let r = registered(s, show).await;
    let (elsewhere, unknown) = (ShowId::new(), ticket(9));
    let cases: Vec<(CheckIn, CheckInError)> = vec![
        (CheckIn { version: 0, ..scan(&r, "d", "g") }, CheckInError::ZeroVersion),
        (scan(&r, "", "g"), CheckInError::InvalidName("device")),
        (scan(&r, "d", &"g".repeat(65)), CheckInError::InvalidName("gate")),
        (scan(&r, "d\u{0}", "g"), CheckInError::InvalidName("device")),
        (scan(&r, "d", "g\r\n"), CheckInError::InvalidName("gate")),
        (
            CheckIn { show: elsewhere, ..scan(&r, "d", "g") },
            CheckInError::UnknownTicket { show: elsewhere, ticket: r.ticket },
        ),
        (CheckIn { ticket: unknown, ..scan(&r, "d", "g") }, CheckInError::UnknownTicket { show, ticket: unknown }),
        (
            CheckIn { version: u32::MAX, ..scan(&r, "d", "g") },
            CheckInError::UnknownVersion { ticket: r.ticket, version: u32::MAX, current: 1 },
        ),
    ];
    for (req, want) in cases {
        assert_eq!(s.check_in(&req).await.expect_err("refused"), want, "{req:?}");
    }
    assert_eq!(s.register(&reg(show, unknown, 0, r.holder)).await.expect_err("v0"), CheckInError::ZeroVersion);
    assert_eq!(s.status(show, unknown).await.expect("status"), None);
    let status = s.status(show, r.ticket).await.expect("status").expect("record");
    assert_eq!((status.version, status.holder, status.admitted), (1, r.holder, None), "nothing changed");
    s.check_in(&scan(&r, "d", "g")).await.expect("the genuine scan still works");
}

/// The revocation list names every reissued ticket of the show with its
/// current version, and nothing of other shows.
pub async fn checkin_revocations_list_reissued_tickets<S: CheckInStore + ?Sized>(fx: &StoreFixture<S>) {
    let s = &*fx.store;
    let (show, other_show) = (ShowId::new(), ShowId::new());
    assert!(s.revocations(show).await.expect("empty").is_empty());
    let a = registered(s, show).await;
    let b = registered(s, show).await;
    let _never_reissued = registered(s, show).await;
    s.register(&reg(show, a.ticket, 2, OwnerId::new())).await.expect("reissue a");
    s.register(&reg(show, a.ticket, 5, OwnerId::new())).await.expect("reissue a again");
    s.register(&reg(show, b.ticket, 2, b.holder)).await.expect("reissue b");
    let elsewhere = registered(s, other_show).await;
    s.register(&reg(other_show, elsewhere.ticket, 2, elsewhere.holder)).await.expect("reissue elsewhere");
    let list = s.revocations(show).await.expect("list");
    let mut want = vec![(a.ticket, 5), (b.ticket, 2)];
    want.sort();
    assert_eq!(list.iter().collect::<Vec<_>>(), want);
}

/// 64 concurrent scans of one ticket, from 64 devices: exactly one is
/// admitted, and every other is told about that one.
pub async fn checkin_race_one_admission<S: CheckInStore + ?Sized + 'static>(fx: &StoreFixture<S>) {
    let show = ShowId::new();
    let r = registered(&*fx.store, show).await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let (s, req) = (fx.store.clone(), scan(&r, &format!("device-{i}"), "Gate A"));
        tasks.push(tokio::spawn(async move { s.check_in(&req).await }));
    }
    let mut wins = Vec::new();
    let mut told = Vec::new();
    for t in tasks {
        match t.await.expect("task") {
            Ok(a) => wins.push(a),
            Err(CheckInError::AlreadyCheckedIn(first)) => told.push(*first),
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(wins.len(), 1, "exactly one admission");
    assert_eq!(told.len(), 63);
    assert!(told.iter().all(|a| *a == wins[0]), "every refusal names the admission");
    let status = fx.store.status(show, r.ticket).await.expect("status").expect("record");
    assert_eq!(status.admitted.as_ref(), Some(&wins[0]));
}

/// A reissue racing a scan of the old version: either the scan wins and
/// the reissue is refused, or the reissue wins and the scan is refused;
/// never both.
pub async fn checkin_race_reissue_against_scan<S: CheckInStore + ?Sized + 'static>(fx: &StoreFixture<S>) {
    let show = ShowId::new();
    let mut outcomes = HashSet::new();
    for _ in 0..16 {
        let r = registered(&*fx.store, show).await;
        let (s1, s2) = (fx.store.clone(), fx.store.clone());
        let req = scan(&r, "gate-device", "Gate A");
        let next = reg(show, r.ticket, 2, OwnerId::new());
        let scanned = tokio::spawn(async move { s1.check_in(&req).await });
        let reissued = tokio::spawn(async move { s2.register(&next).await });
        let (scanned, reissued) = (scanned.await.expect("task"), reissued.await.expect("task"));
        let status = fx.store.status(show, r.ticket).await.expect("status").expect("record");
        match (scanned, reissued) {
            (Ok(a), Err(CheckInError::AlreadyCheckedIn(first))) => {
                assert_eq!(a, *first);
                assert_eq!((status.version, status.admitted), (1, Some(a)));
                outcomes.insert("scan first");
            }
            (
                Err(CheckInError::Superseded { version: 1, current: 2, .. }),
                Ok(Registered::Reissued { previous: 1 }),
            ) => {
                assert_eq!((status.version, status.admitted), (2, None));
                outcomes.insert("reissue first");
            }
            other => panic!("scan and reissue must exclude each other: {other:?}"),
        }
    }
    assert!(!outcomes.is_empty());
}

/// A registration racing its own retries is recorded once; two reissues
/// of the same version to different holders: one wins, the other is
/// refused.
pub async fn checkin_registration_races_its_retry<S: CheckInStore + ?Sized + 'static>(fx: &StoreFixture<S>) {
    let show = ShowId::new();
    let r = reg(show, ticket(1), 1, OwnerId::new());
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let s = fx.store.clone();
        tasks.push(tokio::spawn(async move { s.register(&r).await }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.expect("task").expect("register"));
    }
    assert_eq!(outcomes.iter().filter(|o| **o == Registered::New).count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| **o == Registered::Unchanged).count(), 15, "{outcomes:?}");
    let (a, b) = (reg(show, r.ticket, 2, OwnerId::new()), reg(show, r.ticket, 2, OwnerId::new()));
    let (s1, s2) = (fx.store.clone(), fx.store.clone());
    let (ra, rb) = tokio::join!(
        tokio::spawn(async move { s1.register(&a).await }),
        tokio::spawn(async move { s2.register(&b).await })
    );
    let (ra, rb) = (ra.expect("task"), rb.expect("task"));
    let winner = match (&ra, &rb) {
        (Ok(Registered::Reissued { previous: 1 }), Err(CheckInError::NotHolder { version: 2, .. })) => a.holder,
        (Err(CheckInError::NotHolder { version: 2, .. }), Ok(Registered::Reissued { previous: 1 })) => b.holder,
        other => panic!("exactly one reissue wins: {other:?}"),
    };
    let status = fx.store.status(show, r.ticket).await.expect("status").expect("record");
    assert_eq!((status.version, status.holder), (2, winner));
}

/// Expands to one `#[tokio::test]` per behaviour of the check-in store
/// suite, each calling `$factory().await` for a fresh
/// [`StoreFixture`] over a [`CheckInStore`].
#[macro_export]
macro_rules! checkin_suite {
    ($factory:path) => {
        $crate::__checkin_behaviours!(checkin_suite!(@each $factory;));
    };
    (@each $factory:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let fixture = $factory().await;
                $crate::testkit::tickets::$name(&fixture).await;
            }
        )*
    };
    (@names $($name:ident),* $(,)?) => {
        &[$(stringify!($name)),*]
    };
}

/// The check-in suite's behaviours, on one list:
/// [`crate::checkin_suite!`] runs each of them, and a test of this crate
/// checks that every behaviour defined here is on it.
#[doc(hidden)]
#[macro_export]
macro_rules! __checkin_behaviours {
    ($mac:ident!($($args:tt)*)) => {
        $crate::$mac! { $($args)*
    checkin_first_scan_wins,
    checkin_registers_versions,
    checkin_only_the_current_version_and_holder,
    checkin_bad_requests_change_nothing,
    checkin_revocations_list_reissued_tickets,
    checkin_race_one_admission,
    checkin_race_reissue_against_scan,
    checkin_registration_races_its_retry,
        }
    };
}

/// Every behaviour of the check-in suite, by name, as
/// [`crate::checkin_suite!`] runs them.
pub const BEHAVIOURS: &[&str] = crate::__checkin_behaviours!(checkin_suite!(@names));

#[cfg(test)]
mod behaviour_list {
    /// Every `pub async fn` of this file taking a `StoreFixture` is a
    /// behaviour, and every behaviour is on the list.
    #[test]
    fn every_checkin_behaviour_is_on_the_list() {
        crate::testkit::assert_all_listed(
            "check-in",
            [include_str!("tickets.rs")],
            "fx: &StoreFixture<S>",
            super::BEHAVIOURS,
        );
    }
}
