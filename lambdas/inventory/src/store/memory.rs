//! Every port in memory, with the same rules the databases enforce (conditional decrement,
//! one use per idempotency key, one open factory order per SKU, restock once, outbox in the
//! same step). Not a mock: handler unit tests run against it, and the contract suite
//! (`tests/tests/store.rs`) runs the same cases against it, SQLite and MariaDB, so it cannot
//! drift from them unnoticed. One mutex makes every operation atomic.

use super::{
    Catalog, FulfillOutcome, Ledger, Movement, Orders, Outbox, OutboxEntry, Reports, Restock,
    SaleOutcome, SaleRow, Sales, Schema, StoreError, StuckOrders, clip, event_json,
};
use crate::domain::{
    FactoryOrder, FactoryOrderId, Millis, OpenOrder, OrderRef, OrderStatus, Product, ProductSpec,
    Sale, SaleRequest, Sku, StockOutEvent, Transition, new_id, now_millis,
};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    products: BTreeMap<Sku, ProductRecord>,
    orders: Vec<FactoryOrder>,
    sales: Vec<SaleRecord>,
    restocks: Vec<(String, Sku, i64, Millis)>,
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
        correlation_id: &str,
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
            correlation_id: correlation_id.to_owned(),
            created_at: now,
            updated_at: now,
            requested_at: None,
            transitions: vec![transition(
                OrderStatus::Pending,
                now,
                "stock-out: factory order opened",
            )],
        });
        let event = StockOutEvent::new(new_id(), &id, sku, quantity, correlation_id, now);
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
impl Sales for MemoryStore {
    async fn sell(&self, req: &SaleRequest) -> Result<SaleOutcome, StoreError> {
        let now = now_millis();
        let q = req.quantity.get();
        let mut st = self.state()?;
        if let Some(key) = &req.idempotency_key
            && let Some(used) = st
                .sales
                .iter()
                .find(|s| s.idempotency_key.as_ref() == Some(key))
        {
            if used.fingerprint.as_deref() != Some(req.fingerprint().as_str()) {
                return Ok(SaleOutcome::KeyReused);
            }
            return Ok(SaleOutcome::Replayed(Sale {
                id: used.row.id.clone(),
                sku: req.sku.clone(),
                quantity: used.row.quantity,
                remaining_stock: used.row.remaining_stock.unwrap_or_default(),
                created_at: used.row.created_at,
                factory_order: None,
            }));
        }
        let Some(product) = st.products.get_mut(&req.sku) else {
            return Ok(SaleOutcome::UnknownSku);
        };
        if product.stock < q {
            let available = product.stock;
            let (order, event) = st.ensure_open_order(&req.sku, &req.correlation_id, now)?;
            return Ok(SaleOutcome::OutOfStock {
                available,
                order,
                event,
            });
        }
        product.stock -= q;
        product.updated_at = now;
        let remaining = product.stock;
        let reorder = remaining <= product.reorder_point;
        let id = new_id();
        st.sales.push(SaleRecord {
            row: SaleRow {
                id: id.clone(),
                sku: req.sku.as_str().to_owned(),
                quantity: q,
                remaining_stock: Some(remaining),
                correlation_id: req.correlation_id.clone(),
                created_at: now,
            },
            idempotency_key: req.idempotency_key.clone(),
            fingerprint: req.idempotency_key.as_ref().map(|_| req.fingerprint()),
        });
        let (factory_order, event) = if reorder {
            let (order, event) = st.ensure_open_order(&req.sku, &req.correlation_id, now)?;
            (Some(order), event)
        } else {
            (None, None)
        };
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

#[async_trait::async_trait]
impl Catalog for MemoryStore {
    async fn product(&self, sku: &Sku) -> Result<Option<Product>, StoreError> {
        Ok(self.state()?.product(sku))
    }

    async fn products(&self) -> Result<Vec<Product>, StoreError> {
        let st = self.state()?;
        Ok(st.products.keys().filter_map(|s| st.product(s)).collect())
    }

    async fn put_product(&self, spec: &ProductSpec) -> Result<(Product, bool), StoreError> {
        // The tables' CHECK constraints (callers can build a `ProductSpec` by hand).
        if spec.stock.is_some_and(|s| s < 0)
            || spec.reorder_point < 0
            || spec.reorder_quantity <= 0
            || !(1..=crate::domain::MAX_BUCKETS).contains(&spec.buckets)
        {
            return Err(StoreError::Database(
                format!("CHECK constraint failed for product {}", spec.sku).into(),
            ));
        }
        let mut st = self.state()?;
        let current = st.products.get(&spec.sku).map(|p| p.stock);
        let record = ProductRecord {
            name: spec.name.clone(),
            stock: spec.stock.or(current).unwrap_or(0),
            reorder_point: spec.reorder_point,
            reorder_quantity: spec.reorder_quantity,
            buckets: spec.buckets,
            updated_at: now_millis(),
        };
        let created = st.products.insert(spec.sku.clone(), record).is_none();
        let product = st.product(&spec.sku).ok_or_else(|| {
            StoreError::Corrupt(format!("product {} vanished after write", spec.sku).into())
        })?;
        Ok((product, created))
    }
}

#[async_trait::async_trait]
impl Orders for MemoryStore {
    async fn factory_order(&self, id: &FactoryOrderId) -> Result<Option<FactoryOrder>, StoreError> {
        Ok(self.state()?.orders.iter().find(|o| &o.id == id).cloned())
    }

    async fn mark_requested(
        &self,
        id: &FactoryOrderId,
        factory_ref: &str,
        event_id: &str,
    ) -> Result<bool, StoreError> {
        let now = now_millis();
        let mut st = self.state()?;
        let Some(o) = st.order_mut(id).filter(|o| o.status.is_open()) else {
            return Ok(false);
        };
        let factory_ref = clip(factory_ref, 200);
        o.status = OrderStatus::Requested;
        o.attempts += 1;
        o.last_error = None;
        o.last_event_id = Some(event_id.to_owned());
        o.requested_at = Some(now);
        o.updated_at = now;
        let note = format!("factory accepted (ref {factory_ref})");
        o.factory_ref = Some(factory_ref);
        o.transitions
            .push(transition(OrderStatus::Requested, now, &note));
        Ok(true)
    }

    async fn record_failure(
        &self,
        id: &FactoryOrderId,
        error: &str,
        give_up: bool,
    ) -> Result<(), StoreError> {
        let now = now_millis();
        let mut st = self.state()?;
        if let Some(o) = st.order_mut(id).filter(|o| o.status.is_open()) {
            let error = clip(error, 1000);
            o.attempts += 1;
            o.updated_at = now;
            if give_up {
                o.status = OrderStatus::Failed;
                o.transitions
                    .push(transition(OrderStatus::Failed, now, &error));
            }
            o.last_error = Some(error);
        }
        Ok(())
    }

    async fn reopen(&self, id: &FactoryOrderId, note: &str) -> Result<bool, StoreError> {
        let now = now_millis();
        let mut st = self.state()?;
        let Some(this) = st.orders.iter().find(|o| &o.id == id) else {
            return Ok(false);
        };
        let (sku, created_at) = (this.sku.clone(), this.created_at);
        let superseded = st
            .orders
            .iter()
            .any(|n| n.sku == sku && &n.id != id && n.created_at >= created_at);
        if superseded || st.open_order(&sku).is_some() {
            return Ok(false);
        }
        let Some(o) = st.order_mut(id).filter(|o| o.status == OrderStatus::Failed) else {
            return Ok(false);
        };
        o.status = OrderStatus::Pending;
        o.last_error = None;
        o.updated_at = now;
        o.transitions
            .push(transition(OrderStatus::Pending, now, note));
        Ok(true)
    }

    async fn orders_in(
        &self,
        status: OrderStatus,
        limit: i64,
    ) -> Result<Vec<FactoryOrder>, StoreError> {
        let st = self.state()?;
        let mut found: Vec<FactoryOrder> = st
            .orders
            .iter()
            .filter(|o| o.status == status)
            .map(|o| FactoryOrder {
                transitions: Vec::new(),
                ..o.clone()
            })
            .collect();
        found.sort_by_key(|o| o.updated_at);
        found.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(found)
    }
}

#[async_trait::async_trait]
impl Restock for MemoryStore {
    async fn fulfill(
        &self,
        id: &FactoryOrderId,
        correlation_id: &str,
    ) -> Result<FulfillOutcome, StoreError> {
        let now = now_millis();
        let mut st = self.state()?;
        let Some(o) = st.order_mut(id) else {
            return Ok(FulfillOutcome::Unknown);
        };
        if !o.status.is_open() {
            return Ok(FulfillOutcome::AlreadyClosed(o.clone()));
        }
        o.status = OrderStatus::Fulfilled;
        o.updated_at = now;
        let (sku, quantity) = (o.sku.clone(), o.quantity);
        let note = format!("factory completed; restocked {quantity}");
        o.transitions
            .push(transition(OrderStatus::Fulfilled, now, &note));
        let order = o.clone();
        if let Some(p) = st.products.get_mut(&sku) {
            p.stock += quantity;
            p.updated_at = now;
        }
        st.restocks
            .push((correlation_id.to_owned(), sku, quantity, now));
        Ok(FulfillOutcome::Restocked(order))
    }
}

#[async_trait::async_trait]
impl Outbox for MemoryStore {
    async fn unpublished(
        &self,
        created_before: Millis,
        limit: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let st = self.state()?;
        let mut found: Vec<OutboxEntry> = st
            .outbox
            .iter()
            .filter(|r| r.published_at.is_none() && r.entry.created_at <= created_before)
            .map(|r| r.entry.clone())
            .collect();
        found.sort_by_key(|e| e.created_at);
        found.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(found)
    }

    async fn mark_published(&self, event_id: &str) -> Result<(), StoreError> {
        let now = now_millis();
        let mut st = self.state()?;
        if let Some(r) = st
            .outbox
            .iter_mut()
            .find(|r| r.entry.id == event_id && r.published_at.is_none())
        {
            r.published_at = Some(now);
            r.attempts += 1;
        }
        Ok(())
    }

    async fn note_publish_failure(&self, event_id: &str) -> Result<(), StoreError> {
        let mut st = self.state()?;
        if let Some(r) = st.outbox.iter_mut().find(|r| r.entry.id == event_id) {
            r.attempts += 1;
        }
        Ok(())
    }

    async fn handle_stuck(
        &self,
        requested_before: Millis,
        max_attempts: i64,
        limit: i64,
    ) -> Result<StuckOrders, StoreError> {
        let now = now_millis();
        let mut st = self.state()?;
        let mut stuck: Vec<(Millis, FactoryOrderId)> = st
            .orders
            .iter()
            .filter(|o| o.status == OrderStatus::Requested)
            .filter_map(|o| o.requested_at.map(|at| (at, o.id.clone())))
            .filter(|(at, _)| *at < requested_before)
            .collect();
        stuck.sort();
        stuck.truncate(usize::try_from(limit).unwrap_or(0));
        let mut out = StuckOrders::default();
        for (_, id) in stuck {
            let Some(o) = st.order_mut(&id) else { continue };
            o.updated_at = now;
            if o.attempts >= max_attempts {
                let why = format!(
                    "no completion from the factory after {} requests",
                    o.attempts
                );
                o.status = OrderStatus::Failed;
                o.transitions
                    .push(transition(OrderStatus::Failed, now, &why));
                o.last_error = Some(why);
                out.failed.push(id);
                continue;
            }
            o.requested_at = Some(now);
            let note = format!("no completion yet: re-sending (attempt {})", o.attempts + 1);
            o.transitions
                .push(transition(OrderStatus::Requested, now, &note));
            let event =
                StockOutEvent::new(new_id(), &o.id, &o.sku, o.quantity, &o.correlation_id, now);
            st.push_outbox(&event)?;
            out.resend.push(event);
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl Reports for MemoryStore {
    async fn sales_between(&self, from: Millis, to: Millis) -> Result<Vec<SaleRow>, StoreError> {
        let st = self.state()?;
        let mut rows: Vec<SaleRow> = st
            .sales
            .iter()
            .filter(|s| (from..to).contains(&s.row.created_at))
            .map(|s| s.row.clone())
            .collect();
        rows.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(rows)
    }

    async fn movements_between(
        &self,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<Movement>, StoreError> {
        let st = self.state()?;
        let mut by_sku: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for s in st
            .sales
            .iter()
            .filter(|s| (from..to).contains(&s.row.created_at))
        {
            by_sku.entry(s.row.sku.clone()).or_default().0 += s.row.quantity;
        }
        for (_, sku, quantity, at) in &st.restocks {
            if (from..to).contains(at) {
                by_sku.entry(sku.as_str().to_owned()).or_default().1 += quantity;
            }
        }
        Ok(by_sku
            .into_iter()
            .map(|(sku, (sold, restocked))| Movement {
                sku,
                sold,
                restocked,
            })
            .collect())
    }

    async fn ledger(&self) -> Result<Vec<Ledger>, StoreError> {
        let st = self.state()?;
        Ok(st
            .products
            .iter()
            .map(|(sku, p)| Ledger {
                sku: sku.as_str().to_owned(),
                stock: p.stock,
                sold: st
                    .sales
                    .iter()
                    .filter(|s| s.row.sku == sku.as_str())
                    .map(|s| s.row.quantity)
                    .sum(),
                restocked: st
                    .restocks
                    .iter()
                    .filter(|r| &r.1 == sku)
                    .map(|r| r.2)
                    .sum(),
                open_orders: i64::from(st.open_order(sku).is_some()),
            })
            .collect())
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

/// Fixtures for the handlers' unit tests (the orderer's, the relay's).
#[cfg(test)]
pub(crate) mod fixtures {
    use super::MemoryStore;
    use crate::domain::{ProductSpec, Quantity, SaleRequest, Sku, StockOutEvent};
    use crate::store::{Catalog, SaleOutcome, Sales};
    use std::sync::Arc;

    /// A store whose only product (`glazed`, reorder quantity 12) just sold out: one pending
    /// factory order, its event in the outbox, and that event.
    pub(crate) async fn stocked_out() -> (Arc<MemoryStore>, StockOutEvent) {
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
