//! A factory order's life after the stock-out opened it: reads, `requested`, failures,
//! give-up and an operator's reopen, each with its audit transition. (Compiled once per
//! database; see `store/mod.rs`.)

use super::{Adapter, Db};
use crate::domain::{EventId, FactoryOrder, FactoryOrderId, Millis, OrderStatus, now_millis};
use crate::store::error::is_unique_violation;
use crate::store::rows::{OrderRow, TransitionRow};
use crate::store::{Orders, StoreError, clip};
use sqlx::Executor;

type Tx = sqlx::Transaction<'static, Db>;

macro_rules! select_orders {
    () => {
        "SELECT id, sku, quantity, status, attempts, factory_ref, last_error, last_event_id, \
         correlation_id, created_at, updated_at, requested_at FROM factory_orders"
    };
}

pub(super) async fn order_by_id<'e>(
    ex: impl Executor<'e, Database = Db>,
    id: &FactoryOrderId,
) -> Result<Option<OrderRow>, sqlx::Error> {
    sqlx::query_as(concat!(select_orders!(), " WHERE id = ?"))
        .bind(id.as_str())
        .fetch_optional(ex)
        .await
}

async fn orders_with_status<'e>(
    ex: impl Executor<'e, Database = Db>,
    status: OrderStatus,
    limit: i64,
) -> Result<Vec<OrderRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        select_orders!(),
        " WHERE status = ? ORDER BY updated_at LIMIT ?"
    ))
    .bind(status.as_str())
    .bind(limit)
    .fetch_all(ex)
    .await
}

async fn transitions_of<'e>(
    ex: impl Executor<'e, Database = Db>,
    id: &FactoryOrderId,
) -> Result<Vec<TransitionRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT status, at, note FROM factory_order_transitions WHERE factory_order_id = ? \
         ORDER BY id",
    )
    .bind(id.as_str())
    .fetch_all(ex)
    .await
}

/// Appends to an order's audit trail (in the transaction that changed its status).
pub(super) async fn insert_transition(
    tx: &mut Tx,
    id: &FactoryOrderId,
    status: &str,
    note: &str,
    now: Millis,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO factory_order_transitions (factory_order_id, status, note, at) \
         VALUES (?, ?, ?, ?)",
    )
    .bind(id.as_str())
    .bind(status)
    .bind(note)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

async fn set_requested(
    tx: &mut Tx,
    id: &FactoryOrderId,
    factory_ref: &str,
    event_id: &str,
    now: Millis,
) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "UPDATE factory_orders SET status = 'requested', attempts = attempts + 1, \
         factory_ref = ?, last_error = NULL, last_event_id = ?, requested_at = ?, updated_at = ? \
         WHERE id = ? AND status IN ('pending', 'requested')",
    )
    .bind(factory_ref)
    .bind(event_id)
    .bind(now)
    .bind(now)
    .bind(id.as_str())
    .execute(&mut **tx)
    .await
    .map(|r| r.rows_affected())
}

async fn note_failure(
    tx: &mut Tx,
    id: &FactoryOrderId,
    error: &str,
    now: Millis,
) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "UPDATE factory_orders SET attempts = attempts + 1, last_error = ?, updated_at = ? \
         WHERE id = ? AND status IN ('pending', 'requested')",
    )
    .bind(error)
    .bind(now)
    .bind(id.as_str())
    .execute(&mut **tx)
    .await
    .map(|r| r.rows_affected())
}

async fn give_up(
    tx: &mut Tx,
    id: &FactoryOrderId,
    error: &str,
    now: Millis,
) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "UPDATE factory_orders SET status = 'failed', attempts = attempts + 1, last_error = ?, \
         updated_at = ? WHERE id = ? AND status IN ('pending', 'requested')",
    )
    .bind(error)
    .bind(now)
    .bind(id.as_str())
    .execute(&mut **tx)
    .await
    .map(|r| r.rows_affected())
}

/// How many orders for the same SKU are as new as this one or newer (open or closed).
async fn newer_orders<'e>(
    ex: impl Executor<'e, Database = Db>,
    id: &FactoryOrderId,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM factory_orders n JOIN factory_orders o \
         ON n.sku = o.sku AND n.id <> o.id AND n.created_at >= o.created_at WHERE o.id = ?",
    )
    .bind(id.as_str())
    .fetch_one(ex)
    .await
}

async fn set_pending_again(
    tx: &mut Tx,
    id: &FactoryOrderId,
    now: Millis,
) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "UPDATE factory_orders SET status = 'pending', last_error = NULL, updated_at = ? \
         WHERE id = ? AND status = 'failed'",
    )
    .bind(now)
    .bind(id.as_str())
    .execute(&mut **tx)
    .await
    .map(|r| r.rows_affected())
}

impl Adapter {
    pub(super) async fn factory_order_once(
        &self,
        id: &FactoryOrderId,
    ) -> Result<Option<FactoryOrder>, StoreError> {
        let Some(row) = order_by_id(self.pool(), id).await? else {
            return Ok(None);
        };
        let transitions = transitions_of(self.pool(), id)
            .await?
            .into_iter()
            .map(TransitionRow::into_transition)
            .collect::<Result<Vec<_>, _>>()?;
        row.into_order(transitions).map(Some)
    }

    async fn mark_requested_once(
        &self,
        id: &FactoryOrderId,
        factory_ref: &str,
        event_id: &str,
    ) -> Result<bool, StoreError> {
        let now = now_millis();
        let factory_ref = clip(factory_ref, 200);
        let mut tx = self.pool().begin().await?;
        let n = set_requested(&mut tx, id, &factory_ref, event_id, now).await?;
        if n == 1 {
            let note = format!("factory accepted (ref {factory_ref})");
            insert_transition(&mut tx, id, "requested", &note, now).await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn record_failure_once(
        &self,
        id: &FactoryOrderId,
        error: &str,
        give_up_now: bool,
    ) -> Result<(), StoreError> {
        let now = now_millis();
        let error = clip(error, 1000);
        let mut tx = self.pool().begin().await?;
        if give_up_now {
            if give_up(&mut tx, id, &error, now).await? == 1 {
                insert_transition(&mut tx, id, "failed", &error, now).await?;
            }
        } else {
            note_failure(&mut tx, id, &error, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn reopen_once(&self, id: &FactoryOrderId, note: &str) -> Result<bool, StoreError> {
        let now = now_millis();
        // A newer order for the same SKU (open or already fulfilled) supersedes this one:
        // reopening it would make a second batch for one stock-out.
        if newer_orders(self.pool(), id).await? > 0 {
            return Ok(false);
        }
        let mut tx = self.pool().begin().await?;
        let n = match set_pending_again(&mut tx, id, now).await {
            Ok(n) => n,
            Err(e) if is_unique_violation(&e) => 0,
            Err(e) => return Err(e.into()),
        };
        if n == 1 {
            insert_transition(&mut tx, id, "pending", note, now).await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn orders_in_once(
        &self,
        status: OrderStatus,
        limit: i64,
    ) -> Result<Vec<FactoryOrder>, StoreError> {
        orders_with_status(self.pool(), status, limit)
            .await?
            .into_iter()
            .map(|r| r.into_order(Vec::new()))
            .collect()
    }
}

#[async_trait::async_trait]
impl Orders for Adapter {
    async fn factory_order(&self, id: &FactoryOrderId) -> Result<Option<FactoryOrder>, StoreError> {
        self.retry_auth("factory_order", || self.factory_order_once(id))
            .await
    }
    async fn mark_requested(
        &self,
        id: &FactoryOrderId,
        factory_ref: &str,
        event_id: &EventId,
    ) -> Result<bool, StoreError> {
        self.retry_auth("mark_requested", || {
            self.mark_requested_once(id, factory_ref, event_id.as_str())
        })
        .await
    }
    async fn record_failure(
        &self,
        id: &FactoryOrderId,
        error: &str,
        give_up: bool,
    ) -> Result<(), StoreError> {
        self.retry_auth("record_failure", || {
            self.record_failure_once(id, error, give_up)
        })
        .await
    }
    async fn reopen(&self, id: &FactoryOrderId, note: &str) -> Result<bool, StoreError> {
        self.retry_auth("reopen", || self.reopen_once(id, note))
            .await
    }
    async fn orders_in(
        &self,
        status: OrderStatus,
        limit: i64,
    ) -> Result<Vec<FactoryOrder>, StoreError> {
        self.retry_auth("orders_in", || self.orders_in_once(status, limit))
            .await
    }
}
