//! The ticket SMS, sent through the [`SmsSender`] port.

use super::recorder::Recorder;
use super::{TicketNotice, TransportError};
use async_trait::async_trait;
use std::fmt::Debug;

/// One text message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sms {
    /// The recipient, E.164.
    pub to: String,
    /// The text.
    pub body: String,
    /// The outbox message id: the same for every attempt at one message,
    /// so a gateway that supports idempotency keys (or the receiver's
    /// log) can drop a duplicate.
    pub dedupe_key: String,
}

/// Sends text messages through an SMS gateway. `Ok` means the gateway
/// took the message; an error means it did not and the caller may try
/// again.
#[async_trait]
pub trait SmsSender: Send + Sync + Debug {
    /// Sends one message.
    async fn send(&self, sms: &Sms) -> Result<(), TransportError>;
}

/// The ticket SMS for `notice`, to `to` (the directory's number for the
/// holder). A text cannot carry the QR code: it points to the email and to
/// the wallet links.
pub fn compose_sms(notice: &TicketNotice, to: &str, dedupe_key: &str) -> Sms {
    let mut body = format!(
        "Your ticket for {} at {}, {} UTC. Seat: {}. Ticket {}.",
        notice.show_title,
        notice.venue,
        notice.starts_at.format("%-d %b %Y %H:%M"),
        notice.seat,
        notice.ticket_id
    );
    match (&notice.wallet.apple, &notice.wallet.google) {
        (None, None) => body.push_str(" The QR code is in your email."),
        (apple, google) => {
            if let Some(url) = apple {
                body.push_str(&format!(" Apple Wallet: {url}"));
            }
            if let Some(url) = google {
                body.push_str(&format!(" Google Wallet: {url}"));
            }
        }
    }
    Sms { to: to.to_owned(), body, dedupe_key: dedupe_key.to_owned() }
}

/// Keeps the messages it is given, and fails on demand: the SMS gateway of
/// tests and development.
#[derive(Debug, Clone, Default)]
pub struct RecordingSms {
    log: Recorder<Sms>,
}

impl RecordingSms {
    /// A gateway that accepts everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next `n` sends fail with [`TransportError::Unavailable`] (and
    /// keep nothing).
    pub fn fail_next(&self, n: u32) {
        self.log.fail_next(n);
    }

    /// The messages accepted so far, oldest first.
    pub fn sent(&self) -> Vec<Sms> {
        self.log.accepted()
    }
}

#[async_trait]
impl SmsSender for RecordingSms {
    async fn send(&self, sms: &Sms) -> Result<(), TransportError> {
        if self.log.accept(sms) {
            Ok(())
        } else {
            Err(TransportError::Unavailable("the recorder was told to fail".to_owned()))
        }
    }
}
