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
//!
//! Where things are: [`server`] (the private mariadbd, the fsync shim, what the server says
//! about itself), [`probe`] (commit latency and round trips), [`render`] (the report's section);
//! here, the run: probes, checks, then the flash sale.

mod probe;
mod render;
mod server;

pub use probe::CommitProbe;
pub use render::render;
pub use server::ServerFacts;

use crate::delay_proxy::DelayProxy;
use crate::flash;
use crate::stats::{Lat, fmt_ms};
use lambda_harness::Error;
use probe::{commit_probe, round_trip};
use server::{facts, start, stop};
use sqlx::Connection;
use std::path::Path;
use std::time::Duration;

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

/// One connection of its own (probes and set-up, not the measured pools).
async fn connect(url: &str) -> Result<sqlx::MySqlConnection, Error> {
    Ok(sqlx::MySqlConnection::connect(url).await?)
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
