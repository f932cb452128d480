//! Delivery: getting an issued ticket to its holder by email, SMS and
//! wallet pass, at least once, and never to anyone else.
//!
//! The parts, as for every capability of the library (docs/delivery.md):
//!
//! - the data, [`TicketNotice`]: everything a ticket message shows (show,
//!   venue, times, seat, the barcode text and its QR code already rendered
//!   as PNG by the ticket issuer, wallet links), serialisable as the JSON
//!   payload of an outbox message of topic [`TICKET_ISSUED`];
//! - the ports: [`HolderContacts`] (the contact directory: which email and
//!   phone belong to a holder), [`Mailer`] (sends a composed [`Email`]) and
//!   [`SmsSender`] (sends an [`Sms`]); embedders plug their SMTP relay, mail
//!   API or SMS gateway behind them;
//! - the composers: [`compose_email`] (HTML and text bodies, the QR code
//!   inline as a `cid:` image, an iCalendar `.ics` attachment written by
//!   [`ics::calendar`]) and [`compose_sms`];
//! - the service, [`TicketDelivery`]: the outbox relay's
//!   [`Deliver`](crate::checkout::Deliver) for ticket notices. It checks the
//!   notice's contact against the directory before anything is sent;
//! - adapters for development and tests: [`FileMailer`] (writes `.eml`
//!   files), [`StubMailer`], [`RecordingSms`] and [`ContactBook`] (an
//!   in-process directory);
//! - wallet passes (feature `wallet`): `wallet::apple_pass` builds a signed
//!   Apple Wallet `.pkpass`, `wallet::google_save_link` a Google Wallet
//!   "save" link.
//!
//! Delivery is at least once: a message whose sending failed stays in the
//! outbox and is sent again, so a receiver may see it twice. Every email
//! carries the outbox message id in its `X-Booking-Message-Id` header and a
//! `Message-ID` derived from it, every SMS carries it as
//! [`Sms::dedupe_key`]; a receiver dedupes by them.
//!
//! ```
//! use booking_core::delivery::{
//!     Contact, ContactBook, DeliveryError, EmailSettings, StubMailer, TicketDelivery, TicketNotice, WalletLinks,
//! };
//! use booking_core::{OrderId, OwnerId, ShowId};
//! use chrono::{TimeZone, Utc};
//! use std::sync::Arc;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let holder = OwnerId::new();
//! let contacts = Arc::new(ContactBook::new());
//! contacts.set(holder, Contact::email("ana@mail.example"));
//! let mailer = StubMailer::new();
//! let delivery = TicketDelivery::new(contacts)
//!     .with_email(Arc::new(mailer.clone()), EmailSettings::new("Box Office <tickets@example.com>", "example.com"));
//!
//! let starts = Utc.with_ymd_and_hms(2026, 12, 31, 19, 30, 0).unwrap();
//! let mut notice = TicketNotice {
//!     ticket_id: "TKT-1".into(),
//!     order: OrderId::new(),
//!     show: ShowId::new(),
//!     holder,
//!     contact: Contact::email("ana@mail.example"),
//!     holder_name: None,
//!     show_title: "New Year's Eve".into(),
//!     venue: "Grand Hall".into(),
//!     starts_at: starts,
//!     ends_at: starts + chrono::TimeDelta::hours(3),
//!     seat: "General admission".into(),
//!     barcode: "v1.payload.signature".into(),
//!     qr_png: b"\x89PNG\r\n\x1a\n...".to_vec(), // the issuer's rendered QR code
//!     wallet: WalletLinks::default(),
//!     issued_at: starts - chrono::TimeDelta::days(30),
//! };
//! delivery.send(&notice, "ticket.issued:TKT-1").await?;
//! assert_eq!(mailer.sent()[0].to, ["ana@mail.example"]);
//!
//! // Someone else's address: refused, nothing sent.
//! notice.contact = Contact::email("eve@mail.example");
//! let refused = delivery.send(&notice, "ticket.issued:TKT-1").await;
//! assert!(matches!(refused, Err(DeliveryError::ContactMismatch { .. })));
//! assert_eq!(mailer.sent().len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })
//! # }
//! ```

mod contacts;
mod email;
pub mod ics;
mod notice;
mod recorder;
mod relay;
mod sms;
#[cfg(feature = "wallet")]
pub mod wallet;

pub use contacts::{Contact, ContactBook, DirectoryError, HolderContacts, same_email, same_phone};
pub use email::{Email, EmailError, EmailSettings, FileMailer, MESSAGE_ID_HEADER, Mailer, StubMailer, compose_email};
pub use notice::{
    MAX_BARCODE_BYTES, MAX_QR_PNG_BYTES, MAX_TEXT_CHARS, MAX_TICKET_ID_CHARS, MAX_URL_CHARS, NoticeError,
    TICKET_ISSUED, TicketNotice, WalletLinks,
};
pub use relay::{Channel, DeliveryError, DeliveryStats, OtherTopics, Sent, TicketDelivery};
pub use sms::{RecordingSms, Sms, SmsSender, compose_sms};

use thiserror::Error;

/// Why a transport (a [`Mailer`] or an [`SmsSender`]) did not take a
/// message.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The transport refused this message for good (a rejected recipient,
    /// an unreachable number): sending it again fails again.
    #[error("refused by the transport: {0}")]
    Rejected(String),
    /// The transport is unavailable or did not answer: try again later.
    #[error("transport unavailable: {0}")]
    Unavailable(String),
    /// The transport failed otherwise.
    #[error("transport: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}
