//! The orderer's HTTP client of the legacy Factory API: `POST /api/manufactures` with the
//! factory order id as its idempotency key and a signed callback URL
//! ([`CallbackSigner`]), each call in a `factory` span; the failure kinds it tells apart.
//! The wire types it speaks are shared with the stand-in and the restock
//! ([`inventory::factory`]).

use inventory::domain::StockOutEvent;
use inventory::factory::{Accepted, CallbackSigner, ManufactureRequest};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum FactoryError {
    #[error("factory timed out after {0:?}")]
    Timeout(Duration),
    #[error("factory unreachable: {0}")]
    Connect(String),
    #[error("factory throttled the request (429)")]
    Throttled,
    #[error("factory failed with {status}: {body}")]
    Server { status: u16, body: String },
    #[error("factory rejected the request with {status}: {body}")]
    Rejected { status: u16, body: String },
}

impl FactoryError {
    /// Timeouts, connection failures, 429 and 5xx are worth retrying; a 4xx is not (but the
    /// message still goes through SQS retries to the DLQ, so nothing is lost silently).
    pub fn is_transient(&self) -> bool {
        !matches!(self, FactoryError::Rejected { .. })
    }

    /// The failure's kind for traces (`error.kind`): no body, no URL.
    pub fn kind(&self) -> &'static str {
        match self {
            FactoryError::Timeout(_) => "timeout",
            FactoryError::Connect(_) => "connect",
            FactoryError::Throttled => "throttled",
            FactoryError::Server { .. } => "server_error",
            FactoryError::Rejected { .. } => "rejected",
        }
    }
}

/// HTTP client of the legacy Factory API.
#[derive(Clone)]
pub struct FactoryClient {
    http: reqwest::Client,
    base_url: String,
    factory_id: String,
    requester: String,
    callback_base: String,
    signer: CallbackSigner,
    timeout: Duration,
}

pub struct FactorySettings {
    pub base_url: String,
    pub factory_id: String,
    pub requester: String,
    pub callback_base: String,
    pub timeout: Duration,
}

impl FactoryClient {
    pub fn new(settings: FactorySettings, signer: CallbackSigner) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(2)))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(FactoryClient {
            http,
            base_url: settings.base_url.trim_end_matches('/').to_owned(),
            factory_id: settings.factory_id,
            requester: settings.requester,
            callback_base: settings.callback_base,
            signer,
            timeout: settings.timeout,
        })
    }

    pub fn request_for(&self, event: &StockOutEvent) -> ManufactureRequest {
        ManufactureRequest {
            message_group_id: event.factory_order_id.to_string(),
            product_id: event.sku.as_str().to_owned(),
            product_cnt: event.quantity,
            factory_id: self.factory_id.clone(),
            requester: self.requester.clone(),
            callback_url: self.signer.callback_url(
                &self.callback_base,
                event.factory_order_id.as_str(),
                event.correlation_id.as_str(),
            ),
        }
    }

    /// Asks the factory for a batch. The factory order id is the idempotency key, so a retry
    /// (SQS redelivery, relay re-send) never makes a second batch at a well-behaved factory.
    /// Runs in a `factory` span ([`inventory::telemetry::factory_span`]) with the answer's status
    /// and, on failure, [`FactoryError::kind`].
    pub async fn order(&self, event: &StockOutEvent) -> Result<Accepted, FactoryError> {
        let span = inventory::telemetry::factory_span(event.factory_order_id.as_str());
        inventory::telemetry::traced(
            span.clone(),
            self.send_order(event, &span),
            FactoryError::kind,
        )
        .await
    }

    async fn send_order(
        &self,
        event: &StockOutEvent,
        span: &tracing::Span,
    ) -> Result<Accepted, FactoryError> {
        let body = self.request_for(event);
        let res = self
            .http
            .post(format!("{}/api/manufactures", self.base_url))
            .header("Idempotency-Key", event.factory_order_id.as_str())
            .header("X-Correlation-Id", event.correlation_id.as_str())
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    FactoryError::Timeout(self.timeout)
                } else {
                    FactoryError::Connect(without_url(&e))
                }
            })?;
        let status = res.status();
        span.record("http.status_code", status.as_u16());
        let text = match res.text().await {
            Ok(t) => t,
            Err(e) if e.is_timeout() => return Err(FactoryError::Timeout(self.timeout)),
            Err(e) => return Err(FactoryError::Connect(without_url(&e))),
        };
        let snippet: String = text.chars().take(300).collect();
        if status.as_u16() == 429 {
            return Err(FactoryError::Throttled);
        }
        if status.is_server_error() {
            return Err(FactoryError::Server {
                status: status.as_u16(),
                body: snippet,
            });
        }
        if !status.is_success() {
            return Err(FactoryError::Rejected {
                status: status.as_u16(),
                body: snippet,
            });
        }
        Ok(serde_json::from_str(&text).unwrap_or(Accepted {
            reference: None,
            status: Some(snippet),
        }))
    }
}

/// reqwest errors print the URL; ours carries no secret, but the callback URL in the body
/// does, so errors are reduced to their kind and cause.
fn without_url(e: &reqwest::Error) -> String {
    let mut s = String::new();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    if e.is_connect() {
        s.push_str("connect error");
    } else if e.is_request() {
        s.push_str("request error");
    } else {
        s.push_str("http error");
    }
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

#[cfg(test)]
mod tests;
