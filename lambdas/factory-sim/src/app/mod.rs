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
//!
//! Here: the [`App`], its [`CompletionQueue`] port and how an event is told apart; the Function
//! URL side is in `function_url.rs`, the SQS side in `delivery.rs`.

mod delivery;
mod function_url;
#[cfg(test)]
mod testkit;

use crate::sim::{Completions, FactorySim, ScheduledCompletion, callback_allowed};
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::sqs::SqsEvent;
use serde_json::Value;
use std::future::Future;
use std::time::Duration;

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

impl<Q: CompletionQueue> App<Q> {
    /// Handles one invocation. An event of an unknown kind fails the invocation.
    pub async fn handle(&self, payload: Value) -> Result<Value, lambda_runtime::Error> {
        match classify(payload)? {
            Incoming::Http(req) => Ok(serde_json::to_value(self.http_request(*req).await)?),
            Incoming::Sqs(event) => Ok(serde_json::to_value(self.completions(event).await)?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testkit::sqs_event;
    use super::testkit::url_event;
    use super::*;
    use serde_json::json;

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
}
