//! The Runtime API stand-in: hands out one event (`GET …/invocation/next`), records the answer
//! (`…/response`, `…/error`, `/init/error`) and every other request (an AWS call).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One invocation: the event handed out, and what the function did with it.
pub(super) struct Invocation {
    event: Value,
    request_id: String,
    function_arn: String,
    pub(super) next_calls: AtomicU32,
    pub(super) ready: Mutex<Option<Instant>>,
    pub(super) answered: Mutex<Option<(Instant, String, String)>>,
    pub(super) other: Mutex<Vec<String>>,
    pub(super) notify: tokio::sync::Notify,
}

pub(super) type Shared = Arc<Invocation>;

impl Invocation {
    /// A fresh invocation of the function `name` with `event`.
    pub(super) fn new(name: &str, event: Value) -> Shared {
        Arc::new(Invocation {
            event,
            request_id: uuid::Uuid::new_v4().to_string(),
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{name}"),
            next_calls: AtomicU32::new(0),
            ready: Mutex::new(None),
            answered: Mutex::new(None),
            other: Mutex::new(Vec::new()),
            notify: tokio::sync::Notify::new(),
        })
    }
}

/// The Runtime API's routes on `inv`; anything else is recorded as an AWS call.
pub(super) fn router(inv: Shared) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .fallback(other)
        .with_state(inv)
}

async fn next(State(inv): State<Shared>) -> Response {
    let n = inv.next_calls.fetch_add(1, Ordering::SeqCst);
    if n > 0 {
        // Lambda freezes the environment here; the process is measured and stopped instead.
        inv.notify.notify_one();
        std::future::pending::<()>().await;
    }
    *inv.ready.lock().expect("lock") = Some(Instant::now());
    let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
    let mut res = inv.event.to_string().into_response();
    let h = res.headers_mut();
    let mut put = |k: &'static str, v: String| {
        if let Ok(v) = v.parse() {
            h.insert(k, v);
        }
    };
    put("content-type", "application/json".into());
    put("lambda-runtime-aws-request-id", inv.request_id.clone());
    put("lambda-runtime-deadline-ms", deadline.to_string());
    put(
        "lambda-runtime-invoked-function-arn",
        inv.function_arn.clone(),
    );
    put(
        "lambda-runtime-trace-id",
        "Root=1-6740a1b2-3c4d5e6f708192a3b4c5d6e7;Parent=53995c3f42cd8ad8;Sampled=0".into(),
    );
    res
}

fn answered(inv: &Invocation, kind: &str, body: Bytes) -> Response {
    let mut a = inv.answered.lock().expect("lock");
    if a.is_none() {
        *a = Some((
            Instant::now(),
            kind.to_owned(),
            String::from_utf8_lossy(&body).chars().take(300).collect(),
        ));
    }
    drop(a);
    inv.notify.notify_one();
    (StatusCode::ACCEPTED, r#"{"status":"OK"}"#).into_response()
}

async fn response(
    State(inv): State<Shared>,
    UrlPath(_id): UrlPath<String>,
    body: Bytes,
) -> Response {
    answered(&inv, "response", body)
}

async fn error(State(inv): State<Shared>, UrlPath(_id): UrlPath<String>, body: Bytes) -> Response {
    answered(&inv, "error", body)
}

async fn init_error(State(inv): State<Shared>, body: Bytes) -> Response {
    answered(&inv, "init error", body)
}

/// Anything else: an AWS call (S3 PutObject of the exporter, a CloudFormation response URL…).
/// Recorded, and answered with an empty success.
async fn other(State(inv): State<Shared>, method: Method, uri: Uri, _h: HeaderMap) -> Response {
    inv.other
        .lock()
        .expect("lock")
        .push(format!("{method} {}", uri.path()));
    let mut res = (StatusCode::OK, "").into_response();
    res.headers_mut().insert(
        "etag",
        "\"d41d8cd98f00b204e9800998ecf8427e\""
            .parse()
            .expect("etag"),
    );
    res
}
