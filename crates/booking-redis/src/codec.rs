//! Decoding what the scripts return and store.

use crate::keys::parse_hex;
use booking_core::fsm::SeatStatus;
use booking_core::{HoldItems, InventoryError, PoolId, SeatId};
use redis::Value;

/// A malformed reply: the store holds data this library did not write, or
/// a script and the library disagree.
#[derive(Debug)]
pub(crate) struct BadReply(pub(crate) String);

impl std::fmt::Display for BadReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unexpected reply from Redis: {}", self.0)
    }
}

impl std::error::Error for BadReply {}

pub(crate) fn bad(what: impl Into<String>) -> InventoryError {
    InventoryError::Backend(Box::new(BadReply(what.into())))
}

/// A script's reply: a status word followed by its data.
pub(crate) struct Reply(Vec<Value>);

impl Reply {
    pub(crate) fn new(v: Value) -> Result<Reply, InventoryError> {
        match v {
            Value::Array(items) if !items.is_empty() => Ok(Reply(items)),
            other => Err(bad(format!("script reply {other:?}"))),
        }
    }

    pub(crate) fn status(&self) -> &[u8] {
        bytes(&self.0[0]).unwrap_or_default()
    }

    pub(crate) fn int(&self, i: usize) -> Result<i64, InventoryError> {
        self.0.get(i).and_then(int).ok_or_else(|| bad(format!("item {i} is not an integer")))
    }

    pub(crate) fn list(&self, i: usize) -> Result<&[Value], InventoryError> {
        match self.0.get(i) {
            Some(Value::Array(v)) => Ok(v),
            _ => Err(bad(format!("item {i} is not a list"))),
        }
    }

    pub(crate) fn seats(&self, i: usize) -> Result<Vec<SeatId>, InventoryError> {
        self.list(i)?.iter().map(|v| int(v).map(|n| SeatId(n as u32)).ok_or_else(|| bad("seat id"))).collect()
    }
}

pub(crate) fn bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

pub(crate) fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        other => bytes(other).and_then(|b| std::str::from_utf8(b).ok()).and_then(|s| s.parse().ok()),
    }
}

pub(crate) fn hex_id(v: &Value) -> Result<u128, InventoryError> {
    bytes(v).and_then(parse_hex).ok_or_else(|| bad("id"))
}

/// A stored seat's version and status at `now` (lazy expiry applied).
pub(crate) fn seat_status(raw: &[u8], now: i64) -> Option<(u64, SeatStatus)> {
    let s = std::str::from_utf8(raw).ok()?;
    let mut parts = s.split('|');
    let version: u64 = parts.next()?.parse().ok()?;
    let status = match parts.next()? {
        "A" => SeatStatus::Available,
        "H" => {
            let until: i64 = parts.nth(2)?.parse().ok()?;
            if until <= now { SeatStatus::Available } else { SeatStatus::Held }
        }
        "S" => SeatStatus::Sold,
        "B" => SeatStatus::Blocked,
        _ => return None,
    };
    Some((version, status))
}

/// A pool hold record's pool and quantity.
pub(crate) fn pool_hold_units(raw: &[u8]) -> Option<(u32, u32)> {
    let s = std::str::from_utf8(raw).ok()?;
    let mut parts = s.split('|');
    let pool = parts.next()?.parse().ok()?;
    let quantity = parts.nth(1)?.parse().ok()?;
    Some((pool, quantity))
}

/// Items as the change feed stores them: `s:1,2,3` or `p:<pool>:<quantity>`.
pub(crate) fn items(s: &[u8]) -> Option<HoldItems> {
    let s = std::str::from_utf8(s).ok()?;
    if let Some(list) = s.strip_prefix("s:") {
        let seats = list.split(',').map(|n| n.parse().map(SeatId)).collect::<Result<Vec<_>, _>>().ok()?;
        Some(HoldItems::Seats(seats))
    } else {
        let (pool, quantity) = s.strip_prefix("p:")?.split_once(':')?;
        Some(HoldItems::Pool { pool: PoolId(pool.parse().ok()?), quantity: quantity.parse().ok()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seat_states_decode_with_lazy_expiry() {
        assert_eq!(seat_status(b"3|A", 0), Some((3, SeatStatus::Available)));
        let held = format!("7|H|{:032x}|{:032x}|1000|5000|1", 1u128, 2u128);
        assert_eq!(seat_status(held.as_bytes(), 999), Some((7, SeatStatus::Held)));
        assert_eq!(seat_status(held.as_bytes(), 1000), Some((7, SeatStatus::Available)));
        assert_eq!(seat_status(b"2|S|ab|cd", 0), Some((2, SeatStatus::Sold)));
        assert_eq!(seat_status(b"4|B", 0), Some((4, SeatStatus::Blocked)));
        assert_eq!(seat_status(b"garbage", 0), None);
        assert_eq!(seat_status(b"1|H|x", 0), None);
    }

    #[test]
    fn items_round_trip() {
        assert_eq!(items(b"s:1,2,30"), Some(HoldItems::Seats(vec![SeatId(1), SeatId(2), SeatId(30)])));
        assert_eq!(items(b"p:2:5"), Some(HoldItems::Pool { pool: PoolId(2), quantity: 5 }));
        assert_eq!(items(b"x"), None);
        assert_eq!(pool_hold_units(format!("3|{:032x}|4|1|2|0|9", 5u128).as_bytes()), Some((3, 4)));
    }
}
