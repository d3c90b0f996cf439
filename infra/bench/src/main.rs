//! The performance suite behind `scripts/bench.sh`: flash sale on MariaDB (raw SQL limit, the
//! sales handler, the local stack over HTTP), stock-out pipeline latency on the local stack,
//! Lambda cold starts behind the Lambda harness's Runtime API, and bootstrap sizes. Writes
//! BENCHMARKS.md and the summary table; all traffic stays on 127.0.0.1.
//!
//! Logs of the code under test (JSON lines, as on Lambda) go to stdout; progress to stderr.

mod coldstart;
mod delay_proxy;
mod flash;
mod handler_cpu;
mod pipeline;
mod plots;
mod rdslike;
mod report;
mod sizes;
mod stats;

use clap::{Parser, ValueEnum};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Parser)]
#[command(
    name = "bench",
    about = "Donut pipeline performance suite (run it with scripts/bench.sh)"
)]
pub struct Args {
    /// CI mode: tiny durations, one round; checks that every part works, judges no figure.
    #[arg(long)]
    pub quick: bool,
    /// Workspace root.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))]
    pub root: PathBuf,
    /// Cargo target directory (binaries are looked up under it).
    #[arg(long)]
    pub target_dir: Option<PathBuf>,
    /// The report (default: BENCHMARKS.md in the root; target/bench/BENCHMARKS.quick.md with
    /// --quick).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write the summary table alone here.
    #[arg(long)]
    pub table: Option<PathBuf>,
    /// Output of scripts/bench-sizes.sh to include verbatim.
    #[arg(long)]
    pub sizes_output: Option<PathBuf>,
    /// The command recorded in the report.
    #[arg(long, default_value = "scripts/bench.sh")]
    pub command: String,
    /// Flash sale: concurrencies (buyers = pool size).
    #[arg(long, value_delimiter = ',')]
    pub concurrency: Option<Vec<usize>>,
    /// Flash sale: rounds (each variant once per round, order alternating).
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Flash sale: measured seconds per run (after the warm-up).
    #[arg(long)]
    pub secs: Option<f64>,
    /// Flash sale: warm-up seconds per run (not measured).
    #[arg(long)]
    pub warmup_secs: Option<f64>,
    /// Flash sale: variants to run, by tag (raw, handler, handler-b4, handler-b16, http-on,
    /// http-off). Default: raw, handler, http-on, http-off on `--db current`; raw, handler,
    /// handler-b4, handler-b16 on `--db rds-like`. Given, it applies to both (e.g. one code
    /// path under `perf record`).
    #[arg(long, value_delimiter = ',')]
    pub variants: Option<Vec<String>>,
    /// Stock-out pipeline: products sold out per backend.
    #[arg(long)]
    pub products: Option<usize>,
    /// Cold start: runs per function.
    #[arg(long)]
    pub cold_runs: Option<usize>,
    /// Handler CPU breakdown: requests per measurement.
    #[arg(long)]
    pub handler_cpu_iterations: Option<u64>,
    /// Handler CPU breakdown: repetitions (median).
    #[arg(long)]
    pub handler_cpu_repeats: Option<usize>,
    /// Internal: run the handler CPU measurement and write its result here.
    #[arg(long, hide = true)]
    pub handler_cpu_child: Option<PathBuf>,
    /// Sections to run (flash, handler-cpu, pipeline, cold, sizes).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "flash,handler-cpu,pipeline,cold,sizes"
    )]
    pub only: Vec<String>,
    /// Exit 1 when a figure misses its target (default: report only).
    #[arg(long)]
    pub strict: bool,
    /// Flash sale: the database configurations to run it on (current, rds-like; see
    /// docs/rds-like-bench.md and scripts/bench-rds.sh).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "current")]
    pub db: Vec<DbConfig>,
    /// RDS-like: added to every fsync/fdatasync of its mariadbd, µs.
    #[arg(long, default_value_t = 1000)]
    pub fsync_us: u64,
    /// RDS-like: added to each direction between the bench and its mariadbd, µs (0.25 ms: one
    /// way inside an AWS availability zone).
    #[arg(long, default_value_t = 250)]
    pub one_way_us: u64,
}

/// The database a flash sale runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DbConfig {
    /// The test harness's private mariadbd: binary log off, no network latency.
    Current,
    /// Binary log on, sync_binlog=1, durable commits, fsync and round-trip delays.
    RdsLike,
}

impl Args {
    fn runs(&self, section: &str) -> bool {
        self.only.iter().any(|s| s == section)
    }
}

/// `TEST_DATABASE_URL` (honoured by the harness) must stay on this machine.
fn check_database_env() -> Result<(), String> {
    if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
        let host = url
            .split("://")
            .nth(1)
            .unwrap_or_default()
            .rsplit('@')
            .next()
            .unwrap_or_default()
            .split(['/', ':'])
            .next()
            .unwrap_or_default()
            .to_owned();
        if host != "127.0.0.1" && host != "localhost" {
            return Err(format!(
                "TEST_DATABASE_URL points at {host:?}: the benchmarks only send traffic to 127.0.0.1"
            ));
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Some(out) = &args.handler_cpu_child {
        let (iterations, repeats) = (
            args.handler_cpu_iterations.unwrap_or(20_000),
            args.handler_cpu_repeats.unwrap_or(3),
        );
        // Its own single-threaded runtime, off the main one.
        let out = out.clone();
        std::thread::spawn(move || handler_cpu::child(&out, iterations, repeats))
            .join()
            .expect("handler CPU child");
        return;
    }
    if let Err(e) = check_database_env() {
        eprintln!("bench: {e}");
        std::process::exit(2);
    }
    // The code under test logs as it does on Lambda and in the devstack: JSON lines on stdout.
    inventory::telemetry::init("bench");
    // As `sales-api` does (the local stack would install the same recorder on its first start:
    // installing it now makes every variant see the same process, whatever the order).
    inventory::metrics::init("sales-api");
    let started = Instant::now();
    let root = std::fs::canonicalize(&args.root).unwrap_or(args.root.clone());
    let target_dir = args
        .target_dir
        .clone()
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
        .unwrap_or_else(|| root.join("target"));
    let quick = args.quick;
    let variants = match args.variants.as_deref().map(flash::parse_variants) {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => {
            eprintln!("bench: --variants: {e}");
            std::process::exit(2);
        }
    };
    let flash_cfg = flash::Config {
        concurrencies: args.concurrency.clone().unwrap_or(if quick {
            vec![4]
        } else {
            vec![16, 64]
        }),
        rounds: args.rounds.unwrap_or(if quick { 1 } else { 5 }),
        warmup: Duration::from_secs_f64(args.warmup_secs.unwrap_or(if quick { 0.2 } else { 1.0 })),
        measure: Duration::from_secs_f64(args.secs.unwrap_or(if quick { 0.5 } else { 3.0 })),
        variants: variants.clone().unwrap_or(flash::Variant::DEFAULT.to_vec()),
    };
    // The RDS-like run: the same load, with its own default variants (the bucket variants
    // instead of HTTP).
    let rds_cfg = flash::Config {
        variants: variants.unwrap_or(flash::Variant::RDS_DEFAULT.to_vec()),
        ..flash_cfg.clone()
    };
    let cpu_iterations = args
        .handler_cpu_iterations
        .unwrap_or(if quick { 500 } else { 20_000 });
    let cpu_repeats = args
        .handler_cpu_repeats
        .unwrap_or(if quick { 1 } else { 5 });
    let products = args.products.unwrap_or(if quick { 3 } else { 50 });
    let cold_runs = args.cold_runs.unwrap_or(if quick { 1 } else { 5 });
    let scratch = std::env::temp_dir();

    let mut machine = report::Machine::probe(&root);
    eprintln!("bench: {}", machine.one_line());

    // The MariaDB of the test harness (a private mariadbd; started once, on first use).
    let needs_mysql = args.runs("flash") || args.runs("pipeline") || args.runs("cold");
    if needs_mysql {
        let server = tokio::task::spawn_blocking(pipeline_tests::mysql_server)
            .await
            .expect("MariaDB");
        machine.mariadb = report::mariadb_version(server).await;
        eprintln!("bench: MariaDB {} at {server}", machine.mariadb);
    }

    let (binaries, missing) = coldstart::find_binaries(&target_dir);
    // Only the sections that run the binaries need them (e.g. not `--only flash`).
    let needs_binaries = args.runs("cold") || args.runs("sizes");
    let mut failures: Vec<String> = missing
        .iter()
        .filter(|_| needs_binaries)
        .map(|m| format!("no binary for {m} under {}", target_dir.display()))
        .collect();

    let sizes = if args.runs("sizes") {
        sizes::measure(&binaries)
    } else {
        Vec::new()
    };
    let sizes_output = args
        .sizes_output
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok());

    let cold = if args.runs("cold") {
        let url = pipeline_tests::fresh_mysql_database().await;
        let db = flash::Db::new(url.clone()).await; // migrated
        drop(db);
        let logs = target_dir.join("bench").join("coldstart");
        let r = coldstart::run(&binaries, &url, cold_runs, &logs).await;
        for f in &r {
            for (i, o) in f.runs.iter().enumerate() {
                if let Some(e) = &o.failure {
                    failures.push(format!("cold start {} run {}: {e}", f.binary.name, i + 1));
                }
            }
        }
        r
    } else {
        Vec::new()
    };

    let handler_cpu = if args.runs("handler-cpu") {
        let dir = target_dir.join("bench");
        match tokio::task::spawn_blocking(move || {
            handler_cpu::run(cpu_iterations, cpu_repeats, &dir)
        })
        .await
        .expect("handler CPU")
        {
            Ok(b) => {
                eprintln!(
                    "bench: handler CPU per request (no database): {:.1} µs (event parse {:.1}; without capture {:.1}; without logs {:.1}; without metrics {:.1}; without all three {:.1})",
                    b.full_us,
                    b.parse_us,
                    b.no_capture_us,
                    b.no_logs_us,
                    b.no_metrics_us,
                    b.bare_us
                );
                Some(b)
            }
            Err(e) => {
                failures.push(e);
                None
            }
        }
    } else {
        None
    };

    let mut pipelines = Vec::new();
    if args.runs("pipeline") {
        for (backend, url) in [
            ("SQLite", None),
            (
                "MariaDB",
                Some(pipeline_tests::fresh_mysql_database().await),
            ),
        ] {
            let r = pipeline::run(backend, url, products, &scratch).await;
            eprintln!(
                "bench: stock-out pipeline on {backend}: commit→accepted p50 {:.1} p99 {:.1} ms; response→requested p99 {:.1} ms; callback→visible p50 {:.1} p99 {:.1} ms; errors {}",
                r.commit_to_accepted.p50_ms,
                r.commit_to_accepted.p99_ms,
                r.response_to_requested.p99_ms,
                r.callback_to_visible.p50_ms,
                r.callback_to_visible.p99_ms,
                r.errors.len()
            );
            for e in &r.errors {
                failures.push(format!("stock-out pipeline on {backend}: {e}"));
            }
            pipelines.push(r);
        }
    }

    let flash = if args.runs("flash") && args.db.contains(&DbConfig::Current) {
        let db = flash::Db::new(pipeline_tests::fresh_mysql_database().await).await;
        let r = flash::run(&db, &flash_cfg, &scratch).await;
        for run in r.runs.iter().filter(|r| !r.check.ok) {
            failures.push(format!(
                "flash c={} round {} {}: {}",
                run.concurrency,
                run.round + 1,
                run.variant.name(),
                run.check.describe()
            ));
        }
        Some(r)
    } else {
        None
    };

    let rds_like = if args.runs("flash") && args.db.contains(&DbConfig::RdsLike) {
        let settings = rdslike::Settings {
            fsync_us: args.fsync_us,
            one_way_us: args.one_way_us,
            probes: if quick { 50 } else { 500 },
        };
        let current = needs_mysql.then(pipeline_tests::mysql_server);
        match rdslike::run(settings, &rds_cfg, &scratch, current).await {
            Ok(o) => {
                for run in o.flash.runs.iter().filter(|r| !r.check.ok) {
                    failures.push(format!(
                        "flash (RDS-like) c={} round {} {}: {}",
                        run.concurrency,
                        run.round + 1,
                        run.variant.name(),
                        run.check.describe()
                    ));
                }
                Some(o)
            }
            Err(e) => {
                failures.push(format!("RDS-like flash sale: {e}"));
                None
            }
        }
    } else {
        None
    };

    machine.load_end = report::loadavg();
    let mut rep = report::Report {
        args: &args,
        machine: &machine,
        flash_cfg: &flash_cfg,
        flash: flash.as_ref(),
        rds_like: rds_like.as_ref(),
        handler_cpu: handler_cpu.as_ref(),
        pipelines: &pipelines,
        cold: &cold,
        sizes: &sizes,
        sizes_output: sizes_output.as_deref(),
        failures: &failures,
        elapsed: started.elapsed(),
        target_dir: &target_dir,
        plots: Vec::new(),
    };
    let out = args.out.clone().unwrap_or_else(|| {
        if quick {
            target_dir.join("bench").join("BENCHMARKS.quick.md")
        } else {
            root.join("BENCHMARKS.md")
        }
    });
    let out_dir = out
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let _ = std::fs::create_dir_all(&out_dir);
    // The figures: docs/bench/ next to the root's BENCHMARKS.md, else beside the report.
    let plots_dir = if out_dir.canonicalize().ok() == root.canonicalize().ok() {
        out_dir.join("docs").join("bench")
    } else {
        out_dir.clone()
    };
    let rel = plots_dir
        .strip_prefix(&out_dir)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| plots_dir.clone());
    let results = plots::Results {
        concurrencies: &flash_cfg.concurrencies,
        flash: flash.as_ref(),
        rds_like: rds_like.as_ref(),
        pipelines: &pipelines,
        cold: &cold,
        sizes: &sizes,
    };
    rep.plots = plots::write(&results, &plots_dir)
        .into_iter()
        .map(|(title, file)| (title, rel.join(file).display().to_string()))
        .collect();
    let (table, misses) = rep.summary_table();
    let full = rep.render(&table);
    std::fs::write(&out, &full).expect("write the report");
    if let Some(t) = &args.table {
        if let Some(dir) = t.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::write(t, &table).expect("write the table");
    }
    eprintln!(
        "bench: wrote {} in {:.0} s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    if !failures.is_empty() {
        eprintln!("bench: FAILED:");
        for f in &failures {
            eprintln!("  - {f}");
        }
        std::process::exit(1);
    }
    if args.strict && misses > 0 {
        eprintln!("bench: {misses} figure(s) missed their target (--strict)");
        std::process::exit(1);
    }
}
