//! A harness of its own for one fault case: moto (or a fault injector in front of it), a
//! working directory, the template's stack with the case's option changes, the migrations run
//! (the custom resource's Create), the admin token and a counting API client.
//!
//! One fault stack at a time: libtest runs a binary's tests in parallel, and each stack is nine
//! bootstraps, MariaDB and moto on a shared machine; cases that measure timing (visibility
//! timeouts, function timeouts, retries) must not slow each other down. [`start`] waits for the
//! previous fault stack to be dropped.

use crate::kit::{Api, bin_dir, root, secret};
use lambda_harness::{Harness, Options, moto::Moto};
use std::path::PathBuf;
use std::time::Duration;

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits for the turn of a fault stack (held until the guard is dropped): for a case that
/// starts its harness another way.
pub async fn turn() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().await
}

pub struct FaultStack {
    pub h: Harness,
    pub api: Api,
    pub admin: String,
    dir: PathBuf,
    // Dropped after the functions stop: the AWS emulator, then the turn.
    _moto: Moto,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// moto from the project venv (or `MOTO_ENDPOINT`).
pub fn moto() -> Moto {
    Moto::start(&root().join(".venv"), None).expect("moto")
}

/// Starts the stack against `aws` (moto's endpoint, or a proxy in front of it) with the
/// template's settings, time compressed as the end-to-end case compresses it (async retries
/// after 200 and 400 ms), then `configure`'s changes.
pub async fn start(
    case: &str,
    moto: Moto,
    aws: Option<String>,
    configure: impl FnOnce(&mut Options),
) -> FaultStack {
    let turn = turn().await;
    let bins = bin_dir();
    assert!(
        bins.join("sales-api/bootstrap").is_file(),
        "no bootstraps in {}: build them as `sam build` does with ./scripts/lambda-build.sh \
         (or set HARNESS_BIN_DIR)",
        bins.display()
    );
    let dir = std::env::temp_dir().join(format!("harness-{case}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut opts = Options::new(
        root().join("template.yaml"),
        bins,
        dir.clone(),
        aws.unwrap_or_else(|| moto.endpoint.clone()),
    );
    opts.async_retry_delays = vec![Duration::from_millis(200), Duration::from_millis(400)];
    configure(&mut opts);
    let h = Harness::start(opts).await.expect("harness starts");
    h.create_custom_resources()
        .await
        .expect("migrations Create succeeds");
    let admin = secret(&h, "AdminTokenSecret").await;
    let api = Api {
        base: h.api_url.clone(),
        http: reqwest::Client::new(),
        sent: Default::default(),
    };
    FaultStack {
        h,
        api,
        admin,
        dir,
        _moto: moto,
        _turn: turn,
    }
}

impl FaultStack {
    /// The JSON lines a function (logical id) printed, parsed (other lines skipped).
    pub fn json_lines(&self, logical_id: &str) -> Vec<serde_json::Value> {
        self.h
            .logs
            .lines_of(&self.h.functions[logical_id].spec.name)
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// A root connection to the stack's database (`donuts`).
    pub async fn db(&self) -> sqlx::MySqlConnection {
        use sqlx::Connection;
        let opts = self.h.db.root_options().database("donuts");
        sqlx::MySqlConnection::connect_with(&opts)
            .await
            .expect("db")
    }
}

impl Drop for FaultStack {
    fn drop(&mut self) {
        self.h.stop();
        if std::thread::panicking() {
            eprintln!("function logs kept in {}", self.dir.join("logs").display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
