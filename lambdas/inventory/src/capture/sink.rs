//! Where the API hands its capture records: stdout lines on Lambda, nothing when switched off.

use super::CaptureRecord;
use serde::Serialize;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where capture records go. `submit` must return at once and never fail the request.
pub trait CaptureSink: Send + Sync + 'static {
    fn submit(&self, record: CaptureRecord);
    /// Records that could not be captured (dropped, failed to serialise).
    fn failures(&self) -> u64 {
        0
    }
}

pub type DynCapture = Arc<dyn CaptureSink>;

/// Writes `{"timestamp": …, "level": …, "capture": <record>}` lines to stdout (the Lambda log
/// stream). The level is the function's own ([`crate::telemetry::data_line_level`]), so Lambda's
/// log-level filter keeps the line at every `LogLevel` and the subscription still sees it.
#[derive(Default)]
pub struct LogLineSink {
    failures: AtomicU64,
}

/// One capture line (with its newline): `timestamp` and `level` first, as on every JSON line.
/// What `api-capture` reads back (`api_capture::parse_log_line`).
pub fn capture_line(
    record: &CaptureRecord,
    level: &str,
    timestamp: &str,
) -> serde_json::Result<Vec<u8>> {
    #[derive(Serialize)]
    struct Line<'a> {
        timestamp: &'a str,
        level: &'a str,
        capture: &'a CaptureRecord,
    }
    let mut line = serde_json::to_vec(&Line {
        timestamp,
        level,
        capture: record,
    })?;
    line.push(b'\n');
    Ok(line)
}

impl CaptureSink for LogLineSink {
    fn submit(&self, record: CaptureRecord) {
        let record = record.minimised();
        let level = crate::telemetry::data_line_level();
        let ok = capture_line(&record, level, &crate::telemetry::line_timestamp())
            .ok()
            .and_then(|line| std::io::stdout().lock().write_all(&line).ok())
            .is_some();
        if !ok {
            let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::error!(
                capture_failures = n,
                "ALARM capture record could not be written"
            );
            crate::metrics::capture_failures(1);
        }
    }
    fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}

/// Capture switched off.
pub struct NoCapture;

impl CaptureSink for NoCapture {
    fn submit(&self, _record: CaptureRecord) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::fixture::record;

    #[test]
    fn a_capture_line_carries_the_level_and_timestamp_lambda_filters_on() {
        let rec = record(1);
        for level in ["INFO", "WARN", "ERROR", "FATAL"] {
            let line = capture_line(&rec, level, "2026-12-07T20:00:00.000Z").unwrap();
            assert_eq!(line.last(), Some(&b'\n'));
            let text = std::str::from_utf8(&line).unwrap();
            assert!(
                text.starts_with(r#"{"timestamp":"2026-12-07T20:00:00.000Z","level":""#),
                "{text}"
            );
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(v["level"], level);
            assert!(chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str().unwrap()).is_ok());
            // What the subscription filter `{ $.capture.schema_version = * }` selects, and what
            // api-capture reads back.
            assert_eq!(
                v["capture"]["schema_version"],
                crate::capture::SCHEMA_VERSION
            );
            assert!(v.get("message").is_none(), "no message: not an error line");
            // Read back by api-capture: `api_capture::logs` tests,
            // `the_sinks_lines_are_read_back`.
        }
    }
}
