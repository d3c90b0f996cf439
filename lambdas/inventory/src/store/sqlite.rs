//! SQLite adapter: the embedded default of the local stack (WAL, one writer at a time).

use super::error::is_unique_violation;
use super::{PoolSettings, SaleOutcome, Sales, Schema, StoreError};
use crate::domain::{Millis, SaleRequest, new_id, now_millis};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;

// The statements both databases share, compiled here for SQLite (see `store/mod.rs`).
type Db = sqlx::Sqlite;
type Adapter = SqliteStore;
#[path = "sql/catalog.rs"]
#[allow(clippy::duplicate_mod)] // on purpose: once per database
mod catalog;
#[path = "sql/orders.rs"]
#[allow(clippy::duplicate_mod)] // on purpose: once per database
mod orders;
#[path = "sql/outbox.rs"]
#[allow(clippy::duplicate_mod)] // on purpose: once per database
mod outbox;
#[path = "sql/reports.rs"]
#[allow(clippy::duplicate_mod)] // on purpose: once per database
mod reports;
#[path = "sql/restock.rs"]
#[allow(clippy::duplicate_mod)] // on purpose: once per database
mod restock;
#[path = "sql/sales.rs"]
#[allow(clippy::duplicate_mod)] // on purpose: once per database
mod sales;

/// What SQLite spells differently.
mod dialect {
    /// Takes the database's write lock up front, so a read inside the transaction cannot go
    /// stale before its write.
    pub const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
    /// Writers are serialised, so a plain read sees every committed order.
    pub const OPEN_ORDER_LOCKING_READ: &str = "SELECT id, status FROM factory_orders \
        WHERE sku = ? AND status IN ('pending', 'requested')";
}

pub struct SqliteStore {
    pool: sqlx::SqlitePool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// Conditional decrement; `RETURNING` gives the new stock and the reorder point in the same
/// statement. The transaction's first statement is this write, so SQLite takes the write lock
/// up front and concurrent sales queue on `busy_timeout` instead of failing to upgrade.
const SELL_SQL: &str = "UPDATE products SET stock = stock - ?, updated_at = ? \
    WHERE sku = ? AND stock >= ? RETURNING stock, reorder_point";

impl SqliteStore {
    /// Credentials never rotate here: runs `op` once.
    async fn retry_auth<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        op().await
    }

    pub fn connect(url: &str, settings: &PoolSettings) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Database(format!("invalid DATABASE_URL: {e}").into()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            // One writer at a time anyway; a few connections let reads proceed meanwhile.
            .max_connections(settings.max_connections.clamp(1, 4))
            .acquire_timeout(settings.acquire_timeout.max(Duration::from_secs(10)))
            .connect_lazy_with(opts);
        Ok(SqliteStore { pool })
    }

    pub fn pool(&self) -> &sqlx::SqlitePool {
        &self.pool
    }
}

#[async_trait::async_trait]
impl Schema for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Database(format!("migration failed: {e}").into()))
    }
}

/// Inserts the sale row (inside the sale's transaction). `Ok(false)` when the idempotency key
/// is already taken.
async fn insert_sale(
    tx: &mut sqlx::Transaction<'static, Db>,
    id: &str,
    req: &SaleRequest,
    remaining: Option<i64>,
    now: Millis,
) -> Result<bool, StoreError> {
    let res = sqlx::query(
        "INSERT INTO sales (id, sku, quantity, remaining_stock, idempotency_key, request_hash, \
         correlation_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id)
    .bind(req.sku.as_str())
    .bind(req.quantity.get())
    .bind(remaining)
    .bind(req.idempotency_key.as_deref())
    .bind(req.idempotency_key.as_ref().map(|_| req.fingerprint()))
    .bind(&req.correlation_id)
    .bind(now)
    .execute(&mut **tx)
    .await;
    match res {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[async_trait::async_trait]
impl Sales for SqliteStore {
    async fn sell(&self, req: &SaleRequest) -> Result<SaleOutcome, StoreError> {
        let now = now_millis();
        let id = new_id();
        let q = req.quantity.get();
        let mut tx = self.pool.begin().await?;
        let row: Option<(i64, i64)> = sqlx::query_as(SELL_SQL)
            .bind(q)
            .bind(now)
            .bind(req.sku.as_str())
            .bind(q)
            .fetch_optional(&mut *tx)
            .await?;
        let Some((remaining, reorder_point)) = row else {
            tx.rollback().await?;
            // A keyed retry of a sale that already happened replays it (even once sold out).
            if let Some(key) = &req.idempotency_key
                && let Some(row) = sales::sale_by_key(&self.pool, key).await?
            {
                return sales::replayed(row, req);
            }
            return self.refuse(req).await;
        };
        if !insert_sale(&mut tx, &id, req, Some(remaining), now).await? {
            tx.rollback().await?;
            return self.replay(req).await;
        }
        let (factory_order, event) = if remaining <= reorder_point {
            let (order, event) =
                sales::ensure_open_order(&mut tx, req.sku.as_str(), &req.correlation_id, now)
                    .await?;
            (Some(order), event)
        } else {
            (None, None)
        };
        tx.commit().await?;
        Ok(SaleOutcome::sold(
            req,
            id,
            remaining,
            now,
            factory_order,
            event,
        ))
    }
}
