//! MySQL adapter (Amazon RDS for MySQL 8 in production; MariaDB 10.6+ in tests).

use super::core::{SqlCore, store_impl};
use super::{PoolSettings, SaleOutcome, StoreError, sql};
use crate::domain::{Sale, SaleRequest, new_id, now_millis};
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use std::str::FromStr;

pub struct MySqlStore {
    pub core: SqlCore<sqlx::MySql>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/mysql");

/// The hot statement of a sale: one conditional decrement that also returns, through
/// `LAST_INSERT_ID(expr)` (carried back in the OK packet, no extra round trip), the new stock
/// shifted left by one with the "at or below the reorder point" flag in the low bit.
/// The `WHERE stock >= ?` makes overselling impossible; the CHECK constraint backs it up.
pub const SELL_SQL: &str = "UPDATE products \
    SET stock = LAST_INSERT_ID(((stock - ?) << 1) | ((stock - ?) <= reorder_point)) >> 1, \
        updated_at = ? \
    WHERE sku = ? AND stock >= ?";

impl MySqlStore {
    pub fn connect_lazy(url: &str, settings: &PoolSettings) -> Result<Self, StoreError> {
        let opts = MySqlConnectOptions::from_str(url)
            .map_err(|e| StoreError::Database(format!("invalid DATABASE_URL: {e}")))?;
        let pool = MySqlPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            // Drop connections that died with a restarted server before handing them out.
            .test_before_acquire(true)
            .connect_lazy_with(opts);
        Ok(MySqlStore {
            core: SqlCore { pool },
        })
    }

    pub fn pool(&self) -> &sqlx::MySqlPool {
        &self.core.pool
    }
}

store_impl!(MySqlStore, "mysql", {
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
        // The sale row first: the hot product row is then locked for one round trip (the
        // UPDATE) plus the commit, instead of two.
        if !SqlCore::<sqlx::MySql>::insert_sale(&mut tx, &id, req, None, now).await? {
            tx.rollback().await?;
            return self.core.replay(req).await;
        }
        let res = sqlx::query(SELL_SQL)
            .bind(q)
            .bind(q)
            .bind(now)
            .bind(req.sku.as_str())
            .bind(q)
            .execute(&mut *tx)
            .await?;
        if res.rows_affected() != 1 {
            tx.rollback().await?;
            return self.core.refuse(req).await;
        }
        let packed = res.last_insert_id();
        let remaining = i64::try_from(packed >> 1)
            .map_err(|_| StoreError::Corrupt(format!("packed stock {packed}")))?;
        let reorder = packed & 1 == 1;
        let (factory_order, event) = if reorder {
            let (order, event) = SqlCore::<sqlx::MySql>::ensure_open_order(
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
        if req.idempotency_key.is_some() {
            // Only a keyed sale can be replayed, so only it needs the remaining stock stored.
            sqlx::query(sql::SET_REMAINING)
                .bind(remaining)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
        }
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
