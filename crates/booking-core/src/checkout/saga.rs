//! The checkout saga: the service that takes a buyer's hold through
//! payment to sold seats, recording each step before the next.

use super::keys::{fingerprint, order_id_for, payer_for, pkey};
use super::{
    Order, OrderStatus, Outbox, OutboxMessage, Priced, Pricing, SagaEntry, SagaLog, Step, StepOutcome, StoreError,
    decline_text,
};
use crate::clock::{Clock, millis_to_datetime};
use crate::error::InventoryError;
use crate::idempotency::{Begin, IdempotencyError, IdempotencyKey, IdempotencyStore, Started, StoredResponse};
use crate::ids::PaymentRef;
use crate::ids::{OrderId, OwnerId};
use crate::inventory::{HoldAction, HoldToken, Sale, SeatInventory, Sell};
use crate::money::Money;
use crate::payments::{
    Authorize, Capture, Decision, DeclineReason, PaymentMethod, PaymentProvider, RefundPayment, Void,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use thiserror::Error;

/// A buyer's request to pay for a hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutRequest {
    /// The buyer: the hold's owner, and the principal of the key.
    pub buyer: OwnerId,
    /// The buyer's idempotency key: a retry sends the same one.
    pub key: IdempotencyKey,
    /// The hold to buy (its newest token).
    pub hold: HoldToken,
    /// How the buyer pays.
    pub method: PaymentMethod,
}

/// The answer to a checkout: a final response, first-hand or replayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckoutReply {
    /// The response, byte for byte the same for every replay.
    pub response: StoredResponse,
    /// True when the response was stored by an earlier request.
    pub replay: bool,
}

impl CheckoutReply {
    /// The receipt in the response body, when the request got as far as an
    /// order.
    pub fn receipt(&self) -> Option<Receipt> {
        serde_json::from_slice(&self.response.body).ok()
    }
}

/// The body of a checkout response that reached an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The order.
    pub order: OrderId,
    /// Its final status.
    pub status: OrderStatus,
    /// What it cost (charged when completed; refunded or never taken
    /// otherwise).
    pub total: Money,
    /// The sale, when completed.
    pub sale: Option<Sale>,
    /// Why it was declined, refunded or parked.
    pub reason: Option<String>,
}

/// The body of a checkout response refused before an order was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// What was wrong, for people.
    pub error: String,
}

/// Why a checkout has no final answer (yet).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CheckoutError {
    /// The idempotency key cannot be used: another request with it is in
    /// flight (retry later), or it was used for another request.
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError),
    /// The order's outcome is not known yet (the provider or a store did
    /// not answer). It will be finished by the completer; the same request
    /// sent again resumes it and gets its final answer.
    #[error("order {order} is in progress; retry the same request later")]
    Pending {
        /// The order.
        order: OrderId,
    },
    /// The inventory could not be reached before any order was made.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// The saga log or outbox failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Tuning of the saga.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckoutConfig {
    /// How long a request holds its idempotency key before a duplicate may
    /// take it over (a crashed request's lease runs out).
    pub key_lease: Duration,
    /// Calls with no answer repeated within one run of a step.
    pub attempts_per_run: u32,
    /// First backoff between those repeats; doubles, capped, jittered.
    pub backoff: Duration,
    /// The backoff cap.
    pub backoff_cap: Duration,
    /// After a run of a step without an answer, the completer tries it
    /// again no earlier than this.
    pub retry_delay: Duration,
    /// Runs of a void or refund (declined or unanswered) after which the
    /// order is parked as needing attention.
    pub max_compensation_runs: u32,
}

impl Default for CheckoutConfig {
    fn default() -> Self {
        CheckoutConfig {
            key_lease: Duration::from_secs(60),
            attempts_per_run: 3,
            backoff: Duration::from_millis(50),
            backoff_cap: Duration::from_secs(2),
            retry_delay: Duration::from_secs(5),
            max_compensation_runs: 5,
        }
    }
}

/// What one run of a step came to.
enum Next {
    /// Record this order (the step's outcome) and go on.
    Save(Order),
    /// No answer: record the attempt and stop until the retry time.
    Stall(Order),
}

/// The checkout service, generic over its ports.
#[derive(Debug, Clone)]
pub struct Checkout {
    inventory: Arc<dyn SeatInventory>,
    payments: Arc<dyn PaymentProvider>,
    pub(super) log: Arc<dyn SagaLog>,
    outbox: Arc<dyn Outbox>,
    keys: Arc<dyn IdempotencyStore>,
    pricing: Arc<dyn Pricing>,
    clock: Arc<dyn Clock>,
    config: CheckoutConfig,
    jitter: Arc<AtomicU64>,
}

impl Checkout {
    /// A checkout over its ports; `clock` stamps the saga log and decides
    /// retry times (the stores' own clock decides their leases).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        inventory: Arc<dyn SeatInventory>,
        payments: Arc<dyn PaymentProvider>,
        log: Arc<dyn SagaLog>,
        outbox: Arc<dyn Outbox>,
        keys: Arc<dyn IdempotencyStore>,
        pricing: Arc<dyn Pricing>,
        clock: Arc<dyn Clock>,
        config: CheckoutConfig,
    ) -> Self {
        let seed = clock.now_millis() as u64 | 1;
        Checkout {
            inventory,
            payments,
            log,
            outbox,
            keys,
            pricing,
            clock,
            config,
            jitter: Arc::new(AtomicU64::new(seed)),
        }
    }

    /// The saga log.
    pub fn log(&self) -> &Arc<dyn SagaLog> {
        &self.log
    }

    /// Pays for a hold: the whole saga, once per idempotency key.
    ///
    /// The same request again (same buyer, key, hold and method) gets the
    /// first final response back, marked as a replay; it resumes the order
    /// if the first request stopped before the end. Errors are the cases
    /// without a final response: see [`CheckoutError`].
    pub async fn checkout(&self, req: &CheckoutRequest) -> Result<CheckoutReply, CheckoutError> {
        req.key.validate()?;
        let fp = fingerprint(req);
        let begin = Begin { principal: req.buyer, key: req.key.clone(), fingerprint: fp, lease: self.config.key_lease };
        let lease = match self.keys.begin(&begin).await? {
            Started::Replay(response) => return Ok(CheckoutReply { response, replay: true }),
            Started::Run { lease, .. } => lease,
        };
        match self.run(req).await {
            Ok(response) => {
                match self.keys.finish(req.buyer, &req.key, lease, &response).await {
                    // Our lease ran out and a retry took the key over: it
                    // drives the same order to the same final response.
                    Ok(()) | Err(IdempotencyError::NotHeld) => {}
                    Err(e) => return Err(e.into()),
                }
                Ok(CheckoutReply { response, replay: false })
            }
            Err(e) => {
                // No final answer: free the key so that a retry resumes.
                let _ = self.keys.release(req.buyer, &req.key, lease).await;
                Err(e)
            }
        }
    }

    async fn run(&self, req: &CheckoutRequest) -> Result<StoredResponse, CheckoutError> {
        let id = order_id_for(req.buyer, &req.key);
        if let Some(order) = self.log.get(id).await? {
            return Ok(response(&self.drive(order).await?));
        }
        let action = HoldAction { owner: req.buyer, token: req.hold.clone() };
        match self.inventory.verify(&action).await {
            Ok(_) => {}
            Err(e) if is_transient(&e) => return Err(e.into()),
            Err(e) => return Ok(refusal(409, &e.to_string())),
        }
        let priced = match self.pricing.price(req.hold.show, &req.hold.items) {
            Ok(p) => p,
            Err(e) => return Ok(refusal(422, &e.to_string())),
        };
        let order = self.new_order(id, req, priced);
        let order = self.log.create(&order).await?;
        Ok(response(&self.drive(order).await?))
    }

    fn new_order(&self, id: OrderId, req: &CheckoutRequest, priced: Priced) -> Order {
        let now = self.now();
        Order {
            id,
            show: req.hold.show,
            buyer: req.buyer,
            key: req.key.clone(),
            hold: req.hold.clone(),
            method: req.method.clone(),
            priced,
            status: OrderStatus::Created,
            payment: None,
            capture: None,
            refund: None,
            sale: None,
            reason: None,
            attempts: 0,
            retry_at: None,
            webhooks: Vec::new(),
            log: vec![SagaEntry { step: Step::Create, outcome: StepOutcome::Done, at: now }],
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    /// Takes an order as far as it goes now: to a final status, or to a
    /// step without an answer (`Pending`). Safe to run concurrently with
    /// other runs of the same order: each step is recorded once.
    pub async fn drive(&self, mut order: Order) -> Result<Order, CheckoutError> {
        while !order.status.is_final() {
            let next = self.step(&order).await?;
            let (mut new, stalled) = match next {
                Next::Save(o) => (o, false),
                Next::Stall(o) => (o, true),
            };
            new.version = order.version + 1;
            new.updated_at = self.now();
            match self.log.update(&new).await {
                Ok(()) => order = new,
                Err(StoreError::Conflict) => {
                    // Someone else recorded a step: carry on from theirs.
                    order = self.log.get(order.id).await?.ok_or(StoreError::NotFound)?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            if stalled {
                return Err(CheckoutError::Pending { order: order.id });
            }
        }
        Ok(order)
    }

    /// One run of the current step.
    async fn step(&self, order: &Order) -> Result<Next, CheckoutError> {
        let id = order.id;
        Ok(match order.status {
            OrderStatus::Created => {
                let req = Authorize {
                    key: pkey(id, "authorize"),
                    order: id,
                    amount: order.priced.total,
                    method: order.method.clone(),
                };
                match self.retrying(|| self.payments.authorize(&req)).await {
                    Decision::Approved(a) => {
                        let mut o = self.advance(order, Step::Authorize, StepOutcome::Done, OrderStatus::Authorized);
                        o.payment = Some(a.payment);
                        Next::Save(o)
                    }
                    Decision::Declined(r) => Next::Save(self.decline(order, Step::Authorize, &r)),
                    Decision::Unknown(why) => self.stall(order, Step::Authorize, why),
                }
            }
            OrderStatus::Authorized if !capture_may_be_sent(order) => {
                // The last moment to back out without moving money: is the
                // hold still ours? The check is written down before the
                // capture is sent, so that a capture whose answer was lost
                // is always repeated, never voided.
                let action = HoldAction { owner: order.buyer, token: order.hold.clone() };
                match self.inventory.verify(&action).await {
                    Ok(_) => {
                        let mut o = order.clone();
                        o.log.push(self.entry(Step::Reverify, StepOutcome::Done));
                        Next::Save(o)
                    }
                    Err(e) if is_transient(&e) => self.stall(order, Step::Reverify, e.to_string()),
                    Err(e) => {
                        let mut o = self.advance(
                            order,
                            Step::Reverify,
                            StepOutcome::Failed(e.to_string()),
                            OrderStatus::Cancelling,
                        );
                        o.reason = Some(format!("hold lost before payment: {e}"));
                        Next::Save(o)
                    }
                }
            }
            OrderStatus::Authorized => {
                let Some(payment) = order.payment.clone() else {
                    return Ok(Next::Save(self.park(order, "authorized without a payment id").await?));
                };
                let req = Capture { key: pkey(id, "capture"), payment, amount: order.priced.total };
                match self.retrying(|| self.payments.capture(&req)).await {
                    Decision::Approved(c) => {
                        let mut o = self.advance(order, Step::Capture, StepOutcome::Done, OrderStatus::Captured);
                        o.capture = Some(c);
                        Next::Save(o)
                    }
                    Decision::Declined(r) => Next::Save(self.decline(order, Step::Capture, &r)),
                    Decision::Unknown(why) => self.stall(order, Step::Capture, why),
                }
            }
            OrderStatus::Captured => {
                let Some(capture) = &order.capture else {
                    return Ok(Next::Save(self.park(order, "captured without a capture id").await?));
                };
                let sell = Sell {
                    owner: order.buyer,
                    token: order.hold.clone(),
                    order: id,
                    payment: PaymentRef(capture.capture.clone()),
                    // Counted under the show's per-payment cap; a refusal
                    // is a failed sale after capture: refunded below.
                    payer: Some(payer_for(&order.method)),
                };
                match self.inventory.sell(&sell).await {
                    Ok(sale) => {
                        let mut o = self.advance(order, Step::Sell, StepOutcome::Done, OrderStatus::Sold);
                        o.sale = Some(sale);
                        Next::Save(o)
                    }
                    Err(e) if is_transient(&e) => self.stall(order, Step::Sell, e.to_string()),
                    Err(e) => {
                        let mut o =
                            self.advance(order, Step::Sell, StepOutcome::Failed(e.to_string()), OrderStatus::Refunding);
                        o.reason = Some(format!("paid but not sold: {e}"));
                        Next::Save(o)
                    }
                }
            }
            OrderStatus::Sold => {
                let msg = OutboxMessage {
                    id: format!("{id}:completed"),
                    topic: super::ORDER_COMPLETED.into(),
                    payload: serde_json::to_string(&receipt(order)).unwrap_or_default(),
                    attempts: 0,
                };
                match self.outbox.enqueue(&msg).await {
                    Ok(()) => Next::Save(self.advance(order, Step::Notify, StepOutcome::Done, OrderStatus::Completed)),
                    Err(e) => self.stall(order, Step::Notify, e.to_string()),
                }
            }
            OrderStatus::Cancelling if !done(order, Step::Release) => {
                // Seats first: they go back to sale exactly once, whatever
                // becomes of the void.
                let action = HoldAction { owner: order.buyer, token: order.hold.clone() };
                match self.inventory.release(&action).await {
                    Err(e) if is_transient(&e) => self.stall(order, Step::Release, e.to_string()),
                    // Released now, or no longer held anyway.
                    _ => {
                        let mut o = order.clone();
                        o.log.push(self.entry(Step::Release, StepOutcome::Done));
                        Next::Save(o)
                    }
                }
            }
            OrderStatus::Cancelling => match order.payment.clone() {
                None => Next::Save(self.advance(order, Step::Void, StepOutcome::Done, OrderStatus::Declined)),
                Some(payment) => {
                    let req = Void { key: pkey(id, "void"), payment };
                    match self.retrying(|| self.payments.void(&req)).await {
                        Decision::Approved(()) | Decision::Declined(DeclineReason::AuthorizationExpired) => {
                            Next::Save(self.advance(order, Step::Void, StepOutcome::Done, OrderStatus::Declined))
                        }
                        Decision::Declined(r) => self.compensation_failed(order, Step::Void, decline_text(&r)).await?,
                        Decision::Unknown(why) => self.compensation_failed(order, Step::Void, why).await?,
                    }
                }
            },
            OrderStatus::Refunding => {
                let (Some(payment), Some(capture)) = (order.payment.clone(), order.capture.clone()) else {
                    return Ok(Next::Save(self.park(order, "refunding without a capture").await?));
                };
                let req = RefundPayment { key: pkey(id, "refund"), payment, amount: capture.amount };
                match self.retrying(|| self.payments.refund(&req)).await {
                    Decision::Approved(r) => {
                        let mut o = self.advance(order, Step::Refund, StepOutcome::Done, OrderStatus::Refunded);
                        o.refund = Some(r);
                        Next::Save(o)
                    }
                    Decision::Declined(r) => self.compensation_failed(order, Step::Refund, decline_text(&r)).await?,
                    Decision::Unknown(why) => self.compensation_failed(order, Step::Refund, why).await?,
                }
            }
            OrderStatus::Completed | OrderStatus::Declined | OrderStatus::Refunded | OrderStatus::NeedsAttention => {
                Next::Save(order.clone())
            }
        })
    }

    /// A declined authorization or capture: undo what was done.
    fn decline(&self, order: &Order, step: Step, reason: &DeclineReason) -> Order {
        let text = decline_text(reason);
        let mut o = self.advance(order, step, StepOutcome::Failed(text.clone()), OrderStatus::Cancelling);
        o.reason = Some(text);
        o
    }

    /// A void or refund that did not go through: try again later, or park
    /// the order once it has failed too often.
    async fn compensation_failed(&self, order: &Order, step: Step, why: String) -> Result<Next, CheckoutError> {
        if order.attempts + 1 >= self.config.max_compensation_runs {
            let mut o = order.clone();
            o.log.push(self.entry(step, StepOutcome::Failed(why.clone())));
            return Ok(Next::Save(self.park(&o, &format!("{step:?} kept failing: {why}")).await?));
        }
        Ok(self.stall(order, step, why))
    }

    /// Parks an order for a person, raising an event (once: the outbox
    /// dedupes by id).
    async fn park(&self, order: &Order, why: &str) -> Result<Order, CheckoutError> {
        let mut o = order.clone();
        o.status = OrderStatus::NeedsAttention;
        o.reason = Some(why.to_owned());
        o.attempts = 0;
        o.retry_at = None;
        let msg = OutboxMessage {
            id: format!("{}:attention", order.id),
            topic: "order.needs_attention".into(),
            payload: serde_json::to_string(&receipt(&o)).unwrap_or_default(),
            attempts: 0,
        };
        self.outbox.enqueue(&msg).await?;
        Ok(o)
    }

    fn stall(&self, order: &Order, step: Step, why: String) -> Next {
        let mut o = order.clone();
        o.attempts += 1;
        let delay = chrono::Duration::from_std(self.config.retry_delay).unwrap_or(chrono::Duration::MAX);
        o.retry_at = Some(self.now().checked_add_signed(delay).unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC));
        o.log.push(self.entry(step, StepOutcome::Unknown(why)));
        Next::Stall(o)
    }

    fn advance(&self, order: &Order, step: Step, outcome: StepOutcome, status: OrderStatus) -> Order {
        let mut o = order.clone();
        o.log.push(self.entry(step, outcome));
        o.status = status;
        o.attempts = 0;
        o.retry_at = None;
        o
    }

    fn entry(&self, step: Step, outcome: StepOutcome) -> SagaEntry {
        SagaEntry { step, outcome, at: self.now() }
    }

    pub(super) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        millis_to_datetime(self.clock.now_millis())
    }

    /// Repeats a provider call with the same key while it has no answer,
    /// with capped, jittered exponential backoff.
    async fn retrying<T, F, Fut>(&self, call: F) -> Decision<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Decision<T>>,
    {
        let mut wait = self.config.backoff;
        let mut last = Decision::Unknown("not tried".into());
        for attempt in 0..self.config.attempts_per_run.max(1) {
            if attempt > 0 {
                tokio::time::sleep(self.jittered(wait)).await;
                wait = (wait * 2).min(self.config.backoff_cap);
            }
            last = call().await;
            if !matches!(last, Decision::Unknown(_)) {
                break;
            }
        }
        last
    }

    /// Half to all of `wait`, drawn from a xorshift generator.
    fn jittered(&self, wait: Duration) -> Duration {
        let mut x = self.jitter.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.jitter.store(x, Ordering::Relaxed);
        let nanos = wait.as_nanos().min(u128::from(u64::MAX)) as u64;
        Duration::from_nanos(nanos / 2 + x % (nanos / 2 + 1))
    }
}

/// True once the saga has written down that the capture may be sent.
fn capture_may_be_sent(order: &Order) -> bool {
    done(order, Step::Reverify)
}

fn done(order: &Order, step: Step) -> bool {
    order.log.iter().any(|e| e.step == step && e.outcome == StepOutcome::Done)
}

/// Errors that say nothing about the request: the store did not answer.
fn is_transient(e: &InventoryError) -> bool {
    matches!(e, InventoryError::Unavailable(_) | InventoryError::OutcomeUnknown(_) | InventoryError::Backend(_))
}

fn receipt(order: &Order) -> Receipt {
    Receipt {
        order: order.id,
        status: order.status,
        total: order.priced.total,
        sale: order.sale.clone(),
        reason: order.reason.clone(),
    }
}

/// The final response for a finished order.
fn response(order: &Order) -> StoredResponse {
    let status = match order.status {
        OrderStatus::Completed => 201,
        OrderStatus::Declined => 402,
        OrderStatus::Refunded => 409,
        _ => 202,
    };
    StoredResponse { status, body: serde_json::to_vec(&receipt(order)).unwrap_or_default() }
}

fn refusal(status: u16, error: &str) -> StoredResponse {
    StoredResponse { status, body: serde_json::to_vec(&Refusal { error: error.to_owned() }).unwrap_or_default() }
}
