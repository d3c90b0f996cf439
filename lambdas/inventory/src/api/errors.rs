//! The API's errors: one enum, mapped exhaustively to a status, a stable code, a JSON body and
//! the headers that go with it; and the JSON response every answer of the API is.

use crate::domain::{OrderRef, ValidationError};
use crate::store::StoreError;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

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
    #[error("no sale {0}")]
    UnknownSale(String),
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
    MethodNotAllowed(String, Vec<&'static str>),
    #[error("the database is unavailable; retry shortly")]
    Unavailable,
    /// A write's outcome could not be learnt before the deadline (the database went away as
    /// it committed): `field` (`sale_id`, `sku`, `factory_order_id`) names what to look up or
    /// retry.
    #[error(
        "the database went away while this {what} was committing; whether it did is not known yet: look it up (or retry) shortly"
    )]
    OutcomeUnknown {
        what: &'static str,
        field: &'static str,
        id: String,
    },
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
            // The writes that can end this way resolve it themselves (`outcome.rs`).
            StoreError::Ambiguous(why) => {
                tracing::error!(error = %why, "ambiguous outcome not resolved");
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
    /// A path no route serves (at most 200 characters of it in the message).
    pub fn not_found(path: &str) -> Self {
        ApiError::NotFound(path.chars().take(200).collect())
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::InvalidJson(_) | ApiError::InvalidRequest(_) | ApiError::Invalid(_) => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::UnknownSku(_)
            | ApiError::UnknownOrder(_)
            | ApiError::UnknownSale(_)
            | ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed(..) => 405,
            ApiError::OutOfStock { .. } => 409,
            ApiError::PayloadTooLarge(..) => 413,
            ApiError::UnsupportedMediaType => 415,
            ApiError::KeyReused => 422,
            ApiError::Internal => 500,
            ApiError::Unavailable | ApiError::OutcomeUnknown { .. } => 503,
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
            ApiError::UnknownSale(_) => "unknown_sale",
            ApiError::OutOfStock { .. } => "out_of_stock",
            ApiError::PayloadTooLarge(..) => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::KeyReused => "idempotency_key_reused",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(..) => "method_not_allowed",
            ApiError::Unavailable => "unavailable",
            ApiError::OutcomeUnknown { .. } => "outcome_unknown",
            ApiError::Internal => "internal",
        }
    }

    /// `{"error": code, "message": …}` (plus the stock and the factory order for `out_of_stock`,
    /// what to look up for `outcome_unknown`).
    pub fn body(&self) -> Value {
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
        if let ApiError::OutcomeUnknown { field, id, .. } = self {
            body[*field] = json!(id);
        }
        body
    }

    /// The headers an error response carries besides the JSON ones.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            ApiError::Unavailable => vec![("retry-after", "1".to_owned())],
            ApiError::OutcomeUnknown { .. } => vec![("retry-after", "2".to_owned())],
            ApiError::Unauthorized(_) => vec![("www-authenticate", "Bearer".to_owned())],
            ApiError::MethodNotAllowed(_, allow) => vec![("allow", allow.join(", "))],
            _ => Vec::new(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = json_response(self.status(), &self.body(), self.headers());
        res.extensions_mut().insert(ErrorCode(self.code()));
        res
    }
}

/// The code of an error response, for the request's log line and capture record (a response
/// extension the observation layer takes off).
#[derive(Clone, Copy)]
pub(super) struct ErrorCode(pub &'static str);

/// An answer of the API: `body` as JSON with `status` and `headers`.
pub(super) fn json_response(
    status: u16,
    body: &Value,
    headers: Vec<(&'static str, String)>,
) -> Response {
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    for (k, v) in headers {
        builder = builder.header(k, v);
    }
    builder
        .body(Body::from(body.to_string()))
        .unwrap_or_else(|_| {
            Response::new(Body::from(
                "{\"error\":\"internal\",\"message\":\"response\"}",
            ))
        })
}
