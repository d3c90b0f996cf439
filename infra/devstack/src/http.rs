//! The local API Gateway: one axum fallback handler that sends each request to its handler.
//!
//! The seam for routing: [`router`] is everything `Stack::start` serves. `/openapi.yaml` and
//! `/docs` are answered here, `/factory-sim/*` by the factory stand-in ([`crate::factory`]),
//! `/ops/*` by the operator routes ([`crate::ops_routes`]); every other request becomes the
//! `lambda_http::Request` a Lambda function receives and goes to `inventory::api::handle`.

use crate::{Shared, apidocs, factory, ops_routes};
use axum::body::Body as AxumBody;
use axum::extract::State;
use axum::http::{Request as HttpRequest, StatusCode};
use axum::response::{IntoResponse, Response as AxumResponse};
use serde_json::{Value, json};
use std::sync::Arc;

/// What the local stack serves.
pub fn router(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new().fallback(gateway).with_state(shared)
}

/// Largest body the local gateway reads (API Gateway's own limit is 10 MB; the API's is 16 KiB,
/// so anything between is answered 413 by the handler).
const GATEWAY_BODY_LIMIT: usize = 2 * 1024 * 1024;

pub(crate) fn json_response(status: u16, body: Value) -> AxumResponse {
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

/// The local API Gateway: turns the HTTP request into the `lambda_http::Request` a Lambda
/// function receives and calls the same handler.
async fn gateway(State(shared): State<Arc<Shared>>, req: HttpRequest<AxumBody>) -> AxumResponse {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let bytes = match axum::body::to_bytes(body, GATEWAY_BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return json_response(
                413,
                json!({"error": "payload_too_large", "message": format!("request body exceeds {GATEWAY_BODY_LIMIT} bytes")}),
            );
        }
    };
    if let Some(page) = docs_route(parts.method.as_str(), &path) {
        return page;
    }
    if let Some(rest) = path.strip_prefix("/factory-sim") {
        let correlation_id = parts
            .headers
            .get("x-correlation-id")
            .and_then(|v| v.to_str().ok());
        return factory::route(&shared, parts.method.as_str(), rest, &bytes, correlation_id).await;
    }
    if let Some(rest) = path.strip_prefix("/ops/") {
        let query = parts.uri.query().unwrap_or_default();
        return ops_routes::route(&shared, parts.method.as_str(), rest, query).await;
    }
    let body = if bytes.is_empty() {
        lambda_http::Body::Empty
    } else {
        match String::from_utf8(bytes.to_vec()) {
            Ok(s) => lambda_http::Body::Text(s),
            Err(e) => lambda_http::Body::Binary(e.into_bytes()),
        }
    };
    let lreq = lambda_http::Request::from_parts(parts, body);
    let res = shared.api.handle(lreq).await;
    let (parts, body) = res.into_parts();
    let body = match body {
        lambda_http::Body::Text(s) => AxumBody::from(s),
        lambda_http::Body::Binary(b) => AxumBody::from(b),
        _ => AxumBody::empty(),
    };
    AxumResponse::from_parts(parts, body)
}

/// `GET /openapi.yaml` (docs/openapi.yaml as built in) and `GET /docs` (the API reference page).
fn docs_route(method: &str, path: &str) -> Option<AxumResponse> {
    let (content_type, body) = match path {
        "/openapi.yaml" => ("application/yaml; charset=utf-8", apidocs::OPENAPI_YAML),
        "/docs" | "/docs/" => ("text/html; charset=utf-8", apidocs::docs_html()),
        _ => return None,
    };
    if method != "GET" && method != "HEAD" {
        let mut r = json_response(
            405,
            json!({"error": "method_not_allowed", "message": format!("{path} accepts GET")}),
        );
        r.headers_mut()
            .insert("allow", axum::http::HeaderValue::from_static("GET, HEAD"));
        return Some(r);
    }
    Some(
        (
            StatusCode::OK,
            [
                ("content-type", content_type),
                ("cache-control", "no-cache"),
            ],
            body,
        )
            .into_response(),
    )
}
