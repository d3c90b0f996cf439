//! Publishing stock-out events: the port, its SNS adapter, and the after-commit publish of the
//! transactional outbox (its relay pass, which re-publishes what a crash left, is the
//! `outbox-relay` function's: `lambdas/outbox-relay`).

use crate::domain::StockOutEvent;
use crate::store::Outbox;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::Instrument;

#[derive(Debug, thiserror::Error)]
#[error("publish failed: {0}")]
pub struct PublishError(pub String);

/// Message attributes every stock-out carries (SNS attributes; SQS attributes with raw
/// delivery), so subscribers can filter and logs can correlate without parsing the body.
pub fn attributes(event: &StockOutEvent) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("type", StockOutEvent::TYPE.to_owned()),
        ("schema_version", event.schema_version.to_string()),
        ("event_id", event.event_id.to_string()),
        ("factory_order_id", event.factory_order_id.to_string()),
        ("sku", event.sku.as_str().to_owned()),
        ("correlation_id", event.correlation_id.to_string()),
    ])
}

#[async_trait]
pub trait Publisher: Send + Sync + 'static {
    async fn publish(&self, event: &StockOutEvent) -> Result<(), PublishError>;
}

pub type DynPublisher = Arc<dyn Publisher>;

/// SNS topic adapter.
pub struct SnsPublisher {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsPublisher {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: String) -> Self {
        SnsPublisher { client, topic_arn }
    }
    pub fn from_sdk(sdk: &aws_config::SdkConfig, topic_arn: String) -> Self {
        Self::new(aws_sdk_sns::Client::new(sdk), topic_arn)
    }
}

#[async_trait]
impl Publisher for SnsPublisher {
    async fn publish(&self, event: &StockOutEvent) -> Result<(), PublishError> {
        use aws_sdk_sns::types::MessageAttributeValue;
        let body = serde_json::to_string(event).map_err(|e| PublishError(e.to_string()))?;
        let mut req = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(body);
        for (name, value) in attributes(event) {
            let attr = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| PublishError(e.to_string()))?;
            req = req.message_attributes(name, attr);
        }
        let span = crate::telemetry::sns_span(&self.topic_arn, event.event_id.as_str());
        match req.send().instrument(span.clone()).await {
            Ok(out) => {
                use aws_sdk_sns::operation::RequestId;
                if let Some(id) = out.request_id() {
                    span.record("aws.request_id", id);
                }
                Ok(())
            }
            Err(e) => {
                crate::telemetry::record_sdk_error(&span, &e);
                Err(PublishError(
                    aws_sdk_sns::error::DisplayErrorContext(&e).to_string(),
                ))
            }
        }
    }
}

/// After the sale's commit: publish the event and mark its outbox row published. A failure is
/// logged and left to the relay (the row stays unpublished), never surfaced to the buyer.
/// Called once per stock-out a sale produced, so it also counts the `StockOuts` metric.
pub async fn publish_after_commit(
    outbox: &(impl Outbox + ?Sized),
    publisher: &DynPublisher,
    event: &StockOutEvent,
) {
    crate::metrics::stock_out();
    let started = std::time::Instant::now();
    let result = publisher.publish(event).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(()) => {
            if let Err(e) = outbox.mark_published(&event.event_id).await {
                // Published but not marked: the relay will publish it again; the consumer is
                // idempotent on (order, event id).
                tracing::warn!(outcome = "published_unmarked", correlation_id = %event.correlation_id, event_id = %event.event_id, factory_order_id = %event.factory_order_id, latency_ms, error = %e, "published but could not mark the outbox row");
            } else {
                tracing::info!(outcome = "published", correlation_id = %event.correlation_id, event_id = %event.event_id, factory_order_id = %event.factory_order_id, sku = %event.sku, latency_ms, "stock-out published");
            }
        }
        Err(e) => {
            tracing::warn!(outcome = "publish_failed", correlation_id = %event.correlation_id, event_id = %event.event_id, factory_order_id = %event.factory_order_id, latency_ms, error = %e, "stock-out publish failed; the outbox relay will retry");
            if let Err(e) = outbox.note_publish_failure(&event.event_id).await {
                tracing::warn!(correlation_id = %event.correlation_id, event_id = %event.event_id, error = %e, "could not record the publish failure");
            }
        }
    }
}
