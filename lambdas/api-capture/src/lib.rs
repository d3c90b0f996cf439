//! The `api-capture` function (its `main.rs` builds the Kinesis client once and serves
//! [`handle_logs`]): the `{"capture": …}` lines `sales-api` and `restock` write to their logs
//! (`inventory::capture::LogLineSink`), delivered by a CloudWatch Logs subscription, read back
//! ([`parse_log_line`]) and put on Kinesis ([`KinesisCapture`] → Firehose → S3). The record, its
//! minimisation and the sink are the API's: `inventory::capture`; the policy is in
//! `docs/capture.md`.

mod kinesis;
mod logs;

pub use kinesis::{
    CaptureError, Entry, KinesisCapture, MAX_BATCH_BYTES, MAX_BATCH_RECORDS, MAX_RECORD_BYTES,
    PutReport, plan_batches,
};
pub use logs::{handle_logs, parse_log_line};
