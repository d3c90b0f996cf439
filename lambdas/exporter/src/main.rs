//! `exporter`: EventBridge schedule (daily, 00:15 UTC) → yesterday's sales and end-of-day
//! inventory as gzip CSV under `s3://$EXPORT_BUCKET/exports/`. `{"date": "YYYY-MM-DD"}` as the
//! event exports that day instead (on-demand runs, backfills). Serves `handle_event` (`lib.rs`).

use exporter::{S3Bucket, handle_event};
use inventory::config::{Env, aws_config, database_from_env};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    inventory::telemetry::init("exporter");
    let env = Env;
    let sdk = aws_config().await;
    let store = database_from_env(&env, Some(&sdk), 1).await?;
    let bucket = env.required("EXPORT_BUCKET")?;
    let target = S3Bucket::from_sdk(&sdk, bucket);
    let (store, target) = (&store, &target);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle_event(&**store, target, event.payload)
            .await
            .map_err(Error::from)
    }))
    .await
}
