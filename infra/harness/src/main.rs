//! `lambda-harness`: the deployable functions, run locally as AWS runs them (see the library
//! docs). `lambda-harness up` serves the HTTP API on 127.0.0.1 until Ctrl-C.

use clap::Parser;
use lambda_harness::{Harness, Options};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(
    about = "Runs the functions `sam build` ships, as AWS Lambda runs them, wired as template.yaml wires them (moto + a TLS-only MariaDB; no Docker, no AWS account)"
)]
struct Cli {
    /// The SAM template.
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// Where cargo-lambda put the bootstraps (`<binary>/bootstrap`; default HARNESS_BIN_DIR,
    /// else $CARGO_TARGET_DIR/lambda, else target/lambda).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Working directory (database, certificates, one log file per function); a relative one is
    /// taken from the current directory (scripts/harness.sh: the repository root).
    #[arg(long, default_value = ".harness")]
    dir: PathBuf,
    /// The moto server; default: MOTO_ENDPOINT, else one started from .venv/bin/moto_server.
    #[arg(long)]
    moto: Option<String>,
    /// Port of the local API Gateway.
    #[arg(long, default_value_t = 3001)]
    port: u16,
    /// Template parameter overrides, NAME=VALUE (repeatable).
    #[arg(long = "param", value_parser = kv)]
    params: Vec<(String, String)>,
    /// Execution environments per function, LogicalId=N (repeatable; default 1 each).
    #[arg(long = "instances", value_parser = kv)]
    instances: Vec<(String, String)>,
    /// Time compression: every queue's visibility timeout in seconds (the template's otherwise).
    #[arg(long)]
    visibility_timeout: Option<u64>,
    /// Print every function log line.
    #[arg(long)]
    echo: bool,
}

fn kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?}: expected NAME=VALUE"))
}

#[tokio::main]
async fn main() -> Result<(), lambda_harness::Error> {
    let cli = Cli::parse();
    // Paths are relative to where the harness runs (scripts/harness.sh: the repository root);
    // `Harness::start` makes them absolute before any child process sees one.
    let bin_dir = cli
        .bin_dir
        .clone()
        .unwrap_or_else(|| lambda_harness::bootstraps_dir(std::path::Path::new(".")));
    let moto_server =
        lambda_harness::moto::Moto::start(&std::path::absolute(".venv")?, cli.moto.clone())?;
    let moto = moto_server.endpoint.clone();
    let mut opts = Options::new(cli.template.clone(), bin_dir, cli.dir.clone(), moto.clone());
    opts.api_port = cli.port;
    opts.echo = cli.echo;
    opts.visibility_timeout = cli.visibility_timeout;
    opts.params = cli.params.iter().cloned().collect();
    let mut instances = HashMap::new();
    for (k, v) in &cli.instances {
        instances.insert(
            k.clone(),
            v.parse().map_err(|e| format!("--instances {k}={v}: {e}"))?,
        );
    }
    opts.instances = instances;
    let h = Arc::new(Harness::start(opts).await?);
    println!(
        "lambda-harness: {} functions running (logs in {}/logs)",
        h.functions.len(),
        h.opts.dir.display()
    );
    println!("  moto:             {moto}");
    println!(
        "  database (TLS):   {}:{} (CA {})",
        h.db.host,
        h.db.port,
        h.db.pki.ca.display()
    );
    let sm = aws_sdk_secretsmanager::Client::new(&h.sdk);
    for id in h.template.of_type("AWS::SecretsManager::Secret")? {
        if let Some(arn) = h.values.refs.get(&id)
            && let Ok(v) = sm.get_secret_value().secret_id(arn).send().await
        {
            println!("  secret {id}: {}", v.secret_string().unwrap_or_default());
        }
    }
    for id in h.template.custom_resources()? {
        let r = h.custom_resource(&id, "Create").await?;
        println!(
            "  custom resource {id} Create: {} {}",
            r["Status"], r["Reason"]
        );
    }
    let _timers = h.schedule_timers()?;
    for (id, url) in &h.function_urls {
        println!("  function URL:     {id} {url}");
    }
    println!("  HTTP API:         {}", h.api_url);
    println!(
        "Try: curl -s {}/inventory ; Ctrl-C stops (custom resources get Delete).",
        h.api_url
    );
    tokio::signal::ctrl_c().await?;
    for id in h.template.custom_resources()? {
        if let Ok(r) = h.custom_resource(&id, "Delete").await {
            println!("custom resource {id} Delete: {}", r["Status"]);
        }
    }
    h.stop();
    drop(moto_server);
    Ok(())
}
