//! CloudWatch Logs, played locally: every line a function prints is kept (and written to
//! `<dir>/logs/<function>.log`); lines of a log group with a subscription filter are matched
//! against its pattern and delivered to the destination function as AWS delivers them — an
//! asynchronous invocation whose event is `{"awslogs": {"data": base64(gzip(json))}}`.
//! EMF lines (`{"_aws": {"CloudWatchMetrics": …}}`) are read for the metric names they emit.
//!
//! Before any of that, Lambda's log-level filter ([`LevelFilter`]): with the JSON log format a
//! function's application lines below its `ApplicationLogLevel` never reach CloudWatch Logs —
//! not its log file here, not a subscription, not a metric.

use crate::template::{ACCOUNT, LogSubscription, filter_matches};
use base64::Engine;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// A line a function printed.
#[derive(Debug, Clone)]
pub struct Line {
    pub function: String,
    pub text: String,
}

struct Route {
    sub: LogSubscription,
    log_group_name: String,
    tx: mpsc::UnboundedSender<(String, String, i64)>,
}

#[derive(Default)]
pub struct LogHub {
    dir: Option<PathBuf>,
    echo: bool,
    lines: Mutex<Vec<Line>>,
    metrics: Mutex<BTreeSet<(String, String)>>,
    /// function name → subscriptions of its log group.
    routes: Mutex<HashMap<String, Vec<Arc<Route>>>>,
    delivered: Mutex<Vec<(String, usize, bool)>>,
    /// function name → its log-level filter (JSON log format only).
    filters: Mutex<HashMap<String, LevelFilter>>,
    /// function name → lines its filter dropped.
    dropped: Mutex<BTreeMap<String, u64>>,
}

/// Lambda's log levels, least severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    /// `TRACE` … `FATAL`, in any case; anything else is not a level.
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "TRACE" => Level::Trace,
            "DEBUG" => Level::Debug,
            "INFO" => Level::Info,
            "WARN" => Level::Warn,
            "ERROR" => Level::Error,
            "FATAL" => Level::Fatal,
            _ => return None,
        })
    }

    /// The level Lambda gives one application line, as the AWS Lambda guide describes it
    /// (*Log-level filtering*,
    /// <https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html>):
    /// a JSON object's `level` field; "if the `level` value field is invalid or missing", INFO;
    /// and INFO too when the line has no valid RFC 3339 `timestamp` ("if you don't supply a
    /// valid timestamp, Lambda assigns the log the level INFO"). The guide accepts the timestamp
    /// key names of the managed runtimes; the harness reads `timestamp`, the one this project
    /// writes, so a line it keeps is one Lambda keeps. A line that is not a JSON object has no
    /// `level`: INFO.
    pub fn of_line(text: &str) -> Level {
        let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(text) else {
            return Level::Info;
        };
        let timestamp_ok = doc
            .get("timestamp")
            .and_then(Value::as_str)
            .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok());
        doc.get("level")
            .and_then(Value::as_str)
            .and_then(Level::parse)
            .filter(|_| timestamp_ok)
            .unwrap_or(Level::Info)
    }
}

/// Lambda's log-level filtering of one function (its `LoggingConfig`, JSON log format): an
/// application line is sent to CloudWatch Logs when its level ([`Level::of_line`]) is at least
/// `application`; a line of Lambda's own (here: the harness's lines about the function, its
/// failures, WARN) when it is at least `system`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelFilter {
    pub application: Level,
    pub system: Level,
}

impl LevelFilter {
    /// From a function's resolved `LoggingConfig`: `None` unless `LogFormat` is `JSON` (with
    /// the Text format Lambda filters nothing); each level INFO when not set, as on AWS.
    pub fn from_logging_config(config: &Value) -> Result<Option<LevelFilter>, crate::Error> {
        let field = |k: &str| config.get(k).and_then(Value::as_str);
        if !field("LogFormat").is_some_and(|f| f.eq_ignore_ascii_case("JSON")) {
            return Ok(None);
        }
        let level = |k: &str| -> Result<Level, crate::Error> {
            match field(k) {
                None => Ok(Level::Info),
                Some(v) => Level::parse(v)
                    .ok_or_else(|| format!("LoggingConfig.{k} {v:?} is not a log level").into()),
            }
        };
        Ok(Some(LevelFilter {
            application: level("ApplicationLogLevel")?,
            system: level("SystemLogLevel")?,
        }))
    }

    pub fn keeps(&self, text: &str) -> bool {
        Level::of_line(text) >= self.application
    }
}

impl LogHub {
    pub fn new(dir: Option<PathBuf>, echo: bool) -> Arc<Self> {
        if let Some(d) = &dir {
            let _ = std::fs::create_dir_all(d.join("logs"));
        }
        Arc::new(LogHub {
            dir,
            echo,
            ..Default::default()
        })
    }

    /// Subscribes the log group of `function` (named `log_group_name`) to `destination`.
    /// Lines are batched for up to `flush` and delivered with Lambda's asynchronous retries.
    pub fn subscribe(
        self: &Arc<Self>,
        function: &str,
        log_group_name: &str,
        sub: LogSubscription,
        destination: crate::AsyncTarget,
        flush: Duration,
    ) {
        let (tx, mut rx) = mpsc::unbounded_channel::<(String, String, i64)>();
        let route = Arc::new(Route {
            sub: sub.clone(),
            log_group_name: log_group_name.to_owned(),
            tx,
        });
        if let Ok(mut r) = self.routes.lock() {
            r.entry(function.to_owned())
                .or_default()
                .push(route.clone());
        }
        let hub = self.clone();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                let until = tokio::time::Instant::now() + flush;
                while let Ok(Some(x)) = tokio::time::timeout_at(until, rx.recv()).await {
                    batch.push(x);
                }
                // One delivery per log stream, as CloudWatch Logs sends them.
                let mut by_stream: HashMap<String, Vec<(String, i64)>> = HashMap::new();
                for (stream, text, ts) in batch {
                    by_stream.entry(stream).or_default().push((text, ts));
                }
                for (stream, events) in by_stream {
                    let n = events.len();
                    let event = awslogs_event(&route, &stream, &events);
                    let ok = crate::invoke_async(&destination, &event, &hub).await;
                    if let Ok(mut d) = hub.delivered.lock() {
                        d.push((route.sub.id.clone(), n, ok));
                    }
                }
            }
        });
    }

    /// Applies Lambda's log-level filter to `function`'s lines (its name, as [`Self::line`]
    /// gets it). Without one, every line is kept (the Text log format).
    pub fn set_level_filter(&self, function: &str, filter: LevelFilter) {
        if let Ok(mut f) = self.filters.lock() {
            f.insert(function.to_owned(), filter);
        }
    }

    fn filter_of(&self, function: &str) -> Option<LevelFilter> {
        self.filters
            .lock()
            .ok()
            .and_then(|f| f.get(function).copied())
    }

    /// A line `function` printed, as CloudWatch Logs gets it — or not, when Lambda's log-level
    /// filter drops it.
    pub async fn line(&self, function: &str, stream: &str, text: &str) {
        if let Some(f) = self.filter_of(function)
            && !f.keeps(text)
        {
            if let Ok(mut d) = self.dropped.lock() {
                *d.entry(function.to_owned()).or_default() += 1;
            }
            return;
        }
        if self.echo {
            println!("[{function}] {text}");
        }
        if let Some(d) = &self.dir
            && let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(d.join("logs").join(format!("{function}.log")))
        {
            let _ = writeln!(f, "{text}");
        }
        if let Ok(doc) = serde_json::from_str::<Value>(text)
            && let Some(defs) = doc
                .pointer("/_aws/CloudWatchMetrics")
                .and_then(Value::as_array)
            && let Ok(mut m) = self.metrics.lock()
        {
            for d in defs {
                let ns = d.get("Namespace").and_then(Value::as_str).unwrap_or("");
                for metric in d
                    .get("Metrics")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(name) = metric.get("Name").and_then(Value::as_str) {
                        m.insert((ns.to_owned(), name.to_owned()));
                    }
                }
            }
        }
        let routes = self
            .routes
            .lock()
            .ok()
            .and_then(|r| r.get(function).cloned())
            .unwrap_or_default();
        for r in routes {
            if filter_matches(&r.sub.pattern, text).unwrap_or(false) {
                let _ = r.tx.send((
                    stream.to_owned(),
                    text.to_owned(),
                    chrono::Utc::now().timestamp_millis(),
                ));
            }
        }
        if let Ok(mut l) = self.lines.lock() {
            l.push(Line {
                function: function.to_owned(),
                text: text.to_owned(),
            });
        }
    }

    /// A line of the harness's own about a function (also kept with its lines): a failure Lambda
    /// itself would report, a system line at WARN, kept unless the function's `SystemLogLevel`
    /// is above WARN (none is: DEBUG, INFO and WARN are the choices).
    pub fn harness(&self, function: &str, text: &str) {
        if self
            .filter_of(function)
            .is_some_and(|f| Level::Warn < f.system)
        {
            return;
        }
        let line = json!({
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "level": "WARN",
            "harness": text,
            "function": function,
        })
        .to_string();
        eprintln!("harness: [{function}] {text}");
        if let Ok(mut l) = self.lines.lock() {
            l.push(Line {
                function: function.to_owned(),
                text: line,
            });
        }
    }

    pub fn lines(&self) -> Vec<Line> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub fn lines_of(&self, function: &str) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| l.function == function)
            .map(|l| l.text)
            .collect()
    }

    /// `(namespace, metric name)` of every metric the functions emitted (EMF).
    pub fn metric_names(&self) -> BTreeSet<(String, String)> {
        self.metrics.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Lines of `function` that its log-level filter dropped.
    pub fn dropped(&self, function: &str) -> u64 {
        self.dropped
            .lock()
            .ok()
            .and_then(|d| d.get(function).copied())
            .unwrap_or(0)
    }

    /// `(subscription id, log events, delivered)` of every delivery so far.
    pub fn deliveries(&self) -> Vec<(String, usize, bool)> {
        self.delivered.lock().map(|d| d.clone()).unwrap_or_default()
    }
}

fn awslogs_event(route: &Route, stream: &str, events: &[(String, i64)]) -> Value {
    let data = json!({
        "messageType": "DATA_MESSAGE",
        "owner": ACCOUNT,
        "logGroup": route.log_group_name,
        "logStream": stream,
        "subscriptionFilters": [route.sub.filter_name],
        "logEvents": events.iter().enumerate().map(|(i, (text, ts))| json!({
            "id": format!("{:056}", (*ts as u128) * 1000 + i as u128),
            "timestamp": ts,
            "message": text,
        })).collect::<Vec<_>>(),
    });
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    let _ = gz.write_all(data.to_string().as_bytes());
    let zipped = gz.finish().unwrap_or_default();
    json!({"awslogs": {"data": base64::engine::general_purpose::STANDARD.encode(zipped)}})
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: &str = "2026-12-07T20:00:00.000Z";

    #[test]
    fn a_lines_level_is_as_the_lambda_guide_says() {
        let line =
            |level: &str| format!(r#"{{"timestamp":"{TS}","level":"{level}","message":"m"}}"#);
        assert_eq!(Level::of_line(&line("DEBUG")), Level::Debug);
        assert_eq!(Level::of_line(&line("debug")), Level::Debug, "any case");
        assert_eq!(Level::of_line(&line("WARN")), Level::Warn);
        assert_eq!(Level::of_line(&line("FATAL")), Level::Fatal);
        // Invalid or missing level: INFO.
        assert_eq!(Level::of_line(&line("WARNING")), Level::Info);
        assert_eq!(
            Level::of_line(&format!(r#"{{"timestamp":"{TS}"}}"#)),
            Level::Info
        );
        assert_eq!(
            Level::of_line(r#"{"capture":{"schema_version":1}}"#),
            Level::Info
        );
        assert_eq!(
            Level::of_line(r#"{"timestamp":"x","level":7}"#),
            Level::Info
        );
        // A level without a valid RFC 3339 timestamp: INFO too.
        assert_eq!(Level::of_line(r#"{"level":"ERROR"}"#), Level::Info);
        assert_eq!(
            Level::of_line(r#"{"timestamp":"yesterday","level":"ERROR"}"#),
            Level::Info
        );
        // Not JSON (a panic message on stderr): INFO.
        assert_eq!(
            Level::of_line("thread 'main' panicked at src/main.rs"),
            Level::Info
        );
        assert_eq!(Level::of_line(r#"["level","ERROR"]"#), Level::Info);
    }

    #[test]
    fn the_filter_keeps_the_configured_level_and_above() {
        let cfg = |app: &str| json!({"LogFormat": "JSON", "ApplicationLogLevel": app, "SystemLogLevel": "WARN"});
        let warn = LevelFilter::from_logging_config(&cfg("WARN"))
            .unwrap()
            .unwrap();
        let line = |level: &str| format!(r#"{{"timestamp":"{TS}","level":"{level}"}}"#);
        assert!(!warn.keeps(&line("INFO")));
        assert!(
            !warn.keeps(r#"{"capture":{"schema_version":1}}"#),
            "no level: INFO, dropped"
        );
        assert!(warn.keeps(&line("WARN")));
        assert!(warn.keeps(&line("ERROR")));
        let trace = LevelFilter::from_logging_config(&cfg("TRACE"))
            .unwrap()
            .unwrap();
        assert!(trace.keeps(&line("TRACE")) && trace.keeps("plain text"));
        let fatal = LevelFilter::from_logging_config(&cfg("FATAL"))
            .unwrap()
            .unwrap();
        assert!(!fatal.keeps(&line("ERROR")) && fatal.keeps(&line("FATAL")));
        // Defaults, the Text format, and a level CloudFormation would refuse.
        let json_only = LevelFilter::from_logging_config(&json!({"LogFormat": "JSON"})).unwrap();
        assert_eq!(
            json_only,
            Some(LevelFilter {
                application: Level::Info,
                system: Level::Info
            })
        );
        let text = json!({"LogFormat": "Text", "ApplicationLogLevel": "ERROR"});
        assert_eq!(LevelFilter::from_logging_config(&text).unwrap(), None);
        assert!(LevelFilter::from_logging_config(&cfg("LOUD")).is_err());
    }

    #[tokio::test]
    async fn a_dropped_line_reaches_nothing() {
        let hub = LogHub::new(None, false);
        let filter = LevelFilter {
            application: Level::Error,
            system: Level::Warn,
        };
        hub.set_level_filter("f", filter);
        let emf = |level: &str| {
            format!(
                r#"{{"timestamp":"{TS}","level":"{level}","_aws":{{"Timestamp":1,"CloudWatchMetrics":[{{"Namespace":"N","Dimensions":[[]],"Metrics":[{{"Name":"M{level}"}}]}}]}}}}"#
            )
        };
        hub.line("f", "s", &emf("INFO")).await;
        hub.line("f", "s", &emf("ERROR")).await;
        hub.line("other", "s", &emf("DEBUG")).await;
        assert_eq!(hub.dropped("f"), 1);
        assert_eq!(hub.lines_of("f"), vec![emf("ERROR")]);
        let names: Vec<String> = hub.metric_names().into_iter().map(|(_, n)| n).collect();
        assert_eq!(names, vec!["MDEBUG", "MERROR"], "no filter on `other`");
        hub.harness("f", "instance exited");
        assert_eq!(hub.lines_of("f").len(), 2, "a system line at WARN is kept");
    }
}
