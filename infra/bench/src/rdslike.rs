//! The RDS-like configuration of the flash sale (`--db rds-like`, scripts/bench-rds.sh): a
//! private `mariadbd` as RDS runs it with backups on — binary log on, `sync_binlog=1`, durable
//! InnoDB commits that really fsync — with a fixed fsync latency (the LD_PRELOAD shim in
//! infra/bench/fsync-delay/: each fsync/fdatasync takes that long), reached through a proxy that delays each direction ([`DelayProxy`]), as a client in
//! the same availability zone would. Before the flash sale it checks that the model is in effect
//! and measures it: the server variables, the shim mapped into the server, the commit latency
//! with and without the delay, and the round trip through the proxy vs direct.
//!
//! The server is started and stopped here, by PID; a watchdog shell stops it (and removes its
//! directory) if the bench exits without stopping it.

use crate::delay_proxy::DelayProxy;
use crate::flash;
use crate::stats::{Lat, fmt_ms, fmt_ratio, summarise_us};
use lambda_harness::Error;
use sqlx::Connection;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The shim's source, compiled with `cc` at bench time.
const SHIM_C: &str = include_str!("../fsync-delay/fsync_delay.c");
/// The database the flash sale runs in.
const DATABASE: &str = "donut_bench";

/// What is modelled.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Added to every fsync/fdatasync of the server, µs.
    pub fsync_us: u64,
    /// Added to each direction between the bench and the server, µs.
    pub one_way_us: u64,
    /// Statements per latency probe.
    pub probes: usize,
}

/// What the server says about itself, and whether the shim is in it.
#[derive(Debug, Clone, Default)]
pub struct ServerFacts {
    pub version: String,
    pub log_bin: i64,
    pub sync_binlog: i64,
    pub flush_log_at_trx_commit: i64,
    pub flush_method: String,
    pub binlog_format: String,
    pub shim_mapped: bool,
    /// InnoDB memory-maps a redo log on /dev/shm and never fsyncs it: must be false.
    pub redo_mmapped: bool,
}

/// Single-connection autocommit `UPDATE` of one row: what one commit costs.
#[derive(Debug, Clone, Copy)]
pub struct CommitProbe {
    pub lat: Lat,
    /// fsync/fdatasync calls the shim saw per commit (NaN without the shim).
    pub fsyncs_per_commit: f64,
}

/// Everything measured on the RDS-like configuration.
pub struct Outcome {
    pub settings: Settings,
    pub facts: ServerFacts,
    /// The same server configuration with the shim's delay at 0.
    pub commit_no_delay: CommitProbe,
    pub commit: CommitProbe,
    /// The current configuration (the harness's server), for comparison.
    pub commit_current: Option<CommitProbe>,
    /// `SELECT 1` on one connection, direct and through the proxy.
    pub rtt_direct: Lat,
    pub rtt_proxy: Lat,
    pub flash: flash::Report,
}

/// A private mariadbd with the binary log on and the fsync delay shim preloaded.
struct Server {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

fn build_shim(dir: &Path) -> Result<PathBuf, Error> {
    let src = dir.join("fsync_delay.c");
    let lib = dir.join("libfsync_delay.so");
    std::fs::write(&src, SHIM_C)?;
    let out = Command::new("cc")
        .args(["-O2", "-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cc not found ({e}): install a C compiler (apt-get install gcc)"))?;
    if !out.status.success() {
        return Err(format!("cc fsync_delay.c: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(lib)
}

impl Server {
    /// In `parent`; not /dev/shm, where InnoDB would memory-map its redo log instead of
    /// fsyncing it.
    fn start(parent: &Path, fsync_us: u64) -> Result<Server, Error> {
        let dir = tempfile::Builder::new()
            .prefix("donut-rdslike-")
            .tempdir_in(parent)?;
        let d = dir.path();
        let shim = build_shim(d)?;
        std::fs::write(d.join("fsync-calls"), 0u64.to_ne_bytes())?;
        let (mariadbd, install) = lambda_harness::tlsdb::mariadb_binaries()?;
        lambda_harness::tlsdb::install_datadir(&install, &d.join("data"))?;
        let port = lambda_harness::tlsdb::free_port()?;
        let child = Command::new(&mariadbd)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", d.join("data").display()))
            .arg(format!("--socket={}", d.join("mysqld.sock").display()))
            .arg(format!("--port={port}"))
            .args(["--bind-address=127.0.0.1", "--user=root"])
            // As the harness's server, but with RDS's durability settings when backups are on.
            .args(["--max-connections=600", "--innodb-buffer-pool-size=256M"])
            .arg(format!("--log-bin={}", d.join("binlog").display()))
            .args(["--server-id=1", "--binlog-format=ROW", "--sync-binlog=1"])
            .arg("--innodb-flush-log-at-trx-commit=1")
            // fsync after each write, for the redo log and the data files alike (the 10.11
            // default O_DIRECT is refused by tmpfs).
            .arg("--innodb-flush-method=fsync")
            .arg(format!("--log-error={}", d.join("error.log").display()))
            .arg(format!("--pid-file={}", d.join("mysqld.pid").display()))
            .env("LD_PRELOAD", &shim)
            .env("FSYNC_DELAY_US", fsync_us.to_string())
            .env("FSYNC_DELAY_COUNTER", d.join("fsync-calls"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("start {}: {e}", mariadbd.display()))?;
        let pid = child.id();
        // Stops the server (and removes its directory) once this process is gone, should it
        // exit without `stop` (a panic, `process::exit`).
        let watchdog = format!(
            "while kill -0 {owner} 2>/dev/null && kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             kill {pid} 2>/dev/null; sleep 5; rm -rf {dir}",
            owner = std::process::id(),
            dir = d.display(),
        );
        Command::new("sh")
            .args(["-c", &watchdog])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(|mut w| {
                std::thread::spawn(move || {
                    let _ = w.wait();
                })
            })?;
        let mut server = Server { child, port, dir };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = server.child.try_wait()?.is_some();
            if exited || started.elapsed() > Duration::from_secs(60) {
                let log = std::fs::read_to_string(server.dir.path().join("error.log"))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                server.stop();
                return Err(format!(
                    "RDS-like mariadbd did not start; its error log ends:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(server)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    /// fsync/fdatasync calls so far, as the shim counts them.
    fn syncs(&self) -> Option<u64> {
        let b = std::fs::read(self.dir.path().join("fsync-calls")).ok()?;
        Some(u64::from_ne_bytes(b.get(..8)?.try_into().ok()?))
    }

    /// SIGTERM to our server's PID, a clean shutdown for up to 60 s, then SIGKILL.
    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
                // SAFETY: kill(2) on the PID of a child we spawned and have not reaped.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
            let t0 = Instant::now();
            while matches!(self.child.try_wait(), Ok(None)) {
                if t0.elapsed() > Duration::from_secs(60) {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn connect(url: &str) -> Result<sqlx::MySqlConnection, Error> {
    Ok(sqlx::MySqlConnection::connect(url).await?)
}

async fn facts(server: &Server) -> Result<ServerFacts, Error> {
    let mut c = connect(&server.url()).await?;
    let (version, log_bin, sync_binlog, flush, method, format): (
        String,
        i64,
        i64,
        i64,
        String,
        String,
    ) = sqlx::query_as(
        "SELECT VERSION(), CAST(@@log_bin AS SIGNED), CAST(@@sync_binlog AS SIGNED), \
         CAST(@@innodb_flush_log_at_trx_commit AS SIGNED), @@innodb_flush_method, @@binlog_format",
    )
    .fetch_one(&mut c)
    .await?;
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", server.pid())).unwrap_or_default();
    Ok(ServerFacts {
        version,
        log_bin,
        sync_binlog,
        flush_log_at_trx_commit: flush,
        flush_method: method,
        binlog_format: format,
        shim_mapped: maps.contains("libfsync_delay.so"),
        redo_mmapped: std::fs::read_to_string(server.dir.path().join("error.log"))
            .unwrap_or_default()
            .contains("(memory-mapped)"),
    })
}

/// `n` autocommit updates of one row on one connection, on a table of its own.
/// `syncs` reads the shim's call counter (None for a server without the shim).
pub async fn commit_probe(
    server_url: &str,
    n: usize,
    syncs: impl Fn() -> Option<u64>,
) -> Result<CommitProbe, Error> {
    let mut c = connect(&format!("{server_url}/mysql")).await?;
    let table = format!("rdslike_probe_{}", uuid::Uuid::new_v4().simple());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE IF NOT EXISTS bench_probe; \
         CREATE TABLE bench_probe.{table} (id INT PRIMARY KEY, v BIGINT NOT NULL) ENGINE=InnoDB; \
         INSERT INTO bench_probe.{table} VALUES (1, 0)"
    )))
    .execute(&mut c)
    .await?;
    let update = format!("UPDATE bench_probe.{table} SET v = v + ? WHERE id = ?");
    let before = syncs();
    let mut us = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        sqlx::query(sqlx::AssertSqlSafe(update.as_str()))
            .bind(1i64)
            .bind(1i64)
            .execute(&mut c)
            .await?;
        us.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
    }
    let after = syncs();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP TABLE bench_probe.{table}"
    )))
    .execute(&mut c)
    .await?;
    Ok(CommitProbe {
        lat: summarise_us(us),
        fsyncs_per_commit: match (before, after) {
            (Some(a), Some(b)) => (b - a) as f64 / n.max(1) as f64,
            _ => f64::NAN,
        },
    })
}

/// `SELECT 1` `n` times on one connection.
async fn round_trip(url: &str, n: usize) -> Result<Lat, Error> {
    let mut c = connect(url).await?;
    let mut us = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        sqlx::query_as::<_, (i32,)>("SELECT 1")
            .fetch_one(&mut c)
            .await?;
        us.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
    }
    Ok(summarise_us(us))
}

/// Up to three attempts, as the harness's TLS server: `mariadb-install-db` shares the temp dir
/// with other servers being set up on the machine and fails now and then.
async fn start(parent: &Path, fsync_us: u64) -> Result<Server, Error> {
    let mut last = None;
    for attempt in 1..=3 {
        let parent = parent.to_owned();
        match tokio::task::spawn_blocking(move || Server::start(&parent, fsync_us)).await? {
            Ok(server) => return Ok(server),
            Err(e) => {
                eprintln!("bench: RDS-like mariadbd, start attempt {attempt} failed: {e}");
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| "RDS-like mariadbd did not start".into()))
}

async fn stop(mut server: Server) {
    let _ = tokio::task::spawn_blocking(move || server.stop()).await;
}

/// Measures the model, then runs the flash sale of `cfg` on it. `current` is the harness's
/// server (no database part), probed for comparison.
pub async fn run(
    settings: Settings,
    cfg: &flash::Config,
    scratch: &Path,
    current: Option<&str>,
) -> Result<Outcome, Error> {
    let n = settings.probes;
    // Without the delay first: the same configuration, so the difference is the shim's.
    let plain = start(scratch, 0).await?;
    let commit_no_delay = commit_probe(&plain.url(), n, || plain.syncs()).await;
    stop(plain).await;
    let commit_no_delay = commit_no_delay?;
    let commit_current = match current {
        Some(url) => Some(commit_probe(url, n, || None).await?),
        None => None,
    };

    let server = start(scratch, settings.fsync_us).await?;
    let facts = facts(&server).await?;
    if facts.log_bin != 1 || facts.sync_binlog != 1 || facts.flush_log_at_trx_commit != 1 {
        return Err(format!("the RDS-like server is not configured as asked: {facts:?}").into());
    }
    if !facts.shim_mapped || facts.redo_mmapped {
        return Err(format!(
            "the RDS-like mariadbd does not fsync through the shim (shim mapped: {}, redo log memory-mapped: {}); put the scratch dir off /dev/shm",
            facts.shim_mapped, facts.redo_mmapped
        )
        .into());
    }
    let commit = commit_probe(&server.url(), n, || server.syncs()).await?;
    let proxy = DelayProxy::start(server.addr(), Duration::from_micros(settings.one_way_us))?;
    let proxied = format!("mysql://root@{}", proxy.addr);
    let rtt_direct = round_trip(&server.url(), n).await?;
    let rtt_proxy = round_trip(&proxied, n).await?;
    eprintln!(
        "bench: RDS-like: {} log_bin={} sync_binlog={} innodb_flush_log_at_trx_commit={} flush_method={} binlog_format={}, shim mapped: {}, redo log memory-mapped: {}",
        facts.version,
        facts.log_bin,
        facts.sync_binlog,
        facts.flush_log_at_trx_commit,
        facts.flush_method,
        facts.binlog_format,
        facts.shim_mapped,
        facts.redo_mmapped,
    );
    eprintln!(
        "bench: RDS-like: commit (1 connection, autocommit UPDATE) p50 {} p99 {} with fsync = {} µs ({:.2} fsyncs/commit), {} with fsync = 0 µs; current config {}",
        fmt_ms(commit.lat.p50_ms),
        fmt_ms(commit.lat.p99_ms),
        settings.fsync_us,
        commit.fsyncs_per_commit,
        fmt_ms(commit_no_delay.lat.p50_ms),
        commit_current
            .map(|c| fmt_ms(c.lat.p50_ms))
            .unwrap_or_else(|| "not measured".into()),
    );
    eprintln!(
        "bench: RDS-like: SELECT 1 round trip p50 {} through the proxy ({} µs each way) vs {} direct",
        fmt_ms(rtt_proxy.p50_ms),
        settings.one_way_us,
        fmt_ms(rtt_direct.p50_ms)
    );

    let mut root = connect(&server.url()).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE IF NOT EXISTS {DATABASE}"
    )))
    .execute(&mut root)
    .await?;
    drop(root);
    let mut db = flash::Db::new(format!("{proxied}/{DATABASE}")).await;
    // The pool's port is the proxy's: the server's CPU is read by its PID.
    db.pid = Some(server.pid());
    eprintln!("bench: flash sale on the RDS-like server (through the delay proxy)");
    let report = flash::run(&db, cfg, scratch).await;
    db.check_pool.close().await;
    drop(db);
    drop(proxy);
    stop(server).await;
    Ok(Outcome {
        settings,
        facts,
        commit_no_delay,
        commit,
        commit_current,
        rtt_direct,
        rtt_proxy,
        flash: report,
    })
}

/// Sales recorded beyond the stock taken, summed over the runs (0 when every sale decremented
/// the stock exactly once).
pub fn oversold(runs: &[&flash::Run]) -> i64 {
    runs.iter()
        .map(|r| (r.check.sales_quantity.max(r.check.sales_rows) - r.check.consumed).max(0))
        .sum()
}

/// The report's section: the model, its measured figures, and the flash sale on it next to the
/// current configuration's; `plot` is the sales/s against stock buckets figure (path relative to
/// the report), if drawn.
pub fn render(o: &Outcome, current: Option<&flash::Report>, plot: Option<&str>, s: &mut String) {
    let f = &o.facts;
    let _ = writeln!(s, "\n## 1b. Flash sale on an RDS-like MariaDB\n");
    let _ = writeln!(
        s,
        "What a hot SKU meets on RDS with backups on (docs/rds-like-bench.md): a private `mariadbd` ({}) with the binary log on (`log_bin`={}, `binlog_format`={}), `sync_binlog`={}, `innodb_flush_log_at_trx_commit`={}, `innodb_flush_method`={}, every `fsync`/`fdatasync` taking **{} µs** (LD_PRELOAD shim in place of the real call; mapped into the server: {}), reached through a TCP proxy that delays each direction by **{} µs** (`TCP_NODELAY` both sides). Same load as section 1.\n",
        f.version,
        f.log_bin,
        f.binlog_format,
        f.sync_binlog,
        f.flush_log_at_trx_commit,
        f.flush_method,
        o.settings.fsync_us,
        if f.shim_mapped { "yes" } else { "NO" },
        o.settings.one_way_us,
    );
    let probe = |c: &CommitProbe| {
        format!(
            "p50 {} / p99 {} (fsyncs per commit: {})",
            fmt_ms(c.lat.p50_ms),
            fmt_ms(c.lat.p99_ms),
            if c.fsyncs_per_commit.is_finite() {
                format!("{:.2}", c.fsyncs_per_commit)
            } else {
                "n/a, no shim".into()
            }
        )
    };
    let _ = writeln!(
        s,
        "| measured ({} statements, one connection, direct) | figure |\n|---|---|",
        o.settings.probes
    );
    let _ = writeln!(
        s,
        "| commit: autocommit `UPDATE` of one row, fsync = {} µs | {} |",
        o.settings.fsync_us,
        probe(&o.commit)
    );
    let _ = writeln!(
        s,
        "| commit, same server configuration, fsync = 0 µs | {} |",
        probe(&o.commit_no_delay)
    );
    if let Some(c) = &o.commit_current {
        let _ = writeln!(
            s,
            "| commit on the current configuration (section 1's server: binlog off, data on disk) | {} |",
            probe(c)
        );
    }
    let _ = writeln!(
        s,
        "| round trip (`SELECT 1`) through the proxy, {} µs each way | p50 {} / p99 {} |",
        o.settings.one_way_us,
        fmt_ms(o.rtt_proxy.p50_ms),
        fmt_ms(o.rtt_proxy.p99_ms)
    );
    let _ = writeln!(
        s,
        "| round trip (`SELECT 1`) direct | p50 {} / p99 {} |",
        fmt_ms(o.rtt_direct.p50_ms),
        fmt_ms(o.rtt_direct.p99_ms)
    );
    // The raw sale holds the row lock from its UPDATE to the end of its COMMIT: the UPDATE's
    // answer and the COMMIT's request cross the network (one round trip), then the commit.
    let held_ms = o.commit.lat.p50_ms - o.rtt_direct.p50_ms + o.rtt_proxy.p50_ms;
    let _ = writeln!(
        s,
        "\nModel of the single-row limit: the row lock is held from the `UPDATE` to the end of `COMMIT`, i.e. one round trip through the proxy + one commit ≈ {} → **≤ {:.0} sales/s** on one SKU.\n",
        fmt_ms(held_ms),
        1000.0 / held_ms
    );
    let _ = writeln!(
        s,
        "Variants: **raw SQL** = the old four-round-trip sale on one row (the single-row raw limit); **handler** = `POST /sales` through `inventory::api::handle` with the one-round-trip `donut_sell` procedure, one stock bucket; **handler, 4 / 16 buckets** = the same on a product whose stock is spread over 4 / 16 rows of `stock_buckets` (each sale locks a random one). Medians over rounds; vs raw = the median over rounds of the ratio to the raw run of the same round and configuration; oversold = sales rows beyond the stock taken, summed over the rounds (must be 0).\n\n| c | variant | configuration | sales/s | p50 | p99 | sales/s vs raw | p99 vs raw | row-lock waits/sale | mean wait | oversold | correctness (SQL) |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let mut rows = Vec::new();
    for m in &o.flash.summaries {
        if !m.sales_per_sec.is_finite() {
            continue;
        }
        if let Some(cur) = current.and_then(|c| {
            c.summaries.iter().find(|x| {
                x.variant == m.variant
                    && x.concurrency == m.concurrency
                    && x.sales_per_sec.is_finite()
            })
        }) {
            rows.push(("current", cur, current.map(|c| &c.runs)));
        }
        rows.push(("RDS-like", m, Some(&o.flash.runs)));
    }
    for (name, m, runs) in rows {
        let mine: Vec<&flash::Run> = runs
            .map(|rs| {
                rs.iter()
                    .filter(|r| r.variant == m.variant && r.concurrency == m.concurrency)
                    .collect()
            })
            .unwrap_or_default();
        let ok = mine.iter().all(|r| r.check.ok);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {:.2} | {} | {} | {} |",
            m.concurrency,
            m.variant.name(),
            name,
            m.sales_per_sec,
            fmt_ms(m.p50_ms),
            fmt_ms(m.p99_ms),
            fmt_ratio(m.throughput_vs_raw),
            fmt_ratio(m.p99_vs_raw),
            m.lock_waits_per_sale,
            fmt_ms(m.lock_wait_ms),
            oversold(&mine),
            if ok {
                format!("OK ({} runs)", mine.len())
            } else {
                "MISMATCH".into()
            }
        );
    }
    if let Some(path) = plot {
        let _ = writeln!(
            s,
            "\nSales/s against stock buckets on this configuration (1 = the handler variant; dashed: the single-row raw limit and 5× it, the 16-bucket target):\n\n[![Flash sale, RDS-like MariaDB: sales/s against stock buckets]({path})]({path})"
        );
    }
}
