//! The local stack's command-line options (also what tests start it with).

use clap::Parser;
use std::path::{Path, PathBuf};

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

    /// The database URL: `--database-url`, else the SQLite file `devstack.db` in `data_dir`.
    pub fn database_url_in(&self, data_dir: &Path) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("devstack.db").display()
            )
        })
    }
}
