//! Decoding what the scripts return and store.

use crate::keys::parse_hex;
use booking_core::backend::fsm::{PoolHold, PoolSale, Seat, SeatState, SeatStatus};
use booking_core::clock::millis_to_datetime;
use booking_core::{
    Audit, HoldId, HoldItems, HoldToken, InventoryError, OrderId, OwnerId, PayerKey, PaymentRef, PoolAudit, PoolId,
    Sale, SaleRecord, SeatId, ShowId, ShowSpec,
};
use redis::Value;
use std::collections::HashMap;

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

    pub(crate) fn bytes(&self, i: usize) -> Result<&[u8], InventoryError> {
        self.0.get(i).and_then(bytes).ok_or_else(|| bad(format!("item {i} is not a string")))
    }

    /// A refusal's data, after its code: the seats it names (a list) or
    /// the number it carries (see `booking_core::backend::refusal::Refusal`),
    /// none when the script answered only the code.
    pub(crate) fn refusal_data(&self) -> Result<(Vec<SeatId>, i64), InventoryError> {
        match self.0.get(1) {
            None => Ok((Vec::new(), 0)),
            Some(Value::Array(_)) => Ok((self.seats(1)?, 0)),
            Some(v) => Ok((Vec::new(), int(v).ok_or_else(|| bad("refusal number"))?)),
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

/// What a sale record stores besides its order (the hash field) and the
/// version the sale answered: the owner, token, payment and (when there
/// is one) payer, as a JSON array; records without a payer keep the
/// three-element form they had before payers existed.
pub(crate) fn record_parts(
    owner: OwnerId,
    token: &HoldToken,
    payment: &PaymentRef,
    payer: Option<&PayerKey>,
) -> Result<String, InventoryError> {
    let json = match payer {
        None => serde_json::to_string(&(owner, token, payment)),
        Some(payer) => serde_json::to_string(&(owner, token, payment, payer)),
    };
    json.map_err(|e| bad(format!("sale record: {e}")))
}

/// A sale record as the scripts store it: `<version>|<json>`.
pub(crate) fn encode_record(r: &SaleRecord) -> Result<String, InventoryError> {
    Ok(format!("{}|{}", r.sale.version, record_parts(r.sale.owner, &r.token, &r.payment, r.payer.as_ref())?))
}

/// The sale record of `order` in `show`, as the scripts store it.
pub(crate) fn decode_record(show: ShowId, order: OrderId, raw: &[u8]) -> Result<SaleRecord, InventoryError> {
    let text = std::str::from_utf8(raw).map_err(|_| bad("sale record"))?;
    let (version, json) = text.split_once('|').ok_or_else(|| bad("sale record"))?;
    let version = version.parse().map_err(|_| bad("sale record version"))?;
    let (owner, token, payment, payer) = match serde_json::from_str::<(OwnerId, HoldToken, PaymentRef, PayerKey)>(json)
    {
        Ok((owner, token, payment, payer)) => (owner, token, payment, Some(payer)),
        Err(_) => {
            let (owner, token, payment): (OwnerId, HoldToken, PaymentRef) =
                serde_json::from_str(json).map_err(|e| bad(format!("sale record: {e}")))?;
            (owner, token, payment, None)
        }
    };
    let sale = Sale { show, order, owner, items: token.items.clone(), version };
    Ok(SaleRecord { sale, token, payment, payer })
}

/// A stored seat as the state machine's seat (absent: available at 0).
pub(crate) fn seat(raw: &[u8]) -> Option<Seat> {
    let s = std::str::from_utf8(raw).ok()?;
    let mut parts = s.split('|');
    let version = parts.next()?.parse().ok()?;
    let id = |p: &str| parse_hex(p.as_bytes());
    let state = match parts.next()? {
        "A" => SeatState::Available,
        "H" => SeatState::Held {
            owner: OwnerId::from_u128(id(parts.next()?)?),
            hold: HoldId::from_u128(id(parts.next()?)?),
            until: parts.next()?.parse().ok()?,
            deadline: parts.next()?.parse().ok()?,
            renewals: parts.next()?.parse().ok()?,
            size: parts.next()?.parse().ok()?,
        },
        "S" => SeatState::Sold {
            owner: OwnerId::from_u128(id(parts.next()?)?),
            order: OrderId::from_u128(id(parts.next()?)?),
        },
        "B" => SeatState::Blocked,
        _ => return None,
    };
    Some(Seat { state, version })
}

/// Field/value pairs of an `HGETALL` answer.
fn pairs(v: &[Value]) -> impl Iterator<Item = (&[u8], &[u8])> {
    v.chunks(2).filter_map(|p| match p {
        [f, v] => Some((bytes(f)?, bytes(v)?)),
        _ => None,
    })
}

/// Decodes the audit script's answer.
pub(crate) fn decode_audit(spec: &ShowSpec, r: &Reply) -> Result<Audit, InventoryError> {
    let now = r.int(1)?;
    let mut seats = vec![Seat::default(); spec.layout.seat_count()];
    for (field, raw) in pairs(r.list(2)?) {
        if field == b"#" {
            continue;
        }
        let i: usize = std::str::from_utf8(field).ok().and_then(|f| f.parse().ok()).ok_or_else(|| bad("seat field"))?;
        if let Some(slot) = seats.get_mut(i) {
            *slot = seat(raw).ok_or_else(|| bad("seat state"))?;
        }
    }
    let fields: HashMap<&[u8], i64> =
        pairs(r.list(3)?).filter_map(|(f, v)| Some((f, std::str::from_utf8(v).ok()?.parse().ok()?))).collect();
    let n = spec.pools.len();
    let mut holds: Vec<Vec<PoolHold>> = vec![Vec::new(); n];
    for (hold, raw) in pairs(r.list(4)?) {
        let text = std::str::from_utf8(raw).map_err(|_| bad("pool hold"))?;
        let p: Vec<&str> = text.split('|').collect();
        let [pool, owner, quantity, until, deadline, renewals, version] = p[..] else { return Err(bad("pool hold")) };
        let num = |s: &str| s.parse::<i64>().map_err(|_| bad("pool hold number"));
        let h = PoolHold {
            hold: HoldId::from_u128(parse_hex(hold).ok_or_else(|| bad("pool hold id"))?),
            owner: OwnerId::from_u128(parse_hex(owner.as_bytes()).ok_or_else(|| bad("pool hold owner"))?),
            quantity: num(quantity)? as u32,
            until: num(until)?,
            deadline: num(deadline)?,
            renewals: num(renewals)? as u32,
            version: num(version)? as u64,
        };
        if h.until > now
            && let Some(list) = holds.get_mut(num(pool)? as usize)
        {
            list.push(h);
        }
    }
    let mut sales: Vec<Vec<PoolSale>> = vec![Vec::new(); n];
    for (field, entries) in pairs(r.list(5)?) {
        let field = std::str::from_utf8(field).map_err(|_| bad("pool sale"))?;
        let (pool, order) = field.split_once(':').ok_or_else(|| bad("pool sale field"))?;
        let order = OrderId::from_u128(parse_hex(order.as_bytes()).ok_or_else(|| bad("pool sale order"))?);
        let Some(list) = pool.parse::<usize>().ok().and_then(|p| sales.get_mut(p)) else { continue };
        for entry in std::str::from_utf8(entries).map_err(|_| bad("pool sale"))?.split(';') {
            let e: Vec<&str> = entry.split('|').collect();
            let [hold, owner, quantity] = e[..] else { return Err(bad("pool sale entry")) };
            list.push(PoolSale {
                order,
                owner: OwnerId::from_u128(parse_hex(owner.as_bytes()).ok_or_else(|| bad("pool sale owner"))?),
                hold: HoldId::from_u128(parse_hex(hold.as_bytes()).ok_or_else(|| bad("pool sale hold"))?),
                quantity: quantity.parse().map_err(|_| bad("pool sale quantity"))?,
            });
        }
    }
    let pools = (0..n)
        .map(|i| {
            let get = |f: &str| fields.get(format!("{f}:{i}").as_bytes()).copied().unwrap_or(0).max(0);
            let mut h = std::mem::take(&mut holds[i]);
            h.sort_by_key(|h| h.hold);
            let mut s = std::mem::take(&mut sales[i]);
            s.sort_by_key(|s| (s.order, s.hold));
            PoolAudit {
                pool: PoolId(i as u32),
                capacity: get("c") as u32,
                sold: get("s") as u32,
                version: get("v") as u64,
                holds: h,
                sales: s,
            }
        })
        .collect();
    let mut records = Vec::new();
    for (order, raw) in pairs(r.list(6)?) {
        let order = OrderId::from_u128(parse_hex(order).ok_or_else(|| bad("sale record order"))?);
        records.push(decode_record(spec.id, order, raw)?);
    }
    records.sort_by_key(|r| r.sale.order);
    Ok(Audit { show: spec.id, now: millis_to_datetime(now), seats, pools, sales: records })
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
