//! Result rows of the reliability suite: one JSON line per case into
//! `target/reliability/<suite>.jsonl` (rendered into `docs/reliability.md`).

use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where the result lines go: `RELIABILITY_DIR`, else `$CARGO_TARGET_DIR/reliability`, else
/// `<workspace>/target/reliability`.
pub fn results_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("RELIABILITY_DIR") {
        return PathBuf::from(d);
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(t).join("reliability");
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("reliability")
}

/// One row of the reliability table. Written when dropped: `pass` is false when the test is
/// panicking, so a failing case shows up as FAIL with what it had observed so far.
pub struct Record {
    suite: String,
    case: String,
    fault: String,
    db: String,
    behaviour: Vec<String>,
    invariants: Vec<String>,
    started: Instant,
}

impl Record {
    pub fn new(suite: &str, case: &str, fault: &str) -> Self {
        Record {
            suite: suite.to_owned(),
            case: case.to_owned(),
            fault: fault.to_owned(),
            db: "-".to_owned(),
            behaviour: Vec::new(),
            invariants: Vec::new(),
            started: Instant::now(),
        }
    }

    pub fn db(mut self, db: crate::Db) -> Self {
        self.db = match db {
            crate::Db::Sqlite => "sqlite",
            crate::Db::MySql => "mariadb",
        }
        .to_owned();
        self
    }

    pub fn on(mut self, db: &str) -> Self {
        self.db = db.to_owned();
        self
    }

    /// What the system did (observed, with numbers).
    pub fn saw(&mut self, what: impl Into<String>) {
        self.behaviour.push(what.into());
    }

    /// Invariants checked and found to hold.
    pub fn held(&mut self, what: impl IntoIterator<Item = String>) {
        self.invariants.extend(what);
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        let line = json!({
            "suite": self.suite,
            "case": self.case,
            "fault": self.fault,
            "db": self.db,
            "behaviour": self.behaviour,
            "invariants": self.invariants,
            "pass": !std::thread::panicking(),
            "duration_ms": self.started.elapsed().as_millis() as u64,
            "at": inventory::domain::rfc3339(inventory::domain::now_millis()),
        });
        let dir = results_dir();
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("{}.jsonl", self.suite));
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            // One write per line: O_APPEND keeps concurrent tests' lines whole.
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
    }
}
