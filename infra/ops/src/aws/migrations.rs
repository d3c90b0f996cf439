//! `migrations status|repair`: the database's migrations table seen and repaired through the
//! deployed `migrate` function (`lambda:InvokeFunction`, RequestResponse, SigV4 by
//! [`Signer`]) — no MySQL client, no tunnel: the function runs in the VPC as the admin.
//!
//! - `status` sends `{"action":"status"}`: every version with its state — applied, pending (this
//!   build has it, the database not yet), unknown (a newer build applied it: a rollback left
//!   it), dirty (a run failed part-way; `success = 0`).
//! - `repair --version V` sends `{"action":"repair","version":V}`: the function removes V's row
//!   only if it is dirty, after reading what the schema holds and which of V's objects exist,
//!   logs it, and answers all of that; the next deploy runs V again from its first statement.
//!
//! The function: `--function` (or `MIGRATE_FUNCTION`, a name or an ARN), else the stack's
//! `MigrateFunction` (`cloudformation:DescribeStackResource`). The endpoint: `AWS_ENDPOINT_URL_LAMBDA`,
//! else `AWS_ENDPOINT_URL`, else Lambda's regional endpoint (docs/migrations.md).

use super::arn::FunctionArn;
use super::cfn_error;
use super::settings::Settings;
use super::signer::Signer;
use crate::cli::{MigrationsArgs, MigrationsCommand};
use crate::failure::Failure;
use serde_json::{Value, json};

/// The payload the migrate function takes for `args`.
fn payload(args: &MigrationsArgs) -> Value {
    match &args.command {
        MigrationsCommand::Status => json!({"action": "status"}),
        MigrationsCommand::Repair { version } => {
            json!({"action": "repair", "version": version})
        }
    }
}

pub async fn run(
    sdk: &aws_config::SdkConfig,
    o: &Settings,
    args: &MigrationsArgs,
) -> Result<Value, Failure> {
    let function = match (&args.function, &o.stack) {
        (Some(f), _) => f.clone(),
        (None, Some(stack)) => stack_function(sdk, stack).await?,
        (None, None) => {
            return Err(Failure::Usage(
                "migrations needs the migrate function: --function NAME (or MIGRATE_FUNCTION), or \
                 --stack NAME (its MigrateFunction)"
                    .into(),
            ));
        }
    };
    let signer = Signer::new(sdk).await?;
    invoke(&signer, &function, &payload(args)).await
}

/// The stack's `MigrateFunction`: its physical id is the function name.
async fn stack_function(sdk: &aws_config::SdkConfig, stack: &str) -> Result<String, Failure> {
    let out = aws_sdk_cloudformation::Client::new(sdk)
        .describe_stack_resource()
        .stack_name(stack)
        .logical_resource_id("MigrateFunction")
        .send()
        .await
        .map_err(|e| cfn_error(&format!("cloudformation:DescribeStackResource {stack}"), e))?;
    out.stack_resource_detail()
        .and_then(|d| d.physical_resource_id())
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            Failure::Failed(format!("stack {stack}: MigrateFunction has no physical id"))
        })
}

/// `lambda:InvokeFunction` (RequestResponse): the function's answer, or its error message.
async fn invoke(signer: &Signer, function: &str, payload: &Value) -> Result<Value, Failure> {
    let (region, name, qualifier) = if function.starts_with("arn:") {
        let f = FunctionArn::parse(function).map_err(Failure::Usage)?;
        (f.region, f.name, f.qualifier)
    } else {
        let region = signer.region().ok_or_else(|| {
            Failure::Usage("no AWS region: set AWS_REGION or a profile's region".into())
        })?;
        (region.to_owned(), function.to_owned(), None)
    };
    let base = std::env::var("AWS_ENDPOINT_URL_LAMBDA")
        .ok()
        .filter(|u| !u.is_empty())
        .map(|u| u.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| signer.base("lambda", &region));
    let mut target = format!("{base}/2015-03-31/functions/{name}/invocations");
    if let Some(q) = qualifier {
        target = format!("{target}?Qualifier={q}");
    }
    let body = serde_json::to_vec(payload).map_err(|e| Failure::Failed(e.to_string()))?;
    let headers = [
        ("content-type", "application/json"),
        ("x-amz-invocation-type", "RequestResponse"),
    ];
    let (status, text) = signer
        .post(&target, &region, "lambda", &headers, body)
        .await
        .map_err(|e| Failure::Failed(format!("lambda:InvokeFunction {name}: {e}")))?;
    let answer: Value = serde_json::from_str(&text).unwrap_or(json!({"raw": text}));
    if status != 200 {
        return Err(Failure::Failed(format!(
            "lambda:InvokeFunction {name}: {status} {}",
            answer
                .get("message")
                .or(answer.get("Message"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| text.chars().take(300).collect())
        )));
    }
    // A function error answers 200 with X-Amz-Function-Error and {"errorType","errorMessage"}.
    if let Some(message) = answer.get("errorMessage").and_then(Value::as_str) {
        return Err(Failure::Failed(format!("{name}: {message}")));
    }
    Ok(answer)
}

/// The terminal view: `status` as a table with what to do about dirty and unknown rows; `repair`
/// as what was removed, the migration's objects now, and what happens next.
pub fn render(v: &Value) -> String {
    if let Some(version) = v.get("repaired") {
        let mut out = format!(
            "removed the dirty row of migration {version} ({})\n",
            v["description"].as_str().unwrap_or_default()
        );
        let objects = v["migration_objects"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !objects.is_empty() {
            out += "its statements, against the schema now:\n";
        }
        for o in objects {
            out += &format!(
                "  {:<48} {}\n",
                o["statement"].as_str().unwrap_or_default(),
                if o["object_exists_now"] == true {
                    "exists"
                } else {
                    "absent"
                }
            );
        }
        out += &format!("next: {}\n", v["next"].as_str().unwrap_or_default());
        return out;
    }
    let versions = v["versions"].as_array().cloned().unwrap_or_default();
    let count = |s: &str| versions.iter().filter(|x| x["state"] == s).count();
    let mut out = format!(
        "migrations: {} applied, {} pending, {} unknown, {} dirty (this build's newest: {})\n",
        count("applied"),
        count("pending"),
        count("unknown"),
        count("dirty"),
        v["build_latest"]
    );
    out += &format!(
        "  {:<16} {:<8} {:<21} {}\n",
        "VERSION", "STATE", "INSTALLED", "DESCRIPTION"
    );
    for x in &versions {
        out += &format!(
            "  {:<16} {:<8} {:<21} {}{}\n",
            x["version"],
            x["state"].as_str().unwrap_or_default(),
            x["installed_on"].as_str().unwrap_or("-"),
            x["description"].as_str().unwrap_or_default(),
            if x["modified"] == true {
                " (edited since it was applied)"
            } else {
                ""
            }
        );
    }
    for x in versions.iter().filter(|x| x["state"] == "dirty") {
        out += &format!(
            "\n{}: failed part-way (its FAILED reason and the migrate log say why). Undo or \
             finish its statements, then `donut-ops migrations repair --version {}`.\n",
            x["version"], x["version"]
        );
    }
    if count("unknown") > 0 {
        out += "\nunknown: applied by a newer build than the deployed one (a rollback): the \
                deployed build leaves the schema alone until a build that has them is deployed.\n";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_what_to_do() {
        let v = json!({"build_latest": 3, "versions": [
            {"version": 1, "state": "applied", "description": "init", "installed_on": "2026-12-01 10:00:00", "in_this_build": true},
            {"version": 3, "state": "dirty", "description": "buckets", "installed_on": "2026-12-02 10:00:00", "in_this_build": true},
            {"version": 9, "state": "unknown", "description": "newer", "installed_on": "2026-12-03 10:00:00", "in_this_build": false}]});
        let out = render(&v);
        assert!(
            out.starts_with("migrations: 1 applied, 0 pending, 1 unknown, 1 dirty"),
            "{out}"
        );
        assert!(out.contains("migrations repair --version 3"), "{out}");
        assert!(out.contains("unknown: applied by a newer build"), "{out}");
    }
}
