//! The issuer and the offline scanner against forged, edited, truncated,
//! replayed and revoked tickets.

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::ids::{OrderId, OwnerId, PoolId, SeatId, ShowId};
use crate::inventory::{HoldItems, HoldToken, Sale, SaleRecord};
use crate::{HoldId, PaymentRef};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;

const STEP_MS: i64 = 15_000;

struct Setup {
    issuer: TicketIssuer,
    show: ShowId,
    rotation: RotationKey,
    clock: ManualClock,
}

impl Setup {
    fn new() -> Self {
        Setup {
            issuer: TicketIssuer::new(SigningKeyring::new(KeyId(1), [1; 32])),
            show: ShowId::new(),
            rotation: RotationKey([9; 32]),
            clock: ManualClock::fixed(),
        }
    }

    fn sync(&self) -> ScannerSync {
        ScannerSync {
            show: self.show,
            keys: self.issuer.keys().public(),
            revocations: RevocationList::new(),
            rotation: Some(self.rotation.clone()),
            policy: RotationPolicy::default(),
        }
    }

    fn scanner(&self, sync: ScannerSync, device: &str) -> OfflineScanner {
        OfflineScanner::new(sync, DeviceId::new(device).expect("device"), self.clock.shared())
    }

    fn claims(&self, rotating: bool) -> TicketClaims {
        let order = OrderId::new();
        TicketClaims {
            ticket: TicketId::for_item(order, TicketItem::Seat(SeatId(3)), 0),
            show: self.show,
            order,
            holder: OwnerId::new(),
            item: TicketItem::Seat(SeatId(3)),
            version: 1,
            key: KeyId(0),
            rotating,
        }
    }

    fn issue(&self, rotating: bool) -> IssuedTicket {
        self.issuer.issue(&self.claims(rotating), Some(&self.rotation)).expect("issue")
    }

    fn text(&self, t: &IssuedTicket) -> String {
        t.qr_text(&RotationPolicy::default(), self.clock.now_millis())
    }
}

fn gate() -> GateId {
    GateId::new("Gate A").expect("gate")
}

#[test]
fn an_issued_ticket_verifies_offline_with_only_the_public_keys() {
    let s = Setup::new();
    let t = s.issue(false);
    assert_eq!(t.claims.key, KeyId(1), "signed by the current key");
    assert_eq!(t.signed.len(), 190);
    let v = s.scanner(s.sync(), "d1").verify(&s.text(&t)).expect("verify");
    assert_eq!((v.claims, v.step), (t.claims, None));
}

#[test]
fn forged_and_wrong_key_tickets_are_refused() {
    let s = Setup::new();
    let scanner = s.scanner(s.sync(), "d1");
    // Another key claiming the issuer's key id.
    let forger = TicketIssuer::new(SigningKeyring::new(KeyId(1), [2; 32]));
    let forged = forger.issue(&s.claims(false), None).expect("issue");
    assert_eq!(scanner.verify(&forged.signed), Err(ScanRefusal::BadSignature));
    // A key the scanner does not know.
    let unknown = TicketIssuer::new(SigningKeyring::new(KeyId(7), [2; 32]));
    let t = unknown.issue(&s.claims(false), None).expect("issue");
    assert_eq!(scanner.verify(&t.signed), Err(ScanRefusal::UnknownKey(KeyId(7))));
    // A genuine ticket edited to name another holder, with the original
    // signature.
    let genuine = s.issue(false);
    let mut bytes = URL_SAFE_NO_PAD.decode(&genuine.signed).expect("b64");
    bytes[54] ^= 1;
    assert_eq!(scanner.verify(&URL_SAFE_NO_PAD.encode(&bytes)), Err(ScanRefusal::BadSignature));
    // The signature of one ticket on another's body.
    let other = s.issue(false);
    let mut spliced = URL_SAFE_NO_PAD.decode(&other.signed).expect("b64");
    spliced[codec::BODY_LEN..].copy_from_slice(&bytes[codec::BODY_LEN..]);
    assert_eq!(scanner.verify(&URL_SAFE_NO_PAD.encode(&spliced)), Err(ScanRefusal::BadSignature));
}

#[test]
fn every_single_bit_flip_and_every_truncation_is_refused() {
    let s = Setup::new();
    let scanner = s.scanner(s.sync(), "d1");
    let t = s.issue(false);
    let bytes = URL_SAFE_NO_PAD.decode(&t.signed).expect("b64");
    for bit in 0..bytes.len() * 8 {
        let mut b = bytes.clone();
        b[bit / 8] ^= 0x80 >> (bit % 8);
        assert!(scanner.verify(&URL_SAFE_NO_PAD.encode(&b)).is_err(), "bit {bit} flipped was accepted");
    }
    for len in 0..t.signed.len() {
        assert!(scanner.verify(&t.signed[..len]).is_err(), "a prefix of {len} characters was accepted");
    }
    assert!(scanner.verify(&format!("{}A", t.signed)).is_err());
    assert!(scanner.verify(&"A".repeat(100_000)).is_err());
    assert!(scanner.verify("").is_err());
}

#[test]
fn a_ticket_for_another_show_is_refused() {
    let s = Setup::new();
    let t = s.issue(false);
    let mut sync = s.sync();
    sync.show = ShowId::new();
    assert_eq!(
        s.scanner(sync.clone(), "d1").verify(&t.signed),
        Err(ScanRefusal::WrongShow { expected: sync.show, found: s.show })
    );
}

#[test]
fn a_reissued_ticket_makes_the_old_qr_fail_offline() {
    let s = Setup::new();
    let old = s.issue(false);
    let buyer2 = OwnerId::new();
    let new = s.issuer.reissue(&old.claims, buyer2, None).expect("reissue");
    assert_eq!((new.claims.version, new.claims.holder, new.claims.ticket), (2, buyer2, old.claims.ticket));
    let mut sync = s.sync();
    sync.revocations.revoke_below(old.claims.ticket, 2);
    let scanner = s.scanner(sync, "d1");
    assert_eq!(
        scanner.verify(&old.signed),
        Err(ScanRefusal::Revoked { ticket: old.claims.ticket, version: 1, min_version: 2 })
    );
    assert_eq!(scanner.verify(&new.signed).expect("new version").claims.holder, buyer2);
    let maxed = TicketClaims { version: u32::MAX, ..old.claims };
    assert_eq!(s.issuer.reissue(&maxed, buyer2, None), Err(TicketError::VersionExhausted(old.claims.ticket)));
}

#[test]
fn rotating_codes_expire_and_screenshots_are_refused() {
    let s = Setup::new();
    let t = s.issue(true);
    assert!(t.rotation.is_some() && t.claims.rotating);
    let scanner = s.scanner(s.sync(), "d1");
    let shot = s.text(&t);
    assert_eq!(shot.len(), 190 + 1 + 11);
    let now_step = RotationPolicy::default().step_at(s.clock.now_millis());
    assert_eq!(scanner.verify(&shot).expect("fresh").step, Some(now_step));
    // One step later: within the default skew.
    s.clock.advance(chrono::Duration::milliseconds(STEP_MS));
    scanner.verify(&shot).expect("within the skew");
    // Two steps later: a screenshot.
    s.clock.advance(chrono::Duration::milliseconds(STEP_MS));
    assert_eq!(scanner.verify(&shot), Err(ScanRefusal::RotationExpired { steps_old: 2 }));
    // The phone's fresh code passes.
    scanner.verify(&s.text(&t)).expect("fresh code");
    // A code from the future beyond the skew, and garbage codes.
    let ahead = t.qr_text(&RotationPolicy::default(), s.clock.now_millis() + 3 * STEP_MS);
    assert_eq!(scanner.verify(&ahead), Err(ScanRefusal::RotationInvalid));
    let garbage = codec::with_code(&t.signed, &[0; codec::CODE_LEN]);
    assert_eq!(scanner.verify(&garbage), Err(ScanRefusal::RotationInvalid));
    // A code made with another ticket's secret.
    let other = s.issue(true);
    let borrowed = codec::with_code(&t.signed, &other.rotation.expect("secret").code(now_step + 2));
    assert_eq!(scanner.verify(&borrowed), Err(ScanRefusal::RotationInvalid));
    // The signed part alone (a printout), a code on a static ticket, and a
    // scanner without the rotation key.
    assert_eq!(scanner.verify(&t.signed), Err(ScanRefusal::RotationCodeMissing));
    let fixed = s.issue(false);
    assert_eq!(
        scanner.verify(&codec::with_code(&fixed.signed, &[1; codec::CODE_LEN])),
        Err(ScanRefusal::UnexpectedCode)
    );
    let mut no_key = s.sync();
    no_key.rotation = None;
    assert_eq!(s.scanner(no_key, "d2").verify(&s.text(&t)), Err(ScanRefusal::NoRotationKey));
    // No skew: the previous step's code is refused.
    let mut strict = s.sync();
    strict.policy.skew_steps = 0;
    let strict = s.scanner(strict, "d3");
    let previous = t.qr_text(&RotationPolicy::default(), s.clock.now_millis() - STEP_MS);
    assert_eq!(strict.verify(&previous), Err(ScanRefusal::RotationExpired { steps_old: 1 }));
    assert!(s.issuer.issue(&s.claims(true), None) == Err(TicketError::NoRotationKey));
}

#[test]
fn a_reissue_changes_the_rotation_secret() {
    let s = Setup::new();
    let old = s.issue(true);
    let new = s.issuer.reissue(&old.claims, OwnerId::new(), Some(&s.rotation)).expect("reissue");
    assert_ne!(old.rotation, new.rotation);
    // The old phone's secret on the new signed ticket.
    let step = RotationPolicy::default().step_at(s.clock.now_millis());
    let mixed = codec::with_code(&new.signed, &old.rotation.expect("secret").code(step));
    assert_eq!(s.scanner(s.sync(), "d1").verify(&mixed), Err(ScanRefusal::RotationInvalid));
}

#[test]
fn keys_rotate_without_invalidating_issued_tickets() {
    let mut s = Setup::new();
    let before = s.issue(false);
    s.issuer.keys_mut().rotate_to(KeyId(2), [5; 32]).expect("rotate");
    let after = s.issue(false);
    assert_eq!((before.claims.key, after.claims.key), (KeyId(1), KeyId(2)));
    let scanner = s.scanner(s.sync(), "d1");
    scanner.verify(&before.signed).expect("old key still valid");
    scanner.verify(&after.signed).expect("new key");
    // The old key retired from the scanners' keyring.
    let mut sync = s.sync();
    sync.keys =
        PublicKeyring::from_bytes(sync.keys.to_bytes().into_iter().filter(|(id, _)| *id != KeyId(1))).expect("keyring");
    assert_eq!(s.scanner(sync, "d1").verify(&before.signed), Err(ScanRefusal::UnknownKey(KeyId(1))));
}

#[test]
fn a_device_admits_a_ticket_once() {
    let s = Setup::new();
    let t = s.issue(false);
    let scanner = s.scanner(s.sync(), "d1");
    let first = scanner.admit(&t.signed, &gate()).expect("admit");
    s.clock.advance(chrono::Duration::seconds(30));
    match scanner.admit(&t.signed, &GateId::new("Gate B").expect("gate")) {
        Err(ScanRefusal::AlreadyScanned(r)) => assert_eq!(*r, first),
        other => panic!("expected AlreadyScanned, got {other:?}"),
    }
    assert_eq!(scanner.log().records, vec![first]);
    assert!(DeviceId::new("").is_err() && GateId::new("x".repeat(65)).is_err() && GateId::new("a\nb").is_err());
}

#[test]
fn merged_logs_report_double_admissions_whatever_the_order() {
    let s = Setup::new();
    let (t1, t2, t3) = (s.issue(false), s.issue(false), s.issue(false));
    let sync = s.sync();
    let (a, b, c) = (s.scanner(sync.clone(), "a"), s.scanner(sync.clone(), "b"), s.scanner(sync, "c"));
    a.admit(&t1.signed, &gate()).expect("a t1");
    b.admit(&t2.signed, &gate()).expect("b t2");
    s.clock.advance(chrono::Duration::seconds(5));
    let late_b = b.admit(&t1.signed, &gate()).expect("b t1, offline");
    let late_c = c.admit(&t1.signed, &gate()).expect("c t1, same instant");
    c.admit(&t3.signed, &gate()).expect("c t3");
    let logs = [a.log(), b.log(), c.log()];
    let merged = merge_scan_logs(&logs);
    assert_eq!(merged.admissions.len(), 3);
    assert_eq!(merged.conflicts.len(), 1);
    let conflict = &merged.conflicts[0];
    assert_eq!((conflict.ticket, conflict.first.device.0.as_str()), (t1.claims.ticket, "a"));
    assert_eq!(conflict.later, vec![late_b, late_c], "ties in time are ordered by device");
    let orders = [[0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]];
    for order in orders {
        let mut shuffled: Vec<ScanLog> = order.iter().map(|i| logs[*i].clone()).collect();
        shuffled[0].records.reverse();
        assert_eq!(merge_scan_logs(&shuffled), merged);
    }
    let twice = [logs[0].clone(), logs[1].clone(), logs[2].clone(), logs[1].clone()];
    assert_eq!(merge_scan_logs(&twice), merged, "a log uploaded twice changes nothing");
}

#[test]
fn revocation_lists_have_a_compact_checked_form() {
    let mut list = RevocationList::new();
    let (a, b) = (TicketId(uuid::Uuid::from_u128(1)), TicketId(uuid::Uuid::from_u128(2)));
    list.revoke_below(b, 3);
    list.revoke_below(a, 2);
    list.revoke_below(a, 1);
    assert_eq!((list.min_version(a), list.min_version(b), list.len()), (2, 3, 2));
    let bytes = list.to_bytes();
    assert_eq!(bytes.len(), 40);
    assert_eq!(RevocationList::from_bytes(&bytes), Ok(list.clone()));
    assert!(RevocationList::from_bytes(&bytes[..39]).is_err());
    let mut swapped = bytes[20..].to_vec();
    swapped.extend_from_slice(&bytes[..20]);
    assert!(RevocationList::from_bytes(&swapped).is_err(), "out of order");
    let mut zero = bytes.clone();
    zero[16..20].copy_from_slice(&[0; 4]);
    assert!(RevocationList::from_bytes(&zero).is_err(), "version 0");
}

fn sale(items: HoldItems) -> SaleRecord {
    let (show, order, owner) = (ShowId::new(), OrderId::new(), OwnerId::new());
    SaleRecord {
        sale: Sale { show, order, owner, items: items.clone(), version: 2 },
        token: HoldToken { show, hold: HoldId::new(), version: 1, items },
        payment: PaymentRef("pay_1".into()),
        payer: None,
    }
}

#[test]
fn a_sale_is_issued_one_ticket_per_seat_or_unit_with_stable_ids() {
    let s = Setup::new();
    let seats = sale(HoldItems::Seats(vec![SeatId(4), SeatId(5)]));
    let tickets = s.issuer.issue_sale(&seats, None).expect("issue");
    assert_eq!(tickets.len(), 2);
    assert_eq!(tickets[1].claims.item, TicketItem::Seat(SeatId(5)));
    assert!(tickets.iter().all(|t| t.claims.holder == seats.sale.owner && t.claims.version == 1));
    assert_eq!(s.issuer.issue_sale(&seats, None).expect("again"), tickets, "issuing again gives the same tickets");
    let pool = sale(HoldItems::Pool { pool: PoolId(2), quantity: 3 });
    let units = s.issuer.issue_sale(&pool, Some(&s.rotation)).expect("issue");
    let mut ids: Vec<TicketId> = units.iter().map(|t| t.claims.ticket).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3);
    assert!(units.iter().all(|t| t.rotation.is_some()));
    assert_eq!(s.issuer.issue_sale(&sale(HoldItems::Seats(vec![])), None), Err(TicketError::SaleSize(0)));
    let huge = sale(HoldItems::Pool { pool: PoolId(1), quantity: u32::MAX });
    assert_eq!(s.issuer.issue_sale(&huge, None), Err(TicketError::SaleSize(u64::from(u32::MAX))));
    assert_eq!(s.issuer.issue(&TicketClaims { version: 0, ..s.claims(false) }, None), Err(TicketError::ZeroVersion));
}

/// Tickets for the property tests, made once: a static one, a rotating
/// one with its current code, and another static one.
static PROPERTY: std::sync::LazyLock<(Setup, Vec<String>)> = std::sync::LazyLock::new(|| {
    let s = Setup::new();
    let texts = vec![s.issue(false).signed, s.text(&s.issue(true)), s.issue(false).signed];
    (s, texts)
});

fn fixture() -> (&'static Setup, &'static [String]) {
    (&PROPERTY.0, &PROPERTY.1)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any change to the bytes of a valid ticket is refused.
    #[test]
    fn mutated_tickets_are_refused(which in 0usize..3, edits in proptest::collection::vec((0usize..150, 1u8..=255), 1..6)) {
        let (s, texts) = fixture();
        let scanner = s.scanner(s.sync(), "p");
        let text = &texts[which];
        let (signed, code) = match text.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (text.as_str(), None),
        };
        let mut bytes = URL_SAFE_NO_PAD.decode(signed).expect("b64");
        if let Some(c) = code {
            bytes.extend(URL_SAFE_NO_PAD.decode(c).expect("b64"));
        }
        let original = bytes.clone();
        for (pos, xor) in edits {
            let i = pos % bytes.len();
            bytes[i] ^= xor;
        }
        prop_assume!(bytes != original);
        let edited = match code {
            Some(_) => codec::with_code(
                &URL_SAFE_NO_PAD.encode(&bytes[..codec::SIGNED_LEN]),
                bytes[codec::SIGNED_LEN..].try_into().expect("code"),
            ),
            None => URL_SAFE_NO_PAD.encode(&bytes),
        };
        prop_assert!(scanner.verify(&edited).is_err());
    }

    /// Random bytes of a ticket's length, and random text, are refused.
    #[test]
    fn random_payloads_are_refused(bytes in proptest::collection::vec(any::<u8>(), codec::SIGNED_LEN), text in ".{0,300}") {
        let (s, _) = fixture();
        let scanner = s.scanner(s.sync(), "p");
        let mut b = bytes;
        b[0] = codec::FORMAT;
        b[1] &= 1;
        b[2..6].copy_from_slice(&1u32.to_be_bytes());
        prop_assert!(scanner.verify(&URL_SAFE_NO_PAD.encode(&b)).is_err());
        prop_assert!(scanner.verify(&text).is_err());
    }
}

#[test]
fn sync_data_travels_as_json_and_bad_keys_are_refused_on_arrival() {
    let s = Setup::new();
    let mut sync = s.sync();
    sync.revocations.revoke_below(TicketId(uuid::Uuid::from_u128(3)), 4);
    let json = serde_json::to_string(&sync).expect("json");
    let back: ScannerSync = serde_json::from_str(&json).expect("back");
    assert_eq!(back, sync);
    let t = s.issue(false);
    s.scanner(back, "d1").verify(&t.signed).expect("a scanner on the shipped data");
    // The identity point as a key: refused when the sync data is read.
    let mut identity = vec![0u8; 32];
    identity[0] = 1;
    let mut value: serde_json::Value = serde_json::from_str(&json).expect("value");
    value["keys"] = serde_json::json!([[1, identity]]);
    assert!(serde_json::from_value::<ScannerSync>(value).is_err());
}
