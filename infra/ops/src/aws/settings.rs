//! What the AWS commands work on: the flags (and their variables), completed from the stack's
//! outputs with `--stack`.

use super::cfn_error;
use crate::cli::Cli;
use crate::failure::Failure;
use std::collections::BTreeMap;
/// What the AWS commands work on: the flags (and their variables), each missing one taken
/// from the stack's outputs with `--stack`.
#[derive(Debug, Default)]
pub struct Settings {
    pub stack: Option<String>,
    pub outputs: BTreeMap<String, String>,
    pub dlq_url: Option<String>,
    pub queue_arn: Option<String>,
    pub topic_arn: Option<String>,
    pub failures_url: Option<String>,
}
impl Settings {
    /// The flags, completed from the stack outputs (a flag or its variable wins).
    pub fn new(cli: &Cli, outputs: BTreeMap<String, String>) -> Self {
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

    pub(crate) fn need<'a>(
        &self,
        v: &'a Option<String>,
        flag: &str,
        env: &str,
        output: &str,
    ) -> Result<&'a str, Failure> {
        v.as_deref().ok_or_else(|| {
            Failure::Usage(match &self.stack {
                Some(stack) => {
                    format!("the stack {stack} has no output {output}: pass {flag} (or {env})")
                }
                None => format!(
                    "--aws needs {flag} (or {env}): the stack output {output} (or use --stack NAME)"
                ),
            })
        })
    }

    /// Where the database settings can come from, with this stack's values when known.
    pub(crate) fn database_hint(&self) -> String {
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
/// `DescribeStacks`: the stack's outputs, by key.
pub async fn stack_outputs(
    sdk: &aws_config::SdkConfig,
    stack: &str,
) -> Result<BTreeMap<String, String>, Failure> {
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
