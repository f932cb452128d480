//! Sales and refunds of the port.

use crate::PgInventory;
use crate::outcome::{FollowUp, routed};
use crate::rows::{PoolOp, Regroup, SeatCall, same_show, to_i32};

use booking_core::backend::refusal::Context;
use booking_core::backend::validate;
use booking_core::{HoldAction, HoldItems, InvalidRequest, Refund, Result, Sale, Sell};

pub(crate) async fn sell(inv: &PgInventory, req: &Sell) -> Result<Sale> {
    // In the model's order: the show, the payment, the token's items,
    // then (in SQL, under the order's lock) the order's sale record,
    // then the per-payment cap, then the hold.
    let t = &req.token;
    let meta = inv.meta(t.show).await?;
    same_show(&meta, t)?;
    validate::payment(&req.payment)?;
    let action = HoldAction { owner: req.owner, token: t.clone() };
    let out = match meta.items(&t.items)? {
        Some(seats) => {
            let presented = match &t.items {
                HoldItems::Seats(list) => to_i32(list),
                HoldItems::Pool { .. } => to_i32(&seats),
            };
            let payer = req.payer.as_ref().map(|p| p.as_str().to_owned());
            let call = SeatCall::Sell { order: req.order, payment: req.payment.0.clone(), presented, payer };
            inv.seat_call(&meta, &action, &seats, call).await?
        }
        None => {
            let HoldItems::Pool { pool, quantity } = t.items else {
                return Err(InvalidRequest::TokenMismatch.into());
            };
            let (order, payment) = (Some(req.order), Some(req.payment.0.clone()));
            let payer = req.payer.as_ref().map(|p| p.as_str().to_owned());
            inv.pool_call(&meta, PoolOp::Sell, &action, pool, quantity, order, payment, payer).await?
        }
    };
    if out.follow_up == Some(FollowUp::ReadRecord) {
        return inv.sale_record(meta.id(), req.order).await?.replay(req);
    }
    Ok(Sale { show: t.show, order: req.order, owner: req.owner, items: t.items.clone(), version: out.version() })
}

pub(crate) async fn refund(inv: &PgInventory, req: &Refund) -> Result<()> {
    let meta = inv.meta(req.show).await?;
    match meta.items(&req.items)? {
        Some(seats) => inv.regroup(&meta, Regroup::Refund, &seats, Some(req.order)).await,
        None => {
            let HoldItems::Pool { pool, quantity } = req.items else {
                return Err(InvalidRequest::TokenMismatch.into());
            };
            let (show, order) = (meta.id(), req.order);
            let out = inv
                .call(|| {
                    sqlx::query(routed!("refund_pool", "($1, $2, $3, $4)").on(meta.part))
                        .bind(show.0)
                        .bind(order.0)
                        .bind(pool.0 as i32)
                        .bind(quantity as i32)
                })
                .await
                .map_err(|f| {
                    f.into_error(&Context {
                        order: Some(order),
                        pool: Some(pool),
                        requested: quantity,
                        ..meta.context()
                    })
                })?;
            match out.follow_up {
                None => Ok(()),
                Some(f) => Err(f.unexpected()),
            }
        }
    }
}
