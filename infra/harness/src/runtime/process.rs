//! A function's processes: each instance's bootstrap started as Lambda starts it (a cleared
//! environment: the template's variables, the Lambda-defined ones, credentials), its output
//! forwarded to the logs, and, when it exits, what it held failed and a new process started.

use super::{Answer, EXITED, Function, Instance, fail_one_pending};
use crate::logs::LogHub;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

impl Function {
    /// Keeps instance `i` running: starts it, forwards its output, and when it exits fails what
    /// it held and starts a new process (a new execution environment: a cold start).
    pub(super) fn supervise(self: Arc<Self>, i: usize, logs: Arc<LogHub>) {
        tokio::spawn(async move {
            let mut starts = 0u64;
            while !self.stopping.load(Ordering::SeqCst) {
                starts += 1;
                let stream = format!(
                    "{}/[$LATEST]{:016x}",
                    chrono::Utc::now().format("%Y/%m/%d"),
                    rand::random::<u64>()
                );
                let mut cmd = tokio::process::Command::new(&self.spec.binary);
                cmd.env_clear()
                    .envs(&self.spec.env)
                    .envs(self.lambda_env(i, &stream))
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .kill_on_drop(true);
                // A new execution environment, before its process can ask for work.
                self.shared.with_instance(i, |x| {
                    *x = Instance {
                        generation: x.generation + 1,
                        started: Some(Instant::now()),
                        ..Instance::default()
                    }
                });
                let mut child = match cmd.spawn() {
                    Ok(c) => c,
                    Err(e) => {
                        logs.harness(&self.spec.name, &format!("cannot start instance {i}: {e}"));
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                self.shared.starts.fetch_add(1, Ordering::SeqCst);
                let pid = child.id();
                self.shared.with_instance(i, |x| x.pid = pid);
                let forward = |r: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| {
                    let logs = logs.clone();
                    let name = self.spec.name.clone();
                    let stream = stream.clone();
                    tokio::spawn(async move {
                        let Some(r) = r else { return };
                        let mut lines = BufReader::new(r).lines();
                        while let Ok(Some(line)) = lines.next_line().await {
                            logs.line(&name, &stream, &line).await;
                        }
                    })
                };
                let out = forward(
                    child
                        .stdout
                        .take()
                        .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
                );
                let err = forward(
                    child
                        .stderr
                        .take()
                        .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
                );
                let status = child.wait().await;
                let (current, asked) = self
                    .shared
                    .with_instance(i, |x| {
                        x.pid = None;
                        (x.current.take(), x.asks > 0)
                    })
                    .unwrap_or((None, false));
                let _ = tokio::join!(out, err);
                if self.stopping.load(Ordering::SeqCst) {
                    break;
                }
                let how = match &status {
                    Ok(s) => exit_reason(s),
                    Err(e) => e.to_string(),
                };
                logs.harness(
                    &self.spec.name,
                    &format!(
                        "instance {i} exited ({how}) after start {starts}; starting a new execution environment"
                    ),
                );
                match current {
                    // It held an invocation that no timeout answered: the invocation failed.
                    Some(id) => {
                        if let Some(held) = self.shared.inflight.lock().await.remove(&id) {
                            self.shared.crashes.fetch_add(1, Ordering::SeqCst);
                            drop(held.slot);
                            let _ = held.reply.send(Answer::Err(json!({
                                "errorType": EXITED,
                                "errorMessage": format!("RequestId: {id} Error: Runtime exited with error: {how}"),
                            })));
                        }
                    }
                    // It died before asking for work (an init failure that did not reach
                    // /init/error): the invocation waiting for it fails, as Lambda's would. A
                    // pause, so a function that cannot init does not spin.
                    None if !asked => {
                        fail_one_pending(
                            &self.shared,
                            json!({"errorType": EXITED, "errorMessage": format!("instance {i} exited ({how}) during init")}),
                        );
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    None => {}
                }
            }
        });
    }

    fn lambda_env(&self, i: usize, stream: &str) -> Vec<(String, String)> {
        let s = &self.spec;
        [
            ("AWS_LAMBDA_RUNTIME_API", self.runtime_apis[i].clone()),
            ("AWS_LAMBDA_FUNCTION_NAME", s.name.clone()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", s.memory_mb.to_string()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", s.name),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME", stream.to_owned()),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
            ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".into()),
            ("AWS_REGION", crate::template::REGION.into()),
            ("AWS_DEFAULT_REGION", crate::template::REGION.into()),
            ("LAMBDA_TASK_ROOT", "/var/task".into()),
            ("LAMBDA_RUNTIME_DIR", "/var/runtime".into()),
            ("TZ", ":UTC".into()),
            ("LANG", "en_US.UTF-8".into()),
            ("PATH", "/usr/local/bin:/usr/bin:/bin".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

/// How a process ended, as Lambda's `Runtime exited with error: …` says it.
fn exit_reason(s: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (_, Some(9)) => "signal: killed".into(),
        (_, Some(sig)) => format!("signal: {sig}"),
        (Some(code), None) => format!("exit status {code}"),
        (None, None) => "exited".into(),
    }
}
