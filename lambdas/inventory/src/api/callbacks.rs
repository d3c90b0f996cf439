//! `POST /factory/callbacks/{id}?token=…`: the factory's completion, authenticated by the
//! order's signed token, restocks once; a commit whose answer was lost is resolved before
//! answering (`outcome.rs`).

use super::outcome::{self, Deadline, Found};
use super::request::{Call, Reply};
use super::{ApiError, MAX_BODY, order_json};
use crate::domain::{FactoryOrder, FactoryOrderId, OrderStatus};
use crate::factory::{CallbackSigner, Completion};
use crate::store::{FulfillOutcome, Orders, Restock, StoreError};
use axum::extract::State;
use serde_json::json;
use std::sync::Arc;
use tracing::Instrument;

pub(super) async fn complete(
    State(orders): State<Arc<dyn Orders>>,
    State(restock): State<Arc<dyn Restock>>,
    State(signer): State<Option<CallbackSigner>>,
    call: Call,
) -> Result<Reply, ApiError> {
    let Some(signer) = signer else {
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
    let order = orders
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
        let fulfilled = match restock.fulfill(&id, &order.correlation_id).await {
            Ok(done) => done,
            Err(e) if e.is_ambiguous() => {
                tracing::warn!(error = %e, "the restock's commit is ambiguous: finding out");
                settle(&*orders, &*restock, &Deadline::of(&call), &id, &order).await?
            }
            Err(e) => return Err(e.into()),
        };
        match fulfilled {
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

/// The restock whose commit was ambiguous. The restock is idempotent (the order's `open →
/// fulfilled` and the `restocks` key): the order fulfilled → it committed (this callback's
/// restock if the order was open when the callback came); still open → fulfilled once more;
/// unknown at the deadline → `503 outcome_unknown` (the factory retries the callback).
async fn settle(
    orders: &dyn Orders,
    restock: &dyn Restock,
    deadline: &Deadline,
    id: &FactoryOrderId,
    before: &FactoryOrder,
) -> Result<FulfillOutcome, ApiError> {
    let mut retried = false;
    loop {
        let found = outcome::ask(deadline, || async {
            Ok::<_, StoreError>(match orders.factory_order(id).await? {
                Some(o) if o.status == OrderStatus::Fulfilled => Found::Committed(o),
                _ => Found::NotCommitted,
            })
        })
        .await;
        match found {
            Some(Found::Committed(o)) => {
                outcome::log("restock", "committed", id.as_str());
                return Ok(
                    if before.status.is_open() && o.status == OrderStatus::Fulfilled {
                        FulfillOutcome::Restocked(o)
                    } else {
                        FulfillOutcome::AlreadyClosed(o)
                    },
                );
            }
            Some(Found::NotCommitted) if !retried => {
                outcome::log("restock", "not_committed", id.as_str());
                retried = true;
                match deadline
                    .run(restock.fulfill(id, &before.correlation_id))
                    .await
                {
                    Some(Ok(done)) => return Ok(done),
                    Some(Err(e)) if e.is_ambiguous() => {}
                    Some(Err(e)) => return Err(e.into()),
                    None => break,
                }
            }
            Some(Found::NotCommitted) => {
                outcome::log("restock", "not_committed", id.as_str());
                return Err(ApiError::Unavailable);
            }
            None => break,
        }
    }
    outcome::log("restock", "unknown", id.as_str());
    Err(ApiError::OutcomeUnknown {
        what: "restock",
        field: "factory_order_id",
        id: id.to_string(),
    })
}
