//! API capture: every request of the local stack lands exactly once, as gzip NDJSON in the local
//! bucket under the Firehose key layout, with no personal data; the Kinesis adapter against
//! moto; and the figures (records/s through the local pipeline, records lost).
//!
//! Figures: `cargo test -p pipeline-tests --test capture figures -- --nocapture`.
//!
//! One module a concern (one test binary, linked once):
//! - `requests`: every request captured once, without personal data (the local stack);
//! - `failures`: capture failures are counted and alarmed;
//! - `kinesis`: the Kinesis adapter against moto;
//! - `figures`: records/s and records lost;
//! - `traffic`: the mixed requests the capture is checked on, and the personal data they carry;
//! - `bucket`: reading and checking the local bucket.

mod bucket;
mod failures;
mod figures;
mod kinesis;
mod requests;
mod traffic;

use inventory::capture::{CaptureRecord, SCHEMA_VERSION};
use std::collections::BTreeMap;

/// A valid record, distinct for each `i`.
fn sample_record(i: usize) -> CaptureRecord {
    CaptureRecord {
        schema_version: SCHEMA_VERSION,
        kind: inventory::capture::CaptureKind::ApiRequest,
        request_id: format!("{:032x}", i as u128 * 0x9e37_79b9_7f4a_7c15),
        correlation_id: format!("corr-{i}"),
        timestamp: "2026-11-21T22:07:24.123Z".into(),
        method: "POST".into(),
        route: "/sales".into(),
        path_params: BTreeMap::new(),
        status: 201,
        latency_ms: 3.25,
        sku: Some("glazed".into()),
        quantity: Some(2),
        error: None,
        user_agent: Some("k6/0.50".into()),
        event_type: None,
        properties: None,
        service: "sales-api".into(),
    }
}
