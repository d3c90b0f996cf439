//! API capture: one record per API request, handed to a sink that never blocks or fails the
//! request. On AWS the sink writes one `{"capture": …}` JSON line to stdout, which a CloudWatch
//! Logs subscription delivers to `api-capture` ([`handle_logs`] → [`KinesisCapture`] → Kinesis
//! → Firehose → S3); locally the sink feeds the devstack's Firehose stand-in directly.
//!
//! Personal data: no client IP, no query string (the callback token lives there), no request
//! body beyond SKU and quantity, no free-form client event properties except an allow-list,
//! path parameters only when they are well-formed (see [`CaptureRecord::minimised`]).
//! The full policy is in `docs/capture.md`.

mod kinesis;
mod logs;
mod record;
mod sink;

pub use kinesis::{
    CaptureError, Entry, KinesisCapture, MAX_BATCH_BYTES, MAX_BATCH_RECORDS, MAX_RECORD_BYTES,
    PutReport, plan_batches,
};
pub use logs::{handle_logs, parse_log_line};
pub use record::{
    ALLOWED_EVENT_PROPERTIES, CaptureKind, CaptureRecord, INVALID_PARAM, SCHEMA_VERSION,
};
pub use sink::{CaptureSink, DynCapture, LogLineSink, NoCapture};

#[cfg(test)]
pub(crate) use record::fixture;
