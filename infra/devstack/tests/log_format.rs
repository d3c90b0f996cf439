//! `devstack --log-format`: human-readable lines when asked (the default on a terminal), JSON
//! lines when asked or when stdout is piped (`auto`), as the scripts that read them expect.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The first `n` stdout lines of a devstack started with `format` (None: the default).
fn first_lines(format: Option<&str>, n: usize) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!(
        "devstack-logfmt-{}-{}",
        std::process::id(),
        format.unwrap_or("default")
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_devstack"));
    cmd.args(["--port", "0", "--data-dir"])
        .arg(&dir)
        .env_remove("DATABASE_URL")
        .env_remove("DEVSTACK_LOG_FORMAT")
        // Debug: lines at start-up without sending a request.
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(f) = format {
        cmd.args(["--log-format", f]);
    }
    let mut child = cmd.spawn().expect("start devstack");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while lines.len() < n && Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200))
            && !l.trim().is_empty()
        {
            lines.push(l);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(lines.len(), n, "devstack printed {lines:?}");
    lines
}

fn is_json(l: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v.is_object())
}

#[test]
fn json_when_piped_or_asked_pretty_when_asked() {
    for format in [None, Some("auto"), Some("json")] {
        let lines = first_lines(format, 2);
        assert!(lines.iter().all(|l| is_json(l)), "{format:?}: {lines:?}");
    }
    let lines = first_lines(Some("pretty"), 2);
    assert!(lines.iter().all(|l| !is_json(l)), "pretty: {lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| ["DEBUG", "INFO", "WARN"].iter().any(|lvl| l.contains(lvl))),
        "pretty lines carry their level: {lines:?}"
    );
}
