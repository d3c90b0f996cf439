//! The legacy Factory API: its wire shape, the client `factory-orderer` uses, and the
//! authentication of its completion callbacks.
//!
//! Callback authentication: the factory only echoes the `CallbackUrl` it was given, so the URL
//! itself carries the credential: `…/factory/callbacks/{order id}?token=T` where
//! `T = base64url(HMAC-SHA256(callback secret, "factory-callback:v1:" + order id))`.
//! Nothing per order needs storing; a token is valid for exactly one order id (a forged or
//! another order's token fails, compared in constant time); a replayed callback is a duplicate
//! completion, which the restock transaction turns into a no-op.

use crate::domain::StockOutEvent;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::Sha256;
use std::time::Duration;

/// The body of `POST /api/manufactures`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManufactureRequest {
    #[serde(rename = "MessageGroupId")]
    pub message_group_id: String,
    #[serde(rename = "MessageAttributeProductId")]
    pub product_id: String,
    #[serde(rename = "MessageAttributeProductCnt", deserialize_with = "count")]
    pub product_cnt: i64,
    #[serde(rename = "MessageAttributeFactoryId")]
    pub factory_id: String,
    #[serde(rename = "MessageAttributeRequester")]
    pub requester: String,
    #[serde(rename = "CallbackUrl")]
    pub callback_url: String,
}

/// The completion the factory POSTs to the callback URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion {
    #[serde(rename = "MessageGroupId", default)]
    pub message_group_id: Option<String>,
    #[serde(rename = "MessageAttributeProductId")]
    pub product_id: String,
    #[serde(rename = "MessageAttributeProductCnt", deserialize_with = "count")]
    pub product_cnt: i64,
    #[serde(rename = "MessageAttributeFactoryId", default)]
    pub factory_id: Option<String>,
    #[serde(rename = "MessageAttributeRequester", default)]
    pub requester: Option<String>,
}

/// The legacy system sends counts as numbers or as numeric strings.
fn count<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        I(i64),
        S(String),
    }
    match N::deserialize(d)? {
        N::I(i) => Ok(i),
        N::S(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom("count must be an integer")),
    }
}

/// The factory's answer to a manufacture request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

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

/// Signs and verifies callback tokens.
#[derive(Clone)]
pub struct CallbackSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for CallbackSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallbackSigner(..)")
    }
}

impl CallbackSigner {
    pub fn new(secret: &str) -> Self {
        CallbackSigner {
            key: secret.as_bytes().to_vec(),
        }
    }

    fn mac(&self, order_id: &str) -> Hmac<Sha256> {
        // HMAC accepts keys of any length; new_from_slice cannot fail for it.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any size"));
        mac.update(b"factory-callback:v1:");
        mac.update(order_id.as_bytes());
        mac
    }

    pub fn token(&self, order_id: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(self.mac(order_id).finalize().into_bytes())
    }

    /// Constant-time check of a token for an order id.
    pub fn verify(&self, order_id: &str, token: &str) -> bool {
        match base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token) {
            Ok(bytes) => self.mac(order_id).verify_slice(&bytes).is_ok(),
            Err(_) => false,
        }
    }

    /// The URL handed to the factory. The correlation id rides along (not signed: it only
    /// labels logs) so the callback's log lines join the stock-out's story.
    pub fn callback_url(&self, base: &str, order_id: &str, correlation_id: &str) -> String {
        format!(
            "{}/factory/callbacks/{order_id}?token={}&correlation_id={}",
            base.trim_end_matches('/'),
            self.token(order_id),
            crate::domain::correlation_id(Some(correlation_id))
        )
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
                &event.correlation_id,
            ),
        }
    }

    /// Asks the factory for a batch. The factory order id is the idempotency key, so a retry
    /// (SQS redelivery, relay re-send) never makes a second batch at a well-behaved factory.
    /// Runs in a `factory` span ([`crate::telemetry::factory_span`]) with the answer's status
    /// and, on failure, [`FactoryError::kind`].
    pub async fn order(&self, event: &StockOutEvent) -> Result<Accepted, FactoryError> {
        let span = crate::telemetry::factory_span(event.factory_order_id.as_str());
        crate::telemetry::traced(
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
            .header("X-Correlation-Id", &event.correlation_id)
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
mod tests {
    use super::*;

    #[test]
    fn tokens_are_per_order_and_verify_in_constant_time() {
        let s = CallbackSigner::new("k1");
        let t = s.token("order-a");
        assert!(s.verify("order-a", &t));
        assert!(!s.verify("order-b", &t), "another order's token");
        assert!(
            !CallbackSigner::new("k2").verify("order-a", &t),
            "another key"
        );
        assert!(!s.verify("order-a", "not base64 !"));
        let mut tampered = t.clone().into_bytes();
        tampered[0] = if tampered[0] == b'A' { b'B' } else { b'A' };
        assert!(!s.verify("order-a", &String::from_utf8(tampered).unwrap()));
    }

    #[test]
    fn callback_url_shape() {
        let s = CallbackSigner::new("k");
        let url = s.callback_url("http://127.0.0.1:3000/", "o1", "c-1");
        assert!(url.ends_with("&correlation_id=c-1"));
        assert!(url.starts_with("http://127.0.0.1:3000/factory/callbacks/o1?token="));
    }

    #[test]
    fn completion_accepts_numeric_strings() {
        let c: Completion = serde_json::from_str(
            r#"{"MessageAttributeProductId":"glazed","MessageAttributeProductCnt":"100"}"#,
        )
        .unwrap();
        assert_eq!(c.product_cnt, 100);
        assert!(
            serde_json::from_str::<Completion>(
                r#"{"MessageAttributeProductId":"glazed","MessageAttributeProductCnt":"x"}"#
            )
            .is_err()
        );
    }

    #[test]
    fn only_4xx_is_permanent() {
        assert!(FactoryError::Throttled.is_transient());
        assert!(
            FactoryError::Server {
                status: 503,
                body: String::new()
            }
            .is_transient()
        );
        assert!(FactoryError::Timeout(Duration::from_secs(1)).is_transient());
        assert!(
            !FactoryError::Rejected {
                status: 400,
                body: String::new()
            }
            .is_transient()
        );
    }
}
