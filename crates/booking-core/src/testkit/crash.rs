//! Crash tests of the checkout saga: a crash at every write to the saga
//! log, and after every provider call before its answer is saved.

use super::payments::{CallKind, Fault};
use super::saga::{Bench, CheckoutStores};
use crate::checkout::{CheckoutError, Order, OrderStatus, SagaLog, StoreError, WorkerId};
use crate::idempotency::IdempotencyError;
use crate::ids::{OrderId, OwnerId};
use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// A saga log that fails every write after the first `budget` (the
/// process "crashes"), until [`CrashingLog::restart`].
#[derive(Debug)]
struct CrashingLog {
    inner: Arc<dyn SagaLog>,
    budget: AtomicI64,
}

impl CrashingLog {
    fn crashed() -> StoreError {
        StoreError::Backend("crashed".into())
    }

    fn spend(&self) -> Result<(), StoreError> {
        if self.budget.fetch_sub(1, Ordering::SeqCst) <= 0 { Err(Self::crashed()) } else { Ok(()) }
    }
}

#[async_trait]
impl SagaLog for CrashingLog {
    async fn create(&self, order: &Order) -> Result<Order, StoreError> {
        self.spend()?;
        self.inner.create(order).await
    }
    async fn get(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        self.inner.get(id).await
    }
    async fn update(&self, order: &Order) -> Result<(), StoreError> {
        self.spend()?;
        self.inner.update(order).await
    }
    async fn by_buyer(&self, buyer: OwnerId) -> Result<Vec<Order>, StoreError> {
        self.inner.by_buyer(buyer).await
    }
    async fn claim_unfinished(&self, w: WorkerId, lease: Duration, limit: usize) -> Result<Vec<Order>, StoreError> {
        self.inner.claim_unfinished(w, lease, limit).await
    }
    async fn list(&self, after: Option<OrderId>, limit: usize) -> Result<Vec<Order>, StoreError> {
        self.inner.list(after, limit).await
    }
}

/// A crash at every step boundary (every write to the saga log), and after
/// every provider call before its answer is saved: after a restart, the
/// completer and a retry of the request, a completed order exists if and
/// only if a capture exists and the seats are sold; a capture without sold
/// seats is refunded; the provider saw one key per operation.
pub async fn crash_at_every_step_boundary<F, Fut>(fresh: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = CheckoutStores>,
{
    for scenario in ["sold", "declined", "lost hold"] {
        let mut boundary = 0;
        loop {
            let stores = fresh().await;
            let crashing = Arc::new(CrashingLog { inner: stores.log.clone(), budget: AtomicI64::new(boundary) });
            let b = Bench::with_log(stores, Some(crashing.clone())).await;
            let buyer = OwnerId::new();
            let h = b.hold(buyer, &[3]).await;
            match scenario {
                "declined" => b.provider.inject(
                    CallKind::Capture,
                    Fault::Decline(crate::payments::DeclineReason::CardDeclined),
                    1,
                ),
                // The capture's answers are lost until the hold has lapsed
                // and the seat was taken by someone else.
                "lost hold" => b.provider.inject(CallKind::Capture, Fault::LoseAnswer, 2),
                _ => {}
            }
            let req = b.request(&h, "crash");
            let first = b.checkout.checkout(&req).await;
            let crashed = crashing.budget.load(Ordering::SeqCst) < 0;
            if scenario == "lost hold" {
                b.stores.clock.set(h.held_until);
                b.hold(OwnerId::new(), &[3]).await;
            }
            // Restart: writes work again; leases and retry times pass.
            crashing.budget.store(i64::MAX, Ordering::SeqCst);
            b.complete_all(10).await;
            let reply = loop {
                match b.checkout.checkout(&req).await {
                    Ok(r) => break r,
                    Err(CheckoutError::Pending { .. }) => b.complete_all(3).await,
                    Err(CheckoutError::Idempotency(IdempotencyError::InProgress { .. })) => {
                        b.stores.clock.advance(chrono::Duration::seconds(31))
                    }
                    Err(e) => panic!("{scenario}, crash at write {boundary}: {e:?}"),
                }
            };
            let order = crate::checkout::order_id_for(buyer, &req.key);
            let o = b.stores.log.get(order).await.expect("get");
            let status = o.as_ref().map(|o| o.status);
            match scenario {
                "sold" => assert_eq!(status, Some(OrderStatus::Completed), "{scenario}, crash at write {boundary}"),
                "declined" => assert_eq!(status, Some(OrderStatus::Declined), "{scenario}, crash at write {boundary}"),
                // Depending on where the crash was, the hold was found lost
                // before the capture (no order, or declined) or after it
                // (refunded).
                _ => assert!(
                    matches!(status, None | Some(OrderStatus::Declined | OrderStatus::Refunded)),
                    "{scenario}, crash at write {boundary}: {status:?}"
                ),
            }
            assert_eq!(reply.receipt().map(|r| r.status), status);
            let audit = b.stores.inventory.audit(b.show.id).await.expect("audit");
            let sold_here = audit.sales.iter().any(|s| s.sale.order == order);
            let captured = b.provider.ledger().iter().any(|e| e.order == order && e.captured.minor > 0);
            assert_eq!(status == Some(OrderStatus::Completed), captured && sold_here, "{scenario} at {boundary}");
            if captured && !sold_here {
                assert_eq!(status, Some(OrderStatus::Refunded), "a capture without seats is refunded");
            }
            b.assert_money_balances().await;
            b.assert_one_key_per_operation();
            if !crashed {
                // Every write of this scenario went through: all its
                // boundaries were crashed at.
                assert!(boundary > 3, "{scenario}: too few boundaries ({boundary}) for a saga");
                let _ = first;
                break;
            }
            boundary += 1;
            assert!(boundary < 50, "the saga never finished without a crash");
        }
    }
}

/// A crash right after each provider call, before its answer is saved:
/// the call is applied at the provider but the saga never hears of it
/// (authorize and capture on the way to a sale, void after a declined
/// capture, refund after a lost hold). Recovery repeats the call with the
/// same key and finishes as if nothing had happened.
pub async fn crash_after_every_provider_call<F, Fut>(fresh: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = CheckoutStores>,
{
    for kind in [CallKind::Authorize, CallKind::Capture, CallKind::Void, CallKind::Refund] {
        let b = Bench::new(fresh().await).await;
        let h = b.hold(OwnerId::new(), &[5]).await;
        let expected = match kind {
            CallKind::Void => {
                b.provider.inject(CallKind::Capture, Fault::Decline(crate::payments::DeclineReason::CardDeclined), 1);
                OrderStatus::Declined
            }
            CallKind::Refund => OrderStatus::Refunded,
            _ => OrderStatus::Completed,
        };
        // The call's answer is lost, and so is every answer after it in
        // this run: the process is gone.
        let lost = if kind == CallKind::Refund { CallKind::Capture } else { kind };
        b.provider.inject(lost, Fault::LoseAnswer, 1);
        b.provider.inject(lost, Fault::Timeout, 10);
        let req = b.request(&h, "lost");
        let _ = b.checkout.checkout(&req).await;
        b.provider.clear_faults();
        if kind == CallKind::Refund {
            // The hold lapses and the seat is sold elsewhere before the
            // saga learns of its capture: it must refund.
            b.stores.clock.set(h.held_until);
            b.hold(OwnerId::new(), &[5]).await;
            b.provider.inject(CallKind::Refund, Fault::LoseAnswer, 1);
        }
        b.complete_all(10).await;
        let reply = b.checkout.checkout(&req).await.expect("final answer");
        assert_eq!(reply.receipt().expect("receipt").status, expected, "lost answer of {kind:?}");
        assert_eq!(b.provider.ledger().len(), 1, "one payment");
        b.assert_money_balances().await;
        b.assert_one_key_per_operation();
    }
}
