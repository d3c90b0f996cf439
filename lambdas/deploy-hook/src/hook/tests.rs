use super::*;
use crate::probes::Expect;
use serde_json::json;
use std::sync::Mutex;

/// A version answering as a healthy build does, or as `broken` says.
#[derive(Default)]
struct Versions {
    calls: Mutex<Vec<(String, String)>>,
    /// (version arn, step name prefix) -> the answer instead of the healthy one.
    broken: Vec<(&'static str, &'static str, Result<Invoked, String>)>,
    delay: Option<Duration>,
}

fn http(status: u16, body: Value) -> Invoked {
    Invoked {
        payload: json!({"statusCode": status, "body": body.to_string()})
            .to_string()
            .into_bytes(),
        ..Invoked::default()
    }
}

#[async_trait::async_trait]
impl Invoker for Versions {
    async fn invoke(&self, arn: &str, payload: &Value) -> Result<Invoked, String> {
        if let Some(d) = self.delay {
            tokio::time::sleep(d).await;
        }
        let what = match payload.get("Records") {
            Some(r) => format!("sqs {}", r[0]["messageId"].as_str().unwrap_or_default()),
            None => format!(
                "{} {}",
                payload["requestContext"]["http"]["method"]
                    .as_str()
                    .unwrap_or_default(),
                payload["rawPath"].as_str().unwrap_or_default()
            ),
        };
        self.calls
            .lock()
            .unwrap()
            .push((arn.to_owned(), what.clone()));
        for (a, prefix, answer) in &self.broken {
            if arn == *a && what.starts_with(prefix) {
                return answer.clone();
            }
        }
        // Healthy: the answers the probes expect.
        Ok(match payload.get("Records") {
            Some(records) => {
                let body: Value =
                    serde_json::from_str(records[0]["body"].as_str().unwrap()).unwrap();
                Invoked {
                    payload:
                        json!({"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]})
                            .to_string()
                            .into_bytes(),
                    log_tail: Some(format!(
                        "\"error\":\"unknown factory order {}\"",
                        body["factory_order_id"].as_str().unwrap()
                    )),
                    function_error: None,
                }
            }
            None if what == "GET /inventory" => http(200, json!({"products": []})),
            None if what.starts_with("POST /factory/callbacks/") => {
                http(404, json!({"error": "unknown_factory_order"}))
            }
            None => http(404, json!({"error": "unknown_sku"})),
        })
    }
}

#[derive(Default)]
struct CodeDeploy {
    got: Mutex<Vec<(String, String, Status)>>,
    fail: bool,
}

#[async_trait::async_trait]
impl Reporter for CodeDeploy {
    async fn report(&self, d: &str, e: &str, status: Status) -> Result<(), String> {
        if self.fail {
            return Err("ThrottlingException".into());
        }
        self.got
            .lock()
            .unwrap()
            .push((d.to_owned(), e.to_owned(), status));
        Ok(())
    }
}

fn hook(versions: Versions, reporter: CodeDeploy) -> Hook<Versions, CodeDeploy> {
    Hook {
        versions: vec![
            (Target::SalesApi, "arn:sales:7".into()),
            (Target::Restock, "arn:restock:3".into()),
            (Target::FactoryOrderer, "arn:orderer:5".into()),
        ],
        invoker: versions,
        reporter,
    }
}

fn event() -> LifecycleEvent {
    LifecycleEvent {
        deployment_id: Some("d-ABC".into()),
        execution_id: Some("exec-1".into()),
    }
}

fn run() -> Run {
    Run::new("d-ABC", |o| format!("token-{o}"))
}

#[tokio::test]
async fn healthy_versions_are_reported_succeeded_once() {
    let h = hook(Versions::default(), CodeDeploy::default());
    let out = h
        .handle(&event(), &run(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(out.status, Status::Succeeded, "{:?}", out.steps);
    assert_eq!(out.steps.len(), 5);
    assert!(out.reported);
    assert_eq!(
        *h.reporter.got.lock().unwrap(),
        vec![("d-ABC".into(), "exec-1".into(), Status::Succeeded)]
    );
    // Every version was invoked by its own ARN (the new version, never the alias).
    let calls = h.invoker.calls.lock().unwrap();
    for arn in ["arn:sales:7", "arn:restock:3", "arn:orderer:5"] {
        assert!(
            calls.iter().any(|(a, _)| a == arn),
            "{arn} not probed: {calls:?}"
        );
    }
}

#[tokio::test]
async fn a_version_without_its_database_fails_the_deployment() {
    let down = http(
        503,
        json!({"error": "unavailable", "message": "database unavailable"}),
    );
    let versions = Versions {
        broken: vec![("arn:sales:7", "GET /inventory", Ok(down))],
        ..Default::default()
    };
    let h = hook(versions, CodeDeploy::default());
    let out = h
        .handle(&event(), &run(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(out.status, Status::Failed);
    assert_eq!(
        *h.reporter.got.lock().unwrap(),
        vec![("d-ABC".into(), "exec-1".into(), Status::Failed)]
    );
    let failed: Vec<_> = out.steps.iter().filter(|s| !s.ok).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].function, "sales-api");
    assert!(
        failed[0].detail.contains("503 unavailable"),
        "{}",
        failed[0].detail
    );
    // The steps after a failure are not sent: no sale attempt.
    let calls = h.invoker.calls.lock().unwrap();
    assert!(
        !calls
            .iter()
            .any(|(a, w)| a == "arn:sales:7" && w.starts_with("POST")),
        "{calls:?}"
    );
}

#[tokio::test]
async fn a_probe_sku_that_exists_is_never_sold() {
    let exists = http(200, json!({"sku": "x", "stock": 5}));
    let versions = Versions {
        broken: vec![("arn:sales:7", "GET /inventory/deploy-probe-", Ok(exists))],
        ..Default::default()
    };
    let h = hook(versions, CodeDeploy::default());
    let out = h
        .handle(&event(), &run(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(out.status, Status::Failed);
    assert!(
        !h.invoker
            .calls
            .lock()
            .unwrap()
            .iter()
            .any(|(_, w)| w.starts_with("POST /sales"))
    );
}

#[tokio::test]
async fn a_version_lambda_cannot_run_fails() {
    let versions = Versions {
        broken: vec![(
            "arn:restock:3",
            "POST",
            Err("AccessDeniedException: not authorized".into()),
        )],
        ..Default::default()
    };
    let h = hook(versions, CodeDeploy::default());
    let out = h
        .handle(&event(), &run(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(out.status, Status::Failed);
    let s = out.steps.iter().find(|s| s.function == "restock").unwrap();
    assert!(
        s.detail.starts_with("not invoked: AccessDeniedException"),
        "{}",
        s.detail
    );
}

#[tokio::test]
async fn probes_past_the_budget_fail_and_are_still_reported() {
    let versions = Versions {
        delay: Some(Duration::from_millis(300)),
        ..Default::default()
    };
    let h = hook(versions, CodeDeploy::default());
    let out = h
        .handle(&event(), &run(), Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(out.status, Status::Failed);
    assert!(out.steps[0].detail.contains("did not finish"));
    assert_eq!(h.reporter.got.lock().unwrap()[0].2, Status::Failed);
}

#[tokio::test]
async fn a_dry_run_probes_and_reports_nothing() {
    let h = hook(Versions::default(), CodeDeploy::default());
    let out = h
        .handle(&LifecycleEvent::default(), &run(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(out.status, Status::Succeeded);
    assert!(!out.reported);
    assert!(h.reporter.got.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_report_that_fails_fails_the_invocation_so_lambda_retries_it() {
    let h = hook(
        Versions::default(),
        CodeDeploy {
            fail: true,
            ..Default::default()
        },
    );
    let err = h
        .handle(&event(), &run(), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            HookError::Report {
                status: Status::Succeeded,
                ..
            }
        ),
        "{err}"
    );
    let half = LifecycleEvent {
        deployment_id: Some("d".into()),
        execution_id: None,
    };
    assert!(matches!(
        h.handle(&half, &run(), Duration::from_secs(5)).await,
        Err(HookError::PartialEvent)
    ));
}

#[test]
fn the_probe_expectations_are_the_documented_answers() {
    // docs/api.md: 404 unknown_sku (sales), 404 unknown_factory_order (callbacks).
    let r = run();
    let expects: Vec<Expect> = [Target::SalesApi, Target::Restock]
        .iter()
        .flat_map(|t| crate::probes::plan(*t, &r))
        .map(|s| s.expect)
        .collect();
    assert!(expects.contains(&Expect::Http {
        status: 404,
        error: Some("unknown_factory_order"),
        key: None
    }));
    assert!(expects.contains(&Expect::Http {
        status: 404,
        error: Some("unknown_sku"),
        key: None
    }));
}

#[test]
fn the_budget_keeps_a_margin_for_the_report() {
    assert_eq!(
        crate::budget(60_000, 0, Duration::from_secs(5)),
        Duration::from_secs(55)
    );
    assert_eq!(
        crate::budget(1_000, 2_000, Duration::from_secs(5)),
        Duration::from_secs(1)
    );
}
