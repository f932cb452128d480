//! Fulfilment end to end on the memory stores: a buyer holds a seat and
//! checks out through the saga (with the simulated provider); one outbox
//! relay then turns the completed order into a signed, registered ticket
//! and the ticket into an email (written by the file transport) and an SMS.
//! Then the ticket is scanned, the receipt delivered again, and receipts
//! that must issue nothing are tried.

#![cfg(all(feature = "testkit", feature = "qr"))]

use booking_core::catalog::{Catalog, Event, Show, Venue};
use booking_core::checkout::{Deliver, ORDER_COMPLETED, OrderStatus, OutboxMessage, OutboxRelay, Receipt};
use booking_core::delivery::{
    Contact, ContactBook, EmailSettings, FileMailer, OtherTopics, RecordingSms, TICKET_ISSUED, TicketDelivery,
};
use booking_core::fulfilment::{FulfilmentError, TicketFulfilment};
use booking_core::testkit::payments::{CallKind, Fault};
use booking_core::testkit::saga::{Bench, CheckoutStores};
use booking_core::tickets::qr;
use booking_core::tickets::{
    CheckIn, CheckInError, CheckInStore, DeviceId, GateId, KeyId, OfflineScanner, Registration, RevocationList,
    RotationPolicy, ScanRefusal, ScannerSync, SigningKeyring, TicketIssuer, TicketItem,
};
use booking_core::{HoldItems, ManualClock, OwnerId, PoolId, Sale, SeatId};
use booking_memory::catalog::MemoryCatalog;
use booking_memory::checkout::{MemoryOutbox, MemorySagaLog};
use booking_memory::tickets::MemoryCheckInStore;
use booking_memory::{MemoryIdempotencyStore, MemoryInventory};
use chrono::{TimeZone, Utc};
use mail_parser::MimeHeaders;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const EMAIL: &str = "ana@mail.example";
const PHONE: &str = "+447700900123";

struct World {
    bench: Bench,
    clock: ManualClock,
    checkins: Arc<MemoryCheckInStore>,
    contacts: Arc<ContactBook>,
    issuer: Arc<TicketIssuer>,
    fulfilment: TicketFulfilment,
    relay: OutboxRelay,
    sms: RecordingSms,
    mail: tempfile::TempDir,
}

async fn world() -> World {
    let clock = ManualClock::fixed();
    let stores = CheckoutStores {
        inventory: Arc::new(MemoryInventory::with_clock(clock.shared())),
        log: Arc::new(MemorySagaLog::with_clock(clock.shared())),
        outbox: Arc::new(MemoryOutbox::with_clock(clock.shared())),
        keys: Arc::new(MemoryIdempotencyStore::with_clock(clock.shared())),
        clock: clock.clone(),
    };
    let bench = Bench::new(stores).await;

    // The bench's show, listed in the catalog under the same id.
    let catalog = Arc::new(MemoryCatalog::with_clock(clock.shared()));
    let venue = catalog.create_venue(&Venue::new("Grand Hall", "Lyon")).await.expect("venue").value;
    let event = catalog.create_event(&Event::new("Winter Gala")).await.expect("event").value;
    let starts = Utc.with_ymd_and_hms(2030, 3, 1, 19, 30, 0).single().expect("a time");
    let on_sale = Utc.with_ymd_and_hms(2029, 12, 1, 9, 0, 0).single().expect("a time");
    let show = Show::new(event.id, venue.id, starts, on_sale).with_id(bench.show.id);
    catalog.create_show(&show).await.expect("show");

    let checkins = Arc::new(MemoryCheckInStore::with_clock(clock.shared()));
    let contacts = Arc::new(ContactBook::new());
    let issuer = Arc::new(TicketIssuer::new(SigningKeyring::new(KeyId(1), [9; 32])));
    let fulfilment = TicketFulfilment::new(
        issuer.clone(),
        checkins.clone(),
        catalog,
        bench.stores.inventory.clone(),
        contacts.clone(),
        bench.stores.outbox.clone(),
    )
    .with_clock(clock.shared());
    let mail = tempfile::tempdir().expect("a temporary directory");
    let sms = RecordingSms::new();
    let delivery = TicketDelivery::new(contacts.clone())
        .with_email(
            Arc::new(FileMailer::new(mail.path())),
            EmailSettings::new("Box Office <tickets@box-office.example>", "box-office.example"),
        )
        .with_sms(Arc::new(sms.clone()))
        .other_topics(OtherTopics::Forward(Arc::new(fulfilment.clone())));
    let relay = OutboxRelay::new(bench.stores.outbox.clone(), Arc::new(delivery), Duration::from_secs(30), 100);
    World { bench, clock, checkins, contacts, issuer, fulfilment, relay, sms, mail }
}

impl World {
    /// A buyer with an email and a phone on file, who holds `seats` and
    /// checks out.
    async fn buy(&self, seats: &[u32]) -> Receipt {
        let buyer = OwnerId::new();
        self.contacts.set(buyer, Contact::email(EMAIL).with_phone(PHONE));
        let hold = self.bench.hold(buyer, seats).await;
        let reply =
            self.bench.checkout.checkout(&self.bench.request(&hold, &format!("k-{buyer}"))).await.expect("checkout");
        reply.receipt().expect("a receipt")
    }

    /// Relay rounds until one claims nothing (the clock moved past the
    /// claims' lease between rounds, so failed messages come back).
    async fn drain(&self) {
        for _ in 0..10 {
            let round = self.relay.run_once().await.expect("a relay round");
            self.clock.advance(chrono::TimeDelta::seconds(31));
            if round.claimed == 0 {
                return;
            }
        }
        panic!("the relay did not drain");
    }

    fn emails(&self) -> Vec<Vec<u8>> {
        eml_files(self.mail.path())
    }

    fn scanner(&self) -> OfflineScanner {
        let sync = ScannerSync {
            show: self.bench.show.id,
            keys: self.issuer.keys().public(),
            revocations: RevocationList::new(),
            rotation: None,
            policy: RotationPolicy::default(),
        };
        OfflineScanner::new(sync, DeviceId::new("north-1").expect("device"), self.clock.shared())
    }

    async fn pending(&self) -> usize {
        self.bench.stores.outbox.pending().await.expect("pending")
    }
}

fn eml_files(dir: &Path) -> Vec<Vec<u8>> {
    let mut paths: Vec<_> =
        std::fs::read_dir(dir).expect("the mail directory").map(|e| e.expect("entry").path()).collect();
    paths.sort();
    paths
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|p| std::fs::read(p).expect("read"))
        .collect()
}

fn completed(receipt: &Receipt) -> OutboxMessage {
    OutboxMessage {
        id: format!("{}:completed", receipt.order),
        topic: ORDER_COMPLETED.into(),
        payload: serde_json::to_string(receipt).expect("json"),
        attempts: 0,
    }
}

#[tokio::test]
async fn a_sale_becomes_one_emailed_ticket_that_admits_once_and_redelivery_changes_nothing() {
    let w = world().await;
    let receipt = w.buy(&[3]).await;
    assert_eq!(receipt.status, OrderStatus::Completed);
    let sale = receipt.sale.clone().expect("a sale");
    w.drain().await;

    // Exactly one email, to the holder's address, and one SMS.
    let emails = w.emails();
    assert_eq!(emails.len(), 1, "one ticket, one email");
    let parsed = mail_parser::MessageParser::default().parse(&emails[0]).expect("a MIME message");
    let to = parsed.to().and_then(|a| a.first()).and_then(|a| a.address()).map(str::to_owned);
    assert_eq!(to.as_deref(), Some(EMAIL));
    let html = parsed.body_html(0).expect("an HTML body");
    assert!(html.contains("Winter Gala") && html.contains("Grand Hall, Lyon"), "{html}");
    assert!(html.contains("S1, row 1, seat 4"), "the seat's labels from the show's layout: {html}");
    let sent_sms = w.sms.sent();
    assert_eq!(sent_sms.len(), 1);
    assert_eq!(sent_sms[0].to, PHONE);

    // The email's QR code is the ticket's signed text, which verifies
    // offline at a scanner for the show.
    let tickets = w.issuer.issue_for(&sale, None).expect("the same tickets");
    assert_eq!(tickets.len(), 1);
    let text = &tickets[0].signed;
    let png = parsed
        .parts
        .iter()
        .find(|p| p.content_type().is_some_and(|c| c.ctype() == "image" && c.subtype() == Some("png")))
        .expect("an image/png part");
    assert_eq!(png.contents(), qr::png(text, 4).expect("png"), "the QR code encodes the ticket's text");
    let scanner = w.scanner();
    let verified = scanner.verify(text).expect("verifies offline");
    assert_eq!(
        (verified.claims.show, verified.claims.holder, verified.claims.order, verified.claims.item),
        (sale.show, sale.owner, sale.order, TicketItem::Seat(SeatId(3)))
    );

    // Admitted once, online and offline; a second scan is refused.
    let gate = GateId::new("Gate A").expect("gate");
    let device = DeviceId::new("north-1").expect("device");
    let check_in = CheckIn::new(&verified.claims, device, gate.clone());
    w.checkins.check_in(&check_in).await.expect("the first check-in admits");
    assert!(matches!(w.checkins.check_in(&check_in).await, Err(CheckInError::AlreadyCheckedIn(_))));
    scanner.admit(text, &gate).expect("the first scan admits");
    assert!(matches!(scanner.admit(text, &gate), Err(ScanRefusal::AlreadyScanned(_))));

    // The receipt delivered again (an acknowledgement lost): the same
    // ticket, the registration (and admission) unchanged, nothing sent.
    let before = w.checkins.status(sale.show, verified.claims.ticket).await.expect("status");
    w.fulfilment.deliver(&completed(&receipt)).await.expect("a redelivery is acknowledged");
    let again = w.fulfilment.fulfil(&receipt).await.expect("fulfilled").expect("a sale");
    assert_eq!(again.tickets, tickets, "same ticket ids and texts");
    assert_eq!(again.notices[0].barcode, *text);
    assert_eq!(w.checkins.status(sale.show, verified.claims.ticket).await.expect("status"), before);
    w.drain().await;
    assert_eq!(w.emails().len(), 1, "no second email");
    assert_eq!(w.sms.sent().len(), 1, "no second SMS");
    let stats = w.fulfilment.stats();
    assert_eq!((stats.fulfilled, stats.failed), (3, 0));
}

#[tokio::test]
async fn a_declined_card_issues_nothing() {
    let w = world().await;
    w.bench.provider.inject(
        CallKind::Authorize,
        Fault::Decline(booking_core::payments::DeclineReason::InsufficientFunds),
        1,
    );
    let receipt = w.buy(&[5]).await;
    assert_eq!(receipt.status, OrderStatus::Declined);
    assert!(receipt.sale.is_none());
    w.drain().await;
    // And a receipt without a sale, delivered anyway, is acknowledged.
    w.fulfilment.deliver(&completed(&receipt)).await.expect("acknowledged");
    w.drain().await;
    assert!(w.emails().is_empty());
    assert!(w.sms.sent().is_empty());
    let stats = w.fulfilment.stats();
    assert_eq!((stats.fulfilled, stats.without_sale, stats.notices), (0, 1, 0));
}

/// A receipt that cannot be fulfilled is refused with a typed error, and
/// changes nothing: no ticket registered, no notice enqueued.
#[tokio::test]
async fn receipts_that_cannot_be_fulfilled_change_nothing() {
    let w = world().await;
    let receipt = w.buy(&[1]).await;
    let sale = receipt.sale.clone().expect("a sale");
    let ticket = w.issuer.issue_for(&sale, None).expect("issue")[0].claims.ticket;
    let pending = w.pending().await;

    let with_sale = |sale: Sale| Receipt { sale: Some(sale), ..receipt.clone() };
    let other_show = Sale { show: booking_core::ShowId::new(), ..sale.clone() };
    let cases: Vec<(&str, Receipt)> = vec![
        ("a show the catalog does not list", with_sale(other_show)),
        (
            "a seat the show does not have",
            with_sale(Sale { items: HoldItems::Seats(vec![SeatId(u32::MAX)]), ..sale.clone() }),
        ),
        (
            "a pool the show does not have",
            with_sale(Sale { items: HoldItems::Pool { pool: PoolId(7), quantity: 2 }, ..sale.clone() }),
        ),
        ("an empty sale", with_sale(Sale { items: HoldItems::Seats(vec![]), ..sale.clone() })),
        (
            "absurdly many units",
            with_sale(Sale { items: HoldItems::Pool { pool: PoolId(0), quantity: u32::MAX }, ..sale.clone() }),
        ),
        ("a holder with no contact", with_sale(Sale { owner: OwnerId::new(), ..sale.clone() })),
    ];
    for (case, bad) in cases {
        let refused = w.fulfilment.fulfil(&bad).await;
        assert!(refused.is_err(), "{case}: {refused:?}");
        assert_eq!(w.pending().await, pending, "{case}: nothing enqueued");
    }
    assert!(w.checkins.status(sale.show, ticket).await.expect("status").is_none(), "nothing registered");
    assert!(matches!(
        w.fulfilment.fulfil(&with_sale(Sale { owner: OwnerId::new(), ..sale.clone() })).await,
        Err(FulfilmentError::NoContact { .. })
    ));

    // An edited payload: an error for the relay, which keeps the message.
    let mut edited = completed(&receipt);
    edited.id = "edited:completed".into();
    edited.payload = edited.payload.replacen("\"sale\"", "\"sael\"", 1).replacen('}', "", 1);
    assert!(w.fulfilment.deliver(&edited).await.is_err());
    // Another topic: refused by default (it stays in the outbox).
    let other = OutboxMessage { topic: "order.needs_attention".into(), ..completed(&receipt) };
    assert!(w.fulfilment.deliver(&other).await.is_err());
    assert_eq!(w.pending().await, pending);
}

/// A holder without a contact yet: the receipt stays in the outbox, and
/// the ticket goes out once the holder has one.
#[tokio::test]
async fn a_receipt_waits_for_the_holders_contact() {
    let w = world().await;
    let receipt = w.buy(&[2]).await;
    let buyer = receipt.sale.as_ref().expect("a sale").owner;
    w.contacts.remove(buyer);
    let round = w.relay.run_once().await.expect("a round");
    assert_eq!((round.claimed, round.delivered, round.failed), (1, 0, 1));
    assert_eq!(w.pending().await, 1, "the receipt is kept");
    w.contacts.set(buyer, Contact::email(EMAIL));
    w.clock.advance(chrono::TimeDelta::seconds(31));
    w.drain().await;
    assert_eq!(w.emails().len(), 1);
    assert_eq!(w.pending().await, 0);
}

/// Several seats: one ticket each, each emailed once; a receipt delivered
/// twice at the same time (a relay racing its own retry) issues them once.
#[tokio::test]
async fn a_receipt_racing_its_own_redelivery_sends_each_ticket_once() {
    let w = world().await;
    let receipt = w.buy(&[6, 7]).await;
    let msg = completed(&receipt);
    let (a, b) = tokio::join!(w.fulfilment.deliver(&msg), w.fulfilment.deliver(&msg));
    a.expect("first");
    b.expect("second");
    w.drain().await;
    assert_eq!(w.emails().len(), 2, "two tickets, two emails");
    let ids: std::collections::BTreeSet<_> = w.sms.sent().into_iter().map(|s| s.dedupe_key).collect();
    assert_eq!(ids.len(), 2, "one SMS per ticket: {ids:?}");
    assert!(ids.iter().all(|id| id.starts_with(TICKET_ISSUED)));
}

/// A ticket transferred (reissued to someone else) before its receipt is
/// delivered again: the old version is not sent again.
#[tokio::test]
async fn a_redelivery_after_a_transfer_does_not_resend_the_old_ticket() {
    let w = world().await;
    let receipt = w.buy(&[8]).await;
    w.drain().await;
    assert_eq!(w.emails().len(), 1);
    let sale = receipt.sale.clone().expect("a sale");
    let old = w.issuer.issue_for(&sale, None).expect("issue").remove(0);
    let new_holder = OwnerId::new();
    let reissued = w.issuer.reissue(&old.claims, new_holder, None).expect("reissue");
    w.checkins.register(&Registration::from(&reissued.claims)).await.expect("registered");

    let again = w.fulfilment.fulfil(&receipt).await.expect("acknowledged").expect("a sale");
    assert_eq!((again.superseded, again.notices.len()), (1, 0));
    let status = w.checkins.status(sale.show, old.claims.ticket).await.expect("status").expect("a record");
    assert_eq!((status.version, status.holder), (2, new_holder), "the transfer stands");
}
