//! SQLite adapter: the embedded default of the local stack (WAL, one writer at a time).

use super::error::is_unique_violation;
use super::{PoolSettings, SaleOutcome, Sales, Schema, StoreError};
use crate::domain::{Millis, Sale, SaleId, SaleRequest, now_millis};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;

// The statements both databases share, compiled here for SQLite (see `store/mod.rs`).
type Db = sqlx::Sqlite;
type Adapter = SqliteStore;
shared_sql_modules!();

/// What SQLite spells differently.
mod dialect {
    /// Takes the database's write lock up front, so a read inside the transaction cannot go
    /// stale before its write.
    pub const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
    /// Writers are serialised, so a plain read sees every committed order.
    pub const OPEN_ORDER_LOCKING_READ: &str = "SELECT id, status FROM factory_orders \
        WHERE sku = ? AND status IN ('pending', 'requested')";
    /// The product's bucket count (the write lock already excludes other writers).
    pub const LOCK_PRODUCT: &str = "SELECT buckets FROM products WHERE sku = ?";
    /// The SKU's bucket rows: how many and their total.
    pub const LOCK_BUCKETS: &str = "SELECT COUNT(*), CAST(COALESCE(SUM(stock), 0) AS INTEGER) \
        FROM stock_buckets WHERE sku = ?";
}

pub struct SqliteStore {
    pool: sqlx::SqlitePool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// The product's bucket count and reorder point. The sale's transaction holds SQLite's write
/// lock (`BEGIN IMMEDIATE`), so nothing changes under it.
const PRODUCT_SQL: &str = "SELECT buckets, reorder_point FROM products WHERE sku = ?";

/// Conditional decrement of one bucket; `RETURNING` says whether it served the sale.
const TAKE_SQL: &str = "UPDATE stock_buckets SET stock = stock - ?, updated_at = ? \
    WHERE sku = ? AND bucket = ? AND stock >= ? RETURNING stock";

/// Takes `q` from the SKU's stock the way `donut_sell` does on MySQL: from one bucket picked at
/// random, or, when that one is short, from the total, which is then spread evenly again.
/// `Some(total left)`, or `None` when the total cannot serve it (nothing changed).
async fn take(
    tx: &mut sqlx::Transaction<'static, Db>,
    sku: &str,
    buckets: i64,
    q: i64,
    now: Millis,
) -> Result<Option<i64>, StoreError> {
    let bucket = if buckets > 1 {
        rand::random_range(0..buckets)
    } else {
        0
    };
    let took: Option<i64> = sqlx::query_scalar(TAKE_SQL)
        .bind(q)
        .bind(now)
        .bind(sku)
        .bind(bucket)
        .bind(q)
        .fetch_optional(&mut **tx)
        .await?;
    let (rows, total) = stock::lock_buckets(tx, sku).await?;
    if took.is_some() {
        return Ok(Some(total));
    }
    let spread_over = buckets.min(rows);
    if buckets == 1 || spread_over < 1 || total < q {
        return Ok(None);
    }
    stock::spread(tx, sku, spread_over, total - q, now).await?;
    Ok(Some(total - q))
}

impl SqliteStore {
    /// Credentials never rotate here: runs `op` once (in its `db` span).
    async fn retry_auth<T, F, Fut>(&self, operation: &'static str, op: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        super::traced("sqlite", operation, op()).await
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

/// Inserts the sale row (inside the sale's transaction; the remaining stock is not known yet).
/// `Ok(false)` when its id or its idempotency key is already taken.
async fn insert_sale(
    tx: &mut sqlx::Transaction<'static, Db>,
    id: &str,
    req: &SaleRequest,
    now: Millis,
) -> Result<bool, StoreError> {
    let res = sqlx::query(
        "INSERT INTO sales (id, sku, quantity, remaining_stock, idempotency_key, request_hash, \
         correlation_id, created_at) VALUES (?, ?, ?, NULL, ?, ?, ?, ?)",
    )
    .bind(id)
    .bind(req.sku.as_str())
    .bind(req.quantity.get())
    .bind(req.idempotency_key.as_deref())
    .bind(req.idempotency_key.as_ref().map(|_| req.fingerprint()))
    .bind(req.correlation_id.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await;
    match res {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Records the stock the sale left (a keyed sale's replay answers it).
async fn record_remaining(
    tx: &mut sqlx::Transaction<'static, Db>,
    id: &str,
    remaining: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE sales SET remaining_stock = ? WHERE id = ?")
        .bind(remaining)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl Sales for SqliteStore {
    async fn sell_as(&self, id: &SaleId, req: &SaleRequest) -> Result<SaleOutcome, StoreError> {
        self.retry_auth("sell", || self.sell_once(id, req)).await
    }
    async fn sale(&self, id: &SaleId) -> Result<Option<Sale>, StoreError> {
        self.retry_auth("sale", || self.sale_read(id)).await
    }
}

impl SqliteStore {
    /// `donut_sell`'s steps (migrations/current/procedures.sql, the sale rule), in one
    /// transaction that holds SQLite's write lock from its start: the sale row first (its id or
    /// key already used: a replay, nothing touched), the conditional decrement (no product, or
    /// too little: rolled back, the refusal path), the remaining stock recorded for a keyed
    /// sale, the SKU's one open factory order at or below the reorder point.
    async fn sell_once(&self, id: &SaleId, req: &SaleRequest) -> Result<SaleOutcome, StoreError> {
        let now = now_millis();
        let q = req.quantity.get();
        let mut tx = self.pool.begin_with(dialect::BEGIN_WRITE).await?;
        if !insert_sale(&mut tx, id.as_str(), req, now).await? {
            tx.rollback().await?;
            return self.replay_as(id, req).await;
        }
        let product: Option<(i64, i64)> = sqlx::query_as(PRODUCT_SQL)
            .bind(req.sku.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        let taken = match product {
            Some((buckets, reorder_point)) => take(&mut tx, req.sku.as_str(), buckets, q, now)
                .await?
                .map(|remaining| (remaining, reorder_point)),
            None => None,
        };
        let Some((remaining, reorder_point)) = taken else {
            tx.rollback().await?;
            return self.refuse(req).await;
        };
        if req.idempotency_key.is_some() {
            // Only a keyed sale's replay needs it; `Sales::sale` reads the others' stock now.
            record_remaining(&mut tx, id.as_str(), remaining).await?;
        }
        let (factory_order, event) = if remaining <= reorder_point {
            let (order, event) =
                sales::ensure_open_order(&mut tx, req.sku.as_str(), &req.correlation_id, now)
                    .await?;
            (Some(order), event)
        } else {
            (None, None)
        };
        tx.commit().await.map_err(StoreError::from_commit)?;
        Ok(SaleOutcome::sold(
            req,
            id.clone(),
            remaining,
            now,
            factory_order,
            event,
        ))
    }
}
