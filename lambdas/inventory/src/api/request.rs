//! What a handler gets besides the ports it names: the request ([`Call`]: its head, body, raw
//! path parameter, correlation id and the path as sent), a [`Seen`] to tell the capture record
//! what it learnt; and what it answers ([`Reply`], or an `ApiError`). Both are axum extractors.

use super::ApiError;
use super::errors::json_response;
use crate::capture::CaptureRecord;
use crate::domain::CorrelationId;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};

/// One request as the handlers see it (the last argument of a handler: it reads the body).
pub(crate) struct Call {
    pub head: Parts,
    pub body: Bytes,
    /// The route's path parameter as it appears in the URL (not percent-decoded; empty for a
    /// route without one).
    pub param: String,
    pub correlation_id: CorrelationId,
    /// The path as the client sent it (for "no route" messages).
    pub path: String,
}

impl<S: Send + Sync> FromRequest<S> for Call {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let path = original_path(&req).to_owned();
        let (head, body) = req.into_parts();
        // The body is already in memory (a Lambda event, or read by the local gateway).
        let body = axum::body::to_bytes(body, usize::MAX).await.map_err(|e| {
            ApiError::InvalidRequest(format!("request body could not be read: {e}"))
        })?;
        let param = head
            .extensions
            .get::<MatchedPath>()
            .and_then(|template| path_param(template.as_str(), head.uri.path()))
            .unwrap_or_default()
            .to_owned();
        Ok(Call {
            param,
            correlation_id: correlation_id_of(&head.extensions),
            head,
            body,
            path,
        })
    }
}

impl Call {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.head.headers, name)
    }

    /// The value of `name` in the query string, as sent (not percent-decoded).
    pub fn query(&self, name: &str) -> Option<&str> {
        query_param(self.head.uri.query(), name)
    }

    /// Size, content type and JSON checks shared by every route with a body.
    pub fn json<T: DeserializeOwned>(&self, limit: usize) -> Result<T, ApiError> {
        let bytes = &self.body[..];
        if bytes.len() > limit {
            return Err(ApiError::PayloadTooLarge(bytes.len(), limit));
        }
        let is_json = self
            .header("content-type")
            .and_then(|ct| ct.split(';').next())
            .map(|mt| {
                let mt = mt.trim().to_ascii_lowercase();
                mt == "application/json"
                    || (mt.starts_with("application/") && mt.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        if bytes.is_empty() {
            return Err(ApiError::InvalidJson("request body is empty".into()));
        }
        // JSON text is UTF-8: a body that is not (0xff, overlong or surrogate sequences) is not
        // JSON. Checked here because the syntax pass below does not look inside strings it skips.
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
}

pub(crate) fn header<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The first `name=value` of a query string, value as sent.
pub(crate) fn query_param<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// A successful answer before serialisation.
pub(crate) struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn new(status: u16, body: Value) -> Self {
        Reply {
            status,
            body,
            headers: Vec::new(),
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        json_response(self.status, &self.body, self.headers)
    }
}

/// What the capture record learns from inside a handler, whatever the outcome: the observation
/// layer puts one in the request and reads it back once the answer is ready.
#[derive(Clone, Default)]
pub(crate) struct Seen(Arc<Mutex<Facts>>);

#[derive(Debug, Default)]
pub(crate) struct Facts {
    pub sku: Option<String>,
    pub quantity: Option<i64>,
    pub client_event: Option<CaptureRecord>,
}

impl Seen {
    pub fn sku(&self, sku: impl ToString) {
        self.with(|f| f.sku = Some(sku.to_string()));
    }
    pub fn quantity(&self, quantity: i64) {
        self.with(|f| f.quantity = Some(quantity));
    }
    pub fn client_event(&self, record: CaptureRecord) {
        self.with(|f| f.client_event = Some(record));
    }
    /// What was seen (and nothing left behind).
    pub fn take(&self) -> Facts {
        self.with(std::mem::take)
    }
    fn with<T>(&self, f: impl FnOnce(&mut Facts) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Seen {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(parts.extensions.get::<Seen>().cloned().unwrap_or_default())
    }
}

/// The correlation id the observation layer adopted (or made) for this request: a request
/// extension.
pub(crate) fn correlation_id_of(extensions: &http::Extensions) -> CorrelationId {
    extensions
        .get::<CorrelationId>()
        .cloned()
        .unwrap_or_else(|| CorrelationId::adopt(None))
}

/// The raw (not percent-decoded) value of a template's path parameter (`glazed` for
/// `/inventory/{sku}` and `/inventory/glazed`), `path` being one the template matches.
pub(crate) fn path_param<'p>(template: &str, path: &'p str) -> Option<&'p str> {
    let i = template.split('/').position(|s| s.starts_with('{'))?;
    path.split('/').nth(i)
}

/// The path as the client sent it, before [`normalise`].
#[derive(Clone)]
struct OriginalPath(String);

pub(crate) fn original_path(req: &Request) -> &str {
    req.extensions()
        .get::<OriginalPath>()
        .map(|p| p.0.as_str())
        .unwrap_or_else(|| req.uri().path())
}

pub(crate) fn trim_slash(path: &str) -> Option<&str> {
    path.strip_suffix('/').filter(|p| !p.is_empty())
}

/// Ignores a single trailing slash (`/sales/` is `/sales`): applied before routing.
pub(crate) fn normalise<B>(mut req: http::Request<B>) -> http::Request<B> {
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
