//! What a handler gets: the request's head, its body, the raw path parameter and the correlation
//! id; and what it gives back besides its reply (the facts the capture record learns).

use super::ApiError;
use crate::capture::CaptureRecord;
use bytes::Bytes;
use http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// One request as the handlers see it.
pub(crate) struct Call {
    pub head: Parts,
    pub body: Bytes,
    /// The route's path parameter as it appears in the URL (not percent-decoded; empty for a
    /// route without one).
    pub param: String,
    pub correlation_id: String,
    /// The path as the client sent it (for "no route" messages).
    pub path: String,
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

/// What the capture record learns from inside a handler (whatever the outcome).
#[derive(Debug, Clone, Default)]
pub(crate) struct Seen {
    pub sku: Option<String>,
    pub quantity: Option<i64>,
    pub client_event: Option<CaptureRecord>,
}
