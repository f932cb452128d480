//! Checkout: orders, their prices, and the saga that turns a hold into sold
//! seats and captured money, crash-safely.
//!
//! The saga's steps are `verify hold -> create order -> authorize ->
//! capture (the pivot) -> sell -> notify`. Before the pivot every step has a
//! compensation (void the authorization, release the hold); after it the
//! steps are retried until they succeed, and a sale that cannot happen
//! (the hold expired and its seats went to someone else) is refunded. Each
//! step's outcome is written to the order's record, the saga log, before
//! the next step starts, so a process killed anywhere is resumed by the
//! [`Completer`] or by a retry of the same request. See docs/design.md,
//! "Checkout", for why each step is where it is.
//!
//! The parts are ports, so that every store can hold them:
//! [`SagaLog`] (orders and their progress), [`Outbox`] (messages to
//! deliver at least once), the payment provider
//! ([`crate::payments::PaymentProvider`]) and the idempotency-key store
//! ([`crate::idempotency::IdempotencyStore`]). [`Checkout`] is the service
//! over them.

mod audit;
mod keys;
mod pricing;
mod saga;
mod webhooks;
mod workers;

pub use audit::{LedgerEntry, MoneyAudit, MoneyProblem, audit_money};
pub use keys::{order_id_for, payer_for};
pub use pricing::{Fee, FeePolicy, LineItem, PriceTable, Priced, Pricing, PricingError};
pub use saga::{Checkout, CheckoutConfig, CheckoutError, CheckoutReply, CheckoutRequest, Receipt, Refusal};
pub use workers::{Completer, CompleterStats, Deliver, OutboxRelay, RelayStats};

use crate::idempotency::IdempotencyKey;
use crate::ids::{OrderId, OwnerId, ShowId};
use crate::inventory::{HoldToken, Sale};
use crate::payments::{Captured, DeclineReason, PaymentId, PaymentMethod, Refunded};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::time::Duration;
use thiserror::Error;

/// Where an order stands. `Completed`, `Declined`, `Refunded` and
/// `NeedsAttention` are final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Recorded, priced; nothing asked of the provider yet.
    Created,
    /// The amount is reserved on the buyer's payment method.
    Authorized,
    /// The money was taken: from here on the order ends sold or refunded.
    Captured,
    /// The seats are sold to the order.
    Sold,
    /// Sold and the buyer notified (tickets ready): final.
    Completed,
    /// Being undone before the pivot: void the authorization, release the
    /// hold.
    Cancelling,
    /// Undone before any money moved (declined, or the hold was lost before
    /// capture): final.
    Declined,
    /// Captured but the seats could not be sold: being refunded.
    Refunding,
    /// Refunded in full: final.
    Refunded,
    /// A compensation kept failing: parked for a person, with an event
    /// raised: final until someone acts.
    NeedsAttention,
}

impl OrderStatus {
    /// True for statuses no step follows.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OrderStatus::Completed | OrderStatus::Declined | OrderStatus::Refunded | OrderStatus::NeedsAttention
        )
    }
}

/// A saga step, as the log names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Step {
    /// The hold was checked and the order recorded.
    Create,
    /// Authorize the amount.
    Authorize,
    /// Re-check the hold before taking money.
    Reverify,
    /// Capture the amount (the pivot).
    Capture,
    /// Sell the held seats to the order.
    Sell,
    /// Tell the buyer through the outbox.
    Notify,
    /// Cancel the authorization.
    Void,
    /// Release the hold.
    Release,
    /// Give the money back.
    Refund,
}

/// What one attempt of a step came to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepOutcome {
    /// Done.
    Done,
    /// Refused for good, with the reason.
    Failed(String),
    /// No answer: to be tried again.
    Unknown(String),
}

/// One line of the saga log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SagaEntry {
    /// The step.
    pub step: Step,
    /// Its outcome.
    pub outcome: StepOutcome,
    /// When it was recorded.
    pub at: DateTime<Utc>,
}

/// An order and its saga: the record the saga log keeps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Derived from the buyer and the idempotency key ([`order_id_for`]).
    pub id: OrderId,
    /// The show.
    pub show: ShowId,
    /// The buyer.
    pub buyer: OwnerId,
    /// The buyer's idempotency key; the keys sent to the provider derive
    /// from the order id, itself derived from it.
    pub key: IdempotencyKey,
    /// The hold being bought.
    pub hold: HoldToken,
    /// The payment method.
    pub method: PaymentMethod,
    /// Line items, fees and total.
    pub priced: Priced,
    /// Where the saga stands.
    pub status: OrderStatus,
    /// The provider's payment, once authorized.
    pub payment: Option<PaymentId>,
    /// The capture, once captured.
    pub capture: Option<Captured>,
    /// The refund, once refunded.
    pub refund: Option<Refunded>,
    /// The sale, once sold.
    pub sale: Option<Sale>,
    /// Why the order was declined, refunded or parked.
    pub reason: Option<String>,
    /// Failed or unknown attempts of the current step.
    pub attempts: u32,
    /// Not before this instant is the current step tried again.
    pub retry_at: Option<DateTime<Utc>>,
    /// Webhook event ids already handled.
    pub webhooks: Vec<String>,
    /// Every step's outcome, in order.
    pub log: Vec<SagaEntry>,
    /// Bumped by every update: the saga log's compare-and-set.
    pub version: u64,
    /// When the order was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Order {
    /// The decline reason, for declined orders that have one.
    pub fn decline(&self) -> Option<&str> {
        self.reason.as_deref()
    }
}

/// Why a store refused or failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record changed since it was read (its version moved on): read it
    /// again and decide again.
    #[error("the record changed since it was read")]
    Conflict,
    /// No such record.
    #[error("not found")]
    NotFound,
    /// The store failed.
    #[error("store: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Who holds a claim on a record (a completer or relay instance).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WorkerId(pub u128);

/// Orders and their saga progress.
///
/// Updates are compare-and-set on [`Order::version`], so two executors of
/// one saga (a retry racing a completer, two completers) never both record
/// a step: the second gets `Conflict`, reads again and carries on from what
/// the first recorded.
#[async_trait]
pub trait SagaLog: Send + Sync + Debug {
    /// Records a new order (version 1), or returns the one already recorded
    /// under its id.
    async fn create(&self, order: &Order) -> Result<Order, StoreError>;

    /// The order, if recorded.
    async fn get(&self, id: OrderId) -> Result<Option<Order>, StoreError>;

    /// Replaces the order if its stored version is `order.version - 1`.
    /// Errors: `Conflict`, `NotFound`.
    async fn update(&self, order: &Order) -> Result<(), StoreError>;

    /// A buyer's orders, oldest first.
    async fn by_buyer(&self, buyer: OwnerId) -> Result<Vec<Order>, StoreError>;

    /// Up to `limit` orders whose status is not final, whose retry time has
    /// come and that no other worker claimed in the last `lease`; claims
    /// them for `worker` (claims do not change versions). Two workers
    /// claiming at once get disjoint sets.
    async fn claim_unfinished(&self, worker: WorkerId, lease: Duration, limit: usize)
    -> Result<Vec<Order>, StoreError>;

    /// Every order, by id, `limit` at a time after `after`.
    async fn list(&self, after: Option<OrderId>, limit: usize) -> Result<Vec<Order>, StoreError>;
}

/// A message to deliver at least once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxMessage {
    /// Unique per message; enqueuing an id again changes nothing, and
    /// consumers dedupe by it.
    pub id: String,
    /// What kind of message (`order.completed`, `order.needs_attention`).
    pub topic: String,
    /// The content, JSON by convention.
    pub payload: String,
    /// Deliveries attempted so far.
    pub attempts: u32,
}

/// The outbox topic of a completed order; the payload is its
/// [`Receipt`] as JSON, sale included.
pub const ORDER_COMPLETED: &str = "order.completed";

/// Messages waiting for delivery.
#[async_trait]
pub trait Outbox: Send + Sync + Debug {
    /// Adds a message unless one with its id exists (delivered or not).
    async fn enqueue(&self, msg: &OutboxMessage) -> Result<(), StoreError>;

    /// Up to `limit` undelivered messages not claimed in the last `lease`,
    /// claimed for `worker`, their attempts counted.
    async fn claim(&self, worker: WorkerId, lease: Duration, limit: usize) -> Result<Vec<OutboxMessage>, StoreError>;

    /// Marks a message delivered.
    async fn ack(&self, id: &str) -> Result<(), StoreError>;

    /// Messages not yet delivered.
    async fn pending(&self) -> Result<usize, StoreError>;
}

/// Why the provider declined, as an order records it.
pub fn decline_text(reason: &DeclineReason) -> String {
    match reason {
        DeclineReason::Other(s) => s.clone(),
        r => format!("{r:?}"),
    }
}
