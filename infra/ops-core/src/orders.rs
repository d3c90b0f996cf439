//! Factory orders as an operator sees them: the failed ones awaiting action, the stuck ones,
//! and the retry that publishes a stock-out again.

use crate::OpsError;
use inventory::api::order_json;
use inventory::domain::{
    EventId, FactoryOrder, FactoryOrderId, OrderStatus, StockOutEvent, now_millis,
};
use inventory::messaging::DynPublisher;
use inventory::store::{Catalog, Orders, StoreError};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use tracing::Instrument;

/// The most orders of one status an operator query reads (oldest first).
pub const SCAN_LIMIT: i64 = 100_000;

pub(crate) async fn all_orders(
    orders: &(impl Orders + ?Sized),
) -> Result<Vec<FactoryOrder>, StoreError> {
    let mut all = Vec::new();
    for status in [
        OrderStatus::Pending,
        OrderStatus::Requested,
        OrderStatus::Fulfilled,
        OrderStatus::Failed,
    ] {
        all.extend(orders.orders_in(status, SCAN_LIMIT).await?);
    }
    Ok(all)
}

/// Failed orders an operator must act on: the newest order of their SKU is this failed one
/// (a failed order superseded by a newer order for the SKU needs nothing more).
pub async fn failed_orders_needing_action(
    orders: &(impl Orders + ?Sized),
) -> Result<Vec<FactoryOrder>, StoreError> {
    let failed = orders.orders_in(OrderStatus::Failed, 1000).await?;
    if failed.is_empty() {
        return Ok(failed);
    }
    let mut newest: HashMap<String, (i64, FactoryOrderId)> = HashMap::new();
    for o in all_orders(orders).await? {
        let e = newest
            .entry(o.sku.to_string())
            .or_insert((o.created_at, o.id.clone()));
        if (o.created_at, &o.id) > (e.0, &e.1) {
            *e = (o.created_at, o.id.clone());
        }
    }
    Ok(failed
        .into_iter()
        .filter(|f| newest.get(f.sku.as_str()).is_none_or(|(_, id)| *id == f.id))
        .collect())
}

fn order_summary(o: &FactoryOrder, now: i64) -> Value {
    let mut v = order_json(o);
    if let Some(m) = v.as_object_mut() {
        m.remove("transitions");
        m.insert("age_secs".into(), json!((now - o.updated_at).max(0) / 1000));
        m.insert("correlation_id".into(), json!(o.correlation_id));
    }
    v
}

/// Orders in a status: `failed`, `pending`, `requested`, `fulfilled`, or `stuck` (pending or
/// requested, unchanged for `older_than`).
pub async fn list_orders(
    orders: &(impl Orders + ?Sized),
    status: &str,
    older_than: Duration,
) -> Result<Vec<Value>, OpsError> {
    let now = now_millis();
    let listed = match status {
        "stuck" => {
            let cutoff = now - older_than.as_millis() as i64;
            let mut v = orders.orders_in(OrderStatus::Pending, SCAN_LIMIT).await?;
            v.extend(orders.orders_in(OrderStatus::Requested, SCAN_LIMIT).await?);
            v.retain(|o| o.updated_at <= cutoff);
            v.sort_by_key(|o| o.updated_at);
            v
        }
        other => {
            let s = OrderStatus::parse(other).ok_or_else(|| {
                OpsError::Invalid(format!(
                    "status must be failed, stuck, pending, requested or fulfilled, not {other:?}"
                ))
            })?;
            orders.orders_in(s, SCAN_LIMIT).await?
        }
    };
    Ok(listed.iter().map(|o| order_summary(o, now)).collect())
}

/// An operator's retry: a failed order is reopened (`failed -> pending`), a stuck one
/// (pending/requested) kept, and a new stock-out event for it — same order id, so the same
/// factory idempotency key, and the order's correlation id — is published to the topic.
/// If the publish fails the order is left `pending`: run the retry again.
pub async fn retry_order(
    store: &(impl Orders + Catalog + ?Sized),
    publisher: &DynPublisher,
    id: &str,
) -> Result<Value, OpsError> {
    let id = FactoryOrderId::parse(id)
        .map_err(|_| OpsError::Invalid(format!("{id:?} is not a factory order id")))?;
    let order = store
        .factory_order(&id)
        .await?
        .ok_or_else(|| OpsError::NotFound(format!("unknown factory order {id}")))?;
    let span = tracing::info_span!("ops_retry", correlation_id = %order.correlation_id, factory_order_id = %id, sku = %order.sku);
    retry_open_order(store, publisher, order)
        .instrument(span)
        .await
}

async fn retry_open_order(
    store: &(impl Orders + Catalog + ?Sized),
    publisher: &DynPublisher,
    order: FactoryOrder,
) -> Result<Value, OpsError> {
    let id = order.id.clone();
    let before = order.status;
    match order.status {
        OrderStatus::Fulfilled => {
            return Err(OpsError::Conflict(format!(
                "factory order {id} is already fulfilled"
            )));
        }
        OrderStatus::Failed => {
            if !store
                .reopen(&id, "reopened by an operator (donut-ops orders retry)")
                .await?
            {
                let open = store
                    .product(&order.sku)
                    .await?
                    .and_then(|p| p.open_factory_order)
                    .map(|o| format!(" ({} is {})", o.id, o.status.as_str()))
                    .unwrap_or_default();
                return Err(OpsError::Conflict(format!(
                    "factory order {id} cannot be reopened: another order is open for {}{open}",
                    order.sku
                )));
            }
        }
        OrderStatus::Pending | OrderStatus::Requested => {}
    }
    let event = StockOutEvent::new(
        EventId::new(),
        &id,
        &order.sku,
        order.quantity,
        &order.correlation_id,
        now_millis(),
    );
    if let Err(e) = publisher.publish(&event).await {
        tracing::error!(outcome = "publish_failed", error = %e, "operator retry: the order is pending but its stock-out was not published; retry again");
        return Err(OpsError::Publish(format!(
            "{e}; factory order {id} is now pending: run the retry again"
        )));
    }
    tracing::warn!(outcome = "retried", previous = before.as_str(), event_id = %event.event_id, "operator retry: stock-out published again");
    let order = store.factory_order(&id).await?;
    Ok(json!({
        "retried": true,
        "previous_status": before.as_str(),
        "event_id": event.event_id,
        "correlation_id": event.correlation_id,
        "factory_order": order.as_ref().map(order_json),
    }))
}
