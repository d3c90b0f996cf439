//! One Lambda Runtime API endpoint per function, and the function's bootstrap processes behind
//! it (`AWS_LAMBDA_RUNTIME_API` = that endpoint), started as Lambda starts them: a cleared
//! environment holding the template's variables, the Lambda-defined ones and credentials.
//!
//! Invocations queue until an instance asks for `…/invocation/next`; each gets
//! `Lambda-Runtime-Deadline-Ms` from the function's `Timeout`, and an answer that does not come
//! in time is a timeout error (as on Lambda, the late answer is dropped). An instance that exits
//! is started again (a new execution environment: a cold start). Every line an instance prints
//! goes to [`crate::logs::LogHub`], which plays CloudWatch Logs.

use crate::Error;
use crate::logs::LogHub;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Mutex, mpsc, oneshot};

/// What an invocation returned.
#[derive(Debug, Clone)]
pub enum Answer {
    /// `…/response`: the payload.
    Ok(Bytes),
    /// `…/error` (function error), an init error, or a timeout: `{"errorType","errorMessage"}`.
    Err(Value),
}

impl Answer {
    pub fn json(&self) -> Option<Value> {
        match self {
            Answer::Ok(b) => serde_json::from_slice(b).ok(),
            Answer::Err(_) => None,
        }
    }
    pub fn is_ok(&self) -> bool {
        matches!(self, Answer::Ok(_))
    }
}

struct Pending {
    payload: Bytes,
    reply: oneshot::Sender<Answer>,
}

struct Shared {
    name: String,
    arn: String,
    timeout: Duration,
    queue_rx: Mutex<mpsc::UnboundedReceiver<Pending>>,
    inflight: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    init_error: std::sync::Mutex<Option<Value>>,
    invocations: AtomicU64,
}

/// How to start a function's instances.
#[derive(Debug, Clone)]
pub struct Spec {
    pub logical_id: String,
    pub name: String,
    pub binary: PathBuf,
    pub env: BTreeMap<String, String>,
    pub timeout: Duration,
    pub memory_mb: u64,
    pub instances: usize,
}

/// A running function: its Runtime API and instances.
pub struct Function {
    pub spec: Spec,
    pub runtime_api: String,
    shared: Arc<Shared>,
    queue_tx: mpsc::UnboundedSender<Pending>,
    stopping: Arc<AtomicBool>,
    children: Arc<std::sync::Mutex<Vec<u32>>>,
}

impl Function {
    pub async fn start(spec: Spec, logs: Arc<LogHub>) -> Result<Arc<Function>, Error> {
        if !spec.binary.is_file() {
            return Err(format!(
                "{}: no bootstrap at {} (build the functions first: ./scripts/lambda-build.sh)",
                spec.logical_id,
                spec.binary.display()
            )
            .into());
        }
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            name: spec.name.clone(),
            arn: format!(
                "arn:aws:lambda:{}:{}:function:{}",
                crate::template::REGION,
                crate::template::ACCOUNT,
                spec.name
            ),
            timeout: spec.timeout,
            queue_rx: Mutex::new(queue_rx),
            inflight: Mutex::new(HashMap::new()),
            init_error: std::sync::Mutex::new(None),
            invocations: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let runtime_api = listener.local_addr()?.to_string();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let f = Arc::new(Function {
            spec,
            runtime_api,
            shared,
            queue_tx,
            stopping: Arc::new(AtomicBool::new(false)),
            children: Arc::new(std::sync::Mutex::new(Vec::new())),
        });
        for i in 0..f.spec.instances.max(1) {
            f.clone().supervise(i, logs.clone());
        }
        Ok(f)
    }

    /// Keeps instance `i` running: starts it, forwards its output, starts it again when it
    /// exits (after a pause, so a function that cannot init does not spin).
    fn supervise(self: Arc<Self>, i: usize, logs: Arc<LogHub>) {
        tokio::spawn(async move {
            let mut starts = 0u64;
            while !self.stopping.load(Ordering::SeqCst) {
                starts += 1;
                let stream = format!(
                    "{}/[$LATEST]{:016x}",
                    chrono::Utc::now().format("%Y/%m/%d"),
                    rand::random::<u64>()
                );
                let mut cmd = tokio::process::Command::new(&self.spec.binary);
                cmd.env_clear()
                    .envs(&self.spec.env)
                    .envs(self.lambda_env(&stream))
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .kill_on_drop(true);
                let mut child = match cmd.spawn() {
                    Ok(c) => c,
                    Err(e) => {
                        logs.harness(&self.spec.name, &format!("cannot start instance {i}: {e}"));
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                if let Some(pid) = child.id() {
                    self.children.lock().map(|mut c| c.push(pid)).ok();
                }
                let forward = |r: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| {
                    let logs = logs.clone();
                    let name = self.spec.name.clone();
                    let stream = stream.clone();
                    tokio::spawn(async move {
                        let Some(r) = r else { return };
                        let mut lines = BufReader::new(r).lines();
                        while let Ok(Some(line)) = lines.next_line().await {
                            logs.line(&name, &stream, &line).await;
                        }
                    })
                };
                let out = forward(
                    child
                        .stdout
                        .take()
                        .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
                );
                let err = forward(
                    child
                        .stderr
                        .take()
                        .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
                );
                let status = child.wait().await;
                let _ = tokio::join!(out, err);
                if let Some(pid) = child.id() {
                    self.children
                        .lock()
                        .map(|mut c| c.retain(|p| *p != pid))
                        .ok();
                }
                if self.stopping.load(Ordering::SeqCst) {
                    break;
                }
                let why = format!("instance {i} exited ({status:?}) after start {starts}");
                logs.harness(
                    &self.spec.name,
                    &format!("{why}; starting a new execution environment"),
                );
                // An instance that dies before asking for work (an init failure that did not
                // reach /init/error) fails the invocation waiting for it, as Lambda would.
                fail_one_pending(
                    &self.shared,
                    json!({"errorType": "Runtime.ExitError", "errorMessage": why}),
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }

    fn lambda_env(&self, stream: &str) -> Vec<(String, String)> {
        let s = &self.spec;
        [
            ("AWS_LAMBDA_RUNTIME_API", self.runtime_api.clone()),
            ("AWS_LAMBDA_FUNCTION_NAME", s.name.clone()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", s.memory_mb.to_string()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", s.name),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME", stream.to_owned()),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
            ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".into()),
            ("AWS_REGION", crate::template::REGION.into()),
            ("AWS_DEFAULT_REGION", crate::template::REGION.into()),
            ("LAMBDA_TASK_ROOT", "/var/task".into()),
            ("LAMBDA_RUNTIME_DIR", "/var/runtime".into()),
            ("TZ", ":UTC".into()),
            ("LANG", "en_US.UTF-8".into()),
            ("PATH", "/usr/local/bin:/usr/bin:/bin".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Invokes the function (synchronously, as API Gateway or an event source mapping does)
    /// and waits for its answer: queueing time plus the function's `Timeout`.
    pub async fn invoke(&self, payload: &Value) -> Answer {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            payload: Bytes::from(payload.to_string()),
            reply,
        };
        if self.queue_tx.send(pending).is_err() {
            return Answer::Err(
                json!({"errorType": "Harness.Stopped", "errorMessage": "function stopped"}),
            );
        }
        match answer.await {
            Ok(a) => a,
            Err(_) => Answer::Err(
                json!({"errorType": "Harness.Dropped", "errorMessage": "invocation dropped"}),
            ),
        }
    }

    /// The last init error the function reported (`/runtime/init/error`), if any.
    pub fn init_error(&self) -> Option<Value> {
        self.shared.init_error.lock().ok().and_then(|e| e.clone())
    }

    pub fn invocations(&self) -> u64 {
        self.shared.invocations.load(Ordering::SeqCst)
    }

    pub fn arn(&self) -> &str {
        &self.shared.arn
    }

    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Ok(pids) = self.children.lock() {
            for pid in pids.iter() {
                // SIGTERM, as Lambda does on shutdown; kill_on_drop reaps the rest.
                let _ = std::process::Command::new("kill")
                    .arg(pid.to_string())
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        }
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        self.stop();
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

async fn next(State(s): State<Arc<Shared>>) -> Response {
    let pending = {
        let mut rx = s.queue_rx.lock().await;
        rx.recv().await
    };
    let Some(p) = pending else {
        return StatusCode::GONE.into_response();
    };
    let id = uuid::Uuid::new_v4().to_string();
    s.invocations.fetch_add(1, Ordering::SeqCst);
    s.inflight.lock().await.insert(id.clone(), p.reply);
    // The deadline, as Lambda sets it: Timeout from now. Past it, the invocation has failed.
    let deadline = now_ms() + s.timeout.as_millis() as u64;
    let (shared, rid) = (s.clone(), id.clone());
    tokio::spawn(async move {
        tokio::time::sleep(shared.timeout).await;
        if let Some(tx) = shared.inflight.lock().await.remove(&rid) {
            let _ = tx.send(Answer::Err(json!({
                "errorType": "Sandbox.Timedout",
                "errorMessage": format!("{} Task timed out after {:.2} seconds", rid, shared.timeout.as_secs_f64()),
            })));
        }
    });
    let mut h = HeaderMap::new();
    let mut set = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    set("lambda-runtime-aws-request-id", id);
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set("lambda-runtime-invoked-function-arn", s.arn.clone());
    set(
        "lambda-runtime-trace-id",
        format!(
            "Root=1-{:08x}-{:024x};Parent={:016x};Sampled=0",
            now_ms() / 1000,
            rand::random::<u128>() >> 32,
            rand::random::<u64>()
        ),
    );
    set("content-type", "application/json".into());
    (StatusCode::OK, h, p.payload).into_response()
}

async fn response(
    State(s): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    match s.inflight.lock().await.remove(&id) {
        Some(tx) => {
            let _ = tx.send(Answer::Ok(body));
            StatusCode::ACCEPTED
        }
        // Unknown or timed out: Lambda answers 4xx and the runtime moves on.
        None => StatusCode::BAD_REQUEST,
    }
}

async fn error(
    State(s): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut err: Value = serde_json::from_slice(&body).unwrap_or_else(
        |_| json!({"errorType": "Unknown", "errorMessage": String::from_utf8_lossy(&body)}),
    );
    if let Some(t) = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        && err.get("errorType").is_none()
    {
        err["errorType"] = json!(t);
    }
    match s.inflight.lock().await.remove(&id) {
        Some(tx) => {
            let _ = tx.send(Answer::Err(err));
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn init_error(State(s): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    let err: Value = serde_json::from_slice(&body).unwrap_or_else(
        |_| json!({"errorType": "Runtime.InitError", "errorMessage": String::from_utf8_lossy(&body)}),
    );
    tracing::error!(function = %s.name, error = %err, "init error");
    if let Ok(mut e) = s.init_error.lock() {
        *e = Some(err.clone());
    }
    // The invocation that caused this init fails with it.
    fail_one_pending(&s, err);
    StatusCode::ACCEPTED
}

fn fail_one_pending(s: &Shared, err: Value) {
    if let Ok(mut rx) = s.queue_rx.try_lock()
        && let Ok(p) = rx.try_recv()
    {
        let _ = p.reply.send(Answer::Err(err));
    }
}
