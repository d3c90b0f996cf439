//! The pre-traffic hook (lambdas/deploy-hook) of sales-api, restock and factory-orderer, run as
//! CodeDeploy runs it during an update: new versions of the three functions are published (their
//! bootstraps as processes of their own, reachable by qualified ARN), the hook invokes them
//! through the Lambda Invoke API and reports to a recording CodeDeploy endpoint.
//!
//! A good build passes (every probe answered as documented, `Succeeded` reported) and leaves the
//! data as it was; the same bootstraps configured with a database host nothing listens on fail,
//! each function's probe for its own reason, and `Failed` is reported.

use crate::fault_stack::FaultStack;
use lambda_harness::hook::{Version, pre_traffic, publish_version};
use serde_json::Value;

const TRAFFIC: [&str; 3] = [
    "SalesApiFunction",
    "RestockFunction",
    "FactoryOrdererFunction",
];

/// Rows that a probe must never change: products, stock, sales, orders, outbox events.
async fn data(s: &FaultStack) -> Vec<i64> {
    let mut c = s.db().await;
    let mut out = Vec::new();
    for q in [
        "SELECT COUNT(*) FROM products",
        "SELECT CAST(COALESCE(SUM(stock), 0) AS SIGNED) FROM stock_buckets",
        "SELECT COUNT(*) FROM sales",
        "SELECT COUNT(*) FROM factory_orders",
        "SELECT COUNT(*) FROM restocks",
        "SELECT COUNT(*) FROM outbox",
    ] {
        out.push(
            sqlx::query_scalar::<_, i64>(q)
                .fetch_one(&mut c)
                .await
                .unwrap_or_else(|e| panic!("{q}: {e}")),
        );
    }
    out
}

fn steps(answer: &Value) -> Vec<Value> {
    answer["steps"].as_array().cloned().unwrap_or_default()
}

async fn publish_all(s: &FaultStack, n: u32, env: &[(&str, &str)]) -> Vec<Version> {
    let mut out = Vec::new();
    for f in TRAFFIC {
        out.push(publish_version(&s.h, f, n, env).await.expect("publish"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pre_traffic_hook_passes_a_good_build_and_fails_one_without_its_database() {
    let s =
        crate::fault_stack::start("deploy-hook", crate::fault_stack::moto(), None, |_| {}).await;
    a_good_build_passes_and_changes_nothing(&s).await;
    a_build_that_cannot_reach_its_database_fails(&s).await;
}

async fn a_good_build_passes_and_changes_nothing(s: &FaultStack) {
    // A real product with stock, so GET /inventory lists something.
    let (st, b) = s
        .api
        .call(
            reqwest::Method::PUT,
            "/admin/inventory/glazed",
            Some(serde_json::json!({"name": "Glazed", "stock": 7, "reorder_point": 1, "reorder_quantity": 12})),
            Some(&s.admin),
        )
        .await;
    assert!(st == 200 || st == 201, "{st} {b}");
    let before = data(s).await;
    let live: Vec<u64> = TRAFFIC
        .iter()
        .map(|f| s.h.functions[*f].invocations())
        .collect();
    let new = publish_all(s, 2, &[]).await;
    let run = pre_traffic(&s.h, "SalesApiFunction", &new)
        .await
        .expect("hook runs");
    let answer = run
        .answer
        .as_ref()
        .and_then(|a| a.json())
        .unwrap_or_default();
    assert_eq!(
        run.status(),
        Some("Succeeded"),
        "report {:?}, hook answer {answer}",
        run.report
    );
    let report = run.report.clone().unwrap_or_default();
    assert_eq!(report["deploymentId"], run.deployment_id.as_str());
    let steps = steps(&answer);
    assert_eq!(steps.len(), 5, "{answer}");
    assert!(steps.iter().all(|st| st["ok"] == true), "{answer}");
    // Each new version was invoked by its qualified ARN; the functions behind the alias were not.
    for v in &new {
        assert!(v.running.invocations() > 0, "{} not probed", v.arn);
        assert!(
            steps.iter().any(|st| st["version"] == v.arn.as_str()),
            "{answer}"
        );
    }
    for (f, n) in TRAFFIC.iter().zip(live) {
        assert_eq!(
            s.h.functions[*f].invocations(),
            n,
            "{f}: the live version got a probe"
        );
    }
    assert_eq!(data(s).await, before, "a probe changed the data");
    eprintln!(
        "pre-traffic hook, good build: {} in {:?} (the hook's own count: {} ms; cold starts of three new versions included)",
        report["status"], run.elapsed, answer["ms"]
    );
    for v in new {
        v.running.stop();
    }
}

async fn a_build_that_cannot_reach_its_database_fails(s: &FaultStack) {
    let before = data(s).await;
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        l.local_addr().expect("addr").port().to_string()
    };
    let new = publish_all(s, 3, &[("DB_HOST", "127.0.0.1"), ("DB_PORT", &port)]).await;
    let run = pre_traffic(&s.h, "RestockFunction", &new)
        .await
        .expect("hook runs");
    let answer = run
        .answer
        .as_ref()
        .and_then(|a| a.json())
        .unwrap_or_default();
    assert_eq!(
        run.status(),
        Some("Failed"),
        "report {:?}, hook answer {answer}",
        run.report
    );
    let failed: Vec<Value> = steps(&answer)
        .into_iter()
        .filter(|st| st["ok"] == false)
        .collect();
    let reason = |f: &str| {
        failed
            .iter()
            .find(|st| st["function"] == f)
            .and_then(|st| st["detail"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    // sales-api and restock answer 503 unavailable; the orderer fails its record for the
    // database, not for the unknown order (its log tail tells).
    assert!(
        reason("sales-api").contains("answered 503 unavailable"),
        "{answer}"
    );
    assert!(
        reason("restock").contains("answered 503 unavailable"),
        "{answer}"
    );
    assert!(
        reason("factory-orderer").contains("not because its order is unknown"),
        "{answer}"
    );
    // The sale was never attempted: the read before it failed.
    assert!(
        !steps(&answer).iter().any(|st| st["step"]
            .as_str()
            .is_some_and(|n| n.starts_with("POST /sales"))),
        "{answer}"
    );
    assert_eq!(data(s).await, before);
    eprintln!(
        "pre-traffic hook, build without its database: {} in {:?} ({})",
        run.status().unwrap_or_default(),
        run.elapsed,
        failed
            .iter()
            .map(|st| format!("{} {}", st["function"], st["detail"]))
            .collect::<Vec<_>>()
            .join("; ")
    );
    for v in new {
        v.running.stop();
    }
}
