//! The CloudFormation custom-resource lifecycle, played locally: `Create`, `Update` and
//! `Delete` requests sent to the service token's function (asynchronously, as CloudFormation
//! invokes it), with a local `ResponseURL` that records the `PUT` answer.
//!
//! What CloudFormation does after a `FAILED` answer is played too: a failed `Update` is followed
//! by the rollback's `Update` with the previous properties (`ResourceProperties` = the last
//! ones that succeeded, `OldResourceProperties` = the failed ones: [`update_or_roll_back`]);
//! a failed `Create` by the `Delete` of the stack's rollback ([`create_or_roll_back`]). The
//! harness keeps, per resource, the physical id and the last properties that succeeded (after a
//! failed `Create`, the ones it was created with, as the `Delete` needs its physical id).

use crate::template::{REGION, scalar};
use crate::{Error, Harness, invoke_async};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::put;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Answers received at the response URLs, by request id.
pub struct Responses {
    pub base: String,
    got: Mutex<HashMap<String, Value>>,
    notify: Notify,
}

impl Responses {
    pub async fn serve() -> Result<(Arc<Responses>, tokio::task::JoinHandle<()>), Error> {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let me = Arc::new(Responses {
            base: format!("http://{}", l.local_addr()?),
            got: Mutex::new(HashMap::new()),
            notify: Notify::new(),
        });
        let app = Router::new()
            .route("/cfn-response/{id}", put(record))
            .with_state(me.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(l, app).await;
        });
        Ok((me, task))
    }

    /// The answer PUT for request `id`, waiting up to `timeout` for it.
    pub async fn wait(&self, id: &str, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            if let Some(v) = self.got.lock().ok().and_then(|g| g.get(id).cloned()) {
                return Some(v);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }
}

async fn record(
    State(r): State<Arc<Responses>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    // The pre-signed S3 URL accepts any body; a body that is not the documented JSON is kept
    // as-is so the test sees what was sent.
    let v = serde_json::from_slice(&body)
        .unwrap_or_else(|_| json!({"unparsable": String::from_utf8_lossy(&body)}));
    if let Ok(mut g) = r.got.lock() {
        g.insert(id, v);
    }
    r.notify.notify_waiters();
    StatusCode::OK
}

/// The resource's properties in the template, intrinsics resolved.
pub fn template_properties(h: &Harness, id: &str) -> Result<Value, Error> {
    h.template
        .prop(id, &[], &h.values)?
        .ok_or_else(|| format!("custom resource {id}: no Properties").into())
}

fn failed(answer: &Value) -> bool {
    answer.get("Status").and_then(Value::as_str) != Some("SUCCESS")
}

/// An `Update` to `properties` (a new release: say another `CodeVersion`); if it answers
/// `FAILED`, the rollback's `Update` back to the last properties that succeeded. The answers:
/// the update's, and the rollback's if there was one (`UPDATE_ROLLBACK_COMPLETE` needs it to be
/// `SUCCESS`).
pub async fn update_or_roll_back(
    h: &Harness,
    id: &str,
    properties: Value,
) -> Result<(Value, Option<Value>), Error> {
    let answer = send(h, id, "Update", properties.clone(), None).await?;
    if !failed(&answer) {
        return Ok((answer, None));
    }
    let previous = h
        .custom
        .lock()
        .await
        .get(id)
        .map(|(_, props)| props.clone())
        .ok_or_else(|| format!("custom resource {id}: no previous properties"))?;
    let rollback = send(h, id, "Update", previous, Some(properties)).await?;
    Ok((answer, Some(rollback)))
}

/// A `Create`; if it answers `FAILED`, the `Delete` of the stack's rollback. The answers.
pub async fn create_or_roll_back(h: &Harness, id: &str) -> Result<(Value, Option<Value>), Error> {
    let answer = request(h, id, "Create").await?;
    if !failed(&answer) {
        return Ok((answer, None));
    }
    let delete = request(h, id, "Delete").await?;
    Ok((answer, Some(delete)))
}

/// A request with the template's properties.
pub async fn request(h: &Harness, id: &str, request_type: &str) -> Result<Value, Error> {
    let props = template_properties(h, id)?;
    send(h, id, request_type, props, None).await
}

/// A request with `props` as `ResourceProperties`; an `Update`'s `OldResourceProperties` are
/// `old`, else the last properties that succeeded.
pub async fn send(
    h: &Harness,
    id: &str,
    request_type: &str,
    props: Value,
    old: Option<Value>,
) -> Result<Value, Error> {
    let t = &h.template;
    let token = props.get("ServiceToken").map(scalar).unwrap_or_default();
    // The token is a function ARN, possibly qualified (`…:live` for an alias).
    let function = h
        .functions
        .iter()
        .find(|(_, f)| token == f.arn() || token.starts_with(&format!("{}:", f.arn())))
        .map(|(k, _)| k.clone())
        .ok_or_else(|| {
            format!("custom resource {id}: ServiceToken {token} is no function of the template")
        })?;
    let target = h
        .async_targets
        .get(&function)
        .ok_or_else(|| format!("no function {function}"))?;
    let timeout = props
        .get("ServiceTimeout")
        .map(scalar)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3600u64);
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut event = json!({
        "RequestType": request_type,
        "ServiceToken": token,
        "ResponseURL": format!("{}/cfn-response/{request_id}", h.cfn.base),
        "StackId": format!("arn:aws:cloudformation:{REGION}:{}:stack/{}/harness", crate::template::ACCOUNT, t.stack_name),
        "RequestId": request_id,
        "LogicalResourceId": id,
        "ResourceType": t.resource_type(id),
        "ResourceProperties": props.clone(),
    });
    let previous = h.custom.lock().await.get(id).cloned();
    if request_type != "Create" {
        let (physical, previous_props) = previous
            .ok_or_else(|| format!("custom resource {id}: {request_type} before Create"))?;
        event["PhysicalResourceId"] = json!(physical);
        if request_type == "Update" {
            event["OldResourceProperties"] = old.unwrap_or(previous_props);
        }
    }
    let delivered = invoke_async(target, &event, &h.logs).await;
    let answer = h.cfn.wait(&request_id, Duration::from_secs(timeout)).await;
    let Some(answer) = answer else {
        return Err(format!(
            "custom resource {id}: no answer at the ResponseURL within {timeout}s (invocation {})",
            if delivered { "succeeded" } else { "failed" }
        )
        .into());
    };
    let physical = answer
        .get("PhysicalResourceId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut custom = h.custom.lock().await;
    if request_type == "Delete" {
        if !failed(&answer) {
            custom.remove(id);
        }
    } else if request_type == "Update" && failed(&answer) {
        // CloudFormation keeps the resource as it was: the rollback updates back to it.
    } else {
        custom.insert(
            id.to_owned(),
            (physical, event["ResourceProperties"].clone()),
        );
    }
    Ok(answer)
}
