//! The read routes: `GET /inventory`, `GET /inventory/{sku}`, `GET /factory-orders/{id}`, and the
//! JSON shapes of a product and of a factory order.

use super::ApiError;
use super::request::{Call, Reply, Seen};
use crate::domain::{FactoryOrder, FactoryOrderId, Product, Sku, rfc3339};
use crate::store::{Catalog, Orders};
use axum::extract::State;
use serde_json::{Value, json};
use std::sync::Arc;

pub(super) async fn products(State(catalog): State<Arc<dyn Catalog>>) -> Result<Reply, ApiError> {
    let products = catalog.products().await?;
    Ok(Reply::new(
        200,
        json!({ "products": products.iter().map(product_json).collect::<Vec<_>>() }),
    ))
}

pub(super) async fn product(
    State(catalog): State<Arc<dyn Catalog>>,
    seen: Seen,
    call: Call,
) -> Result<Reply, ApiError> {
    let sku = Sku::parse(&call.param)?;
    seen.sku(&sku);
    let product = catalog
        .product(&sku)
        .await?
        .ok_or_else(|| ApiError::UnknownSku(sku.to_string()))?;
    Ok(Reply::new(200, product_json(&product)))
}

pub(super) async fn factory_order(
    State(orders): State<Arc<dyn Orders>>,
    seen: Seen,
    call: Call,
) -> Result<Reply, ApiError> {
    let id = FactoryOrderId::parse(&call.param)?;
    let order = orders
        .factory_order(&id)
        .await?
        .ok_or_else(|| ApiError::UnknownOrder(id.to_string()))?;
    seen.sku(&order.sku);
    Ok(Reply::new(200, order_json(&order)))
}

pub fn product_json(p: &Product) -> Value {
    json!({
        "sku": p.sku,
        "name": p.name,
        "stock": p.stock,
        "reorder_point": p.reorder_point,
        "reorder_quantity": p.reorder_quantity,
        "buckets": p.buckets,
        "open_factory_order": p.open_factory_order,
        "updated_at": rfc3339(p.updated_at),
    })
}

pub fn order_json(o: &FactoryOrder) -> Value {
    json!({
        "id": o.id,
        "sku": o.sku,
        "quantity": o.quantity,
        "status": o.status,
        "attempts": o.attempts,
        "factory_ref": o.factory_ref,
        "last_error": o.last_error,
        "created_at": rfc3339(o.created_at),
        "updated_at": rfc3339(o.updated_at),
        "transitions": o.transitions.iter().map(|t| json!({
            "status": t.status,
            "at": rfc3339(t.at),
            "note": t.note,
        })).collect::<Vec<_>>(),
    })
}
