//! The legacy Factory API: its wire shape (what the orderer sends, the stand-in answers and the
//! restock receives) and the authentication of its completion callbacks (the orderer signs, the
//! restock verifies). The HTTP client is the orderer's own (`factory_orderer::client`).
//!
//! Callback authentication: the factory only echoes the `CallbackUrl` it was given, so the URL
//! itself carries the credential: `…/factory/callbacks/{order id}?token=T` where
//! `T = base64url(HMAC-SHA256(callback secret, "factory-callback:v1:" + order id))`.
//! Nothing per order needs storing; a token is valid for exactly one order id (a forged or
//! another order's token fails, compared in constant time); a replayed callback is a duplicate
//! completion, which the restock transaction turns into a no-op.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::Sha256;

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
            crate::domain::CorrelationId::adopt(Some(correlation_id))
        )
    }
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
}
