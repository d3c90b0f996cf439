//! MySQL adapter (Amazon RDS for MySQL 8 in production; MariaDB 10.6+ in tests).

use super::{PoolSettings, SaleOutcome, Sales, Schema, StoreError};
use crate::domain::{Sale, SaleRequest, new_id, now_millis};
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where the pool's credentials come from when they can change under it (AWS: the database
/// secret in Secrets Manager, which RDS rotates every 7 days).
#[async_trait::async_trait]
pub trait CredentialSource: Send + Sync {
    /// Connect options with the credentials as they are now (read afresh).
    async fn current(&self) -> Result<MySqlConnectOptions, String>;
}

// The statements both databases share, compiled here for MySQL (see `store/mod.rs`).
type Db = sqlx::MySql;
type Adapter = MySqlStore;
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

/// What MySQL spells differently.
mod dialect {
    /// A write transaction (InnoDB locks rows as it writes them).
    pub const BEGIN_WRITE: &str = "BEGIN";
    /// The SKU's open order as committed by others (not this transaction's snapshot).
    pub const OPEN_ORDER_LOCKING_READ: &str = "SELECT id, status FROM factory_orders \
        WHERE sku = ? AND status IN ('pending', 'requested') LOCK IN SHARE MODE";
}

pub struct MySqlStore {
    pool: sqlx::MySqlPool,
    credentials: Option<Arc<dyn CredentialSource>>,
    /// When the credentials were last re-read after an access denied: a burst of refusals
    /// re-reads the secret once.
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
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
            .map_err(|e| StoreError::Database(format!("invalid DATABASE_URL: {e}").into()))?;
        Ok(Self::connect_lazy_with(opts, settings))
    }

    pub fn connect_lazy_with(opts: MySqlConnectOptions, settings: &PoolSettings) -> Self {
        let pool = MySqlPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            // Drop connections that died with a restarted server before handing them out.
            .test_before_acquire(true)
            .connect_lazy_with(opts);
        MySqlStore {
            pool,
            credentials: None,
            last_refresh: tokio::sync::Mutex::new(None),
        }
    }

    /// A store whose credentials can rotate: `source` is re-read every `ttl` (new connections
    /// then use the new password before the old one stops working), and at once when the
    /// database refuses the credentials (1045), after which the failed operation is retried
    /// once. Connections already open stay open (MySQL keeps authenticated sessions).
    pub fn with_credentials(
        opts: MySqlConnectOptions,
        settings: &PoolSettings,
        source: Arc<dyn CredentialSource>,
        ttl: Duration,
    ) -> Self {
        let mut store = Self::connect_lazy_with(opts, settings);
        store.credentials = Some(source.clone());
        let pool = store.pool.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(ttl);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if pool.is_closed() {
                    break;
                }
                match source.current().await {
                    Ok(o) => pool.set_connect_options(o),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not re-read the database credentials; keeping the current ones")
                    }
                }
            }
        });
        store
    }

    /// Runs `op`; when the database refused the credentials and they can be re-read, re-reads
    /// them (at most once a second for a burst), replaces the pool's connect options and runs
    /// `op` once more.
    pub(crate) async fn retry_auth<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let why = match op().await {
            Err(StoreError::AccessDenied(why)) => why,
            other => return other,
        };
        let Some(source) = &self.credentials else {
            return Err(StoreError::AccessDenied(why));
        };
        {
            let mut last = self.last_refresh.lock().await;
            if last.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
                tracing::warn!(error = %why, "database refused the credentials (rotated secret?): re-reading them and retrying once");
                match source.current().await {
                    Ok(o) => self.pool.set_connect_options(o),
                    Err(e) => {
                        tracing::error!(error = %e, "could not re-read the database credentials");
                        return Err(StoreError::AccessDenied(why));
                    }
                }
                *last = Some(Instant::now());
            }
        }
        op().await
    }

    pub fn pool(&self) -> &sqlx::MySqlPool {
        &self.pool
    }
}

#[async_trait::async_trait]
impl Schema for MySqlStore {
    fn backend(&self) -> &'static str {
        "mysql"
    }
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Database(format!("migration failed: {e}").into()))
    }
}

#[async_trait::async_trait]
impl Sales for MySqlStore {
    async fn sell(&self, req: &SaleRequest) -> Result<SaleOutcome, StoreError> {
        self.retry_auth(|| self.sell_once(req)).await
    }
}

/// Stores the stock a keyed sale left (only a keyed sale can be replayed, so only it needs it).
async fn set_remaining(
    tx: &mut sqlx::Transaction<'static, Db>,
    id: &str,
    remaining: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sales SET remaining_stock = ? WHERE id = ?")
        .bind(remaining)
        .bind(id)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

impl MySqlStore {
    async fn sell_once(&self, req: &SaleRequest) -> Result<SaleOutcome, StoreError> {
        let now = now_millis();
        let id = new_id();
        let q = req.quantity.get();
        let mut tx = self.pool.begin().await?;
        // The sale row first: the hot product row is then locked for one round trip (the
        // UPDATE) plus the commit, instead of two.
        if !sales::insert_sale(&mut tx, &id, req, None, now).await? {
            tx.rollback().await?;
            return self.replay(req).await;
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
            return self.refuse(req).await;
        }
        let packed = res.last_insert_id();
        let remaining = i64::try_from(packed >> 1)
            .map_err(|_| StoreError::Corrupt(format!("packed stock {packed}").into()))?;
        let reorder = packed & 1 == 1;
        let (factory_order, event) = if reorder {
            let (order, event) =
                sales::ensure_open_order(&mut tx, req.sku.as_str(), &req.correlation_id, now)
                    .await?;
            (Some(order), event)
        } else {
            (None, None)
        };
        if req.idempotency_key.is_some() {
            set_remaining(&mut tx, &id, remaining).await?;
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
}
