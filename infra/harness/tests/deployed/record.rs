//! Result rows of the harness's fault cases for `docs/reliability.md`: one JSON line per case
//! into `<RELIABILITY_DIR>/deployed.jsonl`, the format of `pipeline_tests::faults::Record`
//! (suite, case, fault, db, behaviour[], invariants[], pass, duration_ms, at), rendered by
//! `scripts/reliability-table.py` under "Lambda's own faults".
//!
//! Two ways to write one:
//! - [`record`]: one call at the end of a case with what it saw and what held;
//! - [`Record`]: made at the start, filled as the case goes (`saw`, `held`), written when
//!   dropped; `pass` is false when the test is panicking, so a failing case shows up as FAIL
//!   with what it had observed so far (prefer this one: a case that panics still leaves a row).

use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// The suite name: the test binary (`tests/deployed/main.rs`), as the table's log reader names it.
pub const SUITE: &str = "deployed";

/// Where the lines go: `RELIABILITY_DIR`, else `$CARGO_TARGET_DIR/reliability`, else
/// `<workspace>/target/reliability`.
pub fn results_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("RELIABILITY_DIR") {
        return PathBuf::from(d);
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(t).join("reliability");
    }
    super::kit::root().join("target").join("reliability")
}

/// Writes one finished row. `case` is the test function's name (the log's `test …::case ...
/// ok` line is matched on it); `fault` what was injected; `what_happened` what the system did,
/// with numbers; `invariants` what was checked, with the counts found.
pub fn record(case: &str, fault: &str, what_happened: &str, invariants: &[String], passed: bool) {
    write_line(&json!({
        "suite": SUITE,
        "case": case,
        "fault": fault,
        "db": "harness",
        "behaviour": [what_happened],
        "invariants": invariants,
        "pass": passed,
        "duration_ms": 0,
        "at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    }));
}

/// A row filled while the case runs, written when dropped.
pub struct Record {
    case: String,
    fault: String,
    behaviour: Vec<String>,
    invariants: Vec<String>,
    started: Instant,
}

impl Record {
    pub fn new(case: &str, fault: &str) -> Self {
        Record {
            case: case.to_owned(),
            fault: fault.to_owned(),
            behaviour: Vec::new(),
            invariants: Vec::new(),
            started: Instant::now(),
        }
    }

    /// What the system did (observed, with numbers).
    pub fn saw(&mut self, what: impl Into<String>) {
        self.behaviour.push(what.into());
    }

    /// An invariant checked and found to hold (with the numbers).
    pub fn held(&mut self, what: impl Into<String>) {
        self.invariants.push(what.into());
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        write_line(&json!({
            "suite": SUITE,
            "case": self.case,
            "fault": self.fault,
            "db": "harness",
            "behaviour": self.behaviour,
            "invariants": self.invariants,
            "pass": !std::thread::panicking(),
            "duration_ms": self.started.elapsed().as_millis() as u64,
            "at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }));
    }
}

fn write_line(line: &serde_json::Value) {
    let dir = results_dir();
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{SUITE}.jsonl"));
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        // One write per line: O_APPEND keeps concurrent tests' lines whole.
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}
