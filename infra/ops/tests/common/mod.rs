//! What the donut-ops CLI tests share: running the built binary with only the given
//! environment (stdout piped, so tables are plain), and setting moto up (a queue; a boto3 script
//! for what the Rust SDKs the tests link do not cover).

use serde_json::Value;
use std::process::Command;

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    #[allow(dead_code)] // not every test file reads JSON
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

/// Runs `donut-ops` with only the given environment (stdout piped: plain tables).
pub async fn ops(args: &[&str], env: &[(&str, &str)]) -> Out {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_donut-ops"))
            .args(&args)
            .env_clear()
            .envs(env)
            .output()
            .expect("run donut-ops");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

/// Runs a Python script with the project's .venv (where boto3 and moto live) and returns its
/// stdout; a script that fails (or no .venv) fails the test with the script's stderr.
pub fn venv_python(script: &str, args: &[&str]) -> Vec<u8> {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    let out = Command::new(&python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run ./scripts/setup-venv.sh)", python.display()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Creates an SQS queue named `name` and returns its URL.
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: String) -> String {
    sqs.create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap()
}
