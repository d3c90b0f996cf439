//! The latency probes of the model: what one commit costs, and a round trip direct or through
//! the delay proxy.

use super::connect;
use crate::stats::{Lat, summarise_us};
use lambda_harness::Error;
use std::time::Instant;

/// Single-connection autocommit `UPDATE` of one row: what one commit costs.
#[derive(Debug, Clone, Copy)]
pub struct CommitProbe {
    pub lat: Lat,
    /// fsync/fdatasync calls the shim saw per commit (NaN without the shim).
    pub fsyncs_per_commit: f64,
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
pub(super) async fn round_trip(url: &str, n: usize) -> Result<Lat, Error> {
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
