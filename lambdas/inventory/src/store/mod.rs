//! The store's ports and their adapters: MySQL (RDS; MariaDB in tests), SQLite (the embedded
//! default of the local stack) and memory (fast tests).
//!
//! Every invariant that matters is enforced by the database itself:
//! - stock never negative: a CHECK constraint, and every decrement is a conditional
//!   `UPDATE ... WHERE stock >= ?` (never read-then-write);
//! - at most one open factory order per SKU: a unique key (a generated column on MySQL, a
//!   partial unique index on SQLite);
//! - a sale is sold at most once per idempotency key: a unique key;
//! - a factory order is restocked at most once: the `open -> fulfilled` conditional update and
//!   the `restocks` primary key, in one transaction.

//!
//! Layout:
//! - `ports.rs`: the role traits (`Sales`, `Catalog`, `Orders`, `Restock`, `Outbox`, `Reports`,
//!   `Schema`) and `Store`, their sum;
//! - `sql/*.rs`: every statement both databases share, one named function each, grouped by
//!   what it serves, with that role's trait implementation. Each file is compiled twice, once
//!   inside `mysql.rs` and once inside `sqlite.rs` (`#[path]` modules), against that adapter's
//!   `Db` type: plain Rust that rustfmt and rust-analyzer see, without sqlx's generic executor
//!   bounds. What the two databases spell differently is each adapter's small `dialect`
//!   module, plus the hot decrement of a sale (`Sales` in each adapter);
//! - `rows.rs`: `sqlx::FromRow` row structs and their conversion to the domain;
//! - `memory.rs` and `memory/*.rs` (one file per role): the same ports in memory (fast
//!   handler tests; the contract suite in `tests/tests/store/` runs one set of cases against
//!   memory, SQLite and MariaDB);
//! - `error.rs`: `StoreError`, which keeps the driver's error as its source.

use crate::domain::{
    EventId, FactoryOrder, FactoryOrderId, Millis, OrderRef, Sale, SaleId, SaleRequest,
    StockOutEvent,
};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The SKU's total stock, as an SQL expression on `products p` (exact: the sum of its
/// `stock_buckets` rows), for `concat!` in the shared statements (`sql/*.rs`).
macro_rules! total_stock {
    () => {
        "CAST((SELECT COALESCE(SUM(b.stock), 0) FROM stock_buckets b WHERE b.sku = p.sku) \
         AS SIGNED INTEGER)"
    };
}

/// The statements both databases share (`sql/*.rs`), as `#[path]` modules of the adapter that
/// invokes this (`mysql.rs`, `sqlite.rs`), compiled against its `Db` and `Adapter` types. One
/// list, so a new `sql/` file reaches both databases. (A `#[path]` in a macro expansion is
/// relative to the file of the invocation: `store/`.)
macro_rules! shared_sql_modules {
    () => {
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
        #[path = "sql/stock.rs"]
        #[allow(clippy::duplicate_mod)] // on purpose: once per database
        mod stock;
    };
}

mod error;
pub mod memory;
pub mod mysql;
mod ports;
mod rows;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use error::{Cause, StoreError};
pub use memory::MemoryStore;
pub use mysql::{CredentialSource, MySqlStore};
pub use ports::{Catalog, DynStore, Orders, Outbox, Reports, Restock, Sales, Schema, Store};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

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

impl SaleOutcome {
    /// A sale of `req` that left `remaining` in stock (every adapter answers it this way).
    pub(crate) fn sold(
        req: &SaleRequest,
        id: SaleId,
        remaining: i64,
        at: Millis,
        factory_order: Option<OrderRef>,
        event: Option<StockOutEvent>,
    ) -> Self {
        SaleOutcome::Sold {
            sale: Sale {
                id,
                sku: req.sku.clone(),
                quantity: req.quantity.get(),
                remaining_stock: remaining,
                created_at: at,
                factory_order,
            },
            event,
        }
    }
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
    /// The event's id (`payload`'s `event_id`): the outbox row's key.
    pub id: EventId,
    pub payload: String,
    pub created_at: Millis,
}

/// What the relay did about orders that never got a completion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StuckOrders {
    /// Re-send events to publish (same factory order id, so the same idempotency key).
    pub resend: Vec<StockOutEvent>,
    /// Orders given up on (`failed`).
    pub failed: Vec<FactoryOrderId>,
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

// ---- helpers shared by every adapter ------------------------------------------------------

pub(crate) fn event_json(event: &StockOutEvent) -> Result<String, StoreError> {
    serde_json::to_string(event).map_err(|e| StoreError::Corrupt(e.to_string().into()))
}

/// Truncates free text (factory errors) to what the column holds.
pub(crate) fn clip(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// Runs one store operation inside its `db` span ([`crate::telemetry::db_span`]: `db.system`,
/// `db.operation`, and `error.kind` when it fails): the database's share of a request in the
/// logs' span path and, on AWS, an X-Ray subsegment.
pub(crate) async fn traced<T>(
    system: &'static str,
    operation: &'static str,
    work: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let span = crate::telemetry::db_span(operation, system);
    crate::telemetry::traced(span, work, StoreError::kind).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, SubscriberExt};

    /// Every span's name and fields, as `name field=value …`, in the order they were set.
    #[derive(Clone, Default)]
    struct Spans(Arc<Mutex<Vec<String>>>);

    struct Fields<'a>(&'a mut String);
    impl Visit for Fields<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push_str(&format!(" {}={:?}", field.name(), value));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.push_str(&format!(" {}={}", field.name(), value));
        }
    }

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Spans {
        fn on_new_span(
            &self,
            attrs: &tracing::span::Attributes<'_>,
            _: &tracing::span::Id,
            _: Context<'_, S>,
        ) {
            let mut line = attrs.metadata().name().to_owned();
            attrs.record(&mut Fields(&mut line));
            self.0.lock().unwrap().push(line);
        }
        fn on_record(
            &self,
            _: &tracing::span::Id,
            values: &tracing::span::Record<'_>,
            _: Context<'_, S>,
        ) {
            let mut line = "record".to_owned();
            values.record(&mut Fields(&mut line));
            self.0.lock().unwrap().push(line);
        }
    }

    #[tokio::test]
    async fn each_store_operation_is_a_db_span_with_its_error() {
        let spans = Spans::default();
        let _guard =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
        let ok: Result<i64, StoreError> = traced("mysql", "sell", async { Ok(1) }).await;
        assert_eq!(ok.ok(), Some(1));
        let failed: Result<(), StoreError> = traced("sqlite", "fulfill", async {
            Err(StoreError::Unavailable("lock wait timeout (1205)".into()))
        })
        .await;
        assert!(failed.is_err());
        let seen = spans.0.lock().unwrap().clone();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert_eq!(seen[0], "db db.system=mysql db.operation=sell");
        assert_eq!(seen[1], "db db.system=sqlite db.operation=fulfill");
        // A fixed word, never the message (which can carry SQL or values).
        assert_eq!(seen[2], "record error.kind=unavailable", "{seen:?}");
    }
}
