//! `donut-ops`: the operator's commands for the donut pipeline.
//!
//! Against the local stack (default, `--url http://127.0.0.1:3000`) it speaks to the stack's
//! `/ops/*` routes. With `--aws` it works on a deployed stack with the caller's AWS credentials:
//! the factory-orders DLQ through SQS (`ReceiveMessage` with `VisibilityTimeout=0` to look,
//! `StartMessageMoveTask` to redrive) and the orders through the database (`DATABASE_URL`, or
//! `DB_SECRET_ARN` + `DB_HOST` + `DB_NAME`), publishing retries to `STOCKOUT_TOPIC_ARN`; and the
//! on-failure queue of the asynchronously invoked functions (stack output `AsyncFailuresQueueUrl`):
//! `failures list` looks at the invocation records, `failures redrive` re-invokes each function
//! asynchronously with the record's request payload (`lambda:InvokeFunction`), then deletes it.
//!
//! With `--stack NAME` (implies `--aws`) the queue URLs and ARNs come from the stack's outputs
//! (`cloudformation:DescribeStacks`; a flag or its variable still overrides an output), and
//! `alarms` shows every CloudWatch alarm of the stack with CloudWatch's own state, reason and time
//! of the last change (`cloudformation:ListStackResources`, `cloudwatch:DescribeAlarms`), and
//! `deployments` the gradual deployments of its traffic functions, with the alarm that stopped
//! one (`codedeploy:ListDeployments`, `codedeploy:BatchGetDeployments`).
//!
//! Tables wrap to the terminal's width and colour states on a terminal; they are plain when
//! stdout is not a terminal or `NO_COLOR` is set.
//!
//! Exit status: 0 done, 1 failed (the reason on stderr), 2 usage error, 3 `alarms --check`
//! found an alarm in ALARM.

mod aws;
mod cli;
mod failure;
mod local;
mod render;

use clap::Parser;
use cli::{Cli, Command, Output};
use failure::Failure;
use render::views::Firing;
use serde_json::Value;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("donut-ops: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Runs the command and prints its answer; `alarms --check` fails after printing when an
/// alarm is in ALARM.
async fn run(cli: &Cli) -> Result<(), Failure> {
    let value = if cli.aws || cli.stack.is_some() || matches!(cli.command, Command::Preflight(_)) {
        aws::run(cli).await?
    } else {
        local::run(cli).await?
    };
    let firing = match cli.command {
        Command::Alarms { check: true } => render::view::<Firing>(&value)?.names(),
        _ => Vec::new(),
    };
    print(cli, &value)?;
    if let (Command::Preflight(_), Some(n @ 1..)) = (&cli.command, value["blocking"].as_u64()) {
        return Err(Failure::Failed(format!(
            "preflight: {n} finding(s) block the deploy"
        )));
    }
    if !firing.is_empty() {
        return Err(Failure::Alarm(format!("in ALARM: {}", firing.join(", "))));
    }
    Ok(())
}

fn print(cli: &Cli, value: &Value) -> Result<(), Failure> {
    match cli.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        ),
        Output::Table => print!("{}", render::render(&cli.command, value, render::colour())?),
    }
    Ok(())
}
