//! Lambda's `Invoke` API for the harness's functions, so that a client that calls Lambda itself
//! (`donut-ops migrations …` with `AWS_ENDPOINT_URL_LAMBDA` pointing here) reaches the deployed
//! bootstraps: `POST /2015-03-31/functions/{name}/invocations`, synchronous
//! (`RequestResponse`, the default), `{name}` a function's name, logical id or ARN (a
//! `Qualifier` is accepted and ignored: one version runs). As Lambda answers: 200 with the
//! function's payload; a function error is 200 with `X-Amz-Function-Error: Unhandled` and
//! `{"errorType","errorMessage"}`; an unknown function 404 `ResourceNotFoundException`.
//! Requests are not authenticated (SigV4 is the client's concern; the listener is on 127.0.0.1).

use crate::runtime::{Answer, Function};
use crate::{Error, Harness};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::Arc;

/// Serves the Invoke API for `h`'s functions on 127.0.0.1 (a free port); its base URL and task.
pub async fn serve(h: &Harness) -> Result<(String, tokio::task::JoinHandle<()>), Error> {
    let functions: Vec<Arc<Function>> = h.functions.values().cloned().collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = Router::new()
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        .with_state(Arc::new(functions));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((base, task))
}

async fn invoke(
    State(functions): State<Arc<Vec<Arc<Function>>>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    // `name`, `name:qualifier`, or a (possibly qualified) ARN.
    let found = functions.iter().find(|f| {
        let arn = f.arn();
        name == arn
            || name.starts_with(&format!("{arn}:"))
            || [f.spec.name.as_str(), f.spec.logical_id.as_str()]
                .iter()
                .any(|n| name == *n || name.starts_with(&format!("{n}:")))
    });
    let Some(function) = found else {
        return (
            StatusCode::NOT_FOUND,
            [("x-amzn-errortype", "ResourceNotFoundException")],
            json!({"Type": "User", "message": format!("Function not found: {name}")}).to_string(),
        )
            .into_response();
    };
    let payload: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return (
                    StatusCode::BAD_REQUEST,
                    [("x-amzn-errortype", "InvalidRequestContentException")],
                    json!({"Type": "User", "message": format!("Could not parse request body into json: {e}")})
                        .to_string(),
                )
                    .into_response();
            }
        }
    };
    match function.invoke(&payload).await {
        Answer::Ok(bytes) => (StatusCode::OK, bytes).into_response(),
        Answer::Err(error) => (
            StatusCode::OK,
            [("x-amz-function-error", "Unhandled")],
            error.to_string(),
        )
            .into_response(),
    }
}
