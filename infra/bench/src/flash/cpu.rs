//! CPU and InnoDB row-lock figures of a run's measured window: this process, the mariadbd
//! process and the whole machine from /proc, the lock waits from `SHOW GLOBAL STATUS`.

use std::time::Instant;

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
pub(super) async fn lock_status(pool: &sqlx::MySqlPool) -> Option<(i64, i64)> {
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
pub(super) struct CpuSample {
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

pub(super) fn cpu_sample(db_pid: Option<u32>) -> CpuSample {
    CpuSample {
        at: Instant::now(),
        bench: process_ticks("self").unwrap_or(0),
        db: db_pid.and_then(|p| process_ticks(&p.to_string())),
        busy: machine_busy_ticks(),
    }
}

pub(super) fn cpu_between(a: CpuSample, b: CpuSample, sales: usize) -> Cpu {
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
