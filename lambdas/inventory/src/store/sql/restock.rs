//! The factory's completion: `open -> fulfilled`, the `restocks` row and the stock increment
//! in one transaction, so a batch is restocked at most once. (Compiled once per database; see
//! `store/mod.rs`.)

use super::orders::insert_transition;
use super::{Adapter, Db};
use crate::domain::{Millis, now_millis};
use crate::store::{FulfillOutcome, Restock, StoreError};

type Tx = sqlx::Transaction<'static, Db>;

/// `open -> fulfilled`: 1 row when this call closed the order, 0 when it was already closed.
async fn close_fulfilled(tx: &mut Tx, id: &str, now: Millis) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "UPDATE factory_orders SET status = 'fulfilled', updated_at = ? \
         WHERE id = ? AND status IN ('pending', 'requested')",
    )
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await
    .map(|r| r.rows_affected())
}

async fn order_batch(tx: &mut Tx, id: &str) -> Result<(String, i64), sqlx::Error> {
    sqlx::query_as("SELECT sku, quantity FROM factory_orders WHERE id = ?")
        .bind(id)
        .fetch_one(&mut **tx)
        .await
}

/// The `restocks` primary key (the factory order id) is the second guard against a double
/// restock.
async fn insert_restock(
    tx: &mut Tx,
    id: &str,
    sku: &str,
    quantity: i64,
    correlation_id: &str,
    now: Millis,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO restocks (factory_order_id, sku, quantity, correlation_id, created_at) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(id)
    .bind(sku)
    .bind(quantity)
    .bind(correlation_id)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

async fn add_stock(tx: &mut Tx, sku: &str, quantity: i64, now: Millis) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE products SET stock = stock + ?, updated_at = ? WHERE sku = ?")
        .bind(quantity)
        .bind(now)
        .bind(sku)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

impl Adapter {
    async fn fulfill_once(
        &self,
        id: &str,
        correlation_id: &str,
    ) -> Result<FulfillOutcome, StoreError> {
        let now = now_millis();
        let mut tx = self.pool().begin().await?;
        let closed = close_fulfilled(&mut tx, id, now).await? == 1;
        if closed {
            let (sku, quantity) = order_batch(&mut tx, id).await?;
            insert_restock(&mut tx, id, &sku, quantity, correlation_id, now).await?;
            add_stock(&mut tx, &sku, quantity, now).await?;
            let note = format!("factory completed; restocked {quantity}");
            insert_transition(&mut tx, id, "fulfilled", &note, now).await?;
        }
        tx.commit().await?;
        Ok(match self.factory_order_once(id).await? {
            None => FulfillOutcome::Unknown,
            Some(o) if closed => FulfillOutcome::Restocked(o),
            Some(o) => FulfillOutcome::AlreadyClosed(o),
        })
    }
}

#[async_trait::async_trait]
impl Restock for Adapter {
    async fn fulfill(&self, id: &str, correlation_id: &str) -> Result<FulfillOutcome, StoreError> {
        self.retry_auth(|| self.fulfill_once(id, correlation_id))
            .await
    }
}
