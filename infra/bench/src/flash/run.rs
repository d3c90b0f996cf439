//! The orchestration: every (concurrency, round, variant) run on its own hot product, then the
//! medians over the rounds and the capture on/off comparison.

use super::cpu::cpu_between;
use super::driver::{Driver, devstack_options, http_client, load, sales_event};
use super::variant::round_order;
use super::{Check, Config, Cpu, Db, Variant};
use crate::stats::{Lat, median, summarise_us};
use devstack::Stack;
use inventory::api::{AdminToken, Api, App, Function};
use inventory::capture::LogLineSink;
use inventory::store::{MySqlStore, PoolSettings};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

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
