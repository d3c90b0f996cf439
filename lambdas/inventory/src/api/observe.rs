//! The layer around every API request: adopts (or makes) the correlation id, and when the answer
//! is ready writes one structured log line and one capture record and echoes the correlation id
//! in `X-Correlation-Id`.

use super::Api;
use super::errors::ErrorCode;
use super::request::{Facts, Seen, header, query_param};
use super::routes::ROUTES;
use crate::capture::{CaptureKind, CaptureRecord, SCHEMA_VERSION};
use crate::domain::{self, CorrelationId, rfc3339};
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

pub(super) async fn observe(State(api): State<Arc<Api>>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    // A factory callback carries the stock-out's correlation id in its URL.
    let correlation_id = CorrelationId::adopt(
        header(req.headers(), "x-correlation-id")
            .or(query_param(req.uri().query(), "correlation_id")),
    );
    let request_id = request_id(&req);
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .and_then(|m| ROUTES.iter().find(|r| r.path == m.as_str()));
    let template = route.map(|r| r.path).unwrap_or("unmatched");
    let mut path_params = BTreeMap::new();
    if let Some(r) = route
        && let (Some(name), Some(value)) = (r.param_name(), r.param(req.uri().path()))
    {
        path_params.insert(name.to_owned(), value.chars().take(128).collect());
    }
    let user_agent = header(req.headers(), "user-agent").map(|u| u.chars().take(256).collect());
    req.extensions_mut().insert(correlation_id.clone());
    let seen = Seen::default();
    req.extensions_mut().insert(seen.clone());
    let span = tracing::info_span!("request", correlation_id = %correlation_id, request_id = %request_id, service = api.service);
    let mut res = next.run(req).instrument(span.clone()).await;
    let status = res.status().as_u16();
    let error = res.extensions_mut().remove::<ErrorCode>().map(|c| c.0);
    let seen: Facts = seen.take();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        tracing::info!(method = %method, route = template, status, latency_ms, error, "request");
    });
    let record = CaptureRecord {
        schema_version: SCHEMA_VERSION,
        kind: CaptureKind::ApiRequest,
        request_id,
        correlation_id: correlation_id.to_string(),
        timestamp: rfc3339(domain::now_millis()),
        method,
        route: template.to_owned(),
        path_params,
        status,
        latency_ms,
        sku: seen.sku,
        quantity: seen.quantity,
        error: error.map(str::to_owned),
        user_agent,
        event_type: None,
        properties: None,
        service: api.service.to_owned(),
    };
    if let Some(ev) = seen.client_event {
        api.capture.submit(ev);
    }
    api.capture.submit(record);
    if let Ok(v) = HeaderValue::from_str(correlation_id.as_str()) {
        res.headers_mut().insert("x-correlation-id", v);
    }
    res
}

/// API Gateway's request id, else the client's `X-Request-Id` (shortened), else a new one.
fn request_id(req: &Request) -> String {
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    }
    .or_else(|| header(req.headers(), "x-request-id").map(|s| s.chars().take(128).collect()))
    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}
