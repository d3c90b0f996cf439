//! SQS events from the sim's own delay queue: each due completion is POSTed to its callback URL;
//! failed deliveries worth retrying are reported as batch item failures.

use super::{App, CompletionQueue};
use crate::sim::{ScheduledCompletion, callback_allowed};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use tracing::Instrument;

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
    /// An SQS batch of due completions: delivered concurrently, the ones worth retrying
    /// reported as batch item failures.
    pub async fn completions(&self, event: SqsEvent) -> SqsBatchResponse {
        inventory::sqs_batch::report_failures(event, |msg| async move {
            match self.deliver_one(&msg).await {
                Delivery::Retry(why) => Err(why),
                done => Ok(done),
            }
        })
        .await
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
    use crate::app::testkit::{app, sqs_event};
    use crate::sim::{Knobs, ScheduledCompletion};
    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::post;
    use serde_json::json;
    use std::sync::atomic::Ordering;

    /// A callback endpoint answering by path: /ok 200, /gone 404, anything else 500.
    async fn callback_server() -> String {
        let answer = |status: StatusCode| move || async move { (status, "{}") };
        let app = Router::new()
            .route("/ok", post(answer(StatusCode::OK)))
            .route("/gone", post(answer(StatusCode::NOT_FOUND)))
            .fallback(answer(StatusCode::INTERNAL_SERVER_ERROR));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
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
