//! API capture: one record per API request, handed to a sink that never blocks or fails the
//! request. On AWS the sink writes one `{"capture": …}` JSON line to stdout, which a CloudWatch
//! Logs subscription delivers to the `api-capture` function (`lambdas/api-capture`: the line
//! read back → Kinesis → Firehose → S3); locally the sink feeds the devstack's Firehose
//! stand-in directly.
//!
//! Personal data: no client IP, no query string (the callback token lives there), no request
//! body beyond SKU and quantity, no free-form client event properties except an allow-list,
//! path parameters only when they are well-formed (see [`CaptureRecord::minimised`]).
//! The full policy is in `docs/capture.md`.

mod record;
mod sink;

pub use record::{
    ALLOWED_EVENT_PROPERTIES, CaptureKind, CaptureRecord, INVALID_PARAM, SCHEMA_VERSION,
};
pub use sink::{CaptureSink, DynCapture, LogLineSink, NoCapture, capture_line};

#[cfg(any(test, feature = "testkit"))]
pub use record::fixture;
