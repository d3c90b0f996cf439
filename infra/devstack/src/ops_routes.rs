//! The local-only `/ops/*` routes: the operator's view of the local stack, answered with
//! `ops_core` (which `donut-ops --aws` uses against a deployed stack) and the local queues.

use crate::Shared;
use crate::alarms::evaluate_alarms;
use crate::reply::{self, json_response};
use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, Request, State};
use axum::response::Response as AxumResponse;
use axum::routing::{get, post};
use ops_core::{Delivery, OpsError};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;
use tower::util::MapRequest;

/// The `/ops/*` routes (the operator's view; `donut-ops` speaks to them), nested under `/ops`;
/// trailing slashes are ignored.
pub(crate) fn service(shared: Arc<Shared>) -> MapRequest<Router, fn(Request) -> Request> {
    Router::new()
        .route("/alarms", get(alarms))
        .route("/dlq", get(dlq))
        .route("/dlq/redrive", post(redrive))
        .route("/ledger", get(ledger))
        .route("/factory-orders", get(factory_orders))
        .route("/factory-orders/{id}/retry", post(retry))
        .route("/skus/{sku}/history", get(sku_history))
        .method_not_allowed_fallback(reply::method_not_allowed)
        .fallback(|| async {
            json_response(
                404,
                json!({"error": "not_found", "message": "unknown ops route"}),
            )
        })
        .with_state(shared)
        .map_request(trim_trailing_slashes as fn(Request) -> Request)
}

fn trim_trailing_slashes(mut req: Request) -> Request {
    let path = req.uri().path();
    let trimmed = path.trim_end_matches('/');
    if trimmed.len() < path.len() && !trimmed.is_empty() {
        let path_and_query = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_owned(),
        };
        if let Ok(uri) = path_and_query.parse() {
            *req.uri_mut() = uri;
        }
    }
    req
}

fn query_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then_some(v)
    })
}

fn ops_error(e: OpsError) -> AxumResponse {
    json_response(
        e.status(),
        json!({"error": e.code(), "message": e.to_string()}),
    )
}

/// A path parameter (percent-decoded), or why it is not one.
fn param(p: Result<Path<String>, PathRejection>) -> Result<String, OpsError> {
    p.map(|Path(v)| v)
        .map_err(|e| OpsError::Invalid(e.body_text()))
}

async fn alarms(State(shared): State<Arc<Shared>>) -> AxumResponse {
    let alarms = evaluate_alarms(&shared).await;
    json_response(200, json!({ "alarms": alarms }))
}

async fn dlq(State(shared): State<Arc<Shared>>) -> AxumResponse {
    let mut messages = Vec::new();
    for m in shared.dlq.peek_all() {
        let explained = ops_core::explain_message(&*shared.store, &m.body).await;
        let delivery = Delivery {
            message_id: Some(m.message_id),
            receive_count: Some(u64::from(m.receive_count)),
            attributes: m
                .attributes
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect(),
            sent_at: Some(inventory::domain::rfc3339(m.sent_at_ms as i64)),
        };
        messages.push(delivery.annotate(explained));
    }
    json_response(
        200,
        json!({ "queue": shared.dlq.name, "depth": messages.len(), "messages": messages }),
    )
}

async fn redrive(State(shared): State<Arc<Shared>>) -> AxumResponse {
    let moved = shared.dlq.redrive_to(&shared.queue);
    inventory::metrics::dlq_redrives(moved as u64);
    tracing::warn!(
        moved,
        source = %shared.dlq.name,
        target = %shared.queue.name,
        "DLQ redriven"
    );
    json_response(200, json!({ "moved": moved }))
}

async fn ledger(State(shared): State<Arc<Shared>>) -> AxumResponse {
    match shared.store.ledger().await {
        Ok(rows) => json_response(
            200,
            json!({ "ledger": rows.iter().map(|l| json!({
                "sku": l.sku, "stock": l.stock, "sold": l.sold,
                "restocked": l.restocked, "open_orders": l.open_orders,
                "implied_initial": l.stock + l.sold - l.restocked,
            })).collect::<Vec<_>>() }),
        ),
        Err(e) => ops_error(e.into()),
    }
}

async fn factory_orders(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> AxumResponse {
    let query = query.unwrap_or_default();
    let status = query_param(&query, "status").unwrap_or("failed");
    let older_than = match query_param(&query, "older_than_secs").map(str::parse::<u64>) {
        None => Duration::from_secs(60),
        Some(Ok(n)) => Duration::from_secs(n),
        Some(Err(_)) => {
            return ops_error(OpsError::Invalid(
                "older_than_secs must be a whole number of seconds".into(),
            ));
        }
    };
    match ops_core::list_orders(&*shared.store, status, older_than).await {
        Ok(orders) => json_response(
            200,
            json!({ "status": status, "count": orders.len(), "factory_orders": orders }),
        ),
        Err(e) => ops_error(e),
    }
}

async fn retry(
    State(shared): State<Arc<Shared>>,
    id: Result<Path<String>, PathRejection>,
) -> AxumResponse {
    let id = match param(id) {
        Ok(id) => id,
        Err(e) => return ops_error(e),
    };
    match ops_core::retry_order(&*shared.store, &shared.publisher, &id).await {
        Ok(v) => json_response(200, v),
        Err(e) => ops_error(e),
    }
}

async fn sku_history(
    State(shared): State<Arc<Shared>>,
    sku: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> AxumResponse {
    let sku = match param(sku) {
        Ok(sku) => sku,
        Err(e) => return ops_error(e),
    };
    let since_hours = query_param(query.as_deref().unwrap_or_default(), "since_hours")
        .and_then(|h| h.parse::<i64>().ok())
        .unwrap_or(24);
    match ops_core::sku_history(&*shared.store, &sku, since_hours).await {
        Ok(v) => json_response(200, v),
        Err(e) => ops_error(e),
    }
}

/// Why a DLQ message failed, explained from the message and the database.
pub async fn dlq_reason(shared: &Shared, body: &str) -> String {
    ops_core::explain(&*shared.store, body).await
}
