//! Every port in memory, with the same rules the databases enforce (conditional decrement,
//! one use per idempotency key, one open factory order per SKU, restock once, outbox in the
//! same step). Not a mock: handler unit tests run against it, and the contract suite
//! (`tests/tests/store/`) runs the same cases against it, SQLite and MariaDB, so it cannot
//! drift from them unnoticed. One mutex makes every operation atomic.
//!
//! Here: the state and the steps several roles share (the SKU's open order, opening one with
//! its outbox event). Each role's implementation is in `memory/`, named like its trait and
//! like its SQL counterpart in `sql/`: `sales.rs`, `catalog.rs`, `orders.rs`, `restock.rs`,
//! `outbox.rs`, `reports.rs`.

use super::{OutboxEntry, SaleRow, Schema, StoreError, event_json};
use crate::domain::{
    CorrelationId, EventId, FactoryOrder, FactoryOrderId, Millis, OpenOrder, OrderRef, OrderStatus,
    Product, Sku, StockOutEvent, Transition,
};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

mod catalog;
mod orders;
mod outbox;
mod reports;
mod restock;
mod sales;

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    products: BTreeMap<Sku, ProductRecord>,
    orders: Vec<FactoryOrder>,
    sales: Vec<SaleRecord>,
    restocks: Vec<(CorrelationId, Sku, i64, Millis)>,
    outbox: Vec<OutboxRecord>,
}

/// The total stock only: a sale here is refused exactly when the total cannot serve it, which
/// is what the databases' buckets guarantee too, so how it is spread is not observable.
struct ProductRecord {
    name: String,
    stock: i64,
    reorder_point: i64,
    reorder_quantity: i64,
    buckets: i64,
    updated_at: Millis,
}

struct SaleRecord {
    row: SaleRow,
    idempotency_key: Option<String>,
    fingerprint: Option<String>,
}

struct OutboxRecord {
    entry: OutboxEntry,
    published_at: Option<Millis>,
    attempts: i64,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        // A panic while holding the lock is a bug in this file; report it, do not propagate it.
        self.state
            .lock()
            .map_err(|_| StoreError::Database("memory store lock poisoned".into()))
    }
}

impl State {
    fn open_order(&self, sku: &Sku) -> Option<&FactoryOrder> {
        self.orders
            .iter()
            .find(|o| &o.sku == sku && o.status.is_open())
    }

    fn order_mut(&mut self, id: &FactoryOrderId) -> Option<&mut FactoryOrder> {
        self.orders.iter_mut().find(|o| &o.id == id)
    }

    fn product(&self, sku: &Sku) -> Option<Product> {
        self.products.get(sku).map(|p| Product {
            sku: sku.clone(),
            name: p.name.clone(),
            stock: p.stock,
            reorder_point: p.reorder_point,
            reorder_quantity: p.reorder_quantity,
            buckets: p.buckets,
            open_factory_order: self.open_order(sku).map(|o| OpenOrder {
                id: o.id.clone(),
                status: o.status,
                quantity: o.quantity,
            }),
            updated_at: p.updated_at,
        })
    }

    fn push_outbox(&mut self, event: &StockOutEvent) -> Result<(), StoreError> {
        self.outbox.push(OutboxRecord {
            entry: OutboxEntry {
                id: event.event_id.clone(),
                payload: event_json(event)?,
                created_at: event.occurred_at,
            },
            published_at: None,
            attempts: 0,
        });
        Ok(())
    }

    /// The SKU's open factory order, opening one (with its outbox event) when there is none.
    fn ensure_open_order(
        &mut self,
        sku: &Sku,
        correlation_id: &CorrelationId,
        now: Millis,
    ) -> Result<(OrderRef, Option<StockOutEvent>), StoreError> {
        if let Some(o) = self.open_order(sku) {
            let order = OrderRef {
                id: o.id.clone(),
                status: o.status,
            };
            return Ok((order, None));
        }
        let quantity = self
            .products
            .get(sku)
            .map(|p| p.reorder_quantity)
            .ok_or_else(|| StoreError::Corrupt(format!("no product {sku} for order").into()))?;
        let id = FactoryOrderId::new();
        self.orders.push(FactoryOrder {
            id: id.clone(),
            sku: sku.clone(),
            quantity,
            status: OrderStatus::Pending,
            attempts: 0,
            factory_ref: None,
            last_error: None,
            last_event_id: None,
            correlation_id: correlation_id.clone(),
            created_at: now,
            updated_at: now,
            requested_at: None,
            transitions: vec![transition(
                OrderStatus::Pending,
                now,
                "stock-out: factory order opened",
            )],
        });
        let event = StockOutEvent::new(EventId::new(), &id, sku, quantity, correlation_id, now);
        self.push_outbox(&event)?;
        let order = OrderRef {
            id,
            status: OrderStatus::Pending,
        };
        Ok((order, Some(event)))
    }
}

fn transition(status: OrderStatus, at: Millis, note: &str) -> Transition {
    Transition {
        status,
        at,
        note: Some(note.to_owned()),
    }
}

#[async_trait::async_trait]
impl Schema for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }
    async fn migrate(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Fixtures for the handlers' unit tests (the orderer's in `lambdas/factory-orderer`, the relay's in
/// `lambdas/outbox-relay`: the `testkit` feature, which only dev-dependencies enable).
#[cfg(any(test, feature = "testkit"))]
pub mod fixtures {
    use super::MemoryStore;
    use crate::domain::{ProductSpec, Quantity, SaleRequest, Sku, StockOutEvent};
    use crate::store::{Catalog, SaleOutcome, Sales};
    use std::sync::Arc;

    /// A store whose only product (`glazed`, reorder quantity 12) just sold out: one pending
    /// factory order, its event in the outbox, and that event.
    pub async fn stocked_out() -> (Arc<MemoryStore>, StockOutEvent) {
        let store = Arc::new(MemoryStore::new());
        let sku = Sku::parse("glazed").unwrap();
        let spec = ProductSpec::new(sku.clone(), None, 1, Some(0), Some(12)).unwrap();
        store.put_product(&spec).await.unwrap();
        let req = SaleRequest {
            sku,
            quantity: Quantity::new(1).unwrap(),
            idempotency_key: None,
            correlation_id: "c-1".into(),
        };
        let SaleOutcome::Sold { event, .. } = store.sell(&req).await.unwrap() else {
            panic!("sold");
        };
        (store, event.expect("a stock-out"))
    }
}
