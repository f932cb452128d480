//! Test cards on the library's simulated card provider.
//!
//! The API takes a card number only to pick a test payment method, the
//! way card providers' test modes do; no card number is stored or sent on:
//!
//! | card | method | outcome |
//! |---|---|---|
//! | `4242424242424242` (or any other number passing the Luhn check) | `pm_card_visa` | approved |
//! | `4000000000000002` | `pm_card_chargeDeclined` | declined (card declined) |
//! | `4000000000009995` | `pm_card_insufficientFunds` | declined (insufficient funds) |

use async_trait::async_trait;
use booking_core::payments::{
    Authorization, Authorize, Capture, Captured, Decision, DeclineReason, PaymentMethod, PaymentProvider,
    RefundPayment, Refunded, Void,
};
use booking_core::testkit::payments::SimulatedProvider;

/// The approving test method.
pub const APPROVED: &str = "pm_card_visa";
/// The declining test method.
pub const DECLINED: &str = "pm_card_chargeDeclined";
/// The test method without funds.
pub const NO_FUNDS: &str = "pm_card_insufficientFunds";

/// The payment method of a test card number, or `None` for a number that
/// is not a card number (12 to 19 digits passing the Luhn check).
pub fn method_for_card(card: &str) -> Option<PaymentMethod> {
    let digits: String = card.chars().filter(|c| *c != ' ' && *c != '-').collect();
    if !(12..=19).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) || !luhn(&digits) {
        return None;
    }
    let method = match digits.as_str() {
        "4000000000000002" => DECLINED,
        "4000000000009995" => NO_FUNDS,
        _ => APPROVED,
    };
    Some(PaymentMethod(method.to_owned()))
}

fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The simulated provider, declining the declining test methods at
/// authorization.
#[derive(Clone, Debug)]
pub struct DemoCards {
    inner: SimulatedProvider,
}

impl DemoCards {
    /// Test cards over `inner`.
    pub fn new(inner: SimulatedProvider) -> Self {
        DemoCards { inner }
    }
}

#[async_trait]
impl PaymentProvider for DemoCards {
    async fn authorize(&self, req: &Authorize) -> Decision<Authorization> {
        match req.method.0.as_str() {
            DECLINED => Decision::Declined(DeclineReason::CardDeclined),
            NO_FUNDS => Decision::Declined(DeclineReason::InsufficientFunds),
            _ => self.inner.authorize(req).await,
        }
    }

    async fn capture(&self, req: &Capture) -> Decision<Captured> {
        self.inner.capture(req).await
    }

    async fn void(&self, req: &Void) -> Decision<()> {
        self.inner.void(req).await
    }

    async fn refund(&self, req: &RefundPayment) -> Decision<Refunded> {
        self.inner.refund(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cards_pick_methods_and_other_input_is_refused() {
        assert_eq!(method_for_card("4242424242424242").map(|m| m.0), Some(APPROVED.to_owned()));
        assert_eq!(method_for_card("4000 0000 0000 0002").map(|m| m.0), Some(DECLINED.to_owned()));
        assert_eq!(method_for_card("4242424242424241"), None, "fails the Luhn check");
        assert_eq!(method_for_card("42424242x2424242"), None);
        assert_eq!(method_for_card("4242"), None);
    }
}
