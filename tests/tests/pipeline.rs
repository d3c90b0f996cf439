//! End-to-end tests of the stock-out pipeline on the local stack: sale → outbox → topic →
//! queue (+DLQ) → factory-orderer → factory stand-in → signed callback → restock.

use inventory::domain::{FactoryOrderId, OrderStatus};
use inventory::factory::CallbackSigner;
use pipeline_tests::both;
use pipeline_tests::{Db, TestApp, assert_ledger, eventually};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

async fn flash_sale(db: Db) {
    let s = TestApp::spawn_with(db, |o| o.factory_delay_ms = 100).await;
    // The factory finishes the batch only after the sale (so "exactly the stock" is exact).
    s.shared().hold_completions.send_replace(true);
    let c = s.client.clone();
    c.put_product("hot", json!({"stock": 50, "reorder_quantity": 50}))
        .await;
    let attempts = Arc::new(AtomicI64::new(500));
    let mut buyers = Vec::new();
    for _ in 0..64 {
        let (c, attempts) = (c.clone(), attempts.clone());
        buyers.push(tokio::spawn(async move {
            let (mut ok, mut refused, mut orders) = (0, 0, std::collections::HashSet::new());
            while attempts.fetch_sub(1, Ordering::SeqCst) > 0 {
                let r = c.sell("hot", 1).await;
                match r.status {
                    201 => ok += 1,
                    409 => refused += 1,
                    other => panic!("unexpected {other}: {}", r.body),
                }
                if let Some(id) = r.body["factory_order"]["id"].as_str() {
                    orders.insert(id.to_owned());
                }
            }
            (ok, refused, orders)
        }));
    }
    let (mut ok, mut refused, mut orders) = (0, 0, std::collections::HashSet::new());
    for b in buyers {
        let (o, r, ids) = b.await.unwrap();
        ok += o;
        refused += r;
        orders.extend(ids);
    }
    assert_eq!(ok, 50, "exactly the stock is sold");
    assert_eq!(ok + refused, 500);
    assert_eq!(orders.len(), 1, "exactly one factory order: {orders:?}");
    let order = orders.into_iter().next().unwrap();
    c.wait_status(&order, "requested").await;
    s.shared().hold_completions.send_replace(false);
    c.wait_status(&order, "fulfilled").await;
    assert_eq!(
        s.shared().sim.batches.load(Ordering::SeqCst),
        1,
        "the factory made one batch"
    );
    let p = c.get("/inventory/hot").await;
    assert_eq!(p.body["stock"], 50, "restocked by the order's quantity");
    assert_eq!(c.sell("hot", 1).await.status, 201, "sales resume");
    assert_ledger(s.store(), &[("hot", 50)]).await;
    s.stop().await;
}
both!(flash_sale);

async fn factory_down_then_back(db: Db) {
    let s = TestApp::spawn_with(db, |o| {
        o.factory_down = true;
        o.max_receive_count = 50;
    })
    .await;
    let c = &s.client;
    let id = c.stock_out("glazed", 3, 20).await;
    // Several failed deliveries while the factory is down; the order stays open.
    eventually(WAIT, || async {
        (s.shared().sim.requests.load(Ordering::SeqCst) >= 3).then_some(())
    })
    .await
    .expect("retried while down");
    let (st, body) = c.order_status(&id).await;
    assert_eq!(st, "pending");
    assert!(body["attempts"].as_i64().unwrap() >= 2, "{body}");
    assert!(
        body["last_error"].as_str().unwrap().contains("503"),
        "{body}"
    );
    s.shared().sim.set(factory_sim::sim::KnobsPatch {
        down: Some(false),
        ..Default::default()
    });
    c.wait_status(&id, "fulfilled").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.shared().sim.batches.load(Ordering::SeqCst), 1);
    assert_eq!(
        c.get("/inventory/glazed").await.body["stock"],
        20,
        "restocked once"
    );
    assert_ledger(s.store(), &[("glazed", 3)]).await;
    s.stop().await;
}
both!(factory_down_then_back);

async fn failing_factory_ends_in_dlq_then_redrive_recovers(db: Db) {
    let s = TestApp::spawn_with(db, |o| {
        o.factory_down = true;
        o.max_receive_count = 3;
    })
    .await;
    let c = &s.client;
    let id = c.stock_out("glazed", 2, 20).await;
    eventually(WAIT, || async {
        (s.shared().dlq.depth() == 1).then_some(())
    })
    .await
    .expect("message reaches the DLQ after maxReceiveCount");
    let (st, body) = c.order_status(&id).await;
    assert_eq!(st, "failed", "{body}");
    assert_eq!(body["attempts"], 3);
    let alarms = c.get("/ops/alarms").await.body;
    let state = |name: &str| {
        alarms["alarms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(state("FactoryOrdersDLQNotEmpty"), "ALARM");
    assert_eq!(state("FactoryOrderFailed"), "ALARM");
    let dlq = c.get("/ops/dlq").await.body;
    assert_eq!(dlq["depth"], 1);
    let reason = dlq["messages"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("failed") && reason.contains("503"),
        "{reason}"
    );
    // The factory comes back; an operator redrives the DLQ: the order is fulfilled once.
    s.shared().sim.set(factory_sim::sim::KnobsPatch {
        down: Some(false),
        ..Default::default()
    });
    let r = c
        .send(c.http.post(format!("{}/ops/dlq/redrive", c.base)))
        .await;
    assert_eq!(r.body["moved"], 1);
    c.wait_status(&id, "fulfilled").await;
    let alarms = c.get("/ops/alarms").await.body;
    assert!(
        alarms["alarms"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["state"] == "OK"),
        "{alarms}"
    );
    assert_ledger(s.store(), &[("glazed", 2)]).await;
    s.stop().await;
}
both!(failing_factory_ends_in_dlq_then_redrive_recovers);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn poison_messages_go_to_the_dlq_without_blocking_the_batch() {
    let s = TestApp::spawn_with(Db::Sqlite, |o| o.max_receive_count = 2).await;
    let c = &s.client;
    for body in ["not json", "{\"schema_version\":9}", "{}"] {
        s.shared().queue.send(body.to_owned(), Default::default());
    }
    let unknown = json!({"schema_version":1,"event_id":"e","factory_order_id":"00000000-0000-4000-8000-000000000000","sku":"x","quantity":1,"correlation_id":"c","occurred_at":0});
    s.shared()
        .queue
        .send(unknown.to_string(), Default::default());
    let id = c.stock_out("glazed", 2, 20).await;
    c.wait_status(&id, "fulfilled").await;
    eventually(WAIT, || async {
        (s.shared().dlq.depth() == 4).then_some(())
    })
    .await
    .expect("all four poison messages in the DLQ");
    let dlq = c.get("/ops/dlq").await.body;
    let reasons: Vec<String> = dlq["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["reason"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        reasons
            .iter()
            .filter(|r| r.starts_with("poison message"))
            .count()
            == 3,
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("unknown factory order")),
        "{reasons:?}"
    );
    assert_eq!(s.shared().queue.depth(), 0);
    s.stop().await;
}

async fn duplicate_deliveries_have_one_effect(db: Db) {
    let s = TestApp::spawn_with(db, |o| o.factory_delay_ms = 400).await;
    let c = &s.client;
    // Take the message the pipeline would deliver and deliver it three more times.
    s.shared().topic.down.store(true, Ordering::SeqCst);
    let id = c.stock_out("glazed", 2, 20).await;
    let outbox = s.store().unpublished(i64::MAX, 10).await.unwrap();
    assert_eq!(outbox.len(), 1);
    let attrs: std::collections::HashMap<String, String> =
        [("event_id".to_owned(), outbox[0].id.to_string())].into();
    for _ in 0..3 {
        s.shared()
            .queue
            .send(outbox[0].payload.clone(), attrs.clone());
    }
    s.shared().topic.down.store(false, Ordering::SeqCst);
    c.wait_status(&id, "fulfilled").await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // let the relay's copy arrive too
    assert_eq!(
        s.shared().sim.batches.load(Ordering::SeqCst),
        1,
        "one batch at the factory"
    );
    assert_eq!(
        s.shared().sim.completions.load(Ordering::SeqCst),
        1,
        "one completion"
    );
    let l = assert_ledger(s.store(), &[("glazed", 2)]).await;
    assert_eq!(l[0].restocked, 20, "restocked once");
    // A late, out-of-order copy after fulfilment is acknowledged and ignored.
    s.shared().queue.send(outbox[0].payload.clone(), attrs);
    eventually(WAIT, || async {
        (s.shared().queue.depth() == 0).then_some(())
    })
    .await
    .unwrap();
    assert_eq!(s.shared().sim.batches.load(Ordering::SeqCst), 1);
    assert_eq!(s.shared().dlq.depth(), 0);
    s.stop().await;
}
both!(duplicate_deliveries_have_one_effect);

async fn forged_tampered_and_replayed_callbacks_change_nothing(db: Db) {
    let s = TestApp::spawn_with(db, |o| o.factory_delay_ms = 100_000).await;
    let c = &s.client;
    let a = c.stock_out("glazed", 2, 20).await;
    let b = c.stock_out("maple", 2, 20).await;
    c.wait_status(&a, "requested").await;
    let good = CallbackSigner::new("test-callback-secret");
    let forger = CallbackSigner::new("guessed-secret");
    let body = |sku: &str, n: i64| json!({"MessageGroupId": a, "MessageAttributeProductId": sku, "MessageAttributeProductCnt": n, "MessageAttributeFactoryId": "f", "MessageAttributeRequester": "r"});
    let post = |id: &str, token: Option<String>, b: serde_json::Value| {
        let url = match token {
            Some(t) => format!("{}/factory/callbacks/{id}?token={t}", c.base),
            None => format!("{}/factory/callbacks/{id}", c.base),
        };
        c.http
            .post(url)
            .header("content-type", "application/json")
            .body(b.to_string())
    };
    let r = c.send(post(&a, None, body("glazed", 20))).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    let r = c
        .send(post(&a, Some(forger.token(&a)), body("glazed", 20)))
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (403, Some("forbidden"))
    );
    let r = c
        .send(post(&a, Some(good.token(&b)), body("glazed", 20)))
        .await;
    assert_eq!(r.status, 403, "another order's token");
    let r = c
        .send(post(&a, Some(good.token(&a)), body("maple", 20)))
        .await;
    assert_eq!(r.status, 403, "tampered product");
    let r = c
        .send(post(&a, Some(good.token(&a)), body("glazed", 999)))
        .await;
    assert_eq!(r.status, 403, "tampered count");
    let unknown = "00000000-0000-4000-8000-000000000000";
    let r = c
        .send(post(unknown, Some(good.token(unknown)), body("glazed", 20)))
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (404, Some("unknown_factory_order"))
    );
    assert_eq!(
        c.get("/inventory/glazed").await.body["stock"],
        0,
        "nothing changed"
    );
    // The genuine completion restocks once; its replays are 200 no-ops.
    let r = c
        .send(post(&a, Some(good.token(&a)), body("glazed", 20)))
        .await;
    assert_eq!(
        (r.status, r.body["restocked"].as_bool()),
        (200, Some(true)),
        "{}",
        r.body
    );
    for _ in 0..3 {
        let r = c
            .send(post(&a, Some(good.token(&a)), body("glazed", 20)))
            .await;
        assert_eq!(
            (r.status, r.body["restocked"].as_bool()),
            (200, Some(false))
        );
        assert_eq!(r.body["factory_order"]["status"], "fulfilled");
    }
    assert_eq!(c.get("/inventory/glazed").await.body["stock"], 20);
    assert_eq!(c.order_status(&b).await.0, "requested", "order b untouched");
    assert_ledger(s.store(), &[("glazed", 2), ("maple", 2)]).await;
    s.stop().await;
}
both!(forged_tampered_and_replayed_callbacks_change_nothing);

async fn crash_between_commit_and_publish_is_recovered_by_the_relay(db: Db) {
    let s = TestApp::spawn(db).await;
    let c = &s.client;
    // The publish after commit fails (as if the process died right after the commit).
    s.shared().topic.down.store(true, Ordering::SeqCst);
    let id = c.stock_out("glazed", 2, 20).await;
    assert_eq!(
        s.store().unpublished(i64::MAX, 10).await.unwrap().len(),
        1,
        "left in the outbox"
    );
    assert_eq!(s.shared().queue.depth(), 0, "nothing was published");
    s.shared().topic.down.store(false, Ordering::SeqCst);
    c.wait_status(&id, "fulfilled").await;
    assert!(
        s.store()
            .unpublished(i64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_ledger(s.store(), &[("glazed", 2)]).await;
    s.stop().await;
}
both!(crash_between_commit_and_publish_is_recovered_by_the_relay);

/// Stock-out with no completion: the relay re-sends (same idempotency key), then fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stuck_order_is_resent_then_failed_and_alarmed() {
    let s = TestApp::spawn_with(Db::Sqlite, |o| {
        o.factory_delay_ms = 10_000_000; // the factory never completes
        o.order_deadline_secs = 1;
        o.max_order_attempts = 2;
    })
    .await;
    let c = &s.client;
    let id = c.stock_out("glazed", 2, 20).await;
    let body = c.wait_status(&id, "failed").await;
    assert_eq!(body["attempts"], 2, "{body}");
    let notes: Vec<&str> = body["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["note"].as_str())
        .collect();
    assert!(notes.iter().any(|n| n.contains("re-sending")), "{notes:?}");
    assert_eq!(
        s.shared().sim.batches.load(Ordering::SeqCst),
        1,
        "same idempotency key: one batch"
    );
    let typed = FactoryOrderId::parse(&id).unwrap();
    let o = s.store().factory_order(&typed).await.unwrap().unwrap();
    assert_eq!(o.status, OrderStatus::Failed);
    let alarms = s.stack.evaluate_alarms().await;
    assert!(
        alarms
            .iter()
            .any(|a| a.name == "FactoryOrderFailed" && a.state == "ALARM")
    );
    s.stop().await;
}
