//! One Lambda Runtime API per function, and the function's bootstrap processes behind it, started
//! as Lambda starts them: a cleared environment holding the template's variables, the
//! Lambda-defined ones and credentials. Each instance (execution environment) has its own
//! endpoint (`AWS_LAMBDA_RUNTIME_API`), so the harness knows which process holds which invocation.
//!
//! Lambda's own faults, as Lambda produces them
//! (<https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html>, "Failures
//! during the invoke phase": a function that crashes or times out gets its environment reset):
//! - **timeout**: each invocation gets `Lambda-Runtime-Deadline-Ms` from the function's `Timeout`;
//!   at the deadline the caller gets `Sandbox.Timedout` ("Task timed out after N seconds") and
//!   the instance's process is killed (its work in flight stops, its connections close); the
//!   next invocation gets a new process (init again, a cold start). A late answer is refused.
//! - **crash**: an instance whose process exits while it holds an invocation fails that
//!   invocation with `Runtime.ExitError`; one that exits before asking for work (an init failure
//!   that did not reach `/init/error`) fails the invocation waiting for it. Either way a new
//!   process is started (a cold start). [`Function::kill`] / [`Function::kill_busy`] make one
//!   exit from the outside (SIGKILL), as an out-of-memory kill would.
//! - **throttling**: with a reserved concurrency (the template's `ReservedConcurrentExecutions`,
//!   absent = unreserved), an invocation beyond it is refused at once with the Invoke API's
//!   `TooManyRequestsException` (429, `ReservedFunctionConcurrentInvocationLimitExceeded`)
//!   instead of waiting: every caller decides what a throttle means for it (API Gateway:
//!   `apigw.rs`, asynchronous invocation: `async_invoke.rs`, an SQS mapping: the batch stays on
//!   the queue). Invocations up to the limit queue for a free instance: the harness starts
//!   `instances` processes, not one per concurrent invocation.
//!
//! For tests: [`Function::set_timeout`] (a lower `Timeout` than the template's),
//! [`Function::set_reserved_concurrency`], and a [`Tap`] that sees every invocation handed out
//! and every answer before its caller does (and may hold the answer back, as a slow network
//! would). For timing a cold start (the benchmark suite, infra/bench): [`Function::process`],
//! when an instance's process was started and when it first asked for work. Every line an
//! instance prints goes to [`crate::logs::LogHub`], which plays CloudWatch Logs. The processes
//! are started and watched in `process.rs`, the Runtime API endpoints served in `api.rs`.

use crate::Error;
use crate::logs::LogHub;
use axum::body::Bytes;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, mpsc, oneshot};

mod api;
mod process;

/// The `errorType` of a throttled invocation (the Invoke API's 429).
pub const THROTTLED: &str = "TooManyRequestsException";
/// The `errorType` of an invocation that ran out of time.
pub const TIMED_OUT: &str = "Sandbox.Timedout";
/// The `errorType` of an invocation whose process exited.
pub const EXITED: &str = "Runtime.ExitError";

/// What an invocation returned.
#[derive(Debug, Clone)]
pub enum Answer {
    /// `…/response`: the payload.
    Ok(Bytes),
    /// `…/error` (function error), an init error, a timeout, a crash or a throttle:
    /// `{"errorType","errorMessage"}`.
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
    /// The `errorType` of an error answer.
    pub fn error_type(&self) -> Option<&str> {
        match self {
            Answer::Err(e) => e.get("errorType").and_then(Value::as_str),
            Answer::Ok(_) => None,
        }
    }
    /// Refused for lack of concurrency: the function never ran.
    pub fn is_throttle(&self) -> bool {
        self.error_type() == Some(THROTTLED)
    }
}

/// What a [`Tap`] sees.
#[derive(Debug)]
pub enum Seen<'a> {
    /// Instance `instance` took an invocation (`…/invocation/next`) with this payload.
    Invoked { instance: usize, payload: &'a [u8] },
    /// Instance `instance` answered; the caller has not seen the answer yet.
    Answered { instance: usize, answer: &'a Answer },
}

/// Called on every [`Seen`] event of a function, on the harness's side of the Runtime API (a
/// fault a test injects from outside the function: kill a process, note a call). For
/// `Answered`, a returned duration holds the answer back that long before the caller gets it
/// (the invocation keeps its concurrency meanwhile), as a slow network would.
pub type Tap = Arc<dyn Fn(&Seen<'_>) -> Option<Duration> + Send + Sync>;

/// One unit of the function's concurrency, held from the invocation until its answer.
struct Slot(Arc<Shared>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.concurrent.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Pending {
    payload: Bytes,
    reply: oneshot::Sender<Answer>,
    slot: Slot,
}

/// An invocation an instance holds.
struct Inflight {
    reply: oneshot::Sender<Answer>,
    instance: usize,
    slot: Slot,
}

/// An execution environment: its current process.
#[derive(Default)]
struct Instance {
    /// Processes started so far for this instance (tells a dead process's request apart).
    generation: u64,
    pid: Option<u32>,
    /// The invocation it holds (handed out, not answered yet).
    current: Option<String>,
    /// Just before this process was spawned.
    started: Option<Instant>,
    /// Its first `…/invocation/next` (its init is done).
    ready: Option<Instant>,
    /// Its `…/invocation/next` requests so far (an exit before the first is an init failure).
    asks: u32,
}

/// An instance's current process, as [`Function::process`] reports it.
#[derive(Debug, Clone, Copy)]
pub struct Process {
    pub pid: Option<u32>,
    /// Just before it was spawned.
    pub started: Instant,
    /// Its first `…/invocation/next`: its init is done.
    pub ready: Option<Instant>,
    /// Its `…/invocation/next` requests so far: the second comes once its first invocation is
    /// answered.
    pub asks: u32,
}

struct Shared {
    name: String,
    arn: String,
    timeout: StdMutex<Duration>,
    reserved: StdMutex<Option<usize>>,
    queue_rx: Mutex<mpsc::UnboundedReceiver<Pending>>,
    /// To put back an invocation taken for a process that died meanwhile.
    requeue: mpsc::UnboundedSender<Pending>,
    inflight: Mutex<HashMap<String, Inflight>>,
    instances: StdMutex<Vec<Instance>>,
    init_error: StdMutex<Option<Value>>,
    tap: StdMutex<Option<Tap>>,
    logs: Arc<LogHub>,
    invocations: AtomicU64,
    throttles: AtomicU64,
    timeouts: AtomicU64,
    crashes: AtomicU64,
    starts: AtomicU64,
    concurrent: AtomicUsize,
}

impl Shared {
    fn timeout(&self) -> Duration {
        self.timeout
            .lock()
            .map(|t| *t)
            .unwrap_or(Duration::from_secs(3))
    }
    fn tap(&self) -> Option<Tap> {
        self.tap.lock().ok().and_then(|t| t.clone())
    }
    fn with_instance<T>(&self, i: usize, f: impl FnOnce(&mut Instance) -> T) -> Option<T> {
        let mut all = self.instances.lock().ok()?;
        all.get_mut(i).map(f)
    }
    /// SIGKILLs instance `i`'s process, if it has one; true when a signal was sent.
    fn kill(&self, i: usize) -> bool {
        let Some(pid) = self.with_instance(i, |x| x.pid).flatten() else {
            return false;
        };
        // Synchronous: once `kill` returns the process runs no more of its code.
        std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }
}

/// How to start a function's instances.
#[derive(Debug, Clone)]
pub struct Spec {
    pub logical_id: String,
    pub name: String,
    pub binary: PathBuf,
    pub env: BTreeMap<String, String>,
    /// The template's `Timeout`.
    pub timeout: Duration,
    pub memory_mb: u64,
    pub instances: usize,
    /// The template's `ReservedConcurrentExecutions` (None: unreserved).
    pub reserved_concurrency: Option<usize>,
}

/// A running function: its Runtime API endpoints and instances.
pub struct Function {
    pub spec: Spec,
    /// One Runtime API endpoint per instance.
    pub runtime_apis: Vec<String>,
    /// Their servers, stopped when the function is dropped.
    servers: Vec<tokio::task::AbortHandle>,
    shared: Arc<Shared>,
    queue_tx: mpsc::UnboundedSender<Pending>,
    stopping: Arc<AtomicBool>,
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
        let n = spec.instances.max(1);
        let shared = Arc::new(Shared {
            name: spec.name.clone(),
            arn: format!(
                "arn:aws:lambda:{}:{}:function:{}",
                crate::template::REGION,
                crate::template::ACCOUNT,
                spec.name
            ),
            timeout: StdMutex::new(spec.timeout),
            reserved: StdMutex::new(spec.reserved_concurrency),
            queue_rx: Mutex::new(queue_rx),
            requeue: queue_tx.clone(),
            inflight: Mutex::new(HashMap::new()),
            instances: StdMutex::new((0..n).map(|_| Instance::default()).collect()),
            init_error: StdMutex::new(None),
            tap: StdMutex::new(None),
            logs: logs.clone(),
            invocations: AtomicU64::new(0),
            throttles: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            crashes: AtomicU64::new(0),
            starts: AtomicU64::new(0),
            concurrent: AtomicUsize::new(0),
        });
        let (mut runtime_apis, mut servers) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for i in 0..n {
            let (addr, server) = api::serve(shared.clone(), i).await?;
            runtime_apis.push(addr);
            servers.push(server);
        }
        let f = Arc::new(Function {
            spec,
            runtime_apis,
            servers,
            shared,
            queue_tx,
            stopping: Arc::new(AtomicBool::new(false)),
        });
        for i in 0..n {
            f.clone().supervise(i, logs.clone());
        }
        Ok(f)
    }

    /// Invokes the function (synchronously, as API Gateway or an event source mapping does)
    /// and waits for its answer: queueing time plus the function's `Timeout`. Beyond the
    /// reserved concurrency the answer is an immediate throttle ([`Answer::is_throttle`]).
    pub async fn invoke(&self, payload: &Value) -> Answer {
        let reserved = self.shared.reserved.lock().ok().and_then(|r| *r);
        let before = self.shared.concurrent.fetch_add(1, Ordering::SeqCst);
        let slot = Slot(self.shared.clone());
        if let Some(limit) = reserved
            && before >= limit
        {
            drop(slot);
            self.shared.throttles.fetch_add(1, Ordering::SeqCst);
            return Answer::Err(json!({
                "errorType": THROTTLED,
                "errorMessage": "Rate Exceeded.",
                "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
            }));
        }
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            payload: Bytes::from(payload.to_string()),
            reply,
            slot,
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

    /// Invocations handed to an instance.
    pub fn invocations(&self) -> u64 {
        self.shared.invocations.load(Ordering::SeqCst)
    }
    /// Invocations refused for lack of concurrency (Lambda's `Throttles` metric).
    pub fn throttles(&self) -> u64 {
        self.shared.throttles.load(Ordering::SeqCst)
    }
    /// Invocations ended by the function's timeout.
    pub fn timeouts(&self) -> u64 {
        self.shared.timeouts.load(Ordering::SeqCst)
    }
    /// Invocations failed because their process exited.
    pub fn crashes(&self) -> u64 {
        self.shared.crashes.load(Ordering::SeqCst)
    }
    /// Processes started (execution environments created), over all instances.
    pub fn starts(&self) -> u64 {
        self.shared.starts.load(Ordering::SeqCst)
    }
    /// Invocations in progress (queued or running): the function's concurrency.
    pub fn concurrency(&self) -> usize {
        self.shared.concurrent.load(Ordering::SeqCst)
    }
    /// The process ids of the instances (None while one is being replaced).
    pub fn pids(&self) -> Vec<Option<u32>> {
        self.shared
            .instances
            .lock()
            .map(|all| all.iter().map(|x| x.pid).collect())
            .unwrap_or_default()
    }
    /// Instance `i`'s current process (None before the first one was started).
    pub fn process(&self, i: usize) -> Option<Process> {
        self.shared
            .with_instance(i, |x| {
                x.started.map(|started| Process {
                    pid: x.pid,
                    started,
                    ready: x.ready,
                    asks: x.asks,
                })
            })
            .flatten()
    }

    /// The instances holding an invocation now.
    pub fn busy(&self) -> Vec<usize> {
        self.shared
            .instances
            .lock()
            .map(|all| {
                all.iter()
                    .enumerate()
                    .filter(|(_, x)| x.current.is_some())
                    .map(|(i, _)| i)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// SIGKILLs instance `i`'s process (a crash, an out-of-memory kill): the invocation it holds
    /// fails with `Runtime.ExitError` and a new process replaces it. True if a signal was sent.
    pub fn kill(&self, i: usize) -> bool {
        self.shared.kill(i)
    }

    /// SIGKILLs every instance holding an invocation; how many were killed.
    pub fn kill_busy(&self) -> usize {
        self.busy().into_iter().filter(|i| self.kill(*i)).count()
    }

    /// The `Timeout` invocations handed out from now on get: `Some` overrides the template's
    /// (a test that needs a function to time out soon), `None` restores it.
    pub fn set_timeout(&self, timeout: Option<Duration>) {
        if let Ok(mut t) = self.shared.timeout.lock() {
            *t = timeout.unwrap_or(self.spec.timeout);
        }
    }

    /// The reserved concurrency from now on (None: unreserved); the template's is
    /// `spec.reserved_concurrency`.
    pub fn set_reserved_concurrency(&self, limit: Option<usize>) {
        if let Ok(mut r) = self.shared.reserved.lock() {
            *r = limit;
        }
    }

    /// Installs (or removes) the function's [`Tap`].
    pub fn set_tap(&self, tap: Option<Tap>) {
        if let Ok(mut t) = self.shared.tap.lock() {
            *t = tap;
        }
    }

    pub fn arn(&self) -> &str {
        &self.shared.arn
    }

    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for pid in self.pids().into_iter().flatten() {
            // SIGTERM, as Lambda does on shutdown; kill_on_drop reaps the rest.
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        self.stop();
        for server in &self.servers {
            server.abort();
        }
    }
}

fn fail_one_pending(s: &Shared, err: Value) {
    if let Ok(mut rx) = s.queue_rx.try_lock()
        && let Ok(p) = rx.try_recv()
    {
        drop(p.slot);
        let _ = p.reply.send(Answer::Err(err));
    }
}
