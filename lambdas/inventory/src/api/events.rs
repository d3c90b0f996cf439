//! `POST /events`: a client analytics event, kept (allow-listed properties only) as a capture
//! record of its own.

use super::request::{Call, Reply, Seen};
use super::{ApiError, MAX_EVENT_BODY};
use crate::capture::{ALLOWED_EVENT_PROPERTIES, CaptureKind, CaptureRecord, SCHEMA_VERSION};
use crate::domain::{self, Sku, rfc3339};
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientEvent {
    #[serde(rename = "type")]
    kind: String,
    sku: Option<String>,
    properties: Option<BTreeMap<String, Value>>,
}

/// `service`: the service name the record carries (the API's, as on its request record).
pub(super) async fn accept(
    State(service): State<&'static str>,
    seen: Seen,
    call: Call,
) -> Result<Reply, ApiError> {
    let ev: ClientEvent = call.json(MAX_EVENT_BODY)?;
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
    if let Some(sku) = &sku {
        seen.sku(sku);
    }
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
    seen.client_event(CaptureRecord {
        schema_version: SCHEMA_VERSION,
        kind: CaptureKind::ClientEvent,
        request_id: uuid::Uuid::new_v4().to_string(),
        correlation_id: call.correlation_id.to_string(),
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
        service: service.to_owned(),
    });
    Ok(Reply::new(202, json!({ "accepted": true })))
}
