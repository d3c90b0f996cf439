//! What the app's tests share: a fake [`CompletionQueue`], an [`App`] on it, and the events
//! Lambda sends (Function URL requests, SQS batches).

use super::{App, CompletionQueue};
use crate::sim::{FactorySim, Knobs, ScheduledCompletion};
use base64::Engine;
use serde_json::{Value, json};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Default)]
pub struct FakeQueue {
    pub sent: Mutex<Vec<(ScheduledCompletion, i32)>>,
    pub fail: AtomicBool,
}

impl CompletionQueue for FakeQueue {
    async fn schedule(&self, item: &ScheduledCompletion, delay_secs: i32) -> Result<(), String> {
        if self.fail.load(Ordering::Relaxed) {
            return Err("queue unavailable".into());
        }
        self.sent.lock().unwrap().push((item.clone(), delay_secs));
        Ok(())
    }
}

pub fn app(knobs: Knobs, base: Option<&str>) -> App<FakeQueue> {
    App {
        sim: FactorySim::new(knobs),
        queue: FakeQueue::default(),
        http: reqwest::Client::new(),
        callback_base: base.map(str::to_owned),
    }
}

pub const CALLBACK: &str = "https://api.example.com/factory/callbacks/o1?token=t&correlation_id=c";

pub fn manufacture_body(order: &str, callback: &str) -> String {
    json!({"MessageGroupId": order, "MessageAttributeProductId": "glazed",
           "MessageAttributeProductCnt": 100, "MessageAttributeFactoryId": "donut-factory-1",
           "MessageAttributeRequester": "donut-shop", "CallbackUrl": callback})
    .to_string()
}

/// A Function URL event (payload format 2.0), as Lambda sends it.
pub fn url_event(method: &str, path: &str, body: &str, base64: bool) -> Value {
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

pub fn sqs_event(bodies: &[String]) -> Value {
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

pub fn status_and_body(v: &Value) -> (i64, Value) {
    let body = v["body"].as_str().unwrap_or("null");
    (
        v["statusCode"].as_i64().unwrap(),
        serde_json::from_str(body).unwrap(),
    )
}
