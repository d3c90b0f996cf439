//! Observability of the pipeline on the local stack: the correlation id on the log lines of
//! every stage, the metrics as valid CloudWatch EMF, the local alarms firing and clearing, and
//! the operator routes (`/ops/*`) `donut-ops` relies on.
//!
//! The test process installs the production log format (`inventory::telemetry`) with a writer
//! into a shared buffer, so the lines read back are exactly what a function writes to stdout.

use pipeline_tests::both;
use pipeline_tests::{Client, Db, TestApp, eventually};
use serde_json::{Value, json};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

#[derive(Clone)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log lines written so far by this test process (JSON objects).
fn log_lines() -> Vec<Value> {
    static BUF: OnceLock<Shared> = OnceLock::new();
    let buf = BUF.get_or_init(|| {
        let buf = Shared(Arc::default());
        let writer = buf.clone();
        assert!(
            inventory::telemetry::init_with_writer("test", move || writer.clone()),
            "the log subscriber must be installed by this test (unset TEST_LOG)"
        );
        buf
    });
    let bytes = buf.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l}"))
        })
        .collect()
}

/// Every EMF line flushed so far by this test process (flushing takes what was recorded since
/// the last flush, so the lines are kept for every test).
fn metric_lines() -> Vec<Value> {
    static ALL: Mutex<Vec<Value>> = Mutex::new(Vec::new());
    let mut buf = Vec::new();
    inventory::metrics::flush_to(&mut buf);
    let mut all = ALL.lock().unwrap_or_else(|e| e.into_inner());
    for l in String::from_utf8_lossy(&buf).lines() {
        all.push(
            serde_json::from_str(l).unwrap_or_else(|e| panic!("EMF line is not JSON ({e}): {l}")),
        );
    }
    all.clone()
}

/// Sells the whole stock of a fresh SKU with a correlation id; returns the order id.
async fn stock_out(c: &Client, sku: &str, correlation_id: &str) -> String {
    let r = c
        .put_product(sku, json!({"stock": 2, "reorder_quantity": 12}))
        .await;
    assert!(r.status == 201 || r.status == 200, "{}", r.body);
    let r = c
        .send(
            c.http
                .post(format!("{}/sales", c.base))
                .header("content-type", "application/json")
                .header("x-correlation-id", correlation_id)
                .body(json!({"sku": sku, "quantity": 2}).to_string()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.headers["x-correlation-id"], correlation_id);
    r.body["factory_order"]["id"]
        .as_str()
        .expect("the sale opened a factory order")
        .to_owned()
}

async fn alarms(c: &Client) -> Vec<Value> {
    let r = c.get("/ops/alarms").await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["alarms"].as_array().cloned().unwrap_or_default()
}

fn state(alarms: &[Value], name: &str) -> String {
    alarms
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no alarm {name}: {alarms:?}"))["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Waits until the alarm is in `want`; returns how long it took.
async fn wait_alarm(c: &Client, name: &str, want: &str) -> Duration {
    let started = Instant::now();
    eventually(WAIT, || async {
        (state(&alarms(c).await, name) == want).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("{name} never became {want}"));
    started.elapsed()
}

async fn post(c: &Client, path: &str) -> pipeline_tests::Reply {
    c.send(c.http.post(format!("{}{path}", c.base))).await
}

async fn set_factory_down(c: &Client, down: bool) {
    let r = c
        .post_json("/factory-sim/control", json!({ "down": down }))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stock_outs_correlation_id_is_on_the_lines_of_every_stage() {
    log_lines();
    let s = TestApp::spawn(Db::Sqlite).await;
    let c = &s.client;
    let cid = format!("obs-{}", uuid::Uuid::new_v4().simple());
    let id = stock_out(c, "cruller", &cid).await;
    c.wait_status(&id, "fulfilled").await;
    // The callback's request line is written after its response is sent.
    let lines = eventually(WAIT, || async {
        let lines: Vec<Value> = log_lines()
            .into_iter()
            .filter(|l| l["correlation_id"] == cid.as_str())
            .collect();
        lines
            .iter()
            .any(|l| l["route"] == "/factory/callbacks/{id}" && l["message"] == "request")
            .then_some(lines)
    })
    .await
    .expect("the callback's request line");
    let has = |what: &str, f: &dyn Fn(&Value) -> bool| {
        assert!(
            lines.iter().any(f),
            "no {what} line with correlation id {cid}:\n{}",
            lines
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    };
    has("sale request", &|l| {
        l["message"] == "request" && l["route"] == "/sales" && l["status"] == 201
    });
    has("publish", &|l| {
        l["message"] == "stock-out published" && l["outcome"] == "published"
    });
    has("orderer message", &|l| {
        l["message"] == "message handled"
            && l["outcome"] == "requested"
            && l["latency_ms"].is_number()
            && l["message_id"].is_string()
    });
    has("factory call", &|l| {
        l["message"] == "factory call" && l["outcome"] == "accepted" && l["latency_ms"].is_number()
    });
    has("factory (received side)", &|l| {
        l["message"] == "factory-sim: manufacture request" && l["outcome"] == "accepted"
    });
    has("restock", &|l| {
        l["message"] == "factory order fulfilled: restocked" && l["span"] == "callback"
    });
    has("callback request", &|l| {
        l["message"] == "request" && l["route"] == "/factory/callbacks/{id}" && l["status"] == 200
    });
    // Every line about this order carries the correlation id, and no line leaks a secret.
    for l in log_lines() {
        let text = l.to_string();
        if text.contains(&id) {
            assert_eq!(l["correlation_id"], cid.as_str(), "{text}");
        }
        assert!(
            !text.contains("token="),
            "a callback token in a log line: {text}"
        );
        assert!(
            !text.contains("test-admin-token"),
            "the admin token in a log line: {text}"
        );
        assert!(
            l["timestamp"].is_string() && l["level"].is_string(),
            "{text}"
        );
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn b_metrics_are_valid_embedded_metric_format() {
    log_lines();
    let s = TestApp::spawn_with(Db::Sqlite, |o| {
        o.factory_down = true;
        o.max_receive_count = 50;
    })
    .await;
    let c = &s.client;
    let id = stock_out(c, "bismarck", "obs-metrics").await;
    eventually(WAIT, || async {
        (s.shared()
            .sim
            .requests
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 1)
            .then_some(())
    })
    .await
    .expect("a failed factory call");
    set_factory_down(c, false).await;
    c.wait_status(&id, "fulfilled").await;
    let lines = metric_lines();
    assert!(!lines.is_empty(), "no metrics were written");
    let units: std::collections::HashMap<&str, &str> =
        inventory::metrics::METRICS.iter().copied().collect();
    let mut seen = std::collections::HashSet::new();
    for l in &lines {
        let aws = &l["_aws"];
        assert!(aws["Timestamp"].as_u64().is_some(), "{l}");
        let cw = aws["CloudWatchMetrics"]
            .as_array()
            .expect("CloudWatchMetrics");
        assert_eq!(cw.len(), 1, "{l}");
        assert_eq!(cw[0]["Namespace"], "DonutPipeline", "{l}");
        assert_eq!(
            cw[0]["Dimensions"],
            json!([["Service"]]),
            "low-cardinality: {l}"
        );
        assert_eq!(l["Service"], "devstack", "{l}");
        let metrics = cw[0]["Metrics"].as_array().expect("Metrics");
        assert!(!metrics.is_empty(), "{l}");
        for m in metrics {
            let name = m["Name"].as_str().expect("Name");
            let unit = units
                .get(name)
                .unwrap_or_else(|| panic!("unknown metric {name}: {l}"));
            assert_eq!(m["Unit"], *unit, "{name}: {l}");
            let value = &l[name];
            let numeric = value.is_number()
                || value.as_array().is_some_and(|a| {
                    !a.is_empty() && a.len() <= 100 && a.iter().all(Value::is_number)
                });
            assert!(numeric, "{name} has no numeric value: {l}");
            seen.insert(name.to_owned());
        }
    }
    for want in [
        "StockOuts",
        "FactoryCallLatency",
        "FactoryCallErrors",
        "OrdersRequested",
        "OutboxLag",
    ] {
        assert!(seen.contains(want), "{want} not emitted; saw {seen:?}");
    }
    s.stop().await;
}

async fn c_dlq_alarm_fires_within_seconds_and_clears_after_redrive(db: Db) {
    log_lines();
    let s = TestApp::spawn_with(db, |o| {
        o.factory_down = true;
        o.max_receive_count = 3;
    })
    .await;
    let c = &s.client;
    let cid = format!("obs-dlq-{}", uuid::Uuid::new_v4().simple());
    let id = stock_out(c, "jelly", &cid).await;
    eventually(WAIT, || async {
        (s.shared().dlq.depth() == 1).then_some(())
    })
    .await
    .expect("the message reaches the DLQ");
    let took = wait_alarm(c, "FactoryOrdersDLQNotEmpty", "ALARM").await;
    assert!(took < Duration::from_secs(3), "DLQ alarm took {took:?}");
    assert_eq!(state(&alarms(c).await, "FactoryOrderFailed"), "ALARM");
    let a = alarms(c).await;
    let dlq_alarm = a
        .iter()
        .find(|a| a["name"] == "FactoryOrdersDLQNotEmpty")
        .unwrap();
    assert_eq!(dlq_alarm["aws_alarm"], "FactoryOrdersDlqAlarm");
    // The ALARM log line (what a log-based alert would match) is written by the evaluator.
    eventually(WAIT, || async {
        log_lines()
            .iter()
            .any(|l| l["alarm"] == "FactoryOrdersDLQNotEmpty" && l["state"] == "ALARM")
            .then_some(())
    })
    .await
    .expect("an ALARM log line");
    // What the operator sees.
    let dlq = c.get("/ops/dlq").await.body;
    assert_eq!(dlq["depth"], 1, "{dlq}");
    let m = &dlq["messages"][0];
    assert_eq!(m["correlation_id"], cid.as_str(), "{m}");
    assert_eq!(m["factory_order_id"], id.as_str(), "{m}");
    assert!(m["reason"].as_str().unwrap().contains("503"), "{m}");
    let failed = c.get("/ops/factory-orders?status=failed").await.body;
    assert!(
        failed["factory_orders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["id"] == id.as_str()),
        "{failed}"
    );
    // The factory comes back; the operator redrives.
    set_factory_down(c, false).await;
    let r = post(c, "/ops/dlq/redrive").await;
    assert_eq!(r.body["moved"], 1, "{}", r.body);
    c.wait_status(&id, "fulfilled").await;
    let took = wait_alarm(c, "FactoryOrdersDLQNotEmpty", "OK").await;
    assert!(
        took < Duration::from_secs(3),
        "DLQ alarm cleared after {took:?}"
    );
    wait_alarm(c, "FactoryOrderFailed", "OK").await;
    eventually(WAIT, || async {
        log_lines()
            .iter()
            .any(|l| {
                l["alarm"] == "FactoryOrdersDLQNotEmpty"
                    && l["state"] == "OK"
                    && l["previous"] == "ALARM"
            })
            .then_some(())
    })
    .await
    .expect("an OK log line");
    let seen: Vec<String> = metric_lines()
        .iter()
        .flat_map(|l| {
            l["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|m| m["Name"].as_str().map(str::to_owned))
        .collect();
    for want in ["OrdersFailed", "DlqRedrives", "FactoryCallErrors"] {
        assert!(
            seen.iter().any(|n| n == want),
            "{want} not emitted: {seen:?}"
        );
    }
    s.stop().await;
}
both!(c_dlq_alarm_fires_within_seconds_and_clears_after_redrive);

async fn d_operator_retry_and_sku_history(db: Db) {
    log_lines();
    let s = TestApp::spawn_with(db, |o| {
        o.factory_down = true;
        o.max_receive_count = 2;
    })
    .await;
    let c = &s.client;
    let id = stock_out(c, "cronut", "obs-retry").await;
    c.wait_status(&id, "failed").await;
    wait_alarm(c, "FactoryOrderFailed", "ALARM").await;
    // The factory is back; the operator retries the failed order (its message stays in the DLQ).
    set_factory_down(c, false).await;
    let r = post(c, &format!("/ops/factory-orders/{id}/retry")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["previous_status"], "failed");
    assert_eq!(r.body["correlation_id"], "obs-retry");
    c.wait_status(&id, "fulfilled").await;
    wait_alarm(c, "FactoryOrderFailed", "OK").await;
    // A fulfilled order cannot be retried; an unknown one is 404; a bad id 400.
    let r = post(c, &format!("/ops/factory-orders/{id}/retry")).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (409, Some("conflict"))
    );
    let r = post(
        c,
        "/ops/factory-orders/00000000-0000-4000-8000-000000000000/retry",
    )
    .await;
    assert_eq!(r.status, 404);
    let r = post(c, "/ops/factory-orders/nope/retry").await;
    assert_eq!(r.status, 400);
    // The SKU's story.
    let h = c.get("/ops/skus/cronut/history").await;
    assert_eq!(h.status, 200, "{}", h.body);
    let h = h.body;
    assert_eq!(h["sales"]["count"], 1, "{h}");
    assert_eq!(h["sales"]["quantity"], 2, "{h}");
    assert_eq!(h["restocks"]["quantity"], 12, "{h}");
    assert_eq!(h["ledger"]["implied_initial"], 2, "{h}");
    let recent = &h["factory_orders"]["recent"][0];
    assert_eq!(recent["id"], id.as_str());
    let statuses: Vec<&str> = recent["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["pending", "failed", "pending", "requested", "fulfilled"],
        "{recent}"
    );
    assert_eq!(c.get("/ops/skus/no-such-sku/history").await.status, 404);
    assert_eq!(c.get("/ops/skus/bad%20sku/history").await.status, 400);
    // Stuck orders: requested and not completed.
    s.shared().hold_completions.send_replace(true);
    let id2 = stock_out(c, "old-fashioned", "obs-stuck").await;
    c.wait_status(&id2, "requested").await;
    let stuck = c
        .get("/ops/factory-orders?status=stuck&older_than_secs=0")
        .await
        .body;
    assert!(
        stuck["factory_orders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["id"] == id2.as_str() && o["correlation_id"] == "obs-stuck"),
        "{stuck}"
    );
    let r = c.get("/ops/factory-orders?status=lost").await;
    assert_eq!(r.status, 400);
    s.shared().hold_completions.send_replace(false);
    c.wait_status(&id2, "fulfilled").await;
    s.stop().await;
}
both!(d_operator_retry_and_sku_history);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn e_queue_age_alarm_fires_while_stock_outs_wait_and_clears() {
    log_lines();
    let s = TestApp::spawn_with(Db::Sqlite, |o| {
        o.factory_down = true;
        o.max_receive_count = 1000;
        o.queue_age_alarm_secs = 1;
    })
    .await;
    let c = &s.client;
    let id = stock_out(c, "beignet", "obs-age").await;
    let took = wait_alarm(c, "FactoryOrdersQueueAge", "ALARM").await;
    assert!(
        took < Duration::from_secs(5),
        "queue age alarm took {took:?}"
    );
    let a = alarms(c).await;
    let age = a
        .iter()
        .find(|a| a["name"] == "FactoryOrdersQueueAge")
        .unwrap();
    assert_eq!(age["aws_alarm"], "FactoryOrdersAgeAlarm");
    assert_eq!(state(&a, "FactoryOrdersDLQNotEmpty"), "OK");
    set_factory_down(c, false).await;
    c.wait_status(&id, "fulfilled").await;
    wait_alarm(c, "FactoryOrdersQueueAge", "OK").await;
    s.stop().await;
}
