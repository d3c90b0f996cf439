//! The command line: flags, subcommands and their arguments (clap).

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
#[derive(Debug, Parser)]
#[command(name = "donut-ops", version, about = "Operate the donut pipeline: DLQ, factory orders, SKU history, alarms", long_about = None)]
pub struct Cli {
    /// Base URL of the local stack (devstack).
    #[arg(
        long,
        env = "DONUT_OPS_URL",
        default_value = "http://127.0.0.1:3000",
        global = true
    )]
    pub url: String,
    /// Work on a deployed stack instead (AWS credentials from the usual chain; see --dlq-url,
    /// --queue-arn, --topic-arn and DATABASE_URL).
    #[arg(long, global = true)]
    pub aws: bool,
    /// Work on this deployed CloudFormation stack (implies --aws): queue URLs and ARNs from its
    /// outputs (the flags below override them); `alarms` shows its CloudWatch alarms. Credentials
    /// and region from the usual AWS chain (AWS_PROFILE, AWS_REGION, SSO, ...).
    #[arg(long, env = "DONUT_OPS_STACK", global = true, value_name = "NAME")]
    pub stack: Option<String>,
    /// With --aws: URL of the factory-orders DLQ (stack output FactoryOrdersDlqUrl).
    #[arg(long, env = "FACTORY_ORDERS_DLQ_URL", global = true)]
    pub dlq_url: Option<String>,
    /// With --aws: ARN of the factory-orders queue, the redrive destination (stack output
    /// FactoryOrdersQueueArn; default: the queue the messages came from).
    #[arg(long, env = "FACTORY_ORDERS_QUEUE_ARN", global = true)]
    pub queue_arn: Option<String>,
    /// With --aws: the stock-out topic an order retry publishes to (stack output StockOutTopicArn).
    #[arg(long, env = "STOCKOUT_TOPIC_ARN", global = true)]
    pub topic_arn: Option<String>,
    /// With --aws: the on-failure queue of api-capture, outbox-relay and exporter (stack output
    /// AsyncFailuresQueueUrl).
    #[arg(long, env = "ASYNC_FAILURES_QUEUE_URL", global = true)]
    pub failures_url: Option<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Table, global = true)]
    pub output: Output,
    #[command(subcommand)]
    pub command: Command,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}
#[derive(Debug, Subcommand)]
pub enum Command {
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
    /// Before the first deploy: account concurrency, zones, OpsEmail, CA bundle, build architecture
    /// (always against AWS; exit 1 when something blocks the deploy).
    Preflight(PreflightArgs),
    /// The database's migrations, through the deployed migrate function (--aws / --stack).
    Migrations(MigrationsArgs),
    /// The gradual deployments of the stack's traffic functions (--stack): status, versions, and
    /// for one that stopped, the alarm (or hook, or stop by hand) that stopped it and its rollback.
    Deployments {
        /// At most this many deployments per function, newest first.
        #[arg(long, default_value_t = 5)]
        max: usize,
    },
    /// The pipeline's alarms.
    Alarms {
        /// Exit with status 3 when an alarm is in ALARM.
        #[arg(long)]
        check: bool,
    },
}
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
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
pub enum FailuresCommand {
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
pub enum Status {
    Failed,
    Stuck,
    Pending,
    Requested,
    Fulfilled,
}
impl Status {
    pub fn as_str(self) -> &'static str {
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
pub enum OrdersCommand {
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
pub enum SkuCommand {
    /// Sales, restocks, ledger and factory orders (with transitions) of a SKU.
    History {
        sku: String,
        /// Sales counted over the last this many hours.
        #[arg(long, default_value_t = 24)]
        since_hours: i64,
    },
}
// `preflight`: where the template, samconfig.toml and the build are, and what to override.
#[derive(Debug, clap::Args)]
pub struct PreflightArgs {
    /// The SAM template (its parameters' defaults).
    #[arg(long, default_value = "template.yaml")]
    pub template: PathBuf,
    /// samconfig.toml: its `parameter_overrides` and `region` are what `sam deploy` uses.
    #[arg(long, default_value = "samconfig.toml")]
    pub config_file: PathBuf,
    /// The samconfig.toml environment (`sam deploy --config-env`).
    #[arg(long, default_value = "default")]
    pub config_env: String,
    /// A parameter as `sam deploy --parameter-overrides` would set it (wins over samconfig.toml).
    #[arg(long = "parameter", value_name = "KEY=VALUE")]
    pub parameters: Vec<String>,
    /// `sam build`'s output: one folder per function, each with its `bootstrap`.
    #[arg(long, default_value = ".aws-sam/build")]
    pub build_dir: PathBuf,
    /// A zone ID (e.g. use1-az3) to treat as unsupported by Lambda for VPC functions.
    #[arg(long = "avoid-zone-id", value_name = "ZONE_ID")]
    pub avoid_zone_ids: Vec<String>,
}

// `migrations`: the migrate function and what to ask it.
#[derive(Debug, clap::Args)]
pub struct MigrationsArgs {
    /// The migrate function (name or ARN); default: the stack's MigrateFunction (--stack).
    #[arg(long, env = "MIGRATE_FUNCTION", value_name = "NAME|ARN")]
    pub function: Option<String>,
    #[command(subcommand)]
    pub command: MigrationsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum MigrationsCommand {
    /// Every migration version: applied, pending, unknown (a newer build's) or dirty (failed part-way).
    Status,
    /// Removes the row of a failed (dirty) migration so the next deploy runs it again. Undo or
    /// finish what it applied first: the answer shows which of its objects exist now.
    Repair {
        /// The dirty migration's version (as `status` shows it).
        #[arg(long)]
        version: i64,
    },
}
