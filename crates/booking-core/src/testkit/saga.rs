//! The checkout saga's tests, run by every backend over its own stores with
//! the [`SimulatedProvider`]: the happy path, declines, a hold lost during
//! payment, replays sequential and concurrent, compensations that fail
//! briefly and for good, racing completers, webhooks, and a crash at every
//! step boundary and after every provider call.

use super::payments::{CallKind, Fault, SimulatedProvider};
use crate::checkout::{
    Checkout, CheckoutConfig, CheckoutError, CheckoutRequest, Completer, FeePolicy, Order, OrderStatus, Outbox,
    PriceTable, SagaLog, WorkerId, audit_money,
};
use crate::clock::ManualClock;
use crate::idempotency::{IdempotencyError, IdempotencyKey, IdempotencyStore};
use crate::ids::{OrderId, OwnerId, PriceCategory, SeatId};
use crate::inventory::{Hold, HoldItems, HoldSeats, HoldToken, SeatInventory};
use crate::layout::{ShowSpec, VenueLayout};
use crate::money::{Currency, Money};
use crate::payments::PaymentMethod;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// A backend's checkout stores, all deciding time by `clock`. Every call of
/// the factory must give fresh stores (or a fresh namespace in shared
/// ones).
pub struct CheckoutStores {
    /// The inventory.
    pub inventory: Arc<dyn SeatInventory>,
    /// The saga log.
    pub log: Arc<dyn SagaLog>,
    /// The outbox.
    pub outbox: Arc<dyn Outbox>,
    /// The idempotency-key store.
    pub keys: Arc<dyn IdempotencyStore>,
    /// The clock every store reads.
    pub clock: ManualClock,
}

/// A checkout over a backend's stores, with a simulated provider and a
/// price list for one show, ready for a test.
pub struct Bench {
    /// The stores.
    pub stores: CheckoutStores,
    /// The provider.
    pub provider: SimulatedProvider,
    /// The checkout.
    pub checkout: Checkout,
    /// The show on sale: one row of 10 seats at EUR 50.00, fees EUR 2.50
    /// per ticket and EUR 1.00 per order.
    pub show: ShowSpec,
}

/// What one seat costs on the bench's show, fees included, plus the
/// per-order fee.
pub fn total_for(seats: i64) -> Money {
    Money::new(seats * (5_000 + 250) + 100, Currency::new("EUR").expect("EUR"))
}

fn config() -> CheckoutConfig {
    CheckoutConfig {
        key_lease: Duration::from_secs(30),
        attempts_per_run: 2,
        backoff: Duration::from_millis(1),
        backoff_cap: Duration::from_millis(2),
        retry_delay: Duration::from_secs(5),
        max_compensation_runs: 3,
    }
}

impl Bench {
    /// A bench over `stores`.
    pub async fn new(stores: CheckoutStores) -> Bench {
        Self::with_log(stores, None).await
    }

    pub(super) async fn with_log(stores: CheckoutStores, log: Option<Arc<dyn SagaLog>>) -> Bench {
        Self::with_policy(stores, log, crate::layout::HoldPolicy::default()).await
    }

    /// A bench whose show has `policy`.
    pub(super) async fn with_policy(
        stores: CheckoutStores,
        log: Option<Arc<dyn SagaLog>>,
        policy: crate::layout::HoldPolicy,
    ) -> Bench {
        let show = ShowSpec::new("checkout", VenueLayout::grid(1, 1, 10, PriceCategory(1))).with_policy(policy);
        stores.inventory.create_show(&show).await.expect("create show");
        let eur = Currency::new("EUR").expect("EUR");
        let prices = PriceTable::new();
        prices
            .set_show(
                &show,
                BTreeMap::from([(PriceCategory(1), Money::new(5_000, eur))]),
                FeePolicy { per_ticket: 250, per_order: 100 },
            )
            .expect("prices");
        let provider = SimulatedProvider::new(stores.clock.shared());
        let log = log.unwrap_or_else(|| stores.log.clone());
        let checkout = Checkout::new(
            stores.inventory.clone(),
            Arc::new(provider.clone()),
            log.clone(),
            stores.outbox.clone(),
            stores.keys.clone(),
            Arc::new(prices),
            stores.clock.shared(),
            config(),
        );
        Bench { stores, provider, checkout, show }
    }

    /// Holds `seats` for `buyer`.
    pub async fn hold(&self, buyer: OwnerId, seats: &[u32]) -> Hold {
        let req = HoldSeats { show: self.show.id, owner: buyer, seats: seats.iter().copied().map(SeatId).collect() };
        self.stores.inventory.hold_seats(&req).await.expect("hold")
    }

    /// A checkout request for `hold` under `key`.
    pub fn request(&self, hold: &Hold, key: &str) -> CheckoutRequest {
        CheckoutRequest {
            buyer: hold.owner,
            key: IdempotencyKey(key.into()),
            hold: hold.token.clone(),
            method: PaymentMethod("pm_card_visa".into()),
        }
    }

    /// A completer over the bench's checkout.
    pub fn completer(&self) -> Completer {
        Completer::new(self.checkout.clone(), Duration::from_secs(60), 100)
    }

    /// Moves every clock past the retry delay and the key lease, then runs
    /// the completer until no order is left to claim (at most `rounds`).
    pub async fn complete_all(&self, rounds: usize) {
        let completer = self.completer();
        for _ in 0..rounds {
            self.stores.clock.advance(chrono::Duration::seconds(61));
            let s = completer.run_once().await.expect("completer");
            if s.claimed == 0 {
                return;
            }
        }
    }

    /// Every order of the log.
    pub async fn orders(&self) -> Vec<Order> {
        self.stores.log.list(None, 100_000).await.expect("list")
    }

    /// Asserts money conservation: the audit of the log, the provider's
    /// ledger and the show's sale records is clean.
    pub async fn assert_money_balances(&self) {
        let audit = self.stores.inventory.audit(self.show.id).await.expect("inventory audit");
        let money = audit_money(&self.orders().await, &self.provider.ledger(), &audit.sales);
        assert!(money.is_clean(), "money audit: {money:#?}");
    }

    /// Asserts the provider saw one idempotency key per (order, operation).
    pub fn assert_one_key_per_operation(&self) {
        let mut keys: HashMap<(String, CallKind), HashSet<String>> = HashMap::new();
        for c in self.provider.calls() {
            let order = c.key.0.split(':').next().unwrap_or_default().to_owned();
            keys.entry((order, c.kind)).or_default().insert(c.key.0.clone());
        }
        assert!(keys.values().all(|k| k.len() == 1), "several keys for one operation: {keys:?}");
    }
}

async fn status(b: &Bench, order: OrderId) -> OrderStatus {
    b.stores.log.get(order).await.expect("get").expect("order").status
}

fn seat_status(snap: &crate::inventory::Snapshot, seat: u32) -> crate::backend::fsm::SeatStatus {
    snap.seats[seat as usize].status
}

/// A checkout takes the hold to sold seats and captured money: one order,
/// one capture of the total, the sale recorded with the capture, the buyer
/// notified through the outbox.
pub async fn checkout_sells_and_charges_once(stores: CheckoutStores) {
    let b = Bench::new(stores).await;
    let buyer = OwnerId::new();
    let h = b.hold(buyer, &[2, 3]).await;
    let reply = b.checkout.checkout(&b.request(&h, "k1")).await.expect("checkout");
    assert_eq!(reply.response.status, 201);
    assert!(!reply.replay);
    let r = reply.receipt().expect("receipt");
    assert_eq!((r.status, r.total), (OrderStatus::Completed, total_for(2)));
    let sale = r.sale.expect("sale");
    assert_eq!(sale.items, HoldItems::Seats(vec![SeatId(2), SeatId(3)]));
    let snap = b.stores.inventory.snapshot(b.show.id).await.expect("snapshot");
    assert_eq!(seat_status(&snap, 2), crate::backend::fsm::SeatStatus::Sold);
    let ledger = b.provider.ledger();
    assert_eq!(ledger.len(), 1);
    assert_eq!((ledger[0].captured, ledger[0].order), (total_for(2), r.order));
    let order = b.stores.log.get(r.order).await.expect("get").expect("order");
    assert_eq!(order.buyer, buyer);
    assert_eq!(b.stores.log.by_buyer(buyer).await.expect("by buyer"), vec![order]);
    assert_eq!(b.stores.outbox.pending().await.expect("pending"), 1);
    b.assert_money_balances().await;
    b.assert_one_key_per_operation();
}

/// Declined payments give the seats back and keep no money: at
/// authorization (nothing reserved) and at capture (the authorization is
/// voided).
pub async fn checkout_declines_release_the_hold(stores: CheckoutStores) {
    let b = Bench::new(stores).await;
    for (kind, seats, key) in
        [(CallKind::Authorize, [1u32], "auth-declined"), (CallKind::Capture, [2], "capture-declined")]
    {
        b.provider.inject(kind, Fault::Decline(crate::payments::DeclineReason::InsufficientFunds), 1);
        let h = b.hold(OwnerId::new(), &seats).await;
        let reply = b.checkout.checkout(&b.request(&h, key)).await.expect("checkout");
        assert_eq!(reply.response.status, 402, "{kind:?}");
        let r = reply.receipt().expect("receipt");
        assert_eq!(r.status, OrderStatus::Declined);
        assert_eq!(r.reason.as_deref(), Some("InsufficientFunds"));
        let snap = b.stores.inventory.snapshot(b.show.id).await.expect("snapshot");
        assert_eq!(seat_status(&snap, seats[0]), crate::backend::fsm::SeatStatus::Available, "{kind:?}: hold released");
    }
    let ledger = b.provider.ledger();
    assert_eq!(ledger.len(), 1, "the declined authorization made no payment");
    assert!(ledger[0].voided, "the declined capture's authorization is voided");
    b.assert_money_balances().await;
}

/// A token that is not the buyer's current, whole hold is refused before
/// any money is asked for, with a final response that replays.
pub async fn checkout_refuses_bad_holds(stores: CheckoutStores) {
    let b = Bench::new(stores).await;
    let h = b.hold(OwnerId::new(), &[4, 5]).await;
    let mut partial = b.request(&h, "partial");
    partial.hold = HoldToken { items: HoldItems::Seats(vec![SeatId(4)]), ..h.token.clone() };
    let reply = b.checkout.checkout(&partial).await.expect("checkout");
    assert_eq!(reply.response.status, 409);
    assert!(reply.receipt().is_none());
    assert_eq!(b.checkout.checkout(&partial).await.expect("replay").response, reply.response);
    let mut thief = b.request(&h, "thief");
    thief.buyer = OwnerId::new();
    assert_eq!(b.checkout.checkout(&thief).await.expect("checkout").response.status, 409);
    assert!(b.provider.calls().is_empty(), "no provider call for a bad hold");
    assert!(b.orders().await.is_empty());
    let e = b.checkout.checkout(&CheckoutRequest { key: IdempotencyKey(String::new()), ..b.request(&h, "") }).await;
    assert!(matches!(e, Err(CheckoutError::Idempotency(IdempotencyError::InvalidKey))), "{e:?}");
}

/// The same checkout sent 20 times one after another and 20 times at once:
/// one order, one capture, identical responses; the same key with another
/// request is refused.
pub async fn checkout_replays_are_identical(stores: CheckoutStores) {
    let b = Bench::new(stores).await;
    let h = b.hold(OwnerId::new(), &[6]).await;
    let req = b.request(&h, "retry-me");
    let first = b.checkout.checkout(&req).await.expect("checkout");
    for _ in 0..20 {
        let again = b.checkout.checkout(&req).await.expect("replay");
        assert!(again.replay);
        assert_eq!(again.response, first.response);
    }
    let mut other = req.clone();
    other.method = PaymentMethod("pm_other".into());
    assert!(matches!(b.checkout.checkout(&other).await, Err(CheckoutError::Idempotency(IdempotencyError::Mismatch))));

    let h2 = b.hold(OwnerId::new(), &[7]).await;
    let req2 = b.request(&h2, "at-once");
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (c, r) = (b.checkout.clone(), req2.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                match c.checkout(&r).await {
                    Err(CheckoutError::Idempotency(IdempotencyError::InProgress { retry_after })) => {
                        tokio::time::sleep(retry_after.min(Duration::from_millis(5))).await
                    }
                    other => return other,
                }
            }
        }));
    }
    let mut responses = HashSet::new();
    for t in tasks {
        responses.insert(t.await.expect("task").expect("checkout").response);
    }
    assert_eq!(responses.len(), 1, "identical responses");
    let orders: HashSet<OrderId> = b.orders().await.iter().map(|o| o.id).collect();
    assert_eq!(orders.len(), 2, "one order per key");
    assert_eq!(b.provider.ledger().iter().filter(|e| e.captured.minor > 0).count(), 2, "one capture per order");
    b.assert_money_balances().await;
    b.assert_one_key_per_operation();
}

/// A hold that expires while the payment is in flight ends sold (the
/// capture came in time) or refunded; never sold to someone else while
/// this buyer is charged.
pub async fn checkout_hold_lost_during_payment_is_refunded(stores: CheckoutStores) {
    let b = Bench::new(stores).await;
    // The capture goes through at the provider but its answer is lost,
    // several times over: the request gives up, pending.
    b.provider.inject(CallKind::Capture, Fault::LoseAnswer, 2);
    let buyer = OwnerId::new();
    let h = b.hold(buyer, &[8]).await;
    let req = b.request(&h, "slow-capture");
    let e = b.checkout.checkout(&req).await;
    assert!(matches!(e, Err(CheckoutError::Pending { .. })), "{e:?}");
    // The hold lapses and another buyer takes and buys the seat.
    b.stores.clock.set(h.held_until);
    let rival = b.hold(OwnerId::new(), &[8]).await;
    let rival_reply = b.checkout.checkout(&b.request(&rival, "rival")).await.expect("rival checkout");
    assert_eq!(rival_reply.receipt().expect("receipt").status, OrderStatus::Completed);
    // The provider's webhook (sent twice) tells the saga about the capture.
    let order = crate::checkout::order_id_for(buyer, &req.key);
    let hooks: Vec<_> = b.provider.take_webhooks().into_iter().filter(|w| w.order == order).collect();
    for w in hooks.iter().chain(hooks.iter()).rev() {
        b.checkout.handle_webhook(w).await.expect("webhook");
    }
    assert_eq!(status(&b, order).await, OrderStatus::Refunded);
    let reply = b.checkout.checkout(&req).await.expect("final answer");
    assert_eq!(reply.response.status, 409);
    assert_eq!(reply.receipt().expect("receipt").status, OrderStatus::Refunded);
    let entry = b.provider.ledger().into_iter().find(|e| e.order == order).expect("payment");
    assert_eq!(entry.captured, entry.refunded, "charged and refunded in full");
    b.assert_money_balances().await;

    // In time: a slow capture within the hold's life ends sold.
    b.provider.inject(CallKind::Capture, Fault::Slow(Duration::from_millis(20)), 1);
    let h = b.hold(OwnerId::new(), &[9]).await;
    let reply = b.checkout.checkout(&b.request(&h, "in-time")).await.expect("checkout");
    assert_eq!(reply.receipt().expect("receipt").status, OrderStatus::Completed);
    b.assert_money_balances().await;
}

/// Buyers paying with one payment method share the show's per-payment
/// cap: the sale that would pass it is refused after the capture, so the
/// order is refunded in full and the seats stay unsold; another method
/// still buys.
pub async fn checkout_payment_cap_refunds_the_sale_it_refuses(stores: CheckoutStores) {
    let policy = crate::layout::HoldPolicy { max_tickets_per_payment: Some(2), ..Default::default() };
    let b = Bench::with_policy(stores, None, policy).await;
    let h = b.hold(OwnerId::new(), &[0, 1]).await;
    let reply = b.checkout.checkout(&b.request(&h, "first")).await.expect("checkout");
    assert_eq!(reply.receipt().expect("receipt").status, OrderStatus::Completed, "2 of 2");
    let late = b.hold(OwnerId::new(), &[2]).await;
    let reply = b.checkout.checkout(&b.request(&late, "second")).await.expect("checkout");
    let r = reply.receipt().expect("receipt");
    assert_eq!((reply.response.status, r.status), (409, OrderStatus::Refunded), "one card, a second buyer");
    let order = b.stores.log.get(r.order).await.expect("get").expect("order");
    assert!(order.reason.as_deref().unwrap_or_default().contains("payer would have bought 3"), "{order:?}");
    let entry = b.provider.ledger().into_iter().find(|e| e.order == r.order).expect("payment");
    assert_eq!(entry.captured, entry.refunded, "charged and refunded in full");
    let snap = b.stores.inventory.snapshot(b.show.id).await.expect("snapshot");
    assert_eq!(seat_status(&snap, 2), crate::backend::fsm::SeatStatus::Held, "not sold");
    let other = b.hold(OwnerId::new(), &[3]).await;
    let req = CheckoutRequest { method: PaymentMethod("pm_card_mastercard".into()), ..b.request(&other, "third") };
    let reply = b.checkout.checkout(&req).await.expect("checkout");
    assert_eq!(reply.receipt().expect("receipt").status, OrderStatus::Completed, "another card");
    b.assert_money_balances().await;
}

/// A provider that does not answer leaves the order pending; the
/// completer finishes it once the provider answers again.
pub async fn completer_finishes_unanswered_orders(stores: CheckoutStores) {
    let b = Bench::new(stores).await;
    b.provider.inject(CallKind::Authorize, Fault::Timeout, u32::MAX);
    let h = b.hold(OwnerId::new(), &[0]).await;
    let req = b.request(&h, "no-answer");
    assert!(matches!(b.checkout.checkout(&req).await, Err(CheckoutError::Pending { .. })));
    let order = crate::checkout::order_id_for(h.owner, &req.key);
    assert_eq!(status(&b, order).await, OrderStatus::Created);
    let s = b.completer().run_once().await.expect("completer");
    assert_eq!(s.claimed, 0, "not before its retry time");
    b.stores.clock.advance(chrono::Duration::seconds(6));
    let s = b.completer().run_once().await.expect("completer");
    assert_eq!((s.claimed, s.pending), (1, 1));
    b.provider.clear_faults();
    b.complete_all(5).await;
    assert_eq!(status(&b, order).await, OrderStatus::Completed);
    let replay = b.checkout.checkout(&req).await.expect("final answer");
    assert_eq!(replay.receipt().expect("receipt").status, OrderStatus::Completed);
    b.assert_money_balances().await;
}

/// A void or refund that fails briefly is retried until it goes through;
/// one that keeps failing parks the order as needing attention, with one
/// event raised; the seats are released exactly once either way.
pub async fn compensations_retry_then_park(stores: CheckoutStores) {
    let b = Bench::new(stores).await;
    let mut feed = b.stores.inventory.subscribe(b.show.id).await.expect("subscribe");
    // Briefly: the capture is declined and the void times out twice.
    b.provider.inject(CallKind::Capture, Fault::Decline(crate::payments::DeclineReason::CardDeclined), 1);
    b.provider.inject(CallKind::Void, Fault::Timeout, 2);
    let brief = b.hold(OwnerId::new(), &[1]).await;
    let e = b.checkout.checkout(&b.request(&brief, "brief")).await;
    assert!(matches!(e, Err(CheckoutError::Pending { .. })), "{e:?}");
    b.complete_all(5).await;
    let brief_order = crate::checkout::order_id_for(brief.owner, &IdempotencyKey("brief".into()));
    assert_eq!(status(&b, brief_order).await, OrderStatus::Declined);
    // For good: the capture is declined and every void fails.
    b.provider.inject(CallKind::Capture, Fault::Decline(crate::payments::DeclineReason::CardDeclined), 1);
    b.provider.inject(
        CallKind::Void,
        Fault::Decline(crate::payments::DeclineReason::Other("provider down".into())),
        u32::MAX,
    );
    let stuck = b.hold(OwnerId::new(), &[2]).await;
    let _ = b.checkout.checkout(&b.request(&stuck, "stuck")).await;
    b.complete_all(10).await;
    let stuck_order = crate::checkout::order_id_for(stuck.owner, &IdempotencyKey("stuck".into()));
    assert_eq!(status(&b, stuck_order).await, OrderStatus::NeedsAttention);
    let worker = WorkerId(77);
    let msgs = b.stores.outbox.claim(worker, Duration::from_secs(1), 100).await.expect("claim");
    let attention: Vec<_> = msgs.iter().filter(|m| m.topic == "order.needs_attention").collect();
    assert_eq!(attention.len(), 1, "one event raised");
    assert!(attention[0].id.starts_with(&stuck_order.to_string()));
    // Each hold was released once.
    let mut released: HashMap<crate::ids::HoldId, usize> = HashMap::new();
    loop {
        let next = std::future::poll_fn(|cx| feed.as_mut().poll_next(cx));
        let Ok(Some(Ok(change))) = tokio::time::timeout(Duration::from_millis(100), next).await else { break };
        if change.kind == crate::inventory::ChangeKind::Released
            && let Some(h) = change.hold
        {
            *released.entry(h).or_default() += 1;
        }
    }
    assert_eq!(released.get(&brief.token.hold), Some(&1));
    assert_eq!(released.get(&stuck.token.hold), Some(&1));
    // A refund that keeps failing parks the order too: the capture's answer
    // is lost until the hold lapsed and the seat went to someone else, and
    // every refund is declined.
    b.provider.clear_faults();
    b.provider.inject(CallKind::Capture, Fault::LoseAnswer, 2);
    let lost = b.hold(OwnerId::new(), &[3]).await;
    let _ = b.checkout.checkout(&b.request(&lost, "refund-stuck")).await;
    b.stores.clock.set(lost.held_until);
    b.hold(OwnerId::new(), &[3]).await;
    b.provider.inject(
        CallKind::Refund,
        Fault::Decline(crate::payments::DeclineReason::Other("refunds down".into())),
        u32::MAX,
    );
    b.complete_all(10).await;
    let lost_order = crate::checkout::order_id_for(lost.owner, &IdempotencyKey("refund-stuck".into()));
    let o = b.stores.log.get(lost_order).await.expect("get").expect("order");
    assert_eq!(o.status, OrderStatus::NeedsAttention);
    assert!(o.reason.as_deref().is_some_and(|r| r.contains("Refund")), "{:?}", o.reason);
    let msgs = b.stores.outbox.claim(worker, Duration::from_secs(1), 100).await.expect("claim");
    assert!(msgs.iter().any(|m| m.topic == "order.needs_attention" && m.id.starts_with(&lost_order.to_string())));
    b.assert_money_balances().await;
}

/// Two completers racing over the same unfinished sagas finish each once.
pub async fn racing_completers_finish_each_saga_once(stores: CheckoutStores) {
    let b = Bench::new(stores).await;
    b.provider.inject(CallKind::Capture, Fault::Timeout, 6 * 2);
    let mut orders = Vec::new();
    for seat in 0..6 {
        let h = b.hold(OwnerId::new(), &[seat]).await;
        let req = b.request(&h, &format!("race-{seat}"));
        assert!(matches!(b.checkout.checkout(&req).await, Err(CheckoutError::Pending { .. })));
        orders.push(crate::checkout::order_id_for(h.owner, &req.key));
    }
    b.stores.clock.advance(chrono::Duration::seconds(61));
    let (c1, c2) = (b.completer(), b.completer());
    let (r1, r2) = tokio::join!(c1.run_once(), c2.run_once());
    let (r1, r2) = (r1.expect("completer"), r2.expect("completer"));
    assert_eq!(r1.claimed + r2.claimed, 6, "each saga claimed by one completer");
    b.complete_all(5).await;
    for o in &orders {
        assert_eq!(status(&b, *o).await, OrderStatus::Completed);
    }
    assert_eq!(b.provider.ledger().iter().filter(|e| e.captured.minor > 0).count(), 6);
    assert_eq!(b.stores.outbox.pending().await.expect("pending"), 6, "one notice per order");
    b.assert_money_balances().await;
    b.assert_one_key_per_operation();
}

/// Expands to one `#[tokio::test]` per saga test, each calling
/// `$factory().await` for fresh [`CheckoutStores`].
#[macro_export]
macro_rules! checkout_suite {
    ($factory:path) => {
        $crate::checkout_suite!(@each $factory;
            checkout_sells_and_charges_once,
            checkout_declines_release_the_hold,
            checkout_refuses_bad_holds,
            checkout_replays_are_identical,
            checkout_hold_lost_during_payment_is_refunded,
            checkout_payment_cap_refunds_the_sale_it_refuses,
            completer_finishes_unanswered_orders,
            compensations_retry_then_park,
            racing_completers_finish_each_saga_once,
        );
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn crash_at_every_step_boundary() {
            $crate::testkit::crash::crash_at_every_step_boundary($factory).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn crash_after_every_provider_call() {
            $crate::testkit::crash::crash_after_every_provider_call($factory).await;
        }
    };
    (@each $factory:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                $crate::testkit::saga::$name($factory().await).await;
            }
        )*
    };
}
