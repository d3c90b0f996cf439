//! The local stack's own answers (`/docs`, `/ops/*`, `/factory-sim/*` and the gateway's): JSON
//! with a correlation id, as the API's are; and a request body read under the gateway's limit.

use axum::body::{Body, Bytes};
use axum::extract::OriginalUri;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Largest body the local gateway reads (API Gateway's own limit is 10 MB; the API's is 16 KiB,
/// so anything between is answered 413 by the handler).
pub(crate) const GATEWAY_BODY_LIMIT: usize = 2 * 1024 * 1024;

pub(crate) fn json_response(status: u16, body: Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [
            ("content-type", "application/json".to_owned()),
            // Every response carries a correlation id, the gateway's own ones included.
            ("x-correlation-id", uuid::Uuid::new_v4().to_string()),
        ],
        body.to_string(),
    )
        .into_response()
}

/// The whole body, or the 413 to answer when it is over [`GATEWAY_BODY_LIMIT`].
pub(crate) async fn read_body(body: Body) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, GATEWAY_BODY_LIMIT)
        .await
        .map_err(|_| {
            json_response(
                413,
                json!({"error": "payload_too_large", "message": format!("request body exceeds {GATEWAY_BODY_LIMIT} bytes")}),
            )
        })
}

/// A local path with a method it does not accept (axum's method routing sends it here and adds
/// `Allow`).
pub(crate) async fn method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    json_response(
        405,
        json!({"error": "method_not_allowed", "message": format!("{} does not accept {method}", uri.path())}),
    )
}
