//! The factory's completion in memory (`Restock`): `open -> fulfilled` and the stock
//! incremented, once.

use super::{MemoryStore, transition};
use crate::domain::{CorrelationId, FactoryOrderId, OrderStatus, now_millis};
use crate::store::{FulfillOutcome, Restock, StoreError};

#[async_trait::async_trait]
impl Restock for MemoryStore {
    async fn fulfill(
        &self,
        id: &FactoryOrderId,
        correlation_id: &CorrelationId,
    ) -> Result<FulfillOutcome, StoreError> {
        let now = now_millis();
        let mut st = self.state()?;
        let Some(o) = st.order_mut(id) else {
            return Ok(FulfillOutcome::Unknown);
        };
        if !o.status.is_open() {
            return Ok(FulfillOutcome::AlreadyClosed(o.clone()));
        }
        o.status = OrderStatus::Fulfilled;
        o.updated_at = now;
        let (sku, quantity) = (o.sku.clone(), o.quantity);
        let note = format!("factory completed; restocked {quantity}");
        o.transitions
            .push(transition(OrderStatus::Fulfilled, now, &note));
        let order = o.clone();
        if let Some(p) = st.products.get_mut(&sku) {
            p.stock += quantity;
            p.updated_at = now;
        }
        st.restocks
            .push((correlation_id.clone(), sku, quantity, now));
        Ok(FulfillOutcome::Restocked(order))
    }
}
