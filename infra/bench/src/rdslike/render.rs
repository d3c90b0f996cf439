//! The report's section 1b: the model, its measured figures, and the flash sale on it.

use super::{CommitProbe, Outcome, oversold};
use crate::flash;
use crate::stats::{fmt_ms, fmt_ratio};
use std::fmt::Write as _;

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
