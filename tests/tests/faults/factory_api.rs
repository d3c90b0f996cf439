//! Faults: the Factory API misbehaves.

use super::{GLAZED_NO_BATCH, GLAZED_ONE_ORDER, SUITE, settles_at};
use factory_sim::sim::KnobsPatch;
use pipeline_tests::faults::{Accepted, Expect, Record, ScriptedFactory, Step, WAIT};
use pipeline_tests::{Db, TestApp, eventually};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn factory_timeouts_are_bounded_then_dlq_alarm_and_redrive_recovers() {
    let mut rec = Record::new(
        SUITE,
        "factory_timeouts_are_bounded_then_dlq_alarm_and_redrive_recovers",
        "Factory API slower than the client timeout (latency 600 ms > timeout 150 ms)",
    )
    .on("sqlite");
    let app = TestApp::spawn_with(Db::Sqlite, |o| {
        o.factory_latency_ms = 600;
        o.factory_timeout_ms = 150;
        o.max_receive_count = 3;
    })
    .await;
    let started = Instant::now();
    let id = app.stock_out("glazed", 2, 20).await;
    eventually(WAIT, || async {
        (app.shared().dlq.depth() == 1).then_some(())
    })
    .await
    .expect("the message reaches the DLQ after maxReceiveCount timeouts");
    let to_dlq = started.elapsed();
    let (st, body) = app.order_status(&id).await;
    assert_eq!(st, "failed", "{body}");
    assert_eq!(body["attempts"], 3, "one bounded call per delivery: {body}");
    let err = body["last_error"].as_str().unwrap_or_default();
    assert!(err.contains("timed out"), "{body}");
    assert_eq!(app.alarm("FactoryOrderFailed").await, "ALARM");
    assert_eq!(app.alarm("FactoryOrdersDLQNotEmpty").await, "ALARM");
    rec.saw(format!(
        "3 calls each cut at 150 ms; order failed after {} ms with last_error {err:?}; message \
         in the DLQ; FactoryOrderFailed and FactoryOrdersDLQNotEmpty in ALARM",
        to_dlq.as_millis()
    ));
    app.shared().sim.set(KnobsPatch {
        latency_ms: Some(0),
        ..Default::default()
    });
    assert_eq!(app.redrive().await, 1);
    app.wait_status(&id, "fulfilled").await;
    eventually(WAIT, || async {
        (app.alarm("FactoryOrderFailed").await == "OK"
            && app.alarm("FactoryOrdersDLQNotEmpty").await == "OK")
            .then_some(())
    })
    .await
    .expect("alarms clear");
    rec.saw("factory fast again + DLQ redrive: order reopened, fulfilled once, alarms back to OK");
    tokio::time::sleep(Duration::from_millis(500)).await;
    rec.held(app.check(&GLAZED_ONE_ORDER).await);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn factory_500s_are_retried_a_bounded_number_of_times() {
    let mut rec = Record::new(
        SUITE,
        "factory_500s_are_retried_a_bounded_number_of_times",
        "Factory API answers 500 to everything (failure_rate 1.0)",
    )
    .on("sqlite");
    let app = TestApp::spawn_with(Db::Sqlite, |o| {
        o.factory_failure_rate = 1.0;
        o.max_receive_count = 3;
    })
    .await;
    let id = app.stock_out("glazed", 2, 20).await;
    eventually(WAIT, || async {
        (app.shared().dlq.depth() == 1).then_some(())
    })
    .await
    .expect("DLQ after maxReceiveCount");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let calls = app.shared().sim.requests.load(Ordering::SeqCst);
    assert_eq!(calls, 3, "exactly maxReceiveCount calls, no retry storm");
    let (st, body) = app.order_status(&id).await;
    assert_eq!(st, "failed", "{body}");
    assert!(
        body["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("500"),
        "{body}"
    );
    assert_eq!(app.alarm("FactoryOrderFailed").await, "ALARM");
    assert_eq!(app.alarm("FactoryOrdersDLQNotEmpty").await, "ALARM");
    let dlq = app.get("/ops/dlq").await.body;
    let reason = dlq["messages"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("500"), "{reason}");
    rec.saw(format!(
        "{calls} factory calls (= maxReceiveCount), order failed, message in the DLQ with \
         reason {reason:?}, both alarms in ALARM"
    ));
    app.shared().sim.set(KnobsPatch {
        failure_rate: Some(0.0),
        ..Default::default()
    });
    assert_eq!(app.redrive().await, 1);
    app.wait_status(&id, "fulfilled").await;
    rec.saw("after the factory recovered, one redrive fulfilled the order");
    rec.held(app.check(&GLAZED_ONE_ORDER).await);
    app.stop().await;
}

/// The built-in stand-in has no 429 knob, so a scripted factory answers 429 here.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn factory_429_is_retried_with_the_same_idempotency_key() {
    let mut rec = Record::new(
        SUITE,
        "factory_429_is_retried_with_the_same_idempotency_key",
        "Factory API throttles (429, Retry-After) twice, then accepts",
    )
    .on("sqlite");
    let f = ScriptedFactory::start(
        vec![Step::Status(429), Step::Status(429), Step::Accept],
        Duration::from_millis(50),
    )
    .await;
    let app = TestApp::spawn_with(Db::Sqlite, |o| {
        o.factory_url = Some(f.base_url.clone());
        o.max_receive_count = 5;
    })
    .await;
    let id = app.stock_out("glazed", 2, 20).await;
    let body = app.wait_status(&id, "fulfilled").await;
    let keys = f.keys();
    // Three receives; a redelivery racing a slow call under load may add one more call.
    assert!(
        keys.len() >= 3,
        "two throttled calls, then accepted: {keys:?}"
    );
    let steps: Vec<Step> = f.log.lock().unwrap().iter().map(|(_, s)| *s).collect();
    assert_eq!(
        steps[..3],
        [Step::Status(429), Step::Status(429), Step::Accept],
        "{steps:?}"
    );
    assert!(
        keys.iter().all(|k| *k == id),
        "same idempotency key: {keys:?}"
    );
    assert_eq!(f.batches.load(Ordering::SeqCst), 1);
    // Counted when the callback's answer is back at the factory, just after `fulfilled`.
    settles_at(&f.completions, 1, "one completion").await;
    assert!(body["attempts"].as_i64() >= Some(3), "{body}");
    assert!(body["last_error"].is_null(), "cleared on success: {body}");
    assert_eq!(app.shared().dlq.depth(), 0);
    rec.saw(
        "429 counted as transient: redelivered after the visibility timeout, 3 calls all with \
         Idempotency-Key = order id, accepted on the 3rd, fulfilled, nothing in the DLQ",
    );
    rec.held(app.check_with(&f, &GLAZED_ONE_ORDER).await);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn factory_429_forever_ends_in_the_dlq() {
    let mut rec = Record::new(
        SUITE,
        "factory_429_forever_ends_in_the_dlq",
        "Factory API throttles (429) every call",
    )
    .on("sqlite");
    let f = ScriptedFactory::start(vec![Step::Status(429); 10], Duration::from_millis(50)).await;
    let app = TestApp::spawn_with(Db::Sqlite, |o| {
        o.factory_url = Some(f.base_url.clone());
        o.max_receive_count = 3;
    })
    .await;
    let id = app.stock_out("glazed", 2, 20).await;
    eventually(WAIT, || async {
        (app.shared().dlq.depth() == 1).then_some(())
    })
    .await
    .expect("DLQ");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (st, body) = app.order_status(&id).await;
    assert_eq!(st, "failed", "{body}");
    assert!(
        body["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("429"),
        "{body}"
    );
    assert_eq!(f.requests.load(Ordering::SeqCst), 3, "bounded");
    assert_eq!(app.alarm("FactoryOrderFailed").await, "ALARM");
    rec.saw(
        "3 calls (= maxReceiveCount), order failed with last_error naming 429, DLQ + \
         FactoryOrderFailed alarm",
    );
    rec.held(app.check_with(&f, &GLAZED_NO_BATCH).await);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flapping_factory_and_a_lost_acceptance_make_one_batch() {
    let mut rec = Record::new(
        SUITE,
        "flapping_factory_and_a_lost_acceptance_make_one_batch",
        "Factory flaps: 500, 429, accepts but answers after the client gave up (timeout), 503, then 202",
    )
    .on("sqlite");
    let f = ScriptedFactory::start(
        vec![
            Step::Status(500),
            Step::Status(429),
            Step::Hang(Duration::from_millis(500)),
            Step::Status(503),
            Step::Accept,
        ],
        Duration::from_millis(50),
    )
    .await;
    let app = TestApp::spawn_with(Db::Sqlite, |o| {
        o.factory_url = Some(f.base_url.clone());
        o.factory_timeout_ms = 150;
        o.max_receive_count = 8;
    })
    .await;
    let id = app.stock_out("glazed", 2, 20).await;
    app.wait_status(&id, "fulfilled").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let keys = f.keys();
    assert!(keys.len() >= 3, "{keys:?}");
    assert!(keys.iter().all(|k| *k == id), "{keys:?}");
    assert_eq!(f.batches.load(Ordering::SeqCst), 1, "one batch");
    settles_at(&f.completions, 1, "one completion").await;
    assert_eq!(app.shared().dlq.depth(), 0);
    rec.saw(format!(
        "{} calls, all with the same Idempotency-Key; the acceptance lost in the timeout was \
         completed by the factory; later calls were answered with the same reference; fulfilled \
         once, nothing in the DLQ",
        keys.len()
    ));
    rec.held(app.check_with(&f, &GLAZED_ONE_ORDER).await);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_factory_does_not_slow_sales_and_inflight_redeliveries_make_one_batch() {
    let mut rec = Record::new(
        SUITE,
        "slow_factory_does_not_slow_sales_and_inflight_redeliveries_make_one_batch",
        "Factory API very slow (2 s per call, under the 5 s timeout; visibility timeout 200 ms) during a flash sale",
    )
    .on("sqlite");
    let app = TestApp::spawn_with(Db::Sqlite, |o| {
        o.factory_latency_ms = 2000;
        o.factory_timeout_ms = 5000;
        o.orderer_concurrency = 3;
    })
    .await;
    app.shared().hold_completions.send_replace(true);
    let c = app.client.clone();
    c.put_product("hot", json!({"stock": 40, "reorder_quantity": 40}))
        .await;
    let budget = Arc::new(AtomicU64::new(120));
    let mut buyers = Vec::new();
    for _ in 0..8 {
        let (c, budget) = (c.clone(), budget.clone());
        buyers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while budget
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                let t = Instant::now();
                let r = c.sell("hot", 1).await;
                seen.push((r.status, t.elapsed(), r.body));
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for b in buyers {
        all.extend(b.await.unwrap());
    }
    let slowest = all.iter().map(|(_, d, _)| *d).max().unwrap();
    assert!(all.iter().all(|(s, _, _)| *s == 201 || *s == 409));
    let accepted: Vec<Accepted> = all
        .iter()
        .filter(|(s, _, _)| *s == 201)
        .filter_map(|(_, _, b)| Accepted::from_reply(b))
        .collect();
    assert_eq!(accepted.len(), 40);
    assert!(
        slowest < Duration::from_millis(1500),
        "sales never wait for the factory: slowest sale {slowest:?}"
    );
    let order = all
        .iter()
        .find_map(|(_, _, b)| b["factory_order"]["id"].as_str())
        .unwrap()
        .to_owned();
    c.wait_status(&order, "requested").await;
    // The redeliveries' calls answer up to 2 s after the first one.
    let calls = eventually(Duration::from_secs(5), || async {
        let n = app.shared().sim.requests.load(Ordering::SeqCst);
        (n >= 2).then_some(n)
    })
    .await
    .expect("the message was redelivered while its factory call was in flight");
    app.shared().hold_completions.send_replace(false);
    c.wait_status(&order, "fulfilled").await;
    rec.saw(format!(
        "120 buyers' requests: 40 sold, 80 refused, slowest sale {} ms while each factory call \
         took 2 s; the message was redelivered while its call was in flight ({calls} concurrent \
         calls, same key): one batch, fulfilled once",
        slowest.as_millis()
    ));
    rec.held(
        app.check(&Expect {
            initial: &[("hot", 40)],
            accepted: Some(&accepted),
            orders: &[("hot", 1)],
            batches: Some(1),
        })
        .await,
    );
    app.stop().await;
}
