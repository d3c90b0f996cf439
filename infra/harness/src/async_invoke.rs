//! Lambda's asynchronous invocation (schedules, log subscriptions, custom resources): retries,
//! then the on-failure destination.

use crate::logs::LogHub;
use crate::runtime::{Answer, Function};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// A function invoked asynchronously, with its on-failure destination (if the template has one).
#[derive(Clone)]
pub struct AsyncTarget {
    pub function: Arc<Function>,
    pub on_failure: Option<(aws_sdk_sqs::Client, String)>,
    pub retry_delays: Vec<Duration>,
}

/// Lambda's asynchronous invocation: up to two retries, then the on-failure destination.
/// Returns whether an attempt succeeded.
pub async fn invoke_async(target: &AsyncTarget, event: &Value, hub: &LogHub) -> bool {
    let mut last = Answer::Err(json!({}));
    for attempt in 0..=target.retry_delays.len() {
        if attempt > 0 {
            tokio::time::sleep(target.retry_delays[attempt - 1]).await;
        }
        last = target.function.invoke(event).await;
        if last.is_ok() {
            return true;
        }
    }
    let err = match &last {
        Answer::Err(e) => e.clone(),
        Answer::Ok(_) => Value::Null,
    };
    hub.harness(
        &target.function.spec.name,
        &format!(
            "asynchronous invocation failed after {} attempts: {err}",
            target.retry_delays.len() + 1
        ),
    );
    if let Some((sqs, url)) = &target.on_failure {
        let record = json!({
            "version": "1.0",
            "timestamp": chrono::Utc::now().to_rfc3339(),
            "requestContext": {
                "requestId": uuid::Uuid::new_v4().to_string(),
                "functionArn": format!("{}:$LATEST", target.function.arn()),
                "condition": "RetriesExhausted",
                "approximateInvokeCount": target.retry_delays.len() + 1,
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": err,
        });
        let _ = sqs
            .send_message()
            .queue_url(url)
            .message_body(record.to_string())
            .send()
            .await;
    }
    false
}
