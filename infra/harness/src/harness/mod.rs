//! The running [`Harness`]: what [`Harness::start`] brought up (`start.rs`), its schedules
//! (`schedule.rs`), its custom resources, and stopping it.

use crate::logs::LogHub;
use crate::runtime::Function;
use crate::template::{self, Template};
use crate::{AsyncTarget, Error, Options, apigw, cfn, tlsdb};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

mod schedule;
mod start;

pub use schedule::rate;

/// The running harness.
pub struct Harness {
    pub template: Template,
    pub values: template::Values,
    pub functions: HashMap<String, Arc<Function>>,
    pub api_url: String,
    pub api_router: Arc<apigw::Router>,
    /// Function logical id → its local Function URL.
    pub function_urls: HashMap<String, String>,
    pub logs: Arc<LogHub>,
    pub db: tlsdb::TlsMariaDb,
    pub sdk: aws_config::SdkConfig,
    pub queue_urls: HashMap<String, String>,
    pub cfn: Arc<cfn::Responses>,
    /// Logical id → the last answer to each custom resource (`PhysicalResourceId`, properties).
    pub custom: tokio::sync::Mutex<HashMap<String, (String, Value)>>,
    pub opts: Options,
    pub(crate) async_targets: HashMap<String, AsyncTarget>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Harness {
    /// Requests the local API Gateway passed to a function.
    pub fn api_requests(&self) -> u64 {
        self.api_router
            .requests
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn function(&self, logical_id: &str) -> Result<&Arc<Function>, Error> {
        self.functions
            .get(logical_id)
            .ok_or_else(|| format!("the template has no function {logical_id}").into())
    }
    /// Sends a custom resource request (`Create`, `Update` or `Delete`) to its service token's
    /// function, as CloudFormation does, and waits for the answer PUT to the response URL.
    pub async fn custom_resource(&self, id: &str, request_type: &str) -> Result<Value, Error> {
        cfn::request(self, id, request_type).await
    }

    /// Every custom resource's `Create`, in template order; the first failure is an error
    /// (CloudFormation would roll the stack back).
    pub async fn create_custom_resources(&self) -> Result<(), Error> {
        for id in self.template.custom_resources()? {
            let r = self.custom_resource(&id, "Create").await?;
            if r.get("Status").and_then(Value::as_str) != Some("SUCCESS") {
                return Err(format!("custom resource {id}: {r}").into());
            }
        }
        Ok(())
    }

    /// Stops every function (SIGTERM) and the background tasks.
    pub fn stop(&self) {
        for f in self.functions.values() {
            f.stop();
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop();
    }
}
