//! Publishing stock-out events: the port, its SNS adapter, and the after-commit / relay logic
//! of the transactional outbox.

use crate::domain::{FactoryOrderId, StockOutEvent};
use crate::store::{Orders, Outbox, StoreError};
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
        ("event_id", event.event_id.clone()),
        ("factory_order_id", event.factory_order_id.to_string()),
        ("sku", event.sku.as_str().to_owned()),
        ("correlation_id", event.correlation_id.clone()),
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
        let span = crate::telemetry::sns_span(&self.topic_arn, &event.event_id);
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

/// What one relay pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RelayReport {
    pub published: usize,
    pub publish_failures: usize,
    pub resent: usize,
    pub failed_orders: Vec<FactoryOrderId>,
    /// Age of the oldest unpublished event seen, in ms (outbox lag).
    pub max_lag_ms: i64,
}

/// Relay settings.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// Events younger than this are left to the after-commit publish.
    pub grace_ms: i64,
    /// An order `requested` this long without completion is re-sent.
    pub order_deadline_ms: i64,
    /// After this many requests an order is `failed`.
    pub max_order_attempts: i64,
}

/// One pass of the outbox relay: publish what a crash left unpublished, then re-send or give up
/// on orders the factory never completed. Store errors abort the pass (the schedule retries).
pub async fn relay_once(
    store: &(impl Outbox + Orders + ?Sized),
    publisher: &DynPublisher,
    settings: &RelaySettings,
) -> Result<RelayReport, StoreError> {
    let now = crate::domain::now_millis();
    let mut report = RelayReport::default();
    for entry in store.unpublished(now - settings.grace_ms, 500).await? {
        report.max_lag_ms = report.max_lag_ms.max(now - entry.created_at);
        let event: StockOutEvent = match serde_json::from_str(&entry.payload) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(event_id = %entry.id, error = %e, "ALARM outbox row is not a stock-out event; skipped");
                report.publish_failures += 1;
                continue;
            }
        };
        let span = tracing::info_span!("relay", correlation_id = %event.correlation_id, event_id = %event.event_id);
        let lag_ms = now - entry.created_at;
        async {
            match publisher.publish(&event).await {
                Ok(()) => {
                    store.mark_published(&event.event_id).await?;
                    report.published += 1;
                    tracing::info!(outcome = "published", factory_order_id = %event.factory_order_id, lag_ms, "relay published a stock-out");
                }
                Err(e) => {
                    store.note_publish_failure(&event.event_id).await?;
                    report.publish_failures += 1;
                    tracing::error!(outcome = "publish_failed", factory_order_id = %event.factory_order_id, lag_ms, error = %e, "relay could not publish");
                }
            }
            Ok::<_, StoreError>(())
        }
        .instrument(span)
        .await?;
    }
    let stuck = store
        .handle_stuck(
            now - settings.order_deadline_ms,
            settings.max_order_attempts,
            100,
        )
        .await?;
    for id in &stuck.failed {
        // The order's correlation id joins this line to the stock-out's story (best effort).
        let correlation_id = match store.factory_order(id).await {
            Ok(Some(o)) => o.correlation_id,
            _ => "-".to_owned(),
        };
        tracing::error!(correlation_id = %correlation_id, factory_order_id = %id, alarm = "FactoryOrderFailed", "ALARM factory order failed: no completion from the factory");
    }
    crate::metrics::orders_failed(stuck.failed.len() as u64);
    crate::metrics::outbox_lag(report.max_lag_ms);
    report.failed_orders = stuck.failed;
    for event in stuck.resend {
        let span = tracing::info_span!("relay", correlation_id = %event.correlation_id, event_id = %event.event_id);
        async {
            tracing::warn!(factory_order_id = %event.factory_order_id, "no completion before the deadline: re-sending the order");
            match publisher.publish(&event).await {
                Ok(()) => {
                    store.mark_published(&event.event_id).await?;
                    report.resent += 1;
                    tracing::info!(outcome = "resent", factory_order_id = %event.factory_order_id, "relay re-sent a stock-out");
                }
                Err(e) => {
                    // Left unpublished: the next pass publishes it.
                    store.note_publish_failure(&event.event_id).await?;
                    report.publish_failures += 1;
                    tracing::error!(outcome = "publish_failed", factory_order_id = %event.factory_order_id, error = %e, "could not publish the re-send");
                }
            }
            Ok::<_, StoreError>(())
        }
        .instrument(span)
        .await?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    //! The relay against the in-memory store: fast, no database, same rules.
    use super::*;
    use crate::store::Orders;
    use std::sync::Mutex;

    /// Records what it publishes; fails while `fail` is set.
    #[derive(Default)]
    struct Recorder {
        published: Mutex<Vec<StockOutEvent>>,
        fail: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl Publisher for Recorder {
        async fn publish(&self, event: &StockOutEvent) -> Result<(), PublishError> {
            if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(PublishError("injected".into()));
            }
            self.published
                .lock()
                .map_err(|_| PublishError("poisoned".into()))?
                .push(event.clone());
            Ok(())
        }
    }

    const NOW: RelaySettings = RelaySettings {
        grace_ms: -1_000,
        order_deadline_ms: -1_000,
        max_order_attempts: 2,
    };

    use crate::store::memory::fixtures::stocked_out;

    #[tokio::test]
    async fn relay_publishes_what_a_crash_left_in_the_outbox_once() {
        let (store, event) = stocked_out().await;
        let recorder = Arc::new(Recorder::default());
        let publisher: DynPublisher = recorder.clone();
        let settings = RelaySettings {
            order_deadline_ms: 3_600_000,
            ..NOW
        };
        let report = relay_once(&*store, &publisher, &settings).await.unwrap();
        assert_eq!(report.published, 1);
        assert_eq!(recorder.published.lock().unwrap().as_slice(), &[event]);
        let again = relay_once(&*store, &publisher, &settings).await.unwrap();
        assert_eq!(again.published, 0, "marked published: not sent twice");
    }

    #[tokio::test]
    async fn a_failed_publish_stays_in_the_outbox_for_the_next_pass() {
        let (store, _) = stocked_out().await;
        let recorder = Arc::new(Recorder::default());
        recorder
            .fail
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let publisher: DynPublisher = recorder.clone();
        let settings = RelaySettings {
            order_deadline_ms: 3_600_000,
            ..NOW
        };
        let report = relay_once(&*store, &publisher, &settings).await.unwrap();
        assert_eq!((report.published, report.publish_failures), (0, 1));
        recorder
            .fail
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let report = relay_once(&*store, &publisher, &settings).await.unwrap();
        assert_eq!(report.published, 1);
    }

    #[tokio::test]
    async fn orders_without_completion_are_resent_then_failed() {
        let (store, event) = stocked_out().await;
        let publisher: DynPublisher = Arc::new(Recorder::default());
        let id = event.factory_order_id.clone();
        assert!(
            store
                .mark_requested(&id, "F-1", &event.event_id)
                .await
                .unwrap()
        );
        let first = relay_once(&*store, &publisher, &NOW).await.unwrap();
        assert_eq!(first.resent, 1, "attempt 1 of 2: re-sent");
        assert!(store.mark_requested(&id, "F-1", "e-2").await.unwrap());
        let second = relay_once(&*store, &publisher, &NOW).await.unwrap();
        assert_eq!(
            second.failed_orders,
            vec![id.clone()],
            "attempt 2 of 2: failed"
        );
        let order = store.factory_order(&id).await.unwrap().unwrap();
        assert_eq!(order.status, crate::domain::OrderStatus::Failed);
    }
}
