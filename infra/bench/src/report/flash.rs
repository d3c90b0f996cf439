//! Section 1: the flash sale on MariaDB, every run and the medians over rounds.

use super::Report;
use crate::stats::{fmt_ms, fmt_ratio};
use std::fmt::Write;

impl Report<'_> {
    pub(super) fn flash_details(&self, s: &mut String) {
        let Some(f) = self.flash else { return };
        let c = self.flash_cfg;
        let _ = writeln!(s, "\n## 1. Flash sale on MariaDB\n");
        let _ = writeln!(
            s,
            "One hot SKU per run, stock {} (never sells out, so every sale takes the same path), quantity 1 per sale, N buyers each in a closed loop (next sale when the previous answered), database pool size N. Concurrency {:?}; {} round(s); each run {:.1} s warm-up (not measured) + {:.1} s measured; the order of the variants rotates by one per round (over as many rounds as variants each runs in every position). Throughput = sales started and answered 201 in the measured window / window; latency = per sale as the buyer sees it. Ratios to raw are taken against the raw run of the same round, then the median over rounds. Capture on vs off compares pooled p99s: the p99 of every sale of every round of each variant (one 3-second run's p99 on a shared 2-core machine moves by ±20% from run to run; the per-round ratios are listed next to it).\n",
            inventory::domain::MAX_STOCK,
            c.concurrencies,
            c.rounds,
            c.warmup.as_secs_f64(),
            c.measure.as_secs_f64()
        );
        let _ = writeln!(
            s,
            "- **raw SQL**: `BEGIN; INSERT INTO sales …; UPDATE stock_buckets SET stock = LAST_INSERT_ID(…) … WHERE sku = ? AND bucket = 0 AND stock >= ?; COMMIT` — the statements the MySQL adapter ran for a sale before its one-round-trip `donut_sell` procedure (`INSERT_SALE`, `SELL_SQL` in infra/bench/src/flash.rs) in a tight loop on the adapter's own pool (`MySqlStore::connect_lazy`: same size, same `test_before_acquire`)."
        );
        let _ = writeln!(
            s,
            "- **handler**: `inventory::api::handle` called directly with the `lambda_http::Request` that `lambda_http::request::from_str` makes of an API Gateway HTTP API (v2) `POST /sales` event — the Lambda code path minus the network — wired as `sales-api` is: its `LogLineSink` capture (a `{{\"capture\":…}}` line on stdout), JSON logs, and the EMF metrics recorder flushed after each invocation (`inventory::metrics::flushed`); stdout goes to /dev/null here."
        );
        let _ = writeln!(
            s,
            "- **handler, 4 / 16 buckets** (`--variants handler-b4,handler-b16`; run by default on the RDS-like configuration only): the same, on a hot product whose stock is spread over 4 / 16 rows of `stock_buckets` (`products.buckets`; `ProductSpec::build(…, Some(n))`, evenly): each sale takes from a random bucket, so the buyers mostly lock different rows. No bucket comes near empty in a run, so no sale takes the rebalancing path. The correctness check sums the SKU's buckets."
        );
        let _ = writeln!(
            s,
            "- **HTTP**: the local stack (`devstack::Stack::start`, default timers, `database_url` = the same MariaDB database) with capture on (the local Firehose → gzip files) and off (`--no-capture`), loaded by an in-process reqwest client (keep-alive, N connections) in the same process and runtime.\n"
        );
        let _ = writeln!(
            s,
            "CPU columns: **bench CPU/sale** = CPU time of this process (buyers, handler, and for HTTP the local stack and the client) per sale; **DB CPU/sale** = the mariadbd process; **busy** = busy CPUs of the whole machine (of {}) during the measured window; **others** = busy CPUs used by neither (other engineers' builds etc.); **row-lock waits/sale** and **mean wait** = InnoDB's `Innodb_row_lock_waits` / `Innodb_row_lock_time` over the window (server-wide: only this load runs): a sale that waits queues behind the other buyers on the hot row.\n",
            self.machine.nproc
        );
        let _ = writeln!(
            s,
            "| c | round | order | variant | sales/s | p50 | p99 | max | bench CPU/sale | DB CPU/sale | busy | others | row-lock waits/sale | mean wait | errors | correctness (SQL) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for r in &f.runs {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.0} | {} | {} | {} | {:.0} µs | {:.0} µs | {:.2} | {:.2} | {:.2} | {} | {}{} | {} |",
                r.concurrency,
                r.round + 1,
                r.position + 1,
                r.variant.name(),
                r.sales_per_sec,
                fmt_ms(r.lat.p50_ms),
                fmt_ms(r.lat.p99_ms),
                fmt_ms(r.lat.max_ms),
                r.cpu.bench_us_per_sale,
                r.cpu.db_us_per_sale,
                r.cpu.machine_busy,
                r.cpu.others,
                r.cpu.lock_waits_per_sale,
                fmt_ms(r.cpu.lock_wait_ms),
                r.errors,
                r.first_error
                    .as_deref()
                    .map(|e| format!(" (first: {})", e.chars().take(120).collect::<String>()))
                    .unwrap_or_default(),
                r.check.describe()
            );
        }
        let _ = writeln!(
            s,
            "\nMedians over rounds. **CPU-bound estimate** = (CPUs − others) / (bench + DB CPU per sale): what the run would reach if CPU were the only limit; when it matches the measured sales/s, the sale is CPU-bound on this machine (client and database share {} CPUs), and every µs the client spends is taken from the database.\n\n| c | variant | sales/s | CPU-bound estimate | p50 | p99 | sales/s vs raw | p99 vs raw | bench CPU/sale | DB CPU/sale | busy | others | row-lock waits/sale | mean wait |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
            self.machine.nproc
        );
        for m in &f.summaries {
            let _ = writeln!(
                s,
                "| {} | {} | {:.0} | {:.0} | {} | {} | {} | {} | {:.0} µs | {:.0} µs | {:.2} | {:.2} | {:.2} | {} |",
                m.concurrency,
                m.variant.name(),
                m.sales_per_sec,
                (self.machine.nproc as f64 - m.others) * 1e6
                    / (m.bench_us_per_sale + m.db_us_per_sale),
                fmt_ms(m.p50_ms),
                fmt_ms(m.p99_ms),
                fmt_ratio(m.throughput_vs_raw),
                fmt_ratio(m.p99_vs_raw),
                m.bench_us_per_sale,
                m.db_us_per_sale,
                m.machine_busy,
                m.others,
                m.lock_waits_per_sale,
                fmt_ms(m.lock_wait_ms)
            );
        }
    }
}
