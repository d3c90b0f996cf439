//! The commands against the local stack: its `/ops/*` routes over HTTP.

use crate::cli::{Cli, Command, DlqCommand, OrdersCommand, SkuCommand};
use crate::failure::Failure;
use serde_json::Value;
use std::time::Duration;
pub async fn run(cli: &Cli) -> Result<Value, Failure> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| Failure::Failed(e.to_string()))?;
    let base = cli.url.trim_end_matches('/');
    let (method, path) = match &cli.command {
        Command::Dlq {
            command: DlqCommand::List { .. },
        } => ("GET", "/ops/dlq".to_owned()),
        Command::Dlq {
            command: DlqCommand::Redrive { .. },
        } => ("POST", "/ops/dlq/redrive".to_owned()),
        Command::Orders {
            command:
                OrdersCommand::List {
                    status,
                    older_than_secs,
                },
        } => (
            "GET",
            format!(
                "/ops/factory-orders?status={}&older_than_secs={older_than_secs}",
                status.as_str()
            ),
        ),
        Command::Orders {
            command: OrdersCommand::Retry { id },
        } => (
            "POST",
            format!("/ops/factory-orders/{}/retry", segment(id)?),
        ),
        Command::Sku {
            command: SkuCommand::History { sku, since_hours },
        } => (
            "GET",
            format!(
                "/ops/skus/{}/history?since_hours={since_hours}",
                segment(sku)?
            ),
        ),
        Command::Alarms { .. } => ("GET", "/ops/alarms".to_owned()),
        Command::Preflight(_) => {
            return Err(Failure::Usage(
                "preflight checks AWS, not the local stack".into(),
            ));
        }
        Command::Migrations(_) => {
            return Err(Failure::Usage(
                "the local stack migrates its own database at start: `migrations` works with \
                 --aws or --stack (through the deployed migrate function)"
                    .into(),
            ));
        }
        Command::Deployments { .. } => {
            return Err(Failure::Usage(
                "the local stack deploys nothing gradually: `deployments` works with --stack NAME"
                    .into(),
            ));
        }
        Command::Failures { .. } => {
            return Err(Failure::Usage(
                "the local stack invokes nothing asynchronously: `failures` works with --aws \
                 (--failures-url, the stack output AsyncFailuresQueueUrl)"
                    .into(),
            ));
        }
    };
    let url = format!("{base}{path}");
    let req = if method == "POST" {
        http.post(&url)
    } else {
        http.get(&url)
    };
    let res = req.send().await.map_err(|e| {
        Failure::Failed(format!(
            "cannot reach the local stack at {base} ({}); is devstack running? (--url / DONUT_OPS_URL)",
            e.without_url()
        ))
    })?;
    let status = res.status();
    let text = res
        .text()
        .await
        .map_err(|e| Failure::Failed(e.without_url().to_string()))?;
    let body: Value = serde_json::from_str(&text).map_err(|_| {
        Failure::Failed(format!(
            "{method} {path}: {status}, not JSON: {}",
            text.chars().take(200).collect::<String>()
        ))
    })?;
    if !status.is_success() {
        let msg = body["message"].as_str().unwrap_or("no message");
        return Err(Failure::Failed(format!(
            "{method} {path}: {} {}",
            status.as_u16(),
            msg
        )));
    }
    Ok(body)
}
/// A path segment: ids and SKUs are checked by the server, but nothing here may change the path.
fn segment(s: &str) -> Result<&str, Failure> {
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        || s == "."
        || s == ".."
    {
        return Err(Failure::Usage(format!(
            "{s:?} is not a valid id or SKU ([A-Za-z0-9._-])"
        )));
    }
    Ok(s)
}
