//! MySQL adapter (Amazon RDS for MySQL 8 in production; MariaDB 10.6+ in tests).

use super::rows::OrderRefRow;
use super::{PoolSettings, SaleOutcome, Sales, Schema, StoreError};
use crate::domain::{
    EventId, FactoryOrderId, Sale, SaleId, SaleRequest, StockOutEvent, now_millis,
};
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
shared_sql_modules!();

/// What MySQL spells differently.
mod dialect {
    /// A write transaction (InnoDB locks rows as it writes them).
    pub const BEGIN_WRITE: &str = "BEGIN";
    /// The SKU's open order as committed by others (not this transaction's snapshot).
    pub const OPEN_ORDER_LOCKING_READ: &str = "SELECT id, status FROM factory_orders \
        WHERE sku = ? AND status IN ('pending', 'requested') LOCK IN SHARE MODE";
    /// The product's bucket count, with a shared lock on its row (an admin PUT waits).
    pub const LOCK_PRODUCT: &str = "SELECT buckets FROM products WHERE sku = ? LOCK IN SHARE MODE";
    /// Every bucket row of the SKU, locked in key order: how many and their total.
    pub const LOCK_BUCKETS: &str = "SELECT COUNT(*), \
        CAST(COALESCE(SUM(stock), 0) AS SIGNED INTEGER) FROM stock_buckets WHERE sku = ? \
        FOR UPDATE";
}

pub struct MySqlStore {
    pool: sqlx::MySqlPool,
    credentials: Option<Arc<dyn CredentialSource>>,
    /// When the credentials were last re-read after an access denied: a burst of refusals
    /// re-reads the secret once.
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/mysql");

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
    pub(crate) async fn retry_auth<T, F, Fut>(
        &self,
        operation: &'static str,
        op: F,
    ) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        super::traced("mysql", operation, self.retry_auth_untraced(op)).await
    }

    async fn retry_auth_untraced<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
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
    async fn sell_as(&self, id: &SaleId, req: &SaleRequest) -> Result<SaleOutcome, StoreError> {
        self.retry_auth("sell", || self.sell_once(id, req)).await
    }
    async fn sale(&self, id: &SaleId) -> Result<Option<Sale>, StoreError> {
        self.retry_auth("sale", || self.sale_read(id)).await
    }
}

/// What `donut_sell` answers (its current text: migrations/current/procedures.sql).
#[derive(sqlx::FromRow)]
struct SellRow {
    outcome: String,
    remaining: Option<i64>,
    order_id: Option<String>,
    order_status: Option<String>,
    order_quantity: Option<i64>,
    opened: i64,
    /// The sale committed, but the stock-out check after it (several buckets) failed.
    recheck_failed: i64,
}

impl MySqlStore {
    /// One round trip: the stored procedure inserts the sale, takes the stock from one of the
    /// SKU's buckets (or rebalances them when that one is short), opens the factory order and
    /// its outbox event when the total reaches the reorder point, and commits, all on the
    /// server. A reused key
    /// (replay) and a refusal answer without having changed anything and take their own
    /// (rare) paths. The connection is acquired first: failing there, nothing was sent; once
    /// the `CALL` is on its way, a lost connection is [`StoreError::Ambiguous`] (it commits
    /// inside).
    async fn sell_once(&self, id: &SaleId, req: &SaleRequest) -> Result<SaleOutcome, StoreError> {
        let now = now_millis();
        let order_id = FactoryOrderId::new();
        let event_id = EventId::new();
        let q = req.quantity.get();
        let mut conn = self.pool.acquire().await?;
        let row: SellRow = sqlx::query_as("CALL donut_sell(?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(id.as_str())
            .bind(req.sku.as_str())
            .bind(q)
            .bind(req.idempotency_key.as_deref())
            .bind(req.idempotency_key.as_ref().map(|_| req.fingerprint()))
            .bind(req.correlation_id.as_str())
            .bind(now)
            .bind(order_id.as_str())
            .bind(event_id.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::from_commit)?;
        drop(conn);
        let remaining = match (row.outcome.as_str(), row.remaining) {
            ("replay", _) => return self.replay_as(id, req).await,
            ("refused", _) => return self.refuse(req).await,
            ("sold", Some(remaining)) => remaining,
            (other, remaining) => {
                return Err(StoreError::Corrupt(
                    format!("donut_sell answered {other:?} with remaining {remaining:?}").into(),
                ));
            }
        };
        if row.recheck_failed == 1 {
            tracing::warn!(
                sku = %req.sku,
                "sold, but the stock-out check after the sale failed; the SKU's next sale or \
                 refusal checks again"
            );
        }
        let factory_order = match (row.order_id, row.order_status) {
            (Some(id), Some(status)) => Some(OrderRefRow { id, status }.into_ref()?),
            _ => None,
        };
        let event = match (&factory_order, row.opened, row.order_quantity) {
            (Some(order), 1, Some(quantity)) => Some(StockOutEvent::new(
                event_id,
                &order.id,
                &req.sku,
                quantity,
                &req.correlation_id,
                now,
            )),
            _ => None,
        };
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
