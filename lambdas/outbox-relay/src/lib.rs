//! The `outbox-relay` function's pass (the binary in `main.rs` runs it on a schedule; the local
//! stack runs it on a timer): publish the stock-out events a crash left in the transactional
//! outbox, then re-send or give up on the factory orders the factory never completed. The
//! after-commit publish it backs up, the `Publisher` port and its SNS adapter are shared with
//! `sales-api`: `inventory::messaging`.

use inventory::domain::{FactoryOrderId, StockOutEvent};
use inventory::messaging::DynPublisher;
use inventory::store::{Orders, Outbox, StoreError};
use tracing::Instrument;

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
    let now = inventory::domain::now_millis();
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
            Ok(Some(o)) => o.correlation_id.to_string(),
            _ => "-".to_owned(),
        };
        tracing::error!(correlation_id = %correlation_id, factory_order_id = %id, alarm = "FactoryOrderFailed", "ALARM factory order failed: no completion from the factory");
    }
    inventory::metrics::orders_failed(stuck.failed.len() as u64);
    inventory::metrics::outbox_lag(report.max_lag_ms);
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
    use async_trait::async_trait;
    use inventory::messaging::{PublishError, Publisher};
    use std::sync::{Arc, Mutex};

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

    use inventory::store::memory::fixtures::stocked_out;

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
        assert!(
            store
                .mark_requested(&id, "F-1", &"e-2".into())
                .await
                .unwrap()
        );
        let second = relay_once(&*store, &publisher, &NOW).await.unwrap();
        assert_eq!(
            second.failed_orders,
            vec![id.clone()],
            "attempt 2 of 2: failed"
        );
        let order = store.factory_order(&id).await.unwrap().unwrap();
        assert_eq!(order.status, inventory::domain::OrderStatus::Failed);
    }
}
