//! Redelivery: an SQS message whose visibility timeout expires while the first
//! `factory-orderer` invocation is still working comes back, and a second invocation (another
//! execution environment, the event source mapping's other poller) processes it at the same
//! time. The factory is asked twice under one idempotency key (the factory order id) and makes
//! one batch; the restock happens once.
//!
//! Time compressed: the queue's visibility timeout is 2 s (the template's is 190 s, over six
//! times the function's timeout precisely so that this is rare) and the factory takes 4 s to
//! answer, so the first invocation is still waiting when the message comes back.

use crate::fault_stack::{self, FaultStack};
use crate::kit::eventually;
use crate::record::Record;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const SKU: &str = "redelivered";
const VISIBILITY_S: u64 = 2;
const FACTORY_LATENCY_MS: u64 = 4000;

/// One `message handled` line of the orderer for the order: when it started and ended (ms).
#[derive(Debug, Clone)]
struct Handling {
    receive_count: u64,
    outcome: String,
    start_ms: f64,
    end_ms: f64,
    invocation: String,
}

fn handlings(s: &FaultStack, order_id: &str) -> Vec<Handling> {
    s.json_lines("FactoryOrdererFunction")
        .into_iter()
        .filter(|l| l["message"] == "message handled" && l["factory_order_id"] == order_id)
        .filter_map(|l| {
            let end = chrono::DateTime::parse_from_rfc3339(l["timestamp"].as_str()?).ok()?;
            let end_ms = end.timestamp_millis() as f64;
            Some(Handling {
                receive_count: l["receive_count"].as_u64().unwrap_or(0),
                outcome: l["outcome"].as_str().unwrap_or("-").to_owned(),
                start_ms: end_ms - l["latency_ms"].as_f64().unwrap_or(0.0),
                end_ms,
                invocation: l["requestId"].as_str().unwrap_or("-").to_owned(),
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stock_out_redelivered_while_the_first_consumer_works_orders_and_restocks_once() {
    let mut rec = Record::new(
        "a_stock_out_redelivered_while_the_first_consumer_works_orders_and_restocks_once",
        "SQS redelivery: the stock-out message's visibility timeout (2 s) expires while the first \
         factory-orderer invocation still waits on a slow factory (4 s); a second invocation \
         takes the same message concurrently",
    );
    let s = fault_stack::start("redelivery", fault_stack::moto(), None, |o| {
        o.visibility_timeout = Some(VISIBILITY_S);
        // Two execution environments: the mapping's two pollers (MaximumConcurrency 2).
        o.instances.insert("FactoryOrdererFunction".into(), 2);
        o.params
            .insert("FactorySimLatencyMs".into(), FACTORY_LATENCY_MS.to_string());
        o.params.insert("FactoryTimeoutMs".into(), "15000".into());
        o.params.insert("FactorySimDelayMs".into(), "1000".into());
    })
    .await;

    // One donut, reorder 12: selling it opens one factory order (one stock-out message).
    let (st, b) = s
        .api
        .call(
            reqwest::Method::PUT,
            &format!("/admin/inventory/{SKU}"),
            Some(json!({"name":"Redelivered","stock":1,"reorder_point":0,"reorder_quantity":12})),
            Some(&s.admin),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    let (st, b) = s.api.sell(SKU, 1).await;
    assert_eq!(st, 201, "{b}");
    let order_id = b
        .pointer("/factory_order/id")
        .and_then(Value::as_str)
        .expect("the sale to zero opened a factory order")
        .to_owned();

    eventually(
        "stock back to 12 after the factory's callback",
        Duration::from_secs(90),
        || {
            let api = &s.api;
            async move {
                let (_, b) = api
                    .call(
                        reqwest::Method::GET,
                        &format!("/inventory/{SKU}"),
                        None,
                        None,
                    )
                    .await;
                (b["stock"] == 12).then_some(())
            }
        },
    )
    .await;
    // Quiet: every invocation that took the message has finished and the queue is empty.
    let sqs = aws_sdk_sqs::Client::new(&s.h.sdk);
    let queue = &s.h.queue_urls["FactoryOrdersQueue"];
    eventually(
        "the stock-out message deleted (none visible or in flight)",
        Duration::from_secs(30),
        || {
            let sqs = &sqs;
            async move {
                let a = sqs
                    .get_queue_attributes()
                    .queue_url(queue)
                    .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
                    .send()
                    .await
                    .ok()?;
                let n = |k: aws_sdk_sqs::types::QueueAttributeName| {
                    a.attributes()
                        .and_then(|m| m.get(&k))
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(1)
                };
                use aws_sdk_sqs::types::QueueAttributeName as Q;
                (n(Q::ApproximateNumberOfMessages) == 0
                    && n(Q::ApproximateNumberOfMessagesNotVisible) == 0)
                    .then_some(())
            }
        },
    )
    .await;
    // A late second completion would restock again within a few seconds: wait them out.
    tokio::time::sleep(Duration::from_secs(4)).await;

    // The orderer: the message was handled at least twice, two of them at the same time.
    let hs = handlings(&s, &order_id);
    let mut concurrent = None;
    for a in &hs {
        for b in &hs {
            if a.receive_count < b.receive_count && b.start_ms < a.end_ms {
                concurrent = Some((a.clone(), b.clone()));
            }
        }
    }
    let summary: Vec<String> = hs
        .iter()
        .map(|h| {
            format!(
                "receive {} → {} ({:.1} s)",
                h.receive_count,
                h.outcome,
                (h.end_ms - h.start_ms) / 1000.0
            )
        })
        .collect();
    rec.saw(format!(
        "factory-orderer handled the message {} times: {}",
        hs.len(),
        summary.join(", ")
    ));
    let (first, second) = concurrent
        .unwrap_or_else(|| panic!("no two handlings of the message overlapped in time: {hs:?}"));
    assert_ne!(
        first.invocation, second.invocation,
        "two invocations, not one"
    );
    rec.saw(format!(
        "receive {} began {:.1} s before receive {} ended: processed twice concurrently",
        second.receive_count,
        (first.end_ms - second.start_ms) / 1000.0,
        first.receive_count
    ));

    // The factory (factory-sim, one execution environment: its idempotency map is per
    // environment): every request under this order's key, one batch.
    let sim = s.json_lines("FactorySimFunction");
    let requests: Vec<&Value> = sim
        .iter()
        .filter(|l| l["message"] == "factory-sim: manufacture request")
        .collect();
    let keys: BTreeSet<&str> = requests
        .iter()
        .filter_map(|l| l["factory_order_id"].as_str())
        .collect();
    let batches = requests
        .iter()
        .filter(|l| l["outcome"] == "accepted" && l["repeat"] == false)
        .count();
    let repeats = requests
        .iter()
        .filter(|l| l["outcome"] == "accepted" && l["repeat"] == true)
        .count();
    rec.saw(format!(
        "the factory got {} request(s) under {} idempotency key(s): {batches} new batch, {repeats} answered as repeats",
        requests.len(),
        keys.len()
    ));
    assert_eq!(
        keys,
        BTreeSet::from([order_id.as_str()]),
        "one idempotency key"
    );
    assert_eq!(batches, 1, "the factory made one batch: {requests:?}");
    rec.held(format!(
        "one idempotency key, 1 batch ({} factory requests)",
        requests.len()
    ));

    // The database: one order, fulfilled; one restock row; stock 0 + 12.
    let mut c = s.db().await;
    let orders: Vec<(String, String)> =
        sqlx::query_as("SELECT id, status FROM factory_orders WHERE sku = ?")
            .bind(SKU)
            .fetch_all(&mut c)
            .await
            .expect("orders");
    assert_eq!(
        orders,
        vec![(order_id.clone(), "fulfilled".to_owned())],
        "exactly one factory order, fulfilled"
    );
    let restocks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM restocks WHERE sku = ?")
        .bind(SKU)
        .fetch_one(&mut c)
        .await
        .expect("restocks");
    let (_, inv) = s
        .api
        .call(
            reqwest::Method::GET,
            &format!("/inventory/{SKU}"),
            None,
            None,
        )
        .await;
    let stock = inv["stock"].as_i64().unwrap_or(-1);
    let sales: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sales WHERE sku = ?")
        .bind(SKU)
        .fetch_one(&mut c)
        .await
        .expect("sales");
    assert_eq!(restocks, 1, "one restock");
    assert_eq!(stock, 12, "1 - 1 sold + 12 restocked once");
    rec.held(format!(
        "1 factory order (fulfilled), {restocks} restock, stock {stock} = 1 - {sales} sold + 12"
    ));

    // Nothing reached the DLQ.
    let dlq = sqs
        .receive_message()
        .queue_url(&s.h.queue_urls["FactoryOrdersDlq"])
        .wait_time_seconds(0)
        .send()
        .await
        .expect("dlq");
    assert!(dlq.messages().is_empty(), "nothing in the DLQ");
    rec.held("queue drained, DLQ empty".to_owned());
}
