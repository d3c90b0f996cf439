//! The HTTP API: one router and one error mapping, used by the `sales-api` and `restock`
//! functions (each serves the routes it is configured for) and by the local stack.

use crate::capture::{ALLOWED_EVENT_PROPERTIES, CaptureRecord, DynCapture, SCHEMA_VERSION};
use crate::domain::{
    self, FactoryOrder, OrderRef, Product, ProductSpec, Quantity, Sale, SaleRequest, Sku,
    ValidationError, rfc3339,
};
use crate::factory::{CallbackSigner, Completion};
use crate::messaging::{DynPublisher, publish_after_commit};
use crate::store::{DynStore, FulfillOutcome, SaleOutcome, StoreError};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::Instant;
use subtle::ConstantTimeEq;
use tracing::Instrument;

/// Largest request body accepted (bytes).
pub const MAX_BODY: usize = 16 * 1024;
/// Largest client analytics event accepted (bytes).
pub const MAX_EVENT_BODY: usize = 4 * 1024;

/// Every route of the public API with its methods: the contract the OpenAPI spec is checked
/// against.
pub const ROUTES: &[(&str, &[&str])] = &[
    ("/sales", &["POST"]),
    ("/inventory", &["GET"]),
    ("/inventory/{sku}", &["GET"]),
    ("/factory-orders/{id}", &["GET"]),
    ("/admin/inventory/{sku}", &["PUT"]),
    ("/factory/callbacks/{id}", &["POST"]),
    ("/events", &["POST"]),
    ("/health", &["GET"]),
];

/// A matched route: its template and its path parameter (all routes have at most one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteMatch<'a> {
    pub template: &'static str,
    pub param: Option<&'a str>,
}

/// Matches a path against [`ROUTES`] (a single trailing slash is ignored).
pub fn match_route(path: &str) -> Option<RouteMatch<'_>> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    ROUTES.iter().find_map(|(template, _)| {
        let tsegs: Vec<&str> = template.split('/').skip(1).collect();
        if tsegs.len() != segs.len() {
            return None;
        }
        let mut param = None;
        for (t, s) in tsegs.iter().zip(&segs) {
            if t.starts_with('{') {
                if s.is_empty() {
                    return None;
                }
                param = Some(*s);
            } else if t != s {
                return None;
            }
        }
        Some(RouteMatch { template, param })
    })
}

fn methods_of(template: &str) -> &'static [&'static str] {
    ROUTES
        .iter()
        .find(|(t, _)| *t == template)
        .map(|(_, m)| *m)
        .unwrap_or(&[])
}

/// The admin bearer token, compared in constant time.
#[derive(Clone)]
pub struct AdminToken {
    digest: [u8; 32],
}

impl AdminToken {
    pub fn new(token: &str) -> Self {
        AdminToken {
            digest: Sha256::digest(token.as_bytes()).into(),
        }
    }
    pub fn matches(&self, given: &str) -> bool {
        let d: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        bool::from(d.ct_eq(&self.digest))
    }
}

/// What a function serving the API is wired with. Routes whose dependency is absent are not
/// served by that function (404), e.g. the callback route only by `restock`.
#[derive(Clone)]
pub struct Api {
    pub service: &'static str,
    pub store: DynStore,
    pub publisher: Option<DynPublisher>,
    pub admin: Option<AdminToken>,
    pub callbacks: Option<CallbackSigner>,
    pub capture: DynCapture,
    /// Whether `POST /events` and the public routes are served (false for `restock`).
    pub public_routes: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidJson(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    Invalid(ValidationError),
    #[error("unknown sku {0}")]
    UnknownSku(String),
    #[error("unknown factory order {0}")]
    UnknownOrder(String),
    #[error("only {available} of {sku} left, {requested} requested")]
    OutOfStock {
        sku: String,
        requested: i64,
        available: i64,
        order: OrderRef,
    },
    #[error("request body is {0} bytes; the limit is {1}")]
    PayloadTooLarge(usize, usize),
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    #[error("this Idempotency-Key was already used for a different request")]
    KeyReused,
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("no route for {0}")]
    NotFound(String),
    #[error("method {0} not allowed here")]
    MethodNotAllowed(String, &'static [&'static str]),
    #[error("the database is unavailable; retry shortly")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(why) | StoreError::AccessDenied(why) => {
                tracing::warn!(error = %why, "database unavailable");
                ApiError::Unavailable
            }
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::Internal
            }
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ApiError::Invalid(e)
    }
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::InvalidJson(_) | ApiError::InvalidRequest(_) | ApiError::Invalid(_) => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::UnknownSku(_) | ApiError::UnknownOrder(_) | ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed(..) => 405,
            ApiError::OutOfStock { .. } => 409,
            ApiError::PayloadTooLarge(..) => 413,
            ApiError::UnsupportedMediaType => 415,
            ApiError::KeyReused => 422,
            ApiError::Internal => 500,
            ApiError::Unavailable => 503,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::Invalid(ValidationError::Sku) => "invalid_sku",
            ApiError::Invalid(ValidationError::Quantity) => "invalid_quantity",
            ApiError::Invalid(ValidationError::Id) => "invalid_id",
            ApiError::Invalid(ValidationError::Field(_)) => "invalid_request",
            ApiError::UnknownSku(_) => "unknown_sku",
            ApiError::UnknownOrder(_) => "unknown_factory_order",
            ApiError::OutOfStock { .. } => "out_of_stock",
            ApiError::PayloadTooLarge(..) => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::KeyReused => "idempotency_key_reused",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(..) => "method_not_allowed",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal => "internal",
        }
    }

    fn body(&self) -> Value {
        let mut body = json!({ "error": self.code(), "message": self.to_string() });
        if let ApiError::OutOfStock {
            sku,
            available,
            order,
            ..
        } = self
        {
            body["sku"] = json!(sku);
            body["available"] = json!(available);
            body["factory_order"] = json!(order);
        }
        body
    }
}

/// A successful response before serialisation.
struct Reply {
    status: u16,
    body: Value,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn new(status: u16, body: Value) -> Self {
        Reply {
            status,
            body,
            headers: Vec::new(),
        }
    }
}

/// What the capture record learns from inside a handler.
#[derive(Default)]
struct Seen {
    sku: Option<String>,
    quantity: Option<i64>,
    client_event: Option<CaptureRecord>,
}

/// Serves one API request. Never fails: every error is a JSON response. Emits one structured
/// log line and one capture record per request.
pub async fn handle(api: &Api, req: Request) -> Response<Body> {
    let started = Instant::now();
    // A factory callback carries the stock-out's correlation id in its URL.
    let from_query = req
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("correlation_id="));
    let correlation_id = domain::correlation_id(header(&req, "x-correlation-id").or(from_query));
    let request_id = request_id(&req);
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let matched = match_route(&path);
    let template = matched.map(|m| m.template).unwrap_or("unmatched");
    let span = tracing::info_span!("request", correlation_id = %correlation_id, request_id = %request_id, service = api.service);
    let mut seen = Seen::default();
    let result = dispatch(api, &req, matched, &path, &correlation_id, &mut seen)
        .instrument(span.clone())
        .await;
    let (status, body, headers) = match result {
        Ok(r) => (r.status, r.body, r.headers),
        Err(e) => {
            let mut headers = Vec::new();
            match &e {
                ApiError::Unavailable => headers.push(("retry-after", "1".to_owned())),
                ApiError::Unauthorized(_) => {
                    headers.push(("www-authenticate", "Bearer".to_owned()))
                }
                ApiError::MethodNotAllowed(_, allow) => headers.push(("allow", allow.join(", "))),
                _ => {}
            }
            (e.status(), e.body(), headers)
        }
    };
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let error = body.get("error").and_then(Value::as_str).map(str::to_owned);
    span.in_scope(|| {
        tracing::info!(method = %method, route = template, status, latency_ms, error = error.as_deref(), "request");
    });
    let mut path_params = BTreeMap::new();
    if let (Some(m), Some(p)) = (matched, matched.and_then(|m| m.param))
        && let Some(name) = m
            .template
            .split('{')
            .nth(1)
            .and_then(|s| s.strip_suffix('}'))
    {
        path_params.insert(name.to_owned(), p.chars().take(128).collect());
    }
    let record = CaptureRecord {
        schema_version: SCHEMA_VERSION,
        kind: "api_request".into(),
        request_id,
        correlation_id: correlation_id.clone(),
        timestamp: rfc3339(domain::now_millis()),
        method,
        route: template.to_owned(),
        path_params,
        status,
        latency_ms,
        sku: seen.sku,
        quantity: seen.quantity,
        error,
        user_agent: header(&req, "user-agent").map(|u| u.chars().take(256).collect()),
        event_type: None,
        properties: None,
        service: api.service.to_owned(),
    };
    if let Some(ev) = seen.client_event {
        api.capture.submit(ev);
    }
    api.capture.submit(record);
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-correlation-id", &correlation_id);
    for (k, v) in headers {
        builder = builder.header(k, v);
    }
    builder
        .body(Body::Text(body.to_string()))
        .unwrap_or_else(|_| {
            Response::new(Body::Text(
                "{\"error\":\"internal\",\"message\":\"response\"}".into(),
            ))
        })
}

fn header<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn request_id(req: &Request) -> String {
    use lambda_http::request::RequestContext;
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    }
    .or_else(|| header(req, "x-request-id").map(|s| s.chars().take(128).collect()))
    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

async fn dispatch(
    api: &Api,
    req: &Request,
    matched: Option<RouteMatch<'_>>,
    path: &str,
    correlation_id: &str,
    seen: &mut Seen,
) -> Result<Reply, ApiError> {
    let Some(m) = matched else {
        return Err(ApiError::NotFound(path.chars().take(200).collect()));
    };
    let method = req.method().as_str();
    let allowed = methods_of(m.template);
    if !allowed.contains(&method) {
        return Err(ApiError::MethodNotAllowed(method.to_owned(), allowed));
    }
    let param = m.param.unwrap_or_default();
    let not_here = || ApiError::NotFound(path.chars().take(200).collect());
    match m.template {
        "/health" => Ok(Reply::new(200, json!({ "status": "ok" }))),
        "/factory/callbacks/{id}" => match &api.callbacks {
            Some(signer) => callback(api, signer, req, param).await,
            None => Err(not_here()),
        },
        _ if !api.public_routes => Err(not_here()),
        "/sales" => sell(api, req, correlation_id, seen).await,
        "/inventory" => {
            let products = api.store.products().await?;
            Ok(Reply::new(
                200,
                json!({ "products": products.iter().map(product_json).collect::<Vec<_>>() }),
            ))
        }
        "/inventory/{sku}" => {
            let sku = Sku::parse(param)?;
            seen.sku = Some(sku.to_string());
            let product = api
                .store
                .product(&sku)
                .await?
                .ok_or_else(|| ApiError::UnknownSku(sku.to_string()))?;
            Ok(Reply::new(200, product_json(&product)))
        }
        "/factory-orders/{id}" => {
            let id = domain::parse_id(param)?;
            let order = api
                .store
                .factory_order(&id)
                .await?
                .ok_or(ApiError::UnknownOrder(id))?;
            seen.sku = Some(order.sku.to_string());
            Ok(Reply::new(200, order_json(&order)))
        }
        "/admin/inventory/{sku}" => admin_put(api, req, param, seen).await,
        "/events" => client_event(api, req, correlation_id, seen),
        _ => Err(not_here()),
    }
}

fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(s) => s.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

/// Size, content type and JSON checks shared by every route with a body.
fn json_body<T: DeserializeOwned>(req: &Request, limit: usize) -> Result<T, ApiError> {
    let bytes = body_bytes(req);
    if bytes.len() > limit {
        return Err(ApiError::PayloadTooLarge(bytes.len(), limit));
    }
    let is_json = header(req, "content-type")
        .and_then(|ct| ct.split(';').next())
        .map(|mt| {
            let mt = mt.trim().to_ascii_lowercase();
            mt == "application/json" || (mt.starts_with("application/") && mt.ends_with("+json"))
        })
        .unwrap_or(false);
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    if bytes.is_empty() {
        return Err(ApiError::InvalidJson("request body is empty".into()));
    }
    // JSON text is UTF-8: a body that is not (0xff, overlong or surrogate sequences) is not JSON.
    // Checked here because the syntax pass below does not look inside strings it skips.
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(ApiError::InvalidJson(
            "request body is not valid UTF-8".into(),
        ));
    };
    // Every body is a JSON object. Checked first because serde would also read a struct from
    // an array of its fields in order (`["glazed", 2]` would be a sale).
    match serde_json::from_str::<serde::de::IgnoredAny>(text) {
        Err(e) => {
            return Err(ApiError::InvalidJson(format!(
                "request body is not valid JSON: {e}"
            )));
        }
        Ok(_) if !text.trim_start().starts_with('{') => {
            return Err(ApiError::InvalidRequest(
                "request body must be a JSON object".into(),
            ));
        }
        Ok(_) => {}
    }
    serde_json::from_str(text).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            // Wrong shape: a missing or unknown field, a wrong type.
            Category::Data => ApiError::InvalidRequest(e.to_string()),
            // What only the typed pass sees, e.g. an escaped lone surrogate (`"\ud800"`).
            _ => ApiError::InvalidJson(format!("request body is not valid JSON: {e}")),
        }
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SaleBody {
    sku: String,
    quantity: Value,
}

async fn sell(
    api: &Api,
    req: &Request,
    correlation_id: &str,
    seen: &mut Seen,
) -> Result<Reply, ApiError> {
    let body: SaleBody = json_body(req, MAX_BODY)?;
    let sku = Sku::parse(&body.sku)?;
    seen.sku = Some(sku.to_string());
    let quantity = body
        .quantity
        .as_i64()
        .ok_or(ValidationError::Quantity)
        .and_then(Quantity::new)?;
    seen.quantity = Some(quantity.get());
    // A key that is present but not visible ASCII must not be read as "no key": the retry it
    // protects would sell twice.
    let idempotency_key = match req.headers().get("idempotency-key").map(|v| v.as_bytes()) {
        None => None,
        Some(k) if (1..=128).contains(&k.len()) && k.iter().all(|b| (0x21..0x7f).contains(b)) => {
            Some(String::from_utf8_lossy(k).into_owned())
        }
        Some(_) => {
            return Err(ApiError::InvalidRequest(
                "Idempotency-Key must be 1-128 printable ASCII characters".into(),
            ));
        }
    };
    let sale = SaleRequest {
        sku,
        quantity,
        idempotency_key,
        correlation_id: correlation_id.to_owned(),
    };
    match api.store.sell(&sale).await? {
        SaleOutcome::Sold { sale, event } => {
            crate::metrics::sale_completed();
            if let Some(event) = event {
                tracing::info!(sku = %sale.sku, factory_order_id = %event.factory_order_id, remaining = sale.remaining_stock, "stock-out: factory order opened");
                if let Some(p) = &api.publisher {
                    publish_after_commit(&api.store, p, &event).await;
                }
            }
            Ok(Reply::new(201, sale_json(&sale)))
        }
        SaleOutcome::Replayed(sale) => {
            let mut r = Reply::new(201, sale_json(&sale));
            r.headers.push(("idempotent-replayed", "true".into()));
            Ok(r)
        }
        SaleOutcome::KeyReused => Err(ApiError::KeyReused),
        SaleOutcome::OutOfStock {
            available,
            order,
            event,
        } => {
            crate::metrics::sale_refused();
            if let Some(event) = event {
                tracing::info!(sku = %sale.sku, factory_order_id = %event.factory_order_id, "refused for lack of stock: factory order opened");
                if let Some(p) = &api.publisher {
                    publish_after_commit(&api.store, p, &event).await;
                }
            }
            Err(ApiError::OutOfStock {
                sku: sale.sku.to_string(),
                requested: sale.quantity.get(),
                available,
                order,
            })
        }
        SaleOutcome::UnknownSku => Err(ApiError::UnknownSku(sale.sku.to_string())),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminBody {
    name: Option<String>,
    stock: i64,
    reorder_point: Option<i64>,
    reorder_quantity: Option<i64>,
}

async fn admin_put(
    api: &Api,
    req: &Request,
    param: &str,
    seen: &mut Seen,
) -> Result<Reply, ApiError> {
    let Some(admin) = &api.admin else {
        return Err(ApiError::NotFound(
            "admin routes are not served here".into(),
        ));
    };
    let given = header(req, "authorization")
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized(
            "an Authorization: Bearer <admin token> header is required",
        ))?;
    if !admin.matches(given) {
        return Err(ApiError::Forbidden("the admin token is not valid".into()));
    }
    let sku = Sku::parse(param)?;
    seen.sku = Some(sku.to_string());
    let body: AdminBody = json_body(req, MAX_BODY)?;
    let spec = ProductSpec::new(
        sku,
        body.name,
        body.stock,
        body.reorder_point,
        body.reorder_quantity,
    )?;
    let (product, created) = api.store.put_product(&spec).await?;
    tracing::info!(sku = %product.sku, stock = product.stock, created, "admin set product");
    Ok(Reply::new(
        if created { 201 } else { 200 },
        product_json(&product),
    ))
}

async fn callback(
    api: &Api,
    signer: &CallbackSigner,
    req: &Request,
    param: &str,
) -> Result<Reply, ApiError> {
    // Authenticate before anything else: a forged callback learns nothing and changes nothing.
    let token = req
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized(
            "the callback URL's token is missing",
        ))?;
    if !signer.verify(param, token) {
        tracing::warn!(
            factory_order_id = param.chars().take(64).collect::<String>(),
            "ALARM forged or tampered factory callback rejected"
        );
        return Err(ApiError::Forbidden(
            "the callback token is not valid for this order".into(),
        ));
    }
    let id = domain::parse_id(param)?;
    let completion: Completion = json_body(req, MAX_BODY)?;
    let order = api
        .store
        .factory_order(&id)
        .await?
        .ok_or_else(|| ApiError::UnknownOrder(id.clone()))?;
    let span = tracing::info_span!("callback", factory_order_id = %id, order_correlation_id = %order.correlation_id);
    async {
        if completion.product_id != order.sku.as_str() || completion.product_cnt != order.quantity {
            tracing::warn!(product = %completion.product_id.chars().take(64).collect::<String>(), count = completion.product_cnt, "ALARM factory callback does not match its order");
            return Err(ApiError::Forbidden(format!(
                "the completion ({} x {}) does not match factory order {id}",
                completion.product_cnt,
                completion.product_id.chars().take(64).collect::<String>()
            )));
        }
        match api.store.fulfill(&id, &order.correlation_id).await? {
            FulfillOutcome::Restocked(o) => {
                crate::metrics::order_fulfilled(o.quantity);
                tracing::info!(sku = %o.sku, quantity = o.quantity, "factory order fulfilled: restocked");
                Ok(Reply::new(200, json!({ "restocked": true, "factory_order": order_json(&o) })))
            }
            FulfillOutcome::AlreadyClosed(o) => {
                tracing::info!(status = o.status.as_str(), "duplicate factory completion: no change");
                Ok(Reply::new(200, json!({ "restocked": false, "factory_order": order_json(&o) })))
            }
            FulfillOutcome::Unknown => Err(ApiError::UnknownOrder(id.clone())),
        }
    }
    .instrument(span)
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientEvent {
    #[serde(rename = "type")]
    kind: String,
    sku: Option<String>,
    properties: Option<BTreeMap<String, Value>>,
}

fn client_event(
    api: &Api,
    req: &Request,
    correlation_id: &str,
    seen: &mut Seen,
) -> Result<Reply, ApiError> {
    let ev: ClientEvent = json_body(req, MAX_EVENT_BODY)?;
    let ok_type = (1..=64).contains(&ev.kind.len())
        && ev.kind.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        });
    if !ok_type {
        return Err(ApiError::InvalidRequest(
            "type must be 1-64 characters of [a-z0-9_.-]".into(),
        ));
    }
    let sku = ev.sku.as_deref().map(Sku::parse).transpose()?;
    seen.sku = sku.as_ref().map(ToString::to_string);
    // PII minimisation: only allow-listed keys with scalar values survive.
    let properties: BTreeMap<String, Value> = ev
        .properties
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, v)| {
            ALLOWED_EVENT_PROPERTIES.contains(&k.as_str())
                && (v.is_number() || v.is_boolean() || v.as_str().is_some_and(|s| s.len() <= 128))
        })
        .collect();
    seen.client_event = Some(CaptureRecord {
        schema_version: SCHEMA_VERSION,
        kind: "client_event".into(),
        request_id: uuid::Uuid::new_v4().to_string(),
        correlation_id: correlation_id.to_owned(),
        timestamp: rfc3339(domain::now_millis()),
        method: "POST".into(),
        route: "/events".into(),
        path_params: BTreeMap::new(),
        status: 202,
        latency_ms: 0.0,
        sku: sku.map(|s| s.to_string()),
        quantity: None,
        error: None,
        user_agent: None,
        event_type: Some(ev.kind),
        properties: Some(properties),
        service: api.service.to_owned(),
    });
    Ok(Reply::new(202, json!({ "accepted": true })))
}

pub fn sale_json(s: &Sale) -> Value {
    json!({
        "id": s.id,
        "sku": s.sku,
        "quantity": s.quantity,
        "remaining_stock": s.remaining_stock,
        "created_at": rfc3339(s.created_at),
        "factory_order": s.factory_order,
    })
}

pub fn product_json(p: &Product) -> Value {
    json!({
        "sku": p.sku,
        "name": p.name,
        "stock": p.stock,
        "reorder_point": p.reorder_point,
        "reorder_quantity": p.reorder_quantity,
        "open_factory_order": p.open_factory_order,
        "updated_at": rfc3339(p.updated_at),
    })
}

pub fn order_json(o: &FactoryOrder) -> Value {
    json!({
        "id": o.id,
        "sku": o.sku,
        "quantity": o.quantity,
        "status": o.status,
        "attempts": o.attempts,
        "factory_ref": o.factory_ref,
        "last_error": o.last_error,
        "created_at": rfc3339(o.created_at),
        "updated_at": rfc3339(o.updated_at),
        "transitions": o.transitions.iter().map(|t| json!({
            "status": t.status,
            "at": rfc3339(t.at),
            "note": t.note,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_templates() {
        assert_eq!(match_route("/sales").map(|m| m.template), Some("/sales"));
        assert_eq!(match_route("/sales/").map(|m| m.template), Some("/sales"));
        let m = match_route("/inventory/glazed").unwrap();
        assert_eq!((m.template, m.param), ("/inventory/{sku}", Some("glazed")));
        assert_eq!(match_route("/inventory/a/b"), None);
        assert_eq!(match_route("/inventory//"), None);
        assert_eq!(match_route("/"), None);
        assert_eq!(
            match_route("/factory/callbacks/x").map(|m| m.template),
            Some("/factory/callbacks/{id}")
        );
    }

    #[test]
    fn admin_token_compare() {
        let t = AdminToken::new("secret");
        assert!(t.matches("secret"));
        assert!(!t.matches("secreT"));
        assert!(!t.matches(""));
    }
}
