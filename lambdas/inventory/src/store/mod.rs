//! The Store port and its two sqlx adapters: MySQL (RDS; MariaDB in tests) and SQLite (the
//! embedded default of the local stack).
//!
//! Every invariant that matters is enforced by the database itself:
//! - stock never negative: a CHECK constraint, and every decrement is a conditional
//!   `UPDATE ... WHERE stock >= ?` (never read-then-write);
//! - at most one open factory order per SKU: a unique key (a generated column on MySQL, a
//!   partial unique index on SQLite);
//! - a sale is sold at most once per idempotency key: a unique key;
//! - a factory order is restocked at most once: the `open -> fulfilled` conditional update and
//!   the `restocks` primary key, in one transaction.

use crate::domain::{
    FactoryOrder, Millis, OpenOrder, OrderRef, OrderStatus, Product, ProductSpec, Sale,
    SaleRequest, Sku, StockOutEvent, Transition, new_id,
};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

mod core;
pub mod mysql;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use mysql::{CredentialSource, MySqlStore};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached right now (pool timeout, connection refused, lock wait,
    /// deadlock): the caller may retry; HTTP maps it to 503 with `Retry-After`.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database refused the credentials (MySQL 1045): on AWS the secret was rotated. The
    /// MySQL store re-reads it and retries once; HTTP maps it to 503 like `Unavailable`.
    #[error("database access denied: {0}")]
    AccessDenied(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("unexpected data in the database: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match &e {
            E::PoolTimedOut | E::PoolClosed | E::Io(_) | E::Tls(_) | E::WorkerCrashed => {
                StoreError::Unavailable(e.to_string())
            }
            E::Database(db) => {
                // MySQL: the error *number* (`code()` is the SQLSTATE, e.g. HY000 for most).
                if let Some(m) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                    return match m.number() {
                        // 1045: access denied (a rotated password).
                        1045 => StoreError::AccessDenied(e.to_string()),
                        // 1040 too many connections, 1205 lock wait timeout, 1213 deadlock,
                        // 2006/2013 server gone.
                        1040 | 1205 | 1213 | 2006 | 2013 => StoreError::Unavailable(e.to_string()),
                        _ => StoreError::Database(e.to_string()),
                    };
                }
                // SQLite: 5 SQLITE_BUSY, 6 SQLITE_LOCKED (and their extended codes).
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                if matches!(code.as_str(), "5" | "6" | "517" | "261") {
                    StoreError::Unavailable(e.to_string())
                } else {
                    StoreError::Database(e.to_string())
                }
            }
            E::Protocol(_) => StoreError::Unavailable(e.to_string()),
            _ => StoreError::Database(e.to_string()),
        }
    }
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// The result of a purchase attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaleOutcome {
    /// Sold. `event` is the stock-out this sale caused (to publish after commit), if any.
    Sold {
        sale: Sale,
        event: Option<StockOutEvent>,
    },
    /// A retry with an idempotency key already used for the same request: the original sale.
    Replayed(Sale),
    /// The idempotency key was used before for a different request.
    KeyReused,
    /// Not enough stock. A factory order is open for the SKU (just created, with `event`, or
    /// already there).
    OutOfStock {
        available: i64,
        order: OrderRef,
        event: Option<StockOutEvent>,
    },
    UnknownSku,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FulfillOutcome {
    /// Moved from open to fulfilled and the stock incremented, in one transaction.
    Restocked(FactoryOrder),
    /// Already fulfilled or failed: nothing changed.
    AlreadyClosed(FactoryOrder),
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: String,
    pub payload: String,
    pub created_at: Millis,
}

/// What the relay did about orders that never got a completion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StuckOrders {
    /// Re-send events to publish (same factory order id, so the same idempotency key).
    pub resend: Vec<StockOutEvent>,
    /// Orders given up on (`failed`).
    pub failed: Vec<String>,
}

/// A row of the daily sales export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleRow {
    pub id: String,
    pub sku: String,
    pub quantity: i64,
    pub remaining_stock: Option<i64>,
    pub correlation_id: String,
    pub created_at: Millis,
}

/// Units sold and restocked for one SKU in a time window (the daily inventory export).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement {
    pub sku: String,
    pub sold: i64,
    pub restocked: i64,
}

/// Per-SKU totals used to reconcile stock: `initial + restocked - sold == stock`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    pub sku: String,
    pub stock: i64,
    pub sold: i64,
    pub restocked: i64,
    pub open_orders: i64,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> &'static str;
    /// Applies the embedded migrations (idempotent).
    async fn migrate(&self) -> Result<(), StoreError>;
    async fn sell(&self, req: &SaleRequest) -> Result<SaleOutcome, StoreError>;
    async fn product(&self, sku: &Sku) -> Result<Option<Product>, StoreError>;
    async fn products(&self) -> Result<Vec<Product>, StoreError>;
    /// Creates or replaces a product; `true` when created.
    async fn put_product(&self, spec: &ProductSpec) -> Result<(Product, bool), StoreError>;
    async fn factory_order(&self, id: &str) -> Result<Option<FactoryOrder>, StoreError>;
    /// Open orders are moved to `requested` with the factory's reference; `false` if the order
    /// was no longer open (already fulfilled or failed).
    async fn mark_requested(
        &self,
        id: &str,
        factory_ref: &str,
        event_id: &str,
    ) -> Result<bool, StoreError>;
    /// Records a failed factory call; with `give_up` the order becomes `failed`.
    async fn record_failure(&self, id: &str, error: &str, give_up: bool) -> Result<(), StoreError>;
    /// `failed -> pending` (an operator's retry or a redriven message); `false` if not failed
    /// or if another order is open for the SKU by now.
    async fn reopen(&self, id: &str, note: &str) -> Result<bool, StoreError>;
    async fn fulfill(&self, id: &str, correlation_id: &str) -> Result<FulfillOutcome, StoreError>;
    async fn unpublished(
        &self,
        created_before: Millis,
        limit: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError>;
    async fn mark_published(&self, event_id: &str) -> Result<(), StoreError>;
    async fn note_publish_failure(&self, event_id: &str) -> Result<(), StoreError>;
    /// Orders `requested` with no completion since `requested_before`: re-send (a new outbox
    /// event for the same order) while `attempts < max_attempts`, else mark `failed`.
    async fn handle_stuck(
        &self,
        requested_before: Millis,
        max_attempts: i64,
        limit: i64,
    ) -> Result<StuckOrders, StoreError>;
    /// Orders in a status, oldest first (operations).
    async fn orders_in(
        &self,
        status: OrderStatus,
        limit: i64,
    ) -> Result<Vec<FactoryOrder>, StoreError>;
    async fn sales_between(&self, from: Millis, to: Millis) -> Result<Vec<SaleRow>, StoreError>;
    /// Per SKU with any movement in `[from, to)`: units sold and restocked, summed by the
    /// database (SKU order).
    async fn movements_between(
        &self,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<Movement>, StoreError>;
    async fn ledger(&self) -> Result<Vec<Ledger>, StoreError>;
}

pub type DynStore = Arc<dyn Store>;

#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

/// Connects to `mysql://…` or `sqlite://…` (lazily: the pool opens connections on first use,
/// so a function's init never fails because the database is briefly away).
/// A MySQL store from connect options (AWS: host, credentials and TLS from the environment).
pub fn connect_mysql(opts: sqlx::mysql::MySqlConnectOptions, settings: &PoolSettings) -> DynStore {
    Arc::new(MySqlStore::connect_lazy_with(opts, settings))
}

pub fn connect(url: &str, settings: &PoolSettings) -> Result<DynStore, StoreError> {
    if url.starts_with("mysql://") || url.starts_with("mariadb://") {
        Ok(Arc::new(MySqlStore::connect_lazy(url, settings)?))
    } else if url.starts_with("sqlite:") {
        connect_sqlite(url, settings)
    } else {
        Err(StoreError::Database(
            "DATABASE_URL must start with mysql:// or sqlite:".into(),
        ))
    }
}

#[cfg(feature = "sqlite")]
fn connect_sqlite(url: &str, settings: &PoolSettings) -> Result<DynStore, StoreError> {
    Ok(Arc::new(SqliteStore::connect(url, settings)?))
}

#[cfg(not(feature = "sqlite"))]
fn connect_sqlite(_url: &str, _settings: &PoolSettings) -> Result<DynStore, StoreError> {
    Err(StoreError::Database(
        "this build has no SQLite adapter (the Lambda functions are MySQL only): \
         DATABASE_URL must start with mysql://"
            .into(),
    ))
}

// ---- helpers shared by both adapters -------------------------------------------------------

pub(crate) fn status_of(s: &str) -> Result<OrderStatus, StoreError> {
    OrderStatus::parse(s).ok_or_else(|| StoreError::Corrupt(format!("order status {s:?}")))
}

pub(crate) fn sku_of(s: &str) -> Result<Sku, StoreError> {
    Sku::parse(s).map_err(|_| StoreError::Corrupt(format!("sku {s:?}")))
}

#[allow(clippy::type_complexity)]
pub(crate) fn product_from_parts(
    parts: (
        String,
        String,
        i64,
        i64,
        i64,
        i64,
        Option<String>,
        Option<String>,
        Option<i64>,
    ),
) -> Result<Product, StoreError> {
    let (sku, name, stock, reorder_point, reorder_quantity, updated_at, oid, ostatus, oqty) = parts;
    let open_factory_order = match (oid, ostatus, oqty) {
        (Some(id), Some(status), Some(quantity)) => Some(OpenOrder {
            id,
            status: status_of(&status)?,
            quantity,
        }),
        _ => None,
    };
    Ok(Product {
        sku: sku_of(&sku)?,
        name,
        stock,
        reorder_point,
        reorder_quantity,
        open_factory_order,
        updated_at,
    })
}

#[allow(clippy::type_complexity)]
pub(crate) fn order_from_parts(
    parts: (
        String,
        String,
        i64,
        String,
        i64,
        Option<String>,
        Option<String>,
        Option<String>,
        String,
        i64,
        i64,
        Option<i64>,
    ),
    transitions: Vec<Transition>,
) -> Result<FactoryOrder, StoreError> {
    let (
        id,
        sku,
        quantity,
        status,
        attempts,
        factory_ref,
        last_error,
        last_event_id,
        correlation_id,
        created_at,
        updated_at,
        requested_at,
    ) = parts;
    Ok(FactoryOrder {
        id,
        sku: sku_of(&sku)?,
        quantity,
        status: status_of(&status)?,
        attempts,
        factory_ref,
        last_error,
        last_event_id,
        correlation_id,
        created_at,
        updated_at,
        requested_at,
        transitions,
    })
}

pub(crate) fn transition_from_parts(
    (status, at, note): (String, i64, Option<String>),
) -> Result<Transition, StoreError> {
    Ok(Transition {
        status: status_of(&status)?,
        at,
        note,
    })
}

/// A new stock-out event for an order (first publication or a re-send).
pub(crate) fn stock_out_event(
    order_id: &str,
    sku: &str,
    quantity: i64,
    correlation_id: &str,
    now: Millis,
) -> StockOutEvent {
    StockOutEvent {
        schema_version: StockOutEvent::SCHEMA_VERSION,
        event_id: new_id(),
        factory_order_id: order_id.to_owned(),
        sku: sku.to_owned(),
        quantity,
        correlation_id: correlation_id.to_owned(),
        occurred_at: now,
    }
}

pub(crate) fn event_json(event: &StockOutEvent) -> Result<String, StoreError> {
    serde_json::to_string(event).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Truncates free text (factory errors) to what the column holds.
pub(crate) fn clip(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// SQL shared verbatim by both adapters (both use `?` placeholders).
pub(crate) mod sql {
    pub const INSERT_SALE: &str = "INSERT INTO sales (id, sku, quantity, remaining_stock, \
        idempotency_key, request_hash, correlation_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
    pub const SALE_BY_KEY: &str = "SELECT id, sku, quantity, remaining_stock, created_at, \
        request_hash FROM sales WHERE idempotency_key = ?";
    pub const OPEN_ORDER_FOR_SKU: &str = "SELECT id, status FROM factory_orders \
        WHERE sku = ? AND status IN ('pending', 'requested')";
    pub const REFUSAL_VIEW: &str = "SELECT p.stock, p.reorder_quantity, fo.id, fo.status \
        FROM products p LEFT JOIN factory_orders fo \
        ON fo.sku = p.sku AND fo.status IN ('pending', 'requested') WHERE p.sku = ?";
    pub const INSERT_ORDER: &str = "INSERT INTO factory_orders (id, sku, quantity, status, \
        attempts, correlation_id, created_at, updated_at) \
        SELECT ?, sku, reorder_quantity, 'pending', 0, ?, ?, ? FROM products WHERE sku = ?";
    pub const ORDER_QUANTITY: &str = "SELECT quantity FROM factory_orders WHERE id = ?";
    pub const INSERT_TRANSITION: &str = "INSERT INTO factory_order_transitions \
        (factory_order_id, status, note, at) VALUES (?, ?, ?, ?)";
    pub const INSERT_OUTBOX: &str =
        "INSERT INTO outbox (id, factory_order_id, payload, created_at) VALUES (?, ?, ?, ?)";
    pub const SET_REMAINING: &str = "UPDATE sales SET remaining_stock = ? WHERE id = ?";
    pub const INSERT_PRODUCT: &str = "INSERT INTO products (sku, name, stock, reorder_point, \
        reorder_quantity, updated_at) VALUES (?, ?, ?, ?, ?, ?)";
    pub const UPDATE_PRODUCT: &str = "UPDATE products SET name = ?, stock = ?, reorder_point = ?, \
        reorder_quantity = ?, updated_at = ? WHERE sku = ?";
    pub const TRANSITIONS: &str = "SELECT status, at, note FROM factory_order_transitions \
        WHERE factory_order_id = ? ORDER BY id";
    pub const MARK_REQUESTED: &str = "UPDATE factory_orders SET status = 'requested', \
        attempts = attempts + 1, factory_ref = ?, last_error = NULL, last_event_id = ?, \
        requested_at = ?, updated_at = ? WHERE id = ? AND status IN ('pending', 'requested')";
    pub const RECORD_FAILURE: &str = "UPDATE factory_orders SET attempts = attempts + 1, \
        last_error = ?, updated_at = ? WHERE id = ? AND status IN ('pending', 'requested')";
    pub const GIVE_UP: &str = "UPDATE factory_orders SET status = 'failed', \
        attempts = attempts + 1, last_error = ?, updated_at = ? \
        WHERE id = ? AND status IN ('pending', 'requested')";
    pub const FAIL_STUCK: &str = "UPDATE factory_orders SET status = 'failed', last_error = ?, \
        updated_at = ? WHERE id = ? AND status = 'requested'";
    pub const REOPEN: &str = "UPDATE factory_orders SET status = 'pending', last_error = NULL, \
        updated_at = ? WHERE id = ? AND status = 'failed'";
    pub const FULFILL: &str = "UPDATE factory_orders SET status = 'fulfilled', updated_at = ? \
        WHERE id = ? AND status IN ('pending', 'requested')";
    pub const ADD_STOCK: &str =
        "UPDATE products SET stock = stock + ?, updated_at = ? WHERE sku = ?";
    pub const INSERT_RESTOCK: &str = "INSERT INTO restocks (factory_order_id, sku, quantity, \
        correlation_id, created_at) VALUES (?, ?, ?, ?, ?)";
    pub const UNPUBLISHED: &str = "SELECT id, payload, created_at FROM outbox \
        WHERE published_at IS NULL AND created_at <= ? ORDER BY created_at LIMIT ?";
    pub const MARK_PUBLISHED: &str = "UPDATE outbox SET published_at = ?, attempts = attempts + 1 \
        WHERE id = ? AND published_at IS NULL";
    pub const PUBLISH_FAILED: &str = "UPDATE outbox SET attempts = attempts + 1 WHERE id = ?";
    pub const STUCK: &str = "SELECT id, sku, quantity, attempts, correlation_id, requested_at \
        FROM factory_orders WHERE status = 'requested' AND requested_at < ? \
        ORDER BY requested_at LIMIT ?";
    pub const BUMP_REQUESTED: &str = "UPDATE factory_orders SET requested_at = ?, updated_at = ? \
        WHERE id = ? AND status = 'requested' AND requested_at = ?";
    /// Binds: from, to (sales), from, to (restocks). `$int` is the integer cast type.
    macro_rules! movements_between {
        ($int:literal) => {
            concat!(
                "SELECT sku, CAST(SUM(sold) AS ",
                $int,
                "), CAST(SUM(restocked) AS ",
                $int,
                ") FROM (",
                "SELECT sku, quantity AS sold, 0 AS restocked FROM sales ",
                "WHERE created_at >= ? AND created_at < ? ",
                "UNION ALL SELECT sku, 0, quantity FROM restocks ",
                "WHERE created_at >= ? AND created_at < ?",
                ") m GROUP BY sku ORDER BY sku"
            )
        };
    }
    pub(crate) use movements_between;
    pub const SALES_BETWEEN: &str = "SELECT id, sku, quantity, remaining_stock, correlation_id, \
        created_at FROM sales WHERE created_at >= ? AND created_at < ? ORDER BY created_at, id";
}
