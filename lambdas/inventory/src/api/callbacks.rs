//! `POST /factory/callbacks/{id}?token=…`: the factory's completion, authenticated by the
//! order's signed token, restocks once.

use super::request::{Call, Reply};
use super::{Api, ApiError, MAX_BODY, order_json};
use crate::domain::FactoryOrderId;
use crate::factory::Completion;
use crate::store::FulfillOutcome;
use serde_json::json;
use tracing::Instrument;

pub(super) async fn complete(api: &Api, call: &Call) -> Result<Reply, ApiError> {
    let Some(signer) = &api.callbacks else {
        return Err(ApiError::not_found(&call.path));
    };
    let param = call.param.as_str();
    // Authenticate before anything else: a forged callback learns nothing and changes nothing.
    let token = call
        .query("token")
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized(
            "the callback URL's token is missing",
        ))?;
    if !signer.verify(param, token) {
        tracing::warn!(
            factory_order_id = param.chars().take(64).collect::<String>(),
            "ALARM forged or tampered factory callback rejected"
        );
        return Err(ApiError::Forbidden(
            "the callback token is not valid for this order".into(),
        ));
    }
    let id = FactoryOrderId::parse(param)?;
    let completion: Completion = call.json(MAX_BODY)?;
    let order = api
        .store
        .factory_order(&id)
        .await?
        .ok_or_else(|| ApiError::UnknownOrder(id.to_string()))?;
    let span = tracing::info_span!("callback", factory_order_id = %id, order_correlation_id = %order.correlation_id);
    async {
        if completion.product_id != order.sku.as_str() || completion.product_cnt != order.quantity {
            tracing::warn!(product = %completion.product_id.chars().take(64).collect::<String>(), count = completion.product_cnt, "ALARM factory callback does not match its order");
            return Err(ApiError::Forbidden(format!(
                "the completion ({} x {}) does not match factory order {id}",
                completion.product_cnt,
                completion.product_id.chars().take(64).collect::<String>()
            )));
        }
        match api.store.fulfill(&id, &order.correlation_id).await? {
            FulfillOutcome::Restocked(o) => {
                crate::metrics::order_fulfilled(o.quantity);
                tracing::info!(sku = %o.sku, quantity = o.quantity, "factory order fulfilled: restocked");
                Ok(Reply::new(200, json!({ "restocked": true, "factory_order": order_json(&o) })))
            }
            FulfillOutcome::AlreadyClosed(o) => {
                tracing::info!(status = o.status.as_str(), "duplicate factory completion: no change");
                Ok(Reply::new(200, json!({ "restocked": false, "factory_order": order_json(&o) })))
            }
            FulfillOutcome::Unknown => Err(ApiError::UnknownOrder(id.to_string())),
        }
    }
    .instrument(span)
    .await
}
