//! Provider webhooks: deduped by event id, then the order is driven.

use super::{Checkout, CheckoutError, OrderStatus, StoreError};

impl Checkout {
    /// Handles a provider webhook: dedupes it by event id, then drives the
    /// order at once (the saga learns the outcome by repeating the call the
    /// webhook reports, with the same key). Duplicate and out-of-order
    /// deliveries change nothing. Returns the order's status after, or
    /// `None` for an order this checkout does not know.
    pub async fn handle_webhook(&self, hook: &crate::payments::Webhook) -> Result<Option<OrderStatus>, CheckoutError> {
        let order = loop {
            let Some(order) = self.log.get(hook.order).await? else { return Ok(None) };
            if order.webhooks.contains(&hook.id) || order.status.is_final() {
                return Ok(Some(order.status));
            }
            let mut o = order.clone();
            o.webhooks.push(hook.id.clone());
            o.retry_at = None;
            o.version = order.version + 1;
            o.updated_at = self.now();
            match self.log.update(&o).await {
                Ok(()) => break o,
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        };
        match self.drive(order).await {
            Ok(o) => Ok(Some(o.status)),
            Err(CheckoutError::Pending { order }) => Ok(self.log.get(order).await?.map(|o| o.status)),
            Err(e) => Err(e),
        }
    }
}
