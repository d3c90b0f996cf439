//! One cold start of one binary, timed on the harness's Lambda Runtime API
//! ([`lambda_harness::runtime`]: the function started as Lambda starts it, one instance).

use super::aws::AwsStandIn;
use super::events::{environment, first_event};
use super::{Binary, Outcome};
use crate::stats::ms;
use lambda_harness::logs::LogHub;
use lambda_harness::runtime::{Answer, EXITED, Function, Seen, Spec, Tap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The deadline the event carries (`Lambda-Runtime-Deadline-Ms`).
const TIMEOUT: Duration = Duration::from_secs(30);
/// How long a run waits for the first answer.
const NO_ANSWER: Duration = Duration::from_secs(20);

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// One cold start of one binary; its stdout/stderr go to `<logs>/run-<n>/logs/<name>.log`
/// (`warmup/` for the unmeasured start, `run == usize::MAX`).
pub async fn cold_start(bin: &Binary, database_url: &str, logs: &Path, run: usize) -> Outcome {
    let mut out = Outcome {
        ready_ms: None,
        first_response_ms: None,
        answer: String::new(),
        answer_body: String::new(),
        vm_hwm_kib: None,
        other_calls: Vec::new(),
        failure: None,
    };
    let aws = match AwsStandIn::start().await {
        Ok(a) => a,
        Err(e) => {
            out.failure = Some(format!("AWS stand-in: {e}"));
            return out;
        }
    };
    let (_, event) = first_event(bin.name, &aws.url);
    let run_dir = if run == usize::MAX {
        logs.join("warmup")
    } else {
        logs.join(format!("run-{}", run + 1))
    };
    let log_path = run_dir.join("logs").join(format!("{}.log", bin.name));
    let spec = Spec {
        logical_id: bin.name.to_owned(),
        name: bin.name.to_owned(),
        binary: bin.path.clone(),
        env: environment(&aws.url, database_url).into_iter().collect(),
        timeout: TIMEOUT,
        memory_mb: 128,
        instances: 1,
        reserved_concurrency: None,
    };
    // The process is spawned here (its `started` is taken just before).
    let f = match Function::start(spec, LogHub::new(Some(run_dir), false)).await {
        Ok(f) => f,
        Err(e) => {
            out.failure = Some(e.to_string());
            return out;
        }
    };
    let answered: Arc<Mutex<Option<Instant>>> = Arc::default();
    let tap: Tap = {
        let answered = answered.clone();
        Arc::new(move |seen: &Seen<'_>| {
            if let (Seen::Answered { .. }, Ok(mut at)) = (seen, answered.lock()) {
                at.get_or_insert_with(Instant::now);
            }
            None
        })
    };
    f.set_tap(Some(tap));
    match tokio::time::timeout(NO_ANSWER, f.invoke(&event)).await {
        Err(_) => {
            out.failure = Some(format!(
                "no answer within {} s (log: {})",
                NO_ANSWER.as_secs(),
                log_path.display()
            ));
        }
        Ok(answer) => {
            let returned = Instant::now();
            let (kind, body) = match &answer {
                Answer::Ok(body) => ("response", String::from_utf8_lossy(body).into_owned()),
                Answer::Err(e) if f.init_error().is_some() => ("init error", e.to_string()),
                Answer::Err(e) if answer.error_type() == Some(EXITED) => {
                    out.failure = Some(format!(
                        "{} before answering (log: {})",
                        e["errorMessage"].as_str().unwrap_or("exited"),
                        log_path.display()
                    ));
                    ("", String::new())
                }
                Answer::Err(e) => ("error", e.to_string()),
            };
            if out.failure.is_none() {
                // An init error reaches the caller without a `…/response` or `…/error`.
                let at = answered.lock().ok().and_then(|a| *a).unwrap_or(returned);
                out.answer = kind.to_owned();
                out.answer_body = body.chars().take(300).collect();
                if let Some(p) = f.process(0) {
                    out.first_response_ms = Some(ms(at - p.started));
                }
                // Until it asks for the next event (the invocation is over), then peak RSS.
                let wait_next = Instant::now() + Duration::from_millis(500);
                while f.process(0).is_some_and(|p| p.asks < 2) && Instant::now() < wait_next {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                out.vm_hwm_kib = f.process(0).and_then(|p| p.pid).and_then(vm_hwm_kib);
            }
        }
    }
    if let Some(p) = f.process(0)
        && let Some(ready) = p.ready
    {
        out.ready_ms = Some(ms(ready - p.started));
    }
    // No new execution environment; this one killed, as Lambda reclaims it.
    f.stop();
    f.kill(0);
    let gone = Instant::now() + Duration::from_secs(5);
    while f.pids().iter().any(Option::is_some) && Instant::now() < gone {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    out.other_calls = aws.calls();
    out
}
