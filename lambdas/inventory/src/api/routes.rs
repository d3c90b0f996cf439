//! Every route of the HTTP API, declared once in [`ROUTES`]: its method, its path template, the
//! handler behind it and the function(s) that serve it. The axum [`Router`] is built from that
//! table; the OpenAPI test compares the table with docs/openapi.yaml, and
//! tests/template_check.py reads it to check which function template.yaml routes each path to.

use super::observe::{self, Outcome};
use super::request::{Call, Reply, Seen};
use super::{Api, ApiError, admin, callbacks, events, inventory, sales};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::any;
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

/// What answers a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Sell,
    Sale,
    Products,
    Product,
    FactoryOrder,
    PutProduct,
    FactoryCallback,
    ClientEvent,
    Health,
}

/// One route of the public API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// Path template; `{name}` is a path parameter (at most one per route).
    pub path: &'static str,
    pub endpoint: Endpoint,
    /// The functions that answer it; anywhere else it is a 404.
    pub served_by: &'static [Function],
}

impl Route {
    const fn new(
        method: &'static str,
        path: &'static str,
        endpoint: Endpoint,
        served_by: &'static [Function],
    ) -> Self {
        Route {
            method,
            path,
            endpoint,
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
        let i = self.path.split('/').position(|s| s.starts_with('{'))?;
        path.split('/').nth(i)
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
}

use Function::{Restock, SalesApi};

/// The public API. One line per route: method, path, handler, the functions serving it.
pub const ROUTES: &[Route] = &[
    Route::new("POST", "/sales", Endpoint::Sell, &[SalesApi]),
    Route::new("GET", "/sales/{id}", Endpoint::Sale, &[SalesApi]),
    Route::new("GET", "/inventory", Endpoint::Products, &[SalesApi]),
    Route::new("GET", "/inventory/{sku}", Endpoint::Product, &[SalesApi]),
    Route::new(
        "GET",
        "/factory-orders/{id}",
        Endpoint::FactoryOrder,
        &[SalesApi],
    ),
    Route::new(
        "PUT",
        "/admin/inventory/{sku}",
        Endpoint::PutProduct,
        &[SalesApi],
    ),
    Route::new(
        "POST",
        "/factory/callbacks/{id}",
        Endpoint::FactoryCallback,
        &[Restock],
    ),
    Route::new("POST", "/events", Endpoint::ClientEvent, &[SalesApi]),
    Route::new("GET", "/health", Endpoint::Health, &[SalesApi, Restock]),
];

/// The route a path matches, as the router matches it (a single trailing slash is ignored).
pub fn match_route(path: &str) -> Option<&'static Route> {
    let path = trim_slash(path).unwrap_or(path);
    ROUTES.iter().find(|r| r.matches(path))
}

impl Endpoint {
    async fn call(self, api: &Api, call: &Call, seen: &mut Seen) -> Result<Reply, ApiError> {
        match self {
            Endpoint::Sell => sales::sell(api, call, seen).await,
            Endpoint::Sale => sales::sale(api, call, seen).await,
            Endpoint::Products => inventory::products(api).await,
            Endpoint::Product => inventory::product(api, call, seen).await,
            Endpoint::FactoryOrder => inventory::factory_order(api, call, seen).await,
            Endpoint::PutProduct => admin::put_product(api, call, seen).await,
            Endpoint::FactoryCallback => callbacks::complete(api, call).await,
            Endpoint::ClientEvent => events::accept(api, call, seen),
            Endpoint::Health => Ok(Reply::new(200, json!({ "status": "ok" }))),
        }
    }
}

/// The router: one entry per path of [`ROUTES`], unknown paths answered by a JSON 404, and the
/// observation layer (correlation id, request log line, capture record) around all of it.
pub(super) fn router(api: Arc<Api>) -> Router {
    let mut router = Router::new();
    let mut paths: Vec<&'static str> = Vec::new();
    for r in ROUTES {
        if !paths.contains(&r.path) {
            paths.push(r.path);
        }
    }
    for path in paths {
        router = router.route(
            path,
            any(move |State(api): State<Arc<Api>>, req: Request| serve(api, path, req)),
        );
    }
    router
        .fallback(|req: Request| async move {
            respond(
                Err(ApiError::not_found(original_path(&req))),
                Seen::default(),
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            api.clone(),
            observe::observe,
        ))
        .with_state(api)
}

/// One request to a known path: the method picks the route, the route must be served here.
async fn serve(api: Arc<Api>, path: &'static str, req: Request) -> Response {
    let method = req.method().as_str();
    let Some(route) = ROUTES.iter().find(|r| r.path == path && r.method == method) else {
        let allow = ROUTES.iter().filter(|r| r.path == path).map(|r| r.method);
        let e = ApiError::MethodNotAllowed(method.to_owned(), allow.collect());
        return respond(Err(e), Seen::default());
    };
    if !route.served_by.iter().any(|f| api.serves.contains(f)) {
        return respond(
            Err(ApiError::not_found(original_path(&req))),
            Seen::default(),
        );
    }
    let path = original_path(&req).to_owned();
    let (head, body) = req.into_parts();
    // The body is already in memory (a Lambda event, or read by the local gateway).
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            let e = ApiError::InvalidRequest(format!("request body could not be read: {e}"));
            return respond(Err(e), Seen::default());
        }
    };
    let call = Call {
        param: route.param(head.uri.path()).unwrap_or_default().to_owned(),
        correlation_id: observe::correlation_id_of(&head.extensions),
        head,
        body,
        path,
    };
    let mut seen = Seen::default();
    let result = route.endpoint.call(&api, &call, &mut seen).await;
    respond(result, seen)
}

/// The JSON response; what the observation layer needs rides along as an extension.
fn respond(result: Result<Reply, ApiError>, seen: Seen) -> Response {
    let (status, body, headers, error) = match result {
        Ok(r) => (r.status, r.body, r.headers, None),
        Err(e) => (e.status(), e.body(), e.headers(), Some(e.code())),
    };
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    for (k, v) in headers {
        builder = builder.header(k, v);
    }
    let mut res = builder
        .body(Body::from(body.to_string()))
        .unwrap_or_else(|_| {
            Response::new(Body::from(
                "{\"error\":\"internal\",\"message\":\"response\"}",
            ))
        });
    res.extensions_mut().insert(Outcome { error, seen });
    res
}

/// The path as the client sent it, before [`normalise`].
#[derive(Clone)]
struct OriginalPath(String);

fn original_path(req: &Request) -> &str {
    req.extensions()
        .get::<OriginalPath>()
        .map(|p| p.0.as_str())
        .unwrap_or_else(|| req.uri().path())
}

fn trim_slash(path: &str) -> Option<&str> {
    path.strip_suffix('/').filter(|p| !p.is_empty())
}

/// Ignores a single trailing slash (`/sales/` is `/sales`): applied before routing.
pub(super) fn normalise<B>(mut req: http::Request<B>) -> http::Request<B> {
    let path = req.uri().path();
    let Some(trimmed) = trim_slash(path) else {
        return req;
    };
    let original = path.to_owned();
    let path_and_query = match req.uri().query() {
        Some(q) => format!("{trimmed}?{q}"),
        None => trimmed.to_owned(),
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = http::uri::PathAndQuery::try_from(path_and_query).ok();
    if let Ok(uri) = http::Uri::from_parts(parts) {
        *req.uri_mut() = uri;
        req.extensions_mut().insert(OriginalPath(original));
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

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
