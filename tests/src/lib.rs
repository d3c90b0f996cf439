//! Test harness: provides a real MySQL-protocol database (MariaDB) and a moto server, and
//! starts the local stack on either database.
//!
//! MySQL, in order: `TEST_DATABASE_URL` (a server URL, e.g. `mysql://root@127.0.0.1:3306`);
//! else a throwaway `mariadbd` in a temp dir on a free port (when installed; no root service
//! needed); else a server answering on 127.0.0.1:3306. Each test gets its own fresh database.
//! If none can be had the test fails and says how to install MariaDB — never a silent skip.

use sqlx::Connection;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use devstack::{Options, Stack};
pub use inventory;

pub mod app;
mod client;
pub mod faults;

pub use app::TestApp;
pub use client::{Client, Reply};

/// Runs `async fn $name(db: Db)` once per database: `mod $name { fn sqlite(); fn mysql(); }`,
/// on a multi-thread runtime (4 workers, or `workers = N`).
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        $crate::both!($name, workers = 4);
    };
    ($name:ident, workers = $n:literal) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = $n)]
            async fn sqlite() {
                super::$name($crate::Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = $n)]
            async fn mysql() {
                super::$name($crate::Db::MySql).await
            }
        }
    };
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    MySql,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

fn answers(addr: &str) -> bool {
    addr.parse()
        .ok()
        .and_then(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_millis(300)).ok())
        .is_some()
}

/// Waits for a watchdog child on a detached thread, so it never lingers as a zombie.
fn reap(mut child: std::process::Child) {
    std::thread::spawn(move || {
        let _ = child.wait();
    });
}

/// Starts a private mariadbd for this test process; it stops itself when the process exits.
fn throwaway_mariadb() -> Option<String> {
    let (mariadbd, install) = lambda_harness::tlsdb::mariadb_binaries().ok()?;
    let dir = std::env::temp_dir().join(format!("donut-mariadb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).ok()?;
    let data = dir.join("data");
    if let Err(e) = lambda_harness::tlsdb::install_datadir(&install, &data) {
        eprintln!("harness: {e}; trying 127.0.0.1:3306");
        return None;
    }
    let port = free_port();
    let sock = dir.join("mysqld.sock");
    // A watchdog shell stops the server once this test process is gone.
    let script = format!(
        "{bin} --no-defaults --datadir={data} --socket={sock} --port={port} --bind-address=127.0.0.1 \
         --user=root --skip-log-bin --max-connections=600 --innodb-buffer-pool-size=256M \
         --innodb-flush-log-at-trx-commit=1 --log-error={dir}/error.log --pid-file={dir}/mysqld.pid & \
         db=$!; while kill -0 {parent} 2>/dev/null && kill -0 $db 2>/dev/null; do sleep 1; done; \
         kill $db 2>/dev/null; wait $db; rm -rf {dir}",
        bin = mariadbd.display(),
        data = data.display(),
        sock = sock.display(),
        dir = dir.display(),
        parent = std::process::id(),
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
        .map(reap)?;
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if answers(&addr) {
            return Some(format!("mysql://root@{addr}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "harness: throwaway mariadbd did not start; see {}/error.log",
        dir.display()
    );
    None
}

/// The MySQL server every MySQL test of this process uses (no database part).
pub fn mysql_server() -> &'static str {
    static SERVER: OnceLock<String> = OnceLock::new();
    SERVER.get_or_init(|| {
        if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
            return url.trim_end_matches('/').to_owned();
        }
        if std::env::var("TEST_MYSQL_SHARED").is_err()
            && let Some(url) = throwaway_mariadb()
        {
            return url;
        }
        if answers("127.0.0.1:3306") {
            return "mysql://root@127.0.0.1:3306".to_owned();
        }
        panic!(
            "No MySQL/MariaDB available for the tests. Install MariaDB (Debian/Ubuntu: \
             `sudo apt-get install mariadb-server`), or point TEST_DATABASE_URL at a server \
             (mysql://user:pass@host:3306)."
        )
    })
}

/// A fresh, empty database on the test server; returns its URL.
pub async fn fresh_mysql_database() -> String {
    let server = mysql_server();
    let name = format!("donut_t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::MySqlConnection::connect(&format!("{server}/mysql"))
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {server}: {e}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("create database: {e}"));
    format!("{server}/{name}")
}

/// A migrated store on a fresh database.
pub async fn store(db: Db, dir: &Path) -> inventory::store::DynStore {
    let url = match db {
        Db::MySql => fresh_mysql_database().await,
        Db::Sqlite => format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
    };
    let settings = inventory::store::PoolSettings {
        max_connections: 32,
        ..Default::default()
    };
    let store = inventory::store::connect(&url, &settings).expect("connect");
    store.migrate().await.expect("migrate");
    store
}

/// Starts the local stack on a database, with test-friendly timers; `tweak` adjusts options.
pub async fn stack(db: Db, dir: &Path, tweak: impl FnOnce(&mut Options)) -> Stack {
    if std::env::var_os("TEST_LOG").is_some() {
        inventory::telemetry::init("test");
    }
    let mut opts = Options::for_tests(dir.to_path_buf());
    if db == Db::MySql {
        opts.database_url = Some(fresh_mysql_database().await);
    }
    tweak(&mut opts);
    Stack::start(opts).await.expect("devstack starts")
}

/// Polls `f` until it returns Some or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if start.elapsed() > timeout {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks the stock invariants of every SKU: `initial + restocked - sold == stock`,
/// `stock >= 0`, at most one open order.
pub async fn assert_ledger(
    store: &inventory::store::DynStore,
    initial: &[(&str, i64)],
) -> Vec<inventory::store::Ledger> {
    let ledger = store.ledger().await.expect("ledger");
    for (sku, init) in initial {
        let l = ledger
            .iter()
            .find(|l| l.sku == *sku)
            .unwrap_or_else(|| panic!("no ledger row for {sku}"));
        assert!(l.stock >= 0, "{sku}: negative stock {}", l.stock);
        assert_eq!(
            init + l.restocked - l.sold,
            l.stock,
            "{sku}: initial {init} + restocked {} - sold {} != stock {}",
            l.restocked,
            l.sold,
            l.stock
        );
        assert!(l.open_orders <= 1, "{sku}: {} open orders", l.open_orders);
    }
    ledger
}

/// The moto server for AWS adapter tests: `MOTO_ENDPOINT` if set, else one started from the
/// project venv (`./scripts/setup-venv.sh` installs it) on a free port, stopped with this process.
pub fn moto_endpoint() -> &'static str {
    static MOTO: OnceLock<String> = OnceLock::new();
    MOTO.get_or_init(|| {
        if let Ok(e) = std::env::var("MOTO_ENDPOINT") {
            return e;
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let bin = root.join(".venv/bin/moto_server");
        assert!(
            bin.is_file(),
            "moto server not found at {}: run ./scripts/setup-venv.sh (pip install \"moto[server]\" into .venv) or set MOTO_ENDPOINT",
            bin.display()
        );
        let port = free_port();
        let script = format!(
            "{bin} -H 127.0.0.1 -p {port} & m=$!; while kill -0 {parent} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 1; done; kill $m 2>/dev/null",
            bin = bin.display(),
            parent = std::process::id()
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(reap)
            .expect("start moto_server");
        let addr = format!("127.0.0.1:{port}");
        let started = Instant::now();
        while !answers(&addr) {
            assert!(started.elapsed() < Duration::from_secs(60), "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        format!("http://{addr}")
    })
}

/// SDK configuration pointing at moto.
pub async fn moto_sdk() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto_endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .load()
        .await
}
