//! Lambda's asynchronous invocation (schedules, log subscriptions, custom resources): retries,
//! then the on-failure destination.
//!
//! As <https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html> says:
//! a function error (its own, a timeout, a crash) is retried twice, after about one and two
//! minutes (`retry_delays`); a throttle (429: no concurrency left) is not a function error and
//! does not use up those retries: the event goes back to the queue and is tried again, the wait
//! doubling from 1 second up to 5 minutes (`throttle_backoff`), for up to the maximum event age
//! (6 hours by default, `max_event_age`). Nothing is lost until then. Time is compressed here.

use crate::logs::LogHub;
use crate::runtime::{Answer, Function};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A function invoked asynchronously, with its on-failure destination (if the template has one).
#[derive(Clone)]
pub struct AsyncTarget {
    pub function: Arc<Function>,
    pub on_failure: Option<(aws_sdk_sqs::Client, String)>,
    /// Waits before the retries of a failed invocation.
    pub retry_delays: Vec<Duration>,
    /// A throttled invocation's first wait and longest wait (doubling in between).
    pub throttle_backoff: (Duration, Duration),
    /// How long throttled attempts go on before the event is given up.
    pub max_event_age: Duration,
}

/// Lambda's asynchronous invocation: throttles retried with a growing wait until the event's
/// maximum age, function errors retried `retry_delays.len()` times, then the on-failure
/// destination. Returns whether an attempt succeeded.
pub async fn invoke_async(target: &AsyncTarget, event: &Value, hub: &LogHub) -> bool {
    let started = Instant::now();
    let mut failures = 0usize;
    let mut attempts = 0usize;
    let mut throttle_wait = target.throttle_backoff.0;
    let (condition, last) = loop {
        let last = target.function.invoke(event).await;
        attempts += 1;
        if last.is_ok() {
            return true;
        }
        if last.is_throttle() {
            // Back to the event queue; tried again later, not counted as a retry.
            if started.elapsed() + throttle_wait > target.max_event_age {
                break ("EventAgeExceeded", last);
            }
            tokio::time::sleep(throttle_wait).await;
            throttle_wait = (throttle_wait * 2).min(target.throttle_backoff.1);
            continue;
        }
        if failures >= target.retry_delays.len() {
            break ("RetriesExhausted", last);
        }
        tokio::time::sleep(target.retry_delays[failures]).await;
        failures += 1;
    };
    let err = match &last {
        Answer::Err(e) => e.clone(),
        Answer::Ok(_) => Value::Null,
    };
    hub.harness(
        &target.function.spec.name,
        &format!("asynchronous invocation given up ({condition}) after {attempts} attempts: {err}"),
    );
    if let Some((sqs, url)) = &target.on_failure {
        let record = json!({
            "version": "1.0",
            "timestamp": chrono::Utc::now().to_rfc3339(),
            "requestContext": {
                "requestId": uuid::Uuid::new_v4().to_string(),
                "functionArn": format!("{}:$LATEST", target.function.arn()),
                "condition": condition,
                "approximateInvokeCount": attempts,
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
