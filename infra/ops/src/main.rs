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
//! of the last change (`cloudformation:ListStackResources`, `cloudwatch:DescribeAlarms`).
//!
//! Tables wrap to the terminal's width and colour states on a terminal; they are plain when
//! stdout is not a terminal or `NO_COLOR` is set.
//!
//! Exit status: 0 done, 1 failed (the reason on stderr), 2 usage error, 3 `alarms --check`
//! found an alarm in ALARM.

use clap::{Parser, Subcommand, ValueEnum};
use devstack::ops;
use inventory::messaging::{DynPublisher, SnsPublisher};
use inventory::store::DynStore;
use serde_json::{Value, json};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "donut-ops", version, about = "Operate the donut pipeline: DLQ, factory orders, SKU history, alarms", long_about = None)]
struct Cli {
    /// Base URL of the local stack (devstack).
    #[arg(
        long,
        env = "DONUT_OPS_URL",
        default_value = "http://127.0.0.1:3000",
        global = true
    )]
    url: String,
    /// Work on a deployed stack instead (AWS credentials from the usual chain; see --dlq-url,
    /// --queue-arn, --topic-arn and DATABASE_URL).
    #[arg(long, global = true)]
    aws: bool,
    /// Work on this deployed CloudFormation stack (implies --aws): queue URLs and ARNs from its
    /// outputs (the flags below override them); `alarms` shows its CloudWatch alarms. Credentials
    /// and region from the usual AWS chain (AWS_PROFILE, AWS_REGION, SSO, ...).
    #[arg(long, env = "DONUT_OPS_STACK", global = true, value_name = "NAME")]
    stack: Option<String>,
    /// With --aws: URL of the factory-orders DLQ (stack output FactoryOrdersDlqUrl).
    #[arg(long, env = "FACTORY_ORDERS_DLQ_URL", global = true)]
    dlq_url: Option<String>,
    /// With --aws: ARN of the factory-orders queue, the redrive destination (stack output
    /// FactoryOrdersQueueArn; default: the queue the messages came from).
    #[arg(long, env = "FACTORY_ORDERS_QUEUE_ARN", global = true)]
    queue_arn: Option<String>,
    /// With --aws: the stock-out topic an order retry publishes to (stack output StockOutTopicArn).
    #[arg(long, env = "STOCKOUT_TOPIC_ARN", global = true)]
    topic_arn: Option<String>,
    /// With --aws: the on-failure queue of api-capture, outbox-relay and exporter (stack output
    /// AsyncFailuresQueueUrl).
    #[arg(long, env = "ASYNC_FAILURES_QUEUE_URL", global = true)]
    failures_url: Option<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Table, global = true)]
    output: Output,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The factory-orders dead-letter queue.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Failed asynchronous invocations (api-capture, outbox-relay, exporter): their on-failure queue.
    Failures {
        #[command(subcommand)]
        command: FailuresCommand,
    },
    /// Factory orders.
    Orders {
        #[command(subcommand)]
        command: OrdersCommand,
    },
    /// A product's story.
    Sku {
        #[command(subcommand)]
        command: SkuCommand,
    },
    /// The pipeline's alarms.
    Alarms {
        /// Exit with status 3 when an alarm is in ALARM.
        #[arg(long)]
        check: bool,
    },
}

#[derive(Debug, Subcommand)]
enum DlqCommand {
    /// Lists the messages in the DLQ, each explained (its order's state and last error).
    List {
        /// With --aws: at most this many messages.
        #[arg(long, default_value_t = 100)]
        max: usize,
    },
    /// Moves every DLQ message back to the factory-orders queue.
    Redrive {
        /// With --aws: wait for the move task to finish.
        #[arg(long)]
        wait: bool,
    },
}

#[derive(Debug, Subcommand)]
enum FailuresCommand {
    /// Lists the failed invocations: function, why (retries exhausted / too old), attempts, error.
    List {
        /// At most this many records.
        #[arg(long, default_value_t = 100)]
        max: usize,
    },
    /// Re-invokes each failed invocation's function asynchronously with its original payload, and
    /// deletes the record once Lambda accepted the invocation.
    Redrive {
        /// At most this many records.
        #[arg(long, default_value_t = 1000)]
        max: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Status {
    Failed,
    Stuck,
    Pending,
    Requested,
    Fulfilled,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Failed => "failed",
            Status::Stuck => "stuck",
            Status::Pending => "pending",
            Status::Requested => "requested",
            Status::Fulfilled => "fulfilled",
        }
    }
}

#[derive(Debug, Subcommand)]
enum OrdersCommand {
    /// Lists orders: failed ones, or stuck ones (pending/requested with no change for a while).
    List {
        #[arg(long, value_enum, default_value_t = Status::Failed)]
        status: Status,
        /// For --status stuck: unchanged for at least this many seconds.
        #[arg(long, default_value_t = 60)]
        older_than_secs: u64,
    },
    /// Retries an order: reopens a failed one and publishes a new stock-out event for it (same
    /// order id, so the factory's idempotency key is the same).
    Retry { id: String },
}

#[derive(Debug, Subcommand)]
enum SkuCommand {
    /// Sales, restocks, ledger and factory orders (with transitions) of a SKU.
    History {
        sku: String,
        /// Sales counted over the last this many hours.
        #[arg(long, default_value_t = 24)]
        since_hours: i64,
    },
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
    #[error("{0}")]
    Alarm(String),
}

impl From<ops::OpsError> for Failure {
    fn from(e: ops::OpsError) -> Self {
        Failure::Failed(e.to_string())
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let output = cli.output;
    match run(cli).await {
        Ok((value, table)) => {
            print(output, &value, &table);
            ExitCode::SUCCESS
        }
        Err((Failure::Alarm(why), Some((value, table)))) => {
            print(output, &value, &table);
            eprintln!("donut-ops: {why}");
            ExitCode::from(3)
        }
        Err((e, _)) => {
            eprintln!("donut-ops: {e}");
            ExitCode::from(match e {
                Failure::Usage(_) => 2,
                _ => 1,
            })
        }
    }
}

fn print(output: Output, value: &Value, table: &str) {
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        ),
        Output::Table => print!("{table}"),
    }
}

type Rendered = (Value, String);

async fn run(cli: Cli) -> Result<Rendered, (Failure, Option<Rendered>)> {
    let value = if cli.aws || cli.stack.is_some() {
        aws::run(&cli).await
    } else {
        local(&cli).await
    }
    .map_err(|e| (e, None))?;
    let table = render(&cli.command, &value, colour());
    if let Command::Alarms { check: true } = cli.command {
        let firing: Vec<&str> = value["alarms"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["state"] == "ALARM")
            .filter_map(|a| a["name"].as_str())
            .collect();
        if !firing.is_empty() {
            let why = format!("in ALARM: {}", firing.join(", "));
            return Err((Failure::Alarm(why), Some((value, table))));
        }
    }
    Ok((value, table))
}

// ---- local stack --------------------------------------------------------------------------

async fn local(cli: &Cli) -> Result<Value, Failure> {
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

// ---- AWS ----------------------------------------------------------------------------------

mod aws {
    use super::*;
    use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

    fn sqs_error<E: std::error::Error>(what: &str, e: E) -> Failure {
        Failure::Failed(format!(
            "{what}: {}",
            aws_sdk_sqs::error::DisplayErrorContext(&e)
        ))
    }

    /// What the AWS commands work on: the flags (and their variables), each missing one taken
    /// from the stack's outputs with `--stack`.
    #[derive(Debug, Default)]
    pub struct Settings {
        pub stack: Option<String>,
        pub outputs: std::collections::BTreeMap<String, String>,
        pub dlq_url: Option<String>,
        pub queue_arn: Option<String>,
        pub topic_arn: Option<String>,
        pub failures_url: Option<String>,
    }

    impl Settings {
        /// The flags, completed from the stack outputs (a flag or its variable wins).
        pub fn new(cli: &Cli, outputs: std::collections::BTreeMap<String, String>) -> Self {
            let pick = |flag: &Option<String>, output: &str| {
                flag.clone()
                    .or_else(|| outputs.get(output).filter(|v| !v.is_empty()).cloned())
            };
            Settings {
                stack: cli.stack.clone(),
                dlq_url: pick(&cli.dlq_url, "FactoryOrdersDlqUrl"),
                queue_arn: pick(&cli.queue_arn, "FactoryOrdersQueueArn"),
                topic_arn: pick(&cli.topic_arn, "StockOutTopicArn"),
                failures_url: pick(&cli.failures_url, "AsyncFailuresQueueUrl"),
                outputs,
            }
        }

        fn need<'a>(
            &self,
            v: &'a Option<String>,
            flag: &str,
            env: &str,
            output: &str,
        ) -> Result<&'a str, Failure> {
            v.as_deref().ok_or_else(|| {
                Failure::Usage(match &self.stack {
                    Some(stack) => format!(
                        "the stack {stack} has no output {output}: pass {flag} (or {env})"
                    ),
                    None => format!(
                        "--aws needs {flag} (or {env}): the stack output {output} (or use --stack NAME)"
                    ),
                })
            })
        }

        /// Where the database settings can come from, with this stack's values when known.
        fn database_hint(&self) -> String {
            let out = |k: &str| self.outputs.get(k).cloned();
            match (&self.stack, out("AppDatabaseSecretArn")) {
                (Some(stack), Some(secret)) => format!(
                    "set DATABASE_URL=mysql://user:pass@host:3306/donuts through a tunnel to {}, or \
                     DB_SECRET_ARN={secret} (stack {stack}'s AppDatabaseSecretArn), DB_HOST and DB_NAME",
                    out("DatabaseProxyEndpoint")
                        .or_else(|| out("DatabaseEndpoint"))
                        .unwrap_or_else(|| "the database".into())
                ),
                _ => "set DATABASE_URL=mysql://user:pass@host:3306/donuts, or DB_SECRET_ARN, DB_HOST and DB_NAME".into(),
            }
        }
    }

    async fn store(sdk: &aws_config::SdkConfig, o: &Settings) -> Result<DynStore, Failure> {
        inventory::config::database_from_env(&inventory::config::Env, Some(sdk), 2)
            .await
            .map_err(|e| Failure::Usage(format!("the database: {e} ({})", o.database_hint())))
    }

    fn cfn_error<E: std::error::Error>(what: &str, e: E) -> Failure {
        let text = format!(
            "{what}: {}",
            aws_sdk_cloudformation::error::DisplayErrorContext(&e)
        );
        if text.contains("does not exist") {
            Failure::Usage(text)
        } else {
            Failure::Failed(text)
        }
    }

    /// `DescribeStacks`: the stack's outputs, by key.
    pub async fn stack_outputs(
        sdk: &aws_config::SdkConfig,
        stack: &str,
    ) -> Result<std::collections::BTreeMap<String, String>, Failure> {
        let out = aws_sdk_cloudformation::Client::new(sdk)
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| cfn_error(&format!("cloudformation:DescribeStacks {stack}"), e))?;
        let found = out
            .stacks()
            .first()
            .ok_or_else(|| Failure::Usage(format!("no stack {stack}")))?;
        Ok(found
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .collect())
    }

    fn has_database() -> bool {
        let env = inventory::config::Env;
        env.optional("DATABASE_URL").is_some() || env.optional("DB_SECRET_ARN").is_some()
    }

    pub async fn run(cli: &Cli) -> Result<Value, Failure> {
        let sdk = inventory::config::aws_config().await;
        let outputs = match &cli.stack {
            Some(stack) => stack_outputs(&sdk, stack).await?,
            None => Default::default(),
        };
        let o = Settings::new(cli, outputs);
        match &cli.command {
            Command::Dlq {
                command: DlqCommand::List { max },
            } => {
                let url = o.need(
                    &o.dlq_url,
                    "--dlq-url",
                    "FACTORY_ORDERS_DLQ_URL",
                    "FactoryOrdersDlqUrl",
                )?;
                let db = if has_database() {
                    Some(store(&sdk, &o).await?)
                } else {
                    None
                };
                dlq_list(&aws_sdk_sqs::Client::new(&sdk), url, *max, db.as_ref()).await
            }
            Command::Dlq {
                command: DlqCommand::Redrive { wait },
            } => {
                let url = o.need(
                    &o.dlq_url,
                    "--dlq-url",
                    "FACTORY_ORDERS_DLQ_URL",
                    "FactoryOrdersDlqUrl",
                )?;
                redrive(
                    &aws_sdk_sqs::Client::new(&sdk),
                    url,
                    o.queue_arn.as_deref(),
                    *wait,
                )
                .await
            }
            Command::Orders {
                command:
                    OrdersCommand::List {
                        status,
                        older_than_secs,
                    },
            } => {
                let store = store(&sdk, &o).await?;
                let orders = ops::list_orders(
                    &store,
                    status.as_str(),
                    Duration::from_secs(*older_than_secs),
                )
                .await?;
                Ok(
                    json!({"status": status.as_str(), "count": orders.len(), "factory_orders": orders}),
                )
            }
            Command::Orders {
                command: OrdersCommand::Retry { id },
            } => {
                let topic = o.need(
                    &o.topic_arn,
                    "--topic-arn",
                    "STOCKOUT_TOPIC_ARN",
                    "StockOutTopicArn",
                )?;
                let store = store(&sdk, &o).await?;
                let publisher: DynPublisher =
                    Arc::new(SnsPublisher::from_sdk(&sdk, topic.to_owned()));
                Ok(ops::retry_order(&store, &publisher, id).await?)
            }
            Command::Sku {
                command: SkuCommand::History { sku, since_hours },
            } => {
                let store = store(&sdk, &o).await?;
                Ok(ops::sku_history(&store, sku, *since_hours).await?)
            }
            Command::Failures {
                command: FailuresCommand::List { max },
            } => {
                let url = o.need(
                    &o.failures_url,
                    "--failures-url",
                    "ASYNC_FAILURES_QUEUE_URL",
                    "AsyncFailuresQueueUrl",
                )?;
                failures_list(&aws_sdk_sqs::Client::new(&sdk), url, *max).await
            }
            Command::Failures {
                command: FailuresCommand::Redrive { max },
            } => {
                let url = o.need(
                    &o.failures_url,
                    "--failures-url",
                    "ASYNC_FAILURES_QUEUE_URL",
                    "AsyncFailuresQueueUrl",
                )?;
                failures_redrive(&aws_sdk_sqs::Client::new(&sdk), &sdk, url, *max).await
            }
            Command::Alarms { .. } => match &o.stack {
                Some(stack) => stack_alarms(&sdk, stack).await,
                None => alarms(&o, &sdk).await,
            },
        }
    }

    /// Receives up to `max` messages of a queue without taking them: `VisibilityTimeout=0`
    /// leaves every message visible. Repeated until no new message shows up.
    async fn peek(
        sqs: &aws_sdk_sqs::Client,
        url: &str,
        max: usize,
    ) -> Result<Vec<aws_sdk_sqs::types::Message>, Failure> {
        let mut seen = std::collections::HashSet::new();
        let mut messages = Vec::new();
        let mut fruitless = 0;
        while messages.len() < max && fruitless < 3 {
            let out = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .visibility_timeout(0)
                .wait_time_seconds(1)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(|e| sqs_error("sqs:ReceiveMessage", e))?;
            let mut new = 0;
            for m in out.messages() {
                let id = m.message_id().unwrap_or_default().to_owned();
                if messages.len() < max && seen.insert(id) {
                    new += 1;
                    messages.push(m.clone());
                }
            }
            fruitless = if new == 0 { fruitless + 1 } else { 0 };
        }
        Ok(messages)
    }

    /// What a Lambda invocation record (the body Lambda sends to an on-failure destination)
    /// says: which function, why it was given up, how often it ran, the error.
    pub fn explain_failure(body: &str) -> Value {
        let Ok(record) = serde_json::from_str::<Value>(body) else {
            return json!({"reason": "not JSON: not a Lambda invocation record",
                          "body": body.chars().take(2000).collect::<String>()});
        };
        let ctx = &record["requestContext"];
        let Some(arn) = ctx["functionArn"].as_str() else {
            return json!({"reason": "no requestContext.functionArn: not a Lambda invocation record",
                          "body": body.chars().take(2000).collect::<String>()});
        };
        let error = &record["responsePayload"];
        json!({
            "function": FunctionArn::parse(arn).map(|f| f.name).ok(),
            "function_arn": arn,
            "condition": ctx["condition"],
            "attempts": ctx["approximateInvokeCount"],
            "request_id": ctx["requestId"],
            "failed_at": record["timestamp"],
            "error_type": error["errorType"].as_str().or(record["responseContext"]["functionError"].as_str()),
            "error": error["errorMessage"],
            "reason": format!("{} ({})", ctx["condition"].as_str().unwrap_or("failed"),
                              error["errorMessage"].as_str().unwrap_or("no error message")),
        })
    }

    pub async fn failures_list(
        sqs: &aws_sdk_sqs::Client,
        url: &str,
        max: usize,
    ) -> Result<Value, Failure> {
        let depth = queue_depth(sqs, url).await?;
        let records: Vec<Value> = peek(sqs, url, max)
            .await?
            .iter()
            .map(|m| {
                let mut view = explain_failure(m.body().unwrap_or_default());
                view["message_id"] = json!(m.message_id());
                view
            })
            .collect();
        Ok(json!({"queue": url, "depth": depth, "failures": records}))
    }

    /// Re-invokes every failed invocation (asynchronously, with its original payload, on the
    /// function's current code) and deletes each record Lambda accepted. A record that cannot be
    /// redriven stays in the queue (visible again at once) and is reported.
    pub async fn failures_redrive(
        sqs: &aws_sdk_sqs::Client,
        sdk: &aws_config::SdkConfig,
        url: &str,
        max: usize,
    ) -> Result<Value, Failure> {
        let lambda = Invoker::new(sdk).await?;
        let mut seen = std::collections::HashSet::new();
        let (mut redriven, mut errors, mut fruitless) = (Vec::new(), Vec::new(), 0);
        while redriven.len() + errors.len() < max && fruitless < 2 {
            let out = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .visibility_timeout(60)
                .wait_time_seconds(1)
                .send()
                .await
                .map_err(|e| sqs_error("sqs:ReceiveMessage on the failures queue", e))?;
            let mut new = 0;
            for m in out.messages() {
                let id = m.message_id().unwrap_or_default().to_owned();
                if !seen.insert(id.clone()) || redriven.len() + errors.len() >= max {
                    // Seen already (left in the queue) or over --max: visible again at once.
                    release(sqs, url, m).await;
                    continue;
                }
                new += 1;
                let body = m.body().unwrap_or_default();
                let result = match serde_json::from_str::<Value>(body) {
                    Ok(record) => match record["requestContext"]["functionArn"].as_str() {
                        Some(arn) => lambda
                            .invoke_event(arn, &record["requestPayload"])
                            .await
                            .map(|()| arn.to_owned()),
                        None => Err(
                            "not a Lambda invocation record (no requestContext.functionArn)".into(),
                        ),
                    },
                    Err(e) => Err(format!("not a Lambda invocation record: {e}")),
                };
                match result {
                    Ok(arn) => {
                        sqs.delete_message()
                            .queue_url(url)
                            .receipt_handle(m.receipt_handle().unwrap_or_default())
                            .send()
                            .await
                            .map_err(|e| sqs_error("sqs:DeleteMessage", e))?;
                        redriven.push(json!({"message_id": id, "function_arn": arn}));
                    }
                    Err(why) => {
                        // Left in the queue, visible again at once for the next look.
                        release(sqs, url, m).await;
                        errors.push(json!({"message_id": id, "error": why}));
                    }
                }
            }
            fruitless = if new == 0 { fruitless + 1 } else { 0 };
        }
        let result = json!({
            "queue": url,
            "redriven": redriven.len(),
            "invocations": redriven,
            "failed": errors.len(),
            "errors": errors,
        });
        if let Some(first) = result["errors"].get(0) {
            return Err(Failure::Failed(format!(
                "re-invoked {} record(s); {} could not be (left in the queue), e.g. {}: {}",
                result["redriven"],
                result["failed"],
                s(&first["message_id"]),
                s(&first["error"])
            )));
        }
        Ok(result)
    }

    /// Makes a received message visible again at once (best effort: at worst it reappears when
    /// its 60 s visibility timeout ends).
    async fn release(sqs: &aws_sdk_sqs::Client, url: &str, m: &aws_sdk_sqs::types::Message) {
        let _ = sqs
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(m.receipt_handle().unwrap_or_default())
            .visibility_timeout(0)
            .send()
            .await;
    }

    /// `arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]`.
    #[derive(Debug, PartialEq, Eq)]
    pub struct FunctionArn {
        pub partition: String,
        pub region: String,
        pub name: String,
        pub qualifier: Option<String>,
    }

    impl FunctionArn {
        pub fn parse(arn: &str) -> Result<Self, String> {
            let parts: Vec<&str> = arn.split(':').collect();
            let ok_name = |n: &str| {
                !n.is_empty()
                    && n.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
            };
            match parts.as_slice() {
                [
                    "arn",
                    partition,
                    "lambda",
                    region,
                    _account,
                    "function",
                    name,
                    rest @ ..,
                ] if ok_name(name) && rest.len() <= 1 => {
                    let qualifier = rest
                        .first()
                        .filter(|q| **q != "$LATEST")
                        .map(|q| q.to_string());
                    if qualifier.as_deref().is_some_and(|q| !ok_name(q)) {
                        return Err(format!("{arn}: unexpected qualifier"));
                    }
                    Ok(FunctionArn {
                        partition: partition.to_string(),
                        region: region.to_string(),
                        name: name.to_string(),
                        qualifier,
                    })
                }
                _ => Err(format!("{arn} is not a Lambda function ARN")),
            }
        }
    }

    /// Requests signed with SigV4 by `aws-sigv4` (the SDK's own signer, already in the build):
    /// `lambda:InvokeFunction` with `InvocationType=Event`, and CloudWatch's `DescribeAlarms`
    /// (its JSON 1.0 protocol). No generated client for these: one call each does not justify
    /// another SDK crate in the build, and aws-sdk-cloudwatch speaks CBOR through a crate whose
    /// license (BlueOak-1.0.0) deny.toml does not allow.
    pub struct Signer {
        http: reqwest::Client,
        endpoint: Option<String>,
        region: Option<String>,
        credentials: aws_sdk_sqs::config::Credentials,
    }

    /// The lambda invoker is the signer.
    pub type Invoker = Signer;

    impl Signer {
        pub async fn new(sdk: &aws_config::SdkConfig) -> Result<Self, Failure> {
            use aws_sdk_sqs::config::ProvideCredentials;
            let provider = sdk.credentials_provider().ok_or_else(|| {
                Failure::Usage("no AWS credentials (aws configure, SSO or AWS_* variables)".into())
            })?;
            let credentials = provider
                .provide_credentials()
                .await
                .map_err(|e| Failure::Usage(format!("AWS credentials: {e}")))?;
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .map_err(|e| Failure::Failed(e.to_string()))?;
            Ok(Signer {
                http,
                endpoint: sdk
                    .endpoint_url()
                    .map(|u| u.trim_end_matches('/').to_owned()),
                region: sdk.region().map(|r| r.to_string()),
                credentials,
            })
        }

        /// `https://<prefix>.<region>.amazonaws.com` (or `AWS_ENDPOINT_URL`).
        fn base(&self, prefix: &str, region: &str) -> String {
            self.endpoint.clone().unwrap_or_else(|| {
                let suffix = if region.starts_with("cn-") {
                    "amazonaws.com.cn"
                } else {
                    "amazonaws.com"
                };
                format!("https://{prefix}.{region}.{suffix}")
            })
        }

        /// Signs and sends a POST; the response's status and body.
        async fn post(
            &self,
            target: &str,
            region: &str,
            service: &str,
            headers: &[(&str, &str)],
            body: Vec<u8>,
        ) -> Result<(u16, String), String> {
            use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
            reqwest::Url::parse(target).map_err(|e| format!("{target}: {e}"))?;
            let identity = self.credentials.clone().into();
            let params = aws_sigv4::sign::v4::SigningParams::builder()
                .identity(&identity)
                .region(region)
                .name(service)
                .time(std::time::SystemTime::now())
                .settings(SigningSettings::default())
                .build()
                .map_err(|e| format!("SigV4: {e}"))?
                .into();
            let signable = SignableRequest::new(
                "POST",
                target,
                headers.iter().copied(),
                SignableBody::Bytes(&body),
            )
            .map_err(|e| format!("SigV4: {e}"))?;
            let (signed, _) = sign(signable, &params)
                .map_err(|e| format!("SigV4: {e}"))?
                .into_parts();
            let mut req = self.http.post(target).body(body);
            for (k, v) in headers.iter().copied().chain(signed.headers()) {
                req = req.header(k, v);
            }
            let res = req.send().await.map_err(|e| e.without_url().to_string())?;
            let status = res.status().as_u16();
            Ok((status, res.text().await.unwrap_or_default()))
        }

        pub async fn invoke_event(
            &self,
            function_arn: &str,
            payload: &Value,
        ) -> Result<(), String> {
            let f = FunctionArn::parse(function_arn)?;
            let base = self.base("lambda", &f.region);
            let mut target = format!("{base}/2015-03-31/functions/{}/invocations", f.name);
            if let Some(q) = &f.qualifier {
                target = format!("{target}?Qualifier={q}");
            }
            let body = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
            let headers = [
                ("content-type", "application/json"),
                ("x-amz-invocation-type", "Event"),
            ];
            let (status, text) = self
                .post(&target, &f.region, "lambda", &headers, body)
                .await
                .map_err(|e| format!("lambda:InvokeFunction {}: {e}", f.name))?;
            if status == 202 {
                return Ok(());
            }
            Err(format!(
                "lambda:InvokeFunction {}: {} {}",
                f.name,
                status,
                text.chars().take(300).collect::<String>()
            ))
        }

        /// `cloudwatch:DescribeAlarms` (JSON 1.0 protocol), every page: metric and composite
        /// alarms, by names (at most 100 a call) or by a name prefix.
        pub async fn describe_alarms(&self, filter: &Value) -> Result<Vec<Value>, Failure> {
            let region = self.region.clone().ok_or_else(|| {
                Failure::Usage("no AWS region: set AWS_REGION or a profile's region".into())
            })?;
            let target = format!("{}/", self.base("monitoring", &region));
            let mut alarms = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let mut body = filter.clone();
                body["AlarmTypes"] = json!(["MetricAlarm", "CompositeAlarm"]);
                body["MaxRecords"] = json!(100);
                if let Some(t) = &token {
                    body["NextToken"] = json!(t);
                }
                let headers = [
                    ("content-type", "application/x-amz-json-1.0"),
                    (
                        "x-amz-target",
                        "GraniteServiceVersion20100801.DescribeAlarms",
                    ),
                ];
                let (status, text) = self
                    .post(
                        &target,
                        &region,
                        "monitoring",
                        &headers,
                        body.to_string().into_bytes(),
                    )
                    .await
                    .map_err(|e| Failure::Failed(format!("cloudwatch:DescribeAlarms: {e}")))?;
                let page: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if status != 200 {
                    return Err(Failure::Failed(format!(
                        "cloudwatch:DescribeAlarms: {status} {}",
                        page.get("message")
                            .or(page.get("Message"))
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                            .unwrap_or_else(|| text.chars().take(300).collect())
                    )));
                }
                for kind in ["MetricAlarms", "CompositeAlarms"] {
                    alarms.extend(page[kind].as_array().into_iter().flatten().cloned());
                }
                token = page["NextToken"].as_str().map(str::to_owned);
                if token.is_none() {
                    return Ok(alarms);
                }
            }
        }
    }

    /// The logical id in the name CloudFormation gives an alarm it names itself,
    /// `<stack>-<LogicalId>-<SUFFIX>`; `None` for any other name (another stack's
    /// `<stack>-staging-…` included).
    pub fn logical_id_in_name(stack: &str, name: &str) -> Option<String> {
        let rest = name.strip_prefix(stack)?.strip_prefix('-')?;
        let (logical, suffix) = rest.split_once('-')?;
        let ok = !logical.is_empty()
            && logical.bytes().all(|b| b.is_ascii_alphanumeric())
            && !suffix.is_empty()
            && suffix
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        ok.then(|| logical.to_owned())
    }

    /// Every CloudWatch alarm of the stack with CloudWatch's own state: the stack's
    /// `AWS::CloudWatch::Alarm` / `CompositeAlarm` resources (`ListStackResources`, whose
    /// physical ids are the alarm names) and the alarms named `<stack>-<LogicalId>-<SUFFIX>` as
    /// CloudFormation names them (found by name prefix), then `DescribeAlarms`. Firing alarms
    /// first.
    pub async fn stack_alarms(sdk: &aws_config::SdkConfig, stack: &str) -> Result<Value, Failure> {
        let cfn = aws_sdk_cloudformation::Client::new(sdk);
        // alarm name -> logical id
        let mut names = std::collections::BTreeMap::<String, String>::new();
        let mut token: Option<String> = None;
        loop {
            let out = cfn
                .list_stack_resources()
                .stack_name(stack)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| cfn_error(&format!("cloudformation:ListStackResources {stack}"), e))?;
            for r in out.stack_resource_summaries() {
                let alarm = matches!(
                    r.resource_type(),
                    Some("AWS::CloudWatch::Alarm" | "AWS::CloudWatch::CompositeAlarm")
                );
                if let (true, Some(name)) = (alarm, r.physical_resource_id())
                    && !name.is_empty()
                {
                    names.insert(
                        name.to_owned(),
                        r.logical_resource_id().unwrap_or(name).to_owned(),
                    );
                }
            }
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        let cw = Signer::new(sdk).await?;
        let mut found = cw
            .describe_alarms(&json!({"AlarmNamePrefix": format!("{stack}-")}))
            .await?;
        found.retain(|a| {
            let name = a["AlarmName"].as_str().unwrap_or_default();
            names.contains_key(name) || logical_id_in_name(stack, name).is_some()
        });
        let missing: Vec<String> = names
            .keys()
            .filter(|n| !found.iter().any(|a| a["AlarmName"] == n.as_str()))
            .cloned()
            .collect();
        for chunk in missing.chunks(100) {
            found.extend(cw.describe_alarms(&json!({"AlarmNames": chunk})).await?);
        }
        let mut alarms: Vec<Value> = found
            .iter()
            .map(|a| {
                let name = a["AlarmName"].as_str().unwrap_or_default();
                let logical = names
                    .get(name)
                    .cloned()
                    .or_else(|| logical_id_in_name(stack, name))
                    .unwrap_or_else(|| name.to_owned());
                json!({
                    "name": logical,
                    "alarm_name": name,
                    "alarm_arn": a["AlarmArn"],
                    "state": a["StateValue"],
                    "reason": a["StateReason"],
                    "since": epoch_rfc3339(&a["StateUpdatedTimestamp"]),
                    "description": a["AlarmDescription"],
                    "actions_enabled": a["ActionsEnabled"],
                })
            })
            .collect();
        for name in names.keys() {
            if !alarms.iter().any(|a| a["alarm_name"] == name.as_str()) {
                alarms.push(json!({
                    "name": names[name], "alarm_name": name, "state": "MISSING",
                    "reason": "a resource of the stack that CloudWatch does not know (deleted outside CloudFormation?)",
                }));
            }
        }
        let rank = |a: &Value| match a["state"].as_str() {
            Some("ALARM") => 0,
            Some("INSUFFICIENT_DATA") => 1,
            Some("OK") => 3,
            _ => 2,
        };
        alarms.sort_by(|a, b| (rank(a), a["name"].as_str()).cmp(&(rank(b), b["name"].as_str())));
        let firing = alarms.iter().filter(|a| a["state"] == "ALARM").count();
        Ok(json!({
            "stack": stack,
            "region": sdk.region().map(|r| r.to_string()),
            "count": alarms.len(),
            "in_alarm": firing,
            "alarms": alarms,
        }))
    }

    /// A JSON-protocol timestamp (epoch seconds, fractional) as RFC 3339; `null` when absent.
    fn epoch_rfc3339(v: &Value) -> Value {
        match v.as_f64() {
            Some(secs) => json!(inventory::domain::rfc3339((secs * 1000.0).round() as i64)),
            None => v.clone(),
        }
    }

    /// Looks at the DLQ without taking anything: `VisibilityTimeout=0` leaves every message
    /// visible (each look increments its receive count; the DLQ has no redrive policy, so that
    /// is harmless). Repeated until no new message shows up.
    pub async fn dlq_list(
        sqs: &aws_sdk_sqs::Client,
        url: &str,
        max: usize,
        db: Option<&DynStore>,
    ) -> Result<Value, Failure> {
        let depth = queue_depth(sqs, url).await?;
        let mut messages = Vec::new();
        for m in peek(sqs, url, max).await? {
            let body = m.body().unwrap_or_default();
            let mut view = match db {
                Some(store) => ops::explain_message(store, body).await,
                None => explain_offline(body),
            };
            let attrs: serde_json::Map<String, Value> = m
                .message_attributes()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), json!(v.string_value()?))))
                .collect();
            let sys = m.attributes();
            let get = |n: MessageSystemAttributeName| sys.and_then(|a| a.get(&n)).cloned();
            view["message_id"] = json!(m.message_id());
            view["attributes"] = Value::Object(attrs);
            view["receive_count"] = json!(
                get(MessageSystemAttributeName::ApproximateReceiveCount)
                    .and_then(|c| c.parse::<u64>().ok())
            );
            view["sent_at"] = json!(
                get(MessageSystemAttributeName::SentTimestamp)
                    .and_then(|t| t.parse::<i64>().ok())
                    .map(inventory::domain::rfc3339)
            );
            messages.push(view);
        }
        Ok(json!({"queue": url, "depth": depth, "messages": messages}))
    }

    fn explain_offline(body: &str) -> Value {
        match inventory::orderer::decode(body) {
            Ok(ev) => json!({
                "correlation_id": ev.correlation_id,
                "event_id": ev.event_id,
                "factory_order_id": ev.factory_order_id,
                "sku": ev.sku,
                "quantity": ev.quantity,
                "reason": "a valid stock-out; set DATABASE_URL to see its order's state and last error",
            }),
            Err(e) => json!({
                "body": body.chars().take(2000).collect::<String>(),
                "reason": e.to_string(),
            }),
        }
    }

    async fn queue_attribute(
        sqs: &aws_sdk_sqs::Client,
        url: &str,
        name: QueueAttributeName,
    ) -> Result<Option<String>, Failure> {
        let out = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(name.clone())
            .send()
            .await
            .map_err(|e| sqs_error("sqs:GetQueueAttributes", e))?;
        Ok(out.attributes().and_then(|a| a.get(&name)).cloned())
    }

    async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<u64, Failure> {
        Ok(
            queue_attribute(sqs, url, QueueAttributeName::ApproximateNumberOfMessages)
                .await?
                .and_then(|d| d.parse().ok())
                .unwrap_or(0),
        )
    }

    /// Progress of a move task on stderr while `redrive --wait` polls: one line rewritten in
    /// place on a terminal, a line per change otherwise (and at least every 30 s).
    pub struct Progress {
        tty: bool,
        started: std::time::Instant,
        expected: u64,
        last: Option<(String, i64)>,
        last_print: std::time::Instant,
    }

    impl Progress {
        pub fn new(tty: bool, expected: u64) -> Self {
            let now = std::time::Instant::now();
            Progress {
                tty,
                started: now,
                expected,
                last: None,
                last_print: now,
            }
        }

        fn start(&mut self, handle: &str) {
            eprintln!(
                "move task {handle} started: {} message(s) to move; waiting for it (Ctrl-C stops \
                 waiting, not the task)",
                self.expected
            );
        }

        /// `RUNNING: 40 moved, 60 remaining (12 s)`.
        pub fn line(
            status: &str,
            moved: i64,
            to_move: Option<i64>,
            expected: u64,
            secs: u64,
        ) -> String {
            let total = to_move.unwrap_or(expected as i64).max(moved);
            format!(
                "{status}: {moved} moved, {} remaining ({secs} s)",
                (total - moved).max(0)
            )
        }

        fn update(&mut self, status: &str, moved: i64, to_move: Option<i64>) {
            let key = (status.to_owned(), moved);
            let stale = self.last_print.elapsed() >= Duration::from_secs(30);
            if !self.tty && self.last.as_ref() == Some(&key) && !stale {
                return;
            }
            let line = Self::line(
                status,
                moved,
                to_move,
                self.expected,
                self.started.elapsed().as_secs(),
            );
            if self.tty {
                eprint!("\r\x1b[2K{line}");
            } else {
                eprintln!("{line}");
            }
            self.last = Some(key);
            self.last_print = std::time::Instant::now();
        }

        fn finish(&mut self) {
            if self.tty && self.last.is_some() {
                eprintln!();
            }
        }
    }

    /// `StartMessageMoveTask` from the DLQ (to `--queue-arn`, or back to the source queue).
    pub async fn redrive(
        sqs: &aws_sdk_sqs::Client,
        url: &str,
        destination: Option<&str>,
        wait: bool,
    ) -> Result<Value, Failure> {
        let arn = queue_attribute(sqs, url, QueueAttributeName::QueueArn)
            .await?
            .ok_or_else(|| Failure::Failed(format!("{url} has no QueueArn")))?;
        let depth = queue_depth(sqs, url).await?;
        let mut req = sqs.start_message_move_task().source_arn(&arn);
        if let Some(d) = destination {
            req = req.destination_arn(d);
        }
        let out = req
            .send()
            .await
            .map_err(|e| sqs_error("sqs:StartMessageMoveTask", e))?;
        let handle = out.task_handle().unwrap_or_default().to_owned();
        let mut result = json!({
            "source_arn": arn,
            "destination_arn": destination,
            "task_handle": handle,
            "messages_to_move": depth,
            "status": "RUNNING",
        });
        if wait {
            let mut progress =
                Progress::new(std::io::IsTerminal::is_terminal(&std::io::stderr()), depth);
            progress.start(&handle);
            for _ in 0..300 {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let tasks = sqs
                    .list_message_move_tasks()
                    .source_arn(&arn)
                    .max_results(10)
                    .send()
                    .await
                    .map_err(|e| sqs_error("sqs:ListMessageMoveTasks", e))?;
                let Some(task) = tasks
                    .results()
                    .iter()
                    .find(|t| t.task_handle() == Some(handle.as_str()) || handle.is_empty())
                else {
                    continue;
                };
                let status = task.status().unwrap_or("UNKNOWN");
                result["status"] = json!(status);
                result["moved"] = json!(task.approximate_number_of_messages_moved());
                progress.update(
                    status,
                    task.approximate_number_of_messages_moved(),
                    task.approximate_number_of_messages_to_move(),
                );
                if let Some(reason) = task.failure_reason() {
                    result["failure_reason"] = json!(reason);
                }
                match status {
                    "COMPLETED" => {
                        progress.finish();
                        break;
                    }
                    "FAILED" | "CANCELLED" => {
                        progress.finish();
                        return Err(Failure::Failed(format!(
                            "the move task {status}: {}",
                            task.failure_reason().unwrap_or("no reason given")
                        )));
                    }
                    _ => {}
                }
            }
        }
        Ok(result)
    }

    /// What `donut-ops` can see itself of the alarms' conditions (DLQ depth, failed orders).
    /// The CloudWatch alarms themselves: `aws cloudwatch describe-alarms --state-value ALARM`.
    async fn alarms(o: &Settings, sdk: &aws_config::SdkConfig) -> Result<Value, Failure> {
        let mut alarms = Vec::new();
        if let Some(url) = &o.failures_url {
            let depth = queue_depth(&aws_sdk_sqs::Client::new(sdk), url).await?;
            alarms.push(json!({
                "name": "AsyncFailuresNotEmpty", "aws_alarm": "AsyncFailuresAlarm",
                "state": if depth > 0 { "ALARM" } else { "OK" },
                "reason": format!("{depth} failed asynchronous invocation(s) in the failures queue"),
            }));
        }
        if let Some(url) = &o.dlq_url {
            let depth = queue_depth(&aws_sdk_sqs::Client::new(sdk), url).await?;
            alarms.push(json!({
                "name": "FactoryOrdersDLQNotEmpty", "aws_alarm": "FactoryOrdersDlqAlarm",
                "state": if depth > 0 { "ALARM" } else { "OK" },
                "reason": format!("{depth} message(s) in the factory-orders DLQ"),
            }));
        }
        if has_database() {
            let store = store(sdk, o).await?;
            let failed = ops::failed_orders_needing_action(&store)
                .await
                .map_err(|e| Failure::Failed(e.to_string()))?;
            alarms.push(json!({
                "name": "FactoryOrderFailed", "aws_alarm": "OrdersFailedAlarm",
                "state": if failed.is_empty() { "OK" } else { "ALARM" },
                "reason": format!("{} failed factory order(s) awaiting action{}", failed.len(),
                    failed.first().map(|o| format!(", e.g. {} ({})", o.id, o.sku)).unwrap_or_default()),
            }));
        }
        if alarms.is_empty() {
            return Err(Failure::Usage(
                "--aws alarms needs --dlq-url (FACTORY_ORDERS_DLQ_URL), --failures-url \
                 (ASYNC_FAILURES_QUEUE_URL) and/or DATABASE_URL; or --stack NAME for the stack's \
                 CloudWatch alarms"
                    .into(),
            ));
        }
        Ok(json!({
            "alarms": alarms,
            "note": "conditions checked directly; the stack's CloudWatch alarms: donut-ops --stack NAME alarms",
        }))
    }
}

// ---- tables -------------------------------------------------------------------------------

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The cells of a table: for each JSON object, the values under `keys`, in that order.
fn cells(items: &[Value], keys: &[&str]) -> Vec<Vec<String>> {
    items
        .iter()
        .map(|item| keys.iter().map(|k| s(&item[*k])).collect())
        .collect()
}

/// Colours on stdout: only on a terminal, and never with `NO_COLOR` set (no-color.org).
fn colour() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The colour of a state or status cell: red for what needs a human, yellow for what is not
/// known or not finished, green for fine.
fn state_colour(state: &str) -> Option<comfy_table::Color> {
    use comfy_table::Color;
    match state {
        "ALARM" | "MISSING" | "failed" | "FAILED" | "CANCELLED" => Some(Color::Red),
        "INSUFFICIENT_DATA" | "pending" | "requested" | "stuck" | "RUNNING" => Some(Color::Yellow),
        "OK" | "fulfilled" | "COMPLETED" => Some(Color::Green),
        _ => None,
    }
}

/// A table (comfy-table): columns two spaces apart, no borders. On a terminal it wraps to the
/// terminal's width and colours the `state_columns`; piped it is plain text, one line a row.
fn table(
    headers: &[&str],
    rows: Vec<Vec<String>>,
    state_columns: &[usize],
    colour: bool,
) -> String {
    use comfy_table::{Attribute, Cell, ContentArrangement, Table, presets};
    use std::io::IsTerminal;
    let mut t = Table::new();
    t.load_style(presets::NOTHING);
    if std::io::stdout().is_terminal() {
        t.set_content_arrangement(ContentArrangement::Dynamic);
    } else {
        t.force_no_tty();
    }
    if colour {
        t.enforce_styling();
    }
    t.set_header(headers.iter().map(|h| {
        let c = Cell::new(h);
        if colour {
            c.add_attribute(Attribute::Bold)
        } else {
            c
        }
    }));
    for row in rows {
        t.add_row(row.into_iter().enumerate().map(|(i, text)| {
            let c = Cell::new(&text);
            match state_colour(&text) {
                Some(col) if colour && state_columns.contains(&i) => c.fg(col),
                _ => c,
            }
        }));
    }
    let last = headers.len().saturating_sub(1);
    for (i, col) in t.column_iter_mut().enumerate() {
        col.set_padding((0, if i == last { 0 } else { 2 }));
    }
    t.lines().map(|l| l.trim_end().to_owned() + "\n").collect()
}

fn render(command: &Command, v: &Value, colour: bool) -> String {
    let list = |key: &str| v[key].as_array().cloned().unwrap_or_default();
    match command {
        Command::Dlq {
            command: DlqCommand::List { .. },
        } => {
            let msgs = list("messages");
            let mut out = format!("{}: {} message(s)\n", s(&v["queue"]), s(&v["depth"]));
            if !msgs.is_empty() {
                out += &table(
                    &[
                        "MESSAGE",
                        "RECEIVES",
                        "ORDER",
                        "SKU",
                        "CORRELATION",
                        "REASON",
                    ],
                    cells(
                        &msgs,
                        &[
                            "message_id",
                            "receive_count",
                            "factory_order_id",
                            "sku",
                            "correlation_id",
                            "reason",
                        ],
                    ),
                    &[],
                    colour,
                );
            }
            out
        }
        Command::Dlq {
            command: DlqCommand::Redrive { .. },
        } => match v.get("moved") {
            Some(n) if v.get("task_handle").is_none() => {
                format!(
                    "moved {} message(s) back to the factory-orders queue\n",
                    s(n)
                )
            }
            _ => format!(
                "move task {} from {}: {} ({} message(s) to move{})\n",
                s(&v["task_handle"]),
                s(&v["source_arn"]),
                s(&v["status"]),
                s(&v["messages_to_move"]),
                v.get("moved")
                    .map(|m| format!(", {} moved", s(m)))
                    .unwrap_or_default()
            ),
        },
        Command::Failures {
            command: FailuresCommand::List { .. },
        } => {
            let records = list("failures");
            let mut out = format!(
                "{}: {} failed invocation(s)\n",
                s(&v["queue"]),
                s(&v["depth"])
            );
            if !records.is_empty() {
                out += &table(
                    &["MESSAGE", "FUNCTION", "ATTEMPTS", "FAILED_AT", "REASON"],
                    cells(
                        &records,
                        &["message_id", "function", "attempts", "failed_at", "reason"],
                    ),
                    &[],
                    colour,
                );
            }
            out
        }
        Command::Failures {
            command: FailuresCommand::Redrive { .. },
        } => format!(
            "re-invoked {} failed invocation(s) asynchronously with their original payloads\n",
            s(&v["redriven"])
        ),
        Command::Orders {
            command: OrdersCommand::List { .. },
        } => {
            let orders = list("factory_orders");
            let mut out = format!("{} {} order(s)\n", s(&v["count"]), s(&v["status"]));
            if !orders.is_empty() {
                out += &table(
                    &[
                        "ID",
                        "SKU",
                        "QTY",
                        "STATUS",
                        "ATTEMPTS",
                        "AGE_S",
                        "UPDATED",
                        "LAST_ERROR",
                    ],
                    cells(
                        &orders,
                        &[
                            "id",
                            "sku",
                            "quantity",
                            "status",
                            "attempts",
                            "age_secs",
                            "updated_at",
                            "last_error",
                        ],
                    ),
                    &[3],
                    colour,
                );
            }
            out
        }
        Command::Orders {
            command: OrdersCommand::Retry { .. },
        } => format!(
            "factory order {} retried (was {}, now {}); stock-out event {} published, correlation id {}\n",
            s(&v["factory_order"]["id"]),
            s(&v["previous_status"]),
            s(&v["factory_order"]["status"]),
            s(&v["event_id"]),
            s(&v["correlation_id"]),
        ),
        Command::Sku { .. } => {
            let l = &v["ledger"];
            let p = &v["product"];
            let mut out = format!(
                "{}  stock {}  (reorder point {}, reorder quantity {})\n",
                s(&v["sku"]),
                s(&p["stock"]),
                s(&p["reorder_point"]),
                s(&p["reorder_quantity"])
            );
            out += &format!(
                "ledger: sold {}  restocked {}  stock {}  implied initial {}  open orders {}\n",
                s(&l["sold"]),
                s(&l["restocked"]),
                s(&l["stock"]),
                s(&l["implied_initial"]),
                s(&l["open_orders"])
            );
            out += &format!(
                "sales since {}: {} sale(s), {} donut(s); restocks: {} order(s), {} donut(s)\n",
                s(&v["sales"]["since"]),
                s(&v["sales"]["count"]),
                s(&v["sales"]["quantity"]),
                s(&v["restocks"]["count"]),
                s(&v["restocks"]["quantity"])
            );
            out += &format!(
                "factory orders: {} {}\n",
                s(&v["factory_orders"]["total"]),
                s(&v["factory_orders"]["by_status"])
            );
            for o in v["factory_orders"]["recent"]
                .as_array()
                .into_iter()
                .flatten()
            {
                out += &format!(
                    "  {} {} x{} attempts {} correlation {}\n",
                    s(&o["id"]),
                    s(&o["status"]),
                    s(&o["quantity"]),
                    s(&o["attempts"]),
                    s(&o["correlation_id"])
                );
                for t in o["transitions"].as_array().into_iter().flatten() {
                    out += &format!(
                        "    {}  {:<9}  {}\n",
                        s(&t["at"]),
                        s(&t["status"]),
                        s(&t["note"])
                    );
                }
            }
            out
        }
        Command::Alarms { .. } if v.get("stack").is_some() => {
            let alarms = list("alarms");
            let mut out = format!(
                "stack {} ({}): {} alarm(s), {} in ALARM\n",
                s(&v["stack"]),
                s(&v["region"]),
                s(&v["count"]),
                s(&v["in_alarm"])
            );
            out += &table(
                &["ALARM", "STATE", "SINCE", "REASON"],
                cells(&alarms, &["name", "state", "since", "reason"]),
                &[1],
                colour,
            );
            // What to do about each firing alarm: its description names the donut-ops command
            // and the runbook section.
            for a in alarms.iter().filter(|a| a["state"] == "ALARM") {
                out += &format!("\n{}: {}\n", s(&a["name"]), s(&a["description"]));
            }
            out
        }
        Command::Alarms { .. } => {
            let mut out = table(
                &["ALARM", "STATE", "AWS ALARM", "REASON"],
                cells(&list("alarms"), &["name", "state", "aws_alarm", "reason"]),
                &[1],
                colour,
            );
            if let Some(n) = v.get("note") {
                out += &format!("({})\n", s(n));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::aws::{FunctionArn, Progress, explain_failure, logical_id_in_name};

    #[test]
    fn plain_and_coloured_tables() {
        let rows = vec![
            vec![
                "FactoryOrdersDlqAlarm".into(),
                "ALARM".into(),
                "1 datapoint".into(),
            ],
            vec!["OrdersFailedAlarm".into(), "OK".into(), "fine".into()],
        ];
        let plain = super::table(&["ALARM", "STATE", "REASON"], rows.clone(), &[1], false);
        assert_eq!(
            plain,
            "ALARM                  STATE  REASON\n\
             FactoryOrdersDlqAlarm  ALARM  1 datapoint\n\
             OrdersFailedAlarm      OK     fine\n"
        );
        let coloured = super::table(&["ALARM", "STATE", "REASON"], rows, &[1], true);
        assert!(coloured.contains("\x1b["), "{coloured:?}");
        assert!(coloured.contains("ALARM"), "{coloured:?}");
    }

    #[test]
    fn alarm_names_cloudformation_gave() {
        let l = |n| logical_id_in_name("donut-pipeline", n);
        assert_eq!(
            l("donut-pipeline-FactoryOrdersDlqAlarm-1A2B3C4D5E6F").as_deref(),
            Some("FactoryOrdersDlqAlarm")
        );
        assert_eq!(
            l("donut-pipeline-staging-FactoryOrdersDlqAlarm-1A2B3C"),
            None
        );
        assert_eq!(l("donut-pipeline-FactoryOrdersDlqAlarm"), None);
        assert_eq!(l("other-FactoryOrdersDlqAlarm-1A2B3C"), None);
    }

    #[test]
    fn progress_lines() {
        assert_eq!(
            Progress::line("RUNNING", 40, Some(100), 90, 12),
            "RUNNING: 40 moved, 60 remaining (12 s)"
        );
        assert_eq!(
            Progress::line("COMPLETED", 7, None, 5, 3),
            "COMPLETED: 7 moved, 0 remaining (3 s)"
        );
    }

    #[test]
    fn function_arns() {
        let f = FunctionArn::parse(
            "arn:aws:lambda:eu-west-1:123456789012:function:stack-OutboxRelay-AbC1:$LATEST",
        )
        .unwrap();
        assert_eq!(
            (f.region.as_str(), f.name.as_str(), f.qualifier),
            ("eu-west-1", "stack-OutboxRelay-AbC1", None)
        );
        let f =
            FunctionArn::parse("arn:aws:lambda:us-east-1:123456789012:function:f:live").unwrap();
        assert_eq!(f.qualifier.as_deref(), Some("live"));
        assert!(FunctionArn::parse("arn:aws:sqs:us-east-1:123456789012:q").is_err());
        assert!(FunctionArn::parse("arn:aws:lambda:us-east-1:1:function:a/../b").is_err());
    }

    #[test]
    fn explains_an_invocation_record() {
        let v = explain_failure(
            r#"{"version":"1.0","timestamp":"2026-11-21T00:15:31.000Z",
            "requestContext":{"requestId":"r-1","functionArn":"arn:aws:lambda:us-east-1:123456789012:function:exp:$LATEST",
                              "condition":"RetriesExhausted","approximateInvokeCount":3},
            "requestPayload":{"source":"aws.events"},
            "responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},
            "responsePayload":{"errorType":"ExportError","errorMessage":"database unavailable"}}"#,
        );
        assert_eq!(v["function"], "exp");
        assert_eq!(v["attempts"], 3);
        assert_eq!(v["error_type"], "ExportError");
        assert_eq!(v["reason"], "RetriesExhausted (database unavailable)");
        assert!(
            explain_failure("nope")["reason"]
                .as_str()
                .unwrap()
                .contains("not a Lambda invocation record")
        );
    }
}
