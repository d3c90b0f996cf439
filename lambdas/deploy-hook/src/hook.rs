//! The hook: probe every new version (the targets concurrently, each target's steps in order,
//! within the time left), then tell CodeDeploy `Succeeded` or `Failed`. The two ports it needs
//! ([`Invoker`], [`Reporter`]) are Lambda's `Invoke` and CodeDeploy's
//! `PutLifecycleEventHookExecutionStatus` on AWS (`aws.rs`), fakes in the unit tests.

use crate::probes::{self, Invoked, Run, Target};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Invokes a function version synchronously (`RequestResponse`, with its log tail).
#[async_trait::async_trait]
pub trait Invoker: Send + Sync {
    /// `Err` when Lambda did not run it (throttled, not found, not allowed, unreachable).
    async fn invoke(&self, version_arn: &str, payload: &Value) -> Result<Invoked, String>;
}

/// Tells CodeDeploy how the lifecycle hook went.
#[async_trait::async_trait]
pub trait Reporter: Send + Sync {
    async fn report(
        &self,
        deployment_id: &str,
        execution_id: &str,
        status: Status,
    ) -> Result<(), String>;
}

/// `PutLifecycleEventHookExecutionStatus`'s status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    Succeeded,
    Failed,
}

/// What CodeDeploy sends a lifecycle hook. Both absent: a dry run by hand (probes only).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LifecycleEvent {
    #[serde(rename = "DeploymentId", default)]
    pub deployment_id: Option<String>,
    #[serde(rename = "LifecycleEventHookExecutionId", default)]
    pub execution_id: Option<String>,
}

/// One step's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    pub function: &'static str,
    pub version: String,
    pub step: String,
    pub ok: bool,
    /// What the version answered (the reason, when it failed).
    pub detail: String,
    pub ms: u64,
}

/// The hook's answer (also its log line): the verdict, every step, and whether CodeDeploy was
/// told.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub status: Status,
    pub deployment_id: Option<String>,
    pub lifecycle_event_hook_execution_id: Option<String>,
    pub steps: Vec<StepResult>,
    pub reported: bool,
    pub ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// CodeDeploy was not told: failing the invocation makes Lambda retry it (CodeDeploy invokes
    /// hooks asynchronously); without an answer CodeDeploy fails the deployment after an hour.
    #[error("could not report {status:?} to CodeDeploy for deployment {deployment_id}: {why}")]
    Report {
        status: Status,
        deployment_id: String,
        why: String,
    },
    #[error("a lifecycle event needs both DeploymentId and LifecycleEventHookExecutionId")]
    PartialEvent,
}

/// The versions to probe (the template gives each traffic function's `!Ref <Function>.Version`).
pub struct Hook<I, R> {
    pub versions: Vec<(Target, String)>,
    pub invoker: I,
    pub reporter: R,
}

impl<I: Invoker, R: Reporter> Hook<I, R> {
    /// Probes, then reports (when the event names a deployment). `budget`: how long the probes
    /// may take (the function's remaining time less a margin for the report), after which the
    /// unfinished ones fail.
    pub async fn handle(
        &self,
        event: &LifecycleEvent,
        run: &Run,
        budget: Duration,
    ) -> Result<Outcome, HookError> {
        let started = Instant::now();
        let ids = match (&event.deployment_id, &event.execution_id) {
            (Some(d), Some(e)) => Some((d.clone(), e.clone())),
            (None, None) => None,
            _ => return Err(HookError::PartialEvent),
        };
        let steps = self.probe(run, budget).await;
        let status = if !steps.is_empty() && steps.iter().all(|s| s.ok) {
            Status::Succeeded
        } else {
            Status::Failed
        };
        let mut reported = false;
        if let Some((deployment, execution)) = &ids {
            self.reporter
                .report(deployment, execution, status)
                .await
                .map_err(|why| HookError::Report {
                    status,
                    deployment_id: deployment.clone(),
                    why,
                })?;
            reported = true;
        }
        Ok(Outcome {
            status,
            deployment_id: ids.as_ref().map(|(d, _)| d.clone()),
            lifecycle_event_hook_execution_id: ids.map(|(_, e)| e),
            steps,
            reported,
            ms: started.elapsed().as_millis() as u64,
        })
    }

    /// Every target's steps (targets concurrently); a step that did not finish within `budget`
    /// is a failure.
    async fn probe(&self, run: &Run, budget: Duration) -> Vec<StepResult> {
        let all = futures::future::join_all(
            self.versions
                .iter()
                .map(|(target, arn)| self.probe_one(*target, arn, run)),
        );
        match tokio::time::timeout(budget, all).await {
            Ok(results) => results.into_iter().flatten().collect(),
            Err(_) => vec![StepResult {
                function: "deploy-hook",
                version: String::new(),
                step: "every probe".into(),
                ok: false,
                detail: format!("the probes did not finish within {budget:?}"),
                ms: budget.as_millis() as u64,
            }],
        }
    }

    async fn probe_one(&self, target: Target, arn: &str, run: &Run) -> Vec<StepResult> {
        let mut out = Vec::new();
        for step in probes::plan(target, run) {
            let started = Instant::now();
            let verdict = match self.invoker.invoke(arn, &step.payload).await {
                Ok(got) => probes::judge(&step.expect, &got),
                Err(why) => Err(format!("not invoked: {why}")),
            };
            let ms = started.elapsed().as_millis() as u64;
            let ok = verdict.is_ok();
            let detail = verdict.unwrap_or_else(|why| why);
            if ok {
                tracing::info!(function = target.name(), version = arn, step = %step.name, outcome = "pass", latency_ms = ms, detail = %detail, "probe");
            } else {
                tracing::warn!(function = target.name(), version = arn, step = %step.name, outcome = "fail", latency_ms = ms, detail = %detail, "probe");
            }
            out.push(StepResult {
                function: target.name(),
                version: arn.to_owned(),
                step: step.name,
                ok,
                detail,
                ms,
            });
            if !ok {
                break; // the next steps assume this one held (no sale before the SKU is known absent)
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
