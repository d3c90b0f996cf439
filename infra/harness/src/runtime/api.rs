//! The Lambda Runtime API of one instance (`/2018-06-01/runtime/…`): `invocation/next` hands
//! out the next invocation with its deadline and arms the timeout; `response` and `error`
//! answer it; `init/error` reports a failed init.

use super::{Answer, Inflight, Shared, TIMED_OUT};
use crate::Error;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::task::AbortHandle;

/// One instance's side of the Runtime API.
#[derive(Clone)]
struct Api {
    shared: Arc<Shared>,
    instance: usize,
}

/// Serves instance `instance`'s Runtime API on a free port; its `host:port` and the server task.
pub(super) async fn serve(
    shared: Arc<Shared>,
    instance: usize,
) -> Result<(String, AbortHandle), Error> {
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(Api { shared, instance });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, server.abort_handle()))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

async fn next(State(api): State<Api>) -> Response {
    let s = &api.shared;
    let generation = s.with_instance(api.instance, |x| {
        x.asks += 1;
        x.ready.get_or_insert_with(Instant::now);
        x.generation
    });
    let pending = {
        let mut rx = s.queue_rx.lock().await;
        rx.recv().await
    };
    let Some(p) = pending else {
        return StatusCode::GONE.into_response();
    };
    // The process that asked was replaced while it waited (killed idle): the invocation is not
    // its to take.
    if s.with_instance(api.instance, |x| x.generation) != generation {
        let _ = s.requeue.send(p);
        return StatusCode::GONE.into_response();
    }
    let id = uuid::Uuid::new_v4().to_string();
    s.invocations.fetch_add(1, Ordering::SeqCst);
    if let Some(tap) = s.tap() {
        tap(&super::Seen::Invoked {
            instance: api.instance,
            payload: &p.payload,
        });
    }
    s.inflight.lock().await.insert(
        id.clone(),
        Inflight {
            reply: p.reply,
            instance: api.instance,
            slot: p.slot,
        },
    );
    s.with_instance(api.instance, |x| x.current = Some(id.clone()));
    // The deadline, as Lambda sets it: Timeout from now. Past it, the invocation has failed and
    // the execution environment is reset.
    let timeout = s.timeout();
    let deadline = now_ms() + timeout.as_millis() as u64;
    let (shared, rid) = (s.clone(), id.clone());
    tokio::spawn(async move {
        tokio::time::sleep(timeout).await;
        let Some(held) = shared.inflight.lock().await.remove(&rid) else {
            return;
        };
        shared.timeouts.fetch_add(1, Ordering::SeqCst);
        let message = format!(
            "RequestId: {rid} Error: Task timed out after {:.2} seconds",
            timeout.as_secs_f64()
        );
        shared.logs.harness(&shared.name, &message);
        // Reset: the process goes, with whatever it was doing and its connections.
        shared.kill(held.instance);
        // The concurrency is free before the caller hears (it may invoke again at once).
        drop(held.slot);
        let _ = held.reply.send(Answer::Err(json!({
            "errorType": TIMED_OUT,
            "errorMessage": message,
        })));
    });
    let mut h = HeaderMap::new();
    let mut set = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    set("lambda-runtime-aws-request-id", id);
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set("lambda-runtime-invoked-function-arn", s.arn.clone());
    set(
        "lambda-runtime-trace-id",
        format!(
            "Root=1-{:08x}-{:024x};Parent={:016x};Sampled=0",
            now_ms() / 1000,
            rand::random::<u128>() >> 32,
            rand::random::<u64>()
        ),
    );
    set("content-type", "application/json".into());
    (StatusCode::OK, h, p.payload).into_response()
}

/// Delivers an instance's answer to the invocation's caller (after the tap's hold, if any).
async fn answer(api: &Api, id: &str, answer: Answer) -> StatusCode {
    let s = &api.shared;
    let Some(held) = s.inflight.lock().await.remove(id) else {
        // Unknown or timed out: Lambda answers 4xx and the runtime moves on.
        return StatusCode::BAD_REQUEST;
    };
    s.with_instance(api.instance, |x| {
        if x.current.as_deref() == Some(id) {
            x.current = None;
        }
    });
    let hold = s.tap().and_then(|tap| {
        tap(&super::Seen::Answered {
            instance: api.instance,
            answer: &answer,
        })
    });
    match hold {
        Some(d) if !d.is_zero() => {
            tokio::spawn(async move {
                tokio::time::sleep(d).await;
                drop(held.slot);
                let _ = held.reply.send(answer);
            });
        }
        // The concurrency is free before the caller hears (it may invoke again at once).
        _ => {
            drop(held.slot);
            let _ = held.reply.send(answer);
        }
    }
    StatusCode::ACCEPTED
}

async fn response(State(api): State<Api>, UrlPath(id): UrlPath<String>, body: Bytes) -> StatusCode {
    answer(&api, &id, Answer::Ok(body)).await
}

async fn error(
    State(api): State<Api>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut err: Value = serde_json::from_slice(&body).unwrap_or_else(
        |_| json!({"errorType": "Unknown", "errorMessage": String::from_utf8_lossy(&body)}),
    );
    if let Some(t) = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        && err.get("errorType").is_none()
    {
        err["errorType"] = json!(t);
    }
    answer(&api, &id, Answer::Err(err)).await
}

async fn init_error(State(api): State<Api>, body: Bytes) -> StatusCode {
    let s = &api.shared;
    let err: Value = serde_json::from_slice(&body).unwrap_or_else(
        |_| json!({"errorType": "Runtime.InitError", "errorMessage": String::from_utf8_lossy(&body)}),
    );
    tracing::error!(function = %s.name, error = %err, "init error");
    if let Ok(mut e) = s.init_error.lock() {
        *e = Some(err.clone());
    }
    // The invocation that caused this init fails with it.
    super::fail_one_pending(s, err);
    StatusCode::ACCEPTED
}
