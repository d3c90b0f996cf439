//! A SKU's story: product, ledger line, sales, restocks and recent factory orders.

use crate::OpsError;
use crate::orders::all_orders;
use inventory::api::{order_json, product_json};
use inventory::domain::{FactoryOrder, OrderStatus, Sku, now_millis, rfc3339};
use inventory::store::{Catalog, Orders, Reports};
use serde_json::{Value, json};
use std::collections::HashMap;

/// A SKU's story: the product, its ledger line, sales in the last `since_hours`, restocks,
/// and its most recent factory orders with their transitions.
pub async fn sku_history(
    store: &(impl Catalog + Orders + Reports + ?Sized),
    sku: &str,
    since_hours: i64,
) -> Result<Value, OpsError> {
    let sku = Sku::parse(sku).map_err(|e| OpsError::Invalid(e.to_string()))?;
    let product = store.product(&sku).await?;
    let ledger = store
        .ledger()
        .await?
        .into_iter()
        .find(|l| l.sku == sku.as_str());
    let restocked = ledger.as_ref().map(|l| l.restocked).unwrap_or(0);
    let mut orders: Vec<FactoryOrder> = all_orders(store)
        .await?
        .into_iter()
        .filter(|o| o.sku == sku)
        .collect();
    if product.is_none() && ledger.is_none() && orders.is_empty() {
        return Err(OpsError::NotFound(format!("unknown sku {sku}")));
    }
    orders.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    let fulfilled = orders
        .iter()
        .filter(|o| o.status == OrderStatus::Fulfilled)
        .count();
    let mut by_status: HashMap<&str, usize> = HashMap::new();
    for o in &orders {
        *by_status.entry(o.status.as_str()).or_default() += 1;
    }
    let mut recent = Vec::new();
    for o in orders.iter().take(20) {
        if let Some(full) = store.factory_order(&o.id).await? {
            let mut v = order_json(&full);
            v["correlation_id"] = json!(full.correlation_id);
            recent.push(v);
        }
    }
    let now = now_millis();
    let since = now - since_hours.max(0) * 3_600_000;
    let sales: Vec<_> = store
        .sales_between(since, now + 1)
        .await?
        .into_iter()
        .filter(|s| s.sku == sku.as_str())
        .collect();
    Ok(json!({
        "sku": sku,
        "product": product.as_ref().map(product_json),
        "ledger": ledger.map(|l| json!({
            "stock": l.stock,
            "sold": l.sold,
            "restocked": l.restocked,
            "open_orders": l.open_orders,
            "implied_initial": l.stock + l.sold - l.restocked,
        })),
        "sales": {
            "since": rfc3339(since),
            "count": sales.len(),
            "quantity": sales.iter().map(|s| s.quantity).sum::<i64>(),
            "last_at": sales.last().map(|s| rfc3339(s.created_at)),
        },
        "restocks": {"count": fulfilled, "quantity": restocked},
        "factory_orders": {
            "total": orders.len(),
            "by_status": by_status,
            "recent": recent,
        },
    }))
}
