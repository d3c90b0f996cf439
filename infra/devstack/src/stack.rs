//! Starting and stopping the local stack: `Stack::start` in named steps (data directory,
//! database, bus, factory client, capture, shared state, background tasks, server).

use crate::alarms::{self, Alarm, AlarmMemory, AlarmSettings};
use crate::bus::{self, LocalQueue, LocalTopic};
use crate::{Options, firehose, http};
use factory_orderer::client::{FactoryClient, FactorySettings};
use factory_orderer::orderer::Orderer;
use factory_sim::sim::{FactorySim, Knobs};
use inventory::api::{AdminToken, Api, App, Function};
use inventory::capture::{DynCapture, NoCapture};
use inventory::domain::{ProductSpec, Sku};
use inventory::factory::CallbackSigner;
use inventory::messaging::DynPublisher;
use inventory::store::{DynStore, PoolSettings};
use outbox_relay::{RelaySettings, relay_once};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

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

/// The demo products seeded into an empty database: (sku, name, stock, reorder point,
/// reorder quantity).
const DEMO: &[(&str, &str, i64, i64, i64)] = &[
    ("glazed", "Original Glazed", 50, 5, 100),
    ("chocolate", "Chocolate Iced", 30, 5, 60),
    ("boston-cream", "Boston Cream", 20, 3, 40),
    ("sprinkles", "Strawberry Sprinkles", 10, 0, 24),
];

/// The local SNS → SQS (+DLQ) of the stock-out events.
struct LocalBus {
    queue: Arc<LocalQueue>,
    dlq: Arc<LocalQueue>,
    topic: Arc<LocalTopic>,
}

/// API capture: the sink the API writes to, its lost-record counter and the writer task.
struct Capture {
    sink: DynCapture,
    failures: Box<dyn Fn() -> u64 + Send + Sync>,
    task: Option<JoinHandle<()>>,
}

impl Stack {
    pub async fn start(opts: Options) -> Result<Stack, StartError> {
        let data_dir = data_dir(&opts.data_dir)?;
        let store = open_store(&opts, &data_dir).await?;
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
        let bus = local_bus(&opts);
        let signer = CallbackSigner::new(&secret);
        let orderer = orderer(&opts, &store, &base_url, signer.clone())?;
        let capture = capture(&opts, &data_dir, shutdown_rx.clone());
        let shared = Arc::new(shared(
            &opts,
            store,
            bus,
            signer,
            capture.sink,
            capture.failures,
        )?);
        let background = spawn_background(&opts, &shared, orderer, &shutdown_rx);
        let server = serve(listener, shared.clone(), shutdown_rx);
        Ok(Stack {
            addr,
            base_url,
            shared,
            admin_token: opts.admin_token.clone(),
            data_dir,
            shutdown,
            server,
            capture_task: capture.task,
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
        alarms::evaluate_alarms(&self.shared).await
    }
}

/// The data directory, created if needed, as an absolute path.
fn data_dir(dir: &Path) -> Result<PathBuf, StartError> {
    std::fs::create_dir_all(dir).map_err(|e| StartError::DataDir(dir.to_owned(), e))?;
    std::fs::canonicalize(dir).map_err(|e| StartError::DataDir(dir.to_owned(), e))
}

/// The database (`--database-url`, else SQLite in the data directory), migrated, with the demo
/// products when it is empty (unless `--no-seed`). Also names the metrics' Service.
async fn open_store(opts: &Options, data_dir: &Path) -> Result<DynStore, StartError> {
    let store = inventory::store::connect(
        &opts.database_url_in(data_dir),
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
            let spec = ProductSpec::new(sku, Some((*name).into()), *stock, Some(*rp), Some(*rq))
                .map_err(|e| StartError::Config(e.to_string()))?;
            store.put_product(&spec).await?;
        }
    }
    Ok(store)
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

/// The factory-orders queue, its DLQ and the stock-out topic that feeds the queue.
fn local_bus(opts: &Options) -> LocalBus {
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
    LocalBus { queue, dlq, topic }
}

/// The factory-orderer: the Factory API client (`--factory-url`, else the stand-in this stack
/// serves at /factory-sim) with callbacks to this stack.
fn orderer(
    opts: &Options,
    store: &DynStore,
    base_url: &str,
    signer: CallbackSigner,
) -> Result<Arc<Orderer>, StartError> {
    let factory = FactoryClient::new(
        FactorySettings {
            base_url: opts
                .factory_url
                .clone()
                .unwrap_or_else(|| format!("{base_url}/factory-sim")),
            factory_id: "donut-factory-1".into(),
            requester: "donut-shop".into(),
            callback_base: base_url.to_owned(),
            timeout: Duration::from_millis(opts.factory_timeout_ms),
        },
        signer,
    )
    .map_err(|e| StartError::Config(e.to_string()))?;
    Ok(Arc::new(Orderer {
        store: store.clone(),
        factory,
        max_receive_count: opts.max_receive_count,
    }))
}

/// API capture into `<data-dir>/bucket` (the local Firehose), or none with `--no-capture`.
fn capture(opts: &Options, data_dir: &Path, shutdown: watch::Receiver<bool>) -> Capture {
    if opts.no_capture {
        return Capture {
            sink: Arc::new(NoCapture),
            failures: Box::new(|| 0),
            task: None,
        };
    }
    let (sink, task) = firehose::start(
        data_dir.join("bucket"),
        firehose::Buffering {
            max_bytes: opts.capture_buffer_bytes,
            max_age: Duration::from_millis(opts.capture_buffer_ms),
        },
        shutdown,
    );
    let failures = sink.failures.clone();
    Capture {
        sink,
        failures: Box::new(move || failures.load(Ordering::Relaxed)),
        task: Some(task),
    }
}

/// What the routes and the background tasks share: the API (the same handler the Lambda
/// function runs), the store, the bus, the factory stand-in and the alarms' state.
fn shared(
    opts: &Options,
    store: DynStore,
    bus: LocalBus,
    signer: CallbackSigner,
    capture: DynCapture,
    capture_failures: Box<dyn Fn() -> u64 + Send + Sync>,
) -> Result<Shared, StartError> {
    let publisher: DynPublisher = bus.topic.clone();
    let api = App::new(Api {
        service: "devstack",
        serves: Function::ALL,
        store: store.clone(),
        publisher: Some(publisher.clone()),
        admin: Some(AdminToken::new(&opts.admin_token)),
        callbacks: Some(signer),
        capture,
    });
    let sim = Arc::new(FactorySim::new(Knobs {
        delay_ms: opts.factory_delay_ms,
        latency_ms: opts.factory_latency_ms,
        failure_rate: opts.factory_failure_rate,
        down: opts.factory_down,
    }));
    Ok(Shared {
        api,
        store,
        sim,
        queue: bus.queue,
        dlq: bus.dlq,
        topic: bus.topic,
        publisher,
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
    })
}

/// The event source mapping (`--orderer-concurrency` pollers of the factory-orders queue), the
/// scheduled outbox relay, the alarms' evaluation and the metrics flush.
fn spawn_background(
    opts: &Options,
    shared: &Arc<Shared>,
    orderer: Arc<Orderer>,
    shutdown: &watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let mut background = Vec::new();
    for _ in 0..opts.orderer_concurrency.max(1) {
        background.push(tokio::spawn(bus::run_poller(
            shared.queue.clone(),
            orderer.clone(),
            10,
            shutdown.clone(),
        )));
    }
    let relay = RelaySettings {
        grace_ms: (opts.outbox_grace_secs * 1000) as i64,
        order_deadline_ms: (opts.order_deadline_secs * 1000) as i64,
        max_order_attempts: opts.max_order_attempts,
    };
    background.push(tokio::spawn(run_relay(
        shared.store.clone(),
        shared.publisher.clone(),
        relay,
        Duration::from_millis(opts.relay_interval_ms),
        shutdown.clone(),
    )));
    background.push(tokio::spawn(alarms::run_alarms(
        shared.clone(),
        shutdown.clone(),
    )));
    if opts.metrics_flush_ms > 0 {
        let mut stop = shutdown.clone();
        background.push(tokio::spawn(inventory::metrics::flush_every(
            Duration::from_millis(opts.metrics_flush_ms),
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        )));
    }
    background
}

/// Serves [`http::router`] on the listener until shutdown, letting in-flight requests finish.
fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let res = axum::serve(listener, http::router(shared))
            .with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|s| *s).await;
            })
            .await;
        if let Err(e) = res {
            tracing::error!(error = %e, "devstack server failed");
        }
    })
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
        match relay_once(&*store, &publisher, &settings).await {
            Ok(r) if r.published + r.resent + r.failed_orders.len() + r.publish_failures > 0 => {
                tracing::info!(report = ?r, "outbox relay pass");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "outbox relay pass failed"),
        }
    }
}
