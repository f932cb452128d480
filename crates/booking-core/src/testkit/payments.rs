//! A simulated card provider with injectable faults, keeping its own
//! ledger so tests can compare it with the saga's.
//!
//! It behaves like a real provider with idempotency keys: a call is applied
//! at most once per key, a repeat gets the first answer, and a key reused
//! for another call is declined. Faults are injected per call kind:
//! declines, timeouts before the call is applied (nothing happened),
//! answers lost after it was applied (it happened; the caller cannot
//! tell), and slow answers. Webhooks are queued for the test to deliver,
//! duplicated or reversed on request.

use crate::checkout::LedgerEntry;
use crate::clock::{Clock, millis_to_datetime};
use crate::money::Money;
use crate::payments::{
    Authorization, Authorize, Capture, Captured, Decision, DeclineReason, PaymentId, PaymentKey, PaymentProvider,
    RefundPayment, Refunded, Void, Webhook, WebhookEvent,
};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// A kind of provider call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallKind {
    /// [`PaymentProvider::authorize`].
    Authorize,
    /// [`PaymentProvider::capture`].
    Capture,
    /// [`PaymentProvider::void`].
    Void,
    /// [`PaymentProvider::refund`].
    Refund,
}

/// A fault to inject into calls of one kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Declined with this reason (nothing applied, the decline is the
    /// key's answer).
    Decline(DeclineReason),
    /// No answer, nothing applied (a timeout before the provider got it).
    Timeout,
    /// Applied, but the answer is lost (a timeout after it was applied).
    LoseAnswer,
    /// Answered only after this long.
    Slow(Duration),
}

/// One call as the provider saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenCall {
    /// Its kind.
    pub kind: CallKind,
    /// Its idempotency key.
    pub key: PaymentKey,
}

#[derive(Clone, Debug)]
struct Payment {
    entry: LedgerEntry,
    expires_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Stored {
    Authorized(Authorization),
    Captured(Captured),
    Voided,
    Refunded(Refunded),
    Declined(DeclineReason),
}

#[derive(Debug, Default)]
struct State {
    /// key -> (kind, parameters, stored answer)
    answers: HashMap<PaymentKey, (CallKind, String, Stored)>,
    payments: BTreeMap<PaymentId, Payment>,
    faults: HashMap<CallKind, VecDeque<Fault>>,
    webhooks: Vec<Webhook>,
    calls: Vec<SeenCall>,
    next: u64,
    duplicate_webhooks: bool,
}

/// A card provider in memory, with faults on demand.
#[derive(Debug, Clone)]
pub struct SimulatedProvider {
    state: Arc<Mutex<State>>,
    clock: Arc<dyn Clock>,
    lifetime: Duration,
}

impl SimulatedProvider {
    /// A provider whose authorizations lapse after 7 days by `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self::with_lifetime(clock, Duration::from_secs(7 * 24 * 3600))
    }

    /// A provider whose authorizations lapse after `lifetime`.
    pub fn with_lifetime(clock: Arc<dyn Clock>, lifetime: Duration) -> Self {
        SimulatedProvider { state: Arc::new(Mutex::new(State::default())), clock, lifetime }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Injects `fault` into the next `times` calls of `kind`
    /// (`u32::MAX` for every call from now on, until [`Self::clear_faults`]).
    pub fn inject(&self, kind: CallKind, fault: Fault, times: u32) {
        let mut s = self.state();
        let q = s.faults.entry(kind).or_default();
        let n = if times == u32::MAX { 100_000 } else { times };
        q.extend(std::iter::repeat_n(fault, n as usize));
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// Sends every webhook twice from now on.
    pub fn duplicate_webhooks(&self, on: bool) {
        self.state().duplicate_webhooks = on;
    }

    /// Takes the queued webhooks, in the order they were raised.
    pub fn take_webhooks(&self) -> Vec<Webhook> {
        std::mem::take(&mut self.state().webhooks)
    }

    /// Every call received, repeats included, in order.
    pub fn calls(&self) -> Vec<SeenCall> {
        self.state().calls.clone()
    }

    /// The provider's ledger: one entry per payment.
    pub fn ledger(&self) -> Vec<LedgerEntry> {
        self.state().payments.values().map(|p| p.entry.clone()).collect()
    }

    fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    /// Runs one call: faults, idempotency, then `apply` for a new key.
    async fn call(
        &self,
        kind: CallKind,
        key: &PaymentKey,
        params: String,
        apply: impl FnOnce(&mut State, i64) -> Stored,
    ) -> Decision<Stored> {
        let fault = {
            let mut s = self.state();
            s.calls.push(SeenCall { kind, key: key.clone() });
            s.faults.get_mut(&kind).and_then(|q| q.pop_front())
        };
        let mut lose = false;
        match fault {
            Some(Fault::Timeout) => return Decision::Unknown("timed out".into()),
            Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
            Some(Fault::LoseAnswer) => lose = true,
            Some(Fault::Decline(r)) => {
                let mut s = self.state();
                if !s.answers.contains_key(key) {
                    s.answers.insert(key.clone(), (kind, params.clone(), Stored::Declined(r)));
                }
            }
            None => {}
        }
        let now = self.now();
        let mut s = self.state();
        let stored = match s.answers.get(key) {
            Some((k, p, stored)) if *k == kind && *p == params => stored.clone(),
            Some(_) => Stored::Declined(DeclineReason::Other("idempotency key reused for another request".into())),
            None => {
                let stored = apply(&mut s, now);
                s.answers.insert(key.clone(), (kind, params, stored.clone()));
                stored
            }
        };
        if lose { Decision::Unknown("answer lost".into()) } else { Decision::Approved(stored) }
    }

    fn webhook(s: &mut State, payment: &PaymentId, event: WebhookEvent) {
        let Some(p) = s.payments.get(payment) else { return };
        s.next += 1;
        let hook = Webhook { id: format!("evt_{}", s.next), order: p.entry.order, payment: payment.clone(), event };
        if s.duplicate_webhooks {
            s.webhooks.push(hook.clone());
        }
        s.webhooks.push(hook);
    }
}

fn settle<T>(d: Decision<Stored>, pick: impl FnOnce(Stored) -> Option<T>) -> Decision<T> {
    match d {
        Decision::Approved(Stored::Declined(r)) => Decision::Declined(r),
        Decision::Approved(s) => pick(s).map_or(Decision::Declined(DeclineReason::InvalidState), Decision::Approved),
        Decision::Declined(r) => Decision::Declined(r),
        Decision::Unknown(why) => Decision::Unknown(why),
    }
}

#[async_trait]
impl PaymentProvider for SimulatedProvider {
    async fn authorize(&self, req: &Authorize) -> Decision<Authorization> {
        let lifetime = crate::clock::saturating_millis(self.lifetime);
        let params = format!("{}|{}|{}", req.order, req.amount, req.method.0);
        let d = self
            .call(CallKind::Authorize, &req.key, params, |s, now| {
                s.next += 1;
                let payment = PaymentId(format!("pi_{}", s.next));
                let zero = Money::new(0, req.amount.currency);
                let expires_at = now.saturating_add(lifetime);
                let entry = LedgerEntry {
                    payment: payment.clone(),
                    order: req.order,
                    authorized: req.amount,
                    captured: zero,
                    refunded: zero,
                    voided: false,
                    capture: None,
                };
                s.payments.insert(payment.clone(), Payment { entry, expires_at });
                let auth = Authorization {
                    payment: payment.clone(),
                    amount: req.amount,
                    expires_at: millis_to_datetime(expires_at),
                };
                Self::webhook(s, &payment, WebhookEvent::Authorized(auth.clone()));
                Stored::Authorized(auth)
            })
            .await;
        settle(d, |s| match s {
            Stored::Authorized(a) => Some(a),
            _ => None,
        })
    }

    async fn capture(&self, req: &Capture) -> Decision<Captured> {
        let params = format!("{}|{}", req.payment.0, req.amount);
        let d = self
            .call(CallKind::Capture, &req.key, params, |s, now| {
                let Some(p) = s.payments.get_mut(&req.payment) else {
                    return Stored::Declined(DeclineReason::InvalidState);
                };
                if p.entry.voided || p.entry.captured.minor > 0 || req.amount.minor > p.entry.authorized.minor {
                    return Stored::Declined(DeclineReason::InvalidState);
                }
                if now >= p.expires_at {
                    return Stored::Declined(DeclineReason::AuthorizationExpired);
                }
                let id = format!("ch_{}", req.payment.0);
                p.entry.captured = req.amount;
                p.entry.capture = Some(id.clone());
                let c = Captured { capture: id, amount: req.amount };
                Self::webhook(s, &req.payment, WebhookEvent::Captured(c.clone()));
                Stored::Captured(c)
            })
            .await;
        settle(d, |s| match s {
            Stored::Captured(c) => Some(c),
            _ => None,
        })
    }

    async fn void(&self, req: &Void) -> Decision<()> {
        let d = self
            .call(CallKind::Void, &req.key, req.payment.0.clone(), |s, _| {
                let Some(p) = s.payments.get_mut(&req.payment) else {
                    return Stored::Declined(DeclineReason::InvalidState);
                };
                if p.entry.captured.minor > 0 {
                    return Stored::Declined(DeclineReason::InvalidState);
                }
                p.entry.voided = true;
                Self::webhook(s, &req.payment, WebhookEvent::Voided);
                Stored::Voided
            })
            .await;
        settle(d, |s| (s == Stored::Voided).then_some(()))
    }

    async fn refund(&self, req: &RefundPayment) -> Decision<Refunded> {
        let params = format!("{}|{}", req.payment.0, req.amount);
        let d = self
            .call(CallKind::Refund, &req.key, params, |s, _| {
                let Some(p) = s.payments.get_mut(&req.payment) else {
                    return Stored::Declined(DeclineReason::InvalidState);
                };
                if p.entry.refunded.minor + req.amount.minor > p.entry.captured.minor {
                    return Stored::Declined(DeclineReason::InvalidState);
                }
                p.entry.refunded = Money::new(p.entry.refunded.minor + req.amount.minor, req.amount.currency);
                s.next += 1;
                let r = Refunded { refund: format!("re_{}", s.next), amount: req.amount };
                Self::webhook(s, &req.payment, WebhookEvent::Refunded(r.clone()));
                Stored::Refunded(r)
            })
            .await;
        settle(d, |s| match s {
            Stored::Refunded(r) => Some(r),
            _ => None,
        })
    }
}
