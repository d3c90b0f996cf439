//! SQLite adapter: the embedded default of the local stack (WAL, one writer at a time).

use super::core::{SqlCore, store_impl};
use super::{PoolSettings, SaleOutcome, StoreError};
use crate::domain::{Sale, SaleRequest, new_id, now_millis};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;

pub struct SqliteStore {
    pub core: SqlCore<sqlx::Sqlite>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// Conditional decrement; `RETURNING` gives the new stock and the reorder point in the same
/// statement. The transaction's first statement is this write, so SQLite takes the write lock
/// up front and concurrent sales queue on `busy_timeout` instead of failing to upgrade.
const SELL_SQL: &str = "UPDATE products SET stock = stock - ?, updated_at = ? \
    WHERE sku = ? AND stock >= ? RETURNING stock, reorder_point";

impl SqliteStore {
    /// Credentials never rotate here: runs `op` once.
    pub(crate) async fn retry_auth<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        op().await
    }

    pub fn connect(url: &str, settings: &PoolSettings) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Database(format!("invalid DATABASE_URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            // One writer at a time anyway; a few connections let reads proceed meanwhile.
            .max_connections(settings.max_connections.clamp(1, 4))
            .acquire_timeout(settings.acquire_timeout.max(Duration::from_secs(10)))
            .connect_lazy_with(opts);
        Ok(SqliteStore {
            core: SqlCore { pool },
        })
    }

    pub fn pool(&self) -> &sqlx::SqlitePool {
        &self.core.pool
    }
}

store_impl!(SqliteStore, "sqlite", {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.core.pool)
            .await
            .map_err(|e| StoreError::Database(format!("migration failed: {e}")))
    }

    async fn sell(&self, req: &SaleRequest) -> Result<SaleOutcome, StoreError> {
        let now = now_millis();
        let id = new_id();
        let q = req.quantity.get();
        let mut tx = self.core.pool.begin().await?;
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
            if let Some(key) = &req.idempotency_key {
                let used: Option<(String,)> =
                    sqlx::query_as("SELECT id FROM sales WHERE idempotency_key = ?")
                        .bind(key)
                        .fetch_optional(&self.core.pool)
                        .await?;
                if used.is_some() {
                    return self.core.replay(req).await;
                }
            }
            return self.core.refuse(req).await;
        };
        if !SqlCore::<sqlx::Sqlite>::insert_sale(&mut tx, &id, req, Some(remaining), now).await? {
            tx.rollback().await?;
            return self.core.replay(req).await;
        }
        let (factory_order, event) = if remaining <= reorder_point {
            let (order, event) = SqlCore::<sqlx::Sqlite>::ensure_open_order(
                &mut tx,
                req.sku.as_str(),
                &req.correlation_id,
                now,
            )
            .await?;
            (Some(order), event)
        } else {
            (None, None)
        };
        tx.commit().await?;
        Ok(SaleOutcome::Sold {
            sale: Sale {
                id,
                sku: req.sku.clone(),
                quantity: q,
                remaining_stock: remaining,
                created_at: now,
                factory_order,
            },
            event,
        })
    }
});
