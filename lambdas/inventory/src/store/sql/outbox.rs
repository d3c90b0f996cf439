//! The transactional outbox (events written in the transaction that caused them, published
//! after commit by the relay) and the watch on orders the factory never completed. (Compiled
//! once per database; see `store/mod.rs`.)

use super::orders::insert_transition;
use super::{Adapter, Db};
use crate::domain::{CorrelationId, EventId, FactoryOrderId, Millis, StockOutEvent, now_millis};
use crate::store::rows::{OutboxRow, StuckRow, order_id_of, sku_of};
use crate::store::{Outbox, OutboxEntry, StoreError, StuckOrders, event_json};
use sqlx::Executor;

type Tx = sqlx::Transaction<'static, Db>;

/// Writes an event to the outbox (in the transaction that caused it).
pub(super) async fn insert_outbox(tx: &mut Tx, event: &StockOutEvent) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO outbox (id, factory_order_id, payload, created_at) VALUES (?, ?, ?, ?)",
    )
    .bind(event.event_id.as_str())
    .bind(event.factory_order_id.as_str())
    .bind(event_json(event)?)
    .bind(event.occurred_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn select_unpublished<'e>(
    ex: impl Executor<'e, Database = Db>,
    created_before: Millis,
    limit: i64,
) -> Result<Vec<OutboxRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, payload, created_at FROM outbox WHERE published_at IS NULL \
         AND created_at <= ? ORDER BY created_at LIMIT ?",
    )
    .bind(created_before)
    .bind(limit)
    .fetch_all(ex)
    .await
}

async fn stuck_orders<'e>(
    ex: impl Executor<'e, Database = Db>,
    requested_before: Millis,
    limit: i64,
) -> Result<Vec<StuckRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, sku, quantity, attempts, correlation_id, requested_at FROM factory_orders \
         WHERE status = 'requested' AND requested_at < ? ORDER BY requested_at LIMIT ?",
    )
    .bind(requested_before)
    .bind(limit)
    .fetch_all(ex)
    .await
}

/// Giving up on a stuck order is not another request: attempts stay as they are.
async fn fail_stuck(
    tx: &mut Tx,
    id: &FactoryOrderId,
    why: &str,
    now: Millis,
) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "UPDATE factory_orders SET status = 'failed', last_error = ?, updated_at = ? \
         WHERE id = ? AND status = 'requested'",
    )
    .bind(why)
    .bind(now)
    .bind(id.as_str())
    .execute(&mut **tx)
    .await
    .map(|r| r.rows_affected())
}

/// Claims a stuck order for a re-send (0 rows: completed or re-sent concurrently).
async fn bump_requested(
    tx: &mut Tx,
    id: &FactoryOrderId,
    requested_at: Option<Millis>,
    now: Millis,
) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "UPDATE factory_orders SET requested_at = ?, updated_at = ? \
         WHERE id = ? AND status = 'requested' AND requested_at = ?",
    )
    .bind(now)
    .bind(now)
    .bind(id.as_str())
    .bind(requested_at)
    .execute(&mut **tx)
    .await
    .map(|r| r.rows_affected())
}

impl Adapter {
    async fn unpublished_once(
        &self,
        created_before: Millis,
        limit: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = select_unpublished(self.pool(), created_before, limit).await?;
        Ok(rows.into_iter().map(OutboxEntry::from).collect())
    }

    async fn mark_published_once(&self, event_id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET published_at = ?, attempts = attempts + 1 \
             WHERE id = ? AND published_at IS NULL",
        )
        .bind(now_millis())
        .bind(event_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn note_publish_failure_once(&self, event_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?")
            .bind(event_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn handle_stuck_once(
        &self,
        requested_before: Millis,
        max_attempts: i64,
        limit: i64,
    ) -> Result<StuckOrders, StoreError> {
        let mut out = StuckOrders::default();
        for row in stuck_orders(self.pool(), requested_before, limit).await? {
            let id = order_id_of(&row.id)?;
            let now = now_millis();
            let mut tx = self.pool().begin().await?;
            if row.attempts >= max_attempts {
                let why = format!(
                    "no completion from the factory after {} requests",
                    row.attempts
                );
                if fail_stuck(&mut tx, &id, &why, now).await? == 1 {
                    insert_transition(&mut tx, &id, "failed", &why, now).await?;
                    out.failed.push(id);
                }
                tx.commit().await?;
                continue;
            }
            if bump_requested(&mut tx, &id, row.requested_at, now).await? != 1 {
                tx.rollback().await?;
                continue;
            }
            let sku = sku_of(&row.sku)?;
            let correlation_id = CorrelationId::from(row.correlation_id);
            let event =
                StockOutEvent::new(EventId::new(), &id, &sku, row.quantity, &correlation_id, now);
            insert_outbox(&mut tx, &event).await?;
            let note = format!(
                "no completion yet: re-sending (attempt {})",
                row.attempts + 1
            );
            insert_transition(&mut tx, &id, "requested", &note, now).await?;
            tx.commit().await?;
            out.resend.push(event);
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl Outbox for Adapter {
    async fn unpublished(
        &self,
        created_before: Millis,
        limit: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.retry_auth("unpublished", || {
            self.unpublished_once(created_before, limit)
        })
        .await
    }
    async fn mark_published(&self, event_id: &EventId) -> Result<(), StoreError> {
        self.retry_auth("mark_published", || {
            self.mark_published_once(event_id.as_str())
        })
            .await
    }
    async fn note_publish_failure(&self, event_id: &EventId) -> Result<(), StoreError> {
        self.retry_auth("note_publish_failure", || {
            self.note_publish_failure_once(event_id.as_str())
        })
        .await
    }
    async fn handle_stuck(
        &self,
        requested_before: Millis,
        max_attempts: i64,
        limit: i64,
    ) -> Result<StuckOrders, StoreError> {
        self.retry_auth("handle_stuck", || {
            self.handle_stuck_once(requested_before, max_attempts, limit)
        })
        .await
    }
}
