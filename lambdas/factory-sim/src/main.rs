//! `factory-sim`: the deployable stand-in for the legacy Factory API (deployed when the
//! template's `FactoryUrl` is empty). One function, two triggers:
//! - its Function URL: `POST /api/manufactures` → `202 {"reference","status"}` (or the failure the
//!   knobs ask for), and the completion is queued on its own SQS queue with a delay;
//! - that SQS queue: due completions are POSTed to their callback URLs (partial batch failures).
//!
//! Knobs (read once at init): `SIM_DELAY_MS`, `SIM_LATENCY_MS`, `SIM_FAILURE_RATE`, `SIM_DOWN`.
//! `CALLBACK_BASE_URL`, when set, is the only place completions may be sent to.
//! The idempotency map is per execution environment (see `app/mod.rs`).

// The handler's future (the SQS client's `send` inside the stand-in's inside the runtime's)
// nests deeper than rustc's default query depth (128) allows for its layout, now that the
// handler is compiled in the library crate.
#![recursion_limit = "256"]

use factory_sim::app::App;
use factory_sim::queue::SqsSender;
use factory_sim::sim::{FactorySim, Knobs, callback_allowed};
use inventory::config::{ConfigError, Env, aws_config};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Error> {
    inventory::telemetry::init("factory-sim");
    let env = Env;
    let knobs = Knobs {
        delay_ms: env.parse_or("SIM_DELAY_MS", 2000u64)?,
        latency_ms: env.parse_or("SIM_LATENCY_MS", 0u64)?,
        failure_rate: env.parse_or("SIM_FAILURE_RATE", 0.0f64)?,
        down: env.parse_or("SIM_DOWN", false)?,
    };
    if !(0.0..=1.0).contains(&knobs.failure_rate) {
        return Err(ConfigError::Invalid {
            name: "SIM_FAILURE_RATE",
            why: format!("{} is not between 0 and 1", knobs.failure_rate),
        }
        .into());
    }
    let callback_base = env.optional("CALLBACK_BASE_URL");
    if let Some(base) = &callback_base
        && !callback_allowed(base, None)
    {
        return Err(ConfigError::Invalid {
            name: "CALLBACK_BASE_URL",
            why: format!("{base:?} is not an http(s) URL"),
        }
        .into());
    }
    let sdk = aws_config().await;
    let queue = SqsSender::from_sdk(&sdk, env.required("SIM_QUEUE_URL")?);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(2))
        .build()?;
    tracing::info!(knobs = ?knobs, callbacks_restricted = callback_base.is_some(), "factory-sim ready");
    let app = App {
        sim: FactorySim::new(knobs),
        queue,
        http,
        callback_base,
    };
    let app = &app;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move { app.handle(event.payload).await },
    ))
    .await
}
