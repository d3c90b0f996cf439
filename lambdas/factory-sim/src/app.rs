//! The deployed factory-sim: one handler for the two event kinds the function receives.
//!
//! - Function URL requests (payload format 2.0): `POST /api/manufactures` is answered by the
//!   shared stand-in, [`FactorySim::manufacture`]; on acceptance the completion is put on the
//!   sim's own SQS queue with `DelaySeconds = min(900, delay_ms / 1000)`.
//! - SQS events from that queue: each completion is POSTed to its callback URL with
//!   [`FactorySim::complete`]; failed deliveries are reported as batch item failures, so SQS
//!   retries them and moves them to the DLQ after `maxReceiveCount`.
//!
//! Limitation: the idempotency map (factory order id -> reference) lives in one execution
//! environment. A retried request served by another (or a recycled) environment is accepted
//! again and schedules a second completion; restock turns that duplicate into a no-op.

use crate::routes::{self, Endpoint};
use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use base64::Engine;
use http::{HeaderMap, HeaderValue};
use inventory::sim::{Completions, FactorySim, ScheduledCompletion, callback_allowed};
use serde_json::{Value, json};
use std::future::Future;
use std::time::Duration;
use tracing::Instrument;

/// SQS caps `DelaySeconds` at 15 minutes.
pub const MAX_DELAY_SECS: u64 = 900;

/// Where accepted completions wait until they are due (the SQS delay queue in AWS): how this
/// function implements the shared stand-in's [`Completions`].
pub trait CompletionQueue: Send + Sync {
    fn schedule(
        &self,
        item: &ScheduledCompletion,
        delay_secs: i32,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

pub struct App<Q> {
    pub sim: FactorySim,
    pub queue: Q,
    pub http: reqwest::Client,
    /// When set, completions are only sent to URLs under it (not an open relay).
    pub callback_base: Option<String>,
}

/// The deployed sim's side of the shared stand-in: completions only to callback URLs under
/// `callback_base` (when set), waiting on the SQS delay queue (whole seconds, at most 15 minutes).
impl<Q: CompletionQueue> Completions for App<Q> {
    fn allows(&self, callback_url: &str) -> bool {
        callback_allowed(callback_url, self.callback_base.as_deref())
    }

    async fn schedule(&self, item: ScheduledCompletion, delay: Duration) -> Result<(), String> {
        let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.queue.schedule(&item, delay_seconds(delay_ms)).await
    }
}

/// The two kinds of events the function is invoked with.
#[derive(Debug)]
pub enum Incoming {
    Http(Box<ApiGatewayV2httpRequest>),
    Sqs(SqsEvent),
}

/// Tells a Function URL request from an SQS batch.
pub fn classify(payload: Value) -> Result<Incoming, String> {
    if let Some(records) = payload.get("Records").and_then(Value::as_array) {
        let all_sqs = records
            .iter()
            .all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"));
        if !all_sqs {
            return Err("Records that are not all from aws:sqs".into());
        }
        return serde_json::from_value(payload)
            .map(Incoming::Sqs)
            .map_err(|e| format!("invalid SQS event: {e}"));
    }
    if payload
        .get("requestContext")
        .and_then(|c| c.get("http"))
        .is_some()
    {
        return serde_json::from_value(payload)
            .map(|r| Incoming::Http(Box::new(r)))
            .map_err(|e| format!("invalid Function URL request: {e}"));
    }
    Err("unknown event: neither a Function URL request nor an SQS batch".into())
}

/// `DelaySeconds` for a completion due `delay_ms` from now.
pub fn delay_seconds(delay_ms: u64) -> i32 {
    // Bounded by MAX_DELAY_SECS, so the cast cannot truncate.
    (delay_ms / 1000).min(MAX_DELAY_SECS) as i32
}

fn response(status: u16, body: Value, extra: &[(&'static str, &str)]) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in extra {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(*name, v);
        }
    }
    let mut res = ApiGatewayV2httpResponse::default();
    res.status_code = i64::from(status);
    res.headers = headers;
    res.body = Some(Body::Text(body.to_string()));
    res.is_base64_encoded = false;
    res
}

fn error(status: u16, code: &str, message: &str) -> ApiGatewayV2httpResponse {
    response(status, json!({"error": code, "message": message}), &[])
}

/// The body of a Function URL request, base64-decoded when the URL says it is encoded.
pub fn body_bytes(req: &ApiGatewayV2httpRequest) -> Result<Vec<u8>, String> {
    let body = req.body.as_deref().unwrap_or_default();
    if req.is_base64_encoded {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| format!("body is not valid base64: {e}"))
    } else {
        Ok(body.as_bytes().to_vec())
    }
}

/// How the delivery of one queued completion ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The callback answered 2xx.
    Delivered(u16),
    /// Will never succeed (poison message, forbidden URL, or a 4xx other than 408/429): logged
    /// as an error and dropped.
    Dropped(String),
    /// Worth retrying (no answer, 5xx, 408, 429): reported as a batch item failure.
    Retry(String),
}

impl<Q: CompletionQueue> App<Q> {
    /// Handles one invocation. An event of an unknown kind fails the invocation.
    pub async fn handle(&self, payload: Value) -> Result<Value, lambda_runtime::Error> {
        match classify(payload)? {
            Incoming::Http(req) => Ok(serde_json::to_value(self.http_request(*req).await)?),
            Incoming::Sqs(event) => Ok(serde_json::to_value(self.completions(event).await)?),
        }
    }

    /// A Function URL request.
    pub async fn http_request(&self, req: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        let method = req.request_context.http.method.clone();
        let path = req
            .raw_path
            .clone()
            .or_else(|| req.request_context.http.path.clone())
            .unwrap_or_else(|| "/".into());
        let correlation_id = req
            .headers
            .get("x-correlation-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned();
        let span =
            tracing::info_span!("request", %method, path = %path, correlation_id = %correlation_id);
        async move {
            match routes::endpoint(&method, &path).await {
                Endpoint::Manufacture => {
                    let res = self.manufacture(&req).await;
                    tracing::info!(status = res.status_code, "factory-sim answered");
                    res
                }
                Endpoint::MethodNotAllowed(allow) => response(
                    405,
                    json!({"error": "method_not_allowed", "message": format!("use {allow}")}),
                    &[("allow", allow)],
                ),
                Endpoint::NotFound => error(404, "not_found", "unknown factory-sim route"),
            }
        }
        .instrument(span)
        .await
    }

    /// `POST /api/manufactures`: answered by the shared stand-in ([`FactorySim::manufacture`]),
    /// with this app as its [`Completions`] (allowed callbacks, the SQS delay queue).
    async fn manufacture(&self, req: &ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        let body = body_bytes(req);
        let reply = self
            .sim
            .manufacture(body.as_deref().map_err(String::as_str), self)
            .await;
        response(reply.status, reply.body, &[])
    }

    /// An SQS batch of due completions: delivered concurrently, failures reported per record.
    pub async fn completions(&self, event: SqsEvent) -> SqsBatchResponse {
        let results = futures::future::join_all(
            event
                .records
                .iter()
                .map(|m| async move { (m.message_id.clone(), self.deliver_one(m).await) }),
        )
        .await;
        let mut response = SqsBatchResponse::default();
        for (id, outcome) in results {
            if let Delivery::Retry(_) = outcome {
                match id {
                    Some(id) => {
                        let mut f = BatchItemFailure::default();
                        f.item_identifier = id;
                        response.batch_item_failures.push(f);
                    }
                    None => tracing::error!("a failed SQS record has no message id"),
                }
            }
        }
        response
    }

    /// Delivers one queued completion.
    pub async fn deliver_one(&self, msg: &SqsMessage) -> Delivery {
        let span = tracing::info_span!(
            "completion",
            message_id = msg.message_id.as_deref().unwrap_or("-")
        );
        async {
            let item: ScheduledCompletion =
                match serde_json::from_str(msg.body.as_deref().unwrap_or_default()) {
                    Ok(i) => i,
                    Err(e) => {
                        tracing::error!(error = %e, "poison completion message dropped");
                        return Delivery::Dropped(format!("not a scheduled completion: {e}"));
                    }
                };
            let order = item
                .completion
                .message_group_id
                .clone()
                .unwrap_or_else(|| "-".into());
            if !callback_allowed(&item.callback_url, self.callback_base.as_deref()) {
                tracing::error!(factory_order_id = %order, "completion dropped: callback URL not allowed");
                return Delivery::Dropped("callback URL not allowed".into());
            }
            let outcome = match self.sim.complete(&self.http, &item).await {
                Some(s) if (200..300).contains(&s) => Delivery::Delivered(s),
                Some(s) if s == 408 || s == 429 || s >= 500 => {
                    Delivery::Retry(format!("callback answered {s}"))
                }
                Some(s) => Delivery::Dropped(format!("callback rejected with {s}")),
                None => Delivery::Retry("callback unreachable".into()),
            };
            match &outcome {
                Delivery::Delivered(s) => {
                    tracing::info!(factory_order_id = %order, status = s, "completion delivered");
                }
                Delivery::Retry(why) => {
                    tracing::warn!(factory_order_id = %order, why = %why, "completion not delivered; SQS will retry")
                }
                Delivery::Dropped(why) => {
                    tracing::error!(factory_order_id = %order, why = %why, "completion rejected by the callback; dropped")
                }
            }
            outcome
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inventory::sim::Knobs;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[derive(Default)]
    struct FakeQueue {
        sent: Mutex<Vec<(ScheduledCompletion, i32)>>,
        fail: AtomicBool,
    }

    impl CompletionQueue for FakeQueue {
        async fn schedule(
            &self,
            item: &ScheduledCompletion,
            delay_secs: i32,
        ) -> Result<(), String> {
            if self.fail.load(Ordering::Relaxed) {
                return Err("queue unavailable".into());
            }
            self.sent.lock().unwrap().push((item.clone(), delay_secs));
            Ok(())
        }
    }

    fn app(knobs: Knobs, base: Option<&str>) -> App<FakeQueue> {
        App {
            sim: FactorySim::new(knobs),
            queue: FakeQueue::default(),
            http: reqwest::Client::new(),
            callback_base: base.map(str::to_owned),
        }
    }

    const CALLBACK: &str = "https://api.example.com/factory/callbacks/o1?token=t&correlation_id=c";

    fn manufacture_body(order: &str, callback: &str) -> String {
        json!({"MessageGroupId": order, "MessageAttributeProductId": "glazed",
               "MessageAttributeProductCnt": 100, "MessageAttributeFactoryId": "donut-factory-1",
               "MessageAttributeRequester": "donut-shop", "CallbackUrl": callback})
        .to_string()
    }

    /// A Function URL event (payload format 2.0), as Lambda sends it.
    fn url_event(method: &str, path: &str, body: &str, base64: bool) -> Value {
        let body = if base64 {
            base64::engine::general_purpose::STANDARD.encode(body)
        } else {
            body.to_owned()
        };
        json!({
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
            "headers": {"content-type": "application/json", "x-correlation-id": "c-1"},
            "requestContext": {
                "accountId": "anonymous", "apiId": "abc", "domainName": "abc.lambda-url.us-east-1.on.aws",
                "domainPrefix": "abc", "requestId": "r-1", "routeKey": "$default", "stage": "$default",
                "time": "12/Mar/2020:19:03:58 +0000", "timeEpoch": 1583348638390i64,
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                         "sourceIp": "203.0.113.1", "userAgent": "test"}
            },
            "body": body, "isBase64Encoded": base64
        })
    }

    fn sqs_event(bodies: &[String]) -> Value {
        let records: Vec<Value> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| {
                json!({"messageId": format!("m{i}"), "receiptHandle": "h", "body": b,
                       "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                       "md5OfBody": "x", "eventSource": "aws:sqs",
                       "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:sim", "awsRegion": "us-east-1"})
            })
            .collect();
        json!({ "Records": records })
    }

    fn status_and_body(v: &Value) -> (i64, Value) {
        let body = v["body"].as_str().unwrap_or("null");
        (
            v["statusCode"].as_i64().unwrap(),
            serde_json::from_str(body).unwrap(),
        )
    }

    #[test]
    fn classifies_events() {
        assert!(matches!(
            classify(url_event("POST", "/api/manufactures", "{}", false)),
            Ok(Incoming::Http(_))
        ));
        assert!(matches!(
            classify(sqs_event(&["{}".into()])),
            Ok(Incoming::Sqs(_))
        ));
        assert!(classify(json!({"detail-type": "Scheduled Event"})).is_err());
        assert!(classify(json!({"Records": [{"eventSource": "aws:sns"}]})).is_err());
    }

    #[test]
    fn delay_is_capped_at_the_sqs_maximum() {
        assert_eq!(delay_seconds(0), 0);
        assert_eq!(delay_seconds(2000), 2);
        assert_eq!(delay_seconds(2999), 2);
        assert_eq!(delay_seconds(3_600_000), 900);
    }

    #[tokio::test]
    async fn accepts_once_and_queues_the_completion() {
        let app = app(
            Knobs {
                delay_ms: 5000,
                ..Knobs::default()
            },
            Some("https://api.example.com"),
        );
        for base64 in [false, true] {
            let ev = url_event(
                "POST",
                "/api/manufactures",
                &manufacture_body("o1", CALLBACK),
                base64,
            );
            let (status, body) = status_and_body(&app.handle(ev).await.unwrap());
            assert_eq!(status, 202);
            assert_eq!(body["status"], "accepted");
            assert!(body["reference"].as_str().unwrap().starts_with("sim-"));
        }
        let sent = app.queue.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 1, "the repeat schedules nothing");
        assert_eq!(sent[0].1, 5);
        assert_eq!(sent[0].0.callback_url, CALLBACK);
        assert_eq!(sent[0].0.completion.product_cnt, 100);
        assert_eq!(sent[0].0.completion.message_group_id.as_deref(), Some("o1"));
    }

    #[tokio::test]
    async fn a_queue_failure_is_retryable_and_the_retry_schedules() {
        let app = app(Knobs::default(), None);
        app.queue.fail.store(true, Ordering::Relaxed);
        let ev = url_event(
            "POST",
            "/api/manufactures",
            &manufacture_body("o2", CALLBACK),
            false,
        );
        let (status, _) = status_and_body(&app.handle(ev.clone()).await.unwrap());
        assert_eq!(status, 503);
        app.queue.fail.store(false, Ordering::Relaxed);
        let (status, _) = status_and_body(&app.handle(ev).await.unwrap());
        assert_eq!(status, 202);
        assert_eq!(app.queue.sent.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn refuses_bad_requests_foreign_callbacks_and_other_routes() {
        let app = app(Knobs::default(), Some("https://api.example.com"));
        let cases = [
            (
                url_event("POST", "/api/manufactures", "{not json", false),
                400,
            ),
            (
                url_event(
                    "POST",
                    "/api/manufactures",
                    &manufacture_body("o3", "https://evil.example/steal"),
                    false,
                ),
                400,
            ),
            (url_event("POST", "/api/manufactures", "%%%", true), 400),
            (url_event("GET", "/api/manufactures", "", false), 405),
            (url_event("POST", "/nope", "{}", false), 404),
        ];
        for (ev, want) in cases {
            let (status, body) = status_and_body(&app.handle(ev).await.unwrap());
            assert_eq!(status, want, "{body}");
            assert!(body["error"].is_string());
        }
        assert!(app.queue.sent.lock().unwrap().is_empty());
        assert_eq!(app.sim.accepted_orders(), 0);
    }

    #[tokio::test]
    async fn knobs_fail_requests() {
        let app = app(
            Knobs {
                down: true,
                ..Knobs::default()
            },
            None,
        );
        let ev = url_event(
            "POST",
            "/api/manufactures",
            &manufacture_body("o4", CALLBACK),
            false,
        );
        let (status, body) = status_and_body(&app.handle(ev).await.unwrap());
        assert_eq!(status, 503);
        assert_eq!(body["error"], "factory_error");
        let app = self::app(
            Knobs {
                failure_rate: 1.0,
                ..Knobs::default()
            },
            None,
        );
        let ev = url_event(
            "POST",
            "/api/manufactures",
            &manufacture_body("o4", CALLBACK),
            false,
        );
        assert_eq!(status_and_body(&app.handle(ev).await.unwrap()).0, 500);
    }

    /// A tiny HTTP server answering by path: /ok 200, /gone 404, anything else 500.
    async fn callback_server() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let (head_end, content_length) = loop {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                            let len = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            break (i + 4, len);
                        }
                    };
                    while buf.len() < head_end + content_length {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    let line = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let status = if line.starts_with("POST /ok") {
                        "200 OK"
                    } else if line.starts_with("POST /gone") {
                        "404 Not Found"
                    } else {
                        "500 Internal Server Error"
                    };
                    let res = format!(
                        "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
                    );
                    let _ = sock.write_all(res.as_bytes()).await;
                });
            }
        });
        format!("http://{addr}")
    }

    fn scheduled(url: String) -> String {
        let completion = serde_json::from_value(json!({"MessageGroupId": "o1",
            "MessageAttributeProductId": "glazed", "MessageAttributeProductCnt": 100}))
        .unwrap();
        serde_json::to_string(&ScheduledCompletion {
            callback_url: url,
            completion,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn delivers_completions_and_reports_only_retryable_failures() {
        let base = callback_server().await;
        let app = app(Knobs::default(), Some(&base));
        let bodies = vec![
            scheduled(format!("{base}/ok")),            // m0 delivered
            scheduled(format!("{base}/gone")),          // m1 4xx: dropped
            scheduled(format!("{base}/boom")),          // m2 5xx: retried by SQS
            "not json".to_owned(),                      // m3 poison: dropped
            scheduled("https://evil.example/x".into()), // m4 not allowed: dropped
        ];
        let out = app.handle(sqs_event(&bodies)).await.unwrap();
        let failures: Vec<&str> = out["batchItemFailures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["itemIdentifier"].as_str().unwrap())
            .collect();
        assert_eq!(failures, ["m2"]);
        assert_eq!(app.sim.completions.load(Ordering::Relaxed), 1);
    }
}
