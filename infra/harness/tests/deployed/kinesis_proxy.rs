//! A fault injector in front of moto: an HTTP proxy that forwards every request unchanged,
//! except Kinesis `PutRecords`, whose entries it can throttle the way Kinesis does when a shard
//! is over its write limit. moto never throttles; this makes it.
//!
//! A throttled entry is not written (it is left out of the request forwarded to moto), and the
//! answer is the service's: HTTP 200, `FailedRecordCount` > 0 and, at the entry's position in
//! `Records`, `{"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate
//! exceeded for shard shardId-… in stream … under account …."}` instead of `SequenceNumber` and
//! `ShardId` (Kinesis API reference, `PutRecordsResultEntry`). The other entries are written and
//! answered by moto.
//!
//! Which entries are throttled is a [`Policy`] over how often the same record (the same bytes)
//! has been sent, so a retry of a throttled record is told apart from a new one.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Which `PutRecords` entries are throttled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// None: every entry is written.
    Off,
    /// Every record, the first `n` times it is sent.
    FirstSends(u32),
    /// The records of one half ([`in_throttled_half`]), the first `n` times each is sent; the
    /// other half is written at once. `u32::MAX`: that half never gets through.
    HalfFirstSends(u32),
}

/// How often one record was sent, throttled and written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sends {
    pub sent: u32,
    pub throttled: u32,
    pub written: u32,
}

/// Whether a record (its bytes) is in the half [`Policy::HalfFirstSends`] throttles: a stable
/// hash of the bytes, so the same record is always in the same half.
pub fn in_throttled_half(data: &[u8]) -> bool {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut h);
    h.finish() % 2 == 1
}

impl Policy {
    fn throttles(self, data: &[u8], sent_before: u32) -> bool {
        match self {
            Policy::Off => false,
            Policy::FirstSends(n) => sent_before < n,
            Policy::HalfFirstSends(n) => in_throttled_half(data) && sent_before < n,
        }
    }
}

struct Shared {
    upstream: String,
    http: reqwest::Client,
    policy: Mutex<Policy>,
    /// Record bytes → its sends.
    records: Mutex<HashMap<Vec<u8>, Sends>>,
    put_records_calls: AtomicU64,
}

pub struct KinesisThrottler {
    /// Give this to the harness as its AWS endpoint.
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl KinesisThrottler {
    /// Listens on a free loopback port and forwards to `upstream` (moto's endpoint).
    pub async fn start(upstream: &str) -> KinesisThrottler {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("proxy listens");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            policy: Mutex::new(Policy::Off),
            records: Mutex::default(),
            put_records_calls: AtomicU64::new(0),
        });
        let app = Router::new().fallback(forward).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        KinesisThrottler { url, shared, task }
    }

    pub fn set(&self, policy: Policy) {
        if let Ok(mut p) = self.shared.policy.lock() {
            *p = policy;
        }
    }

    /// Every record seen (parsed as JSON; records that are not JSON are skipped) and its sends.
    pub fn sends(&self) -> Vec<(Value, Sends, bool)> {
        let records = self
            .shared
            .records
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default();
        records
            .into_iter()
            .filter_map(|(data, s)| {
                let v = serde_json::from_slice(&data).ok()?;
                Some((v, s, in_throttled_half(&data)))
            })
            .collect()
    }

    pub fn put_records_calls(&self) -> u64 {
        self.shared.put_records_calls.load(Ordering::SeqCst)
    }
}

impl Drop for KinesisThrottler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 64 << 20).await else {
        return (StatusCode::BAD_REQUEST, "unreadable body").into_response();
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if target == "Kinesis_20131202.PutRecords"
        && let Some(answer) = s.put_records(&path, &parts.headers, &body).await
    {
        return answer;
    }
    match s.send(parts.method, &path, &parts.headers, body).await {
        Ok((status, headers, bytes)) => (status, headers, bytes).into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, format!("proxy: {e}")).into_response(),
    }
}

impl Shared {
    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<(StatusCode, HeaderMap, Bytes), reqwest::Error> {
        let mut h = headers.clone();
        h.remove(header::HOST);
        h.remove(header::CONTENT_LENGTH);
        let res = self
            .http
            .request(method, format!("{}{path}", self.upstream))
            .headers(h)
            .body(body)
            .send()
            .await?;
        let status = res.status();
        let mut headers = res.headers().clone();
        for h in [
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
            header::CONNECTION,
        ] {
            headers.remove(h);
        }
        Ok((status, headers, res.bytes().await?))
    }

    /// Throttles the entries the policy picks and forwards the rest; `None` when the request
    /// is not one it understands (then it is forwarded as is).
    async fn put_records(&self, path: &str, headers: &HeaderMap, body: &[u8]) -> Option<Response> {
        let mut doc: Value = serde_json::from_slice(body).ok()?;
        let entries = doc.get("Records")?.as_array()?.clone();
        self.put_records_calls.fetch_add(1, Ordering::SeqCst);
        let policy = self.policy.lock().map(|p| *p).unwrap_or(Policy::Off);
        let datas: Vec<Vec<u8>> = entries
            .iter()
            .map(|e| {
                e["Data"]
                    .as_str()
                    .and_then(|d| B64.decode(d).ok())
                    .unwrap_or_default()
            })
            .collect();
        let throttle: Vec<bool> = {
            let mut records = self.records.lock().ok()?;
            datas
                .iter()
                .map(|d| {
                    let s = records.entry(d.clone()).or_default();
                    let t = policy.throttles(d, s.sent);
                    s.sent += 1;
                    if t {
                        s.throttled += 1;
                    }
                    t
                })
                .collect()
        };
        let kept: Vec<Value> = entries
            .iter()
            .zip(&throttle)
            .filter(|(_, t)| !**t)
            .map(|(e, _)| e.clone())
            .collect();
        let mut written: Vec<Value> = Vec::new();
        let mut shard = "shardId-000000000000".to_owned();
        let mut extra = serde_json::Map::new();
        if !kept.is_empty() {
            doc["Records"] = Value::Array(kept);
            // From here on the sends are counted: an upstream failure is answered as such,
            // never by forwarding the original request (which would write throttled entries).
            let (status, h, bytes) = match self
                .send(Method::POST, path, headers, Bytes::from(doc.to_string()))
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    return Some((StatusCode::BAD_GATEWAY, format!("proxy: {e}")).into_response());
                }
            };
            // moto's answer for the forwarded entries; anything else is passed on as it is.
            let answer = serde_json::from_slice::<Value>(&bytes).ok();
            let (StatusCode::OK, Some(answer)) = (status, answer) else {
                return Some((status, h, bytes).into_response());
            };
            let Some(records) = answer.get("Records").and_then(Value::as_array) else {
                return Some((status, h, bytes).into_response());
            };
            written = records.clone();
            if let Some(id) = written.iter().find_map(|r| r["ShardId"].as_str()) {
                shard = id.to_owned();
            }
            if let Some(enc) = answer.get("EncryptionType") {
                extra.insert("EncryptionType".into(), enc.clone());
            }
        }
        let stream = doc["StreamName"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| {
                doc["StreamARN"]
                    .as_str()
                    .and_then(|a| a.rsplit('/').next())
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        let mut written = written.into_iter();
        let mut results = Vec::with_capacity(entries.len());
        let mut failed = 0;
        let mut records = self.records.lock().ok()?;
        for (d, t) in datas.iter().zip(&throttle) {
            if *t {
                failed += 1;
                results.push(json!({
                    "ErrorCode": "ProvisionedThroughputExceededException",
                    "ErrorMessage": format!(
                        "Rate exceeded for shard {shard} in stream {stream} under account 123456789012."
                    ),
                }));
            } else {
                let r = written.next().unwrap_or(Value::Null);
                if r.get("ErrorCode").is_some() {
                    failed += 1;
                } else if let Some(s) = records.get_mut(d) {
                    s.written += 1;
                }
                results.push(r);
            }
        }
        let mut out = json!({"FailedRecordCount": failed, "Records": results});
        if let Some(o) = out.as_object_mut() {
            o.extend(extra);
        }
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
            h.insert("x-amzn-requestid", id);
        }
        Some((StatusCode::OK, h, out.to_string()).into_response())
    }
}
