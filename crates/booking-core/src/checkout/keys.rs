//! Keys: the order id derives from the buyer's idempotency key, and the
//! provider keys from the order id, so every retry, resumed saga and
//! completer sends the same keys.

use super::CheckoutRequest;
use crate::idempotency::{Fingerprint, IdempotencyKey};
use crate::ids::{OrderId, OwnerId};
use crate::payments::PaymentKey;
use sha2::{Digest, Sha256};

/// The order id for a buyer's idempotency key: every retry of a checkout
/// lands on the same order, and the provider keys derive from it.
pub fn order_id_for(buyer: OwnerId, key: &IdempotencyKey) -> OrderId {
    let mut h = Sha256::new();
    h.update(b"booking order\0");
    h.update(buyer.as_u128().to_be_bytes());
    h.update(key.0.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    // A version-8 (custom) UUID.
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    OrderId::from_u128(u128::from_be_bytes(b))
}

pub(super) fn fingerprint(req: &CheckoutRequest) -> Fingerprint {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(&(&req.hold, &req.method)).unwrap_or_default());
    Fingerprint(h.finalize().into())
}

/// The key of one provider call of an order: derived from the order id,
/// itself derived from the buyer's idempotency key.
pub(super) fn pkey(order: OrderId, call: &str) -> PaymentKey {
    PaymentKey(format!("{order}:{call}"))
}
