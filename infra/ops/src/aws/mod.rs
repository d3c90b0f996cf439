//! The commands against a deployed stack: SQS for the queues, the database for the orders,
//! SNS for retries, Lambda for failure redrives and the migrations (through the migrate
//! function), CloudFormation and CloudWatch for the alarms, CodeDeploy for the deployments.

mod alarms;
mod arn;
mod deployments;
mod failures;
pub(crate) mod migrations;
pub(crate) mod preflight;
mod progress;
mod queues;
mod settings;
mod signer;

use crate::cli::{Cli, Command, DlqCommand, FailuresCommand, OrdersCommand, SkuCommand};
use crate::failure::Failure;
use inventory::messaging::{DynPublisher, SnsPublisher};
use inventory::store::DynStore;
use serde_json::{Value, json};
use settings::{Settings, stack_outputs};
use std::sync::Arc;
use std::time::Duration;
pub(crate) fn sqs_error<E: std::error::Error>(what: &str, e: E) -> Failure {
    Failure::Failed(format!(
        "{what}: {}",
        aws_sdk_sqs::error::DisplayErrorContext(&e)
    ))
}
pub(crate) fn cfn_error<E: std::error::Error>(what: &str, e: E) -> Failure {
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
pub(crate) async fn store(sdk: &aws_config::SdkConfig, o: &Settings) -> Result<DynStore, Failure> {
    inventory::config::database_from_env(&inventory::config::Env, Some(sdk), 2)
        .await
        .map_err(|e| Failure::Usage(format!("the database: {e} ({})", o.database_hint())))
}
pub(crate) fn has_database() -> bool {
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
            queues::dlq_list(&aws_sdk_sqs::Client::new(&sdk), url, *max, db.as_ref()).await
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
            queues::redrive(
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
            let orders = ops_core::list_orders(
                &*store,
                status.as_str(),
                Duration::from_secs(*older_than_secs),
            )
            .await?;
            Ok(json!({"status": status.as_str(), "count": orders.len(), "factory_orders": orders}))
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
            let publisher: DynPublisher = Arc::new(SnsPublisher::from_sdk(&sdk, topic.to_owned()));
            Ok(ops_core::retry_order(&*store, &publisher, id).await?)
        }
        Command::Sku {
            command: SkuCommand::History { sku, since_hours },
        } => {
            let store = store(&sdk, &o).await?;
            Ok(ops_core::sku_history(&*store, sku, *since_hours).await?)
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
            failures::list(&aws_sdk_sqs::Client::new(&sdk), url, *max).await
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
            failures::redrive(&aws_sdk_sqs::Client::new(&sdk), &sdk, url, *max).await
        }
        Command::Preflight(args) => preflight::run(&sdk, args).await,
        Command::Migrations(args) => migrations::run(&sdk, &o, args).await,
        Command::Deployments { max } => {
            let stack = o.stack.as_deref().ok_or_else(|| {
                Failure::Usage(
                    "deployments needs --stack NAME (the stack's CodeDeploy application)".into(),
                )
            })?;
            deployments::stack_deployments(
                &aws_sdk_cloudformation::Client::new(&sdk),
                &aws_sdk_codedeploy::Client::new(&sdk),
                stack,
                *max,
            )
            .await
        }
        Command::Alarms { .. } => match &o.stack {
            Some(stack) => alarms::stack_alarms(&sdk, stack).await,
            None => alarms::conditions(&o, &sdk).await,
        },
    }
}
