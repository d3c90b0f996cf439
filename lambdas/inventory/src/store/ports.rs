//! The store's ports, one per role: a handler names the capability it uses (`&dyn Orders`,
//! `&dyn Outbox`, …), so a test double implements only that, and the in-memory store, SQLite
//! and MySQL implement them all. `Store` is the sum of the roles (what the local stack and the
//! API hold as `DynStore`).
//!
//! How a function names its roles (one store is held, each user sees only what it names):
//! - an operation takes `&(impl Outbox + ?Sized)`, or one bound with several roles when the
//!   same store plays them (`&(impl Catalog + Orders + Reports + ?Sized)`): a caller passes
//!   the whole store (`&*store`, a `&dyn Store`), one role of it (`&dyn Outbox`) or a concrete
//!   store (`messaging`, `ops-core`);
//! - an HTTP handler takes each role as axum state, `State<Arc<dyn Sales>>` (the API's one
//!   `DynStore`, coerced: `api::ApiState`), and passes `&dyn Sales` on;
//! - what keeps a store keeps one `DynStore` (the API, the local stack) or the one role it
//!   needs (`Arc<dyn Orders>`: the orderer).

use super::{
    FulfillOutcome, Ledger, Movement, OutboxEntry, SaleOutcome, SaleRow, StoreError, StuckOrders,
};
use crate::domain::{
    CorrelationId, EventId, FactoryOrder, FactoryOrderId, Millis, OrderStatus, Product,
    ProductSpec, Sale, SaleId, SaleRequest, Sku,
};
use async_trait::async_trait;
use std::sync::Arc;

/// The hot path: one purchase, atomically (`POST /sales`), and a sale read back by its id
/// (`GET /sales/{id}`, and the answer to a sale whose commit was ambiguous).
#[async_trait]
pub trait Sales: Send + Sync {
    /// A purchase with a fresh sale id.
    async fn sell(&self, req: &SaleRequest) -> Result<SaleOutcome, StoreError> {
        self.sell_as(&SaleId::new(), req).await
    }
    /// A purchase stored as sale `id` (the caller's, so it can look the sale up when the
    /// answer is lost: [`StoreError::Ambiguous`]). The id is the sales table's primary key: a
    /// second call with the same id never sells again, it answers `Replayed` with the sale the
    /// first call made, whichever of the two commits first.
    async fn sell_as(&self, id: &SaleId, req: &SaleRequest) -> Result<SaleOutcome, StoreError>;
    /// The committed sale `id`, or `None`. `remaining_stock` is the stock right after the sale
    /// when it was recorded (sales with an idempotency key), else the SKU's stock now.
    async fn sale(&self, id: &SaleId) -> Result<Option<Sale>, StoreError>;
}

/// Products and their stock (`GET /inventory`, the admin PUT).
#[async_trait]
pub trait Catalog: Send + Sync {
    async fn product(&self, sku: &Sku) -> Result<Option<Product>, StoreError>;
    async fn products(&self) -> Result<Vec<Product>, StoreError>;
    /// Creates or replaces a product; `true` when created.
    async fn put_product(&self, spec: &ProductSpec) -> Result<(Product, bool), StoreError>;
}

/// A factory order's life after the stock-out opened it (the factory-orderer, operators).
#[async_trait]
pub trait Orders: Send + Sync {
    async fn factory_order(&self, id: &FactoryOrderId) -> Result<Option<FactoryOrder>, StoreError>;
    /// Open orders are moved to `requested` with the factory's reference; `false` if the order
    /// was no longer open (already fulfilled or failed).
    async fn mark_requested(
        &self,
        id: &FactoryOrderId,
        factory_ref: &str,
        event_id: &EventId,
    ) -> Result<bool, StoreError>;
    /// Records a failed factory call; with `give_up` the order becomes `failed`.
    async fn record_failure(
        &self,
        id: &FactoryOrderId,
        error: &str,
        give_up: bool,
    ) -> Result<(), StoreError>;
    /// `failed -> pending` (an operator's retry or a redriven message); `false` if not failed
    /// or if another order is open for the SKU by now.
    async fn reopen(&self, id: &FactoryOrderId, note: &str) -> Result<bool, StoreError>;
    /// Orders in a status, oldest first (operations).
    async fn orders_in(
        &self,
        status: OrderStatus,
        limit: i64,
    ) -> Result<Vec<FactoryOrder>, StoreError>;
}

/// The factory's completion: `open -> fulfilled` and the stock incremented, once.
#[async_trait]
pub trait Restock: Send + Sync {
    async fn fulfill(
        &self,
        id: &FactoryOrderId,
        correlation_id: &CorrelationId,
    ) -> Result<FulfillOutcome, StoreError>;
}

/// The transactional outbox and the watch on orders the factory never completed (the relay).
#[async_trait]
pub trait Outbox: Send + Sync {
    async fn unpublished(
        &self,
        created_before: Millis,
        limit: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError>;
    async fn mark_published(&self, event_id: &EventId) -> Result<(), StoreError>;
    async fn note_publish_failure(&self, event_id: &EventId) -> Result<(), StoreError>;
    /// Orders `requested` with no completion since `requested_before`: re-send (a new outbox
    /// event for the same order) while `attempts < max_attempts`, else mark `failed`.
    async fn handle_stuck(
        &self,
        requested_before: Millis,
        max_attempts: i64,
        limit: i64,
    ) -> Result<StuckOrders, StoreError>;
}

/// Read-only reports (the exporter, reconciliation).
#[async_trait]
pub trait Reports: Send + Sync {
    async fn sales_between(&self, from: Millis, to: Millis) -> Result<Vec<SaleRow>, StoreError>;
    /// Per SKU with any movement in `[from, to)`: units sold and restocked, summed by the
    /// database (SKU order).
    async fn movements_between(
        &self,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<Movement>, StoreError>;
    /// Per-SKU totals used to reconcile stock: `initial + restocked - sold == stock`.
    async fn ledger(&self) -> Result<Vec<Ledger>, StoreError>;
}

/// The schema (the `migrate` function, the local stack's start).
#[async_trait]
pub trait Schema: Send + Sync {
    fn backend(&self) -> &'static str;
    /// Applies the embedded migrations (idempotent).
    async fn migrate(&self) -> Result<(), StoreError>;
}

/// Every role: what the API, the local stack and the tests hold.
pub trait Store: Sales + Catalog + Orders + Restock + Outbox + Reports + Schema + 'static {}

impl<T> Store for T where T: Sales + Catalog + Orders + Restock + Outbox + Reports + Schema + 'static
{}

pub type DynStore = Arc<dyn Store>;
