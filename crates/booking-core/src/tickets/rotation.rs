//! Rotating codes: a time-based code in the QR text, so that a screenshot
//! stops working within seconds.
//!
//! How the secrets travel, offline included:
//!
//! - Each show that uses rotating codes has a [`RotationKey`] (32 random
//!   bytes), kept by the issuer and handed to the show's scanners with
//!   each sync ([`super::ScannerSync`]).
//! - Each ticket's [`RotationSecret`] is derived from it:
//!   HMAC-SHA256(show key, `"booking/ticket-rotation/v1"` || ticket id ||
//!   version). The holder's phone receives this secret with the ticket
//!   (never inside the QR code); a scanner derives it again from the show
//!   key and the signed ticket, with no network. A reissue (a new version)
//!   changes the secret, so the previous holder's phone can no longer make
//!   codes.
//! - The code for time step `t` (Unix time divided by the step, 15 s by
//!   default) is the first 8 bytes of HMAC-SHA256(ticket secret, `t` as 8
//!   bytes big-endian), in the spirit of TOTP (RFC 6238) with a longer code
//!   since a QR code is not typed in. The scanner accepts the steps within
//!   a small skew of its own clock (±1 step by default), compared in
//!   constant time.
//!
//! Time comes from the injected [`Clock`](crate::Clock) of the phone and of
//! the scanner; their clocks may differ by up to the skew.

use super::TicketId;
use super::codec::CODE_LEN;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;
use std::time::Duration;

type HmacSha256 = Hmac<Sha256>;

/// A show's rotation key, from which every ticket's secret is derived.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationKey(pub [u8; 32]);

impl fmt::Debug for RotationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RotationKey(..)")
    }
}

/// One ticket version's rotation secret: what the holder's phone keeps to
/// make codes.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationSecret(pub [u8; 32]);

impl fmt::Debug for RotationSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RotationSecret(..)")
    }
}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length: this cannot fail.
    match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    }
}

impl RotationKey {
    /// The secret of `version` of `ticket`.
    pub fn secret(&self, ticket: TicketId, version: u32) -> RotationSecret {
        let mut m = mac(&self.0);
        m.update(b"booking/ticket-rotation/v1");
        m.update(ticket.0.as_bytes());
        m.update(&version.to_be_bytes());
        RotationSecret(m.finalize().into_bytes().into())
    }
}

impl RotationSecret {
    /// The code of time step `step`.
    pub fn code(&self, step: u64) -> [u8; CODE_LEN] {
        let mut m = mac(&self.0);
        m.update(&step.to_be_bytes());
        let full = m.finalize().into_bytes();
        let mut code = [0u8; CODE_LEN];
        code.copy_from_slice(&full[..CODE_LEN]);
        code
    }

    /// Whether `code` is the code of `step`, compared in constant time.
    pub fn matches(&self, step: u64, code: &[u8; CODE_LEN]) -> bool {
        let mut m = mac(&self.0);
        m.update(&step.to_be_bytes());
        m.verify_truncated_left(code).is_ok()
    }
}

/// How long a code lives and how much clock skew scanners forgive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationPolicy {
    /// The time step (15 s by default; at least 1 s).
    pub step: Duration,
    /// Steps accepted on either side of the scanner's own (1 by default).
    pub skew_steps: u32,
}

impl Default for RotationPolicy {
    fn default() -> Self {
        RotationPolicy { step: Duration::from_secs(15), skew_steps: 1 }
    }
}

impl RotationPolicy {
    /// The step at Unix time `millis` (times before 1970 are step 0).
    pub fn step_at(&self, millis: i64) -> u64 {
        let step_ms = crate::clock::saturating_millis(self.step).max(1_000);
        u64::try_from(millis.max(0) / step_ms).unwrap_or(0)
    }

    /// The skew, bounded to 40 steps whatever the configuration says (a
    /// wider window would let old screenshots through).
    pub(crate) fn skew(&self) -> u64 {
        u64::from(self.skew_steps.min(40))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_depend_on_ticket_and_version_and_codes_on_the_step() {
        let key = RotationKey([7; 32]);
        let t = TicketId(uuid::Uuid::from_u128(5));
        let s1 = key.secret(t, 1);
        assert_eq!(s1, key.secret(t, 1));
        assert_ne!(s1, key.secret(t, 2));
        assert_ne!(s1, key.secret(TicketId(uuid::Uuid::from_u128(6)), 1));
        assert_ne!(s1, RotationKey([8; 32]).secret(t, 1));
        assert_ne!(s1.code(10), s1.code(11));
        assert!(s1.matches(10, &s1.code(10)));
        assert!(!s1.matches(11, &s1.code(10)));
        let p = RotationPolicy::default();
        assert_eq!((p.step_at(0), p.step_at(14_999), p.step_at(15_000), p.step_at(-5)), (0, 0, 1, 0));
        assert_eq!(format!("{key:?} {s1:?}"), "RotationKey(..) RotationSecret(..)");
    }
}
