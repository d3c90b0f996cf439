//! A factory order's life in memory (`Orders`): reads, `requested`, failures, give-up and
//! reopen, each with its audit transition.

use super::{MemoryStore, transition};
use crate::domain::{EventId, FactoryOrder, FactoryOrderId, OrderStatus, now_millis};
use crate::store::{Orders, StoreError, clip};

#[async_trait::async_trait]
impl Orders for MemoryStore {
    async fn factory_order(&self, id: &FactoryOrderId) -> Result<Option<FactoryOrder>, StoreError> {
        Ok(self.state()?.orders.iter().find(|o| &o.id == id).cloned())
    }

    async fn mark_requested(
        &self,
        id: &FactoryOrderId,
        factory_ref: &str,
        event_id: &EventId,
    ) -> Result<bool, StoreError> {
        let now = now_millis();
        let mut st = self.state()?;
        let Some(o) = st.order_mut(id).filter(|o| o.status.is_open()) else {
            return Ok(false);
        };
        let factory_ref = clip(factory_ref, 200);
        o.status = OrderStatus::Requested;
        o.attempts += 1;
        o.last_error = None;
        o.last_event_id = Some(event_id.clone());
        o.requested_at = Some(now);
        o.updated_at = now;
        let note = format!("factory accepted (ref {factory_ref})");
        o.factory_ref = Some(factory_ref);
        o.transitions
            .push(transition(OrderStatus::Requested, now, &note));
        Ok(true)
    }

    async fn record_failure(
        &self,
        id: &FactoryOrderId,
        error: &str,
        give_up: bool,
    ) -> Result<(), StoreError> {
        let now = now_millis();
        let mut st = self.state()?;
        if let Some(o) = st.order_mut(id).filter(|o| o.status.is_open()) {
            let error = clip(error, 1000);
            o.attempts += 1;
            o.updated_at = now;
            if give_up {
                o.status = OrderStatus::Failed;
                o.transitions
                    .push(transition(OrderStatus::Failed, now, &error));
            }
            o.last_error = Some(error);
        }
        Ok(())
    }

    async fn reopen(&self, id: &FactoryOrderId, note: &str) -> Result<bool, StoreError> {
        let now = now_millis();
        let mut st = self.state()?;
        let Some(this) = st.orders.iter().find(|o| &o.id == id) else {
            return Ok(false);
        };
        let (sku, created_at) = (this.sku.clone(), this.created_at);
        let superseded = st
            .orders
            .iter()
            .any(|n| n.sku == sku && &n.id != id && n.created_at >= created_at);
        if superseded || st.open_order(&sku).is_some() {
            return Ok(false);
        }
        let Some(o) = st.order_mut(id).filter(|o| o.status == OrderStatus::Failed) else {
            return Ok(false);
        };
        o.status = OrderStatus::Pending;
        o.last_error = None;
        o.updated_at = now;
        o.transitions
            .push(transition(OrderStatus::Pending, now, note));
        Ok(true)
    }

    async fn orders_in(
        &self,
        status: OrderStatus,
        limit: i64,
    ) -> Result<Vec<FactoryOrder>, StoreError> {
        let st = self.state()?;
        let mut found: Vec<FactoryOrder> = st
            .orders
            .iter()
            .filter(|o| o.status == status)
            .map(|o| FactoryOrder {
                transitions: Vec::new(),
                ..o.clone()
            })
            .collect();
        found.sort_by_key(|o| o.updated_at);
        found.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(found)
    }
}
