//! Fault-injection kit of the reliability suite (`tests/tests/{faults,hostile,props,hygiene}.rs`,
//! run all at once by `scripts/faults.sh`):
//!
//! - [`Mariadb`]: a private `mariadbd` that a test can crash (`SIGKILL`), stop and restart on
//!   the same data dir and port; killed when the guard drops (even on panic) and by a watchdog
//!   when the test process dies;
//! - [`ScriptedFactory`]: a stand-in Factory API on 127.0.0.1 answering a script of statuses
//!   (429, 5xx, hangs) before accepting, recording every idempotency key, delivering the
//!   completion to the callback URL once per accepted order;
//! - [`check_invariants`]: the stock invariants every case checks afterwards;
//! - [`Record`]: one JSON line per case into `target/reliability/<suite>.jsonl`, from which
//!   `scripts/reliability-table.py` renders `docs/reliability.md`;
//! - raw HTTP/1.1 requests ([`raw_http`]) for input a normal client refuses to send;
//! - SQS records as Lambda builds them ([`sqs_message`]).

use aws_lambda_events::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use inventory::domain::OrderStatus;
use inventory::store::DynStore;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Client;

/// How long the cases wait for the pipeline to reach a state.
pub const WAIT: Duration = Duration::from_secs(20);

// ---- results ------------------------------------------------------------------------------

/// Where the result lines go: `RELIABILITY_DIR`, else `$CARGO_TARGET_DIR/reliability`, else
/// `<workspace>/target/reliability`.
pub fn results_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("RELIABILITY_DIR") {
        return PathBuf::from(d);
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(t).join("reliability");
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("reliability")
}

/// One row of the reliability table. Written when dropped: `pass` is false when the test is
/// panicking, so a failing case shows up as FAIL with what it had observed so far.
pub struct Record {
    suite: String,
    case: String,
    fault: String,
    db: String,
    behaviour: Vec<String>,
    invariants: Vec<String>,
    started: Instant,
}

impl Record {
    pub fn new(suite: &str, case: &str, fault: &str) -> Self {
        Record {
            suite: suite.to_owned(),
            case: case.to_owned(),
            fault: fault.to_owned(),
            db: "-".to_owned(),
            behaviour: Vec::new(),
            invariants: Vec::new(),
            started: Instant::now(),
        }
    }

    pub fn db(mut self, db: crate::Db) -> Self {
        self.db = match db {
            crate::Db::Sqlite => "sqlite",
            crate::Db::MySql => "mariadb",
        }
        .to_owned();
        self
    }

    pub fn on(mut self, db: &str) -> Self {
        self.db = db.to_owned();
        self
    }

    /// What the system did (observed, with numbers).
    pub fn saw(&mut self, what: impl Into<String>) {
        self.behaviour.push(what.into());
    }

    /// Invariants checked and found to hold.
    pub fn held(&mut self, what: impl IntoIterator<Item = String>) {
        self.invariants.extend(what);
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        let line = json!({
            "suite": self.suite,
            "case": self.case,
            "fault": self.fault,
            "db": self.db,
            "behaviour": self.behaviour,
            "invariants": self.invariants,
            "pass": !std::thread::panicking(),
            "duration_ms": self.started.elapsed().as_millis() as u64,
            "at": inventory::domain::rfc3339(inventory::domain::now_millis()),
        });
        let dir = results_dir();
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("{}.jsonl", self.suite));
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            // One write per line: O_APPEND keeps concurrent tests' lines whole.
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
    }
}

// ---- invariants ---------------------------------------------------------------------------

/// A sale a client was told was accepted (`201`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub id: String,
    pub sku: String,
    pub quantity: i64,
}

impl Accepted {
    pub fn from_reply(body: &Value) -> Option<Accepted> {
        Some(Accepted {
            id: body["id"].as_str()?.to_owned(),
            sku: body["sku"].as_str()?.to_owned(),
            quantity: body["quantity"].as_i64()?,
        })
    }
}

/// What a case expects of the database once the pipeline is quiet.
#[derive(Debug, Default)]
pub struct Expect<'a> {
    /// Stock of each SKU before the case.
    pub initial: &'a [(&'a str, i64)],
    /// Every sale clients saw accepted, when the case tracked them all (None: not tracked).
    pub accepted: Option<&'a [Accepted]>,
    /// Factory orders each SKU must have (one per stock-out episode).
    pub orders: &'a [(&'a str, usize)],
    /// Distinct batches the factory must have accepted.
    pub batches: Option<u64>,
}

/// Checks, for every SKU in `initial`: `initial + restocked - sold == stock`, `stock >= 0`,
/// at most one open order; every accepted sale stored exactly once and no other sale stored;
/// exactly the expected factory orders (one per stock-out); every fulfilled order restocked
/// exactly once and nothing else restocked. Panics on a violation; returns what was checked.
pub async fn check_invariants(
    store: &DynStore,
    factory_batches: Option<u64>,
    e: &Expect<'_>,
) -> Vec<String> {
    let mut held = Vec::new();
    let ledger = crate::assert_ledger(store, e.initial).await;
    for (sku, init) in e.initial {
        let l = ledger.iter().find(|l| l.sku == *sku).expect("ledger row");
        held.push(format!(
            "{sku}: initial {init} + restocked {} - sold {} == stock {} >= 0",
            l.restocked, l.sold, l.stock
        ));
    }
    let sales = store
        .sales_between(0, i64::MAX)
        .await
        .expect("sales listing");
    if let Some(accepted) = e.accepted {
        let mut stored: HashMap<&str, usize> = HashMap::new();
        for s in &sales {
            *stored.entry(s.id.as_str()).or_default() += 1;
        }
        let mut distinct: BTreeMap<&str, &Accepted> = BTreeMap::new();
        for a in accepted {
            distinct.insert(a.id.as_str(), a);
        }
        for (id, a) in &distinct {
            assert_eq!(
                stored.get(id).copied(),
                Some(1),
                "accepted sale {id} ({} x{}) must be stored exactly once",
                a.sku,
                a.quantity
            );
        }
        for (sku, _) in e.initial {
            let in_db: Vec<_> = sales.iter().filter(|s| s.sku == *sku).collect();
            let phantom: Vec<_> = in_db
                .iter()
                .filter(|s| !distinct.contains_key(s.id.as_str()))
                .map(|s| s.id.clone())
                .collect();
            assert!(
                phantom.is_empty(),
                "{sku}: sales stored that no client saw accepted: {phantom:?}"
            );
            let sold: i64 = in_db.iter().map(|s| s.quantity).sum();
            let l = ledger.iter().find(|l| l.sku == *sku).expect("ledger row");
            assert_eq!(sold, l.sold, "{sku}: sales rows vs ledger");
        }
        held.push(format!(
            "{} accepted sale(s) each stored exactly once, no other sale stored",
            distinct.len()
        ));
    }
    let mut orders = Vec::new();
    for st in [
        OrderStatus::Pending,
        OrderStatus::Requested,
        OrderStatus::Fulfilled,
        OrderStatus::Failed,
    ] {
        orders.extend(store.orders_in(st, 10_000).await.expect("orders"));
    }
    for (sku, want) in e.orders {
        let n = orders.iter().filter(|o| o.sku.as_str() == *sku).count();
        assert_eq!(
            n, *want,
            "{sku}: {n} factory order(s), expected {want} (one per stock-out)"
        );
        held.push(format!(
            "{sku}: {n} stock-out(s) -> exactly {n} factory order(s)"
        ));
    }
    for (sku, _) in e.initial {
        let fulfilled: Vec<_> = orders
            .iter()
            .filter(|o| o.sku.as_str() == *sku && o.status == OrderStatus::Fulfilled)
            .collect();
        let want: i64 = fulfilled.iter().map(|o| o.quantity).sum();
        let l = ledger.iter().find(|l| l.sku == *sku).expect("ledger row");
        assert_eq!(
            l.restocked,
            want,
            "{sku}: restocked {} but fulfilled orders total {want} ({} order(s))",
            l.restocked,
            fulfilled.len()
        );
        for o in &fulfilled {
            // `orders_in` lists orders without their history: read each one whole.
            let o = store
                .factory_order(&o.id)
                .await
                .expect("order")
                .expect("listed order exists");
            let n = o
                .transitions
                .iter()
                .filter(|t| t.status == OrderStatus::Fulfilled)
                .count();
            assert!(n <= 1, "order {} fulfilled {n} times", o.id);
        }
        if !fulfilled.is_empty() {
            held.push(format!(
                "{sku}: {} fulfilled order(s) restocked exactly once ({want} donuts)",
                fulfilled.len()
            ));
        }
    }
    if let (Some(want), Some(got)) = (e.batches, factory_batches) {
        assert_eq!(got, want, "distinct batches at the factory");
        held.push(format!("factory made {got} batch(es) (idempotency key)"));
    }
    held
}

// ---- a controllable MariaDB ---------------------------------------------------------------

fn which(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

fn answers(addr: &str) -> bool {
    addr.parse()
        .ok()
        .and_then(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_millis(300)).ok())
        .is_some()
}

/// A private `mariadbd` that a test can crash, stop and restart (same data dir, same port).
/// Dropping it kills the server and removes its directory; a watchdog shell kills it if the
/// test process dies first.
pub struct Mariadb {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
    server: Mutex<Option<Child>>,
    watchdogs: Mutex<Vec<Child>>,
}

impl Mariadb {
    /// Initialises a data dir and starts the server. Panics (with how to install MariaDB) if
    /// the binaries are missing: never a silent skip.
    pub fn start_new() -> Mariadb {
        let bin = which("mariadbd").or_else(|| which("mysqld")).expect(
            "mariadbd not found: install MariaDB (Debian/Ubuntu: apt-get install mariadb-server)",
        );
        let install = which("mariadb-install-db")
            .or_else(|| which("mysql_install_db"))
            .expect("mariadb-install-db not found (apt-get install mariadb-server)");
        let dir = std::env::temp_dir().join(format!(
            "donut-faults-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("mariadb dir");
        let status = Command::new(&install)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.join("data").display()))
            .args([
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--user=root",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run mariadb-install-db");
        assert!(status.success(), "mariadb-install-db failed");
        let db = Mariadb {
            bin,
            dir,
            port: crate::free_port(),
            server: Mutex::new(None),
            watchdogs: Mutex::new(Vec::new()),
        };
        db.start();
        db
    }

    /// `mysql://root@127.0.0.1:<port>` (no database part).
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    pub fn is_running(&self) -> bool {
        let mut guard = self.server.lock().expect("server lock");
        match guard.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Starts the server on the existing data dir and waits until it accepts connections.
    pub fn start(&self) {
        assert!(!self.is_running(), "already running");
        let d = &self.dir;
        let child = Command::new(&self.bin)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", d.join("data").display()))
            .arg(format!("--socket={}", d.join("mysqld.sock").display()))
            .arg(format!("--port={}", self.port))
            .args([
                "--bind-address=127.0.0.1",
                "--user=root",
                "--skip-log-bin",
                "--max-connections=300",
                "--innodb-buffer-pool-size=64M",
                "--innodb-flush-log-at-trx-commit=1",
            ])
            .arg(format!("--log-error={}", d.join("error.log").display()))
            .arg(format!("--pid-file={}", d.join("mysqld.pid").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mariadbd");
        let pid = child.id();
        // The watchdog: kills this server once the test process is gone; ends with the server.
        let script = format!(
            "while kill -0 {parent} 2>/dev/null && kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             kill -9 {pid} 2>/dev/null",
            parent = std::process::id()
        );
        if let Ok(w) = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            self.watchdogs.lock().expect("watchdogs").push(w);
        }
        *self.server.lock().expect("server lock") = Some(child);
        let addr = format!("127.0.0.1:{}", self.port);
        let started = Instant::now();
        while !answers(&addr) {
            assert!(
                self.is_running(),
                "mariadbd exited at start; see {}",
                self.dir.join("error.log").display()
            );
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "mariadbd did not start; see {}",
                self.dir.join("error.log").display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Crashes the server (`SIGKILL`): in-flight transactions are lost, InnoDB recovers them
    /// at the next start.
    pub fn kill(&self) {
        if let Some(mut c) = self.server.lock().expect("server lock").take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the server cleanly (`SIGTERM`, then `SIGKILL` after 30 s).
    pub fn stop(&self) {
        if let Some(mut c) = self.server.lock().expect("server lock").take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let started = Instant::now();
            while matches!(c.try_wait(), Ok(None)) {
                if started.elapsed() > Duration::from_secs(30) {
                    let _ = c.kill();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.wait();
        }
    }

    /// Creates a fresh database; returns its URL.
    pub async fn fresh_database(&self) -> String {
        use sqlx::Connection;
        let name = format!("donut_f_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::MySqlConnection::connect(&format!("{}/mysql", self.url()))
            .await
            .expect("connect to the fault-test mariadbd");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create database");
        format!("{}/{name}", self.url())
    }
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        self.kill();
        if let Ok(mut w) = self.watchdogs.lock() {
            for c in w.iter_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---- a scripted Factory API ---------------------------------------------------------------

/// One answer of the scripted factory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Answer with this status and a JSON error body.
    Status(u16),
    /// Hold the request this long, then accept (a timeout when longer than the client's).
    Hang(Duration),
    /// `202 {"reference"}`; the completion is POSTed to the callback URL `delay` later (once
    /// per factory order, like a factory honouring the idempotency key).
    Accept,
}

/// A stand-in Factory API on 127.0.0.1 following a script (then accepting everything).
pub struct ScriptedFactory {
    pub base_url: String,
    script: Mutex<std::collections::VecDeque<Step>>,
    /// Every request: (idempotency key, step answered).
    pub log: Mutex<Vec<(String, Step)>>,
    accepted: Mutex<HashMap<String, String>>,
    pub requests: AtomicU64,
    pub batches: AtomicU64,
    pub completions: AtomicU64,
    pub completion_delay: Duration,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl ScriptedFactory {
    pub async fn start(script: Vec<Step>, completion_delay: Duration) -> Arc<ScriptedFactory> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind scripted factory");
        let addr = listener.local_addr().expect("addr");
        let f = Arc::new(ScriptedFactory {
            base_url: format!("http://{addr}"),
            script: Mutex::new(script.into()),
            log: Mutex::new(Vec::new()),
            accepted: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            completions: AtomicU64::new(0),
            completion_delay,
            task: Mutex::new(None),
        });
        let me = Arc::downgrade(&f);
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let Some(f) = me.upgrade() else { return };
                tokio::spawn(async move { f.serve(sock).await });
            }
        });
        *f.task.lock().expect("task") = Some(task);
        f
    }

    pub fn keys(&self) -> Vec<String> {
        self.log
            .lock()
            .map(|l| l.iter().map(|(k, _)| k.clone()).collect())
            .unwrap_or_default()
    }

    async fn serve(self: Arc<Self>, mut sock: tokio::net::TcpStream) {
        let Some((head, body)) = read_http_message(&mut sock).await else {
            return;
        };
        let key = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("idempotency-key")
                    .then(|| v.trim().to_owned())
            })
            .unwrap_or_default();
        self.requests.fetch_add(1, Ordering::SeqCst);
        let step = self
            .script
            .lock()
            .ok()
            .and_then(|mut s| s.pop_front())
            .unwrap_or(Step::Accept);
        if let Ok(mut l) = self.log.lock() {
            l.push((key.clone(), step));
        }
        let (status, reply) = match step {
            Step::Status(s) => (
                s,
                json!({"error": "scripted", "message": format!("scripted {s}")}),
            ),
            Step::Hang(d) => {
                tokio::time::sleep(d).await;
                self.accept(&key, &body)
            }
            Step::Accept => self.accept(&key, &body),
        };
        let text = reply.to_string();
        let mut res = format!(
            "HTTP/1.1 {status} Scripted\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
            text.len()
        );
        if status == 429 {
            res.push_str("retry-after: 1\r\n");
        }
        res.push_str("\r\n");
        res.push_str(&text);
        let _ = sock.write_all(res.as_bytes()).await;
        let _ = sock.shutdown().await;
    }

    fn accept(self: &Arc<Self>, key: &str, body: &[u8]) -> (u16, Value) {
        let mut accepted = self.accepted.lock().expect("accepted");
        if let Some(r) = accepted.get(key) {
            return (202, json!({"reference": r, "status": "accepted"}));
        }
        let Ok(req) = serde_json::from_slice::<Value>(body) else {
            return (400, json!({"error": "bad_request"}));
        };
        let reference = format!("scripted-{}", uuid::Uuid::new_v4().simple());
        accepted.insert(key.to_owned(), reference.clone());
        self.batches.fetch_add(1, Ordering::SeqCst);
        let me = self.clone();
        let delay = self.completion_delay;
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let url = req["CallbackUrl"].as_str().unwrap_or_default().to_owned();
            let completion = json!({
                "MessageGroupId": req["MessageGroupId"],
                "MessageAttributeProductId": req["MessageAttributeProductId"],
                "MessageAttributeProductCnt": req["MessageAttributeProductCnt"],
                "MessageAttributeFactoryId": req["MessageAttributeFactoryId"],
                "MessageAttributeRequester": req["MessageAttributeRequester"],
            });
            let sent = reqwest::Client::new()
                .post(url)
                .json(&completion)
                .send()
                .await;
            if sent.is_ok_and(|r| r.status().is_success()) {
                me.completions.fetch_add(1, Ordering::SeqCst);
            }
        });
        (202, json!({"reference": reference, "status": "accepted"}))
    }
}

impl Drop for ScriptedFactory {
    fn drop(&mut self) {
        if let Ok(mut t) = self.task.lock()
            && let Some(t) = t.take()
        {
            t.abort();
        }
    }
}

/// Reads one HTTP/1.1 message (head, body by content-length).
async fn read_http_message(sock: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((head, body))
}

// ---- raw HTTP -----------------------------------------------------------------------------

/// A response read off the wire.
#[derive(Debug, Clone)]
pub struct RawReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Sends exactly these bytes to `addr` (127.0.0.1 only) and reads the response; `None` when
/// the server closed the connection without answering.
pub async fn raw_http(addr: std::net::SocketAddr, request: &[u8]) -> Option<RawReply> {
    assert!(addr.ip().is_loopback(), "raw requests go to loopback only");
    let mut sock =
        tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
            .await
            .ok()?
            .ok()?;
    // The server may answer (e.g. 413) before reading everything; a failed write is fine.
    let _ = sock.write_all(request).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), sock.read_to_end(&mut buf)).await;
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect();
    let mut body = buf[head_end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Some(RawReply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(p) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&b[..p])
                .split(';')
                .next()
                .unwrap_or("")
                .trim(),
            16,
        )
        .unwrap_or(0);
        b = &b[p + 2..];
        if size == 0 || b.len() < size {
            break;
        }
        out.extend_from_slice(&b[..size]);
        b = b.get(size + 2..).unwrap_or_default();
    }
    out
}

// ---- captured requests ---------------------------------------------------------------------

/// Every API capture record the local stack wrote under `<data_dir>/bucket` (gzip JSON lines;
/// complete once the stack is stopped).
pub fn captured_records(data_dir: &Path) -> Vec<Value> {
    fn walk(dir: &Path, out: &mut Vec<Value>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "gz") {
                let mut text = String::new();
                if let Ok(f) = std::fs::File::open(&p) {
                    use std::io::Read;
                    let _ = flate2::read::MultiGzDecoder::new(f).read_to_string(&mut text);
                }
                out.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
            }
        }
    }
    let mut out = Vec::new();
    walk(&data_dir.join("bucket"), &mut out);
    out
}

// ---- SQS ----------------------------------------------------------------------------------

/// An SQS record as Lambda delivers it (attributes of the stock-out as message attributes).
pub fn sqs_message(id: &str, body: Option<&str>, receive_count: u32) -> SqsMessage {
    let mut msg = SqsMessage::default();
    msg.message_id = Some(id.to_owned());
    msg.receipt_handle = Some(format!("rh-{id}-{receive_count}"));
    msg.body = body.map(str::to_owned);
    msg.attributes = HashMap::from([(
        "ApproximateReceiveCount".to_owned(),
        receive_count.to_string(),
    )]);
    if let Some(ev) = body.and_then(|b| serde_json::from_str::<Value>(b).ok()) {
        for name in ["event_id", "correlation_id", "factory_order_id", "sku"] {
            if let Some(v) = ev.get(name).and_then(Value::as_str) {
                let mut a = SqsMessageAttribute::default();
                a.data_type = Some("String".into());
                a.string_value = Some(v.to_owned());
                msg.message_attributes.insert(name.to_owned(), a);
            }
        }
    }
    msg.event_source = Some("aws:sqs".into());
    msg
}

pub fn sqs_event(records: Vec<SqsMessage>) -> SqsEvent {
    let mut e = SqsEvent::default();
    e.records = records;
    e
}

// ---- HTTP helpers over the local stack ----------------------------------------------------

pub async fn order_status(c: &Client, id: &str) -> (String, Value) {
    let r = c.get(&format!("/factory-orders/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    (
        r.body["status"].as_str().unwrap_or_default().to_owned(),
        r.body,
    )
}

pub async fn wait_status(c: &Client, id: &str, want: &str) -> Value {
    crate::eventually(WAIT, || async {
        let (s, body) = order_status(c, id).await;
        (s == want).then_some(body)
    })
    .await
    .unwrap_or_else(|| panic!("order {id} never reached {want}"))
}

/// Creates `sku` with `stock` and sells all of it: one stock-out; returns the order id.
pub async fn stock_out(c: &Client, sku: &str, stock: i64, reorder_quantity: i64) -> String {
    let r = c
        .put_product(
            sku,
            json!({"stock": stock, "reorder_quantity": reorder_quantity}),
        )
        .await;
    assert!(r.status == 201 || r.status == 200, "{}", r.body);
    let r = c.sell(sku, stock).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["factory_order"]["id"]
        .as_str()
        .expect("a stock-out opens an order")
        .to_owned()
}

/// The state of a local alarm (`GET /ops/alarms`).
pub async fn alarm(c: &Client, name: &str) -> String {
    let alarms = c.get("/ops/alarms").await.body;
    alarms["alarms"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["name"] == name))
        .and_then(|a| a["state"].as_str())
        .unwrap_or("missing")
        .to_owned()
}
