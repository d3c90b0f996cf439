//! The orderer: consumes stock-out events from SQS (batches, partial batch failures) and asks
//! the legacy factory for a batch, exactly once per factory order as far as the factory's
//! idempotency key allows.

use crate::client::{FactoryClient, FactoryError};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use inventory::domain::{FactoryOrderId, StockOutEvent};
use inventory::stockout::{Poison, decode};
use inventory::store::{Orders, StoreError};
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

pub struct Orderer {
    /// The factory order's life is all the orderer touches (a `DynStore` coerces to it).
    pub store: Arc<dyn Orders>,
    pub factory: FactoryClient,
    /// The queue's `maxReceiveCount`: on the last receive a failing order is marked `failed`
    /// before its message moves to the DLQ.
    pub max_receive_count: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("poison message: {0}")]
    Poison(String),
    #[error("unknown factory order {0}")]
    UnknownOrder(FactoryOrderId),
    #[error(transparent)]
    Factory(#[from] FactoryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What happened to one record (for logs and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    Requested {
        reference: String,
    },
    /// Already fulfilled, or this very event already produced the factory request.
    Skipped(&'static str),
}

impl From<Poison> for RecordError {
    fn from(Poison(why): Poison) -> Self {
        RecordError::Poison(why)
    }
}

fn receive_count(msg: &SqsMessage) -> u32 {
    msg.attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}

fn attr<'m>(msg: &'m SqsMessage, name: &str) -> Option<&'m str> {
    msg.message_attributes
        .get(name)
        .and_then(|a| a.string_value.as_deref())
}

/// Handles one SQS batch: records are processed concurrently; only the failed ones are
/// reported, so SQS retries exactly those (and moves them to the DLQ after maxReceiveCount).
pub async fn handle_batch(orderer: &Orderer, event: SqsEvent) -> SqsBatchResponse {
    inventory::sqs_batch::report_failures(
        event,
        |msg| async move { handle_record(orderer, &msg).await },
    )
    .await
}

/// Handles one record; `Err` means "report as failed" (retried by SQS, then DLQ). Logs one
/// `message handled` line with the outcome and latency, inside a span carrying the message's
/// ids and the originating request's `correlation_id` (from the message attributes, then from
/// the event itself).
pub async fn handle_record(orderer: &Orderer, msg: &SqsMessage) -> Result<Handled, RecordError> {
    let started = Instant::now();
    let receives = receive_count(msg);
    let last_try = receives >= orderer.max_receive_count;
    let correlation_id = attr(msg, "correlation_id").unwrap_or("-").to_owned();
    let event_id_attr = attr(msg, "event_id").unwrap_or("-").to_owned();
    let span = tracing::info_span!("message", message_id = msg.message_id.as_deref().unwrap_or("-"), correlation_id = %correlation_id, event_id = %event_id_attr, receive_count = receives);
    async {
        let event = match decode(msg.body.as_deref().unwrap_or_default()) {
            Ok(e) => e,
            Err(e) => {
                let e = RecordError::from(e);
                let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
                tracing::error!(outcome = "poison", error = %e, last_try, latency_ms, "message handled: poison message, it will reach the DLQ after maxReceiveCount");
                return Err(e);
            }
        };
        let span = tracing::info_span!("stock_out", correlation_id = %event.correlation_id, event_id = %event.event_id, factory_order_id = %event.factory_order_id, sku = %event.sku);
        let result = process(orderer, &event, last_try).instrument(span.clone()).await;
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        span.in_scope(|| match &result {
            Ok(Handled::Requested { reference }) => {
                tracing::info!(outcome = "requested", factory_ref = %reference, latency_ms, "message handled")
            }
            Ok(Handled::Skipped(why)) => {
                tracing::info!(outcome = "skipped", reason = *why, latency_ms, "message handled")
            }
            Err(e) => {
                tracing::error!(outcome = "failed", error = %e, last_try, latency_ms, "message handled: not processed, SQS will retry")
            }
        });
        result
    }
    .instrument(span)
    .await
}

async fn process(
    orderer: &Orderer,
    event: &StockOutEvent,
    last_try: bool,
) -> Result<Handled, RecordError> {
    use inventory::domain::OrderStatus::*;
    let order = orderer
        .store
        .factory_order(&event.factory_order_id)
        .await?
        .ok_or_else(|| RecordError::UnknownOrder(event.factory_order_id.clone()))?;
    // The stored order is the authority: an event that disagrees with it must not make the
    // factory build something else under the order's idempotency key.
    if event.sku != order.sku || event.quantity != order.quantity {
        return Err(RecordError::Poison(format!(
            "event {} x {} does not match factory order {} ({} x {})",
            event.quantity, event.sku, order.id, order.quantity, order.sku
        )));
    }
    match order.status {
        Fulfilled => return Ok(Handled::Skipped("already fulfilled")),
        Requested if order.last_event_id.as_ref() == Some(&event.event_id) => {
            return Ok(Handled::Skipped(
                "duplicate delivery: already requested for this event",
            ));
        }
        Failed => {
            // A redriven message after an outage: try again, unless another order is open.
            if !orderer
                .store
                .reopen(&order.id, "reopened by a redelivered stock-out")
                .await?
            {
                return Ok(Handled::Skipped(
                    "failed, and another order is open for the sku",
                ));
            }
            tracing::warn!("failed order reopened by a redelivered message");
        }
        Pending | Requested => {}
    }
    let started = Instant::now();
    let result = orderer.factory.order(event).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    inventory::metrics::factory_call(latency_ms, result.is_ok());
    match result {
        Ok(accepted) => {
            let reference = accepted.reference.unwrap_or_else(|| "accepted".into());
            tracing::info!(outcome = "accepted", latency_ms, factory_ref = %reference, attempt = order.attempts + 1, "factory call");
            if orderer
                .store
                .mark_requested(&event.factory_order_id, &reference, &event.event_id)
                .await?
            {
                inventory::metrics::order_requested();
            }
            Ok(Handled::Requested { reference })
        }
        Err(e) => {
            tracing::warn!(outcome = "error", latency_ms, error = %e, transient = e.is_transient(), attempt = order.attempts + 1, "factory call");
            orderer
                .store
                .record_failure(&event.factory_order_id, &e.to_string(), last_try)
                .await?;
            if last_try {
                inventory::metrics::orders_failed(1);
                tracing::error!(alarm = "FactoryOrderFailed", error = %e, "ALARM factory order failed after the last delivery; the message goes to the DLQ");
            }
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests;
