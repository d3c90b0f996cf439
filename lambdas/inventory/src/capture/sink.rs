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

/// Writes `{"capture": <record>}` lines to stdout (the Lambda log stream).
#[derive(Default)]
pub struct LogLineSink {
    failures: AtomicU64,
}

impl CaptureSink for LogLineSink {
    fn submit(&self, record: CaptureRecord) {
        #[derive(Serialize)]
        struct Line<'a> {
            capture: &'a CaptureRecord,
        }
        let record = record.minimised();
        let ok = serde_json::to_vec(&Line { capture: &record })
            .ok()
            .and_then(|mut line| {
                line.push(b'\n');
                std::io::stdout().lock().write_all(&line).ok()
            })
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
