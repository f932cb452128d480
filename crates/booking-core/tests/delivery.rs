//! Ticket delivery end to end: notices through the outbox relay (the
//! in-process outbox of booking-memory), emails written by the file
//! transport and read back with a MIME parser, calendars read back with an
//! iCalendar parser, and the holder-contact check.

use booking_core::checkout::{Deliver, Outbox, OutboxMessage, OutboxRelay};
use booking_core::delivery::{
    Channel, Contact, ContactBook, DeliveryError, EmailSettings, FileMailer, MESSAGE_ID_HEADER, NoticeError,
    OtherTopics, RecordingSms, StubMailer, TICKET_ISSUED, TicketDelivery, TicketNotice, WalletLinks, compose_email,
};
use booking_core::{ManualClock, OrderId, OwnerId, ShowId};
use booking_memory::checkout::MemoryOutbox;
use chrono::{DateTime, TimeZone, Utc};
use mail_parser::MimeHeaders;
use std::sync::Arc;
use std::time::Duration;

const QR_PNG: &[u8] = include_bytes!("fixtures/ticket-qr.png");
const LEASE: Duration = Duration::from_secs(30);

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 31, h, m, 0).single().expect("a valid time")
}

fn settings() -> EmailSettings {
    EmailSettings::new("Box Office <tickets@box-office.example>", "box-office.example")
}

/// A notice for `holder`, sent to `contact`. The title needs escaping in
/// both HTML and iCalendar, and is long enough to be folded.
fn notice(holder: OwnerId, contact: Contact) -> TicketNotice {
    TicketNotice {
        ticket_id: "TKT-0001-A".into(),
        order: OrderId::new(),
        show: ShowId::new(),
        holder,
        contact,
        holder_name: Some("Ana Souza".into()),
        show_title: "Rock, Paper; Scissors <live> & \\unplugged\\ — the New Year's Eve show at the big hall".into(),
        venue: "Grand Hall, 1 Main Street, Springfield".into(),
        starts_at: at(19, 30),
        ends_at: at(23, 0),
        seat: "Stalls, row B, seat 12".into(),
        barcode: "v1.eyJ0IjoiVEtULTAwMDEtQSJ9.c2lnbmF0dXJl".into(),
        qr_png: QR_PNG.to_vec(),
        wallet: WalletLinks { apple: Some("https://tickets.example/passes/TKT-0001-A.pkpass".into()), google: None },
        issued_at: at(12, 0),
    }
}

struct World {
    holder: OwnerId,
    other: OwnerId,
    contacts: Arc<ContactBook>,
    clock: ManualClock,
    outbox: Arc<MemoryOutbox>,
}

fn world() -> World {
    let holder = OwnerId::new();
    let other = OwnerId::new();
    let contacts = Arc::new(ContactBook::new());
    contacts.set(holder, Contact::email("ana@mail.example").with_phone("+447700900123"));
    contacts.set(other, Contact::email("eve@mail.example").with_phone("+447700900999"));
    let clock = ManualClock::new(at(12, 0));
    let outbox = Arc::new(MemoryOutbox::with_clock(clock.shared()));
    World { holder, other, contacts, clock, outbox }
}

fn relay(w: &World, deliver: Arc<dyn Deliver>) -> OutboxRelay {
    OutboxRelay::new(w.outbox.clone(), deliver, LEASE, 10)
}

fn eml_files(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("the mail directory")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files.into_iter().map(|p| std::fs::read(p).expect("an .eml file")).collect()
}

// ---- the holder-contact check: adversarial cases first -------------------

#[tokio::test]
async fn a_notice_sent_to_another_holders_address_is_refused_and_nothing_is_sent() {
    let w = world();
    let mailer = StubMailer::new();
    let sms = RecordingSms::new();
    let delivery = TicketDelivery::new(w.contacts.clone())
        .with_email(Arc::new(mailer.clone()), settings())
        .with_sms(Arc::new(sms.clone()));

    // The holder's ticket, addressed to the other holder's email.
    let err = delivery.send(&notice(w.holder, Contact::email("eve@mail.example")), "m1").await;
    assert!(
        matches!(err, Err(DeliveryError::ContactMismatch { holder, channel: Channel::Email }) if holder == w.holder),
        "{err:?}"
    );
    // The other holder's phone: refused too.
    let err = delivery.send(&notice(w.holder, Contact::phone("+447700900999")), "m2").await;
    assert!(matches!(err, Err(DeliveryError::ContactMismatch { channel: Channel::Sms, .. })), "{err:?}");
    // Right email, wrong phone: the whole notice is refused, the email
    // is not sent either.
    let err =
        delivery.send(&notice(w.holder, Contact::email("ana@mail.example").with_phone("+447700900999")), "m3").await;
    assert!(matches!(err, Err(DeliveryError::ContactMismatch { channel: Channel::Sms, .. })), "{err:?}");
    // A look-alike address (same local part, another domain).
    let err = delivery.send(&notice(w.holder, Contact::email("ana@mail.example.evil.test")), "m4").await;
    assert!(matches!(err, Err(DeliveryError::ContactMismatch { .. })), "{err:?}");
    // The other holder's ticket, addressed to the holder: refused as well.
    let err = delivery.send(&notice(w.other, Contact::email("ana@mail.example")), "m5").await;
    assert!(matches!(err, Err(DeliveryError::ContactMismatch { holder, .. }) if holder == w.other), "{err:?}");

    assert!(mailer.sent().is_empty());
    assert!(sms.sent().is_empty());
    assert_eq!(delivery.stats().refused, 5);
    assert_eq!(delivery.stats().delivered, 0);
}

#[tokio::test]
async fn a_holder_with_no_contact_on_file_gets_nothing_until_one_is_added() {
    let w = world();
    let stranger = OwnerId::new();
    let mailer = StubMailer::new();
    let delivery = Arc::new(TicketDelivery::new(w.contacts.clone()).with_email(Arc::new(mailer.clone()), settings()));
    let n = notice(stranger, Contact::email("stranger@mail.example"));

    let err = delivery.send(&n, "m").await;
    assert!(matches!(err, Err(DeliveryError::NoContact { holder }) if holder == stranger), "{err:?}");
    assert!(err.as_ref().is_err_and(DeliveryError::is_refusal));

    // Through the relay the message stays in the outbox...
    w.outbox.enqueue(&n.to_outbox_message().expect("a valid notice")).await.expect("enqueued");
    let relay = relay(&w, delivery.clone());
    let round = relay.run_once().await.expect("a round");
    assert_eq!((round.claimed, round.delivered, round.failed), (1, 0, 1));
    assert_eq!(w.outbox.pending().await.expect("pending"), 1);
    assert!(mailer.sent().is_empty());

    // ...and goes out once the holder has that address on file.
    w.contacts.set(stranger, Contact::email("stranger@mail.example"));
    w.clock.advance(chrono::TimeDelta::seconds(31));
    let round = relay.run_once().await.expect("a round");
    assert_eq!((round.claimed, round.delivered), (1, 1));
    assert_eq!(w.outbox.pending().await.expect("pending"), 0);
    assert_eq!(mailer.sent().len(), 1);
    assert_eq!(mailer.sent()[0].to, vec!["stranger@mail.example".to_owned()]);
}

#[tokio::test]
async fn a_removed_contact_stops_delivery() {
    let w = world();
    let mailer = StubMailer::new();
    let delivery = TicketDelivery::new(w.contacts.clone()).with_email(Arc::new(mailer.clone()), settings());
    w.contacts.remove(w.holder);
    let err = delivery.send(&notice(w.holder, Contact::email("ana@mail.example")), "m").await;
    assert!(matches!(err, Err(DeliveryError::NoContact { .. })), "{err:?}");
    assert!(mailer.sent().is_empty());
}

#[tokio::test]
async fn the_email_goes_to_the_address_on_file() {
    let w = world();
    let mailer = StubMailer::new();
    let delivery = TicketDelivery::new(w.contacts.clone()).with_email(Arc::new(mailer.clone()), settings());
    // The domain's case differs from the directory's: the same mailbox.
    let sent = delivery.send(&notice(w.holder, Contact::email("ana@MAIL.example")), "m").await.expect("sent");
    let email = sent.email.expect("an email");
    assert_eq!(email.to, vec!["ana@mail.example".to_owned()]);
    assert_eq!(email.from, "tickets@box-office.example");
    assert!(sent.sms.is_none());
}

// ---- malformed, edited and absurd payloads ---------------------------------

#[tokio::test]
async fn edited_and_malformed_payloads_are_refused_and_nothing_is_sent() {
    let w = world();
    let mailer = StubMailer::new();
    let delivery = TicketDelivery::new(w.contacts.clone()).with_email(Arc::new(mailer.clone()), settings());
    let good = notice(w.holder, Contact::email("ana@mail.example")).to_outbox_message().expect("valid");

    let mut payloads: Vec<String> = vec![
        String::new(),
        "{".into(),
        "null".into(),
        good.payload[..good.payload.len() / 2].to_owned(),
        good.payload.replace("\"qr_png\":\"", "\"qr_png\":\"!!"),
    ];
    let mut json: serde_json::Value = serde_json::from_str(&good.payload).expect("json");
    json["holder"] = serde_json::json!("not-a-uuid");
    payloads.push(json.to_string());

    for (i, payload) in payloads.into_iter().enumerate() {
        let msg = OutboxMessage { id: format!("bad-{i}"), topic: TICKET_ISSUED.into(), payload, attempts: 0 };
        let err = delivery.deliver(&msg).await;
        assert!(err.as_ref().is_err_and(|e| e.contains("invalid ticket notice")), "payload {i}: {err:?}");
    }
    assert!(mailer.sent().is_empty());
    assert_eq!(delivery.stats().refused, 6);
}

#[tokio::test]
async fn invalid_fields_get_typed_errors() {
    let w = world();
    let base = notice(w.holder, Contact::email("ana@mail.example"));
    type Edit = Box<dyn Fn(&mut TicketNotice)>;
    let cases: Vec<(Edit, NoticeError)> = vec![
        (Box::new(|n| n.qr_png = b"GIF89a".to_vec()), NoticeError::NotPng),
        (
            Box::new(|n| n.qr_png = [QR_PNG, &vec![0; 2 << 20]].concat()),
            NoticeError::TooLong { field: "qr_png", max: booking_core::delivery::MAX_QR_PNG_BYTES },
        ),
        (Box::new(|n| n.ends_at = n.starts_at), NoticeError::EndsBeforeStart),
        (Box::new(|n| n.ends_at = DateTime::<Utc>::MAX_UTC), NoticeError::OutOfRange { field: "ends_at" }),
        (Box::new(|n| n.starts_at = DateTime::<Utc>::MIN_UTC), NoticeError::OutOfRange { field: "starts_at" }),
        (
            Box::new(|n| n.barcode = "x".repeat(10_000)),
            NoticeError::TooLong { field: "barcode", max: booking_core::delivery::MAX_BARCODE_BYTES },
        ),
        (Box::new(|n| n.barcode.clear()), NoticeError::Empty { field: "barcode" }),
        (Box::new(|n| n.ticket_id = "TKT 1".into()), NoticeError::BadCharacter { field: "ticket_id" }),
        (
            Box::new(|n| n.ticket_id = "x".repeat(129)),
            NoticeError::TooLong { field: "ticket_id", max: booking_core::delivery::MAX_TICKET_ID_CHARS },
        ),
        (
            Box::new(|n| n.show_title = "Gig\r\nBcc: eve@mail.example".into()),
            NoticeError::BadCharacter { field: "show_title" },
        ),
        (Box::new(|n| n.seat = "   ".into()), NoticeError::Empty { field: "seat" }),
        (Box::new(|n| n.contact = Contact::default()), NoticeError::NoContact),
        (Box::new(|n| n.contact = Contact::email("ana@mail.example\r\nBcc: eve@mail.example")), NoticeError::BadEmail),
        (Box::new(|n| n.contact = Contact::phone("07700 900123")), NoticeError::BadPhone),
        (
            Box::new(|n| n.wallet.apple = Some("javascript:alert(1)".into())),
            NoticeError::BadUrl { field: "wallet.apple" },
        ),
        (
            Box::new(|n| n.wallet.google = Some("https://x.example/\"><script>".into())),
            NoticeError::BadUrl { field: "wallet.google" },
        ),
    ];
    let mailer = StubMailer::new();
    let delivery = TicketDelivery::new(w.contacts.clone()).with_email(Arc::new(mailer.clone()), settings());
    for (edit, expected) in cases {
        let mut n = base.clone();
        edit(&mut n);
        assert_eq!(n.validate(), Err(expected.clone()));
        assert!(n.to_outbox_message().is_err());
        let err = delivery.send(&n, "m").await;
        assert!(matches!(&err, Err(DeliveryError::Invalid(e)) if *e == expected), "{err:?}");
    }
    assert!(mailer.sent().is_empty());
}

#[tokio::test]
async fn a_phone_only_notice_without_an_sms_gateway_has_no_channel() {
    let w = world();
    let mailer = StubMailer::new();
    let delivery = TicketDelivery::new(w.contacts.clone()).with_email(Arc::new(mailer.clone()), settings());
    let err = delivery.send(&notice(w.holder, Contact::phone("+447700900123")), "m").await;
    assert!(matches!(err, Err(DeliveryError::NoChannel)), "{err:?}");
    assert!(mailer.sent().is_empty());
}

#[tokio::test]
async fn bad_settings_are_refused_before_anything_is_sent() {
    let w = world();
    let mailer = StubMailer::new();
    let sms = RecordingSms::new();
    let delivery = TicketDelivery::new(w.contacts.clone())
        .with_email(
            Arc::new(mailer.clone()),
            EmailSettings::new("Box Office <tickets@box-office.example>", "bad domain"),
        )
        .with_sms(Arc::new(sms.clone()));
    let err =
        delivery.send(&notice(w.holder, Contact::email("ana@mail.example").with_phone("+447700900123")), "m").await;
    assert!(matches!(err, Err(DeliveryError::Compose(_))), "{err:?}");
    assert!(mailer.sent().is_empty());
    assert!(sms.sent().is_empty(), "the SMS waits for an email that can be composed");
}

#[tokio::test]
async fn a_dedupe_key_cannot_inject_a_header() {
    let w = world();
    let n = notice(w.holder, Contact::email("ana@mail.example"));
    let email = compose_email(&n, "ana@mail.example", &settings(), "m\r\nBcc: eve@mail.example").expect("composed");
    let raw = String::from_utf8(email.raw).expect("ASCII");
    assert!(!raw.lines().any(|l| l.to_ascii_lowercase().starts_with("bcc:")), "{raw}");
    let parsed = mail_parser::MessageParser::default().parse(raw.as_bytes()).expect("parsed");
    assert!(parsed.bcc().is_none());
}

// ---- the email itself -------------------------------------------------------

#[tokio::test]
async fn the_file_transport_writes_an_email_with_the_inline_qr_and_a_parseable_calendar() {
    let w = world();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let delivery =
        Arc::new(TicketDelivery::new(w.contacts.clone()).with_email(Arc::new(FileMailer::new(dir.path())), settings()));
    let n = notice(w.holder, Contact::email("ana@mail.example"));
    let msg = n.to_outbox_message().expect("valid");
    w.outbox.enqueue(&msg).await.expect("enqueued");

    let round = relay(&w, delivery).run_once().await.expect("a round");
    assert_eq!((round.claimed, round.delivered, round.failed), (1, 1, 0));

    let files = eml_files(dir.path());
    assert_eq!(files.len(), 1);
    let parsed = mail_parser::MessageParser::default().parse(&files[0]).expect("a MIME message");

    // Headers: addressed to the holder, deduplicable by the outbox id.
    assert_eq!(parsed.header_raw(MESSAGE_ID_HEADER).map(str::trim), Some(msg.id.as_str()));
    let to = parsed.to().and_then(|a| a.first()).and_then(|a| a.address()).map(str::to_owned);
    assert_eq!(to.as_deref(), Some("ana@mail.example"));
    assert!(parsed.subject().is_some_and(|s| s.contains("Rock, Paper; Scissors <live>")));
    let message_id = parsed.message_id().expect("a Message-ID").to_owned();
    assert!(message_id.ends_with("@box-office.example"), "{message_id}");

    // The QR code: an inline image/png part whose bytes are the notice's,
    // referenced from the HTML body by its Content-ID.
    let qr = parsed
        .parts
        .iter()
        .find(|p| p.content_type().is_some_and(|c| c.ctype() == "image" && c.subtype() == Some("png")))
        .expect("an image/png part");
    assert_eq!(qr.contents(), QR_PNG);
    assert!(qr.content_disposition().is_some_and(|d| d.is_inline()));
    let cid = qr.content_id().expect("a Content-ID").trim_matches(['<', '>']).to_owned();
    let html = parsed.body_html(0).expect("an HTML body");
    assert!(html.contains(&format!("src=\"cid:{cid}\"")), "{html}");
    assert!(html.contains("Rock, Paper; Scissors &lt;live&gt; &amp;"), "the title is escaped: {html}");
    assert!(!html.contains("<live>"));
    assert!(html.contains("href=\"https://tickets.example/passes/TKT-0001-A.pkpass\""));
    let text = parsed.body_text(0).expect("a text body");
    assert!(text.contains("Stalls, row B, seat 12"), "{text}");
    // The image sits in a multipart/related with the bodies.
    let raw = String::from_utf8_lossy(&files[0]);
    assert!(raw.contains("multipart/related"), "{raw}");

    // The calendar: an attachment ticket.ics, CRLF, folded, parseable.
    let ics_part =
        parsed.attachments().find(|p| p.attachment_name() == Some("ticket.ics")).expect("a ticket.ics attachment");
    assert!(ics_part.content_type().is_some_and(|c| c.ctype() == "text" && c.subtype() == Some("calendar")));
    let ics = std::str::from_utf8(ics_part.contents()).expect("UTF-8");
    assert!(ics.ends_with("\r\n"));
    assert!(!ics.replace("\r\n", "").contains('\n'), "every line ends with CRLF");
    for line in ics.split("\r\n") {
        assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
    }
    assert!(ics.contains("\r\n "), "the long title is folded");

    let unfolded = icalendar::parser::unfold(ics);
    let calendar = icalendar::parser::read_calendar(&unfolded).expect("a parseable calendar");
    let event = calendar.components.iter().find(|c| c.name.as_str() == "VEVENT").expect("a VEVENT");
    let prop = |name: &str| event.find_prop(name).map(|p| p.val.clone().unescape_text().as_str().to_owned());
    assert_eq!(prop("UID").as_deref(), Some("TKT-0001-A@box-office.example"));
    assert_eq!(prop("DTSTART").as_deref(), Some("20261231T193000Z"));
    assert_eq!(prop("DTEND").as_deref(), Some("20261231T230000Z"));
    assert_eq!(prop("DTSTAMP").as_deref(), Some("20261231T120000Z"));
    assert_eq!(prop("SUMMARY").as_deref(), Some(n.show_title.as_str()));
    assert_eq!(prop("LOCATION").as_deref(), Some(n.venue.as_str()));
    assert!(prop("DESCRIPTION").is_some_and(|d| d.contains("Seat: Stalls, row B, seat 12\nTicket: TKT-0001-A")));
}

#[tokio::test]
async fn the_same_message_composes_to_the_same_ids() {
    let w = world();
    let n = notice(w.holder, Contact::email("ana@mail.example"));
    let a = compose_email(&n, "ana@mail.example", &settings(), "ticket.issued:TKT-0001-A").expect("composed");
    let b = compose_email(&n, "ana@mail.example", &settings(), "ticket.issued:TKT-0001-A").expect("composed");
    let c = compose_email(&n, "ana@mail.example", &settings(), "ticket.issued:TKT-0002-B").expect("composed");
    assert_eq!(a.message_id, b.message_id);
    assert_ne!(a.message_id, c.message_id);
}

// ---- at least once ------------------------------------------------------------

#[tokio::test]
async fn a_failing_transport_leaves_the_message_for_the_next_round() {
    let w = world();
    let mailer = StubMailer::new();
    let delivery = Arc::new(TicketDelivery::new(w.contacts.clone()).with_email(Arc::new(mailer.clone()), settings()));
    let msg = notice(w.holder, Contact::email("ana@mail.example")).to_outbox_message().expect("valid");
    w.outbox.enqueue(&msg).await.expect("enqueued");
    let relay = relay(&w, delivery.clone());

    mailer.fail_next(1);
    let round = relay.run_once().await.expect("a round");
    assert_eq!((round.claimed, round.delivered, round.failed), (1, 0, 1));
    assert_eq!(w.outbox.pending().await.expect("pending"), 1);
    assert!(mailer.sent().is_empty());

    // Still claimed: the next round before the lease lapses takes nothing.
    let round = relay.run_once().await.expect("a round");
    assert_eq!(round.claimed, 0);

    w.clock.advance(chrono::TimeDelta::seconds(31));
    let round = relay.run_once().await.expect("a round");
    assert_eq!((round.claimed, round.delivered, round.failed), (1, 1, 0));
    assert_eq!(w.outbox.pending().await.expect("pending"), 0);
    let sent = mailer.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].dedupe_key, msg.id);
    assert_eq!(delivery.stats().failed, 1);
    assert_eq!(delivery.stats().delivered, 1);
}

#[tokio::test]
async fn an_sms_failure_sends_the_email_again_with_the_same_ids() {
    let w = world();
    let mailer = StubMailer::new();
    let sms = RecordingSms::new();
    let delivery = Arc::new(
        TicketDelivery::new(w.contacts.clone())
            .with_email(Arc::new(mailer.clone()), settings())
            .with_sms(Arc::new(sms.clone())),
    );
    let msg = notice(w.holder, Contact::email("ana@mail.example").with_phone("+447700900123"))
        .to_outbox_message()
        .expect("valid");
    w.outbox.enqueue(&msg).await.expect("enqueued");
    let relay = relay(&w, delivery);

    sms.fail_next(1);
    let round = relay.run_once().await.expect("a round");
    assert_eq!((round.delivered, round.failed), (0, 1));
    w.clock.advance(chrono::TimeDelta::seconds(31));
    let round = relay.run_once().await.expect("a round");
    assert_eq!(round.delivered, 1);

    // At least once: the email went out twice, the receiver dedupes by
    // its ids, which did not change.
    let emails = mailer.sent();
    assert_eq!(emails.len(), 2);
    assert_eq!(emails[0].message_id, emails[1].message_id);
    assert_eq!(emails[0].dedupe_key, emails[1].dedupe_key);
    let texts = sms.sent();
    assert_eq!(texts.len(), 1);
    assert_eq!(texts[0].to, "+447700900123");
    assert_eq!(texts[0].dedupe_key, msg.id);
    assert!(texts[0].body.contains("Stalls, row B, seat 12"), "{}", texts[0].body);
    assert!(texts[0].body.contains("https://tickets.example/passes/TKT-0001-A.pkpass"));
}

#[tokio::test]
async fn a_delivery_racing_its_own_retry_sends_once() {
    let w = world();
    let mailer = StubMailer::new();
    let delivery = Arc::new(TicketDelivery::new(w.contacts.clone()).with_email(Arc::new(mailer.clone()), settings()));
    let n = notice(w.holder, Contact::email("ana@mail.example"));
    // The issuer enqueues the same notice twice (a retried request).
    w.outbox.enqueue(&n.to_outbox_message().expect("valid")).await.expect("enqueued");
    w.outbox.enqueue(&n.to_outbox_message().expect("valid")).await.expect("enqueued");
    // Two relays (two servers) run at once.
    let (a, b) = (relay(&w, delivery.clone()), relay(&w, delivery.clone()));
    let (ra, rb) = tokio::join!(a.run_once(), b.run_once());
    let (ra, rb) = (ra.expect("a round"), rb.expect("a round"));
    assert_eq!(ra.delivered + rb.delivered, 1);
    assert_eq!(mailer.sent().len(), 1);
    assert_eq!(w.outbox.pending().await.expect("pending"), 0);
}

// ---- other topics ---------------------------------------------------------------

#[tokio::test]
async fn other_topics_are_refused_acknowledged_or_forwarded_as_configured() {
    let w = world();
    let other = OutboxMessage { id: "o1".into(), topic: "order.completed".into(), payload: "{}".into(), attempts: 0 };

    let refuse = TicketDelivery::new(w.contacts.clone()).with_email(Arc::new(StubMailer::new()), settings());
    assert!(refuse.deliver(&other).await.is_err(), "refused by default: the message stays in the outbox");

    let ack = TicketDelivery::new(w.contacts.clone()).other_topics(OtherTopics::Acknowledge);
    assert!(ack.deliver(&other).await.is_ok());
    assert_eq!(ack.stats().other_topics, 1);

    // Forwarded: to a ticket delivery that refuses them, whose error comes
    // back.
    let forward = TicketDelivery::new(w.contacts.clone()).other_topics(OtherTopics::Forward(Arc::new(refuse)));
    assert!(forward.deliver(&other).await.is_err());
    let forward = TicketDelivery::new(w.contacts.clone()).other_topics(OtherTopics::Forward(Arc::new(ack)));
    assert!(forward.deliver(&other).await.is_ok());
}

#[test]
fn a_notice_survives_the_outbox_payload_round_trip() {
    let n = notice(OwnerId::new(), Contact::email("ana@mail.example"));
    let msg = n.to_outbox_message().expect("valid");
    assert_eq!(msg.topic, TICKET_ISSUED);
    assert_eq!(msg.id, "ticket.issued:TKT-0001-A");
    assert_eq!(TicketNotice::from_payload(&msg.payload), Ok(n));
}
