//! What the deployed-function cases share: where the workspace and the bootstraps are, waiting
//! for a condition, the API client that counts its requests, and reading the stack's secrets and
//! capture stream.

use lambda_harness::Harness;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn bin_dir() -> PathBuf {
    lambda_harness::bootstraps_dir(&root())
}

pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    /// Requests this test sent (each must reach a function and leave one capture record).
    pub sent: std::sync::atomic::AtomicU64,
}

impl Api {
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let res = req.send().await.expect("request");
        self.sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let status = res.status().as_u16();
        let text = res.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(json!({"raw": text})),
        )
    }

    pub async fn sell(&self, sku: &str, quantity: i64) -> (u16, Value) {
        let body = json!({"sku": sku, "quantity": quantity});
        self.call(reqwest::Method::POST, "/sales", Some(body), None)
            .await
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::SeqCst)
    }
}

pub async fn secret(h: &Harness, logical_id: &str) -> String {
    let sm = aws_sdk_secretsmanager::Client::new(&h.sdk);
    sm.get_secret_value()
        .secret_id(&h.values.refs[logical_id])
        .send()
        .await
        .expect("secret")
        .secret_string()
        .unwrap_or_default()
        .to_owned()
}

pub async fn kinesis_records(h: &Harness) -> Vec<Value> {
    let k = aws_sdk_kinesis::Client::new(&h.sdk);
    let stream = &h.values.refs["CaptureStream"];
    let shards = k
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .expect("shards");
    let mut out = Vec::new();
    for s in shards.shards() {
        let mut it = k
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(s.shard_id())
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("iterator")
            .shard_iterator;
        while let Some(i) = it.take() {
            let r = k
                .get_records()
                .shard_iterator(i)
                .send()
                .await
                .expect("records");
            if r.records().is_empty() {
                break;
            }
            for rec in r.records() {
                out.push(serde_json::from_slice(rec.data().as_ref()).unwrap_or(Value::Null));
            }
            it = r.next_shard_iterator;
        }
    }
    out
}

/// Waits for `total` capture records in Kinesis, then checks that no more arrive: one record
/// per API request, none lost, none duplicated.
pub async fn assert_one_capture_record_per_request(h: &Harness, total: u64) {
    eventually(
        "a capture record per request",
        Duration::from_secs(30),
        || async { (kinesis_records(h).await.len() as u64 >= total).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let recs = kinesis_records(h).await;
    assert_eq!(
        recs.len() as u64,
        total,
        "one capture record per API request: {recs:?}"
    );
}
