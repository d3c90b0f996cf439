//! A store that loses the answer of a commit on purpose (`StoreError::Ambiguous`): delegates
//! every port to a real store, except the writes a case scripts.

use async_trait::async_trait;
use inventory::domain::{
    CorrelationId, EventId, FactoryOrder, FactoryOrderId, Millis, OrderStatus, Product,
    ProductSpec, Sale, SaleId, SaleRequest, Sku,
};
use inventory::store::{
    Catalog, DynStore, FulfillOutcome, Ledger, Movement, Orders, Outbox, OutboxEntry, Reports,
    Restock, SaleOutcome, SaleRow, Sales, Schema, StoreError, StuckOrders,
};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// What the next scripted write does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lose {
    /// The write commits, then its answer is lost.
    AfterCommit,
    /// The connection dies before the write reached the database: nothing committed, but the
    /// caller cannot tell.
    BeforeCommit,
    /// The write commits, then its answer never comes (a statement or connection that hangs
    /// past the invocation's deadline).
    StallAfterCommit,
}

/// Delegates to a real store. `sells`, `puts` and `fulfills` script the next writes of each
/// kind (then they behave); reads of what was written (`sale`, `product`, `factory_order`)
/// fail as unavailable while `reads_down` is above zero (each failed read counts it down;
/// `u32::MAX`: the database never comes back).
pub struct LosingStore {
    inner: DynStore,
    pub sells: Mutex<VecDeque<Lose>>,
    pub puts: Mutex<VecDeque<Lose>>,
    pub fulfills: Mutex<VecDeque<Lose>>,
    pub reads_down: AtomicU32,
}

impl LosingStore {
    pub fn new(inner: DynStore) -> Arc<Self> {
        Arc::new(LosingStore {
            inner,
            sells: Mutex::default(),
            puts: Mutex::default(),
            fulfills: Mutex::default(),
            reads_down: AtomicU32::new(0),
        })
    }

    /// Scripts the next writes of one kind.
    pub fn script(queue: &Mutex<VecDeque<Lose>>, steps: &[Lose]) {
        queue.lock().expect("script").extend(steps.iter().copied());
    }

    fn next(queue: &Mutex<VecDeque<Lose>>) -> Option<Lose> {
        queue.lock().ok()?.pop_front()
    }

    fn read_down(&self) -> Result<(), StoreError> {
        let down = self
            .reads_down
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| match n {
                0 => None,
                u32::MAX => Some(u32::MAX),
                n => Some(n - 1),
            })
            .is_ok();
        if down {
            return Err(StoreError::Unavailable(
                "injected: database still down".into(),
            ));
        }
        Ok(())
    }

    /// Runs `write` as scripted: the answer lost after or before it.
    async fn lose<T>(
        lose: Option<Lose>,
        write: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match lose {
            None => write.await,
            Some(Lose::AfterCommit) => {
                write.await?;
                Err(StoreError::Ambiguous(
                    "injected: connection reset after the commit".into(),
                ))
            }
            Some(Lose::StallAfterCommit) => {
                write.await?;
                std::future::pending().await
            }
            Some(Lose::BeforeCommit) => Err(StoreError::Ambiguous(
                "injected: connection reset before the commit arrived".into(),
            )),
        }
    }
}

#[async_trait]
impl Sales for LosingStore {
    async fn sell_as(&self, id: &SaleId, req: &SaleRequest) -> Result<SaleOutcome, StoreError> {
        Self::lose(Self::next(&self.sells), self.inner.sell_as(id, req)).await
    }
    async fn sale(&self, id: &SaleId) -> Result<Option<Sale>, StoreError> {
        self.read_down()?;
        self.inner.sale(id).await
    }
}

#[async_trait]
impl Catalog for LosingStore {
    async fn product(&self, sku: &Sku) -> Result<Option<Product>, StoreError> {
        self.read_down()?;
        self.inner.product(sku).await
    }
    async fn products(&self) -> Result<Vec<Product>, StoreError> {
        self.inner.products().await
    }
    async fn put_product(&self, spec: &ProductSpec) -> Result<(Product, bool), StoreError> {
        Self::lose(Self::next(&self.puts), self.inner.put_product(spec)).await
    }
}

#[async_trait]
impl Restock for LosingStore {
    async fn fulfill(
        &self,
        id: &FactoryOrderId,
        correlation_id: &CorrelationId,
    ) -> Result<FulfillOutcome, StoreError> {
        Self::lose(
            Self::next(&self.fulfills),
            self.inner.fulfill(id, correlation_id),
        )
        .await
    }
}

#[async_trait]
impl Orders for LosingStore {
    async fn factory_order(&self, id: &FactoryOrderId) -> Result<Option<FactoryOrder>, StoreError> {
        self.inner.factory_order(id).await
    }
    async fn mark_requested(
        &self,
        id: &FactoryOrderId,
        factory_ref: &str,
        event_id: &EventId,
    ) -> Result<bool, StoreError> {
        self.inner.mark_requested(id, factory_ref, event_id).await
    }
    async fn record_failure(
        &self,
        id: &FactoryOrderId,
        error: &str,
        give_up: bool,
    ) -> Result<(), StoreError> {
        self.inner.record_failure(id, error, give_up).await
    }
    async fn reopen(&self, id: &FactoryOrderId, note: &str) -> Result<bool, StoreError> {
        self.inner.reopen(id, note).await
    }
    async fn orders_in(
        &self,
        status: OrderStatus,
        limit: i64,
    ) -> Result<Vec<FactoryOrder>, StoreError> {
        self.inner.orders_in(status, limit).await
    }
}

#[async_trait]
impl Outbox for LosingStore {
    async fn unpublished(
        &self,
        created_before: Millis,
        limit: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.inner.unpublished(created_before, limit).await
    }
    async fn mark_published(&self, event_id: &EventId) -> Result<(), StoreError> {
        self.inner.mark_published(event_id).await
    }
    async fn note_publish_failure(&self, event_id: &EventId) -> Result<(), StoreError> {
        self.inner.note_publish_failure(event_id).await
    }
    async fn handle_stuck(
        &self,
        requested_before: Millis,
        max_attempts: i64,
        limit: i64,
    ) -> Result<StuckOrders, StoreError> {
        self.inner
            .handle_stuck(requested_before, max_attempts, limit)
            .await
    }
}

#[async_trait]
impl Reports for LosingStore {
    async fn sales_between(&self, from: Millis, to: Millis) -> Result<Vec<SaleRow>, StoreError> {
        self.inner.sales_between(from, to).await
    }
    async fn movements_between(
        &self,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<Movement>, StoreError> {
        self.inner.movements_between(from, to).await
    }
    async fn ledger(&self) -> Result<Vec<Ledger>, StoreError> {
        self.inner.ledger().await
    }
}

#[async_trait]
impl Schema for LosingStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn migrate(&self) -> Result<(), StoreError> {
        self.inner.migrate().await
    }
}
