//! The factory stand-in's local HTTP face (`/factory-sim/*`): the shared stand-in
//! (`factory_sim::sim::FactorySim`, also behind the deployed factory-sim function) answers
//! manufacture requests ([`FactorySim::manufacture`]); completions are called back after the
//! configured delay from a task of this process ([`LocalCompletions`], held back while
//! `Shared::hold_completions` is true). `/control` reads and sets the knobs.
//!
//! [`FactorySim::manufacture`]: factory_sim::sim::FactorySim::manufacture

use crate::Shared;
use crate::http::json_response;
use axum::response::Response as AxumResponse;
use factory_sim::sim::{Completions, KnobsPatch, ScheduledCompletion};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tracing::Instrument;

pub(crate) async fn route(
    shared: &Arc<Shared>,
    method: &str,
    path: &str,
    body: &[u8],
    correlation_id: Option<&str>,
) -> AxumResponse {
    match (method, path) {
        ("POST", "/api/manufactures") => {
            let span = tracing::info_span!(
                "factory_sim",
                correlation_id = %inventory::domain::correlation_id(correlation_id)
            );
            let reply = shared
                .sim
                .manufacture(Ok(body), &LocalCompletions(shared.clone()))
                .instrument(span)
                .await;
            json_response(reply.status, reply.body)
        }
        ("GET", "/control") => json_response(200, sim_state(shared)),
        ("POST", "/control") => match serde_json::from_slice::<KnobsPatch>(body) {
            Ok(p) => {
                let knobs = shared.sim.set(p);
                tracing::warn!(knobs = ?knobs, "factory-sim: knobs changed");
                json_response(200, sim_state(shared))
            }
            Err(e) => json_response(
                400,
                json!({"error": "invalid_request", "message": e.to_string()}),
            ),
        },
        _ => json_response(
            404,
            json!({"error": "not_found", "message": "unknown factory-sim route"}),
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
