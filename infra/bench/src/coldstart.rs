//! Section 3, Lambda cold start: every function binary is started as Lambda starts it (a fresh
//! process whose environment names a Runtime API) against a minimal Runtime API stand-in on
//! 127.0.0.1 that hands out one realistic first event. Measured from just before the spawn to
//! the first `GET …/invocation/next` (ready: init done) and to the first
//! `POST …/invocation/{id}/response` (or `/error`); peak RSS is `VmHWM` from
//! `/proc/<pid>/status` once the function asks for its second event.
//!
//! Every AWS call a function could make goes to the stand-in too (`AWS_ENDPOINT_URL`), and is
//! listed in the report: nothing leaves 127.0.0.1.

use crate::stats::{median, ms};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The functions, in the order of the report.
pub const FUNCTIONS: [&str; 8] = [
    "sales-api",
    "restock",
    "factory-orderer",
    "outbox-relay",
    "api-capture",
    "exporter",
    "migrate",
    "factory-sim",
];

/// Where a function's binary was found.
#[derive(Debug, Clone)]
pub struct Binary {
    pub name: &'static str,
    pub path: PathBuf,
    /// `target/lambda/<name>/bootstrap` (the deployable build), `target/release/<name>` or, for
    /// `bench.sh --quick` only, the unoptimised `target/debug/<name>`.
    pub kind: &'static str,
}

/// `target/lambda/<name>/bootstrap` (scripts/lambda-build.sh) when present, else the
/// `cargo build --release` binary, else the debug one (quick runs judge no figure).
pub fn find_binaries(target_dir: &Path) -> (Vec<Binary>, Vec<&'static str>) {
    let (mut found, mut missing) = (Vec::new(), Vec::new());
    for name in FUNCTIONS {
        let lambda = target_dir.join("lambda").join(name).join("bootstrap");
        let release = target_dir.join("release").join(name);
        let debug = target_dir.join("debug").join(name);
        if lambda.is_file() {
            found.push(Binary {
                name,
                path: lambda,
                kind: "target/lambda/<name>/bootstrap",
            });
        } else if release.is_file() {
            found.push(Binary {
                name,
                path: release,
                kind: "target/release/<name>",
            });
        } else if debug.is_file() {
            found.push(Binary {
                name,
                path: debug,
                kind: "target/debug/<name> (unoptimised)",
            });
        } else {
            missing.push(name);
        }
    }
    (found, missing)
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub ready_ms: Option<f64>,
    pub first_response_ms: Option<f64>,
    /// `response`, `error` (function error) or `init error`.
    pub answer: String,
    pub answer_body: String,
    pub vm_hwm_kib: Option<u64>,
    /// Requests the function sent anywhere else than the Runtime API (AWS calls).
    pub other_calls: Vec<String>,
    pub failure: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FunctionResult {
    pub binary: Binary,
    pub event: &'static str,
    pub runs: Vec<Outcome>,
}

impl FunctionResult {
    fn med(&self, f: impl Fn(&Outcome) -> Option<f64>) -> f64 {
        median(&self.runs.iter().filter_map(f).collect::<Vec<_>>())
    }
    pub fn ready_ms(&self) -> f64 {
        self.med(|o| o.ready_ms)
    }
    pub fn first_response_ms(&self) -> f64 {
        self.med(|o| o.first_response_ms)
    }
    pub fn rss_mib(&self) -> f64 {
        self.med(|o| o.vm_hwm_kib.map(|k| k as f64 / 1024.0))
    }
    pub fn complete(&self) -> bool {
        !self.runs.is_empty()
            && self
                .runs
                .iter()
                .all(|o| o.failure.is_none() && o.first_response_ms.is_some())
    }
}

// ---- the Runtime API stand-in ---------------------------------------------------------------

struct Invocation {
    event: Value,
    request_id: String,
    function_arn: String,
    next_calls: AtomicU32,
    ready: Mutex<Option<Instant>>,
    answered: Mutex<Option<(Instant, String, String)>>,
    other: Mutex<Vec<String>>,
    notify: tokio::sync::Notify,
}

type Shared = Arc<Invocation>;

async fn next(State(inv): State<Shared>) -> Response {
    let n = inv.next_calls.fetch_add(1, Ordering::SeqCst);
    if n > 0 {
        // Lambda freezes the environment here; the process is measured and stopped instead.
        inv.notify.notify_one();
        std::future::pending::<()>().await;
    }
    *inv.ready.lock().expect("lock") = Some(Instant::now());
    let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
    let mut res = inv.event.to_string().into_response();
    let h = res.headers_mut();
    let mut put = |k: &'static str, v: String| {
        if let Ok(v) = v.parse() {
            h.insert(k, v);
        }
    };
    put("content-type", "application/json".into());
    put("lambda-runtime-aws-request-id", inv.request_id.clone());
    put("lambda-runtime-deadline-ms", deadline.to_string());
    put(
        "lambda-runtime-invoked-function-arn",
        inv.function_arn.clone(),
    );
    put(
        "lambda-runtime-trace-id",
        "Root=1-6740a1b2-3c4d5e6f708192a3b4c5d6e7;Parent=53995c3f42cd8ad8;Sampled=0".into(),
    );
    res
}

fn answered(inv: &Invocation, kind: &str, body: Bytes) -> Response {
    let mut a = inv.answered.lock().expect("lock");
    if a.is_none() {
        *a = Some((
            Instant::now(),
            kind.to_owned(),
            String::from_utf8_lossy(&body).chars().take(300).collect(),
        ));
    }
    drop(a);
    inv.notify.notify_one();
    (StatusCode::ACCEPTED, r#"{"status":"OK"}"#).into_response()
}

async fn response(
    State(inv): State<Shared>,
    UrlPath(_id): UrlPath<String>,
    body: Bytes,
) -> Response {
    answered(&inv, "response", body)
}

async fn error(State(inv): State<Shared>, UrlPath(_id): UrlPath<String>, body: Bytes) -> Response {
    answered(&inv, "error", body)
}

async fn init_error(State(inv): State<Shared>, body: Bytes) -> Response {
    answered(&inv, "init error", body)
}

/// Anything else: an AWS call (S3 PutObject of the exporter, a CloudFormation response URL…).
/// Recorded, and answered with an empty success.
async fn other(State(inv): State<Shared>, method: Method, uri: Uri, _h: HeaderMap) -> Response {
    inv.other
        .lock()
        .expect("lock")
        .push(format!("{method} {}", uri.path()));
    let mut res = (StatusCode::OK, "").into_response();
    res.headers_mut().insert(
        "etag",
        "\"d41d8cd98f00b204e9800998ecf8427e\""
            .parse()
            .expect("etag"),
    );
    res
}

// ---- the first events -----------------------------------------------------------------------

fn apigw_v2(method: &str, path: &str, route: &str, body: Option<&str>) -> Value {
    let mut headers = json!({
        "accept": "*/*",
        "host": "abc123.execute-api.us-east-1.amazonaws.com",
        "user-agent": "curl/8.5.0",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https"
    });
    if body.is_some() {
        headers["content-type"] = json!("application/json");
    }
    let mut ev = json!({
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.7", "userAgent": "curl/8.5.0"},
            "requestId": "Kx1AbcdEFgYEJtQ=",
            "routeKey": route,
            "stage": "$default",
            "time": "21/Nov/2026:22:07:24 +0000",
            "timeEpoch": 1_795_305_244_123i64
        },
        "isBase64Encoded": false
    });
    if let Some(b) = body {
        ev["body"] = json!(b);
    }
    ev
}

fn scheduled(rule: &str) -> Value {
    json!({
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": "us-east-1",
        "resources": [format!("arn:aws:events:us-east-1:123456789012:rule/{rule}")],
        "detail": {}
    })
}

/// The first event of each function, and a one-line description for the report.
pub fn first_event(name: &str, standin: &str) -> (&'static str, Value) {
    let order = "0193a5b0-7c1e-7d2a-9f3b-4c5d6e7f8091";
    match name {
        "sales-api" => (
            "API GW v2 `GET /health`",
            apigw_v2("GET", "/health", "GET /health", None),
        ),
        "restock" => (
            "API GW v2 factory callback without token (401)",
            apigw_v2(
                "POST",
                &format!("/factory/callbacks/{order}"),
                "POST /factory/callbacks/{id}",
                Some(
                    &json!({"MessageGroupId": order, "MessageAttributeProductId": "glazed",
                            "MessageAttributeProductCnt": 100})
                    .to_string(),
                ),
            ),
        ),
        "factory-orderer" => (
            "SQS batch of one poison message",
            json!({"Records": [{
                "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
                "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
                "body": "not json",
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795305244123",
                               "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                               "ApproximateFirstReceiveTimestamp": "1795305244130"},
                "messageAttributes": {},
                "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:factory-orders",
                "awsRegion": "us-east-1"
            }]}),
        ),
        "outbox-relay" => (
            "EventBridge scheduled event (relay pass on the database)",
            scheduled("outbox-relay"),
        ),
        "api-capture" => {
            let data = json!({
                "messageType": "DATA_MESSAGE",
                "owner": "123456789012",
                "logGroup": "/aws/lambda/sales-api",
                "logStream": "2026/11/21/[$LATEST]0123456789abcdef",
                "subscriptionFilters": ["capture"],
                "logEvents": [{"id": "37967890452197440398523475929413421329584812580929060864",
                               "timestamp": 1_795_305_244_123i64,
                               "message": "START RequestId: 6b1c1e0a Version: $LATEST"}]
            });
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(data.to_string().as_bytes()).expect("gzip");
            let b64 = base64::engine::general_purpose::STANDARD.encode(gz.finish().expect("gzip"));
            (
                "CloudWatch Logs delivery without capture lines",
                json!({"awslogs": {"data": b64}}),
            )
        }
        "exporter" => (
            "EventBridge scheduled event (exports yesterday; S3 PUTs answered by the stand-in)",
            scheduled("daily-export"),
        ),
        "migrate" => (
            "CloudFormation `Create` (migrations already applied; response PUT to the stand-in)",
            json!({
                "RequestType": "Create",
                "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:migrate",
                "ResponseURL": format!("{standin}/cfn-response?X-Amz-Signature=bench"),
                "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/donuts/5b2c",
                "RequestId": "0bd0d4a3-0b6c-4c34-8f53-0a1d6b0c9a11",
                "LogicalResourceId": "Migrations",
                "ResourceType": "Custom::Migrations",
                "ResourceProperties": {"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:migrate"}
            }),
        ),
        _ => (
            "Function URL `GET /health` (404 from the stand-in's router)",
            apigw_v2("GET", "/health", "$default", None),
        ),
    }
}

/// The environment of every function: Lambda's own variables, dummy credentials, every AWS
/// endpoint on the stand-in, and the union of the functions' configuration
/// (docs/configuration.md).
fn environment(name: &str, standin: &str, database_url: &str, bin: &Path) -> Vec<(String, String)> {
    let addr = standin.trim_start_matches("http://");
    let dir = bin.parent().unwrap_or(Path::new("/")).display().to_string();
    [
        ("AWS_LAMBDA_RUNTIME_API", addr.to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/11/21/[$LATEST]0123456789abcdef".into(),
        ),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE".into()),
        (
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        ),
        ("AWS_SESSION_TOKEN", "bench-session-token".into()),
        ("AWS_ENDPOINT_URL", standin.to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("_HANDLER", "bootstrap".into()),
        ("LAMBDA_TASK_ROOT", dir),
        ("TZ", ":UTC".into()),
        ("LANG", "en_US.UTF-8".into()),
        ("PATH", "/usr/local/bin:/usr/bin:/bin".into()),
        ("DATABASE_URL", database_url.to_owned()),
        (
            "STOCKOUT_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:stock-outs".into(),
        ),
        ("ADMIN_TOKEN", "bench-admin-token".into()),
        ("CALLBACK_SECRET", "bench-callback-secret".into()),
        ("FACTORY_URL", format!("{standin}/factory")),
        ("CALLBACK_BASE_URL", format!("{standin}/callbacks")),
        ("CAPTURE_STREAM_NAME", "api-capture".into()),
        ("EXPORT_BUCKET", "bench-exports".into()),
        (
            "SIM_QUEUE_URL",
            format!("{standin}/123456789012/factory-sim-completions"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// One cold start of one binary.
pub async fn cold_start(bin: &Binary, database_url: &str, logs: &Path, run: usize) -> Outcome {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the Runtime API stand-in");
    let standin = format!("http://{}", listener.local_addr().expect("addr"));
    let (_, event) = first_event(bin.name, &standin);
    let inv = Arc::new(Invocation {
        event,
        request_id: uuid::Uuid::new_v4().to_string(),
        function_arn: format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{}",
            bin.name
        ),
        next_calls: AtomicU32::new(0),
        ready: Mutex::new(None),
        answered: Mutex::new(None),
        other: Mutex::new(Vec::new()),
        notify: tokio::sync::Notify::new(),
    });
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .fallback(other)
        .with_state(inv.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let log_path = if run == usize::MAX {
        logs.join(format!("{}-warmup.log", bin.name))
    } else {
        logs.join(format!("{}-{}.log", bin.name, run + 1))
    };
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut cmd = Command::new(&bin.path);
    cmd.env_clear()
        .envs(environment(bin.name, &standin, database_url, &bin.path))
        .current_dir(bin.path.parent().unwrap_or(Path::new("/")))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log);
    // The clock starts just before the spawn.
    let t0 = Instant::now();
    let spawned = cmd.spawn();
    let mut out = Outcome {
        ready_ms: None,
        first_response_ms: None,
        answer: String::new(),
        answer_body: String::new(),
        vm_hwm_kib: None,
        other_calls: Vec::new(),
        failure: None,
    };
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            server.abort();
            out.failure = Some(format!("spawn {}: {e}", bin.path.display()));
            return out;
        }
    };
    let pid = child.id();
    let deadline = t0 + Duration::from_secs(20);
    // Until the first answer.
    loop {
        if inv.answered.lock().expect("lock").is_some() {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            out.failure = Some(format!(
                "exited with {status} before answering (log: {})",
                log_path.display()
            ));
            break;
        }
        if Instant::now() > deadline {
            out.failure = Some(format!(
                "no answer within 20 s (log: {})",
                log_path.display()
            ));
            break;
        }
        let _ = tokio::time::timeout(Duration::from_millis(5), inv.notify.notified()).await;
    }
    // Until it asks for the next event (the invocation is over), then peak RSS.
    if out.failure.is_none() {
        let wait_next = Instant::now() + Duration::from_millis(500);
        while inv.next_calls.load(Ordering::SeqCst) < 2 && Instant::now() < wait_next {
            let _ = tokio::time::timeout(Duration::from_millis(5), inv.notify.notified()).await;
        }
        out.vm_hwm_kib = vm_hwm_kib(pid);
    }
    let _ = child.kill();
    let _ = child.wait();
    server.abort();
    if let Some(ready) = *inv.ready.lock().expect("lock") {
        out.ready_ms = Some(ms(ready - t0));
    }
    if let Some((at, kind, body)) = inv.answered.lock().expect("lock").clone() {
        out.first_response_ms = Some(ms(at - t0));
        out.answer = kind;
        out.answer_body = body;
    }
    out.other_calls = inv.other.lock().expect("lock").clone();
    out
}

pub async fn run(
    binaries: &[Binary],
    database_url: &str,
    runs: usize,
    logs: &Path,
) -> Vec<FunctionResult> {
    std::fs::create_dir_all(logs).expect("cold start log dir");
    let mut results: Vec<FunctionResult> = binaries
        .iter()
        .map(|b| FunctionResult {
            binary: b.clone(),
            event: first_event(b.name, "http://127.0.0.1:0").0,
            runs: Vec::new(),
        })
        .collect();
    // One unmeasured start of each first: the binaries are then in the page cache (this VM's
    // disk is not Lambda's), and nothing measured pays for a first read of 20 MB.
    for r in &results {
        let o = cold_start(&r.binary, database_url, logs, usize::MAX).await;
        if let Some(e) = o.failure {
            eprintln!("bench: cold start {} warm-up: {e}", r.binary.name);
        }
    }
    // Interleaved (every function once per pass), so a burst of noise hits all alike.
    for run in 0..runs {
        for r in results.iter_mut() {
            let o = cold_start(&r.binary, database_url, logs, run).await;
            eprintln!(
                "bench: cold start {:<16} run {}/{runs}: ready {} first answer {} ({}) VmHWM {} {}",
                r.binary.name,
                run + 1,
                o.ready_ms
                    .map(|v| format!("{v:.1} ms"))
                    .unwrap_or("-".into()),
                o.first_response_ms
                    .map(|v| format!("{v:.1} ms"))
                    .unwrap_or("-".into()),
                o.answer,
                o.vm_hwm_kib
                    .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
                    .unwrap_or("-".into()),
                o.failure.as_deref().unwrap_or("")
            );
            r.runs.push(o);
        }
    }
    results
}
