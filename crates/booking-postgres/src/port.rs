//! [`SeatInventory`] for [`PgInventory`]. Each method runs in the module of
//! its concern (`holds`, `sales`, `shows`); a failure of the store comes
//! back naming the store and the operation
//! ([`booking_core::backend::failure::StoreFailure`]).

use crate::outcome::STORE;
use crate::{PgInventory, holds, sales, shows};

use async_trait::async_trait;
use booking_core::backend::failure::in_operation;
use booking_core::{
    Audit, ChangeStream, ExpiredHold, Hold, HoldAction, HoldBest, HoldPool, HoldSeats, Refund, Result, Sale, SeatId,
    SeatInventory, Sell, ShowId, ShowSpec, Snapshot,
};
use std::time::Duration;

#[async_trait]
impl SeatInventory for PgInventory {
    async fn create_show(&self, spec: &ShowSpec) -> Result<()> {
        shows::create_show(self, spec).await.map_err(in_operation(STORE, "create_show"))
    }

    async fn hold_seats(&self, req: &HoldSeats) -> Result<Hold> {
        holds::hold_seats(self, req).await.map_err(in_operation(STORE, "hold_seats"))
    }

    async fn hold_best(&self, req: &HoldBest) -> Result<Hold> {
        holds::hold_best(self, req).await.map_err(in_operation(STORE, "hold_best"))
    }

    async fn hold_pool(&self, req: &HoldPool) -> Result<Hold> {
        holds::hold_pool(self, req).await.map_err(in_operation(STORE, "hold_pool"))
    }

    async fn extend(&self, req: &HoldAction) -> Result<Hold> {
        holds::extend(self, req).await.map_err(in_operation(STORE, "extend"))
    }

    async fn release(&self, req: &HoldAction) -> Result<()> {
        holds::release(self, req).await.map_err(in_operation(STORE, "release"))
    }

    async fn sell(&self, req: &Sell) -> Result<Sale> {
        sales::sell(self, req).await.map_err(in_operation(STORE, "sell"))
    }

    async fn verify(&self, req: &HoldAction) -> Result<Hold> {
        holds::verify(self, req).await.map_err(in_operation(STORE, "verify"))
    }

    async fn refund(&self, req: &Refund) -> Result<()> {
        sales::refund(self, req).await.map_err(in_operation(STORE, "refund"))
    }

    async fn block(&self, show: ShowId, seats: &[SeatId]) -> Result<()> {
        shows::block(self, show, seats).await.map_err(in_operation(STORE, "block"))
    }

    async fn unblock(&self, show: ShowId, seats: &[SeatId]) -> Result<()> {
        shows::unblock(self, show, seats).await.map_err(in_operation(STORE, "unblock"))
    }

    async fn snapshot(&self, show: ShowId) -> Result<Snapshot> {
        shows::snapshot(self, show).await.map_err(in_operation(STORE, "snapshot"))
    }

    async fn sweep_expired(&self, show: ShowId, limit: usize) -> Result<Vec<ExpiredHold>> {
        shows::sweep_expired(self, show, limit).await.map_err(in_operation(STORE, "sweep_expired"))
    }

    async fn audit(&self, show: ShowId) -> Result<Audit> {
        shows::audit(self, show).await.map_err(in_operation(STORE, "audit"))
    }

    async fn list_shows(&self) -> Result<Vec<ShowId>> {
        shows::list_shows(self).await.map_err(in_operation(STORE, "list_shows"))
    }

    async fn show_spec(&self, show: ShowId) -> Result<ShowSpec> {
        shows::show_spec(self, show).await.map_err(in_operation(STORE, "show_spec"))
    }

    async fn archive_show(&self, show: ShowId) -> Result<()> {
        shows::archive_show(self, show).await.map_err(in_operation(STORE, "archive_show"))
    }

    async fn prune_feed(&self, older_than: Duration) -> Result<u64> {
        self.prune_changes(older_than).await
    }

    async fn subscribe(&self, show: ShowId) -> Result<ChangeStream> {
        let op = in_operation(STORE, "subscribe");
        self.meta(show).await.map_err(&op)?;
        self.inner.feed.subscribe(show).await.map_err(op)
    }
}
