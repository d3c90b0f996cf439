//! The factory's completion: `open -> fulfilled`, the `restocks` row and the stock increment
//! in one transaction, so a batch is restocked at most once. (Compiled once per database; see
//! `store/mod.rs`.)

use super::orders::insert_transition;
use super::stock::{lock_buckets, lock_product, spread};
use super::{Adapter, Db, dialect};
use crate::domain::{CorrelationId, FactoryOrderId, Millis, now_millis};
use crate::store::{FulfillOutcome, Restock, StoreError};

type Tx = sqlx::Transaction<'static, Db>;

/// `open -> fulfilled`: 1 row when this call closed the order, 0 when it was already closed.
async fn close_fulfilled(
    tx: &mut Tx,
    id: &FactoryOrderId,
    now: Millis,
) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "UPDATE factory_orders SET status = 'fulfilled', updated_at = ? \
         WHERE id = ? AND status IN ('pending', 'requested')",
    )
    .bind(now)
    .bind(id.as_str())
    .execute(&mut **tx)
    .await
    .map(|r| r.rows_affected())
}

async fn order_batch(
    tx: &mut Tx,
    id: &FactoryOrderId,
) -> Result<Option<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT sku, quantity FROM factory_orders WHERE id = ?")
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await
}

/// The `restocks` primary key (the factory order id) is the second guard against a double
/// restock.
async fn insert_restock(
    tx: &mut Tx,
    id: &FactoryOrderId,
    sku: &str,
    quantity: i64,
    correlation_id: &str,
    now: Millis,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO restocks (factory_order_id, sku, quantity, correlation_id, created_at) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(id.as_str())
    .bind(sku)
    .bind(quantity)
    .bind(correlation_id)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

impl Adapter {
    async fn fulfill_once(
        &self,
        id: &FactoryOrderId,
        correlation_id: &str,
    ) -> Result<FulfillOutcome, StoreError> {
        let now = now_millis();
        let mut tx = self.pool().begin_with(dialect::BEGIN_WRITE).await?;
        // The stock first (product row, then every bucket: the lock order of every stock
        // writer), then the order: a sale holding one bucket and waiting for the order's row
        // cannot be waited on by a restock that already holds that row.
        let closed = match order_batch(&mut tx, id).await? {
            Some((sku, quantity)) => {
                let buckets = lock_product(&mut tx, &sku).await?.unwrap_or(1);
                let (rows, total) = lock_buckets(&mut tx, &sku).await?;
                if close_fulfilled(&mut tx, id, now).await? == 1 {
                    insert_restock(&mut tx, id, &sku, quantity, correlation_id, now).await?;
                    spread(&mut tx, &sku, buckets.min(rows), total + quantity, now).await?;
                    let note = format!("factory completed; restocked {quantity}");
                    insert_transition(&mut tx, id, "fulfilled", &note, now).await?;
                    true
                } else {
                    false
                }
            }
            None => false,
        };
        tx.commit().await.map_err(StoreError::from_commit)?;
        let read = self
            .factory_order_once(id)
            .await
            .map_err(StoreError::after_commit)?;
        Ok(match read {
            None => FulfillOutcome::Unknown,
            Some(o) if closed => FulfillOutcome::Restocked(o),
            Some(o) => FulfillOutcome::AlreadyClosed(o),
        })
    }
}

#[async_trait::async_trait]
impl Restock for Adapter {
    async fn fulfill(
        &self,
        id: &FactoryOrderId,
        correlation_id: &CorrelationId,
    ) -> Result<FulfillOutcome, StoreError> {
        self.retry_auth("fulfill", || {
            self.fulfill_once(id, correlation_id.as_str())
        })
            .await
    }
}
