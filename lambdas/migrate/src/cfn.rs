//! The CloudFormation custom resource protocol: the request Lambda is invoked with, and the
//! response PUT to its pre-signed `ResponseURL`.
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html>

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The physical id of the migrations resource. Stable: a changed id would make CloudFormation
/// treat an update as a replacement and send a Delete for the old one.
pub const PHYSICAL_ID: &str = "donut-migrations";

/// CloudFormation accepts response bodies up to 4 KiB; the reason is kept well under it.
const MAX_REASON_CHARS: usize = 1000;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CfnRequest {
    pub request_type: String,
    #[serde(rename = "ResponseURL")]
    pub response_url: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    #[serde(default)]
    pub physical_resource_id: Option<String>,
    #[serde(default)]
    pub resource_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CfnResponse {
    pub status: &'static str,
    pub reason: String,
    pub physical_resource_id: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    pub no_echo: bool,
    pub data: serde_json::Map<String, serde_json::Value>,
}

impl CfnResponse {
    /// The response to `req`: SUCCESS, or FAILED with the (redacted, shortened) reason.
    pub fn new(req: &CfnRequest, outcome: &Result<String, String>) -> Self {
        let (status, reason) = match outcome {
            Ok(reason) => ("SUCCESS", reason.clone()),
            Err(reason) => ("FAILED", reason.clone()),
        };
        CfnResponse {
            status,
            reason: shorten(&redact(&reason), MAX_REASON_CHARS),
            // Keep the id CloudFormation already knows (Update/Delete); ours on Create.
            physical_resource_id: req
                .physical_resource_id
                .clone()
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| PHYSICAL_ID.to_owned()),
            stack_id: req.stack_id.clone(),
            request_id: req.request_id.clone(),
            logical_resource_id: req.logical_resource_id.clone(),
            no_echo: false,
            data: serde_json::Map::new(),
        }
    }
}

/// What an invocation asks for.
#[derive(Debug)]
pub enum Invocation {
    /// A CloudFormation custom resource request.
    CustomResource(Box<CfnRequest>),
    /// An operator's payload (`donut-ops migrations …`, or `aws lambda invoke`).
    Operator(Operator),
    Invalid(String),
}

/// The operator's payloads: `{"action":"migrate"}` (a deploy by hand), `{"action":"status"}`,
/// `{"action":"repair","version":V}` (V a number or a string of digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    Migrate,
    Status,
    Repair { version: i64 },
}

impl Invocation {
    pub fn parse(payload: serde_json::Value) -> Self {
        if payload.get("RequestType").is_some() {
            return match serde_json::from_value::<CfnRequest>(payload) {
                Ok(req) => Invocation::CustomResource(Box::new(req)),
                Err(e) => Invocation::Invalid(format!("invalid custom resource request: {e}")),
            };
        }
        match payload.get("action").and_then(|a| a.as_str()) {
            Some("migrate") => Invocation::Operator(Operator::Migrate),
            Some("status") => Invocation::Operator(Operator::Status),
            Some("repair") => {
                let version = match payload.get("version") {
                    Some(serde_json::Value::Number(n)) => n.as_i64(),
                    Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
                    _ => None,
                };
                match version {
                    Some(version) if version > 0 => Invocation::Operator(Operator::Repair { version }),
                    _ => Invocation::Invalid(
                        "repair needs an explicit \"version\": the migration version (digits) whose \
                         dirty row to remove"
                            .into(),
                    ),
                }
            }
            _ => Invocation::Invalid(
                "expected a CloudFormation custom resource request or {\"action\": \"migrate\" | \
                 \"status\" | \"repair\"}"
                    .into(),
            ),
        }
    }
}

impl CfnRequest {
    /// The stack's name, from `arn:aws:cloudformation:<region>:<account>:stack/<name>/<id>`.
    pub fn stack_name(&self) -> Option<&str> {
        self.stack_id.split('/').nth(1).filter(|s| !s.is_empty())
    }
}

/// PUTs the response to the pre-signed URL (no content type: the URL was signed without one),
/// retrying a few times. Errors never include the URL (it is a credential until it expires).
pub async fn send(http: &reqwest::Client, url: &str, response: &CfnResponse) -> Result<(), String> {
    let body = serde_json::to_string(response).map_err(|e| e.to_string())?;
    let mut last = String::new();
    for attempt in 0..4u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500 * 2u64.pow(attempt))).await;
        }
        let res = http
            .put(url)
            .header(reqwest::header::CONTENT_TYPE, "")
            .body(body.clone())
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("response URL answered {}", r.status()),
            Err(e) => last = format!("response URL unreachable: {}", e.without_url()),
        }
        tracing::warn!(attempt, error = %last, "could not send the custom resource response");
    }
    Err(last)
}

/// Removes credentials from URLs in a message (`scheme://user:password@host` → `scheme://***@host`).
pub fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn shorten(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(kind: &str, physical: Option<&str>) -> CfnRequest {
        let mut v = json!({
            "RequestType": kind, "ServiceToken": "arn:aws:lambda:us-east-1:1:function:m:live",
            "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?X-Amz-Signature=s",
            "StackId": "arn:aws:cloudformation:us-east-1:1:stack/donut-pipeline/guid",
            "RequestId": "req-1", "LogicalResourceId": "Migrations", "ResourceType": "Custom::Migrations",
            "ResourceProperties": {"ServiceToken": "x", "MigrationsVersion": "1"}
        });
        if let Some(p) = physical {
            v["PhysicalResourceId"] = json!(p);
        }
        match Invocation::parse(v) {
            Invocation::CustomResource(r) => *r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_invocations() {
        assert_eq!(request("Create", None).request_type, "Create");
        assert!(matches!(
            Invocation::parse(json!({"action": "migrate"})),
            Invocation::Operator(Operator::Migrate)
        ));
        assert!(matches!(
            Invocation::parse(json!({"action": "status"})),
            Invocation::Operator(Operator::Status)
        ));
        for v in [json!(20261202000002i64), json!("20261202000002")] {
            assert!(matches!(
                Invocation::parse(json!({"action": "repair", "version": v})),
                Invocation::Operator(Operator::Repair {
                    version: 20261202000002
                })
            ));
        }
        for bad in [
            json!({"action": "repair"}),
            json!({"action": "repair", "version": "latest"}),
            json!({"action": "repair", "version": -1}),
        ] {
            assert!(matches!(Invocation::parse(bad), Invocation::Invalid(_)));
        }
        assert_eq!(request("Create", None).stack_name(), Some("donut-pipeline"));
        assert!(matches!(
            Invocation::parse(json!({"action": "drop"})),
            Invocation::Invalid(_)
        ));
        assert!(matches!(
            Invocation::parse(json!({"RequestType": "Create"})),
            Invocation::Invalid(_)
        ));
    }

    #[test]
    fn response_shape() {
        let ok = CfnResponse::new(&request("Create", None), &Ok("applied".into()));
        let v = serde_json::to_value(&ok).unwrap();
        assert_eq!(
            v,
            json!({"Status": "SUCCESS", "Reason": "applied", "PhysicalResourceId": PHYSICAL_ID,
                   "StackId": "arn:aws:cloudformation:us-east-1:1:stack/donut-pipeline/guid",
                   "RequestId": "req-1", "LogicalResourceId": "Migrations", "NoEcho": false, "Data": {}})
        );
        let failed = CfnResponse::new(
            &request("Update", Some("donut-migrations-old")),
            &Err("error connecting to mysql://admin:hunter2@db:3306/donuts".into()),
        );
        assert_eq!(failed.status, "FAILED");
        assert_eq!(failed.physical_resource_id, "donut-migrations-old");
        assert!(!failed.reason.contains("hunter2"), "{}", failed.reason);
        let long = CfnResponse::new(&request("Create", None), &Err("x".repeat(5000)));
        assert!(long.reason.chars().count() <= MAX_REASON_CHARS);
    }

    #[test]
    fn redacts_user_info_only() {
        assert_eq!(
            redact("a mysql://u:p@w@h:3306/db?x=1 and https://h/p?q"),
            "a mysql://***@h:3306/db?x=1 and https://h/p?q"
        );
        assert_eq!(redact("no urls here"), "no urls here");
        assert_eq!(redact("x://"), "x://");
    }
}
