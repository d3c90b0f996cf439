//! `outbox-relay`: on a schedule, publishes stock-out events a crash left unpublished and
//! re-sends (or fails) factory orders with no completion. Builds its dependencies once at init,
//! then runs the pass in `lib.rs` (`relay_once`).

use inventory::config::{Env, aws_config, database_from_env};
use inventory::messaging::{DynPublisher, SnsPublisher};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use outbox_relay::{RelaySettings, relay_once};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    inventory::telemetry::init("outbox-relay");
    inventory::metrics::init("outbox-relay");
    let env = Env;
    let sdk = aws_config().await;
    let store = database_from_env(&env, Some(&sdk), 1).await?;
    let publisher: DynPublisher = Arc::new(SnsPublisher::from_sdk(
        &sdk,
        env.required("STOCKOUT_TOPIC_ARN")?,
    ));
    let settings = RelaySettings {
        grace_ms: env.parse_or("OUTBOX_GRACE_SECS", 5i64)? * 1000,
        order_deadline_ms: env.parse_or("ORDER_DEADLINE_SECS", 900i64)? * 1000,
        max_order_attempts: env.parse_or("MAX_ORDER_ATTEMPTS", 5i64)?,
    };
    let (store, publisher, settings) = (&store, &publisher, &settings);
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            // A store error fails the invocation: visible as a function error (alarmed), retried
            // by the next schedule.
            let report =
                inventory::metrics::flushed(relay_once(&**store, publisher, settings)).await?;
            tracing::info!(report = ?report, "relay pass");
            Ok::<_, Error>(report)
        },
    ))
    .await
}
