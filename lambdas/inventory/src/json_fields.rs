//! Tracing fields as JSON values: the one `Visit` ([`JsonVisitor`]) behind the JSON log lines
//! ([`crate::telemetry::JsonLine`]: an event's fields, and its spans' fields through
//! [`SpanFields`]) and the X-Ray segments ([`crate::xray`], a span's fields). The two differ
//! only in how they write an `f64` ([`Floats`]).

use serde_json::{Map, Value};
use std::fmt;
use tracing::field::{Field, Visit};
use tracing::span::Record;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::fmt::format::{FormatFields, Writer};

/// How an `f64` field becomes JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Floats {
    /// Log lines: rounded to 3 decimals (`latency_ms` to the microsecond); a non-finite value
    /// is kept as its text (`"NaN"`, `"inf"`).
    Rounded,
    /// X-Ray segments: the value as it is; a non-finite value (not JSON) is left out.
    Exact,
}

/// Collects fields into `map`, by name (a later value of the same name replaces the earlier).
pub(crate) struct JsonVisitor<'a> {
    map: &'a mut Map<String, Value>,
    floats: Floats,
}

impl<'a> JsonVisitor<'a> {
    pub(crate) fn new(map: &'a mut Map<String, Value>, floats: Floats) -> Self {
        JsonVisitor { map, floats }
    }

    fn insert(&mut self, field: &Field, value: Value) {
        self.map.insert(field.name().to_owned(), value);
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let json = match self.floats {
            Floats::Rounded => Some(
                serde_json::Number::from_f64((value * 1000.0).round() / 1000.0)
                    .map(Value::Number)
                    .unwrap_or_else(|| Value::String(value.to_string())),
            ),
            Floats::Exact => serde_json::Number::from_f64(value).map(Value::Number),
        };
        if let Some(json) = json {
            self.insert(field, json);
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.insert(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.insert(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.insert(field, value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.insert(field, value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.insert(field, value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.insert(field, format!("{value:?}").into());
    }
}

/// A span's fields as the log lines carry them. The `fmt` layer keeps each span's fields as text
/// ([`FormattedFields`]); here that text is a JSON object written by [`JsonVisitor`] (floats
/// rounded, as on the line), read back by [`SpanFields::of`] when a line is written.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpanFields;

impl SpanFields {
    /// The fields recorded so far on a span (empty if there are none).
    pub(crate) fn of(formatted: &str) -> Map<String, Value> {
        match serde_json::from_str(formatted) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }
}

impl<'w> FormatFields<'w> for SpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut map = Map::new();
        fields.record(&mut JsonVisitor::new(&mut map, Floats::Rounded));
        write!(writer, "{}", Value::Object(map))
    }

    /// A field recorded after the span opened (`span.record(..)`) joins the others, replacing
    /// an earlier value of the same name.
    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &Record<'_>,
    ) -> fmt::Result {
        let mut map = SpanFields::of(&current.fields);
        fields.record(&mut JsonVisitor::new(&mut map, Floats::Rounded));
        current.fields = Value::Object(map).to_string();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::{Context, SubscriberExt};

    /// Every event's fields, once per policy.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<(Value, Value)>>>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Seen {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            let (mut rounded, mut exact) = (Map::new(), Map::new());
            event.record(&mut JsonVisitor::new(&mut rounded, Floats::Rounded));
            event.record(&mut JsonVisitor::new(&mut exact, Floats::Exact));
            let seen = (Value::Object(rounded), Value::Object(exact));
            self.0.lock().unwrap().push(seen);
        }
    }

    fn fields_of(emit: impl FnOnce()) -> (Value, Value) {
        let seen = Seen::default();
        let subscriber = tracing_subscriber::registry().with(seen.clone());
        tracing::subscriber::with_default(subscriber, emit);
        let mut all = seen.0.lock().unwrap().clone();
        assert_eq!(all.len(), 1);
        all.remove(0)
    }

    #[test]
    fn every_kind_of_field_is_a_json_value() {
        let error = std::io::Error::other("disk on fire");
        let (rounded, exact) = fields_of(|| {
            tracing::info!(
                n = -3i64,
                u = 7u64,
                ok = true,
                s = "text",
                d = ?Some(1),
                e = &error as &(dyn std::error::Error + 'static),
                "hello"
            )
        });
        let expected = json!({
            "n": -3, "u": 7, "ok": true, "s": "text", "d": "Some(1)", "e": "disk on fire",
            "message": "hello",
        });
        assert_eq!(rounded, expected);
        assert_eq!(exact, expected);
    }

    #[test]
    fn log_lines_round_floats_and_keep_non_finite_ones_as_text() {
        let (rounded, _) =
            fields_of(|| tracing::info!(ms = 1.234_567_8, nan = f64::NAN, inf = f64::INFINITY));
        assert_eq!(rounded["ms"], json!(1.235));
        assert_eq!(rounded["nan"], json!("NaN"));
        assert_eq!(rounded["inf"], json!("inf"));
    }

    #[test]
    fn segments_keep_floats_exact_and_leave_non_finite_ones_out() {
        let (_, exact) = fields_of(|| {
            tracing::info!(
                start = 1_764_000_000.123_456_7,
                nan = f64::NAN,
                inf = f64::NEG_INFINITY
            )
        });
        assert_eq!(exact["start"], json!(1_764_000_000.123_456_7));
        assert!(
            exact.get("nan").is_none() && exact.get("inf").is_none(),
            "{exact}"
        );
    }
}
