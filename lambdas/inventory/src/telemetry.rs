//! Structured JSON logs: one JSON object per line on stdout, level from `RUST_LOG` (default
//! `info`).
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

use serde_json::{Map, Value};
use std::fmt;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

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
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .fmt_fields(JsonFields::new())
        .event_format(JsonLine { service })
        .with_writer(writer)
        .try_init()
        .is_ok();
    if installed {
        tracing::debug!("logging initialised");
    }
    installed
}

/// The line format (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct JsonLine {
    pub service: &'static str,
}

impl<S> FormatEvent<S, JsonFields> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
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
                let Some(fields) = ext.get::<FormattedFields<JsonFields>>() else {
                    continue;
                };
                if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(fields) {
                    line.extend(map);
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
        let mut visitor = Fields(&mut line);
        event.record(&mut visitor);
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

/// Collects an event's fields into the line.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let v = serde_json::Number::from_f64((value * 1000.0).round() / 1000.0)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(value.to_string()));
        self.0.insert(field.name().to_owned(), v);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().to_owned(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), format!("{value:?}").into());
    }
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

    #[tokio::test]
    async fn every_line_carries_the_fields_of_all_its_spans() {
        let buf = Buf::default();
        let w = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new("info"))
            .fmt_fields(JsonFields::new())
            .event_format(JsonLine { service: "t" })
            .with_writer(move || w.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
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
