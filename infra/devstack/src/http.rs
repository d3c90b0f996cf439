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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Options, Stack};
    use serde_json::Value;
    use tower::ServiceExt;

    #[tokio::test]
    async fn local_paths_are_routed_with_their_methods_and_answer_json() {
        let dir = std::env::temp_dir().join(format!("devstack-routes-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let stack = Stack::start(Options::for_tests(dir.clone())).await.unwrap();
        let app = router(stack.shared.clone());
        let call = |method: &'static str, path: &'static str| {
            let app = app.clone();
            async move {
                let req = HttpRequest::builder()
                    .method(method)
                    .uri(path)
                    .body(AxumBody::empty())
                    .unwrap();
                let res = app.oneshot(req).await.unwrap();
                let status = res.status().as_u16();
                let allow = res
                    .headers()
                    .get("allow")
                    .map(|v| v.to_str().unwrap().to_owned());
                let body = axum::body::to_bytes(res.into_body(), usize::MAX)
                    .await
                    .unwrap();
                let json = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
                (status, allow, json)
            }
        };

        // The operator routes: trailing slashes ignored, a wrong method 405 with `Allow`, an
        // unknown path a JSON 404.
        assert_eq!(call("GET", "/ops/alarms/").await.0, 200);
        assert_eq!(call("GET", "/ops/ledger").await.0, 200);
        let (status, allow, body) = call("PUT", "/ops/alarms").await;
        assert_eq!((status, allow.as_deref()), (405, Some("GET,HEAD")));
        assert_eq!(body["error"], "method_not_allowed");
        let (status, _, body) = call("GET", "/ops/nope").await;
        assert_eq!(
            (status, body["message"].as_str()),
            (404, Some("unknown ops route"))
        );
        let (status, _, body) = call("GET", "/ops/factory-orders/nope/retry").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (405, Some("method_not_allowed"))
        );
        let (status, _, body) = call("POST", "/ops/factory-orders/nope/retry").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request"))
        );

        // The factory stand-in.
        let (status, _, body) = call("GET", "/factory-sim/control").await;
        assert_eq!((status, body["knobs"].is_object()), (200, true));
        let (status, allow, _) = call("DELETE", "/factory-sim/control").await;
        assert_eq!((status, allow.as_deref()), (405, Some("GET,HEAD,POST")));
        let (status, _, body) = call("GET", "/factory-sim/nope").await;
        assert_eq!(
            (status, body["message"].as_str()),
            (404, Some("unknown factory-sim route"))
        );

        // The contract and its page; everything else goes to the API.
        assert_eq!(call("GET", "/docs/").await.0, 200);
        assert_eq!(call("GET", "/openapi.yaml").await.0, 200);
        let (status, allow, body) = call("POST", "/docs").await;
        assert_eq!((status, allow.as_deref()), (405, Some("GET,HEAD")));
        assert_eq!(body["error"], "method_not_allowed");
        assert_eq!(call("GET", "/health").await.2["status"], "ok");
        let (status, allow, _) = call("GET", "/sales").await;
        assert_eq!((status, allow.as_deref()), (405, Some("POST")));

        drop(app);
        stack.stop().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
