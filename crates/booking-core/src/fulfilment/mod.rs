//! Fulfilment: from a completed order to tickets in the holder's inbox
//! (feature `qr`).
//!
//! The checkout saga's last step enqueues an outbox message of topic
//! [`ORDER_COMPLETED`] whose payload is the order's [`Receipt`].
//! [`TicketFulfilment`] is the outbox relay's [`Deliver`] for it: it
//!
//! 1. reads the receipt's sale (a receipt without one, a declined or
//!    refunded order, is acknowledged and issues nothing);
//! 2. issues the sale's tickets ([`TicketIssuer::issue_for`]): ticket ids
//!    derive from the order and the seat, so a redelivery issues the same
//!    tickets with the same texts;
//! 3. builds one [`TicketNotice`] per ticket: the show's title, venue and
//!    start from the [`Catalog`], the seat's section, row and label (or the
//!    pool's name) from the inventory's [`ShowSpec`], the holder's contact
//!    from [`HolderContacts`], the QR code as PNG ([`qr::png`]); a receipt
//!    whose notices cannot all be built changes nothing;
//! 4. registers each ticket with the [`CheckInStore`] (a redelivery
//!    registers nothing new: the store answers
//!    [`Registered::Unchanged`](crate::tickets::Registered::Unchanged)); a
//!    ticket reissued since, to a new holder, is left to its reissue and
//!    not sent;
//! 5. enqueues each notice on the [`Outbox`] as a
//!    [`TICKET_ISSUED`](crate::delivery::TICKET_ISSUED) message whose id
//!    names the ticket, so a redelivery enqueues nothing twice;
//!
//! and only then acknowledges. Any failure (a store, the catalog, the
//! directory, a holder with no contact yet) returns an error and the relay
//! delivers the receipt again later: fulfilment is at least once, and every
//! step is idempotent, so "again" changes nothing that was done.
//!
//! One relay serves both topics: give it a [`TicketDelivery`](crate::delivery::TicketDelivery) that forwards
//! other topics to the fulfilment ([`OtherTopics::Forward`]); messages of
//! any other topic are then handled as the fulfilment's own
//! [`OtherTopics`] says (refused by default: they stay in the outbox).
//!
//! ```
//! use booking_core::catalog::{Catalog, Event, Show, Venue};
//! use booking_core::checkout::{ORDER_COMPLETED, OrderStatus, Outbox, OutboxMessage, OutboxRelay, Receipt};
//! use booking_core::delivery::{Contact, ContactBook, EmailSettings, OtherTopics, StubMailer, TicketDelivery};
//! use booking_core::fulfilment::TicketFulfilment;
//! use booking_core::tickets::{KeyId, SigningKeyring, TicketIssuer};
//! use booking_core::{Currency, HoldItems, Money, OrderId, OwnerId, PriceCategory, Sale, SeatId, SeatInventory};
//! use booking_core::{ShowSpec, VenueLayout};
//! use booking_memory::MemoryInventory;
//! use booking_memory::catalog::MemoryCatalog;
//! use booking_memory::checkout::MemoryOutbox;
//! use booking_memory::tickets::MemoryCheckInStore;
//! use chrono::{TimeZone, Utc};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! // The stores (here in memory; PostgreSQL or Redis in production).
//! let inventory = Arc::new(MemoryInventory::new());
//! let catalog = Arc::new(MemoryCatalog::new());
//! let outbox = Arc::new(MemoryOutbox::new());
//! let checkins = Arc::new(MemoryCheckInStore::new());
//! let contacts = Arc::new(ContactBook::new());
//!
//! // A show, in the inventory and in the catalog.
//! let spec = ShowSpec::new("Gala", VenueLayout::grid(1, 1, 10, PriceCategory(1)));
//! inventory.create_show(&spec).await?;
//! let venue = catalog.create_venue(&Venue::new("Grand Hall", "Lyon")).await?.value;
//! let event = catalog.create_event(&Event::new("New Year's Gala")).await?.value;
//! let starts = Utc.with_ymd_and_hms(2026, 12, 31, 19, 30, 0).unwrap();
//! let on_sale = Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap();
//! catalog.create_show(&Show::new(event.id, venue.id, starts, on_sale).with_id(spec.id)).await?;
//!
//! // Fulfilment behind ticket delivery, one relay for both topics.
//! let issuer = Arc::new(TicketIssuer::new(SigningKeyring::new(KeyId(1), [7; 32])));
//! let fulfilment = TicketFulfilment::new(issuer, checkins, catalog, inventory, contacts.clone(), outbox.clone());
//! let mailer = StubMailer::new();
//! let delivery = TicketDelivery::new(contacts.clone())
//!     .with_email(Arc::new(mailer.clone()), EmailSettings::new("Box Office <tickets@example.com>", "example.com"))
//!     .other_topics(OtherTopics::Forward(Arc::new(fulfilment)));
//! let relay = OutboxRelay::new(outbox.clone(), Arc::new(delivery), Duration::from_secs(30), 100);
//!
//! // What the checkout saga enqueues when an order completes.
//! let buyer = OwnerId::new();
//! contacts.set(buyer, Contact::email("ana@mail.example"));
//! let order = OrderId::new();
//! let sale = Sale { show: spec.id, order, owner: buyer, items: HoldItems::Seats(vec![SeatId(3)]), version: 1 };
//! let total = Money::new(5_000, Currency::new("EUR")?);
//! let receipt = Receipt { order, status: OrderStatus::Completed, total, sale: Some(sale), reason: None };
//! let payload = serde_json::to_string(&receipt)?;
//! let message = OutboxMessage { id: format!("{order}:completed"), topic: ORDER_COMPLETED.into(), payload, attempts: 0 };
//! outbox.enqueue(&message).await?;
//!
//! relay.run_once().await?; // the receipt: the ticket is issued and its notice enqueued
//! relay.run_once().await?; // the notice: the email goes out
//! assert_eq!(mailer.sent().len(), 1);
//! assert_eq!(mailer.sent()[0].to, ["ana@mail.example"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })
//! # }
//! ```

use crate::InventoryError;
use crate::catalog::{Catalog, CatalogError};
use crate::checkout::{Deliver, ORDER_COMPLETED, Outbox, OutboxMessage, Receipt, StoreError};
use crate::clock::{Clock, SystemClock};
use crate::delivery::{DirectoryError, HolderContacts, NoticeError, OtherTopics, TicketNotice, WalletLinks};
use crate::ids::{OwnerId, SeatId};
use crate::inventory::{Sale, SeatInventory};
use crate::layout::ShowSpec;
use crate::tickets::qr::{self, QrError};
use crate::tickets::{CheckInError, CheckInStore, IssuedTicket, Registration, TicketError, TicketIssuer};
use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use thiserror::Error;

/// How long a show lasts when the catalog does not say (it records only
/// the start): three hours. Set with [`TicketFulfilment::with_duration`].
pub const DEFAULT_SHOW_DURATION: chrono::TimeDelta = chrono::TimeDelta::hours(3);

/// The QR code's module size in the notices' PNG images, in pixels (set
/// with [`TicketFulfilment::with_qr_scale`]).
pub const DEFAULT_QR_SCALE: u32 = 4;

/// Why a completed order's tickets were not (all) sent on. Every variant
/// leaves the outbox message to be delivered again; what was done already
/// (tickets registered, notices enqueued) is not done twice. Every
/// variant but `CheckIn` and `Outbox` comes before anything is changed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FulfilmentError {
    /// The payload is not a checkout receipt: the message's producer must
    /// fix it.
    #[error("not a checkout receipt: {0}")]
    Payload(String),
    /// The sale cannot be issued (no items, too many units).
    #[error("tickets not issued: {0}")]
    Issue(#[from] TicketError),
    /// The check-in store refused or failed a registration.
    #[error("ticket not registered: {0}")]
    CheckIn(#[from] CheckInError),
    /// The catalog has no such show (or its event or venue), or did not
    /// answer.
    #[error("show details: {0}")]
    Catalog(#[from] CatalogError),
    /// The inventory has no such show, or did not answer.
    #[error("seat labels: {0}")]
    Inventory(#[from] InventoryError),
    /// The sale names a seat or pool its show does not have.
    #[error("the show has no {0}")]
    UnknownItem(String),
    /// The directory did not answer.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// The holder has no contact on file yet: delivered once they have one.
    #[error("holder {holder} has no contact on file")]
    NoContact {
        /// The tickets' holder.
        holder: OwnerId,
    },
    /// The QR code could not be drawn.
    #[error("QR code: {0}")]
    Qr(#[from] QrError),
    /// A notice does not validate (a catalog text too long for a ticket,
    /// say).
    #[error("ticket notice: {0}")]
    Notice(#[from] NoticeError),
    /// The outbox did not take a notice.
    #[error("outbox: {0}")]
    Outbox(#[from] StoreError),
    /// The message is of another topic and this fulfilment was told to
    /// refuse those ([`OtherTopics::Refuse`]).
    #[error("no fulfilment for topic {0:?}")]
    UnknownTopic(String),
}

/// What a fulfilment did with one receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fulfilled {
    /// The tickets issued and registered (the same ones on a redelivery).
    pub tickets: Vec<IssuedTicket>,
    /// The notices enqueued (a redelivery enqueues them again, and the
    /// outbox keeps the first of each id).
    pub notices: Vec<TicketNotice>,
    /// Tickets not sent because they were reissued since (their new
    /// version is delivered by the reissue).
    pub superseded: usize,
}

/// Counters of a [`TicketFulfilment`], for a metrics exporter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FulfilmentStats {
    /// Receipts whose tickets were all enqueued.
    pub fulfilled: u64,
    /// Receipts without a sale, acknowledged with nothing issued.
    pub without_sale: u64,
    /// Receipts that failed (tried again later).
    pub failed: u64,
    /// Notices enqueued (redeliveries included).
    pub notices: u64,
    /// Messages of other topics acknowledged or forwarded.
    pub other_topics: u64,
}

#[derive(Debug, Default)]
struct Counters {
    fulfilled: AtomicU64,
    without_sale: AtomicU64,
    failed: AtomicU64,
    notices: AtomicU64,
    other_topics: AtomicU64,
}

/// Issues, registers and sends on the tickets of completed orders: the
/// outbox relay's [`Deliver`] for topic [`ORDER_COMPLETED`]. See the
/// [module documentation](self).
#[derive(Debug, Clone)]
pub struct TicketFulfilment {
    issuer: Arc<TicketIssuer>,
    checkins: Arc<dyn CheckInStore>,
    catalog: Arc<dyn Catalog>,
    inventory: Arc<dyn SeatInventory>,
    contacts: Arc<dyn HolderContacts>,
    outbox: Arc<dyn Outbox>,
    clock: Arc<dyn Clock>,
    duration: chrono::TimeDelta,
    qr_scale: u32,
    others: OtherTopics,
    counters: Arc<Counters>,
}

impl TicketFulfilment {
    /// A fulfilment signing with `issuer`, registering with `checkins`,
    /// reading show details from `catalog` and seat labels from
    /// `inventory`, contacts from `contacts`, and enqueuing notices on
    /// `outbox` (the relay's own, usually). Static QR codes, shows of
    /// [`DEFAULT_SHOW_DURATION`], the system clock.
    pub fn new(
        issuer: Arc<TicketIssuer>,
        checkins: Arc<dyn CheckInStore>,
        catalog: Arc<dyn Catalog>,
        inventory: Arc<dyn SeatInventory>,
        contacts: Arc<dyn HolderContacts>,
        outbox: Arc<dyn Outbox>,
    ) -> Self {
        TicketFulfilment {
            issuer,
            checkins,
            catalog,
            inventory,
            contacts,
            outbox,
            clock: Arc::new(SystemClock),
            duration: DEFAULT_SHOW_DURATION,
            qr_scale: DEFAULT_QR_SCALE,
            others: OtherTopics::default(),
            counters: Arc::default(),
        }
    }

    /// Reads `clock` for the notices' issue time.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How long shows last, for the notices' end time and calendar entry
    /// (at least a minute).
    pub fn with_duration(mut self, duration: chrono::TimeDelta) -> Self {
        self.duration = duration.max(chrono::TimeDelta::minutes(1));
        self
    }

    /// The QR code's module size in pixels (1 to 64; out of range, every
    /// receipt fails with [`FulfilmentError::Qr`]).
    pub fn with_qr_scale(mut self, scale: u32) -> Self {
        self.qr_scale = scale;
        self
    }

    /// What to do with messages of other topics (default
    /// [`OtherTopics::Refuse`]).
    pub fn other_topics(mut self, others: OtherTopics) -> Self {
        self.others = others;
        self
    }

    /// The counters so far.
    pub fn stats(&self) -> FulfilmentStats {
        let c = &self.counters;
        FulfilmentStats {
            fulfilled: c.fulfilled.load(Ordering::Relaxed),
            without_sale: c.without_sale.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            notices: c.notices.load(Ordering::Relaxed),
            other_topics: c.other_topics.load(Ordering::Relaxed),
        }
    }

    /// Fulfils `receipt`: issues, registers and enqueues the notices of its
    /// sale's tickets. `Ok(None)` for a receipt without a sale.
    pub async fn fulfil(&self, receipt: &Receipt) -> Result<Option<Fulfilled>, FulfilmentError> {
        let result = match &receipt.sale {
            None => Ok(None),
            Some(sale) => self.fulfil_sale(sale).await.map(Some),
        };
        let counter = match &result {
            Ok(Some(f)) => {
                self.counters.notices.fetch_add(f.notices.len() as u64, Ordering::Relaxed);
                &self.counters.fulfilled
            }
            Ok(None) => &self.counters.without_sale,
            Err(_) => &self.counters.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        result
    }

    async fn fulfil_sale(&self, sale: &Sale) -> Result<Fulfilled, FulfilmentError> {
        let tickets = self.issuer.issue_for(sale, None)?;

        // Compose every notice before changing anything: a receipt that
        // cannot be fulfilled registers nothing.
        let listing = self.catalog.listing(sale.show).await?;
        let spec = self.inventory.show_spec(sale.show).await?;
        let contact =
            self.contacts.contact_of(sale.owner).await?.ok_or(FulfilmentError::NoContact { holder: sale.owner })?;
        let venue = if listing.venue.city.trim().is_empty() {
            listing.venue.name.clone()
        } else {
            format!("{}, {}", listing.venue.name, listing.venue.city)
        };
        let starts_at = listing.show.starts_at;
        let issued_at = self.clock.now();
        let mut composed = Vec::with_capacity(tickets.len());
        for ticket in &tickets {
            let notice = TicketNotice {
                ticket_id: ticket.claims.ticket.to_string(),
                order: sale.order,
                show: sale.show,
                holder: sale.owner,
                contact: contact.clone(),
                holder_name: None,
                show_title: listing.event.title.clone(),
                venue: venue.clone(),
                starts_at,
                ends_at: starts_at + self.duration,
                seat: item_label(&spec, &ticket.claims.item)?,
                barcode: ticket.signed.clone(),
                qr_png: qr::png(&ticket.signed, self.qr_scale)?,
                wallet: WalletLinks::default(),
                issued_at,
            };
            let msg = notice.to_outbox_message()?;
            composed.push((ticket, notice, msg));
        }

        // Register: a ticket is valid at the gate before its holder is told
        // of it. A ticket reissued since (a transfer) is left to its reissue.
        let mut current = Vec::with_capacity(composed.len());
        for (ticket, notice, msg) in composed {
            match self.checkins.register(&Registration::from(&ticket.claims)).await {
                Ok(_) => current.push((notice, msg)),
                Err(CheckInError::Superseded { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let superseded = tickets.len() - current.len();

        // The outbox keeps the first message of each id, so a redelivery
        // enqueues nothing new.
        for (_, msg) in &current {
            self.outbox.enqueue(msg).await?;
        }
        Ok(Fulfilled { tickets, notices: current.into_iter().map(|(n, _)| n).collect(), superseded })
    }
}

/// The seat's "Section, row R, seat L", or the pool's name.
fn item_label(spec: &ShowSpec, item: &crate::tickets::TicketItem) -> Result<String, FulfilmentError> {
    use crate::tickets::TicketItem;
    match item {
        TicketItem::Seat(seat) => {
            seat_label(spec, *seat).ok_or_else(|| FulfilmentError::UnknownItem(format!("{seat:?}")))
        }
        TicketItem::Pool(pool) => {
            spec.pool(*pool).map(|p| p.name.clone()).ok_or_else(|| FulfilmentError::UnknownItem(format!("{pool:?}")))
        }
    }
}

fn seat_label(spec: &ShowSpec, seat: SeatId) -> Option<String> {
    let mut first = 0usize;
    let wanted = seat.0 as usize;
    for section in &spec.layout.sections {
        for row in &section.rows {
            if wanted < first + row.seats.len() {
                let label = &row.seats[wanted - first].label;
                return Some(format!("{}, row {}, seat {}", section.name, row.name, label));
            }
            first += row.seats.len();
        }
    }
    None
}

#[async_trait]
impl Deliver for TicketFulfilment {
    async fn deliver(&self, msg: &OutboxMessage) -> Result<(), String> {
        if msg.topic != ORDER_COMPLETED {
            let result = self.others.handle(msg, || FulfilmentError::UnknownTopic(msg.topic.clone()).to_string()).await;
            if result.is_ok() {
                self.counters.other_topics.fetch_add(1, Ordering::Relaxed);
            }
            return result;
        }
        let receipt: Receipt = match serde_json::from_str(&msg.payload) {
            Ok(receipt) => receipt,
            Err(e) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                return Err(FulfilmentError::Payload(e.to_string()).to_string());
            }
        };
        self.fulfil(&receipt).await.map(|_| ()).map_err(|e| e.to_string())
    }
}
