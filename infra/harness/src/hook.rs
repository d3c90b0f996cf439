//! CodeDeploy's side of a gradual deployment (SAM's `AutoPublishAlias` + `DeploymentPreference`),
//! played for the pre-traffic hook: a new version of a function is published
//! ([`publish_version`]: the function's bootstrap started again as a process of its own, with the
//! template's environment and any changes a test makes, reachable by its qualified ARN), and the
//! function's `DeploymentPreference.Hooks.PreTraffic` is invoked as CodeDeploy invokes it
//! ([`pre_traffic`]: asynchronously, with a `DeploymentId` and a `LifecycleEventHookExecutionId`)
//! after CloudFormation updated it: its environment names the new versions (`!Ref Fn.Version`).
//!
//! The hook reaches the versions through the harness's Lambda Invoke API
//! ([`crate::invoke_api::serve_with`], `AWS_ENDPOINT_URL_LAMBDA`) and reports to
//! [`CodeDeployRecorder`] (`AWS_ENDPOINT_URL_CODEDEPLOY`), which records the
//! `PutLifecycleEventHookExecutionStatus` it would send CodeDeploy: moto's CodeDeploy has no
//! lifecycle hooks (no `PutLifecycleEventHookExecutionStatus`). Traffic shifting and the alarms
//! are not played: the harness runs one version of each function behind its alias.

use crate::runtime::{Answer, Function};
use crate::{AsyncTarget, Error, Harness, invoke_api};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The one CodeDeploy operation a hook calls (AWS JSON 1.1, `X-Amz-Target`).
const PUT_STATUS: &str = "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus";

/// A local CodeDeploy endpoint that answers `PutLifecycleEventHookExecutionStatus` and records
/// each request; any other operation is refused (`UnknownOperationException`).
pub struct CodeDeployRecorder {
    pub base: String,
    got: Mutex<Vec<Value>>,
    notify: Notify,
}

impl CodeDeployRecorder {
    pub async fn serve() -> Result<(Arc<Self>, tokio::task::JoinHandle<()>), Error> {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let me = Arc::new(CodeDeployRecorder {
            base: format!("http://{}", l.local_addr()?),
            got: Mutex::new(Vec::new()),
            notify: Notify::new(),
        });
        let app = Router::new()
            .route("/", post(record))
            .with_state(me.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(l, app).await;
        });
        Ok((me, task))
    }

    /// Every request body received, in order.
    pub fn requests(&self) -> Vec<Value> {
        self.got.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// The status reported for a hook execution, waiting up to `timeout` for it.
    pub async fn wait(&self, execution_id: &str, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            if let Some(v) = self
                .requests()
                .into_iter()
                .find(|r| r["lifecycleEventHookExecutionId"] == execution_id)
            {
                return Some(v);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }
}

async fn record(
    State(r): State<Arc<CodeDeployRecorder>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if target != PUT_STATUS {
        return (
            StatusCode::BAD_REQUEST,
            json!({"__type": "UnknownOperationException", "message": format!("not played: {target}")})
                .to_string(),
        );
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            json!({"__type": "SerializationException"}).to_string(),
        );
    };
    let execution = v["lifecycleEventHookExecutionId"].clone();
    if let Ok(mut g) = r.got.lock() {
        g.push(v);
    }
    r.notify.notify_waiters();
    (
        StatusCode::OK,
        json!({"lifecycleEventHookExecutionId": execution}).to_string(),
    )
}

/// A published version of a template function.
#[derive(Clone)]
pub struct Version {
    /// The function's logical id.
    pub function: String,
    /// Its qualified ARN (`…:function:<name>:<n>`), what `!Ref <Function>.Version` answers.
    pub arn: String,
    pub running: Arc<Function>,
}

/// Publishes version `n` of `function` (logical id): its bootstrap (the same one: `sam build`
/// ships one per function) as a new process with the template's environment and `env`'s
/// changes (a build whose configuration differs, e.g. a database host it cannot reach). It
/// answers at its qualified ARN only; the function itself keeps serving the template's events.
pub async fn publish_version(
    h: &Harness,
    function: &str,
    n: u32,
    env: &[(&str, &str)],
) -> Result<Version, Error> {
    let current = h.function(function)?;
    let mut spec = current.spec.clone();
    spec.instances = 1;
    for (k, v) in env {
        spec.env.insert((*k).to_owned(), (*v).to_owned());
    }
    let running = Function::start(spec, h.logs.clone()).await?;
    Ok(Version {
        function: function.to_owned(),
        arn: format!("{}:{n}", current.arn()),
        running,
    })
}

/// One run of a pre-traffic hook.
pub struct PreTraffic {
    /// The hook function's logical id.
    pub hook: String,
    pub deployment_id: String,
    pub execution_id: String,
    /// The hook's own answer (its `Outcome`, or its error), from its last attempt.
    pub answer: Option<Answer>,
    /// The `PutLifecycleEventHookExecutionStatus` it sent (`status`: `Succeeded` / `Failed`).
    pub report: Option<Value>,
    /// From the invocation to the report.
    pub elapsed: Duration,
}

impl PreTraffic {
    pub fn status(&self) -> Option<&str> {
        self.report.as_ref()?.get("status")?.as_str()
    }
}

/// Runs `function`'s pre-traffic hook as CodeDeploy does when an update deploys `new`: the hook
/// function as CloudFormation updated it (its environment's `!Ref <Function>.Version` values now
/// the new versions' ARNs, plus the Lambda and CodeDeploy endpoints of the harness), invoked
/// asynchronously (Lambda's retries of a function error) with a lifecycle event, then the
/// report it sent, waited for up to three times the hook's `Timeout`.
pub async fn pre_traffic(
    h: &Harness,
    function: &str,
    new: &[Version],
) -> Result<PreTraffic, Error> {
    let hook = h
        .template
        .pre_traffic_hook(function, &h.values)?
        .ok_or_else(|| format!("{function}: no DeploymentPreference.Hooks.PreTraffic"))?;
    let template_hook = h.function(&hook)?;
    // What `!Ref <Function>.Version` resolved to at start → the new version's ARN.
    let mut new_arns = BTreeMap::new();
    let mut versions = HashMap::new();
    for v in new {
        let old = h
            .values
            .refs
            .get(&format!("{}.Version", v.function))
            .cloned()
            .ok_or_else(|| format!("{}: not a function with versions", v.function))?;
        new_arns.insert(old, v.arn.clone());
        versions.insert(v.arn.clone(), v.running.clone());
    }
    let (lambda_url, lambda_task) = invoke_api::serve_with(h, versions).await?;
    let (codedeploy, codedeploy_task) = CodeDeployRecorder::serve().await?;
    let mut spec = template_hook.spec.clone();
    spec.instances = 1;
    for value in spec.env.values_mut() {
        if let Some(arn) = new_arns.get(value.as_str()) {
            *value = arn.clone();
        }
    }
    spec.env
        .insert("AWS_ENDPOINT_URL_LAMBDA".into(), lambda_url);
    spec.env.insert(
        "AWS_ENDPOINT_URL_CODEDEPLOY".into(),
        codedeploy.base.clone(),
    );
    let timeout = spec.timeout;
    let running = Function::start(spec, h.logs.clone()).await?;
    let deployment_id = format!(
        "d-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..9].to_uppercase()
    );
    let execution_id = uuid::Uuid::new_v4().to_string();
    let event = json!({
        "DeploymentId": deployment_id,
        "LifecycleEventHookExecutionId": execution_id,
    });
    let target = AsyncTarget {
        function: running.clone(),
        on_failure: None,
        retry_delays: h.opts.async_retry_delays.clone(),
        throttle_backoff: h.opts.async_throttle_backoff,
        max_event_age: h.opts.async_max_event_age,
    };
    let started = Instant::now();
    // CodeDeploy invokes the hook asynchronously; the answer a test wants is the last attempt's.
    let last: Arc<Mutex<Option<Answer>>> = Arc::default();
    let seen = last.clone();
    running.set_tap(Some(Arc::new(move |s: &crate::runtime::Seen<'_>| {
        if let crate::runtime::Seen::Answered { answer, .. } = s
            && let Ok(mut l) = seen.lock()
        {
            *l = Some((*answer).clone());
        }
        None
    })));
    let invocation = {
        let logs = h.logs.clone();
        let event = event.clone();
        tokio::spawn(async move { crate::invoke_async(&target, &event, &logs).await })
    };
    let report = codedeploy.wait(&execution_id, timeout * 3).await;
    let elapsed = started.elapsed();
    let _ = tokio::time::timeout(timeout, invocation).await;
    running.stop();
    lambda_task.abort();
    codedeploy_task.abort();
    let answer = last.lock().ok().and_then(|l| l.clone());
    Ok(PreTraffic {
        hook,
        deployment_id,
        execution_id,
        answer,
        report,
        elapsed,
    })
}
