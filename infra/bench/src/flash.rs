//! Section 1, flash sale on MariaDB: one hot SKU with a huge stock (no stock-outs), N concurrent
//! buyers, several ways:
//! - `raw`: the statements the MySQL adapter ran for a sale before its one-round-trip procedure
//!   (BEGIN; INSERT INTO sales; the conditional `SELL_SQL` decrement; COMMIT) in a tight loop on
//!   the adapter's own pool: the single-row raw baseline;
//! - `handler`: `inventory::api::handle` called directly with `lambda_http` requests built from
//!   API Gateway v2 events (the Lambda code path minus the network), wired like `sales-api`
//!   (its stdout capture sink and JSON logs); the product has one stock bucket;
//! - `handler-b4` / `handler-b16`: the same on a product whose stock is spread over 4 / 16
//!   stock buckets (`products.buckets`), so the buyers mostly lock different rows;
//! - `http-capture-on` / `http-capture-off`: the local stack over HTTP, keep-alive client.
//!
//! Every run has its own SKU; after it, the stock consumed (the sum of the SKU's buckets) is
//! checked against the sales rows and the successful responses.

use crate::stats::{Lat, median, summarise_us};
use clap::Parser;
use devstack::{Options, Stack};
use inventory::api::{AdminToken, Api, App, Function, handle};
use inventory::capture::LogLineSink;
use inventory::domain::{MAX_STOCK, ProductSpec, Sku, new_id, now_millis};
use inventory::store::{DynStore, MySqlStore, PoolSettings};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The raw variant's sale, as the MySQL adapter ran it before the `donut_sell` procedure (the
/// single-row raw baseline), on today's schema (the stock of a one-bucket SKU is row 0 of
/// `stock_buckets`): the sale row first, then one conditional decrement that also returns,
/// through `LAST_INSERT_ID(expr)` (in the OK packet), the new stock shifted left by one with the
/// "at or below the reorder point" flag in the low bit. Four round trips in a client-driven
/// transaction, the row locked across the last two.
pub const INSERT_SALE: &str = "INSERT INTO sales (id, sku, quantity, remaining_stock, \
    idempotency_key, request_hash, correlation_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
pub const SELL_SQL: &str = "UPDATE stock_buckets \
    SET stock = LAST_INSERT_ID(((stock - ?) << 1) | ((stock - ?) <= ?)) >> 1, \
        updated_at = ? \
    WHERE sku = ? AND bucket = 0 AND stock >= ?";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    Raw,
    Handler,
    /// The handler on a product with 4 stock buckets.
    HandlerB4,
    /// The handler on a product with 16 stock buckets.
    HandlerB16,
    HttpCaptureOn,
    HttpCaptureOff,
}

impl Variant {
    pub const ALL: [Variant; 6] = [
        Variant::Raw,
        Variant::Handler,
        Variant::HandlerB4,
        Variant::HandlerB16,
        Variant::HttpCaptureOn,
        Variant::HttpCaptureOff,
    ];
    /// What runs on the current configuration when `--variants` is not given (scripts/bench.sh,
    /// and CI's quick bench).
    pub const DEFAULT: [Variant; 4] = [
        Variant::Raw,
        Variant::Handler,
        Variant::HttpCaptureOn,
        Variant::HttpCaptureOff,
    ];
    /// What runs on the RDS-like configuration when `--variants` is not given: the single-row
    /// raw limit, the one-round-trip sale, and the same with 4 and 16 stock buckets.
    pub const RDS_DEFAULT: [Variant; 4] = [
        Variant::Raw,
        Variant::Handler,
        Variant::HandlerB4,
        Variant::HandlerB16,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Variant::Raw => "raw SQL",
            Variant::Handler => "handler",
            Variant::HandlerB4 => "handler, 4 buckets",
            Variant::HandlerB16 => "handler, 16 buckets",
            Variant::HttpCaptureOn => "HTTP, capture on",
            Variant::HttpCaptureOff => "HTTP, capture off",
        }
    }
    pub fn tag(self) -> &'static str {
        match self {
            Variant::Raw => "raw",
            Variant::Handler => "handler",
            Variant::HandlerB4 => "handler-b4",
            Variant::HandlerB16 => "handler-b16",
            Variant::HttpCaptureOn => "http-on",
            Variant::HttpCaptureOff => "http-off",
        }
    }
    /// The variant with this tag (`--variants`).
    pub fn from_tag(tag: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.tag() == tag.trim())
    }
    /// Every tag, for error messages and help.
    pub fn tags() -> String {
        Variant::ALL.map(Variant::tag).join(", ")
    }
    /// The stock buckets of the run's hot product (`products.buckets`).
    pub fn buckets(self) -> i64 {
        match self {
            Variant::HandlerB4 => 4,
            Variant::HandlerB16 => 16,
            _ => 1,
        }
    }
}

/// The variants of a `--variants` list, in the order given, without repeats.
pub fn parse_variants<S: AsRef<str>>(tags: &[S]) -> Result<Vec<Variant>, String> {
    let mut out = Vec::new();
    for t in tags {
        let v = Variant::from_tag(t.as_ref())
            .ok_or_else(|| format!("unknown variant {:?} ({})", t.as_ref(), Variant::tags()))?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    if out.is_empty() {
        return Err(format!("no variant given ({})", Variant::tags()));
    }
    Ok(out)
}

#[derive(Debug, Clone)]
pub struct Config {
    pub concurrencies: Vec<usize>,
    pub rounds: usize,
    pub warmup: Duration,
    pub measure: Duration,
    /// The variants to run, in this order in the first round ([`Variant::DEFAULT`] or
    /// [`Variant::RDS_DEFAULT`] unless `--variants` names others).
    pub variants: Vec<Variant>,
}

/// CPU used during the measured window of a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    /// This process (buyers and, for HTTP, the local stack), µs of CPU per sale.
    pub bench_us_per_sale: f64,
    /// The mariadbd process, µs of CPU per sale (NaN when its pid is unknown).
    pub db_us_per_sale: f64,
    /// Whole machine, busy CPUs (of `nproc`), from /proc/stat.
    pub machine_busy: f64,
    /// Busy CPUs not accounted for by this process and mariadbd: everything else on the machine.
    pub others: f64,
    /// InnoDB row lock waits per sale (`Innodb_row_lock_waits`, server-wide).
    pub lock_waits_per_sale: f64,
    /// Mean InnoDB row lock wait, ms (`Innodb_row_lock_time` / waits).
    pub lock_wait_ms: f64,
}

/// `Innodb_row_lock_waits` and `Innodb_row_lock_time` (ms), server-wide.
async fn lock_status(pool: &sqlx::MySqlPool) -> Option<(i64, i64)> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_row_lock_waits', 'Innodb_row_lock_time')",
    )
    .fetch_all(pool)
    .await
    .ok()?;
    let get = |n: &str| {
        rows.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .and_then(|(_, v)| v.parse().ok())
    };
    Some((get("Innodb_row_lock_waits")?, get("Innodb_row_lock_time")?))
}

#[derive(Debug, Clone, Copy)]
struct CpuSample {
    at: Instant,
    bench: u64,
    db: Option<u64>,
    busy: u64,
}

fn clock_ticks() -> f64 {
    static HZ: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *HZ.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// utime + stime of a process, in clock ticks.
fn process_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Busy ticks of the whole machine (all CPUs): everything but idle and iowait.
fn machine_busy_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = f.iter().sum();
    total - f.get(3).copied().unwrap_or(0) - f.get(4).copied().unwrap_or(0)
}

fn cpu_sample(db_pid: Option<u32>) -> CpuSample {
    CpuSample {
        at: Instant::now(),
        bench: process_ticks("self").unwrap_or(0),
        db: db_pid.and_then(|p| process_ticks(&p.to_string())),
        busy: machine_busy_ticks(),
    }
}

fn cpu_between(a: CpuSample, b: CpuSample, sales: usize) -> Cpu {
    let hz = clock_ticks();
    let secs = (b.at - a.at).as_secs_f64();
    let per_sale = |ticks: u64| ticks as f64 / hz * 1e6 / sales.max(1) as f64;
    let cores = |ticks: u64| ticks as f64 / hz / secs;
    let bench = b.bench.saturating_sub(a.bench);
    let db = match (a.db, b.db) {
        (Some(x), Some(y)) => Some(y.saturating_sub(x)),
        _ => None,
    };
    let busy = b.busy.saturating_sub(a.busy);
    Cpu {
        bench_us_per_sale: per_sale(bench),
        db_us_per_sale: db.map(per_sale).unwrap_or(f64::NAN),
        machine_busy: cores(busy),
        others: cores(busy) - cores(bench) - db.map(cores).unwrap_or(f64::NAN),
        lock_waits_per_sale: f64::NAN,
        lock_wait_ms: f64::NAN,
    }
}

/// The pid of the mariadbd listening on `port` (the harness's private server), if it is ours
/// to see.
pub fn find_mariadbd(port: u16) -> Option<u32> {
    let want = format!("--port={port}");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let exe = String::from_utf8_lossy(args.first()?);
        let is_db = exe.ends_with("mariadbd") || exe.ends_with("mysqld");
        (is_db && args.contains(&want.as_bytes())).then_some(pid)
    })
}

#[derive(Debug, Clone)]
pub struct Run {
    pub variant: Variant,
    pub concurrency: usize,
    pub round: usize,
    /// Position of the variant within its round (0 = first).
    pub position: usize,
    pub sales_per_sec: f64,
    pub lat: Lat,
    /// Every successful sale's latency (µs), sorted: pooled percentiles over rounds.
    pub lat_us: Vec<u32>,
    pub errors: u64,
    pub first_error: Option<String>,
    pub check: Check,
    pub cpu: Cpu,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub ok: bool,
    pub consumed: i64,
    pub sales_rows: i64,
    pub sales_quantity: i64,
    pub successes: u64,
}

impl Check {
    pub fn describe(&self) -> String {
        format!(
            "{}: stock consumed {} = sales rows {} (quantity {}) = successful sales {}",
            if self.ok { "OK" } else { "MISMATCH" },
            self.consumed,
            self.sales_rows,
            self.sales_quantity,
            self.successes
        )
    }
}

/// Medians over the rounds of one (concurrency, variant), and its ratios to `raw` measured in the
/// same round (median of the per-round ratios).
#[derive(Debug, Clone)]
pub struct Summary {
    pub variant: Variant,
    pub concurrency: usize,
    pub sales_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub throughput_vs_raw: f64,
    pub p99_vs_raw: f64,
    pub bench_us_per_sale: f64,
    pub db_us_per_sale: f64,
    pub machine_busy: f64,
    pub others: f64,
    pub lock_waits_per_sale: f64,
    pub lock_wait_ms: f64,
}

pub struct Report {
    pub runs: Vec<Run>,
    pub summaries: Vec<Summary>,
    /// Per concurrency: capture on vs off.
    pub capture: Vec<CaptureP99>,
}

/// Sales p99 with capture on vs off at one concurrency. The judged figure is the ratio of the
/// pooled p99s (every sale of every round of the variant: ~15 s of samples), which is far less
/// noisy on a shared 2-core machine than one 3-second run's p99; the per-round ratios are kept
/// to show the spread.
#[derive(Debug, Clone)]
pub struct CaptureP99 {
    pub concurrency: usize,
    pub on_p99_ms: f64,
    pub off_p99_ms: f64,
    pub samples_on: usize,
    pub samples_off: usize,
    pub pooled_ratio: f64,
    pub per_round: Vec<f64>,
}

/// What a buyer does once.
enum Driver {
    Raw(sqlx::MySqlPool),
    Handler {
        api: App,
        event_head: String,
        event_tail: String,
    },
    Http {
        client: reqwest::Client,
        url: String,
        body: String,
    },
}

async fn raw_sale(pool: &sqlx::MySqlPool, sku: &str) -> Result<(), String> {
    let now = now_millis();
    let id = new_id();
    // The handler generates a correlation id per request: so does the limit.
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let mut tx = pool.begin().await.map_err(|e| e.to_string())?;
    sqlx::query(INSERT_SALE)
        .bind(&id)
        .bind(sku)
        .bind(1i64)
        .bind(None::<i64>)
        .bind(None::<&str>)
        .bind(None::<&str>)
        .bind(&correlation_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| e.to_string())?;
    let res = sqlx::query(SELL_SQL)
        .bind(1i64)
        .bind(1i64)
        .bind(0i64) // the reorder point (the hot product's is 0)
        .bind(now)
        .bind(sku)
        .bind(1i64)
        .execute(&mut *tx)
        .await
        .map_err(|e| e.to_string())?;
    if res.rows_affected() != 1 {
        let _ = tx.rollback().await;
        return Err("conditional decrement matched no row".into());
    }
    std::hint::black_box(res.last_insert_id());
    tx.commit().await.map_err(|e| e.to_string())
}

impl Driver {
    async fn sale(&self, sku: &str, request_id: u64) -> Result<(), String> {
        match self {
            Driver::Raw(pool) => raw_sale(pool, sku).await,
            Driver::Handler {
                api,
                event_head,
                event_tail,
            } => {
                // What the runtime does with the invocation payload: deserialize the API Gateway
                // v2 event into a `lambda_http::Request`.
                let event = format!("{event_head}{request_id:x}{event_tail}");
                let req = lambda_http::request::from_str(&event).map_err(|e| e.to_string())?;
                // As `sales-api` serves an invocation: the handler, then the EMF metrics flush.
                let res = inventory::metrics::flushed(handle(api, req)).await;
                match res.status().as_u16() {
                    201 => Ok(()),
                    s => Err(format!("status {s}: {:?}", res.body())),
                }
            }
            Driver::Http { client, url, body } => {
                let res = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = res.status().as_u16();
                let bytes = res.bytes().await.map_err(|e| e.to_string())?;
                if status == 201 {
                    Ok(())
                } else {
                    Err(format!(
                        "status {status}: {}",
                        String::from_utf8_lossy(&bytes)
                    ))
                }
            }
        }
    }
}

/// An API Gateway HTTP API (payload 2.0) `POST /sales` event, split around its request id.
pub fn sales_event(sku: &str) -> (String, String) {
    let body = json!({"sku": sku, "quantity": 1}).to_string();
    let event = json!({
        "version": "2.0",
        "routeKey": "POST /sales",
        "rawPath": "/sales",
        "rawQueryString": "",
        "headers": {
            "accept": "application/json",
            "content-length": body.len().to_string(),
            "content-type": "application/json",
            "host": "abc123.execute-api.us-east-1.amazonaws.com",
            "user-agent": "bench/1",
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": "POST",
                "path": "/sales",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "bench/1"
            },
            "requestId": "@@REQUEST_ID@@",
            "routeKey": "POST /sales",
            "stage": "$default",
            "time": "21/Nov/2026:22:07:24 +0000",
            "timeEpoch": 1_795_305_244_123i64
        },
        "body": body,
        "isBase64Encoded": false
    })
    .to_string();
    let (head, tail) = event
        .split_once("@@REQUEST_ID@@")
        .expect("placeholder present");
    (format!("{head}bench-"), tail.to_owned())
}

/// Devstack options as `cargo run -p devstack` has them (default timers), on `database_url`,
/// with every setting the environment could change pinned.
pub fn devstack_options(dir: &Path, database_url: Option<String>, pool: u32) -> Options {
    let mut o = Options::parse_from(["devstack", "--no-seed"]);
    o.port = 0;
    o.data_dir = dir.to_path_buf();
    o.database_url = database_url;
    o.admin_token = "bench-admin-token".into();
    o.callback_secret = Some("bench-callback-secret".into());
    o.factory_url = None;
    o.factory_timeout_ms = 5000;
    o.outbox_grace_secs = 3;
    o.order_deadline_secs = 60;
    o.max_order_attempts = 5;
    o.db_max_connections = pool;
    o
}

pub fn http_client(pool: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(pool)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

struct WorkerOut {
    lat_us: Vec<u32>,
    successes: u64,
    errors: u64,
    first_error: Option<String>,
}

async fn worker(
    driver: Arc<Driver>,
    sku: Arc<str>,
    id: u64,
    warm_end: Instant,
    end: Instant,
) -> WorkerOut {
    let mut out = WorkerOut {
        lat_us: Vec::with_capacity(16 * 1024),
        successes: 0,
        errors: 0,
        first_error: None,
    };
    let mut n = 0u64;
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        n += 1;
        let r = driver.sale(&sku, (id << 40) | n).await;
        let dt = t0.elapsed();
        match r {
            Ok(()) => {
                out.successes += 1;
                if t0 >= warm_end {
                    out.lat_us
                        .push(u32::try_from(dt.as_micros()).unwrap_or(u32::MAX));
                }
            }
            Err(e) => {
                out.errors += 1;
                if out.first_error.is_none() {
                    out.first_error = Some(e);
                }
                // Do not spin on a persistent failure.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    out
}

type Window = (CpuSample, CpuSample, Option<(i64, i64)>, Option<(i64, i64)>);

async fn load(
    driver: Driver,
    sku: &str,
    concurrency: usize,
    cfg: &Config,
    db: &Db,
) -> (Vec<WorkerOut>, Window) {
    let driver = Arc::new(driver);
    let sku: Arc<str> = Arc::from(sku);
    let start = Instant::now();
    let warm_end = start + cfg.warmup;
    let end = warm_end + cfg.measure;
    let tasks: Vec<_> = (0..concurrency)
        .map(|i| {
            tokio::spawn(worker(
                driver.clone(),
                sku.clone(),
                i as u64 + 1,
                warm_end,
                end,
            ))
        })
        .collect();
    tokio::time::sleep_until(warm_end.into()).await;
    let a = cpu_sample(db.pid);
    let la = lock_status(&db.check_pool).await;
    tokio::time::sleep_until(end.into()).await;
    let b = cpu_sample(db.pid);
    let lb = lock_status(&db.check_pool).await;
    let mut outs = Vec::with_capacity(concurrency);
    for t in tasks {
        outs.push(t.await.expect("worker"));
    }
    (outs, (a, b, la, lb))
}

pub struct Db {
    pub url: String,
    /// Setup and checks (not the measured pools).
    pub store: DynStore,
    pub check_pool: sqlx::MySqlPool,
    /// The server process, for its CPU time.
    pub pid: Option<u32>,
}

impl Db {
    pub async fn new(url: String) -> Db {
        let settings = PoolSettings {
            max_connections: 2,
            ..PoolSettings::default()
        };
        let store = inventory::store::connect(&url, &settings).expect("connect");
        store.migrate().await.expect("migrate");
        let check = MySqlStore::connect_lazy(&url, &settings).expect("connect");
        let port = url
            .rsplit('@')
            .next()
            .and_then(|hp| hp.split('/').next())
            .and_then(|hp| hp.rsplit(':').next())
            .and_then(|p| p.parse().ok());
        Db {
            pid: port.and_then(find_mariadbd),
            url,
            store,
            check_pool: check.pool().clone(),
        }
    }

    /// The run's hot product: stock [`MAX_STOCK`] spread evenly over `buckets` rows (10^9 in a
    /// row at most: an `INT` holds it; no bucket of a run comes near empty, so no sale takes the
    /// rebalancing path), reorder point 0 (never reached).
    async fn hot_product(&self, sku: &str, buckets: i64) {
        let spec = ProductSpec::build(
            Sku::parse(sku).expect("sku"),
            None,
            Some(MAX_STOCK),
            Some(0),
            Some(100),
            Some(buckets),
        )
        .expect("spec");
        self.store.put_product(&spec).await.expect("put product");
    }

    async fn check(&self, sku: &str, successes: u64) -> Check {
        let (stock,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(stock), 0) AS SIGNED) FROM stock_buckets WHERE sku = ?",
        )
        .bind(sku)
        .fetch_one(&self.check_pool)
        .await
        .expect("stock");
        let (rows, quantity): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(quantity), 0) AS SIGNED) FROM sales WHERE sku = ?",
        )
        .bind(sku)
        .fetch_one(&self.check_pool)
        .await
        .expect("sales");
        let consumed = MAX_STOCK - stock;
        let s = i64::try_from(successes).unwrap_or(i64::MAX);
        Check {
            ok: consumed == s && rows == s && quantity == s,
            consumed,
            sales_rows: rows,
            sales_quantity: quantity,
            successes,
        }
    }
}

async fn run_one(
    db: &Db,
    variant: Variant,
    concurrency: usize,
    round: usize,
    position: usize,
    cfg: &Config,
    scratch: &Path,
) -> Run {
    let sku = format!("flash-c{concurrency}-r{round}-{}", variant.tag());
    db.hot_product(&sku, variant.buckets()).await;
    let settings = PoolSettings {
        max_connections: concurrency as u32,
        ..PoolSettings::default()
    };
    let (outs, (cpu_a, cpu_b, lock_a, lock_b)) = match variant {
        Variant::Raw => {
            // The adapter's own pool (same options: size, acquire timeout, test before acquire).
            let store = MySqlStore::connect_lazy(&db.url, &settings).expect("pool");
            let pool = store.pool().clone();
            let outs = load(Driver::Raw(pool.clone()), &sku, concurrency, cfg, db).await;
            pool.close().await;
            outs
        }
        Variant::Handler | Variant::HandlerB4 | Variant::HandlerB16 => {
            // Wired as `sales-api` is (lambdas/sales-api/src/main.rs; the metrics recorder is
            // installed at start, see main.rs); no publisher is needed
            // since this sale never reaches the reorder point.
            let store = Arc::new(MySqlStore::connect_lazy(&db.url, &settings).expect("pool"));
            let (event_head, event_tail) = sales_event(&sku);
            let api = App::new(Api {
                service: "sales-api",
                serves: &[Function::SalesApi],
                store: store.clone(),
                publisher: None,
                admin: Some(AdminToken::new("bench-admin-token")),
                callbacks: None,
                capture: Arc::new(LogLineSink::default()),
            });
            let driver = Driver::Handler {
                api,
                event_head,
                event_tail,
            };
            let outs = load(driver, &sku, concurrency, cfg, db).await;
            store.pool().close().await;
            outs
        }
        Variant::HttpCaptureOn | Variant::HttpCaptureOff => {
            let dir = tempfile::tempdir_in(scratch).expect("temp dir");
            let mut opts = devstack_options(dir.path(), Some(db.url.clone()), concurrency as u32);
            opts.no_capture = variant == Variant::HttpCaptureOff;
            let stack = Stack::start(opts).await.expect("devstack starts");
            let driver = Driver::Http {
                client: http_client(concurrency),
                url: format!("{}/sales", stack.base_url),
                body: json!({"sku": sku, "quantity": 1}).to_string(),
            };
            let outs = load(driver, &sku, concurrency, cfg, db).await;
            stack.stop().await;
            outs
        }
    };
    let successes: u64 = outs.iter().map(|o| o.successes).sum();
    let errors: u64 = outs.iter().map(|o| o.errors).sum();
    let first_error = outs.iter().find_map(|o| o.first_error.clone());
    let lat_us: Vec<u32> = outs.into_iter().flat_map(|o| o.lat_us).collect();
    let sales_per_sec = lat_us.len() as f64 / cfg.measure.as_secs_f64();
    let mut cpu = cpu_between(cpu_a, cpu_b, lat_us.len());
    if let (Some((wa, ta)), Some((wb, tb))) = (lock_a, lock_b) {
        let waits = (wb - wa) as f64;
        cpu.lock_waits_per_sale = waits / lat_us.len().max(1) as f64;
        cpu.lock_wait_ms = if waits > 0.0 {
            (tb - ta) as f64 / waits
        } else {
            0.0
        };
    } else {
        cpu.lock_waits_per_sale = f64::NAN;
        cpu.lock_wait_ms = f64::NAN;
    }
    let lat = summarise_us(lat_us.clone());
    let mut lat_us = lat_us;
    lat_us.sort_unstable();
    let check = db.check(&sku, successes).await;
    Run {
        variant,
        concurrency,
        round,
        position,
        sales_per_sec,
        lat,
        lat_us,
        errors,
        first_error,
        check,
        cpu,
    }
}

/// The order of the variants in a round: `variants` rotated by one per round, so over as many
/// rounds as variants every variant runs in every position.
pub fn round_order(variants: &[Variant], round: usize) -> Vec<Variant> {
    let mut v = variants.to_vec();
    let n = v.len().max(1);
    v.rotate_left(round % n);
    v
}

pub async fn run(db: &Db, cfg: &Config, scratch: &Path) -> Report {
    let mut runs = Vec::new();
    for &c in &cfg.concurrencies {
        for round in 0..cfg.rounds {
            for (position, variant) in round_order(&cfg.variants, round).into_iter().enumerate() {
                let r = run_one(db, variant, c, round, position, cfg, scratch).await;
                eprintln!(
                    "bench: flash c={c} round {}/{} {:<18} {:>8.0} sales/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}  check {}",
                    round + 1,
                    cfg.rounds,
                    variant.name(),
                    r.sales_per_sec,
                    r.lat.p50_ms,
                    r.lat.p99_ms,
                    r.errors,
                    r.check.describe()
                );
                if let Some(e) = &r.first_error {
                    eprintln!("bench:   first error: {e}");
                }
                runs.push(r);
            }
        }
    }
    summarise(runs, cfg)
}

fn summarise(runs: Vec<Run>, cfg: &Config) -> Report {
    let find = |c: usize, round: usize, v: Variant| {
        runs.iter()
            .find(|r| r.concurrency == c && r.round == round && r.variant == v)
    };
    let mut summaries = Vec::new();
    let mut capture = Vec::new();
    for &c in &cfg.concurrencies {
        for &v in &cfg.variants {
            let mine: Vec<&Run> = runs
                .iter()
                .filter(|r| r.concurrency == c && r.variant == v)
                .collect();
            let (mut thr_ratio, mut p99_ratio) = (Vec::new(), Vec::new());
            for r in &mine {
                if let Some(raw) = find(c, r.round, Variant::Raw) {
                    thr_ratio.push(r.sales_per_sec / raw.sales_per_sec);
                    p99_ratio.push(r.lat.p99_ms / raw.lat.p99_ms);
                }
            }
            let med = |f: fn(&Run) -> f64| median(&mine.iter().map(|r| f(r)).collect::<Vec<_>>());
            summaries.push(Summary {
                bench_us_per_sale: med(|r| r.cpu.bench_us_per_sale),
                db_us_per_sale: med(|r| r.cpu.db_us_per_sale),
                machine_busy: med(|r| r.cpu.machine_busy),
                others: med(|r| r.cpu.others),
                lock_waits_per_sale: med(|r| r.cpu.lock_waits_per_sale),
                lock_wait_ms: med(|r| r.cpu.lock_wait_ms),
                variant: v,
                concurrency: c,
                sales_per_sec: median(&mine.iter().map(|r| r.sales_per_sec).collect::<Vec<_>>()),
                p50_ms: median(&mine.iter().map(|r| r.lat.p50_ms).collect::<Vec<_>>()),
                p99_ms: median(&mine.iter().map(|r| r.lat.p99_ms).collect::<Vec<_>>()),
                throughput_vs_raw: median(&thr_ratio),
                p99_vs_raw: median(&p99_ratio),
            });
        }
        let per_round: Vec<f64> = (0..cfg.rounds)
            .filter_map(|round| {
                let on = find(c, round, Variant::HttpCaptureOn)?;
                let off = find(c, round, Variant::HttpCaptureOff)?;
                Some(on.lat.p99_ms / off.lat.p99_ms)
            })
            .collect();
        let pooled = |v: Variant| {
            let all: Vec<u32> = runs
                .iter()
                .filter(|r| r.concurrency == c && r.variant == v)
                .flat_map(|r| r.lat_us.iter().copied())
                .collect();
            let n = all.len();
            (summarise_us(all).p99_ms, n)
        };
        let ((on, samples_on), (off, samples_off)) = (
            pooled(Variant::HttpCaptureOn),
            pooled(Variant::HttpCaptureOff),
        );
        if samples_on > 0 && samples_off > 0 {
            capture.push(CaptureP99 {
                concurrency: c,
                on_p99_ms: on,
                off_p99_ms: off,
                samples_on,
                samples_off,
                pooled_ratio: on / off,
                per_round,
            });
        }
    }
    Report {
        runs,
        summaries,
        capture,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_takes_every_position() {
        for set in [
            &Variant::DEFAULT[..],
            &Variant::RDS_DEFAULT[..],
            &Variant::ALL[..],
        ] {
            for v in set {
                let positions: std::collections::BTreeSet<usize> = (0..set.len())
                    .map(|r| round_order(set, r).iter().position(|x| x == v).unwrap())
                    .collect();
                assert_eq!(positions.len(), set.len(), "{v:?} {positions:?}");
            }
        }
        assert!(round_order(&[], 3).is_empty());
    }

    #[test]
    fn variant_tags_parse() {
        for v in Variant::ALL {
            assert_eq!(Variant::from_tag(v.tag()), Some(v));
        }
        assert_eq!(
            parse_variants(&["raw", "handler", "handler-b4", "handler-b16"]).unwrap(),
            Variant::RDS_DEFAULT
        );
        assert_eq!(
            parse_variants(&["handler-b16", "raw", "handler-b16"]).unwrap(),
            [Variant::HandlerB16, Variant::Raw]
        );
        let e = parse_variants(&["raw", "handler-b8"]).unwrap_err();
        assert!(e.contains("handler-b8") && e.contains("handler-b16"), "{e}");
        assert!(parse_variants::<&str>(&[]).is_err());
        // Tags are unique, and the bucket counts are what the tags say.
        let tags: std::collections::BTreeSet<&str> = Variant::ALL.map(Variant::tag).into();
        assert_eq!(tags.len(), Variant::ALL.len());
        assert_eq!(Variant::ALL.map(Variant::buckets), [1, 1, 4, 16, 1, 1]);
        // The normal bench (and CI's quick one) keeps its four variants.
        assert_eq!(
            Variant::DEFAULT.map(Variant::tag),
            ["raw", "handler", "http-on", "http-off"]
        );
    }

    #[test]
    fn a_bucket_holds_its_share_of_the_hot_stock() {
        // stock_buckets.stock is an INT: the hot stock fits in one row, so in any of them.
        for v in Variant::ALL {
            assert!(MAX_STOCK / v.buckets() <= i64::from(i32::MAX));
        }
    }

    #[test]
    fn the_event_is_what_lambda_http_reads() {
        let (head, tail) = sales_event("hot");
        let req = lambda_http::request::from_str(&format!("{head}1{tail}")).unwrap();
        assert_eq!(req.method(), "POST");
        assert_eq!(req.uri().path(), "/sales");
        match req.body() {
            lambda_http::Body::Text(t) => {
                let v: serde_json::Value = serde_json::from_str(t).unwrap();
                assert_eq!(v, json!({"sku": "hot", "quantity": 1}));
            }
            other => panic!("{other:?}"),
        }
    }
}
