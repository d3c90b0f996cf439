//! `deploy-hook`: the pre-traffic hook of the gradual deployments (template.yaml's
//! `DeploymentPreference.Hooks.PreTraffic` of sales-api, restock and factory-orderer;
//! docs/deploy.md, "Safe updates"). CodeDeploy invokes it after a new version is published and
//! before any traffic shifts to it; it invokes each new version directly with harmless real
//! requests and reports `Succeeded` or `Failed` (a failure stops the deployment: the alias never
//! moves, CloudFormation rolls the stack back).
//!
//! - `probes`: what each version is sent and what it must answer (pure);
//! - `hook`: probing within the time left, then the report; its ports `Invoker` and `Reporter`;
//! - `aws`: the ports on AWS (Lambda `Invoke`, CodeDeploy `PutLifecycleEventHookExecutionStatus`).

pub mod aws;
pub mod hook;
pub mod probes;

pub use hook::{Hook, LifecycleEvent, Outcome, Status};
pub use probes::{Run, Target};

/// The time the probes may take: what is left of the invocation less `margin` (the report and
/// the answer), at least one second.
pub fn budget(deadline_ms: u64, now_ms: u64, margin: std::time::Duration) -> std::time::Duration {
    let left = std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    left.saturating_sub(margin)
        .max(std::time::Duration::from_secs(1))
}
