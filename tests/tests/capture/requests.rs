//! Every request of the local stack is captured exactly once, without personal data.

use crate::bucket::{assert_record_shape, read_bucket};
use crate::traffic::{mixed_round, pii};
use pipeline_tests::faults::files_under;
use pipeline_tests::{Db, TestApp};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// N mixed requests → exactly N `api_request` records (+ one `client_event` per accepted event)
/// in the local bucket: valid gzip, valid JSON, the right fields, the Firehose key layout, and
/// none of the personal data the requests carried.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_request_is_captured_once_without_pii() {
    let stack = TestApp::spawn_with(Db::Sqlite, |o| {
        o.capture_buffer_ms = 150;
        // The 409s open factory orders: keep the factory's completion callbacks (requests of
        // their own, and restocks that would turn a 409 into a 201) out of this test.
        o.factory_delay_ms = 600_000;
    })
    .await;
    let data_dir = stack.stack.data_dir.clone();
    let c = &stack.client;
    let mut sent = Vec::new();
    for round in 0..3 {
        mixed_round(c, round, &mut sent).await;
        // Let an age flush happen between rounds, so there are several objects.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Objects appear while the stack runs (seconds after a request, like Firehose).
    let (early, _) = read_bucket(&data_dir);
    assert!(!early.is_empty(), "nothing flushed by age while running");
    assert_eq!((stack.shared().capture_failures)(), 0);
    // The guard keeps the data dir: the bucket is read after the stop.
    let _dir = stack.stop().await;

    let (records, text) = read_bucket(&data_dir);
    assert!(
        files_under(&data_dir.join("bucket/rawdata"))
            .iter()
            .all(|p| p.extension().is_some_and(|e| e == "gz")),
        "no partial objects left behind"
    );
    let n = sent.len();
    let api: Vec<&Value> = records
        .iter()
        .map(|(_, v)| v)
        .filter(|v| v["kind"] == "api_request")
        .collect();
    let events: Vec<&Value> = records
        .iter()
        .map(|(_, v)| v)
        .filter(|v| v["kind"] == "client_event")
        .collect();
    assert_eq!(api.len(), n, "exactly one api_request record per request");
    assert_eq!(
        events.len(),
        sent.iter().filter(|s| s.client_event).count(),
        "one client_event per accepted event"
    );
    assert_eq!(records.len(), api.len() + events.len(), "no other kinds");
    for (_, v) in &records {
        assert_record_shape(v);
    }
    // Each request's record, found by its correlation id, says what happened.
    let by_corr: BTreeMap<&str, &Value> = api
        .iter()
        .map(|v| (v["correlation_id"].as_str().unwrap(), *v))
        .collect();
    assert_eq!(by_corr.len(), n, "correlation ids are unique per record");
    for s in &sent {
        let r = by_corr
            .get(s.correlation_id.as_str())
            .unwrap_or_else(|| panic!("no record for {}", s.correlation_id));
        assert_eq!(r["status"], json!(s.status), "{r}");
        assert_eq!(r["route"], json!(s.route), "{r}");
        assert_eq!(r["sku"].as_str(), s.sku, "{r}");
        assert_eq!(r["quantity"].as_i64(), s.quantity, "{r}");
        assert_eq!(r["user_agent"], json!("capture-test/1.0"), "{r}");
        if s.status >= 400 {
            assert!(r["error"].is_string(), "an error code: {r}");
        }
        let params = r["path_params"].as_object().unwrap();
        if s.route.contains('{') {
            assert_eq!(params.len(), 1, "{r}");
        } else {
            assert!(params.is_empty(), "{r}");
        }
    }
    let request_ids: HashSet<&str> = api
        .iter()
        .map(|v| v["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(request_ids.len(), n, "request ids are unique");
    for e in &events {
        let props = e["properties"].as_object().expect("properties");
        assert_eq!(
            props.keys().collect::<Vec<_>>(),
            vec!["page", "position"],
            "only allow-listed properties: {e}"
        );
        assert_eq!(e["event_type"], "page_view");
    }
    // No personal data anywhere: not the phone, the address, the e-mail, the client IP, the
    // name, nor the callback token of the query string.
    for needle in pii() {
        assert!(
            !text.contains(needle),
            "{needle:?} found in the capture lake"
        );
    }
    assert!(!text.contains("token="), "query strings are not captured");
    assert!(!text.contains("x-forwarded-for") && !text.contains("source_ip"));
}
