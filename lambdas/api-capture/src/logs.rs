//! Capture records read back from CloudWatch Logs lines (what `inventory::capture::LogLineSink`
//! writes) and put on Kinesis.

use crate::{CaptureError, KinesisCapture, PutReport};
use aws_lambda_events::cloudwatch_logs::LogsEvent;
use inventory::capture::CaptureRecord;
use serde::Deserialize;

/// Extracts the capture record from a CloudWatch Logs message (a function's stdout line).
/// Accepts the line itself, the line wrapped by Lambda's JSON log format
/// (`{"message": "<line>"}` or `{"message": {…}}`), or the line after a text prefix.
pub fn parse_log_line(message: &str) -> Option<CaptureRecord> {
    #[derive(Deserialize)]
    struct Line {
        capture: CaptureRecord,
    }
    let m = message.trim();
    if let Ok(l) = serde_json::from_str::<Line>(m) {
        return Some(l.capture);
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(m) {
        return match v.get("message") {
            Some(serde_json::Value::String(inner)) => serde_json::from_str::<Line>(inner.trim())
                .ok()
                .map(|l| l.capture),
            Some(inner @ serde_json::Value::Object(_)) => {
                serde_json::from_value::<Line>(inner.clone())
                    .ok()
                    .map(|l| l.capture)
            }
            _ => None,
        };
    }
    let start = m.find("{\"capture\"")?;
    serde_json::from_str::<Line>(&m[start..])
        .ok()
        .map(|l| l.capture)
}

/// The `api-capture` handler: the capture lines of one CloudWatch Logs subscription delivery
/// (already un-gzipped and decoded by `aws_lambda_events`) → Kinesis. An error (records lost
/// after retries) fails the invocation, so Lambda retries it and the `Errors` alarm sees it.
pub async fn handle_logs(
    capture: &KinesisCapture,
    event: LogsEvent,
) -> Result<PutReport, CaptureError> {
    let data = event.aws_logs.data;
    if data.message_type == "CONTROL_MESSAGE" {
        return Ok(PutReport::default());
    }
    let total = data.log_events.len();
    let records: Vec<CaptureRecord> = data
        .log_events
        .iter()
        .filter_map(|e| parse_log_line(&e.message))
        .collect();
    if records.len() < total {
        tracing::warn!(
            log_group = %data.log_group,
            ignored = total - records.len(),
            "log events without a capture record ignored (check the subscription filter)"
        );
    }
    let report = capture.put_all(records).await?;
    tracing::info!(
        log_group = %data.log_group,
        delivered = report.delivered,
        calls = report.calls,
        retried = report.retried,
        "capture records put"
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinesis::tests::ok_entry;
    use aws_sdk_kinesis::operation::put_records::PutRecordsOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use inventory::capture::capture_line;
    use inventory::capture::fixture::record;
    use std::sync::{Arc, Mutex};

    #[test]
    fn log_line_round_trip() {
        let rec = record(1);
        let line = serde_json::json!({ "capture": rec }).to_string();
        assert_eq!(parse_log_line(&line), Some(rec.clone()));
        assert_eq!(parse_log_line(&format!("{line}\n")), Some(rec.clone()));
        // Lambda's JSON log format wrapping the line, and a text prefix.
        let wrapped = serde_json::json!({ "level": "INFO", "message": line }).to_string();
        assert_eq!(parse_log_line(&wrapped), Some(rec.clone()));
        let wrapped = serde_json::json!({ "message": { "capture": rec } }).to_string();
        assert_eq!(parse_log_line(&wrapped), Some(rec.clone()));
        assert_eq!(
            parse_log_line(&format!("2026-11-21T00:00:00Z INFO {line}")),
            Some(rec)
        );
        assert_eq!(parse_log_line("{\"level\":\"INFO\"}"), None);
        assert_eq!(parse_log_line("not json"), None);
    }

    /// What the API's sink writes, at every level Lambda's log-level filter may keep, is read
    /// back whole (the line's format: `inventory::capture::capture_line`).
    #[test]
    fn the_sinks_lines_are_read_back() {
        let rec = record(1);
        for level in ["INFO", "WARN", "ERROR", "FATAL"] {
            let line = capture_line(&rec, level, "2026-12-07T20:00:00.000Z").unwrap();
            let text = std::str::from_utf8(&line).unwrap();
            assert_eq!(parse_log_line(text.trim()), Some(rec.clone()));
        }
    }

    #[tokio::test]
    async fn handle_logs_puts_capture_lines_only() {
        let count: Arc<Mutex<usize>> = Arc::default();
        let seen = count.clone();
        let rule = mock!(aws_sdk_kinesis::Client::put_records).then_compute_output(move |input| {
            let n = input.records().len();
            *seen.lock().unwrap() += n;
            PutRecordsOutput::builder()
                .failed_record_count(0)
                .set_records(Some((0..n).map(ok_entry).collect()))
                .build()
                .unwrap()
        });
        let client = mock_client!(aws_sdk_kinesis, RuleMode::MatchAny, [&rule]);
        let capture = KinesisCapture::new(client, "capture");
        let mut event = LogsEvent::default();
        event.aws_logs.data.message_type = "DATA_MESSAGE".into();
        event.aws_logs.data.log_group = "/aws/lambda/sales-api".into();
        for i in 0..3 {
            let mut e = aws_lambda_events::cloudwatch_logs::LogEntry::default();
            e.message = serde_json::json!({ "capture": record(i) }).to_string();
            event.aws_logs.data.log_events.push(e);
        }
        let mut other = aws_lambda_events::cloudwatch_logs::LogEntry::default();
        other.message = "{\"level\":\"INFO\",\"message\":\"request\"}".into();
        event.aws_logs.data.log_events.push(other);
        let report = handle_logs(&capture, event).await.unwrap();
        assert_eq!(report.delivered, 3);
        assert_eq!(*count.lock().unwrap(), 3);

        let mut control = LogsEvent::default();
        control.aws_logs.data.message_type = "CONTROL_MESSAGE".into();
        assert_eq!(
            handle_logs(&capture, control).await.unwrap(),
            PutReport::default()
        );
    }
}
