//! The hook's ports on AWS: Lambda's `Invoke` of a version (synchronous, `LogType=Tail`) and
//! CodeDeploy's `PutLifecycleEventHookExecutionStatus`. Endpoints follow the SDK's usual
//! configuration (`AWS_ENDPOINT_URL_LAMBDA`, `AWS_ENDPOINT_URL_CODEDEPLOY`: the harness points
//! them at its Invoke API and its recording CodeDeploy endpoint).

use crate::hook::{Invoker, Reporter, Status};
use crate::probes::Invoked;
use aws_sdk_codedeploy::types::LifecycleEventStatus;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{InvocationType, LogType};
use base64::Engine;
use serde_json::Value;

pub struct LambdaInvoker(aws_sdk_lambda::Client);

impl LambdaInvoker {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        LambdaInvoker(aws_sdk_lambda::Client::new(sdk))
    }
}

#[async_trait::async_trait]
impl Invoker for LambdaInvoker {
    async fn invoke(&self, version_arn: &str, payload: &Value) -> Result<Invoked, String> {
        let out = self
            .0
            .invoke()
            .function_name(version_arn)
            .invocation_type(InvocationType::RequestResponse)
            .log_type(LogType::Tail)
            .payload(Blob::new(payload.to_string()))
            .send()
            .await
            .map_err(|e| aws_sdk_lambda::error::DisplayErrorContext(&e).to_string())?;
        let log_tail = out
            .log_result()
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
        Ok(Invoked {
            function_error: out.function_error().map(str::to_owned),
            payload: out
                .payload()
                .map(|b| b.as_ref().to_vec())
                .unwrap_or_default(),
            log_tail,
        })
    }
}

pub struct CodeDeployReporter(aws_sdk_codedeploy::Client);

impl CodeDeployReporter {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        CodeDeployReporter(aws_sdk_codedeploy::Client::new(sdk))
    }
}

#[async_trait::async_trait]
impl Reporter for CodeDeployReporter {
    async fn report(
        &self,
        deployment_id: &str,
        execution_id: &str,
        status: Status,
    ) -> Result<(), String> {
        let status = match status {
            Status::Succeeded => LifecycleEventStatus::Succeeded,
            Status::Failed => LifecycleEventStatus::Failed,
        };
        self.0
            .put_lifecycle_event_hook_execution_status()
            .deployment_id(deployment_id)
            .lifecycle_event_hook_execution_id(execution_id)
            .status(status)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_sdk_codedeploy::error::DisplayErrorContext(&e).to_string())
    }
}
