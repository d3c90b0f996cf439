//! Where the handler's CPU goes, without a database: `inventory::api::handle` on a `POST /sales`
//! API Gateway event against a store that sells instantly, on one thread, CPU time per request
//! from `/proc/thread-self/schedstat` (nanoseconds). Run in child processes so that the JSON logs
//! can be switched off the way an operator would (`RUST_LOG=off`) while `inventory::telemetry`
//! stays exactly as the functions use it, and so that the EMF metrics recorder (process-global,
//! installed once) can be left out.

use crate::stats::median;
use inventory::api::{AdminToken, Api, App, Function, handle};
use inventory::capture::{DynCapture, LogLineSink, NoCapture};
use inventory::domain::{MAX_STOCK, ProductSpec, Sku};
use inventory::store::{Catalog, DynStore, MemoryStore};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

/// CPU time of the calling thread, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    /// `lambda_http::request::from_str` of the event only.
    Parse,
    /// Parse + `handle`, with a capture sink.
    Handle { capture: bool },
}

/// The SKU every measured sale buys.
const SKU: &str = "hot";

/// The in-memory store with a product that never runs out: the handler's own CPU, no database.
async fn memory_store(sku: &str) -> DynStore {
    let store = Arc::new(MemoryStore::new());
    let spec = Sku::parse(sku)
        .and_then(|sku| ProductSpec::new(sku, None, MAX_STOCK, Some(0), Some(1)))
        .expect("a valid product");
    store.put_product(&spec).await.expect("in memory");
    store
}

fn api(capture: bool, store: DynStore) -> App {
    let capture: DynCapture = if capture {
        Arc::new(LogLineSink::default())
    } else {
        Arc::new(NoCapture)
    };
    App::new(Api {
        service: "sales-api",
        serves: &[Function::SalesApi],
        store,
        publisher: None,
        admin: Some(AdminToken::new("bench-admin-token")),
        callbacks: None,
        capture,
    })
}

async fn measure(step: Step, iterations: u64, head: &str, tail: &str) -> f64 {
    let api = match step {
        Step::Handle { capture } => Some(api(capture, memory_store(SKU).await)),
        Step::Parse => None,
    };
    let t0 = thread_cpu_ns();
    for i in 0..iterations {
        let event = format!("{head}{i:x}{tail}");
        let req = lambda_http::request::from_str(&event).expect("event");
        if let Some(api) = &api {
            let res = inventory::metrics::flushed(handle(api, req)).await;
            assert_eq!(res.status(), 201);
        } else {
            std::hint::black_box(req);
        }
    }
    (thread_cpu_ns() - t0) as f64 / iterations as f64 / 1000.0
}

/// HTTP plumbing alone: the in-process reqwest client (keep-alive) against an axum server that
/// answers a canned `201` sale at once, both on this thread.
async fn measure_http(iterations: u64) -> f64 {
    const SALE: &str = r#"{"id":"0193a5b0-7c1e-7d2a-9f3b-4c5d6e7f8091","sku":"hot","quantity":1,"remaining_stock":999999,"created_at":"2026-11-21T22:07:24.123Z","factory_order":null}"#;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/sales", listener.local_addr().expect("addr"));
    let app = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::CREATED,
            [("content-type", "application/json")],
            SALE,
        )
    });
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let client = crate::flash::http_client(1);
    let body = json!({"sku": "hot", "quantity": 1}).to_string();
    let one = || {
        let req = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone());
        async move {
            let res = req.send().await.expect("request");
            assert_eq!(res.status().as_u16(), 201);
            std::hint::black_box(res.bytes().await.expect("body"));
        }
    };
    for _ in 0..100 {
        one().await;
    }
    let t0 = thread_cpu_ns();
    for _ in 0..iterations {
        one().await;
    }
    let us = (thread_cpu_ns() - t0) as f64 / iterations as f64 / 1000.0;
    server.abort();
    us
}

/// The child: prints `{"parse": µs, "handle_capture": µs, "handle_nocapture": µs}` (medians of
/// `repeats` interleaved repetitions) to `out`.
pub fn child(out: &Path, iterations: u64, repeats: usize) {
    inventory::telemetry::init("sales-api");
    if std::env::var("BENCH_METRICS").as_deref() != Ok("off") {
        inventory::metrics::init("sales-api");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (head, tail) = crate::flash::sales_event(SKU);
    let steps = [
        ("parse", Step::Parse),
        ("handle_capture", Step::Handle { capture: true }),
        ("handle_nocapture", Step::Handle { capture: false }),
    ];
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); steps.len()];
    let mut http = Vec::new();
    rt.block_on(async {
        // Warm-up (allocator, lazy statics, interest caches).
        for (_, s) in steps {
            measure(s, iterations / 10 + 1, &head, &tail).await;
        }
        for _ in 0..repeats {
            for (i, (_, s)) in steps.iter().enumerate() {
                samples[i].push(measure(*s, iterations, &head, &tail).await);
            }
            http.push(measure_http(iterations / 4 + 1).await);
        }
    });
    let mut result = serde_json::Map::new();
    for (i, (name, _)) in steps.iter().enumerate() {
        result.insert((*name).into(), json!(median(&samples[i])));
    }
    result.insert("http_plumbing".into(), json!(median(&http)));
    std::fs::write(out, Value::Object(result).to_string()).expect("write result");
}

#[derive(Debug, Clone, Default)]
pub struct Breakdown {
    /// µs of CPU per request.
    pub parse_us: f64,
    pub full_us: f64,
    pub no_capture_us: f64,
    pub no_logs_us: f64,
    pub no_metrics_us: f64,
    pub bare_us: f64,
    /// reqwest client + axum server, canned answer.
    pub http_us: f64,
    pub iterations: u64,
}

fn run_child(
    logs: bool,
    metrics: bool,
    iterations: u64,
    repeats: usize,
    dir: &Path,
) -> Option<Value> {
    let out = dir.join(format!("handler-cpu-logs-{logs}-metrics-{metrics}.json"));
    let mut cmd = Command::new(std::env::current_exe().ok()?);
    cmd.arg("--handler-cpu-child")
        .arg(&out)
        .arg("--handler-cpu-iterations")
        .arg(iterations.to_string())
        .arg("--handler-cpu-repeats")
        .arg(repeats.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    if logs {
        cmd.env_remove("RUST_LOG");
    } else {
        cmd.env("RUST_LOG", "off");
    }
    if metrics {
        cmd.env_remove("BENCH_METRICS");
    } else {
        cmd.env("BENCH_METRICS", "off");
    }
    if !cmd.status().ok()?.success() {
        return None;
    }
    serde_json::from_str(&std::fs::read_to_string(out).ok()?).ok()
}

pub fn run(iterations: u64, repeats: usize, dir: &Path) -> Result<Breakdown, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let child = |logs, metrics| {
        run_child(logs, metrics, iterations, repeats, dir).ok_or(format!(
            "handler CPU child (logs {logs}, metrics {metrics})"
        ))
    };
    let deployed = child(true, true)?;
    let no_logs = child(false, true)?;
    let no_metrics = child(true, false)?;
    let none = child(false, false)?;
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    Ok(Breakdown {
        parse_us: median(&[&deployed, &no_logs, &no_metrics, &none].map(|v| f(v, "parse"))),
        full_us: f(&deployed, "handle_capture"),
        no_capture_us: f(&deployed, "handle_nocapture"),
        no_logs_us: f(&no_logs, "handle_capture"),
        no_metrics_us: f(&no_metrics, "handle_capture"),
        bare_us: f(&none, "handle_nocapture"),
        http_us: f(&deployed, "http_plumbing"),
        iterations,
    })
}
