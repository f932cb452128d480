//! The payment port: authorize, capture, void and refund with a card
//! provider that takes manual captures (a Stripe PaymentIntent with
//! `capture_method=manual`, an Adyen authorisation), plus the webhooks it
//! sends for asynchronous results.
//!
//! Every call carries an idempotency key: the provider applies a call at
//! most once per key and answers a repeat with the first answer. The
//! checkout saga derives its keys from the order's own idempotency key, so
//! a call repeated after a crash, a timeout or by a second server reaches
//! the provider as the same call.
//!
//! Every call answers a [`Decision`]: approved, declined with a reason, or
//! unknown (a timeout, a dropped connection, a 5xx). An unknown outcome is
//! resolved by repeating the call with the same key, or by the webhook
//! that reports it.
//!
//! A simulated provider with injectable faults, keeping its own ledger, is
//! in the test kit (`booking_core::testkit::payments`, feature `testkit`).

use crate::ids::OrderId;
use crate::money::Money;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt::Debug;

/// The idempotency key of one provider call.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PaymentKey(pub String);

/// The provider's id of an authorized payment (a PaymentIntent id).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PaymentId(pub String);

/// The buyer's payment method as the provider knows it (a tokenized card,
/// a wallet token). Never a card number.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PaymentMethod(pub String);

/// Why the provider declined.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DeclineReason {
    /// The card was declined by the issuer.
    CardDeclined,
    /// Not enough funds.
    InsufficientFunds,
    /// The provider's fraud screening refused it.
    Fraud,
    /// The authorization expired before it was captured.
    AuthorizationExpired,
    /// The payment is not in a state that allows the call (capturing a
    /// voided payment, refunding more than was captured).
    InvalidState,
    /// Another reason, as the provider worded it.
    Other(String),
}

/// A provider's answer to one call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision<T> {
    /// Done; the provider's record of it.
    Approved(T),
    /// Refused; nothing was done.
    Declined(DeclineReason),
    /// No answer: the call may or may not have been applied. Repeat it with
    /// the same key, or wait for its webhook.
    Unknown(String),
}

impl<T> Decision<T> {
    /// The approved value, if any.
    pub fn approved(self) -> Option<T> {
        match self {
            Decision::Approved(v) => Some(v),
            _ => None,
        }
    }
}

/// Reserve an amount on the buyer's payment method.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorize {
    /// The call's idempotency key.
    pub key: PaymentKey,
    /// The order paid for (the provider keeps it as metadata).
    pub order: OrderId,
    /// The amount to reserve.
    pub amount: Money,
    /// The buyer's payment method.
    pub method: PaymentMethod,
}

/// An authorized payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorization {
    /// The provider's id of the payment.
    pub payment: PaymentId,
    /// The amount reserved.
    pub amount: Money,
    /// After this instant the reservation lapses and a capture is declined
    /// (`AuthorizationExpired`).
    pub expires_at: DateTime<Utc>,
}

/// Take (part of) an authorized amount.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capture {
    /// The call's idempotency key.
    pub key: PaymentKey,
    /// The authorized payment.
    pub payment: PaymentId,
    /// The amount to take, at most the authorized amount.
    pub amount: Money,
}

/// A captured payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Captured {
    /// The provider's id of the capture: the proof of payment a sale
    /// records.
    pub capture: String,
    /// The amount taken.
    pub amount: Money,
}

/// Cancel an authorization that was not captured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Void {
    /// The call's idempotency key.
    pub key: PaymentKey,
    /// The authorized payment.
    pub payment: PaymentId,
}

/// Give (part of) a captured amount back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundPayment {
    /// The call's idempotency key.
    pub key: PaymentKey,
    /// The captured payment.
    pub payment: PaymentId,
    /// The amount to give back, at most what was captured and not refunded.
    pub amount: Money,
}

/// A refund made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refunded {
    /// The provider's id of the refund.
    pub refund: String,
    /// The amount given back.
    pub amount: Money,
}

/// What a webhook reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum WebhookEvent {
    /// The payment was authorized.
    Authorized(Authorization),
    /// The payment was captured.
    Captured(Captured),
    /// The authorization was voided.
    Voided,
    /// Money was refunded.
    Refunded(Refunded),
    /// A call was declined after it had been accepted for processing.
    Declined(DeclineReason),
}

/// An asynchronous notice from the provider. Providers send a webhook at
/// least once and in no particular order: receivers dedupe by `id` and
/// ignore events older than what they know.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// The event's id, unique per event (repeated deliveries share it).
    pub id: String,
    /// The order the payment is for.
    pub order: OrderId,
    /// The payment concerned.
    pub payment: PaymentId,
    /// What happened.
    pub event: WebhookEvent,
}

/// A card payment provider with manual capture.
///
/// Every method applies its call at most once per idempotency key and
/// answers a repeat of the same key with the first answer; a key reused
/// with different parameters is declined (`InvalidState`).
#[async_trait]
pub trait PaymentProvider: Send + Sync + Debug {
    /// Reserves `amount` on the buyer's payment method until the returned
    /// [`Authorization::expires_at`] (typically 7 days).
    async fn authorize(&self, req: &Authorize) -> Decision<Authorization>;

    /// Takes an authorized amount: the point after which money has moved.
    async fn capture(&self, req: &Capture) -> Decision<Captured>;

    /// Cancels an authorization that was not captured. Voiding a voided
    /// authorization is approved again.
    async fn void(&self, req: &Void) -> Decision<()>;

    /// Gives captured money back.
    async fn refund(&self, req: &RefundPayment) -> Decision<Refunded>;
}
