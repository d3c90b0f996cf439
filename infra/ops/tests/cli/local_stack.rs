//! Every command against the local stack (`--url`, its `/ops` routes): an incident from the
//! alarm through the DLQ, the failed order and its redrive to the SKU's history, then the
//! failures (clear message, non-zero status).

use crate::common::ops;
use pipeline_tests::{Client, Db, eventually, stack};
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

async fn order_status(c: &Client, id: &str) -> String {
    c.get(&format!("/factory-orders/{id}")).await.body["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_incident_dlq_alarm_redrive_history() {
    let dir = tempfile::tempdir().unwrap();
    let s = stack(Db::Sqlite, dir.path(), |o| {
        o.factory_down = true;
        o.max_receive_count = 2;
    })
    .await;
    let c = Client::new(&s);
    let url = s.base_url.clone();
    let local = |extra: &[&str]| {
        let mut a = vec!["--url", url.as_str()];
        a.extend_from_slice(extra);
        a.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| async move {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        ops(&refs, &[]).await
    };
    c.put_product("glazed", json!({"stock": 3, "reorder_quantity": 30}))
        .await;
    let r = c
        .send(
            c.http
                .post(format!("{}/sales", c.base))
                .header("content-type", "application/json")
                .header("x-correlation-id", "cli-incident")
                .body(json!({"sku": "glazed", "quantity": 3}).to_string()),
        )
        .await;
    let id = r.body["factory_order"]["id"].as_str().unwrap().to_owned();
    eventually(WAIT, || async { (s.shared.dlq.depth() == 1).then_some(()) })
        .await
        .expect("the message reaches the DLQ");

    let out = run(local(&["alarms", "--check"])).await;
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("FactoryOrdersDLQNotEmpty") && l.contains("ALARM")),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("in ALARM"), "{}", out.stderr);

    let out = run(local(&["dlq", "list", "-o", "json"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = out.json();
    assert_eq!(v["depth"], 1);
    assert_eq!(v["messages"][0]["correlation_id"], "cli-incident");
    assert_eq!(v["messages"][0]["factory_order_id"], id.as_str());

    let out = run(local(&["orders", "list", "--status", "failed"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains(&id), "{}", out.stdout);
    assert!(
        out.stdout.contains("factory failed with 503"),
        "{}",
        out.stdout
    );

    s.shared.sim.set(factory_sim::sim::KnobsPatch {
        down: Some(false),
        ..Default::default()
    });
    let out = run(local(&["dlq", "redrive"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("moved 1 message"), "{}", out.stdout);
    eventually(WAIT, || async {
        (order_status(&c, &id).await == "fulfilled").then_some(())
    })
    .await
    .expect("fulfilled after the redrive");
    let cleared = eventually(WAIT, || async {
        let out = run(local(&["alarms", "--check"])).await;
        (out.code == 0).then_some(out)
    })
    .await
    .expect("alarms clear");
    assert!(
        cleared
            .stdout
            .lines()
            .skip(1)
            .all(|l| !l.contains("  ALARM  ")),
        "{}",
        cleared.stdout
    );

    let out = run(local(&["sku", "history", "glazed", "-o", "json"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let h = out.json();
    assert_eq!(h["ledger"]["sold"], 3);
    assert_eq!(h["ledger"]["restocked"], 30);
    assert_eq!(
        h["factory_orders"]["recent"][0]["correlation_id"],
        "cli-incident"
    );
    let out = run(local(&["sku", "history", "glazed"])).await;
    assert!(
        out.stdout.contains("fulfilled  factory completed"),
        "{}",
        out.stdout
    );

    // Failures: clear message, non-zero status.
    let out = run(local(&["orders", "retry", &id])).await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("already fulfilled"), "{}", out.stderr);
    let out = run(local(&["orders", "retry", "../x"])).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = run(local(&["orders", "list", "--status", "lost"])).await;
    assert_eq!(out.code, 2, "clap rejects it: {}", out.stderr);
    let out = ops(&["--url", "http://127.0.0.1:9", "alarms"], &[]).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("cannot reach the local stack"),
        "{}",
        out.stderr
    );
    s.stop().await;
}
