//! Every route of the HTTP API. The [`router`] declares each path once with its method and its
//! handler (`.route("/sales", post(sales::sell))`); axum answers a path it does not know (404)
//! and a method a path does not list (405 with `Allow`). [`ROUTES`] is the same list as data:
//! the function(s) serving each route, which the router enforces here, the OpenAPI tests compare
//! with docs/openapi.yaml and tests/template_check.py with template.yaml. A unit test below keeps
//! the two in step: a route is one line in each.

use super::Api;
use super::request::{Reply, original_path, path_param, trim_slash};
use super::{ApiError, ApiState, admin, callbacks, events, inventory, sales};
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::handler::Handler;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{self, MethodRouter, post, put};
use serde_json::json;
use std::sync::Arc;

/// The functions that serve the HTTP API (`lambdas/<binary>/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    SalesApi,
    Restock,
}

impl Function {
    /// Every function: what the local stack (one process for all of them) serves.
    pub const ALL: &'static [Function] = &[Function::SalesApi, Function::Restock];

    /// The function's binary: its crate under lambdas/ and its `BuildProperties.Binary`.
    pub fn binary(self) -> &'static str {
        match self {
            Function::SalesApi => "sales-api",
            Function::Restock => "restock",
        }
    }
}

/// One route of the public API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// Path template; `{name}` is a path parameter (at most one per route).
    pub path: &'static str,
    /// The functions that answer it; anywhere else it is a 404.
    pub served_by: &'static [Function],
}

impl Route {
    const fn new(method: &'static str, path: &'static str, served_by: &'static [Function]) -> Self {
        Route {
            method,
            path,
            served_by,
        }
    }

    /// The name of the path parameter (`sku` for `/inventory/{sku}`).
    pub fn param_name(&self) -> Option<&'static str> {
        self.path
            .split('{')
            .nth(1)
            .and_then(|s| s.strip_suffix('}'))
    }

    /// The raw (not percent-decoded) value of the path parameter in `path`, a path this route
    /// matches.
    pub fn param<'p>(&self, path: &'p str) -> Option<&'p str> {
        path_param(self.path, path)
    }

    fn matches(&self, path: &str) -> bool {
        let (mut t, mut p) = (self.path.split('/'), path.split('/'));
        loop {
            match (t.next(), p.next()) {
                (None, None) => return true,
                (Some(t), Some(p)) if t.starts_with('{') && !p.is_empty() => {}
                (Some(t), Some(p)) if t == p => {}
                _ => return false,
            }
        }
    }

    fn served_by_any(&self, functions: &[Function]) -> bool {
        self.served_by.iter().any(|f| functions.contains(f))
    }
}

use Function::{Restock, SalesApi};

/// The public API, one line per route: method, path, the functions serving it.
pub const ROUTES: &[Route] = &[
    Route::new("POST", "/sales", &[SalesApi]),
    Route::new("GET", "/sales/{id}", &[SalesApi]),
    Route::new("GET", "/inventory", &[SalesApi]),
    Route::new("GET", "/inventory/{sku}", &[SalesApi]),
    Route::new("GET", "/factory-orders/{id}", &[SalesApi]),
    Route::new("PUT", "/admin/inventory/{sku}", &[SalesApi]),
    Route::new("POST", "/factory/callbacks/{id}", &[Restock]),
    Route::new("POST", "/events", &[SalesApi]),
    Route::new("GET", "/health", &[SalesApi, Restock]),
];

/// The route a path matches, as the router matches it (a single trailing slash is ignored).
pub fn match_route(path: &str) -> Option<&'static Route> {
    let path = trim_slash(path).unwrap_or(path);
    ROUTES.iter().find(|r| r.matches(path))
}

/// The router: each path with its method and handler, the routes of other functions answered
/// 404 ([`served_here`]), a wrong method 405, an unknown path 404 (the observation layer is put
/// around it by `App::new`).
pub(super) fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/sales", post(sales::sell))
        .route("/sales/{id}", get(sales::sale))
        .route("/inventory", get(inventory::products))
        .route("/inventory/{sku}", get(inventory::product))
        .route("/factory-orders/{id}", get(inventory::factory_order))
        .route("/admin/inventory/{sku}", put(admin::put_product))
        .route("/factory/callbacks/{id}", post(callbacks::complete))
        .route("/events", post(events::accept))
        .route("/health", get(health))
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(from_fn_with_state(api.serves, served_here))
        .fallback(not_found)
        .with_state(ApiState(api))
}

/// axum's `get` without its implicit HEAD (axum would answer HEAD with the GET handler): the
/// API answers HEAD 405, like any method a route does not list.
fn get<H, T>(handler: H) -> MethodRouter<ApiState>
where
    H: Handler<T, ApiState>,
    T: 'static,
{
    routing::get(handler).head(method_not_allowed)
}

async fn health() -> Reply {
    Reply::new(200, json!({ "status": "ok" }))
}

/// A known path with a method it does not list (axum's method routing sends it here): 405.
/// `Allow` names the methods [`ROUTES`] gives the path (axum's own would add HEAD, which the
/// API does not answer, and keeps ours).
async fn method_not_allowed(req: Request) -> ApiError {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let allow = ROUTES.iter().filter(|r| Some(r.path) == path);
    ApiError::MethodNotAllowed(
        req.method().as_str().to_owned(),
        allow.map(|r| r.method).collect(),
    )
}

/// A path no route matches.
async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(original_path(&req))
}

/// A route no function of this process serves is a 404 here (as on AWS, where API Gateway sends
/// it to another function), after the method check like any known path. A path the router has
/// and [`ROUTES`] lacks is served nowhere.
async fn served_here(
    State(serves): State<&'static [Function]>,
    req: Request,
    next: Next,
) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let method = req.method().as_str();
    let routes = || ROUTES.iter().filter(|r| Some(r.path) == path);
    let known = routes().next().is_some();
    let elsewhere = routes().any(|r| r.method == method && !r.served_by_any(serves));
    if !known || elsewhere {
        return not_found(req).await.into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::App;
    use crate::capture::NoCapture;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn the_router_answers_the_methods_of_the_table_and_405s_the_others() {
        let app = App::new(Api {
            service: "unit",
            serves: Function::ALL,
            store: Arc::new(MemoryStore::new()),
            publisher: None,
            admin: Some(super::super::AdminToken::new("t")),
            callbacks: Some(crate::factory::CallbackSigner::new("k")),
            capture: Arc::new(NoCapture),
        });
        for route in ROUTES {
            let uri = route.path.replace("{sku}", "glazed").replace("{id}", "x");
            for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
                let req = http::Request::builder()
                    .method(method)
                    .uri(&uri)
                    .body(lambda_http::Body::Empty)
                    .unwrap();
                let res = app.handle(req).await;
                let allow: Vec<&str> = ROUTES
                    .iter()
                    .filter(|r| r.path == route.path)
                    .map(|r| r.method)
                    .collect();
                if allow.contains(&method) {
                    // Answered by its handler (which may refuse the request, not the route).
                    let body = match res.body() {
                        lambda_http::Body::Text(t) => t.as_str(),
                        _ => "",
                    };
                    assert_ne!(res.status(), 405, "{method} {}", route.path);
                    assert!(!body.contains("\"not_found\""), "{method} {}", route.path);
                } else {
                    assert_eq!(res.status(), 405, "{method} {}", route.path);
                    assert_eq!(res.headers()["allow"], allow.join(", ").as_str());
                }
            }
        }
    }

    #[test]
    fn routes_match_templates() {
        let template = |p: &str| match_route(p).map(|r| r.path);
        assert_eq!(template("/sales"), Some("/sales"));
        assert_eq!(template("/sales/"), Some("/sales"));
        let r = match_route("/inventory/glazed").unwrap();
        assert_eq!(
            (r.path, r.param("/inventory/glazed")),
            ("/inventory/{sku}", Some("glazed"))
        );
        assert_eq!(r.param_name(), Some("sku"));
        assert_eq!(template("/inventory/a/b"), None);
        assert_eq!(template("/inventory//"), None);
        assert_eq!(template("/"), None);
        assert_eq!(
            template("/factory/callbacks/x"),
            Some("/factory/callbacks/{id}")
        );
    }

    #[test]
    fn every_function_serves_a_route_and_every_route_has_a_function() {
        for f in Function::ALL {
            assert!(ROUTES.iter().any(|r| r.served_by.contains(f)), "{f:?}");
        }
        for r in ROUTES {
            assert!(!r.served_by.is_empty(), "{} {}", r.method, r.path);
        }
    }
}
