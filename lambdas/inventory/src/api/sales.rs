//! `POST /sales`: one sale, idempotent per `Idempotency-Key`; a stock-out publishes its event
//! after the commit.

use super::request::{Call, Reply, Seen};
use super::{Api, ApiError, MAX_BODY};
use crate::domain::{Quantity, Sale, SaleRequest, Sku, ValidationError, rfc3339};
use crate::messaging::publish_after_commit;
use crate::store::SaleOutcome;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SaleBody {
    sku: String,
    quantity: Value,
}

pub(super) async fn sell(api: &Api, call: &Call, seen: &mut Seen) -> Result<Reply, ApiError> {
    let body: SaleBody = call.json(MAX_BODY)?;
    let sku = Sku::parse(&body.sku)?;
    seen.sku = Some(sku.to_string());
    let quantity = body
        .quantity
        .as_i64()
        .ok_or(ValidationError::Quantity)
        .and_then(Quantity::new)?;
    seen.quantity = Some(quantity.get());
    // A key that is present but not visible ASCII must not be read as "no key": the retry it
    // protects would sell twice.
    let idempotency_key = match call
        .head
        .headers
        .get("idempotency-key")
        .map(|v| v.as_bytes())
    {
        None => None,
        Some(k) if (1..=128).contains(&k.len()) && k.iter().all(|b| (0x21..0x7f).contains(b)) => {
            Some(String::from_utf8_lossy(k).into_owned())
        }
        Some(_) => {
            return Err(ApiError::InvalidRequest(
                "Idempotency-Key must be 1-128 printable ASCII characters".into(),
            ));
        }
    };
    let sale = SaleRequest {
        sku,
        quantity,
        idempotency_key,
        correlation_id: call.correlation_id.clone(),
    };
    match api.store.sell(&sale).await? {
        SaleOutcome::Sold { sale, event } => {
            crate::metrics::sale_completed();
            if let Some(event) = event {
                tracing::info!(sku = %sale.sku, factory_order_id = %event.factory_order_id, remaining = sale.remaining_stock, "stock-out: factory order opened");
                if let Some(p) = &api.publisher {
                    publish_after_commit(&api.store, p, &event).await;
                }
            }
            Ok(Reply::new(201, sale_json(&sale)))
        }
        SaleOutcome::Replayed(sale) => {
            let mut r = Reply::new(201, sale_json(&sale));
            r.headers.push(("idempotent-replayed", "true".into()));
            Ok(r)
        }
        SaleOutcome::KeyReused => Err(ApiError::KeyReused),
        SaleOutcome::OutOfStock {
            available,
            order,
            event,
        } => {
            crate::metrics::sale_refused();
            if let Some(event) = event {
                tracing::info!(sku = %sale.sku, factory_order_id = %event.factory_order_id, "refused for lack of stock: factory order opened");
                if let Some(p) = &api.publisher {
                    publish_after_commit(&api.store, p, &event).await;
                }
            }
            Err(ApiError::OutOfStock {
                sku: sale.sku.to_string(),
                requested: sale.quantity.get(),
                available,
                order,
            })
        }
        SaleOutcome::UnknownSku => Err(ApiError::UnknownSku(sale.sku.to_string())),
    }
}

pub fn sale_json(s: &Sale) -> Value {
    json!({
        "id": s.id,
        "sku": s.sku,
        "quantity": s.quantity,
        "remaining_stock": s.remaining_stock,
        "created_at": rfc3339(s.created_at),
        "factory_order": s.factory_order,
    })
}
