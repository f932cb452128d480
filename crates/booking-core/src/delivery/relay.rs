//! Ticket delivery as the outbox relay's [`Deliver`]: notices of topic
//! [`TICKET_ISSUED`] become an email and/or an SMS to the holder's contact
//! on file.

use super::contacts::{HolderContacts, same_email, same_phone};
use super::email::{EmailError, EmailSettings, Mailer, compose_email};
use super::notice::{NoticeError, TICKET_ISSUED, TicketNotice};
use super::sms::{SmsSender, compose_sms};
use super::{DirectoryError, Email, Sms, TransportError};
use crate::checkout::{Deliver, OutboxMessage};
use crate::ids::OwnerId;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt::{self, Debug};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use thiserror::Error;

/// A way to reach a holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Channel {
    /// Email.
    Email,
    /// SMS.
    Sms,
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Channel::Email => "email address",
            Channel::Sms => "phone number",
        })
    }
}

/// Why a ticket was not delivered. Nothing was sent unless the variant
/// says so.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The notice is malformed: the issuer must fix it.
    #[error("invalid ticket notice: {0}")]
    Invalid(#[from] NoticeError),
    /// The directory has no contact for the holder: a ticket is sent only
    /// to a contact on file. Delivered once the holder has one.
    #[error("holder {holder} has no contact on file")]
    NoContact {
        /// The ticket's holder.
        holder: OwnerId,
    },
    /// The notice's address or number is not the one on file for its
    /// holder (someone else's, or out of date): refused, never sent.
    #[error("the notice's {channel} is not the one on file for holder {holder}")]
    ContactMismatch {
        /// The ticket's holder.
        holder: OwnerId,
        /// Which contact differs.
        channel: Channel,
    },
    /// The notice names only channels this delivery has no sender for
    /// (a phone number and no SMS gateway, say).
    #[error("no sender for any of the notice's channels")]
    NoChannel,
    /// The email could not be composed (the settings are wrong).
    #[error("{0}")]
    Compose(#[from] EmailError),
    /// The directory did not answer: tried again later.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// The mail transport did not take the email: tried again later.
    #[error("email not sent: {0}")]
    Mail(#[source] TransportError),
    /// The SMS gateway did not take the message: tried again later. If the
    /// notice also had an email, it was sent and will be sent again.
    #[error("SMS not sent: {0}")]
    Sms(#[source] TransportError),
    /// The outbox message is of another topic and this delivery was told to
    /// refuse those ([`OtherTopics::Refuse`]).
    #[error("no delivery for topic {0:?}")]
    UnknownTopic(String),
}

impl DeliveryError {
    /// True when the notice was refused by a decision (malformed, no or the
    /// wrong contact, no channel, bad settings) rather than a failure of a
    /// transport or the directory: sending it again as it is fails again,
    /// until the notice, the directory or the settings change.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            DeliveryError::Invalid(_)
                | DeliveryError::NoContact { .. }
                | DeliveryError::ContactMismatch { .. }
                | DeliveryError::NoChannel
                | DeliveryError::Compose(_)
                | DeliveryError::UnknownTopic(_)
        )
    }
}

/// What a delivery sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// The email, if one was sent.
    pub email: Option<Email>,
    /// The SMS, if one was sent.
    pub sms: Option<Sms>,
}

/// What to do with outbox messages of topics other than
/// [`TICKET_ISSUED`], when the relay has this delivery as its only
/// [`Deliver`].
#[derive(Clone, Debug, Default)]
pub enum OtherTopics {
    /// Return an error: the message stays in the outbox. The safe default
    /// (nothing is lost), for a relay whose outbox holds only tickets.
    #[default]
    Refuse,
    /// Acknowledge without doing anything: for an outbox whose other
    /// messages need no delivery. They are gone once acknowledged.
    Acknowledge,
    /// Hand them to another deliverer.
    Forward(Arc<dyn Deliver>),
}

impl OtherTopics {
    /// Handles `msg`, of a topic its deliverer does not serve: `refusal()`
    /// as the error, `Ok`, or the next deliverer's answer.
    pub async fn handle(&self, msg: &OutboxMessage, refusal: impl FnOnce() -> String) -> Result<(), String> {
        match self {
            OtherTopics::Refuse => Err(refusal()),
            OtherTopics::Acknowledge => Ok(()),
            OtherTopics::Forward(next) => next.deliver(msg).await,
        }
    }
}

/// Counters of a [`TicketDelivery`], for a metrics exporter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    /// Notices whose every channel was sent.
    pub delivered: u64,
    /// Notices refused by a decision ([`DeliveryError::is_refusal`]).
    pub refused: u64,
    /// Notices that failed in a transport or the directory.
    pub failed: u64,
    /// Messages of other topics acknowledged or forwarded.
    pub other_topics: u64,
}

#[derive(Debug, Default)]
struct Counters {
    delivered: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
    other_topics: AtomicU64,
}

/// Delivers ticket notices by email and SMS, to the holder's contact on
/// file only.
///
/// Before anything is sent, every contact the notice names is checked
/// against [`HolderContacts`]: a holder with no contact on file, or a
/// notice whose address or number differs from the one on file, is refused
/// ([`DeliveryError::NoContact`], [`DeliveryError::ContactMismatch`]) and
/// nothing goes out. Both messages are composed before either is sent, so a
/// notice that cannot be composed sends nothing either.
///
/// As the relay's [`Deliver`], it is at least once: any error leaves the
/// message in the outbox to be tried again when its claim lapses, refusals
/// included (a holder who adds a contact, a directory corrected, gets the
/// ticket then). An email sent before its SMS failed is sent again with
/// it, so receivers may see a message twice; each carries the outbox
/// message id to dedupe by.
#[derive(Debug, Clone)]
pub struct TicketDelivery {
    contacts: Arc<dyn HolderContacts>,
    email: Option<(Arc<dyn Mailer>, EmailSettings)>,
    sms: Option<Arc<dyn SmsSender>>,
    others: OtherTopics,
    counters: Arc<Counters>,
}

impl TicketDelivery {
    /// A delivery checking contacts against `contacts`, with no channel
    /// yet: add [`Self::with_email`] and/or [`Self::with_sms`].
    pub fn new(contacts: Arc<dyn HolderContacts>) -> Self {
        TicketDelivery { contacts, email: None, sms: None, others: OtherTopics::default(), counters: Arc::default() }
    }

    /// Sends emails through `mailer`, addressed by `settings`.
    pub fn with_email(mut self, mailer: Arc<dyn Mailer>, settings: EmailSettings) -> Self {
        self.email = Some((mailer, settings));
        self
    }

    /// Sends SMS through `sender`.
    pub fn with_sms(mut self, sender: Arc<dyn SmsSender>) -> Self {
        self.sms = Some(sender);
        self
    }

    /// What to do with messages of other topics (default
    /// [`OtherTopics::Refuse`]).
    pub fn other_topics(mut self, others: OtherTopics) -> Self {
        self.others = others;
        self
    }

    /// The counters so far.
    pub fn stats(&self) -> DeliveryStats {
        let c = &self.counters;
        DeliveryStats {
            delivered: c.delivered.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            other_topics: c.other_topics.load(Ordering::Relaxed),
        }
    }

    /// Sends `notice` to its holder on every channel it names that this
    /// delivery has a sender for, with `dedupe_key` (the outbox message id)
    /// in each message.
    pub async fn send(&self, notice: &TicketNotice, dedupe_key: &str) -> Result<Sent, DeliveryError> {
        let result = self.send_inner(notice, dedupe_key).await;
        let counter = match &result {
            Ok(_) => &self.counters.delivered,
            Err(e) if e.is_refusal() => &self.counters.refused,
            Err(_) => &self.counters.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        result
    }

    async fn send_inner(&self, notice: &TicketNotice, dedupe_key: &str) -> Result<Sent, DeliveryError> {
        notice.validate()?;
        let holder = notice.holder;
        let on_file = self.contacts.contact_of(holder).await?.ok_or(DeliveryError::NoContact { holder })?;

        // Every contact the notice names must be the holder's own.
        let email_to = match &notice.contact.email {
            Some(asked) => match &on_file.email {
                Some(known) if same_email(asked, known) => Some(known.clone()),
                _ => return Err(DeliveryError::ContactMismatch { holder, channel: Channel::Email }),
            },
            None => None,
        };
        let phone_to = match &notice.contact.phone {
            Some(asked) => match &on_file.phone {
                Some(known) if same_phone(asked, known) => Some(known.clone()),
                _ => return Err(DeliveryError::ContactMismatch { holder, channel: Channel::Sms }),
            },
            None => None,
        };

        // Compose everything before sending anything.
        let email = match (&self.email, email_to) {
            (Some((mailer, settings)), Some(to)) => Some((mailer, compose_email(notice, &to, settings, dedupe_key)?)),
            _ => None,
        };
        let sms = match (&self.sms, phone_to) {
            (Some(sender), Some(to)) => Some((sender, compose_sms(notice, &to, dedupe_key))),
            _ => None,
        };
        if email.is_none() && sms.is_none() {
            return Err(DeliveryError::NoChannel);
        }

        let mut sent = Sent { email: None, sms: None };
        if let Some((mailer, message)) = email {
            mailer.send(&message).await.map_err(DeliveryError::Mail)?;
            sent.email = Some(message);
        }
        if let Some((sender, message)) = sms {
            sender.send(&message).await.map_err(DeliveryError::Sms)?;
            sent.sms = Some(message);
        }
        Ok(sent)
    }
}

#[async_trait]
impl Deliver for TicketDelivery {
    async fn deliver(&self, msg: &OutboxMessage) -> Result<(), String> {
        if msg.topic != TICKET_ISSUED {
            let result = self.others.handle(msg, || DeliveryError::UnknownTopic(msg.topic.clone()).to_string()).await;
            if result.is_ok() {
                self.counters.other_topics.fetch_add(1, Ordering::Relaxed);
            }
            return result;
        }
        let notice = match TicketNotice::from_payload(&msg.payload) {
            Ok(notice) => notice,
            Err(e) => {
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
                return Err(DeliveryError::Invalid(e).to_string());
            }
        };
        self.send(&notice, &msg.id).await.map(|_| ()).map_err(|e| e.to_string())
    }
}
