//! `devstack`: the whole donut pipeline on localhost. See `devstack --help`.
//!
//! `devstack` runs the stack; `devstack export [--date YYYY-MM-DD]` writes a day's exports
//! (default: yesterday, UTC) into `<data-dir>/bucket/exports/` and exits — what the `exporter`
//! function does on AWS.

use clap::{Parser, Subcommand};
use devstack::{Options, Stack};
use exporter::{LocalDir, run_export, yesterday};
use inventory::store::PoolSettings;

#[derive(Debug, Parser)]
#[command(name = "devstack", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    opts: Options,
    /// Log format: `pretty` (human-readable, coloured), `json` (one JSON object per line, as on
    /// Lambda) or `auto` (pretty on a terminal, JSON when piped).
    #[arg(long, env = "DEVSTACK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Auto,
    Pretty,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write one day's sales and end-of-day inventory as .csv.gz under
    /// <data-dir>/bucket/exports/<dataset>/date=YYYY-MM-DD/ (the scheduled exporter, on demand).
    Export {
        /// The UTC day to export (default: yesterday).
        #[arg(long)]
        date: Option<chrono::NaiveDate>,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let pretty = match cli.log_format {
        LogFormat::Pretty => true,
        LogFormat::Json => false,
        LogFormat::Auto => std::io::IsTerminal::is_terminal(&std::io::stdout()),
    };
    if pretty {
        inventory::telemetry::init_pretty("devstack");
    } else {
        inventory::telemetry::init("devstack");
    }
    match cli.command {
        Some(Command::Export { date }) => export(cli.opts, date).await,
        None => run(cli.opts).await,
    }
}

async fn export(opts: Options, date: Option<chrono::NaiveDate>) -> std::process::ExitCode {
    let date = date.unwrap_or_else(|| yesterday(chrono::Utc::now()));
    let result = async {
        std::fs::create_dir_all(&opts.data_dir)
            .map_err(|e| format!("cannot create {}: {e}", opts.data_dir.display()))?;
        // The same database as the stack: DATABASE_URL, else the SQLite file in --data-dir.
        let store = inventory::store::connect(
            &opts.database_url_in(&opts.data_dir),
            &PoolSettings {
                max_connections: 2,
                ..PoolSettings::default()
            },
        )
        .map_err(|e| e.to_string())?;
        store.migrate().await.map_err(|e| e.to_string())?;
        let target = LocalDir::new(opts.data_dir.join("bucket"));
        run_export(&*store, &target, date)
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    match result {
        Ok(report) => {
            for o in &report.objects {
                println!("{}  ({} rows, {} bytes)", o.location, o.rows, o.bytes);
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("devstack export {date}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(opts: Options) -> std::process::ExitCode {
    let stack = match Stack::start(opts.clone()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("devstack: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let url = &stack.base_url;
    let backend = stack.store().backend();
    eprintln!(
        "\n  donut pipeline running at {url}  (database: {backend}, data: {})\n\
         \n  admin token: {token}   API reference: {url}/docs  (contract: {url}/openapi.yaml)\n\
         \n  try:\n    curl -s {url}/inventory\n\
         \x20   curl -s -X POST {url}/sales -H 'content-type: application/json' -d '{{\"sku\":\"glazed\",\"quantity\":2}}'\n\
         \x20   curl -s -X PUT {url}/admin/inventory/maple -H 'authorization: Bearer {token}' -H 'content-type: application/json' -d '{{\"stock\":5}}'\n\
         \n  ops: {url}/ops/alarms  {url}/ops/dlq  {url}/ops/ledger   captured requests: {}/bucket/rawdata/\n\
         \x20   zcat {}/bucket/rawdata/*/*/*/*/*.gz | head      (written every {} ms or {} bytes)\n\
         \x20   devstack export --date YYYY-MM-DD            (daily exports into {}/bucket/exports/)\n\
         \n  Ctrl-C stops cleanly.\n",
        stack.data_dir.display(),
        stack.data_dir.display(),
        stack.data_dir.display(),
        opts.capture_buffer_ms,
        opts.capture_buffer_bytes,
        stack.data_dir.display(),
        token = stack.admin_token,
    );
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("devstack: shutting down (flushing capture buffer)");
    stack.stop().await;
    std::process::ExitCode::SUCCESS
}
