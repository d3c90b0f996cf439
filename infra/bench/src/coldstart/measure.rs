//! One cold start of one binary, timed against a fresh stand-in.

use super::events::{environment, first_event};
use super::standin::{Invocation, router};
use super::{Binary, Outcome};
use crate::stats::ms;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// One cold start of one binary.
pub async fn cold_start(bin: &Binary, database_url: &str, logs: &Path, run: usize) -> Outcome {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the Runtime API stand-in");
    let standin = format!("http://{}", listener.local_addr().expect("addr"));
    let (_, event) = first_event(bin.name, &standin);
    let inv = Invocation::new(bin.name, event);
    let app = router(inv.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let log_path = if run == usize::MAX {
        logs.join(format!("{}-warmup.log", bin.name))
    } else {
        logs.join(format!("{}-{}.log", bin.name, run + 1))
    };
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut cmd = Command::new(&bin.path);
    cmd.env_clear()
        .envs(environment(bin.name, &standin, database_url, &bin.path))
        .current_dir(bin.path.parent().unwrap_or(Path::new("/")))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log);
    // The clock starts just before the spawn.
    let t0 = Instant::now();
    let spawned = cmd.spawn();
    let mut out = Outcome {
        ready_ms: None,
        first_response_ms: None,
        answer: String::new(),
        answer_body: String::new(),
        vm_hwm_kib: None,
        other_calls: Vec::new(),
        failure: None,
    };
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            server.abort();
            out.failure = Some(format!("spawn {}: {e}", bin.path.display()));
            return out;
        }
    };
    let pid = child.id();
    let deadline = t0 + Duration::from_secs(20);
    // Until the first answer.
    loop {
        if inv.answered.lock().expect("lock").is_some() {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            out.failure = Some(format!(
                "exited with {status} before answering (log: {})",
                log_path.display()
            ));
            break;
        }
        if Instant::now() > deadline {
            out.failure = Some(format!(
                "no answer within 20 s (log: {})",
                log_path.display()
            ));
            break;
        }
        let _ = tokio::time::timeout(Duration::from_millis(5), inv.notify.notified()).await;
    }
    // Until it asks for the next event (the invocation is over), then peak RSS.
    if out.failure.is_none() {
        let wait_next = Instant::now() + Duration::from_millis(500);
        while inv.next_calls.load(Ordering::SeqCst) < 2 && Instant::now() < wait_next {
            let _ = tokio::time::timeout(Duration::from_millis(5), inv.notify.notified()).await;
        }
        out.vm_hwm_kib = vm_hwm_kib(pid);
    }
    let _ = child.kill();
    let _ = child.wait();
    server.abort();
    if let Some(ready) = *inv.ready.lock().expect("lock") {
        out.ready_ms = Some(ms(ready - t0));
    }
    if let Some((at, kind, body)) = inv.answered.lock().expect("lock").clone() {
        out.first_response_ms = Some(ms(at - t0));
        out.answer = kind;
        out.answer_body = body;
    }
    out.other_calls = inv.other.lock().expect("lock").clone();
    out
}
