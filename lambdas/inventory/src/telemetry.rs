//! Structured JSON logs: one JSON object per line on stdout, level from Lambda's log level
//! (`AWS_LAMBDA_LOG_LEVEL`), else `RUST_LOG`, else `info`; `cold_start` on every line of an
//! invocation (`true` for the first one the process serves).
//!
//! Every line carries, at the top level, the fields of *every* span it is in (outermost first,
//! inner spans and then the event's own fields winning on a clash), so the `correlation_id` put
//! on a request's, a message's or a relay pass's span appears on each line logged inside it,
//! however deeply nested — and a CloudWatch Logs Insights query needs no nested paths:
//!
//! ```text
//! fields @timestamp, level, message, outcome, latency_ms
//! | filter correlation_id = "c-123"
//! | sort @timestamp
//! ```
//!
//! A line: `{"timestamp":"2026-11-21T22:07:24.123Z","level":"INFO","service":"sales-api",
//! "span":"request","message":"request","correlation_id":"…","request_id":"…","route":"/sales",
//! "status":201,"latency_ms":4.2}`. `span` is the innermost span's name, `spans` the whole path
//! when there is more than one.
//!
//! What is never logged: tokens (admin bearer token, callback URL tokens — the request line has
//! the route template, not the path or query), database URLs, request bodies, user agents.
//!
//! The spans around calls that leave the process (database, SNS, Kinesis, the Factory API) and
//! their fields are declared in [`crate::spans`] (the tracing convention); on a log line they
//! show as `span` / `spans` and their fields, like any span. Their helpers are re-exported here.

use crate::json_fields::{Floats, JsonVisitor, SpanFields};
pub use crate::spans::{
    db_span, factory_span, kinesis_span, record_error, record_sdk_error, sns_span, traced,
};
use serde_json::{Map, Value};
use std::fmt;
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Initialises JSON logging to stdout. Safe to call more than once (later calls are no-ops),
/// so tests and the local stack can share it.
pub fn init(service: &'static str) {
    init_with_writer(service, std::io::stdout);
}

/// Like [`init`], writing each line through `writer` (e.g. a closure returning a handle on a
/// shared buffer, for tests that read the lines back). Returns whether this call installed the
/// subscriber (false when one was already installed).
pub fn init_with_writer<W>(service: &'static str, writer: W) -> bool
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let logs = tracing_subscriber::fmt::layer()
        .fmt_fields(SpanFields)
        .event_format(JsonLine { service })
        .with_writer(writer)
        .with_filter(env_level_filter());
    let (xray, xray_error) = xray_from_env(service);
    let on = xray.is_some();
    let installed = tracing_subscriber::registry()
        .with(logs)
        .with(xray)
        .try_init()
        .is_ok();
    if installed {
        tracing::debug!(xray = on, "logging initialised");
        if let Some(e) = xray_error {
            tracing::warn!(error = %e, "X-Ray export off");
        }
    }
    installed
}

fn env_level_filter() -> EnvFilter {
    level_filter(
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
    )
}

/// The X-Ray layer when the environment asks for it ([`crate::xray`]), else `None` and, if the
/// configuration was wrong, why (logged once the subscriber is installed).
type XrayLayer<S> = tracing_subscriber::filter::Filtered<
    crate::xray::XrayLayer,
    tracing_subscriber::filter::FilterFn,
    S,
>;

fn xray_from_env<S>(service: &'static str) -> (Option<XrayLayer<S>>, Option<String>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    match crate::xray::XrayConfig::from_env(service) {
        Ok(Some(config)) => match crate::xray::layer(config) {
            Some(layer) => (Some(layer), None),
            None => (None, Some("could not open a UDP socket".to_owned())),
        },
        Ok(None) => (None, None),
        Err(e) => (None, Some(e.to_string())),
    }
}

/// Human-readable logs for a terminal (the local stack's default when stdout is one): one line
/// per event with its level, span fields and message, coloured. Same level rules as [`init`].
/// Returns whether this call installed the subscriber.
pub fn init_pretty(service: &'static str) -> bool {
    let logs = tracing_subscriber::fmt::layer()
        .with_target(false)
        .compact()
        .with_filter(env_level_filter());
    let (xray, xray_error) = xray_from_env(service);
    let on = xray.is_some();
    let installed = tracing_subscriber::registry()
        .with(logs)
        .with(xray)
        .try_init()
        .is_ok();
    if installed {
        tracing::debug!(service, xray = on, "logging initialised (pretty)");
        if let Some(e) = xray_error {
            tracing::warn!(error = %e, "X-Ray export off");
        }
    }
    installed
}

/// The level filter: Lambda's own log level (`AWS_LAMBDA_LOG_LEVEL`, set from the function's
/// `LoggingConfig.ApplicationLogLevel`) when present, so the console's and the template's
/// setting is the one that counts; else `RUST_LOG` directives (local runs); else `info`.
pub fn level_filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> EnvFilter {
    if let Some(level) = lambda_level.map(str::trim).filter(|l| !l.is_empty()) {
        let directive = match level.to_ascii_uppercase().as_str() {
            "TRACE" => "trace",
            "DEBUG" => "debug",
            "INFO" => "info",
            "WARN" => "warn",
            // Lambda's FATAL: tracing has no level above error.
            "ERROR" | "FATAL" => "error",
            _ => "info",
        };
        return EnvFilter::new(directive);
    }
    rust_log
        .and_then(|r| EnvFilter::try_new(r).ok())
        .unwrap_or_else(|| EnvFilter::new("info"))
}

/// The `level` written on the lines the system reads back from CloudWatch Logs rather than a
/// human: capture records ([`crate::capture::LogLineSink`]) and EMF metrics ([`crate::metrics`]).
///
/// With the JSON log format Lambda drops every application line below the function's
/// `ApplicationLogLevel`, and a line whose `level` is invalid or missing (or whose `timestamp` is
/// not valid RFC 3339) counts as INFO — AWS Lambda guide, *Log-level filtering*
/// (<https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html>). A
/// capture record or a metric without a level would vanish at `LogLevel=WARN`. So these lines
/// carry the function's configured level (`AWS_LAMBDA_LOG_LEVEL`, read once), never below INFO:
/// INFO at TRACE, DEBUG and INFO (or when unset or unknown), else WARN, ERROR or FATAL — always
/// at least the level Lambda keeps. They have no `message`, which is how log queries that count
/// `level = "ERROR"` lines tell them apart (docs/operations.md).
pub fn data_line_level() -> &'static str {
    static LEVEL: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    LEVEL.get_or_init(|| data_level_for(std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref()))
}

/// [`data_line_level`] for a given `AWS_LAMBDA_LOG_LEVEL` value.
pub fn data_level_for(lambda_level: Option<&str>) -> &'static str {
    match lambda_level
        .map(|l| l.trim().to_ascii_uppercase())
        .as_deref()
    {
        Some("WARN") => "WARN",
        Some("ERROR") => "ERROR",
        Some("FATAL") => "FATAL",
        _ => "INFO",
    }
}

/// The `timestamp` of a line written now, as every JSON line has it (RFC 3339, milliseconds).
pub fn line_timestamp() -> String {
    crate::domain::rfc3339(crate::domain::now_millis())
}

/// The Lambda request id of the first invocation this process served: its lines carry
/// `"cold_start": true`, every later invocation's `false`.
static FIRST_REQUEST: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The line format (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct JsonLine {
    pub service: &'static str,
}

impl<S> FormatEvent<S, SpanFields> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, SpanFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Value::String(crate::domain::rfc3339(crate::domain::now_millis())),
        );
        line.insert("level".into(), Value::String(meta.level().to_string()));
        line.insert("service".into(), Value::String(self.service.to_owned()));
        let mut names = Vec::new();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                names.push(Value::String(span.name().to_owned()));
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<SpanFields>>() {
                    line.extend(SpanFields::of(fields));
                }
            }
        }
        match names.len() {
            0 => {}
            1 => {
                line.insert("span".into(), names.remove(0));
            }
            _ => {
                line.insert("span".into(), names[names.len() - 1].clone());
                line.insert("spans".into(), Value::Array(names));
            }
        }
        // Inside a Lambda invocation (lambda_runtime's span carries `requestId`).
        if let Some(Value::String(id)) = line.get("requestId") {
            let first = FIRST_REQUEST.get_or_init(|| id.clone());
            line.insert("cold_start".into(), Value::Bool(first == id));
        }
        // An event's fields into the line, floats rounded.
        event.record(&mut JsonVisitor::new(&mut line, Floats::Rounded));
        if !line.contains_key("message") {
            line.insert("message".into(), Value::String(meta.name().to_owned()));
        }
        // The head first (timestamp, level, service, message), then the rest by name.
        let mut text = String::from("{");
        for key in HEAD {
            if let Some(v) = line.remove(*key) {
                push_entry(&mut text, key, &v)?;
            }
        }
        for (k, v) in &line {
            push_entry(&mut text, k, v)?;
        }
        text.push('}');
        writeln!(writer, "{text}")
    }
}

const HEAD: &[&str] = &["timestamp", "level", "service", "message"];

fn push_entry(text: &mut String, key: &str, value: &Value) -> fmt::Result {
    if text.len() > 1 {
        text.push(',');
    }
    text.push_str(&serde_json::to_string(key).map_err(|_| fmt::Error)?);
    text.push(':');
    text.push_str(&serde_json::to_string(value).map_err(|_| fmt::Error)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    use tracing::Instrument;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The JSON line format installed for this thread, writing into the returned buffer.
    fn json_lines_to_buffer() -> (Buf, tracing::subscriber::DefaultGuard) {
        let buf = Buf::default();
        let w = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new("info"))
            .fmt_fields(SpanFields)
            .event_format(JsonLine { service: "t" })
            .with_writer(move || w.clone())
            .finish();
        (buf, tracing::subscriber::set_default(subscriber))
    }

    #[test]
    fn lambdas_log_level_wins_over_rust_log() {
        use tracing::level_filters::LevelFilter;
        let hint = |l: Option<&str>, r: Option<&str>| level_filter(l, r).max_level_hint();
        assert_eq!(hint(Some("DEBUG"), Some("error")), Some(LevelFilter::DEBUG));
        assert_eq!(hint(Some("WARN"), None), Some(LevelFilter::WARN));
        assert_eq!(hint(Some("FATAL"), None), Some(LevelFilter::ERROR));
        assert_eq!(hint(Some(" "), Some("warn")), Some(LevelFilter::WARN));
        assert_eq!(hint(None, Some("debug")), Some(LevelFilter::DEBUG));
        assert_eq!(hint(None, None), Some(LevelFilter::INFO));
    }

    #[test]
    fn data_lines_are_stamped_at_least_at_the_level_lambda_keeps() {
        // Lambda's order, least severe first; a line is kept when its level is at least the
        // configured one.
        const ORDER: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
        let rank = |l: &str| ORDER.iter().position(|o| *o == l).unwrap();
        for configured in ORDER {
            for spelled in [configured.to_owned(), configured.to_lowercase()] {
                let stamped = data_level_for(Some(&spelled));
                assert!(
                    rank(stamped) >= rank(configured),
                    "{stamped} is below {configured}: Lambda would drop it"
                );
                assert!(rank(stamped) >= rank("INFO"), "never below INFO");
            }
        }
        assert_eq!(data_level_for(Some("WARN")), "WARN");
        assert_eq!(data_level_for(Some(" error ")), "ERROR");
        assert_eq!(data_level_for(Some("FATAL")), "FATAL");
        assert_eq!(data_level_for(Some("DEBUG")), "INFO");
        assert_eq!(data_level_for(Some("TRACE")), "INFO");
        assert_eq!(data_level_for(None), "INFO");
        assert_eq!(data_level_for(Some("verbose")), "INFO");
        assert!(
            chrono::DateTime::parse_from_rfc3339(&line_timestamp()).is_ok(),
            "Lambda reads the level only with a valid RFC 3339 timestamp"
        );
    }

    #[test]
    fn the_first_invocations_lines_are_cold_starts() {
        let (buf, _guard) = json_lines_to_buffer();
        tracing::info!("init: no invocation yet");
        for id in ["req-1", "req-1", "req-2"] {
            let span = tracing::info_span!("Lambda runtime invoke", requestId = id);
            span.in_scope(|| tracing::info!("handled"));
        }
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let cold: Vec<Option<bool>> = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["cold_start"].as_bool())
            .collect();
        assert_eq!(cold, vec![None, Some(true), Some(true), Some(false)]);
    }

    #[test]
    fn a_field_recorded_on_an_open_span_is_on_the_lines_logged_after() {
        let (buf, _guard) = json_lines_to_buffer();
        let span = db_span("sell", "mysql");
        span.in_scope(|| tracing::info!("before"));
        record_error(&span, "unavailable");
        span.in_scope(|| tracing::info!("after"));
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].get("error.kind").is_none(), "{text}");
        assert_eq!(lines[1]["error.kind"], "unavailable");
        assert_eq!(lines[1]["db.operation"], "sell");
        assert_eq!(lines[1]["db.system"], "mysql");
    }

    #[tokio::test]
    async fn every_line_carries_the_fields_of_all_its_spans() {
        let (buf, _guard) = json_lines_to_buffer();
        let outer = tracing::info_span!("request", correlation_id = "c-1", request_id = "r");
        async {
            tracing::info!(status = 201u16, latency_ms = 1.23456, "outer line");
            let inner = tracing::info_span!("callback", factory_order_id = "o-1");
            async {
                tracing::warn!(error = %"boom", "inner line");
            }
            .instrument(inner)
            .await;
        }
        .instrument(outer)
        .await;
        tracing::info!("no span");
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0]["correlation_id"], "c-1");
        assert_eq!(lines[0]["span"], "request");
        assert_eq!(lines[0]["status"], 201);
        assert_eq!(lines[0]["latency_ms"], 1.235);
        assert_eq!(lines[0]["service"], "t");
        assert_eq!(
            lines[1]["correlation_id"], "c-1",
            "inherited from the outer span"
        );
        assert_eq!(lines[1]["factory_order_id"], "o-1");
        assert_eq!(lines[1]["span"], "callback");
        assert_eq!(
            lines[1]["spans"],
            serde_json::json!(["request", "callback"])
        );
        assert_eq!(lines[1]["level"], "WARN");
        assert_eq!(lines[1]["error"], "boom");
        assert_eq!(lines[1]["message"], "inner line");
        assert!(lines[2].get("correlation_id").is_none());
        assert!(lines[2]["timestamp"].as_str().unwrap().ends_with('Z'));
        assert!(text.starts_with("{\"timestamp\":"), "{text}");
    }
}
