//! `deployments` (`--stack`): the gradual deployments of the stack's traffic functions
//! (docs/deploy.md, "Safe updates"): for each deployment group of the stack's CodeDeploy
//! application, its recent deployments with their status, configuration and versions, and for
//! one that stopped, why: the alarm(s) that stopped it (CodeDeploy's error message matched
//! against the stack's alarms), a failed pre-traffic hook, a stop by hand; and the rollback it
//! caused. Calls `cloudformation:ListStackResources`, `codedeploy:ListDeployments`,
//! `codedeploy:BatchGetDeployments`.

use super::cfn_error;
use crate::failure::Failure;
use aws_sdk_codedeploy::primitives::DateTime;
use aws_sdk_codedeploy::primitives::DateTimeFormat;
use aws_sdk_codedeploy::types::DeploymentInfo;
use serde_json::{Value, json};

/// What the stack holds for its deployments.
#[derive(Debug, Default)]
struct StackParts {
    application: Option<String>,
    /// (logical id, deployment group name).
    groups: Vec<(String, String)>,
    /// (alarm name, logical id).
    alarms: Vec<(String, String)>,
}

async fn stack_parts(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> Result<StackParts, Failure> {
    let mut parts = StackParts::default();
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
            let (Some(physical), Some(logical)) =
                (r.physical_resource_id(), r.logical_resource_id())
            else {
                continue;
            };
            match r.resource_type() {
                Some("AWS::CodeDeploy::Application") => parts.application = Some(physical.into()),
                Some("AWS::CodeDeploy::DeploymentGroup") => {
                    parts.groups.push((logical.into(), physical.into()))
                }
                Some("AWS::CloudWatch::Alarm") => {
                    parts.alarms.push((physical.into(), logical.into()))
                }
                _ => {}
            }
        }
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    parts.groups.sort();
    Ok(parts)
}

fn codedeploy_error<E: std::error::Error>(what: &str, e: E) -> Failure {
    Failure::Failed(format!(
        "{what}: {}",
        aws_sdk_codedeploy::error::DisplayErrorContext(&e)
    ))
}

/// The stack's recent deployments, newest first, at most `max` per deployment group.
pub async fn stack_deployments(
    cfn: &aws_sdk_cloudformation::Client,
    cd: &aws_sdk_codedeploy::Client,
    stack: &str,
    max: usize,
) -> Result<Value, Failure> {
    let parts = stack_parts(cfn, stack).await?;
    let Some(app) = parts.application.clone() else {
        return Ok(json!({
            "stack": stack, "application": null, "count": 0, "stopped": 0, "deployments": [],
            "note": "the stack has no CodeDeploy application: no function of it deploys gradually (a stack created before the gradual deployments, or not yet updated)",
        }));
    };
    let mut rows = Vec::new();
    for (logical, group) in &parts.groups {
        let ids = cd
            .list_deployments()
            .application_name(&app)
            .deployment_group_name(group)
            .send()
            .await
            .map_err(|e| codedeploy_error(&format!("codedeploy:ListDeployments {group}"), e))?
            .deployments()
            .to_vec();
        let mut infos: Vec<DeploymentInfo> = Vec::new();
        // The newest are listed first; a few more than shown, since the order is not promised.
        for chunk in ids.chunks(25).take(2) {
            let out = cd
                .batch_get_deployments()
                .set_deployment_ids(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| codedeploy_error("codedeploy:BatchGetDeployments", e))?;
            infos.extend(out.deployments_info().iter().cloned());
        }
        infos.sort_by_key(|d| std::cmp::Reverse(d.create_time().map(|t| t.as_nanos())));
        let function = logical
            .strip_suffix("DeploymentGroup")
            .unwrap_or(logical)
            .to_owned();
        rows.extend(
            infos
                .iter()
                .take(max)
                .map(|d| deployment(d, &function, &parts.alarms, stack)),
        );
    }
    let stopped = rows
        .iter()
        .filter(|d| matches!(d["status"].as_str(), Some("Stopped" | "Failed")))
        .count();
    Ok(json!({
        "stack": stack,
        "application": app,
        "count": rows.len(),
        "stopped": stopped,
        "deployments": rows,
    }))
}

fn time(t: Option<&DateTime>) -> Value {
    t.and_then(|t| t.fmt(DateTimeFormat::DateTime).ok())
        .map_or(Value::Null, Value::String)
}

/// One deployment as `deployments` shows it.
fn deployment(
    d: &DeploymentInfo,
    function: &str,
    alarms: &[(String, String)],
    stack: &str,
) -> Value {
    let (from, to) = versions(d);
    let error = d.error_information();
    let code = error.and_then(|e| e.code()).map(|c| c.as_str().to_owned());
    let message = error.and_then(|e| e.message()).unwrap_or_default();
    // CodeDeploy names the alarms it saw in ALARM in its message; the stack's that appear there.
    let stopped_by: Vec<&str> = match code.as_deref() {
        Some("ALARM_ACTIVE") => alarms
            .iter()
            .filter(|(name, _)| message.contains(name.as_str()))
            .map(|(_, logical)| logical.as_str())
            .collect(),
        _ => Vec::new(),
    };
    let rollback = d.rollback_info();
    let rolls_back = rollback.and_then(|r| r.rollback_triggering_deployment_id());
    let why = match code.as_deref() {
        None => rolls_back.map_or(Value::Null, |id| json!(format!("the rollback of {id}"))),
        Some("ALARM_ACTIVE") if !stopped_by.is_empty() => {
            json!(format!("stopped by alarm {}", stopped_by.join(", ")))
        }
        Some("HOOK_EXECUTION_FAILURE") => json!(format!(
            "the pre-traffic hook reported Failed (its probes: /aws/lambda/{stack}/deploy-hook)"
        )),
        Some("MANUAL_STOP") => json!("stopped by hand (stop-deployment)"),
        Some(c) => json!(format!("{c}: {message}")),
    };
    let config = d
        .deployment_config_name()
        .map(|c| c.trim_start_matches("CodeDeployDefault.Lambda").to_owned());
    json!({
        "function": function,
        "deployment_id": d.deployment_id(),
        "status": d.status().map(|s| s.as_str().to_owned()),
        "config": config,
        "versions": match (&from, &to) {
            (Some(f), Some(t)) => json!(format!("{f} -> {t}")),
            _ => Value::Null,
        },
        "from_version": from,
        "to_version": to,
        "creator": d.creator().map(|c| c.as_str().to_owned()),
        "started": time(d.create_time()),
        "ended": time(d.complete_time()),
        "why": why,
        "stopped_by": stopped_by,
        "error_code": code,
        "error_message": error.and_then(|e| e.message()),
        "rollback_deployment_id": rollback.and_then(|r| r.rollback_deployment_id()),
        "rolls_back": rolls_back,
        "rollback_message": rollback.and_then(|r| r.rollback_message()),
    })
}

/// The alias's versions a Lambda deployment moves between, from its AppSpec (JSON or YAML):
/// `CurrentVersion` and `TargetVersion` of its `AWS::Lambda::Function` resource.
fn versions(d: &DeploymentInfo) -> (Option<String>, Option<String>) {
    let Some(content) = d
        .revision()
        .and_then(|r| r.app_spec_content())
        .and_then(|a| a.content())
    else {
        return (None, None);
    };
    let field = |name: &str| -> Option<String> {
        // `"CurrentVersion": "3"` (JSON) or `CurrentVersion: 3` (YAML).
        let at = content.find(name)? + name.len();
        let rest = content[at..].trim_start_matches(['"', '\'', ':', ' ']);
        let value: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '$')
            .collect();
        (!value.is_empty()).then_some(value)
    };
    (field("CurrentVersion"), field("TargetVersion"))
}

#[cfg(test)]
mod tests;
