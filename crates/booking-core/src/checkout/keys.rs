//! Keys: the order id derives from the buyer's idempotency key, and the
//! provider keys from the order id, so every retry, resumed saga and
//! completer sends the same keys.

use super::CheckoutRequest;
use crate::idempotency::{Fingerprint, IdempotencyKey};
use crate::ids::{OrderId, OwnerId, PayerKey};
use crate::limits::PaymentFingerprint;
use crate::payments::{PaymentKey, PaymentMethod};
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

/// The payer key a sale is counted under for the per-payment purchase cap:
/// the payment method named as the per-fingerprint rate limit names a card
/// (the method itself, when it is a valid [`PaymentFingerprint`]), else a
/// digest of it (`sha256:` and 32 hex digits), so that every method has one
/// and the same method always the same.
pub fn payer_for(method: &PaymentMethod) -> PayerKey {
    if let Ok(fp) = PaymentFingerprint::new(method.0.clone())
        && let Ok(key) = PayerKey::new(fp.as_str())
    {
        return key;
    }
    let d = Sha256::digest(method.0.as_bytes());
    let hex: String = d[..16].iter().map(|b| format!("{b:02x}")).collect();
    PayerKey::new(format!("sha256:{hex}")).unwrap_or_else(|_| unreachable!("a digest is a valid key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_names_one_payer() {
        let card = PaymentMethod("pm_card_visa".into());
        assert_eq!(payer_for(&card).as_str(), "pm_card_visa");
        assert_eq!(payer_for(&card), payer_for(&card.clone()));
        for odd in ["", "a card with spaces", "{braces}", &"x".repeat(129), "caf\u{e9}"] {
            let k = payer_for(&PaymentMethod(odd.into()));
            assert!(k.as_str().starts_with("sha256:") && k.as_str().len() == 39, "{odd:?}: {k}");
        }
        assert_ne!(payer_for(&PaymentMethod("a b".into())), payer_for(&PaymentMethod("a c".into())));
    }
}
