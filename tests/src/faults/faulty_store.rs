//! A store that fails on purpose: delegates to a real store, except where a case injects a fault.

use async_trait::async_trait;
use inventory::domain::{EventId, FactoryOrder, FactoryOrderId, OrderStatus};
use inventory::store::{DynStore, Orders, StoreError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::WAIT;

/// Delegates to a real store; `mark_requested` can be made to fail (the process "crashes"
/// after the factory accepted, before the status update) or to wait until the order is
/// fulfilled (the completion overtakes the status update).
pub struct FaultyStore {
    inner: DynStore,
    /// How many of the next `mark_requested` calls fail (`StoreError::Unavailable`).
    pub fail_mark_requested: AtomicU32,
    /// When set, `mark_requested` waits until the order is fulfilled before it runs.
    pub hold_mark_requested_until_fulfilled: AtomicBool,
    /// Every `mark_requested` call, failed or not.
    pub mark_requested_calls: AtomicU32,
}

impl FaultyStore {
    pub fn new(inner: DynStore) -> Arc<Self> {
        Arc::new(FaultyStore {
            inner,
            fail_mark_requested: AtomicU32::new(0),
            hold_mark_requested_until_fulfilled: AtomicBool::new(false),
            mark_requested_calls: AtomicU32::new(0),
        })
    }
}

/// Only the factory order's life: what the orderer uses.
#[async_trait]
impl Orders for FaultyStore {
    async fn factory_order(&self, id: &FactoryOrderId) -> Result<Option<FactoryOrder>, StoreError> {
        self.inner.factory_order(id).await
    }
    async fn mark_requested(
        &self,
        id: &FactoryOrderId,
        factory_ref: &str,
        event_id: &EventId,
    ) -> Result<bool, StoreError> {
        self.mark_requested_calls.fetch_add(1, Ordering::SeqCst);
        let fail = self
            .fail_mark_requested
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fail {
            return Err(StoreError::Unavailable(
                "injected: process died after the factory call".into(),
            ));
        }
        if self
            .hold_mark_requested_until_fulfilled
            .load(Ordering::SeqCst)
        {
            let started = Instant::now();
            while started.elapsed() < WAIT {
                let o = self.inner.factory_order(id).await?;
                if o.is_some_and(|o| o.status == OrderStatus::Fulfilled) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
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
