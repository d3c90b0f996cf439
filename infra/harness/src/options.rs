//! How to run the harness ([`Options`]) and where the function bootstraps are.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

/// How to run the harness.
#[derive(Debug, Clone)]
pub struct Options {
    pub template: PathBuf,
    /// Where `<binary>/bootstrap` are (`$CARGO_TARGET_DIR/lambda`, as cargo-lambda writes them).
    pub bin_dir: PathBuf,
    /// Working directory: database, certificates, function logs.
    pub dir: PathBuf,
    /// The moto server (`http://127.0.0.1:PORT`).
    pub moto: String,
    /// Template parameter overrides (`--parameter-overrides`).
    pub params: HashMap<String, String>,
    /// Instances (execution environments) per function logical id; 1 when absent.
    pub instances: HashMap<String, usize>,
    /// Time compression: every queue's visibility timeout, in seconds, instead of the template's.
    pub visibility_timeout: Option<u64>,
    /// Delays between Lambda's asynchronous retries (AWS: about 1 and 2 minutes).
    pub async_retry_delays: Vec<Duration>,
    /// Retries of a throttled asynchronous invocation: the first wait and the longest, doubling
    /// in between (AWS: 1 second growing to 5 minutes).
    pub async_throttle_backoff: (Duration, Duration),
    /// How long an asynchronous event is retried after throttles before it is given up
    /// (AWS: `MaximumEventAgeInSeconds`, 6 hours by default).
    pub async_max_event_age: Duration,
    /// How long CloudWatch Logs batches subscription deliveries.
    pub log_flush: Duration,
    /// Print every function line on stdout.
    pub echo: bool,
    /// API Gateway's local port (0: any free port).
    pub api_port: u16,
}

impl Options {
    pub fn new(template: PathBuf, bin_dir: PathBuf, dir: PathBuf, moto: String) -> Self {
        Options {
            template,
            bin_dir,
            dir,
            moto,
            params: HashMap::new(),
            instances: HashMap::new(),
            visibility_timeout: None,
            async_retry_delays: vec![Duration::from_secs(1), Duration::from_secs(2)],
            async_throttle_backoff: (Duration::from_millis(100), Duration::from_secs(2)),
            async_max_event_age: Duration::from_secs(120),
            log_flush: Duration::from_millis(300),
            echo: false,
            api_port: 0,
        }
    }
}

impl Options {
    /// The same options with every path absolute (against the current directory): `dir`
    /// (created first, then canonicalised), `template` and `bin_dir`. The harness hands these
    /// to child processes that resolve a relative path from elsewhere (`mariadb-install-db`
    /// from MariaDB's base directory), so [`crate::Harness::start`] calls this first.
    pub fn absolute(mut self) -> Result<Self, crate::Error> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("working directory {}: {e}", self.dir.display()))?;
        self.dir = std::fs::canonicalize(&self.dir)
            .map_err(|e| format!("working directory {}: {e}", self.dir.display()))?;
        self.template = std::path::absolute(&self.template)?;
        self.bin_dir = std::path::absolute(&self.bin_dir)?;
        Ok(self)
    }
}

/// Where `cargo lambda build` (scripts/lambda-build.sh) put the bootstraps:
/// `HARNESS_BIN_DIR`, else `$CARGO_TARGET_DIR/lambda`, else `<workspace>/target/lambda`.
pub fn bootstraps_dir(workspace: &std::path::Path) -> PathBuf {
    if let Some(d) = std::env::var_os("HARNESS_BIN_DIR") {
        return PathBuf::from(d);
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
        .join("lambda")
}
