//! The factory stand-in's local HTTP face (`/factory-sim/*`): the shared stand-in
//! (`factory_sim::sim::FactorySim`, also behind the deployed factory-sim function) answers
//! manufacture requests ([`FactorySim::manufacture`]); completions are called back after the
//! configured delay from a task of this process ([`LocalCompletions`], held back while
//! `Shared::hold_completions` is true). `/control` reads and sets the knobs.
//!
//! [`FactorySim::manufacture`]: factory_sim::sim::FactorySim::manufacture

use crate::Shared;
use crate::reply::{self, json_response, read_body};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response as AxumResponse;
use axum::routing::{get, post};
use factory_sim::sim::{Completions, KnobsPatch, ScheduledCompletion};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tracing::Instrument;

/// The stand-in's routes, under `/factory-sim`.
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/manufactures", post(manufacture))
        .route("/control", get(control).post(set_control))
        .method_not_allowed_fallback(reply::method_not_allowed)
        .fallback(|| async {
            json_response(
                404,
                json!({"error": "not_found", "message": "unknown factory-sim route"}),
            )
        })
}

/// `POST /factory-sim/api/manufactures`: the Factory API's one route.
async fn manufacture(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> AxumResponse {
    let body = match read_body(body).await {
        Ok(b) => b,
        Err(too_large) => return too_large,
    };
    let correlation_id = headers
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok());
    let span = tracing::info_span!(
        "factory_sim",
        correlation_id = %inventory::domain::CorrelationId::adopt(correlation_id)
    );
    let reply = shared
        .sim
        .manufacture(Ok(&body[..]), &LocalCompletions(shared.clone()))
        .instrument(span)
        .await;
    json_response(reply.status, reply.body)
}

/// `GET /factory-sim/control`: the knobs and counters.
async fn control(State(shared): State<Arc<Shared>>) -> AxumResponse {
    json_response(200, sim_state(&shared))
}

/// `POST /factory-sim/control`: sets the knobs the body names.
async fn set_control(State(shared): State<Arc<Shared>>, body: Body) -> AxumResponse {
    let body = match read_body(body).await {
        Ok(b) => b,
        Err(too_large) => return too_large,
    };
    match serde_json::from_slice::<KnobsPatch>(&body) {
        Ok(p) => {
            let knobs = shared.sim.set(p);
            tracing::warn!(knobs = ?knobs, "factory-sim: knobs changed");
            json_response(200, sim_state(&shared))
        }
        Err(e) => json_response(
            400,
            json!({"error": "invalid_request", "message": e.to_string()}),
        ),
    }
}

/// The local stack's [`Completions`]: a task of this process waits the delay (and while
/// `Shared::hold_completions` is true), then calls the callback back. Any callback URL.
struct LocalCompletions(Arc<Shared>);

impl Completions for LocalCompletions {
    async fn schedule(&self, item: ScheduledCompletion, delay: Duration) -> Result<(), String> {
        let shared = self.0.clone();
        let mut hold = shared.hold_completions.subscribe();
        tokio::spawn(
            async move {
                tokio::time::sleep(delay).await;
                let _ = hold.wait_for(|held| !*held).await;
                let status = shared.sim.complete(&shared.http, &item).await;
                let delivered = status.is_some_and(|s| (200..300).contains(&s));
                tracing::info!(outcome = if delivered { "delivered" } else { "not_delivered" }, callback_status = status, factory_order_id = %item.completion.message_group_id.as_deref().unwrap_or("-"), "factory-sim: completion callback");
            }
            .instrument(tracing::Span::current()),
        );
        Ok(())
    }
}

fn sim_state(shared: &Shared) -> Value {
    let s = &shared.sim;
    json!({
        "knobs": s.knobs(),
        "requests": s.requests.load(Ordering::Relaxed),
        "batches": s.batches.load(Ordering::Relaxed),
        "completions": s.completions.load(Ordering::Relaxed),
    })
}
