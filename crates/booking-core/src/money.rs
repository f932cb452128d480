//! Money as integer minor units plus an ISO-4217 currency code. No floats.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An ISO-4217 currency code, three ASCII upper-case letters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

/// The reason a currency code was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid currency code {0:?}: expected three upper-case ASCII letters")]
pub struct InvalidCurrency(pub String);

impl Currency {
    /// Euro.
    pub const EUR: Currency = Currency(*b"EUR");
    /// US dollar.
    pub const USD: Currency = Currency(*b"USD");
    /// Pound sterling.
    pub const GBP: Currency = Currency(*b"GBP");
    /// Indian rupee.
    pub const INR: Currency = Currency(*b"INR");

    /// Parses a code such as `"EUR"`.
    pub fn new(code: &str) -> Result<Self, InvalidCurrency> {
        let b = code.as_bytes();
        if b.len() == 3 && b.iter().all(u8::is_ascii_uppercase) {
            Ok(Currency([b[0], b[1], b[2]]))
        } else {
            Err(InvalidCurrency(code.to_owned()))
        }
    }

    /// The code as a string slice.
    pub fn as_str(&self) -> &str {
        // Constructed only from ASCII upper-case letters.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl TryFrom<String> for Currency {
    type Error = InvalidCurrency;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Currency::new(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount of money: minor units (cents, paise) of one currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Amount in the currency's minor unit.
    pub minor: i64,
    /// The currency.
    pub currency: Currency,
}

impl Money {
    /// `minor` units of `currency`.
    pub const fn new(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }

    /// The sum, or `None` on overflow or mixed currencies.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        if self.currency != other.currency {
            return None;
        }
        Some(Money::new(self.minor.checked_add(other.minor)?, self.currency))
    }

    /// `self * n`, or `None` on overflow.
    pub fn checked_mul(self, n: i64) -> Option<Money> {
        Some(Money::new(self.minor.checked_mul(n)?, self.currency))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        write!(f, "{sign}{}.{:02} {}", abs / 100, abs % 100, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_rejects_bad_codes() {
        assert!(Currency::new("eur").is_err());
        assert!(Currency::new("EURO").is_err());
        assert_eq!(Currency::new("EUR").map(|c| c.to_string()), Ok("EUR".to_owned()));
    }

    #[test]
    fn money_arithmetic_is_checked() {
        let a = Money::new(1050, Currency::EUR);
        assert_eq!(a.checked_add(a), Some(Money::new(2100, Currency::EUR)));
        assert_eq!(a.checked_add(Money::new(1, Currency::USD)), None);
        assert_eq!(Money::new(i64::MAX, Currency::EUR).checked_mul(2), None);
        assert_eq!(a.to_string(), "10.50 EUR");
    }
}
