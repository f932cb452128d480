//! The `SeatInventory` port on Redis. Each method runs in the module of
//! its concern (`holds`, `sales`, `shows`); a failure of the store comes
//! back naming the operation ([`crate::RedisFailure`]).

use crate::error::in_operation;
use crate::inventory::RedisInventory;
use crate::{holds, sales, shows};
use async_trait::async_trait;
use booking_core::{
    Audit, ChangeStream, ExpiredHold, Hold, HoldAction, HoldBest, HoldPool, HoldSeats, Refund, Result, Sale, SeatId,
    SeatInventory, Sell, ShowId, ShowSpec, Snapshot,
};
use std::time::Duration;

#[async_trait]
impl SeatInventory for RedisInventory {
    async fn create_show(&self, show: &ShowSpec) -> Result<()> {
        shows::create_show(self, show).await.map_err(in_operation("create_show"))
    }

    async fn hold_seats(&self, req: &HoldSeats) -> Result<Hold> {
        holds::hold_seats(self, req).await.map_err(in_operation("hold_seats"))
    }

    async fn hold_best(&self, req: &HoldBest) -> Result<Hold> {
        holds::hold_best(self, req).await.map_err(in_operation("hold_best"))
    }

    async fn hold_pool(&self, req: &HoldPool) -> Result<Hold> {
        holds::hold_pool(self, req).await.map_err(in_operation("hold_pool"))
    }

    async fn extend(&self, req: &HoldAction) -> Result<Hold> {
        holds::extend(self, req).await.map_err(in_operation("extend"))
    }

    async fn verify(&self, req: &HoldAction) -> Result<Hold> {
        holds::verify(self, req).await.map_err(in_operation("verify"))
    }

    async fn release(&self, req: &HoldAction) -> Result<()> {
        holds::release(self, req).await.map_err(in_operation("release"))
    }

    async fn sell(&self, req: &Sell) -> Result<Sale> {
        sales::sell(self, req).await.map_err(in_operation("sell"))
    }

    async fn refund(&self, req: &Refund) -> Result<()> {
        sales::refund(self, req).await.map_err(in_operation("refund"))
    }

    async fn block(&self, show: ShowId, seats: &[SeatId]) -> Result<()> {
        shows::block_or_unblock(self, show, seats, true).await.map_err(in_operation("block"))
    }

    async fn unblock(&self, show: ShowId, seats: &[SeatId]) -> Result<()> {
        shows::block_or_unblock(self, show, seats, false).await.map_err(in_operation("unblock"))
    }

    async fn snapshot(&self, show: ShowId) -> Result<Snapshot> {
        shows::snapshot(self, show).await.map_err(in_operation("snapshot"))
    }

    async fn sweep_expired(&self, show: ShowId, limit: usize) -> Result<Vec<ExpiredHold>> {
        shows::sweep_expired(self, show, limit).await.map_err(in_operation("sweep_expired"))
    }

    async fn audit(&self, show: ShowId) -> Result<Audit> {
        shows::audit(self, show).await.map_err(in_operation("audit"))
    }

    /// The shows in the prefix's index ([`crate::show_index`]), read with
    /// one `ZRANGE`: never a scan of the keyspace.
    async fn list_shows(&self) -> Result<Vec<ShowId>> {
        shows::list_shows(self).await.map_err(in_operation("list_shows"))
    }

    /// The specification stored with the show, as it was created.
    async fn show_spec(&self, show: ShowId) -> Result<ShowSpec> {
        Ok(self.show(show).await.map_err(in_operation("show_spec"))?.spec.clone())
    }

    /// Marks the show archived in its `meta` hash, then removes it from
    /// the prefix's index. An error after the first step leaves the show
    /// archived but listed; archiving again (idempotent) removes it.
    async fn archive_show(&self, show: ShowId) -> Result<()> {
        shows::archive_show(self, show).await.map_err(in_operation("archive_show"))
    }

    /// Nothing to prune: each show's change feed is a stream capped by
    /// `XADD ... MAXLEN ~` ([`crate::RedisInventoryBuilder::feed_max_len`])
    /// as entries are added, so it never outgrows its cap. Always 0.
    async fn prune_feed(&self, _older_than: Duration) -> Result<u64> {
        Ok(0)
    }

    async fn subscribe(&self, show: ShowId) -> Result<ChangeStream> {
        shows::subscribe(self, show).await.map_err(in_operation("subscribe"))
    }
}
