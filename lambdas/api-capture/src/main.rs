//! `api-capture`: CloudWatch Logs subscription (the `{"capture": …}` lines of `sales-api` and
//! `restock`) → Kinesis PutRecords (→ Firehose → S3). Builds its client once at init, then
//! serves `handle_logs` (`lib.rs`).

use api_capture::{KinesisCapture, handle_logs};
use aws_lambda_events::cloudwatch_logs::LogsEvent;
use inventory::config::{Env, aws_config};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    inventory::telemetry::init("api-capture");
    inventory::metrics::init("api-capture");
    let env = Env;
    let stream = env.required("CAPTURE_STREAM_NAME")?;
    let sdk = aws_config().await;
    let capture = KinesisCapture::from_sdk(&sdk, stream);
    let capture = &capture;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<LogsEvent>| async move {
            // Records lost after retries fail the invocation: Lambda retries the (asynchronous)
            // delivery and the Errors alarm fires, besides the CaptureFailures metric (EMF,
            // flushed at the end of every invocation).
            inventory::metrics::flushed(handle_logs(capture, event.payload))
                .await
                .map(|_| ())
                .map_err(Error::from)
        },
    ))
    .await
}
