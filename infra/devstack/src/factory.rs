//! The factory stand-in's local HTTP face (`/factory-sim/*`): the shared stand-in
//! (`inventory::sim::FactorySim`, also behind the deployed factory-sim function) answers
//! manufacture requests; completions are called back after the configured delay from a task
//! of this process (held back while `Shared::hold_completions` is true). `/control` reads and
//! sets the knobs.

use crate::Shared;
use crate::http::json_response;
use axum::response::Response as AxumResponse;
use inventory::sim::{Answer, KnobsPatch};
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
            let started = std::time::Instant::now();
            let span = tracing::info_span!(
                "factory_sim",
                correlation_id = %inventory::domain::correlation_id(correlation_id)
            );
            let latency = Duration::from_millis(shared.sim.knobs().latency_ms);
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            let req = match inventory::sim::parse_request(body) {
                Ok(r) => r,
                Err(e) => {
                    span.in_scope(|| tracing::warn!(outcome = "bad_request", status = 400, error = %e, "factory-sim: manufacture request"));
                    return json_response(400, json!({"error": "bad_request", "message": e}));
                }
            };
            let factory_order_id = req.message_group_id.clone();
            let answer = shared.sim.answer(&req);
            let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
            match answer {
                Answer::Accepted {
                    reference,
                    schedule,
                } => {
                    span.in_scope(|| tracing::info!(outcome = "accepted", status = 202, factory_order_id = %factory_order_id, factory_ref = %reference, repeat = schedule.is_none(), latency_ms, "factory-sim: manufacture request"));
                    if let Some((url, completion)) = schedule {
                        let delay = Duration::from_millis(shared.sim.knobs().delay_ms);
                        let shared = shared.clone();
                        let mut hold = shared.hold_completions.subscribe();
                        let task_span = span.clone();
                        tokio::spawn(
                            async move {
                                tokio::time::sleep(delay).await;
                                let _ = hold.wait_for(|held| !*held).await;
                                let status =
                                    inventory::sim::deliver(&shared.http, &url, &completion).await;
                                let delivered = status.is_some_and(|s| (200..300).contains(&s));
                                if delivered {
                                    shared.sim.completions.fetch_add(1, Ordering::Relaxed);
                                }
                                tracing::info!(outcome = if delivered { "delivered" } else { "not_delivered" }, callback_status = status, factory_order_id = %completion.message_group_id.as_deref().unwrap_or("-"), "factory-sim: completion callback");
                            }
                            .instrument(task_span),
                        );
                    }
                    json_response(202, json!({"reference": reference, "status": "accepted"}))
                }
                Answer::Failed(status, why) => {
                    span.in_scope(|| tracing::warn!(outcome = "failed", status, factory_order_id = %factory_order_id, error = why, latency_ms, "factory-sim: manufacture request"));
                    json_response(status, json!({"error": "factory_error", "message": why}))
                }
            }
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

fn sim_state(shared: &Shared) -> Value {
    let s = &shared.sim;
    json!({
        "knobs": s.knobs(),
        "requests": s.requests.load(Ordering::Relaxed),
        "batches": s.batches.load(Ordering::Relaxed),
        "completions": s.completions.load(Ordering::Relaxed),
    })
}
