//! The outbox and the watch on orders the factory never completed, in memory (`Outbox`).

use super::{MemoryStore, transition};
use crate::domain::{EventId, FactoryOrderId, Millis, OrderStatus, StockOutEvent, now_millis};
use crate::store::{Outbox, OutboxEntry, StoreError, StuckOrders};

#[async_trait::async_trait]
impl Outbox for MemoryStore {
    async fn unpublished(
        &self,
        created_before: Millis,
        limit: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let st = self.state()?;
        let mut found: Vec<OutboxEntry> = st
            .outbox
            .iter()
            .filter(|r| r.published_at.is_none() && r.entry.created_at <= created_before)
            .map(|r| r.entry.clone())
            .collect();
        found.sort_by_key(|e| e.created_at);
        found.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(found)
    }

    async fn mark_published(&self, event_id: &EventId) -> Result<(), StoreError> {
        let now = now_millis();
        let mut st = self.state()?;
        if let Some(r) = st
            .outbox
            .iter_mut()
            .find(|r| &r.entry.id == event_id && r.published_at.is_none())
        {
            r.published_at = Some(now);
            r.attempts += 1;
        }
        Ok(())
    }

    async fn note_publish_failure(&self, event_id: &EventId) -> Result<(), StoreError> {
        let mut st = self.state()?;
        if let Some(r) = st.outbox.iter_mut().find(|r| &r.entry.id == event_id) {
            r.attempts += 1;
        }
        Ok(())
    }

    async fn handle_stuck(
        &self,
        requested_before: Millis,
        max_attempts: i64,
        limit: i64,
    ) -> Result<StuckOrders, StoreError> {
        let now = now_millis();
        let mut st = self.state()?;
        let mut stuck: Vec<(Millis, FactoryOrderId)> = st
            .orders
            .iter()
            .filter(|o| o.status == OrderStatus::Requested)
            .filter_map(|o| o.requested_at.map(|at| (at, o.id.clone())))
            .filter(|(at, _)| *at < requested_before)
            .collect();
        stuck.sort();
        stuck.truncate(usize::try_from(limit).unwrap_or(0));
        let mut out = StuckOrders::default();
        for (_, id) in stuck {
            let Some(o) = st.order_mut(&id) else { continue };
            o.updated_at = now;
            if o.attempts >= max_attempts {
                let why = format!(
                    "no completion from the factory after {} requests",
                    o.attempts
                );
                o.status = OrderStatus::Failed;
                o.transitions
                    .push(transition(OrderStatus::Failed, now, &why));
                o.last_error = Some(why);
                out.failed.push(id);
                continue;
            }
            o.requested_at = Some(now);
            let note = format!("no completion yet: re-sending (attempt {})", o.attempts + 1);
            o.transitions
                .push(transition(OrderStatus::Requested, now, &note));
            let event = StockOutEvent::new(
                EventId::new(),
                &o.id,
                &o.sku,
                o.quantity,
                &o.correlation_id,
                now,
            );
            st.push_outbox(&event)?;
            out.resend.push(event);
        }
        Ok(out)
    }
}
