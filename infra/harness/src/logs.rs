//! CloudWatch Logs, played locally: every line a function prints is kept (and written to
//! `<dir>/logs/<function>.log`); lines of a log group with a subscription filter are matched
//! against its pattern and delivered to the destination function as AWS delivers them — an
//! asynchronous invocation whose event is `{"awslogs": {"data": base64(gzip(json))}}`.
//! EMF lines (`{"_aws": {"CloudWatchMetrics": …}}`) are read for the metric names they emit.

use crate::template::{ACCOUNT, LogSubscription, filter_matches};
use base64::Engine;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
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

    pub async fn line(&self, function: &str, stream: &str, text: &str) {
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

    /// A line of the harness's own about a function (also kept with its lines).
    pub fn harness(&self, function: &str, text: &str) {
        let line = json!({"harness": text, "function": function}).to_string();
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
