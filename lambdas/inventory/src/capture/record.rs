//! The capture record: its shape in the lake and the minimisation every sink applies.

use crate::domain::{Sku, parse_id};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const SCHEMA_VERSION: u32 = 1;

/// What replaces a path parameter that is not a well-formed SKU or id (it may be anything a
/// client typed, personal data included).
pub const INVALID_PARAM: &str = "(invalid)";
/// What a capture record describes (`kind` in the lake: `api_request` or `client_event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureKind {
    /// One API request, as the API answered it.
    ApiRequest,
    /// A client analytics event (`POST /events`).
    ClientEvent,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptureRecord {
    pub schema_version: u32,
    pub kind: CaptureKind,
    pub request_id: String,
    pub correlation_id: String,
    /// RFC 3339 UTC with milliseconds.
    pub timestamp: String,
    pub method: String,
    /// Route template, e.g. `/inventory/{sku}` (`unmatched` for unknown paths).
    pub route: String,
    pub path_params: BTreeMap<String, String>,
    pub status: u16,
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sku: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub quantity: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub event_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub properties: Option<BTreeMap<String, serde_json::Value>>,
    pub service: String,
}

fn safe_token(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

fn allowed_property(key: &str, value: &serde_json::Value) -> bool {
    ALLOWED_EVENT_PROPERTIES.contains(&key)
        && (value.is_number()
            || value.is_boolean()
            || value.as_str().is_some_and(|s| s.len() <= 128))
}

impl CaptureRecord {
    /// The record as it may enter the lake (idempotent; every sink applies it):
    /// - a path parameter that is not a well-formed SKU (`{sku}`) or UUID (`{id}`) is replaced
    ///   by [`INVALID_PARAM`]: it is whatever a client typed into a URL;
    /// - a request id that is not a plain token (it can come from a client's `X-Request-Id`
    ///   locally) is replaced by a hash of it;
    /// - client event properties are re-checked against [`ALLOWED_EVENT_PROPERTIES`].
    pub fn minimised(mut self) -> Self {
        for (name, value) in self.path_params.iter_mut() {
            let ok = match name.as_str() {
                "sku" => Sku::parse(value).is_ok(),
                "id" => parse_id(value).is_ok(),
                _ => safe_token(value, 64),
            };
            if !ok {
                *value = INVALID_PARAM.to_owned();
            }
        }
        if !safe_token(&self.request_id, 128) {
            self.request_id = format!("h-{}", short_hash(&self.request_id));
        }
        if let Some(props) = &mut self.properties {
            props.retain(|k, v| allowed_property(k, v));
        }
        self
    }

    /// The Kinesis partition key: a hash of the request id, so records spread evenly over the
    /// shards whatever the ids look like.
    pub fn partition_key(&self) -> String {
        short_hash(&self.request_id)
    }

    /// One NDJSON line (ending in `\n`: Firehose concatenates records as they are).
    pub fn to_ndjson(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut line = serde_json::to_vec(self)?;
        line.push(b'\n');
        Ok(line)
    }
}

/// First 128 bits of SHA-256, hex.
fn short_hash(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..16])
}

/// Client event property keys kept in the lake; everything else is dropped (PII minimisation).
pub const ALLOWED_EVENT_PROPERTIES: &[&str] = &[
    "page",
    "referrer_path",
    "position",
    "list",
    "variant",
    "value",
    "currency",
    "session_id",
    "experiment",
    "screen",
];

/// The record the capture tests use (inventory's, and api-capture's through the `testkit`
/// feature).
#[cfg(any(test, feature = "testkit"))]
pub mod fixture {
    use super::*;

    /// A well-formed `api_request` record with request id `req-{i}`.
    pub fn record(i: usize) -> CaptureRecord {
        CaptureRecord {
            schema_version: SCHEMA_VERSION,
            kind: CaptureKind::ApiRequest,
            request_id: format!("req-{i}"),
            correlation_id: "c".into(),
            timestamp: "2026-11-21T00:00:00.000Z".into(),
            method: "POST".into(),
            route: "/sales".into(),
            path_params: BTreeMap::new(),
            status: 201,
            latency_ms: 1.5,
            sku: Some("glazed".into()),
            quantity: Some(2),
            error: None,
            user_agent: None,
            event_type: None,
            properties: None,
            service: "sales-api".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::record;
    use super::*;

    #[test]
    fn minimised_drops_what_a_client_typed() {
        let mut r = record(1);
        r.request_id = "John Smith, 12 Main St".into();
        r.path_params
            .insert("sku".into(), "+1 555 123 4567 call me".into());
        r.properties = Some(BTreeMap::from([
            ("page".into(), serde_json::json!("/menu")),
            ("phone".into(), serde_json::json!("+15551234567")),
            ("list".into(), serde_json::json!({"nested": "object"})),
        ]));
        let m = r.minimised();
        assert_eq!(m.path_params["sku"], INVALID_PARAM);
        assert!(m.request_id.starts_with("h-") && !m.request_id.contains("Smith"));
        let props = m.properties.clone().unwrap();
        assert_eq!(props.keys().collect::<Vec<_>>(), vec!["page"]);
        // Idempotent, and well-formed values are kept.
        assert_eq!(m.clone().minimised(), m);
        let mut ok = record(2);
        ok.path_params.insert("sku".into(), "glazed".into());
        ok.path_params
            .insert("id".into(), "0193a0b4-7c2e-7d3f-8a4b-123456789abc".into());
        assert_eq!(ok.clone().minimised(), ok);
    }

    #[test]
    fn partition_keys_spread() {
        let keys: std::collections::HashSet<String> =
            (0..1000).map(|i| record(i).partition_key()).collect();
        assert_eq!(keys.len(), 1000);
        assert!(keys.iter().all(|k| k.len() == 32));
    }
}
