//! The local API Gateway: the local stack's own paths, routed by axum, and a fallback that sends
//! every other request to the API's handlers.
//!
//! The seam for routing: [`router`] is everything `Stack::start` serves. `/openapi.yaml` and
//! `/docs` are answered here, `/factory-sim/*` by the factory stand-in ([`crate::factory`]),
//! `/ops/*` by the operator routes ([`crate::ops_routes`]); every other request becomes the
//! `lambda_http::Request` a Lambda function receives and goes to `inventory::api::handle`.

use crate::reply::{self, read_body};
use crate::{Shared, apidocs, factory, ops_routes};
use axum::body::Body as AxumBody;
use axum::extract::State;
use axum::http::{Request as HttpRequest, StatusCode};
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::routing::get;
use std::sync::Arc;

/// What the local stack serves.
pub fn router(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new()
        .route("/openapi.yaml", get(openapi_yaml))
        .route("/docs", get(docs_page))
        .route("/docs/", get(docs_page))
        .method_not_allowed_fallback(reply::method_not_allowed)
        .nest("/factory-sim", factory::router())
        .nest_service("/ops", ops_routes::service(shared.clone()))
        .fallback(gateway)
        .with_state(shared)
}

/// The local API Gateway: turns the HTTP request into the `lambda_http::Request` a Lambda
/// function receives and calls the same handler.
async fn gateway(State(shared): State<Arc<Shared>>, req: HttpRequest<AxumBody>) -> AxumResponse {
    let (parts, body) = req.into_parts();
    let bytes = match read_body(body).await {
        Ok(b) => b,
        Err(too_large) => return too_large,
    };
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

/// `GET /openapi.yaml`: docs/openapi.yaml as built in.
async fn openapi_yaml() -> AxumResponse {
    page("application/yaml; charset=utf-8", apidocs::OPENAPI_YAML)
}

/// `GET /docs`: the API reference page.
async fn docs_page() -> AxumResponse {
    page("text/html; charset=utf-8", apidocs::docs_html())
}

fn page(content_type: &'static str, body: &'static str) -> AxumResponse {
    (
        StatusCode::OK,
        [
            ("content-type", content_type),
            ("cache-control", "no-cache"),
        ],
        body,
    )
        .into_response()
}
