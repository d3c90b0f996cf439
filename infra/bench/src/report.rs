//! BENCHMARKS.md: the machine, the command, the summary table (each figure with its target and
//! PASS/MISS), then the details of every section.

use crate::flash::{self, Variant};
use crate::stats::{Verdict, fmt_ms, fmt_ratio};
use crate::{Args, coldstart, handler_cpu, pipeline, rdslike, sizes};
use sqlx::Connection;
use std::fmt::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

// Targets.
const THROUGHPUT_VS_RAW: f64 = 0.8;
const P99_VS_RAW: f64 = 1.5;
const CAPTURE_P99: f64 = 1.05;
/// RDS-like: 16 stock buckets against the single-row raw limit (issue 14).
const BUCKETS16_VS_RAW: f64 = 5.0;
const BUCKETS16_P99_VS_RAW: f64 = 1.0;
const STOCKOUT_P99_MS: f64 = 500.0;
const CALLBACK_P99_MS: f64 = 50.0;
const READY_MS: f64 = 10.0;
const RSS_MIB: f64 = 30.0;
/// 6 MB, decimal (the unit of Lambda's own package limits).
const ZIP_BYTES: u64 = 6_000_000;

#[derive(Debug, Clone, Default)]
pub struct Machine {
    pub nproc: usize,
    pub mem_gib: u64,
    pub cpu: String,
    pub kernel: String,
    pub rustc: String,
    pub git: String,
    pub mariadb: String,
    pub date: String,
    pub load_start: String,
    pub load_end: String,
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn command(program: &str, args: &[&str], dir: &Path) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl Machine {
    pub fn probe(root: &Path) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib: u64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_default();
        let git = match command("git", &["rev-parse", "--short", "HEAD"], root) {
            Some(head) => {
                let dirty =
                    command("git", &["status", "--porcelain"], root).is_some_and(|s| !s.is_empty());
                if dirty {
                    format!("{head} + uncommitted changes")
                } else {
                    head
                }
            }
            None => "unknown".into(),
        };
        Machine {
            nproc: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            // As `free -g` shows it (GiB, rounded down).
            mem_gib: mem_kib / (1024 * 1024),
            cpu: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
                .unwrap_or_else(|| "unknown".into()),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
            rustc: command("rustc", &["--version"], root).unwrap_or_else(|| "unknown".into()),
            git,
            mariadb: "not used".into(),
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            load_start: loadavg(),
            load_end: String::new(),
        }
    }

    pub fn one_line(&self) -> String {
        format!(
            "{} CPU(s) ({}), {} GiB RAM, Linux {}, {}, git {}, load {}",
            self.nproc, self.cpu, self.mem_gib, self.kernel, self.rustc, self.git, self.load_start
        )
    }
}

pub async fn mariadb_version(server: &str) -> String {
    match sqlx::MySqlConnection::connect(&format!("{server}/mysql")).await {
        Ok(mut c) => sqlx::query_as::<_, (String,)>("SELECT VERSION()")
            .fetch_one(&mut c)
            .await
            .map(|(v,)| v)
            .unwrap_or_else(|e| format!("unknown ({e})")),
        Err(e) => format!("unknown ({e})"),
    }
}

pub struct Report<'a> {
    pub args: &'a Args,
    pub machine: &'a Machine,
    pub flash_cfg: &'a flash::Config,
    pub flash: Option<&'a flash::Report>,
    /// The flash sale on the RDS-like configuration (`--db rds-like`).
    pub rds_like: Option<&'a rdslike::Outcome>,
    pub handler_cpu: Option<&'a handler_cpu::Breakdown>,
    pub pipelines: &'a [pipeline::Result],
    pub cold: &'a [coldstart::FunctionResult],
    pub sizes: &'a [sizes::Size],
    pub sizes_output: Option<&'a str>,
    pub failures: &'a [String],
    pub elapsed: Duration,
    pub target_dir: &'a Path,
    /// The SVG figures written next to the report: (title, path relative to the report).
    pub plots: Vec<(String, String)>,
}

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

struct Table {
    rows: Vec<[String; 4]>,
    misses: usize,
    judged: bool,
}

impl Table {
    fn row(&mut self, figure: String, measured: String, target: &str, checks: &[(bool, &str)]) {
        let result = if checks.is_empty() {
            "—".to_owned()
        } else if !self.judged {
            Verdict::NotJudged.as_str().to_owned()
        } else {
            let missed: Vec<&str> = checks
                .iter()
                .filter(|(ok, _)| !ok)
                .map(|(_, what)| *what)
                .collect();
            if missed.is_empty() {
                Verdict::Pass.as_str().to_owned()
            } else {
                self.misses += 1;
                format!("{} ({})", Verdict::Miss.as_str(), missed.join(", "))
            }
        };
        self.rows
            .push([figure, measured, target.to_owned(), result]);
    }

    fn render(&self) -> String {
        let mut s = String::from("| Figure | Measured | Target | Result |\n|---|---|---|---|\n");
        for [a, b, c, d] in &self.rows {
            let _ = writeln!(s, "| {a} | {b} | {c} | {d} |");
        }
        s
    }
}

impl Report<'_> {
    /// The summary table and the number of figures that missed their target.
    pub fn summary_table(&self) -> (String, usize) {
        let mut t = Table {
            rows: Vec::new(),
            misses: 0,
            judged: !self.args.quick,
        };
        if let Some(f) = self.flash {
            for &c in &self.flash_cfg.concurrencies {
                let get = |v: Variant| {
                    f.summaries
                        .iter()
                        .find(|s| s.concurrency == c && s.variant == v)
                };
                if let Some(raw) = get(Variant::Raw) {
                    t.row(
                        format!("Flash sale c={c}: raw SQL (the limit)"),
                        format!(
                            "{:.0} sales/s, p50 {}, p99 {}",
                            raw.sales_per_sec,
                            fmt_ms(raw.p50_ms),
                            fmt_ms(raw.p99_ms)
                        ),
                        "baseline",
                        &[],
                    );
                }
                for v in [
                    Variant::Handler,
                    Variant::HandlerB4,
                    Variant::HandlerB16,
                    Variant::HttpCaptureOn,
                    Variant::HttpCaptureOff,
                ] {
                    let Some(s) = get(v) else { continue };
                    t.row(
                        format!("Flash sale c={c}: {}", v.name()),
                        format!(
                            "{:.0} sales/s = **{}** raw; p50 {}, p99 {} = **{}** raw",
                            s.sales_per_sec,
                            fmt_ratio(s.throughput_vs_raw),
                            fmt_ms(s.p50_ms),
                            fmt_ms(s.p99_ms),
                            fmt_ratio(s.p99_vs_raw)
                        ),
                        "≥ 0.8× raw sales/s; p99 ≤ 1.5× raw",
                        &[
                            (s.throughput_vs_raw >= THROUGHPUT_VS_RAW, "throughput"),
                            (s.p99_vs_raw <= P99_VS_RAW, "p99"),
                        ],
                    );
                }
                if let Some(cp) = f.capture.iter().find(|cp| cp.concurrency == c) {
                    t.row(
                        format!("Flash sale c={c}: HTTP p99, capture on vs off"),
                        format!(
                            "{} ({} vs {}: p99 of all {} / {} sales of the rounds; per-round ratios {})",
                            fmt_ratio(cp.pooled_ratio),
                            fmt_ms(cp.on_p99_ms),
                            fmt_ms(cp.off_p99_ms),
                            cp.samples_on,
                            cp.samples_off,
                            cp.per_round
                                .iter()
                                .map(|x| format!("{x:.2}"))
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                        "≤ 1.05× (within 5%)",
                        &[(cp.pooled_ratio <= CAPTURE_P99, "capture overhead")],
                    );
                }
            }
            let n = f.runs.len();
            let bad = f.runs.iter().filter(|r| !r.check.ok).count();
            t.row(
                "Flash sale correctness (every run)".into(),
                format!(
                    "{} of {n} runs: stock consumed = sales rows = successful sales",
                    n - bad
                ),
                "all runs",
                &[(bad == 0, "correctness")],
            );
        }
        if let Some(o) = self.rds_like {
            self.rds_like_rows(&mut t, o);
        }
        for p in self.pipelines {
            for (what, lat, target, limit_ms) in [
                (
                    "Stock-out → factory accepted",
                    &p.commit_to_accepted,
                    "p99 ≤ 500 ms",
                    STOCKOUT_P99_MS,
                ),
                (
                    "Callback → stock visible",
                    &p.callback_to_visible,
                    "p99 ≤ 50 ms",
                    CALLBACK_P99_MS,
                ),
            ] {
                t.row(
                    format!("{what}, {} (p99)", p.backend),
                    format!(
                        "p99 {}, p50 {} (n={})",
                        fmt_ms(lat.p99_ms),
                        fmt_ms(lat.p50_ms),
                        lat.n
                    ),
                    target,
                    &[(lat.n > 0 && lat.p99_ms <= limit_ms, "p99")],
                );
            }
        }
        for f in self.cold {
            let (ready, first, rss) = (f.ready_ms(), f.first_response_ms(), f.rss_mib());
            t.row(
                format!(
                    "Cold start `{}` (median of {})",
                    f.binary.name,
                    f.runs.len()
                ),
                format!(
                    "ready {}, first answer {}, peak RSS {:.1} MiB",
                    fmt_ms(ready),
                    fmt_ms(first),
                    rss
                ),
                "ready ≤ 10 ms; RSS ≤ 30 MiB",
                &[
                    (f.complete() && ready <= READY_MS, "ready"),
                    (f.complete() && rss <= RSS_MIB, "RSS"),
                ],
            );
        }
        for s in self.sizes {
            t.row(
                format!("Bootstrap `{}` zipped", s.name),
                format!("{} ({} unzipped)", mb(s.zipped), mb(s.bytes)),
                "≤ 6 MB zipped",
                &[(s.zipped <= ZIP_BYTES, "size")],
            );
        }
        (t.render(), t.misses)
    }

    /// The flash sale on the RDS-like configuration: every variant against the raw run of the
    /// same round, and the stock-bucket targets.
    fn rds_like_rows(&self, t: &mut Table, o: &rdslike::Outcome) {
        let f = &o.flash;
        for &c in &self.flash_cfg.concurrencies {
            let get = |v: Variant| {
                f.summaries
                    .iter()
                    .find(|s| s.concurrency == c && s.variant == v && s.sales_per_sec.is_finite())
            };
            let raw = get(Variant::Raw);
            if let Some(raw) = raw {
                t.row(
                    format!("Flash sale (RDS-like) c={c}: raw SQL (the single-row limit)"),
                    format!(
                        "{:.0} sales/s, p50 {}, p99 {}",
                        raw.sales_per_sec,
                        fmt_ms(raw.p50_ms),
                        fmt_ms(raw.p99_ms)
                    ),
                    "baseline",
                    &[],
                );
            }
            for v in Variant::ALL.into_iter().filter(|v| *v != Variant::Raw) {
                let Some(s) = get(v) else { continue };
                let measured = if raw.is_some() {
                    format!(
                        "{:.0} sales/s = **{}** raw; p50 {}, p99 {} = **{}** raw",
                        s.sales_per_sec,
                        fmt_ratio(s.throughput_vs_raw),
                        fmt_ms(s.p50_ms),
                        fmt_ms(s.p99_ms),
                        fmt_ratio(s.p99_vs_raw)
                    )
                } else {
                    format!(
                        "{:.0} sales/s; p50 {}, p99 {}",
                        s.sales_per_sec,
                        fmt_ms(s.p50_ms),
                        fmt_ms(s.p99_ms)
                    )
                };
                t.row(
                    format!("Flash sale (RDS-like) c={c}: {}", v.name()),
                    measured,
                    "—",
                    &[],
                );
            }
            if let (Some(raw), Some(b16)) = (raw, get(Variant::HandlerB16)) {
                t.row(
                    format!("Flash sale (RDS-like) c={c}: 16 buckets ≥ 5× raw sales/s"),
                    format!(
                        "**{}** ({:.0} vs {:.0} sales/s)",
                        fmt_ratio(b16.throughput_vs_raw),
                        b16.sales_per_sec,
                        raw.sales_per_sec
                    ),
                    "≥ 5× the single-row raw limit",
                    &[(b16.throughput_vs_raw >= BUCKETS16_VS_RAW, "throughput")],
                );
                t.row(
                    format!("Flash sale (RDS-like) c={c}: 16 buckets p99 ≤ raw p99"),
                    format!(
                        "**{}** ({} vs {})",
                        fmt_ratio(b16.p99_vs_raw),
                        fmt_ms(b16.p99_ms),
                        fmt_ms(raw.p99_ms)
                    ),
                    "≤ 1× the single-row raw p99",
                    &[(b16.p99_vs_raw <= BUCKETS16_P99_VS_RAW, "p99")],
                );
            }
        }
        let runs: Vec<&flash::Run> = f.runs.iter().collect();
        let oversold = rdslike::oversold(&runs);
        let bad = runs.iter().filter(|r| !r.check.ok).count();
        t.row(
            "Flash sale (RDS-like): 0 oversold (correctness check every run)".into(),
            format!(
                "{oversold} oversold; {} of {} runs: stock consumed = sales rows = successful sales",
                runs.len() - bad,
                runs.len()
            ),
            "0 oversold, all runs",
            &[(oversold == 0 && bad == 0, "correctness")],
        );
    }

    pub fn render(&self, table: &str) -> String {
        let m = self.machine;
        let mut s = String::new();
        let _ = writeln!(s, "# Benchmarks\n");
        let _ = writeln!(
            s,
            "Generated by `{}`{} on {} (took {:.0} s). Do not edit by hand: run the command again.\n",
            self.args.command,
            if self.args.quick { " --quick" } else { "" },
            m.date,
            self.elapsed.as_secs_f64()
        );
        if self.args.quick {
            let _ = writeln!(
                s,
                "**Quick mode (CI): tiny durations; the figures only show that every part works and are not judged.**\n"
            );
        }
        let _ = writeln!(s, "## Machine\n");
        let _ = writeln!(s, "- CPUs (`nproc`): {}", m.nproc);
        let _ = writeln!(s, "- Memory (`free -g`, total): {} GiB", m.mem_gib);
        let _ = writeln!(s, "- CPU model (/proc/cpuinfo): {}", m.cpu);
        let _ = writeln!(s, "- Linux {}; {}", m.kernel, m.rustc);
        let _ = writeln!(
            s,
            "- MariaDB {} — the test harness's private `mariadbd` (`pipeline_tests::mysql_server`): durable commits (`innodb_flush_log_at_trx_commit=1`), binlog off, 256 MB buffer pool, data in the system temp dir",
            m.mariadb
        );
        let _ = writeln!(s, "- Code: git {}", m.git);
        let _ = writeln!(
            s,
            "- Load average (1/5/15 min) at start {}, at end {}. The machine is shared (other builds run on the same cores), so absolute figures are noisy: the flash-sale targets are ratios measured in the same round, and every figure is a median over rounds or runs.\n",
            m.load_start, m.load_end
        );
        let _ = writeln!(s, "## Summary\n");
        s.push_str(table);
        if !self.failures.is_empty() {
            let _ = writeln!(s, "\n**Failures (the suite exited non-zero):**\n");
            for f in self.failures {
                let _ = writeln!(s, "- {f}");
            }
        }
        if !self.plots.is_empty() {
            let _ = writeln!(s, "\n## Figures\n");
            for (title, path) in &self.plots {
                let _ = writeln!(s, "[![{title}]({path})]({path})\n");
            }
        }
        self.flash_details(&mut s);
        if let Some(o) = self.rds_like {
            let plot = self
                .plots
                .iter()
                .find(|(_, path)| path.ends_with(crate::plots::BUCKETS_FILE))
                .map(|(_, path)| path.as_str());
            rdslike::render(o, self.flash, plot, &mut s);
        }
        self.handler_cpu_details(&mut s);
        self.pipeline_details(&mut s);
        self.cold_details(&mut s);
        self.size_details(&mut s);
        s
    }

    fn flash_details(&self, s: &mut String) {
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

    fn handler_cpu_details(&self, s: &mut String) {
        let Some(b) = self.handler_cpu else { return };
        let _ = writeln!(s, "\n### Where the handler's CPU goes (no database)\n");
        let _ = writeln!(
            s,
            "`inventory::api::handle` on the same `POST /sales` API Gateway event against a store that sells instantly, one thread, CPU time per request (`/proc/thread-self/schedstat`), median of repetitions of {} requests; each invocation wrapped in `inventory::metrics::flushed` as `sales-api` does. Child processes: logs switched off with `RUST_LOG=off` (otherwise `inventory::telemetry::init` as the functions have it, stdout to /dev/null), metrics off = no recorder installed; capture off = `NoCapture` instead of `LogLineSink`.\n",
            b.iterations
        );
        let _ = writeln!(s, "| configuration | CPU per request |\n|---|---|");
        for (name, v) in [
            (
                "as deployed (JSON log line + capture line + EMF metrics flush)",
                b.full_us,
            ),
            ("capture off", b.no_capture_us),
            ("logs off", b.no_logs_us),
            ("metrics off (no recorder installed)", b.no_metrics_us),
            ("logs, capture and metrics off", b.bare_us),
            (
                "of which: parsing the API Gateway event (`lambda_http::request::from_str`)",
                b.parse_us,
            ),
        ] {
            let _ = writeln!(s, "| {name} | {v:.1} µs |");
        }
        let _ = writeln!(
            s,
            "\nSo per request: JSON log line ≈ {:.1} µs, capture line ≈ {:.1} µs, metrics (counter + EMF flush) ≈ {:.1} µs, routing + body parsing + response JSON + ids ≈ {:.1} µs, event parsing ≈ {:.1} µs.",
            b.full_us - b.no_logs_us,
            b.full_us - b.no_capture_us,
            b.full_us - b.no_metrics_us,
            b.bare_us - b.parse_us,
            b.parse_us
        );
        let _ = writeln!(
            s,
            "\nHTTP plumbing alone — the in-process reqwest client (keep-alive) and an axum/hyper server answering a canned `201` sale, loopback TCP, same thread: **{:.1} µs** per request. The HTTP variants spend this on top of the handler (minus the event parsing, which the local gateway does not do); on AWS the server half is API Gateway's and the client half is the buyers'.",
            b.http_us
        );
    }

    fn pipeline_details(&self, s: &mut String) {
        if self.pipelines.is_empty() {
            return;
        }
        let _ = writeln!(s, "\n## 2. Stock-out pipeline latency (local stack)\n");
        let _ = writeln!(
            s,
            "`Options::for_tests` timers (relay 200 ms, visibility timeout 200 ms, outbox grace 1 s), capture on. K products of stock 1 (reorder point 0) are sold out one after the other; each stock-out sale opens a factory order which travels outbox publish → local topic → queue → factory-orderer poller → factory stand-in (HTTP, same process) → `mark_requested`. **Stock-out → factory accepted** is the order's own transitions, `pending.at` (taken when the sale's transaction starts) → `requested.at` (written after the factory answered 202), database clock, 1 ms resolution. Also shown: sale response → order observed `requested` by polling `GET /factory-orders/{{id}}` every 1 ms (client clock). The stand-in is told never to call back (huge delay); **callback → stock visible** is from POSTing the signed completion to the order's callback URL (`CallbackSigner::callback_url`, as the factory would) until `GET /inventory/{{sku}}` shows the restocked stock. With n samples, p99 is the largest but one only when n ≥ 100.\n"
        );
        let _ = writeln!(
            s,
            "| backend | n | figure | p50 | p99 | max |\n|---|---|---|---|---|---|"
        );
        for p in self.pipelines {
            for (name, l) in [
                ("stock-out sale (POST /sales, 201)", &p.stockout_sale),
                (
                    "stock-out → factory accepted (pending.at → requested.at)",
                    &p.commit_to_accepted,
                ),
                (
                    "sale response → `requested` observed",
                    &p.response_to_requested,
                ),
                ("callback POST answered", &p.callback),
                ("callback → stock visible", &p.callback_to_visible),
            ] {
                let _ = writeln!(
                    s,
                    "| {} | {} | {name} | {} | {} | {} |",
                    p.backend,
                    l.n,
                    fmt_ms(l.p50_ms),
                    fmt_ms(l.p99_ms),
                    fmt_ms(l.max_ms)
                );
            }
        }
    }

    fn cold_details(&self, s: &mut String) {
        if self.cold.is_empty() {
            return;
        }
        let _ = writeln!(s, "\n## 3. Lambda cold start\n");
        let _ = writeln!(
            s,
            "Each binary is spawned as Lambda would (cleared environment: `AWS_LAMBDA_RUNTIME_API` and the other Lambda variables, `AWS_REGION=us-east-1`, dummy credentials, the union of the functions' configuration from docs/configuration.md, `DATABASE_URL` = a migrated MariaDB database, `AWS_ENDPOINT_URL` = the stand-in so that any AWS call stays on 127.0.0.1) against a Runtime API stand-in (`GET /2018-06-01/runtime/invocation/next` with the `Lambda-Runtime-*` headers, `…/response`, `…/error`, `/init/error`). **ready** = spawn → first `GET …/next`; **first answer** = spawn → first `…/response` (or `…/error`); **peak RSS** = `VmHWM` when the function asks for its second event. Each binary is started once unmeasured first (page cache warm: this VM's disk is not Lambda's), then the measured runs interleave the functions; medians. stdout/stderr of each run: `{}`.\n",
            self.target_dir.join("bench/coldstart").display()
        );
        let _ = writeln!(
            s,
            "| function | binary | first event | ready (median) | first answer (median) | peak RSS (median) | answers | AWS calls seen by the stand-in |\n|---|---|---|---|---|---|---|---|"
        );
        for f in self.cold {
            let mut answers: Vec<String> = f
                .runs
                .iter()
                .map(|o| {
                    if o.failure.is_some() {
                        "FAILED".into()
                    } else {
                        o.answer.clone()
                    }
                })
                .collect();
            answers.dedup();
            let mut calls: Vec<String> =
                f.runs.iter().flat_map(|o| o.other_calls.clone()).collect();
            calls.sort();
            calls.dedup();
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} | {} | {:.1} MiB | {} | {} |",
                f.binary.name,
                f.binary.kind,
                f.event,
                fmt_ms(f.ready_ms()),
                fmt_ms(f.first_response_ms()),
                f.rss_mib(),
                answers.join(", "),
                if calls.is_empty() {
                    "none".into()
                } else {
                    calls.join("; ")
                }
            );
        }
        let certs = std::fs::read_dir("/etc/ssl/certs")
            .map(|d| d.count())
            .unwrap_or(0);
        let _ = writeln!(
            s,
            "\nNot in these figures: on AWS the functions read their secrets from Secrets Manager during init (`DB_SECRET_ARN`, `ADMIN_TOKEN_SECRET_ARN`, `CALLBACK_SECRET_ARN`: one HTTPS round trip each, TLS handshake included); here `DATABASE_URL`, `ADMIN_TOKEN` and `CALLBACK_SECRET` are given directly. Part of every init is loading the system CA store, which on this machine is `/etc/ssl/certs` ({certs} entries; Lambda's `provided.al2023` has one bundle file)."
        );
        let _ = writeln!(s, "\nEvery run (ready / first answer / VmHWM):\n");
        for f in self.cold {
            let runs: Vec<String> = f
                .runs
                .iter()
                .map(|o| {
                    format!(
                        "{} / {} / {}",
                        o.ready_ms.map(|v| format!("{v:.1}")).unwrap_or("-".into()),
                        o.first_response_ms
                            .map(|v| format!("{v:.1}"))
                            .unwrap_or("-".into()),
                        o.vm_hwm_kib
                            .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
                            .unwrap_or("-".into())
                    )
                })
                .collect();
            let _ = writeln!(s, "- `{}`: {} (ms)", f.binary.name, runs.join("; "));
        }
        let bodies: Vec<String> = self
            .cold
            .iter()
            .filter_map(|f| {
                f.runs.first().map(|o| {
                    format!(
                        "- `{}` ({}): `{}`",
                        f.binary.name,
                        o.answer,
                        o.answer_body.replace('`', "'")
                    )
                })
            })
            .collect();
        let _ = writeln!(
            s,
            "\nFirst answers (run 1, truncated):\n\n{}",
            bodies.join("\n")
        );
    }

    fn size_details(&self, s: &mut String) {
        if self.sizes.is_empty() && self.sizes_output.is_none() {
            return;
        }
        let _ = writeln!(s, "\n## 4. Bootstrap sizes\n");
        if !self.sizes.is_empty() {
            let _ = writeln!(
                s,
                "MB = 10^6 bytes. Each binary alone in a zip as `bootstrap` (method: {}).\n",
                self.sizes[0].method
            );
            let _ = writeln!(
                s,
                "| function | binary | unzipped | zipped |\n|---|---|---|---|"
            );
            for z in self.sizes {
                let _ = writeln!(
                    s,
                    "| `{}` | {} | {} | {} |",
                    z.name,
                    z.kind,
                    mb(z.bytes),
                    mb(z.zipped)
                );
            }
        }
        if let Some(out) = self.sizes_output {
            let _ = writeln!(
                s,
                "\nOutput of `scripts/bench-sizes.sh`:\n\n```\n{}\n```",
                out.trim_end()
            );
        }
    }
}
