//! Business and pipeline metrics, written as CloudWatch Embedded Metric Format (EMF) lines on
//! stdout, which CloudWatch Logs turns into metrics: namespace `DonutPipeline`, one dimension,
//! `Service` = the function name. No other dimension is ever added (a SKU or an order id would
//! be a new metric per value, and the alarms and dashboard select `{DonutPipeline,Service}`).
//! Each line also has a `timestamp` and a `level` at least the function's log level, so Lambda's
//! log-level filter keeps it at every `LogLevel` ([`crate::telemetry::data_line_level`]).
//!
//! The recorder is [`metrics_cloudwatch_embedded`] behind the [`metrics`] facade. Each function
//! calls [`init`] once in `main` and [`flush`] at the end of every invocation (or wraps its
//! handler's future in [`flushed`]); the local stack flushes periodically. Without [`init`]
//! every call here is a no-op, so library code and tests can record unconditionally.
//!
//! | metric | unit | recorded where |
//! |---|---|---|
//! | `SalesCompleted` | Count | a sale sold (`POST /sales` 201, not replays) |
//! | `SalesRefused` | Count | a sale refused for lack of stock (409 `out_of_stock`) |
//! | `StockOuts` | Count | a sale opened a factory order (a stock-out event to publish) |
//! | `FactoryCallLatency` | Milliseconds | every call to the Factory API, success or not |
//! | `FactoryCallErrors` | Count | a failed Factory API call (timeout, connect, 429, 4xx/5xx) |
//! | `OrdersRequested` | Count | the factory accepted an order (`pending → requested`) |
//! | `OrdersFulfilled` | Count | a completion callback restocked (`→ fulfilled`) |
//! | `OrdersFailed` | Count | an order gave up (`→ failed`: last SQS receive, or no completion) |
//! | `Restocks` | Count | donuts put back in stock by a fulfilled order (its quantity) |
//! | `CaptureFailures` | Count | capture records lost |
//! | `OutboxLag` | Milliseconds | age of the oldest unpublished stock-out seen by a relay pass |
//! | `DlqRedrives` | Count | messages moved back from the DLQ by an operator |

use metrics_cloudwatch_embedded::Collector;
use std::io::Write;
use std::sync::OnceLock;
use std::time::Duration;

pub const NAMESPACE: &str = "DonutPipeline";
pub const DIMENSION: &str = "Service";

/// Every metric name with its CloudWatch unit.
pub const METRICS: &[(&str, &str)] = &[
    (SALES_COMPLETED, "Count"),
    (SALES_REFUSED, "Count"),
    (STOCK_OUTS, "Count"),
    (FACTORY_CALL_LATENCY, "Milliseconds"),
    (FACTORY_CALL_ERRORS, "Count"),
    (ORDERS_REQUESTED, "Count"),
    (ORDERS_FULFILLED, "Count"),
    (ORDERS_FAILED, "Count"),
    (RESTOCKS, "Count"),
    (CAPTURE_FAILURES, "Count"),
    (CAPTURE_RECORDS, "Count"),
    (OUTBOX_LAG, "Milliseconds"),
    (DLQ_REDRIVES, "Count"),
];

pub const SALES_COMPLETED: &str = "SalesCompleted";
pub const SALES_REFUSED: &str = "SalesRefused";
pub const STOCK_OUTS: &str = "StockOuts";
pub const FACTORY_CALL_LATENCY: &str = "FactoryCallLatency";
pub const FACTORY_CALL_ERRORS: &str = "FactoryCallErrors";
pub const ORDERS_REQUESTED: &str = "OrdersRequested";
pub const ORDERS_FULFILLED: &str = "OrdersFulfilled";
pub const ORDERS_FAILED: &str = "OrdersFailed";
pub const RESTOCKS: &str = "Restocks";
pub const CAPTURE_FAILURES: &str = "CaptureFailures";
pub const CAPTURE_RECORDS: &str = "CaptureRecords";
pub const OUTBOX_LAG: &str = "OutboxLag";
pub const DLQ_REDRIVES: &str = "DlqRedrives";

static COLLECTOR: OnceLock<Option<(&'static str, &'static Collector)>> = OnceLock::new();

/// Installs the EMF recorder as the process's global `metrics` recorder, with the `Service`
/// dimension set to `service`. Idempotent: only the first call in a process counts (the local
/// stack and tests may call it many times); returns the service the recorder was installed
/// with, or `None` if another recorder owns the process.
pub fn init(service: &'static str) -> Option<&'static str> {
    COLLECTOR
        .get_or_init(|| {
            let built = metrics_cloudwatch_embedded::Builder::new()
                .cloudwatch_namespace(NAMESPACE)
                .with_dimension(DIMENSION, service)
                .emit_zeros(true)
                .init();
            match built {
                Ok(collector) => {
                    // Lambda's log-level filter must keep every EMF line: see
                    // `telemetry::data_line_level` (a `timestamp` is set at each flush).
                    collector.set_property("level", crate::telemetry::data_line_level());
                    describe();
                    Some((service, collector))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed: another recorder is");
                    None
                }
            }
        })
        .map(|(s, _)| s)
}

/// Units are attached by name (the crate writes them into every document).
fn describe() {
    for (name, unit) in METRICS {
        match *unit {
            "Milliseconds" => {
                ::metrics::describe_histogram!(*name, ::metrics::Unit::Milliseconds, "")
            }
            _ => ::metrics::describe_counter!(*name, ::metrics::Unit::Count, ""),
        }
    }
}

/// Writes what was recorded since the last flush as EMF lines (one per line, each written with
/// a single `write_all`, so they never interleave with log lines). No-op before [`init`].
pub fn flush() {
    let mut buf = Vec::new();
    flush_to(&mut buf);
    if !buf.is_empty() {
        let _ = std::io::stdout().lock().write_all(&buf);
    }
}

/// Like [`flush`], into any writer (tests, other sinks). Every line carries, besides the EMF
/// document, the `timestamp` and `level` Lambda's log-level filter reads (so it is kept at every
/// `LogLevel`; see [`crate::telemetry::data_line_level`]).
pub fn flush_to(writer: &mut impl Write) {
    if let Some(Some((_, collector))) = COLLECTOR.get() {
        collector.set_property("timestamp", crate::telemetry::line_timestamp());
        if let Err(e) = collector.flush(writer) {
            tracing::warn!(error = %e, "could not write the metrics");
        }
    }
}

/// Awaits `fut`, then [`flush`]es: what a function wraps each invocation in.
pub async fn flushed<F: std::future::Future>(fut: F) -> F::Output {
    let out = fut.await;
    flush();
    out
}

/// Flushes every `every` until `stop` resolves, then once more (long-running processes: the
/// local stack). Histograms keep at most 100 values between flushes, so keep it short.
pub async fn flush_every(every: Duration, stop: impl std::future::Future<Output = ()>) {
    let mut stop = std::pin::pin!(stop);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => flush(),
            _ = &mut stop => break,
        }
    }
    flush();
}

/// Adds `n` (0 included: a counter once touched in an execution environment is then written
/// at every flush, 0 when nothing happened, so alarms and graphs see zeros, not missing data).
fn count(name: &'static str, n: u64) {
    ::metrics::counter!(name).increment(n);
}

/// A sale completed (201; replays of an idempotent retry are not counted).
pub fn sale_completed() {
    count(SALES_COMPLETED, 1);
}

/// A sale refused for lack of stock (409 `out_of_stock`).
pub fn sale_refused() {
    count(SALES_REFUSED, 1);
}

/// A sale opened a factory order: a stock-out event was produced.
pub fn stock_out() {
    count(STOCK_OUTS, 1);
}

/// One Factory API call: its latency, and an error when it failed.
pub fn factory_call(latency_ms: f64, ok: bool) {
    ::metrics::histogram!(FACTORY_CALL_LATENCY).record(latency_ms.max(0.0));
    count(FACTORY_CALL_ERRORS, u64::from(!ok));
}

/// The factory accepted an order.
pub fn order_requested() {
    count(ORDERS_REQUESTED, 1);
}

/// A completion restocked an order of `quantity` donuts: `OrdersFulfilled` +1 and `Restocks`
/// + quantity (so a day's `Restocks` sum equals the ledger's `restocked` increase).
pub fn order_fulfilled(quantity: i64) {
    count(ORDERS_FULFILLED, 1);
    count(RESTOCKS, quantity.max(0) as u64);
}

/// `n` orders gave up (`failed`).
pub fn orders_failed(n: u64) {
    count(ORDERS_FAILED, n);
}

/// `n` capture records lost.
pub fn capture_failures(n: u64) {
    count(CAPTURE_FAILURES, n);
}

/// `n` capture records delivered.
pub fn capture_records(n: u64) {
    count(CAPTURE_RECORDS, n);
}

/// Age of the oldest unpublished stock-out a relay pass saw (0 when none).
pub fn outbox_lag(ms: i64) {
    ::metrics::histogram!(OUTBOX_LAG).record(ms.max(0) as f64);
}

/// `n` messages redriven from the DLQ.
pub fn dlq_redrives(n: u64) {
    count(DLQ_REDRIVES, n);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_lines_have_the_namespace_the_dimension_and_units() {
        // The only test in this crate that installs the global recorder.
        assert_eq!(init("unit-test"), Some("unit-test"));
        assert_eq!(init("other"), Some("unit-test"), "idempotent");
        sale_completed();
        sale_completed();
        factory_call(12.5, false);
        factory_call(3.0, true);
        order_fulfilled(100);
        let mut buf = Vec::new();
        flush_to(&mut buf);
        let text = String::from_utf8(buf).unwrap();
        let mut seen = std::collections::BTreeMap::new();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let cw = &v["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(cw["Namespace"], NAMESPACE);
            assert_eq!(cw["Dimensions"], serde_json::json!([["Service"]]));
            assert_eq!(v["Service"], "unit-test");
            assert!(v["_aws"]["Timestamp"].as_u64().is_some());
            // Lambda's log-level filter keeps the line: a valid level, at least the
            // function's, and an RFC 3339 timestamp.
            assert_eq!(v["level"], crate::telemetry::data_line_level());
            assert!(
                chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str().unwrap()).is_ok(),
                "{line}"
            );
            assert!(v.get("message").is_none(), "no message: not an error line");
            for m in cw["Metrics"].as_array().unwrap() {
                let name = m["Name"].as_str().unwrap().to_owned();
                seen.insert(name.clone(), (m["Unit"].clone(), v[&name].clone()));
            }
        }
        assert_eq!(seen[SALES_COMPLETED].1, 2);
        assert_eq!(seen[SALES_COMPLETED].0, "Count");
        assert_eq!(seen[FACTORY_CALL_LATENCY].0, "Milliseconds");
        assert_eq!(seen[FACTORY_CALL_LATENCY].1, serde_json::json!([12.5, 3.0]));
        assert_eq!(seen[FACTORY_CALL_ERRORS].1, 1);
        assert_eq!(seen[RESTOCKS].1, 100);
        // Counters reset at each flush; the ones touched are written again as 0 (a data point
        // for the alarms), histograms only when they have values.
        let mut again = Vec::new();
        flush_to(&mut again);
        let text = String::from_utf8(again).unwrap();
        let mut zeros = std::collections::BTreeSet::new();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            for m in v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
            {
                let name = m["Name"].as_str().unwrap();
                assert_eq!(v[name], 0, "{name} after a reset");
                zeros.insert(name.to_owned());
            }
        }
        assert!(zeros.contains(SALES_COMPLETED) && zeros.contains(FACTORY_CALL_ERRORS));
        assert!(!zeros.contains(FACTORY_CALL_LATENCY), "no empty histogram");
    }
}
