//! Section 3, Lambda cold start: every function binary is started as Lambda starts it, behind
//! the harness's Lambda Runtime API ([`lambda_harness::runtime`], the one `scripts/harness.sh`
//! runs the deployed functions behind: a fresh process, a cleared environment naming its Runtime
//! API), and given one realistic first event. Measured from just before the spawn to the first
//! `GET …/invocation/next` (ready: init done) and to the first `POST …/invocation/{id}/response`
//! (or `/error`); peak RSS is `VmHWM` from `/proc/<pid>/status` once the function asks for its
//! second event.
//!
//! Every AWS call a function could make goes to a stand-in on 127.0.0.1 (`AWS_ENDPOINT_URL`), and
//! is listed in the report: nothing leaves 127.0.0.1.
//!
//! Where things are: [`aws`] (the AWS endpoint stand-in), [`events`] (each function's first
//! event and its environment), [`measure`] (one cold start, timed); here, the binaries, the
//! results and the runs. The report's section is `crate::report::cold`.

mod aws;
mod events;
mod measure;

pub use events::first_event;

use crate::stats::median;
use measure::cold_start;
use std::path::{Path, PathBuf};

/// The functions, in the order of the report.
pub const FUNCTIONS: [&str; 8] = [
    "sales-api",
    "restock",
    "factory-orderer",
    "outbox-relay",
    "api-capture",
    "exporter",
    "migrate",
    "factory-sim",
];

/// Where a function's binary was found.
#[derive(Debug, Clone)]
pub struct Binary {
    pub name: &'static str,
    pub path: PathBuf,
    /// `target/lambda/<name>/bootstrap` (the deployable build), `target/release/<name>` or, for
    /// `bench.sh --quick` only, the unoptimised `target/debug/<name>`.
    pub kind: &'static str,
}

/// `target/lambda/<name>/bootstrap` (scripts/lambda-build.sh) when present, else the
/// `cargo build --release` binary, else the debug one (quick runs judge no figure).
pub fn find_binaries(target_dir: &Path) -> (Vec<Binary>, Vec<&'static str>) {
    let (mut found, mut missing) = (Vec::new(), Vec::new());
    for name in FUNCTIONS {
        let lambda = target_dir.join("lambda").join(name).join("bootstrap");
        let release = target_dir.join("release").join(name);
        let debug = target_dir.join("debug").join(name);
        if lambda.is_file() {
            found.push(Binary {
                name,
                path: lambda,
                kind: "target/lambda/<name>/bootstrap",
            });
        } else if release.is_file() {
            found.push(Binary {
                name,
                path: release,
                kind: "target/release/<name>",
            });
        } else if debug.is_file() {
            found.push(Binary {
                name,
                path: debug,
                kind: "target/debug/<name> (unoptimised)",
            });
        } else {
            missing.push(name);
        }
    }
    (found, missing)
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub ready_ms: Option<f64>,
    pub first_response_ms: Option<f64>,
    /// `response`, `error` (function error) or `init error`.
    pub answer: String,
    pub answer_body: String,
    pub vm_hwm_kib: Option<u64>,
    /// Requests the function sent anywhere else than the Runtime API (AWS calls).
    pub other_calls: Vec<String>,
    pub failure: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FunctionResult {
    pub binary: Binary,
    pub event: &'static str,
    pub runs: Vec<Outcome>,
}

impl FunctionResult {
    fn med(&self, f: impl Fn(&Outcome) -> Option<f64>) -> f64 {
        median(&self.runs.iter().filter_map(f).collect::<Vec<_>>())
    }
    pub fn ready_ms(&self) -> f64 {
        self.med(|o| o.ready_ms)
    }
    pub fn first_response_ms(&self) -> f64 {
        self.med(|o| o.first_response_ms)
    }
    pub fn rss_mib(&self) -> f64 {
        self.med(|o| o.vm_hwm_kib.map(|k| k as f64 / 1024.0))
    }
    pub fn complete(&self) -> bool {
        !self.runs.is_empty()
            && self
                .runs
                .iter()
                .all(|o| o.failure.is_none() && o.first_response_ms.is_some())
    }
}

pub async fn run(
    binaries: &[Binary],
    database_url: &str,
    runs: usize,
    logs: &Path,
) -> Vec<FunctionResult> {
    std::fs::create_dir_all(logs).expect("cold start log dir");
    let mut results: Vec<FunctionResult> = binaries
        .iter()
        .map(|b| FunctionResult {
            binary: b.clone(),
            event: first_event(b.name, "http://127.0.0.1:0").0,
            runs: Vec::new(),
        })
        .collect();
    // One unmeasured start of each first: the binaries are then in the page cache (this VM's
    // disk is not Lambda's), and nothing measured pays for a first read of 20 MB.
    for r in &results {
        let o = cold_start(&r.binary, database_url, logs, usize::MAX).await;
        if let Some(e) = o.failure {
            eprintln!("bench: cold start {} warm-up: {e}", r.binary.name);
        }
    }
    // Interleaved (every function once per pass), so a burst of noise hits all alike.
    for run in 0..runs {
        for r in results.iter_mut() {
            let o = cold_start(&r.binary, database_url, logs, run).await;
            eprintln!(
                "bench: cold start {:<16} run {}/{runs}: ready {} first answer {} ({}) VmHWM {} {}",
                r.binary.name,
                run + 1,
                o.ready_ms
                    .map(|v| format!("{v:.1} ms"))
                    .unwrap_or("-".into()),
                o.first_response_ms
                    .map(|v| format!("{v:.1} ms"))
                    .unwrap_or("-".into()),
                o.answer,
                o.vm_hwm_kib
                    .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
                    .unwrap_or("-".into()),
                o.failure.as_deref().unwrap_or("")
            );
            r.runs.push(o);
        }
    }
    results
}
