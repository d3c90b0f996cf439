//! The local stack: the whole pipeline in one process, on SQLite by default, no AWS account.
//!
//! Every route is served by the same handler functions the Lambda functions run
//! (`inventory::api::handle`, `inventory::orderer::handle_batch`, `inventory::messaging::relay_once`);
//! what is local is only the plumbing AWS provides: the HTTP gateway, SNS → SQS (+DLQ) and the
//! event source mapping (`bus`), the schedules, Firehose → S3 (`firehose`), the factory
//! stand-in and CloudWatch alarms (`/ops/alarms`). It also serves the contract: `/openapi.yaml`
//! and a readable reference generated from it at `/docs` (`apidocs`; local only, not deployed).

pub mod apidocs;
pub mod bus;
pub mod firehose;

use axum::body::Body as AxumBody;
use axum::extract::State;
use axum::http::{Request as HttpRequest, StatusCode};
use axum::response::{IntoResponse, Response as AxumResponse};
use bus::{LocalQueue, LocalTopic};
use clap::Parser;
use inventory::api::{AdminToken, Api, App, Function};
use inventory::capture::{DynCapture, NoCapture};
use inventory::domain::{ProductSpec, Sku};
use inventory::factory::{CallbackSigner, FactoryClient, FactorySettings};
use inventory::messaging::{DynPublisher, RelaySettings, relay_once};
use inventory::orderer::Orderer;
use inventory::sim::{Answer, FactorySim, Knobs, KnobsPatch};
use inventory::store::{DynStore, PoolSettings};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;
use tracing::Instrument;

/// Runs the donut pipeline locally: Sales API, outbox relay, SNS→SQS(+DLQ)→factory-orderer,
/// a factory stand-in, the restock callback and API capture to a local bucket.
#[derive(Debug, Clone, Parser)]
#[command(name = "devstack", version, about, long_about = None)]
pub struct Options {
    /// Port to serve the API on (127.0.0.1 only; 0 picks a free port).
    #[arg(long, env = "DEVSTACK_PORT", default_value_t = 3000)]
    pub port: u16,
    /// Directory for the SQLite database, the callback key and the local bucket.
    #[arg(long, env = "DEVSTACK_DATA_DIR", default_value = ".devstack")]
    pub data_dir: PathBuf,
    /// Use this database instead of SQLite in --data-dir (mysql://user:pass@host:port/db).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Bearer token of the admin routes.
    #[arg(
        long,
        env = "ADMIN_TOKEN",
        default_value = "dev-admin-token",
        hide_env_values = true
    )]
    pub admin_token: String,
    /// Key signing factory callback URLs (default: generated once into --data-dir).
    #[arg(long, env = "CALLBACK_SECRET", hide_env_values = true)]
    pub callback_secret: Option<String>,
    /// A real Factory API base URL (default: the built-in stand-in at /factory-sim).
    #[arg(long, env = "FACTORY_URL")]
    pub factory_url: Option<String>,
    /// Factory stand-in: time from acceptance to completion callback.
    #[arg(long, default_value_t = 2000)]
    pub factory_delay_ms: u64,
    /// Factory stand-in: extra latency of every answer.
    #[arg(long, default_value_t = 0)]
    pub factory_latency_ms: u64,
    /// Factory stand-in: probability (0..1) of answering 500.
    #[arg(long, default_value_t = 0.0)]
    pub factory_failure_rate: f64,
    /// Factory stand-in: start "down" (503 to everything).
    #[arg(long, default_value_t = false)]
    pub factory_down: bool,
    /// Timeout of a factory call.
    #[arg(long, env = "FACTORY_TIMEOUT_MS", default_value_t = 5000)]
    pub factory_timeout_ms: u64,
    /// Visibility timeout of the factory-orders queue (SQS retry delay).
    #[arg(long, default_value_t = 3000)]
    pub visibility_timeout_ms: u64,
    /// maxReceiveCount of the factory-orders queue before its DLQ.
    #[arg(long, default_value_t = 5)]
    pub max_receive_count: u32,
    /// Concurrent factory-orderer invocations (MaximumConcurrency).
    #[arg(long, default_value_t = 2)]
    pub orderer_concurrency: usize,
    /// Outbox relay period.
    #[arg(long, default_value_t = 2000)]
    pub relay_interval_ms: u64,
    /// Age before the relay publishes an unpublished stock-out.
    #[arg(long, env = "OUTBOX_GRACE_SECS", default_value_t = 3)]
    pub outbox_grace_secs: u64,
    /// A requested order without completion after this is re-sent.
    #[arg(long, env = "ORDER_DEADLINE_SECS", default_value_t = 60)]
    pub order_deadline_secs: u64,
    /// Requests to the factory before an order is failed.
    #[arg(long, env = "MAX_ORDER_ATTEMPTS", default_value_t = 5)]
    pub max_order_attempts: i64,
    /// Database pool size.
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// Turn API capture off.
    #[arg(long, default_value_t = false)]
    pub no_capture: bool,
    /// Capture buffer: flush at this many bytes.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub capture_buffer_bytes: usize,
    /// Capture buffer: flush at this age.
    #[arg(long, default_value_t = 5000)]
    pub capture_buffer_ms: u64,
    /// Do not seed demo products into an empty database.
    #[arg(long, default_value_t = false)]
    pub no_seed: bool,
    /// Write the metrics (CloudWatch EMF lines, Service "devstack") to stdout every this many
    /// ms; 0 = never (tests read them with `inventory::metrics::flush_to`).
    #[arg(long, env = "METRICS_FLUSH_MS", default_value_t = 10_000)]
    pub metrics_flush_ms: u64,
    /// Period of the count-based local alarms (CaptureFailures: ALARM while records were lost
    /// within the last period; 300 s on AWS).
    #[arg(long, default_value_t = 60)]
    pub alarm_period_secs: u64,
    /// Local FactoryOrdersQueueAge alarm: the oldest factory-orders message is older than this.
    #[arg(long, default_value_t = 60)]
    pub queue_age_alarm_secs: u64,
}

impl Options {
    /// Options for tests: a free port, a given data dir, fast timers.
    pub fn for_tests(data_dir: PathBuf) -> Self {
        let mut o = Options::parse_from(["devstack", "--no-seed"]);
        o.port = 0;
        o.data_dir = data_dir;
        o.database_url = None;
        o.admin_token = "test-admin-token".into();
        o.callback_secret = Some("test-callback-secret".into());
        o.factory_url = None;
        o.factory_delay_ms = 50;
        o.visibility_timeout_ms = 200;
        o.relay_interval_ms = 200;
        o.outbox_grace_secs = 1;
        o.capture_buffer_ms = 300;
        o.metrics_flush_ms = 0;
        o
    }
}

/// A local alarm, evaluated every second like a CloudWatch alarm. `aws_alarm` is the logical id
/// of the alarm in `template.yaml` that watches the same condition on AWS.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct Alarm {
    pub name: &'static str,
    pub aws_alarm: &'static str,
    pub state: &'static str,
    pub reason: String,
}

/// The local alarms: (local name, template.yaml alarm, what it watches).
pub const ALARMS: &[(&str, &str, &str)] = &[
    (
        "FactoryOrdersDLQNotEmpty",
        "FactoryOrdersDlqAlarm",
        "messages in the factory-orders DLQ",
    ),
    (
        "FactoryOrdersQueueAge",
        "FactoryOrdersAgeAlarm",
        "age of the oldest message in the factory-orders queue",
    ),
    (
        "FactoryOrderFailed",
        "OrdersFailedAlarm",
        "factory orders failed and not superseded by a newer order for the SKU",
    ),
    (
        "CaptureFailures",
        "CaptureFailuresAlarm",
        "capture records lost within the alarm period",
    ),
];

/// Settings of the local alarms.
#[derive(Debug, Clone)]
pub struct AlarmSettings {
    pub period: Duration,
    pub queue_age: Duration,
}

/// What the count-based alarms remember between evaluations.
#[derive(Debug, Default)]
pub struct AlarmMemory {
    capture_seen: u64,
    capture_last_loss: Option<std::time::Instant>,
}

pub struct Shared {
    pub api: App,
    pub store: DynStore,
    pub sim: Arc<FactorySim>,
    pub queue: Arc<LocalQueue>,
    pub dlq: Arc<LocalQueue>,
    pub topic: Arc<LocalTopic>,
    /// The topic, as the publisher the API and the relay use (operator retries publish here).
    pub publisher: DynPublisher,
    pub capture_failures: Box<dyn Fn() -> u64 + Send + Sync>,
    pub alarms: std::sync::Mutex<Vec<Alarm>>,
    pub alarm_settings: AlarmSettings,
    pub alarm_memory: std::sync::Mutex<AlarmMemory>,
    pub http: reqwest::Client,
    pub sim_latency: Duration,
    /// While true, the factory stand-in holds completions back (a factory that is slow to
    /// finish batches); they are sent once released.
    pub hold_completions: watch::Sender<bool>,
}

pub struct Stack {
    pub addr: SocketAddr,
    pub base_url: String,
    pub shared: Arc<Shared>,
    pub admin_token: String,
    pub data_dir: PathBuf,
    shutdown: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
    capture_task: Option<tokio::task::JoinHandle<()>>,
    background: Vec<tokio::task::JoinHandle<()>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create data dir {0}: {1}")]
    DataDir(PathBuf, std::io::Error),
    #[error("database: {0}")]
    Store(#[from] inventory::store::StoreError),
    #[error("cannot listen on 127.0.0.1:{0}: {1}")]
    Bind(u16, std::io::Error),
    #[error("{0}")]
    Config(String),
}

const DEMO: &[(&str, &str, i64, i64, i64)] = &[
    ("glazed", "Original Glazed", 50, 5, 100),
    ("chocolate", "Chocolate Iced", 30, 5, 60),
    ("boston-cream", "Boston Cream", 20, 3, 40),
    ("sprinkles", "Strawberry Sprinkles", 10, 0, 24),
];

impl Stack {
    pub async fn start(opts: Options) -> Result<Stack, StartError> {
        std::fs::create_dir_all(&opts.data_dir)
            .map_err(|e| StartError::DataDir(opts.data_dir.clone(), e))?;
        let data_dir = std::fs::canonicalize(&opts.data_dir)
            .map_err(|e| StartError::DataDir(opts.data_dir.clone(), e))?;
        let url = opts.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("devstack.db").display()
            )
        });
        let store = inventory::store::connect(
            &url,
            &PoolSettings {
                max_connections: opts.db_max_connections,
                ..PoolSettings::default()
            },
        )?;
        store.migrate().await?;
        // One process, one Service dimension: every metric of the local stack is "devstack".
        inventory::metrics::init("devstack");
        if !opts.no_seed && store.products().await?.is_empty() {
            for (sku, name, stock, rp, rq) in DEMO {
                let sku = Sku::parse(sku).map_err(|e| StartError::Config(e.to_string()))?;
                let spec =
                    ProductSpec::new(sku, Some((*name).into()), *stock, Some(*rp), Some(*rq))
                        .map_err(|e| StartError::Config(e.to_string()))?;
                store.put_product(&spec).await?;
            }
        }
        let secret = match &opts.callback_secret {
            Some(s) => s.clone(),
            None => callback_secret_file(&data_dir)?,
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port))
            .await
            .map_err(|e| StartError::Bind(opts.port, e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| StartError::Bind(opts.port, e))?;
        let base_url = format!("http://{addr}");
        let (shutdown, shutdown_rx) = watch::channel(false);

        let dlq = LocalQueue::new(
            "factory-orders-dlq",
            Duration::from_secs(30),
            u32::MAX,
            None,
        );
        let queue = LocalQueue::new(
            "factory-orders",
            Duration::from_millis(opts.visibility_timeout_ms),
            opts.max_receive_count,
            Some(dlq.clone()),
        );
        let topic = Arc::new(LocalTopic {
            subscribers: vec![queue.clone()],
            down: Default::default(),
        });
        let publisher: DynPublisher = topic.clone();
        let sim = Arc::new(FactorySim::new(Knobs {
            delay_ms: opts.factory_delay_ms,
            latency_ms: opts.factory_latency_ms,
            failure_rate: opts.factory_failure_rate,
            down: opts.factory_down,
        }));
        let signer = CallbackSigner::new(&secret);
        let factory = FactoryClient::new(
            FactorySettings {
                base_url: opts
                    .factory_url
                    .clone()
                    .unwrap_or_else(|| format!("{base_url}/factory-sim")),
                factory_id: "donut-factory-1".into(),
                requester: "donut-shop".into(),
                callback_base: base_url.clone(),
                timeout: Duration::from_millis(opts.factory_timeout_ms),
            },
            signer.clone(),
        )
        .map_err(|e| StartError::Config(e.to_string()))?;
        let orderer = Arc::new(Orderer {
            store: store.clone(),
            factory,
            max_receive_count: opts.max_receive_count,
        });

        let (capture, capture_failures, capture_task): (
            DynCapture,
            Box<dyn Fn() -> u64 + Send + Sync>,
            _,
        ) = if opts.no_capture {
            (Arc::new(NoCapture), Box::new(|| 0), None)
        } else {
            let (sink, task) = firehose::start(
                data_dir.join("bucket"),
                firehose::Buffering {
                    max_bytes: opts.capture_buffer_bytes,
                    max_age: Duration::from_millis(opts.capture_buffer_ms),
                },
                shutdown_rx.clone(),
            );
            let failures = sink.failures.clone();
            (
                sink,
                Box::new(move || failures.load(Ordering::Relaxed)),
                Some(task),
            )
        };

        let api = App::new(Api {
            service: "devstack",
            serves: Function::ALL,
            store: store.clone(),
            publisher: Some(publisher.clone()),
            admin: Some(AdminToken::new(&opts.admin_token)),
            callbacks: Some(signer),
            capture,
        });
        let shared = Arc::new(Shared {
            api,
            store: store.clone(),
            sim: sim.clone(),
            queue: queue.clone(),
            dlq: dlq.clone(),
            topic: topic.clone(),
            publisher: publisher.clone(),
            capture_failures,
            alarms: std::sync::Mutex::new(Vec::new()),
            alarm_settings: AlarmSettings {
                period: Duration::from_secs(opts.alarm_period_secs.max(1)),
                queue_age: Duration::from_secs(opts.queue_age_alarm_secs),
            },
            alarm_memory: Default::default(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| StartError::Config(e.to_string()))?,
            sim_latency: Duration::from_millis(opts.factory_latency_ms),
            hold_completions: watch::channel(false).0,
        });

        let mut background = Vec::new();
        for _ in 0..opts.orderer_concurrency.max(1) {
            background.push(tokio::spawn(bus::run_poller(
                queue.clone(),
                orderer.clone(),
                10,
                shutdown_rx.clone(),
            )));
        }
        let relay = RelaySettings {
            grace_ms: (opts.outbox_grace_secs * 1000) as i64,
            order_deadline_ms: (opts.order_deadline_secs * 1000) as i64,
            max_order_attempts: opts.max_order_attempts,
        };
        background.push(tokio::spawn(run_relay(
            store.clone(),
            publisher,
            relay,
            Duration::from_millis(opts.relay_interval_ms),
            shutdown_rx.clone(),
        )));
        background.push(tokio::spawn(run_alarms(
            shared.clone(),
            shutdown_rx.clone(),
        )));
        if opts.metrics_flush_ms > 0 {
            let mut stop = shutdown_rx.clone();
            background.push(tokio::spawn(inventory::metrics::flush_every(
                Duration::from_millis(opts.metrics_flush_ms),
                async move {
                    let _ = stop.wait_for(|s| *s).await;
                },
            )));
        }

        let app = axum::Router::new()
            .fallback(gateway)
            .with_state(shared.clone());
        let mut srv_shutdown = shutdown_rx.clone();
        let server = tokio::spawn(async move {
            let res = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = srv_shutdown.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = res {
                tracing::error!(error = %e, "devstack server failed");
            }
        });
        Ok(Stack {
            addr,
            base_url,
            shared,
            admin_token: opts.admin_token.clone(),
            data_dir,
            shutdown,
            server,
            capture_task,
            background,
        })
    }

    pub fn store(&self) -> &DynStore {
        &self.shared.store
    }

    /// Stops serving, lets in-flight requests finish and flushes the capture buffer.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.server.await;
        for t in self.background {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        // The capture sink lives in `shared`: once the last handle is gone the writer flushes
        // and stops at once instead of waiting for the quiet linger.
        drop(self.shared);
        if let Some(t) = self.capture_task {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }

    /// Evaluates the local alarms now (also done every second in the background).
    pub async fn evaluate_alarms(&self) -> Vec<Alarm> {
        evaluate_alarms(&self.shared).await
    }
}

fn callback_secret_file(dir: &std::path::Path) -> Result<String, StartError> {
    let path = dir.join("callback-secret");
    if let Ok(s) = std::fs::read_to_string(&path)
        && !s.trim().is_empty()
    {
        return Ok(s.trim().to_owned());
    }
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    std::fs::write(&path, &secret).map_err(|e| StartError::DataDir(path, e))?;
    Ok(secret)
}

async fn run_relay(
    store: DynStore,
    publisher: DynPublisher,
    settings: RelaySettings,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        match relay_once(&store, &publisher, &settings).await {
            Ok(r) if r.published + r.resent + r.failed_orders.len() + r.publish_failures > 0 => {
                tracing::info!(report = ?r, "outbox relay pass");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "outbox relay pass failed"),
        }
    }
}

async fn evaluate_alarms(shared: &Shared) -> Vec<Alarm> {
    let settings = &shared.alarm_settings;
    let depth = shared.dlq.depth();
    let age = shared.queue.oldest_age();
    let failed = ops::failed_orders_needing_action(&shared.store).await;
    let capture = (shared.capture_failures)();
    let recent_loss = {
        let mut memory = shared
            .alarm_memory
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // (The CaptureFailures metric is counted where records are lost, in `firehose`.)
        if capture > memory.capture_seen {
            memory.capture_seen = capture;
            memory.capture_last_loss = Some(std::time::Instant::now());
        }
        memory
            .capture_last_loss
            .is_some_and(|t| t.elapsed() < settings.period)
    };
    let alarm = |name: &'static str, bad: bool, reason: String| Alarm {
        name,
        aws_alarm: ALARMS
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, aws, _)| *aws)
            .unwrap_or(""),
        state: if bad { "ALARM" } else { "OK" },
        reason,
    };
    vec![
        alarm(
            "FactoryOrdersDLQNotEmpty",
            depth > 0,
            format!("{depth} message(s) in {}", shared.dlq.name),
        ),
        alarm(
            "FactoryOrdersQueueAge",
            depth_age_breached(age, settings.queue_age, shared.queue.depth()),
            format!(
                "oldest message in {} is {} s old (threshold {} s)",
                shared.queue.name,
                age.as_secs(),
                settings.queue_age.as_secs()
            ),
        ),
        match failed {
            Ok(orders) => alarm(
                "FactoryOrderFailed",
                !orders.is_empty(),
                if orders.is_empty() {
                    "no failed factory order awaiting action".to_owned()
                } else {
                    format!(
                        "{} factory order(s) failed: {}",
                        orders.len(),
                        orders
                            .iter()
                            .take(5)
                            .map(|o| format!("{} ({})", o.id, o.sku))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
            ),
            // INSUFFICIENT_DATA, as CloudWatch says when it cannot evaluate.
            Err(e) => Alarm {
                state: "INSUFFICIENT_DATA",
                ..alarm(
                    "FactoryOrderFailed",
                    false,
                    format!("cannot read the orders: {e}"),
                )
            },
        },
        alarm(
            "CaptureFailures",
            recent_loss,
            format!(
                "{capture} capture record(s) lost since start; ALARM while any was lost in the last {} s",
                settings.period.as_secs()
            ),
        ),
    ]
}

fn depth_age_breached(age: Duration, threshold: Duration, depth: usize) -> bool {
    depth > 0 && age > threshold
}

async fn run_alarms(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let now = evaluate_alarms(&shared).await;
        let before = shared
            .alarms
            .lock()
            .map(|mut a| std::mem::replace(&mut *a, now.clone()))
            .unwrap_or_default();
        for a in &now {
            let was = before.iter().find(|b| b.name == a.name).map(|b| b.state);
            if was != Some(a.state) && !(was.is_none() && a.state == "OK") {
                if a.state == "ALARM" {
                    tracing::error!(alarm = a.name, aws_alarm = a.aws_alarm, state = a.state, previous = was.unwrap_or("-"), reason = %a.reason, "ALARM {}: {}", a.name, a.reason);
                } else {
                    tracing::info!(alarm = a.name, aws_alarm = a.aws_alarm, state = a.state, previous = was.unwrap_or("-"), reason = %a.reason, "{} {}: {}", a.state, a.name, a.reason);
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Largest body the local gateway reads (API Gateway's own limit is 10 MB; the API's is 16 KiB,
/// so anything between is answered 413 by the handler).
const GATEWAY_BODY_LIMIT: usize = 2 * 1024 * 1024;

fn json_response(status: u16, body: Value) -> AxumResponse {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [
            ("content-type", "application/json".to_owned()),
            // Every response carries a correlation id, the gateway's own ones included.
            ("x-correlation-id", uuid::Uuid::new_v4().to_string()),
        ],
        body.to_string(),
    )
        .into_response()
}

/// The local API Gateway: turns the HTTP request into the `lambda_http::Request` a Lambda
/// function receives and calls the same handler.
async fn gateway(State(shared): State<Arc<Shared>>, req: HttpRequest<AxumBody>) -> AxumResponse {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let bytes = match axum::body::to_bytes(body, GATEWAY_BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return json_response(
                413,
                json!({"error": "payload_too_large", "message": format!("request body exceeds {GATEWAY_BODY_LIMIT} bytes")}),
            );
        }
    };
    if let Some(page) = docs_route(parts.method.as_str(), &path) {
        return page;
    }
    if let Some(rest) = path.strip_prefix("/factory-sim") {
        let correlation_id = parts
            .headers
            .get("x-correlation-id")
            .and_then(|v| v.to_str().ok());
        return factory_sim(&shared, parts.method.as_str(), rest, &bytes, correlation_id).await;
    }
    if let Some(rest) = path.strip_prefix("/ops/") {
        let query = parts.uri.query().unwrap_or_default();
        return ops_route(&shared, parts.method.as_str(), rest, query).await;
    }
    let body = if bytes.is_empty() {
        lambda_http::Body::Empty
    } else {
        match String::from_utf8(bytes.to_vec()) {
            Ok(s) => lambda_http::Body::Text(s),
            Err(e) => lambda_http::Body::Binary(e.into_bytes()),
        }
    };
    let lreq = lambda_http::Request::from_parts(parts, body);
    let res = shared.api.handle(lreq).await;
    let (parts, body) = res.into_parts();
    let body = match body {
        lambda_http::Body::Text(s) => AxumBody::from(s),
        lambda_http::Body::Binary(b) => AxumBody::from(b),
        _ => AxumBody::empty(),
    };
    AxumResponse::from_parts(parts, body)
}

/// `GET /openapi.yaml` (docs/openapi.yaml as built in) and `GET /docs` (the API reference page).
fn docs_route(method: &str, path: &str) -> Option<AxumResponse> {
    let (content_type, body) = match path {
        "/openapi.yaml" => ("application/yaml; charset=utf-8", apidocs::OPENAPI_YAML),
        "/docs" | "/docs/" => ("text/html; charset=utf-8", apidocs::docs_html()),
        _ => return None,
    };
    if method != "GET" && method != "HEAD" {
        let mut r = json_response(
            405,
            json!({"error": "method_not_allowed", "message": format!("{path} accepts GET")}),
        );
        r.headers_mut()
            .insert("allow", axum::http::HeaderValue::from_static("GET, HEAD"));
        return Some(r);
    }
    Some(
        (
            StatusCode::OK,
            [
                ("content-type", content_type),
                ("cache-control", "no-cache"),
            ],
            body,
        )
            .into_response(),
    )
}

async fn factory_sim(
    shared: &Arc<Shared>,
    method: &str,
    path: &str,
    body: &[u8],
    correlation_id: Option<&str>,
) -> AxumResponse {
    match (method, path) {
        ("POST", "/api/manufactures") => {
            let started = std::time::Instant::now();
            let span = tracing::info_span!(
                "factory_sim",
                correlation_id = %inventory::domain::correlation_id(correlation_id)
            );
            let latency = Duration::from_millis(shared.sim.knobs().latency_ms);
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            let req = match inventory::sim::parse_request(body) {
                Ok(r) => r,
                Err(e) => {
                    span.in_scope(|| tracing::warn!(outcome = "bad_request", status = 400, error = %e, "factory-sim: manufacture request"));
                    return json_response(400, json!({"error": "bad_request", "message": e}));
                }
            };
            let factory_order_id = req.message_group_id.clone();
            let answer = shared.sim.answer(&req);
            let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
            match answer {
                Answer::Accepted {
                    reference,
                    schedule,
                } => {
                    span.in_scope(|| tracing::info!(outcome = "accepted", status = 202, factory_order_id = %factory_order_id, factory_ref = %reference, repeat = schedule.is_none(), latency_ms, "factory-sim: manufacture request"));
                    if let Some((url, completion)) = schedule {
                        let delay = Duration::from_millis(shared.sim.knobs().delay_ms);
                        let shared = shared.clone();
                        let mut hold = shared.hold_completions.subscribe();
                        let task_span = span.clone();
                        tokio::spawn(
                            async move {
                                tokio::time::sleep(delay).await;
                                let _ = hold.wait_for(|held| !*held).await;
                                let status =
                                    inventory::sim::deliver(&shared.http, &url, &completion).await;
                                let delivered = status.is_some_and(|s| (200..300).contains(&s));
                                if delivered {
                                    shared.sim.completions.fetch_add(1, Ordering::Relaxed);
                                }
                                tracing::info!(outcome = if delivered { "delivered" } else { "not_delivered" }, callback_status = status, factory_order_id = %completion.message_group_id.as_deref().unwrap_or("-"), "factory-sim: completion callback");
                            }
                            .instrument(task_span),
                        );
                    }
                    json_response(202, json!({"reference": reference, "status": "accepted"}))
                }
                Answer::Failed(status, why) => {
                    span.in_scope(|| tracing::warn!(outcome = "failed", status, factory_order_id = %factory_order_id, error = why, latency_ms, "factory-sim: manufacture request"));
                    json_response(status, json!({"error": "factory_error", "message": why}))
                }
            }
        }
        ("GET", "/control") => json_response(200, sim_state(shared)),
        ("POST", "/control") => match serde_json::from_slice::<KnobsPatch>(body) {
            Ok(p) => {
                let knobs = shared.sim.set(p);
                tracing::warn!(knobs = ?knobs, "factory-sim: knobs changed");
                json_response(200, sim_state(shared))
            }
            Err(e) => json_response(
                400,
                json!({"error": "invalid_request", "message": e.to_string()}),
            ),
        },
        _ => json_response(
            404,
            json!({"error": "not_found", "message": "unknown factory-sim route"}),
        ),
    }
}

fn sim_state(shared: &Shared) -> Value {
    let s = &shared.sim;
    json!({
        "knobs": s.knobs(),
        "requests": s.requests.load(Ordering::Relaxed),
        "batches": s.batches.load(Ordering::Relaxed),
        "completions": s.completions.load(Ordering::Relaxed),
    })
}

fn query_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then_some(v)
    })
}

fn ops_error(e: ops::OpsError) -> AxumResponse {
    json_response(
        e.status(),
        json!({"error": e.code(), "message": e.to_string()}),
    )
}

/// The local-only `/ops/*` routes (the operator's view; `donut-ops` speaks to them).
async fn ops_route(shared: &Arc<Shared>, method: &str, path: &str, query: &str) -> AxumResponse {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match (method, segs.as_slice()) {
        ("GET", ["alarms"]) => {
            let alarms = evaluate_alarms(shared).await;
            json_response(200, json!({ "alarms": alarms }))
        }
        ("GET", ["dlq"]) => {
            let mut messages = Vec::new();
            for m in shared.dlq.peek_all() {
                let mut view = ops::explain_message(&shared.store, &m.body).await;
                view["message_id"] = json!(m.message_id);
                view["receive_count"] = json!(m.receive_count);
                view["attributes"] = json!(m.attributes);
                view["sent_at"] = json!(inventory::domain::rfc3339(m.sent_at_ms as i64));
                messages.push(view);
            }
            json_response(
                200,
                json!({ "queue": shared.dlq.name, "depth": messages.len(), "messages": messages }),
            )
        }
        ("POST", ["dlq", "redrive"]) => {
            let moved = shared.dlq.redrive_to(&shared.queue);
            inventory::metrics::dlq_redrives(moved as u64);
            tracing::warn!(
                moved,
                source = %shared.dlq.name,
                target = %shared.queue.name,
                "DLQ redriven"
            );
            json_response(200, json!({ "moved": moved }))
        }
        ("GET", ["ledger"]) => match shared.store.ledger().await {
            Ok(rows) => json_response(
                200,
                json!({ "ledger": rows.iter().map(|l| json!({
                    "sku": l.sku, "stock": l.stock, "sold": l.sold,
                    "restocked": l.restocked, "open_orders": l.open_orders,
                    "implied_initial": l.stock + l.sold - l.restocked,
                })).collect::<Vec<_>>() }),
            ),
            Err(e) => ops_error(e.into()),
        },
        ("GET", ["factory-orders"]) => {
            let status = query_param(query, "status").unwrap_or("failed");
            let older_than = match query_param(query, "older_than_secs").map(str::parse::<u64>) {
                None => Duration::from_secs(60),
                Some(Ok(n)) => Duration::from_secs(n),
                Some(Err(_)) => {
                    return ops_error(ops::OpsError::Invalid(
                        "older_than_secs must be a whole number of seconds".into(),
                    ));
                }
            };
            match ops::list_orders(&shared.store, status, older_than).await {
                Ok(orders) => json_response(
                    200,
                    json!({ "status": status, "count": orders.len(), "factory_orders": orders }),
                ),
                Err(e) => ops_error(e),
            }
        }
        ("POST", ["factory-orders", id, "retry"]) => {
            match ops::retry_order(&shared.store, &shared.publisher, id).await {
                Ok(v) => json_response(200, v),
                Err(e) => ops_error(e),
            }
        }
        ("GET", ["skus", sku, "history"]) => {
            let since_hours = query_param(query, "since_hours")
                .and_then(|h| h.parse::<i64>().ok())
                .unwrap_or(24);
            match ops::sku_history(&shared.store, sku, since_hours).await {
                Ok(v) => json_response(200, v),
                Err(e) => ops_error(e),
            }
        }
        _ => json_response(
            404,
            json!({"error": "not_found", "message": "unknown ops route"}),
        ),
    }
}

/// Why a DLQ message failed, explained from the message and the database.
pub async fn dlq_reason(shared: &Shared, body: &str) -> String {
    ops::explain(&shared.store, body).await
}

/// What an operator does, on any store and publisher: shared by the local `/ops` routes and by
/// `donut-ops` against a deployed stack's database.
pub mod ops {
    use inventory::api::{order_json, product_json};
    use inventory::domain::{
        FactoryOrder, OrderStatus, Sku, StockOutEvent, new_id, now_millis, rfc3339,
    };
    use inventory::messaging::DynPublisher;
    use inventory::orderer::decode;
    use inventory::store::{DynStore, StoreError};
    use serde_json::{Value, json};
    use std::collections::HashMap;
    use std::time::Duration;
    use tracing::Instrument;

    /// The most orders of one status an operator query reads (oldest first).
    pub const SCAN_LIMIT: i64 = 100_000;

    #[derive(Debug, thiserror::Error)]
    pub enum OpsError {
        #[error("{0}")]
        Invalid(String),
        #[error("{0}")]
        NotFound(String),
        #[error("{0}")]
        Conflict(String),
        #[error(transparent)]
        Store(#[from] StoreError),
        #[error("publish failed: {0}")]
        Publish(String),
    }

    impl OpsError {
        pub fn status(&self) -> u16 {
            match self {
                OpsError::Invalid(_) => 400,
                OpsError::NotFound(_) => 404,
                OpsError::Conflict(_) => 409,
                OpsError::Store(_) => 503,
                OpsError::Publish(_) => 502,
            }
        }
        pub fn code(&self) -> &'static str {
            match self {
                OpsError::Invalid(_) => "invalid_request",
                OpsError::NotFound(_) => "not_found",
                OpsError::Conflict(_) => "conflict",
                OpsError::Store(_) => "unavailable",
                OpsError::Publish(_) => "publish_failed",
            }
        }
    }

    /// A DLQ message explained: its event (if it decodes) and what the database says about its
    /// order. `reason` is one line for a human.
    pub async fn explain_message(store: &DynStore, body: &str) -> Value {
        let reason = explain(store, body).await;
        match decode(body) {
            Ok(ev) => json!({
                "correlation_id": ev.correlation_id,
                "event_id": ev.event_id,
                "factory_order_id": ev.factory_order_id,
                "sku": ev.sku,
                "quantity": ev.quantity,
                "body": serde_json::to_value(&ev).unwrap_or(Value::Null),
                "reason": reason,
            }),
            Err(_) => json!({
                "body": serde_json::from_str::<Value>(body).unwrap_or(Value::String(body.chars().take(2000).collect())),
                "reason": reason,
            }),
        }
    }

    /// Why a DLQ message failed, in one line.
    pub async fn explain(store: &DynStore, body: &str) -> String {
        match decode(body) {
            Err(e) => e.to_string(),
            Ok(ev) => match store.factory_order(&ev.factory_order_id).await {
                Ok(Some(o)) => format!(
                    "factory order {} is {} after {} attempt(s); last error: {}",
                    o.id,
                    o.status.as_str(),
                    o.attempts,
                    o.last_error.as_deref().unwrap_or("none")
                ),
                Ok(None) => format!("unknown factory order {}", ev.factory_order_id),
                Err(e) => format!("could not look the order up: {e}"),
            },
        }
    }

    async fn all_orders(store: &DynStore) -> Result<Vec<FactoryOrder>, StoreError> {
        let mut all = Vec::new();
        for status in [
            OrderStatus::Pending,
            OrderStatus::Requested,
            OrderStatus::Fulfilled,
            OrderStatus::Failed,
        ] {
            all.extend(store.orders_in(status, SCAN_LIMIT).await?);
        }
        Ok(all)
    }

    /// Failed orders an operator must act on: the newest order of their SKU is this failed one
    /// (a failed order superseded by a newer order for the SKU needs nothing more).
    pub async fn failed_orders_needing_action(
        store: &DynStore,
    ) -> Result<Vec<FactoryOrder>, StoreError> {
        let failed = store.orders_in(OrderStatus::Failed, 1000).await?;
        if failed.is_empty() {
            return Ok(failed);
        }
        let mut newest: HashMap<String, (i64, String)> = HashMap::new();
        for o in all_orders(store).await? {
            let e = newest
                .entry(o.sku.to_string())
                .or_insert((o.created_at, o.id.clone()));
            if (o.created_at, &o.id) > (e.0, &e.1) {
                *e = (o.created_at, o.id.clone());
            }
        }
        Ok(failed
            .into_iter()
            .filter(|f| newest.get(f.sku.as_str()).is_none_or(|(_, id)| *id == f.id))
            .collect())
    }

    fn order_summary(o: &FactoryOrder, now: i64) -> Value {
        let mut v = order_json(o);
        if let Some(m) = v.as_object_mut() {
            m.remove("transitions");
            m.insert("age_secs".into(), json!((now - o.updated_at).max(0) / 1000));
            m.insert("correlation_id".into(), json!(o.correlation_id));
        }
        v
    }

    /// Orders in a status: `failed`, `pending`, `requested`, `fulfilled`, or `stuck` (pending or
    /// requested, unchanged for `older_than`).
    pub async fn list_orders(
        store: &DynStore,
        status: &str,
        older_than: Duration,
    ) -> Result<Vec<Value>, OpsError> {
        let now = now_millis();
        let orders = match status {
            "stuck" => {
                let cutoff = now - older_than.as_millis() as i64;
                let mut v = store.orders_in(OrderStatus::Pending, SCAN_LIMIT).await?;
                v.extend(store.orders_in(OrderStatus::Requested, SCAN_LIMIT).await?);
                v.retain(|o| o.updated_at <= cutoff);
                v.sort_by_key(|o| o.updated_at);
                v
            }
            other => {
                let s = OrderStatus::parse(other).ok_or_else(|| {
                    OpsError::Invalid(format!(
                        "status must be failed, stuck, pending, requested or fulfilled, not {other:?}"
                    ))
                })?;
                store.orders_in(s, SCAN_LIMIT).await?
            }
        };
        Ok(orders.iter().map(|o| order_summary(o, now)).collect())
    }

    /// An operator's retry: a failed order is reopened (`failed -> pending`), a stuck one
    /// (pending/requested) kept, and a new stock-out event for it — same order id, so the same
    /// factory idempotency key, and the order's correlation id — is published to the topic.
    /// If the publish fails the order is left `pending`: run the retry again.
    pub async fn retry_order(
        store: &DynStore,
        publisher: &DynPublisher,
        id: &str,
    ) -> Result<Value, OpsError> {
        let id = inventory::domain::parse_id(id)
            .map_err(|_| OpsError::Invalid(format!("{id:?} is not a factory order id")))?;
        let order = store
            .factory_order(&id)
            .await?
            .ok_or_else(|| OpsError::NotFound(format!("unknown factory order {id}")))?;
        let span = tracing::info_span!("ops_retry", correlation_id = %order.correlation_id, factory_order_id = %id, sku = %order.sku);
        retry_open_order(store, publisher, order)
            .instrument(span)
            .await
    }

    async fn retry_open_order(
        store: &DynStore,
        publisher: &DynPublisher,
        order: FactoryOrder,
    ) -> Result<Value, OpsError> {
        let id = order.id.clone();
        let before = order.status;
        match order.status {
            OrderStatus::Fulfilled => {
                return Err(OpsError::Conflict(format!(
                    "factory order {id} is already fulfilled"
                )));
            }
            OrderStatus::Failed => {
                if !store
                    .reopen(&id, "reopened by an operator (donut-ops orders retry)")
                    .await?
                {
                    let open = store
                        .product(&order.sku)
                        .await?
                        .and_then(|p| p.open_factory_order)
                        .map(|o| format!(" ({} is {})", o.id, o.status.as_str()))
                        .unwrap_or_default();
                    return Err(OpsError::Conflict(format!(
                        "factory order {id} cannot be reopened: another order is open for {}{open}",
                        order.sku
                    )));
                }
            }
            OrderStatus::Pending | OrderStatus::Requested => {}
        }
        let event = StockOutEvent {
            schema_version: StockOutEvent::SCHEMA_VERSION,
            event_id: new_id(),
            factory_order_id: id.clone(),
            sku: order.sku.to_string(),
            quantity: order.quantity,
            correlation_id: order.correlation_id.clone(),
            occurred_at: now_millis(),
        };
        if let Err(e) = publisher.publish(&event).await {
            tracing::error!(outcome = "publish_failed", error = %e, "operator retry: the order is pending but its stock-out was not published; retry again");
            return Err(OpsError::Publish(format!(
                "{e}; factory order {id} is now pending: run the retry again"
            )));
        }
        tracing::warn!(outcome = "retried", previous = before.as_str(), event_id = %event.event_id, "operator retry: stock-out published again");
        let order = store.factory_order(&id).await?;
        Ok(json!({
            "retried": true,
            "previous_status": before.as_str(),
            "event_id": event.event_id,
            "correlation_id": event.correlation_id,
            "factory_order": order.as_ref().map(order_json),
        }))
    }

    /// A SKU's story: the product, its ledger line, sales in the last `since_hours`, restocks,
    /// and its most recent factory orders with their transitions.
    pub async fn sku_history(
        store: &DynStore,
        sku: &str,
        since_hours: i64,
    ) -> Result<Value, OpsError> {
        let sku = Sku::parse(sku).map_err(|e| OpsError::Invalid(e.to_string()))?;
        let product = store.product(&sku).await?;
        let ledger = store
            .ledger()
            .await?
            .into_iter()
            .find(|l| l.sku == sku.as_str());
        let restocked = ledger.as_ref().map(|l| l.restocked).unwrap_or(0);
        let mut orders: Vec<FactoryOrder> = all_orders(store)
            .await?
            .into_iter()
            .filter(|o| o.sku == sku)
            .collect();
        if product.is_none() && ledger.is_none() && orders.is_empty() {
            return Err(OpsError::NotFound(format!("unknown sku {sku}")));
        }
        orders.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        let fulfilled = orders
            .iter()
            .filter(|o| o.status == OrderStatus::Fulfilled)
            .count();
        let mut by_status: HashMap<&str, usize> = HashMap::new();
        for o in &orders {
            *by_status.entry(o.status.as_str()).or_default() += 1;
        }
        let mut recent = Vec::new();
        for o in orders.iter().take(20) {
            if let Some(full) = store.factory_order(&o.id).await? {
                let mut v = order_json(&full);
                v["correlation_id"] = json!(full.correlation_id);
                recent.push(v);
            }
        }
        let now = now_millis();
        let since = now - since_hours.max(0) * 3_600_000;
        let sales: Vec<_> = store
            .sales_between(since, now + 1)
            .await?
            .into_iter()
            .filter(|s| s.sku == sku.as_str())
            .collect();
        Ok(json!({
            "sku": sku,
            "product": product.as_ref().map(product_json),
            "ledger": ledger.map(|l| json!({
                "stock": l.stock,
                "sold": l.sold,
                "restocked": l.restocked,
                "open_orders": l.open_orders,
                "implied_initial": l.stock + l.sold - l.restocked,
            })),
            "sales": {
                "since": rfc3339(since),
                "count": sales.len(),
                "quantity": sales.iter().map(|s| s.quantity).sum::<i64>(),
                "last_at": sales.last().map(|s| rfc3339(s.created_at)),
            },
            "restocks": {"count": fulfilled, "quantity": restocked},
            "factory_orders": {
                "total": orders.len(),
                "by_status": by_status,
                "recent": recent,
            },
        }))
    }
}
