//! Sales: `sell` and `refund`, and the repair path
//! [`RedisInventory::restore_sale`], with the optional wait for a sale's
//! durability.

use crate::codec::{self, Reply, bad};
use crate::conn::Conn;
use crate::error::{Effect, from_redis, in_operation};
use crate::holds::token_context;
use crate::inventory::{Args, RedisInventory};
use crate::keys::{hex, key_slot};
use crate::scripts;
use booking_core::backend::refusal::Context;
use booking_core::backend::validate;
use booking_core::{HoldItems, InvalidRequest, InventoryError, Refund, Result, Sale, SaleRecord, Sell};
use redis::{Script, Value};

/// `sell`: one script sells the hold, or answers from the order's sale
/// record; waits for the sale durability asked for.
pub(crate) async fn sell(inv: &RedisInventory, req: &Sell) -> Result<Sale> {
    let t = &req.token;
    let info = inv.show(t.show).await?;
    validate::payment(&req.payment)?;
    let k = &info.keys;
    let mut args = Args::with_capacity(11);
    args.push(inv.time_arg())
        .push(hex(req.owner.as_u128()))
        .push(hex(t.hold.as_u128()))
        .push(t.version)
        .push(hex(req.order.as_u128()))
        .push(codec::record_parts(req.owner, t, &req.payment, req.payer.as_ref())?)
        .push(inv.inner.feed_max_len);
    // The per-payment cap and the payer ('' for none), then the items.
    let payer = req.payer.as_ref().map(|p| p.as_str()).unwrap_or_default();
    args.push(info.payer_cap_arg()).push(payer);
    let r = match info.check_items(&t.items)? {
        Some(seats) => {
            for s in &seats {
                args.push(s.0);
            }
            let mut keys = vec![&*k.meta, &k.seats, &k.seat_expiry, &k.orders, &k.feed, &k.free];
            keys.extend(info.sold_key());
            keys.extend(info.payer_key());
            inv.run_sale(&scripts::LOADED.SELL, &keys, args).await?
        }
        None => {
            let HoldItems::Pool { pool, quantity } = t.items else { return Err(bad("pool token expected")) };
            args.push(pool.0).push(quantity);
            let mut keys = vec![&*k.meta, &k.pools, &k.pool_holds, &k.pool_expiry, &k.pool_sales, &k.orders, &k.feed];
            keys.extend(info.sold_key());
            keys.extend(info.payer_key());
            inv.run_sale(&scripts::LOADED.SELL_POOL, &keys, args).await?
        }
    };
    match r.status() {
        b"OK" => Ok(Sale {
            show: t.show,
            order: req.order,
            owner: req.owner,
            items: t.items.clone(),
            version: r.int(1)? as u64,
        }),
        // The order was sold before: the record answers.
        b"RECORD" => codec::decode_record(t.show, req.order, r.bytes(1)?)?.replay(req),
        _ => {
            let pool = match t.items {
                HoldItems::Pool { pool, .. } => Some(pool),
                HoldItems::Seats(_) => None,
            };
            Err(inv.refused(&r, &Context { order: Some(req.order), pool, ..token_context(&info, t) }))
        }
    }
}

/// `refund`: one script returns the items the order bought.
pub(crate) async fn refund(inv: &RedisInventory, req: &Refund) -> Result<()> {
    let info = inv.show(req.show).await?;
    let k = &info.keys;
    let mut args = Args::with_capacity(5);
    // Whether the show counts payers ('' for no), then the items.
    let payers = if info.payer_key().is_some() { "1" } else { "" };
    args.push(hex(req.order.as_u128())).push(inv.inner.feed_max_len).push(payers);
    let r = match info.check_items(&req.items)? {
        Some(seats) => {
            for s in &seats {
                args.push(s.0);
            }
            let mut keys = vec![&*k.meta, &k.seats, &k.feed, &k.free];
            keys.extend(info.sold_key());
            keys.extend(info.payer_key());
            inv.run(&scripts::LOADED.REFUND, &keys, args, Effect::Write).await?
        }
        None => {
            let HoldItems::Pool { pool, quantity } = req.items else { return Err(bad("pool refund expected")) };
            args.push(pool.0).push(quantity);
            let mut keys = vec![&*k.meta, &k.pools, &k.pool_sales, &k.feed];
            keys.extend(info.sold_key());
            keys.extend(info.payer_key());
            inv.run(&scripts::LOADED.REFUND_POOL, &keys, args, Effect::Write).await?
        }
    };
    if r.status() != b"OK" {
        let pool = match req.items {
            HoldItems::Pool { pool, .. } => Some(pool),
            HoldItems::Seats(_) => None,
        };
        return Err(inv.refused(&r, &Context { order: Some(req.order), pool, ..info.context() }));
    }
    Ok(())
}

impl RedisInventory {
    /// Puts a sale back from the application's durable order log, after
    /// Redis lost it (a crash under `appendfsync everysec`, a failover to a
    /// replica that had not received it; see the crate docs,
    /// "Durability"). Idempotent and keyed by the order: replaying a whole
    /// order log after a loss restores what was lost and leaves the rest.
    ///
    /// `record` is the order's [`SaleRecord`] as the application logged it
    /// (what `sell` answered, with the token and payment it was sold with);
    /// it is written back as the order's sale record, so replays of the
    /// sell are answered as before the loss.
    ///
    /// Seats: each seat of `record.sale.items` that is already sold to
    /// `record.sale.order` is left alone; each one available, held under an
    /// expired hold, or held under the sale's own hold (`record.token.hold`:
    /// the hold survived the loss, its sale did not) is sold to the order,
    /// at a new version (1 + the highest of theirs), with a `Sold` change
    /// on the feed. A seat in any other state (sold to another order,
    /// blocked, held live by another hold) refuses the whole restore with
    /// `SeatsTaken` naming those seats: someone else got it after the loss,
    /// and only the application can settle that.
    ///
    /// Pool units: a sale from the same hold already recorded for the order
    /// is left alone; a surviving record of the sale's own hold becomes the
    /// sale; otherwise the units are sold if the pool has that many free
    /// (`InsufficientCapacity` if not).
    ///
    /// Pass each order's items as the log has them now: a seat refunded
    /// after the sale is available again, and restoring the original items
    /// would sell it again. Waits for [`crate::RedisInventoryBuilder::sale_durability`]
    /// as `sell` does.
    ///
    /// Errors: `UnknownShow`, `InvalidRequest(TokenMismatch)` (the token
    /// is for another show or other items than the sale),
    /// `InvalidRequest(BadPaymentRef)`, `UnknownSeat`/`UnknownPool`,
    /// `SeatsTaken`, `InsufficientCapacity`, `SaleConflict` (Redis has
    /// another sale record for the order), [`crate::StoreError::DataLost`].
    pub async fn restore_sale(&self, record: &SaleRecord) -> Result<Restored> {
        self.restore(record).await.map_err(in_operation("restore_sale"))
    }

    async fn restore(&self, record: &SaleRecord) -> Result<Restored> {
        let (sale, t) = (&record.sale, &record.token);
        let info = self.show(sale.show).await?;
        if t.show != sale.show || t.items != sale.items {
            return Err(InvalidRequest::TokenMismatch.into());
        }
        validate::payment(&record.payment)?;
        let k = &info.keys;
        let mut args = Args::with_capacity(8);
        args.push(self.time_arg())
            .push(hex(sale.owner.as_u128()))
            .push(hex(t.hold.as_u128()))
            .push(hex(sale.order.as_u128()))
            .push(codec::encode_record(record)?)
            .push(self.inner.feed_max_len);
        // The payer, counted again only in a show with the per-payment cap.
        let payer = info.payer_key().and(record.payer.as_ref()).map(|p| p.as_str()).unwrap_or_default();
        let payer_key = info.payer_key().filter(|_| !payer.is_empty());
        let ctx = Context { order: Some(sale.order), requested: sale.items.count(), ..info.context() };
        let (r, ctx) = match info.check_items(&sale.items)? {
            Some(seats) => {
                args.push(payer);
                for s in &seats {
                    args.push(s.0);
                }
                let mut keys = vec![&*k.meta, &k.seats, &k.seat_expiry, &k.orders, &k.feed, &k.free];
                keys.extend(info.sold_key());
                keys.extend(payer_key);
                (self.run_sale(&scripts::LOADED.RESTORE, &keys, args).await?, ctx)
            }
            None => {
                let HoldItems::Pool { pool, quantity } = sale.items else { return Err(bad("pool sale expected")) };
                args.push(pool.0).push(quantity).push(payer);
                let mut keys =
                    vec![&*k.meta, &k.pools, &k.pool_holds, &k.pool_expiry, &k.pool_sales, &k.orders, &k.feed];
                keys.extend(info.sold_key());
                keys.extend(payer_key);
                (self.run_sale(&scripts::LOADED.RESTORE_POOL, &keys, args).await?, Context { pool: Some(pool), ..ctx })
            }
        };
        match r.status() {
            b"OK" => Ok(Restored::Applied { version: r.int(1)? as u64 }),
            b"ALREADY" => Ok(Restored::AlreadySold),
            _ => Err(self.refused(&r, &ctx)),
        }
    }

    /// Runs a script that may sell (`sell`, `restore_sale`) and, when the
    /// builder asked for [`SaleDurability`], waits for the sale to reach the
    /// append-only file or the replicas before answering.
    ///
    /// On one server the wait is sent in one pipeline with the script, on
    /// the same connection: `WAIT`/`WAITAOF` wait for the connection's own
    /// latest write, which a reconnection between the two would lose. On a
    /// Cluster the wait goes, after the script's answer, to the master of
    /// the show's slot.
    pub(crate) async fn run_sale(&self, script: &Script, keys: &[&str], args: Args) -> Result<Reply> {
        let Some(d) = self.inner.durability else { return self.run(script, keys, args, Effect::Write).await };
        let applied = |r: &Reply| matches!(r.status(), b"OK" | b"ALREADY" | b"RECORD");
        let unconfirmed = |e: redis::RedisError| InventoryError::OutcomeUnknown(Box::new(e));
        let mut conn = self.inner.conn.clone();
        if let Conn::Cluster(_) = conn {
            let r = self.run(script, keys, args, Effect::Write).await?;
            if applied(&r) {
                let slot = key_slot(keys[0].as_bytes());
                let answer = conn.on_slot(d.command(), slot).await.map_err(unconfirmed)?;
                d.confirmed(&answer)?;
            }
            return Ok(r);
        }
        let mut eval = redis::cmd("EVALSHA");
        eval.arg(script.get_hash()).arg(keys.len());
        for key in keys {
            eval.arg(*key);
        }
        for a in &args.0 {
            eval.arg(&a[..]);
        }
        let mut pipe = redis::pipe();
        pipe.add_command(eval).add_command(d.command()).ignore_errors();
        let mut loaded = false;
        loop {
            let answers: Vec<Value> = pipe.query_async(&mut conn).await.map_err(|e| from_redis(e, Effect::Write))?;
            let [ran, waited]: [Value; 2] =
                answers.try_into().map_err(|a| bad(format!("sale pipeline answered {a:?}")))?;
            let ran = match ran {
                Value::ServerError(e) => {
                    let e = redis::RedisError::from(e);
                    if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) && !loaded {
                        // Nothing ran: load the script and send both again.
                        script.prepare_invoke().load_async(&mut conn).await.map_err(|e| from_redis(e, Effect::Read))?;
                        loaded = true;
                        continue;
                    }
                    return Err(from_redis(e, Effect::Write));
                }
                v => Reply::new(v)?,
            };
            if applied(&ran) {
                match waited {
                    Value::ServerError(e) => return Err(unconfirmed(e.into())),
                    answer => d.confirmed(&answer)?,
                }
            }
            return Ok(ran);
        }
    }
}

/// What [`RedisInventory::restore_sale`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Restored {
    /// The sale (or the part of it Redis had lost) was put back; its seats
    /// (or its pool) are now at this version.
    Applied {
        /// The seats' (or pool's) version after the restore.
        version: u64,
    },
    /// Redis still had the whole sale: nothing changed.
    AlreadySold,
}
