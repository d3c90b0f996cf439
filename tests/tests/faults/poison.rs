//! Faults: poison messages.

use super::SUITE;
use factory_orderer::orderer::{Handled, handle_batch, handle_record};
use inventory::domain::{Sku, new_id};
use pipeline_tests::Db;
use pipeline_tests::faults::{
    Expect, OrdererRig, Record, event_body, failed_ids, sqs_event, sqs_message,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn poison_records_fail_alone_in_a_mixed_batch() {
    let mut rec = Record::new(
        SUITE,
        "poison_records_fail_alone_in_a_mixed_batch",
        "One SQS batch: 2 good stock-outs (raw and SNS-enveloped) + 12 poison records (bad JSON, empty, wrong/missing schema version, unknown order, bad ids, unknown fields, wrong types, poisoned SNS envelope, last receive)",
    )
    .on("sqlite");
    let r = OrdererRig::spawn(Db::Sqlite, |o| o.factory_delay_ms = 50).await;
    let (a, ea) = r.intercepted_stock_out("glazed", 2, 20).await;
    let (b, eb) = r.intercepted_stock_out("maple", 3, 30).await;
    let raw = serde_json::to_value(&ea).unwrap();
    let with = |k: &str, v: Value| {
        let mut x = raw.clone();
        x[k] = v;
        x.to_string()
    };
    let without = |k: &str| {
        let mut x = raw.clone();
        x.as_object_mut().unwrap().remove(k);
        x.to_string()
    };
    let sns =
        |m: String| json!({"Type": "Notification", "MessageId": "x", "Message": m}).to_string();
    let poison: Vec<(&str, Option<String>, u32)> = vec![
        ("not-json", Some("not json {".into()), 1),
        ("no-body", None, 1),
        ("blank", Some(String::new()), 1),
        ("array", Some("[1,2,3]".into()), 1),
        ("schema-v2", Some(with("schema_version", json!(2))), 1),
        ("schema-string", Some(with("schema_version", json!("1"))), 1),
        ("no-schema", Some(without("schema_version")), 1),
        (
            "unknown-order",
            Some(with("factory_order_id", json!(new_id()))),
            1,
        ),
        (
            "bad-order-id",
            Some(with("factory_order_id", json!("../../etc/passwd"))),
            1,
        ),
        ("extra-field", Some(with("injected", json!(true))), 1),
        ("wrong-type", Some(with("quantity", json!("lots"))), 1),
        ("sns-poison", Some(sns("not json".into())), 1),
        ("poison-last-receive", Some("garbage".into()), 5),
    ];
    let mut records: Vec<_> = poison
        .iter()
        .map(|(id, b, rc)| sqs_message(id, b.as_deref(), *rc))
        .collect();
    records.insert(3, OrdererRig::message("good-raw", &ea, 1));
    records.push(sqs_message("good-sns", Some(&sns(event_body(&eb))), 1));
    let n = records.len();
    let resp = handle_batch(&r.orderer, sqs_event(records)).await;
    let want: BTreeSet<String> = poison.iter().map(|(id, _, _)| id.to_string()).collect();
    assert_eq!(failed_ids(&resp), want, "exactly the poison records fail");
    assert_eq!(r.app.shared().sim.batches.load(Ordering::SeqCst), 2);
    r.app.wait_status(&a, "fulfilled").await;
    r.app.wait_status(&b, "fulfilled").await;
    rec.saw(format!(
        "batch of {n}: batchItemFailures = exactly the {} poison ids (SQS retries only them, \
         then the DLQ); both good records ordered and fulfilled; no panic",
        want.len()
    ));
    rec.held(
        r.app
            .check(&Expect {
                initial: &[("glazed", 2), ("maple", 3)],
                orders: &[("glazed", 1), ("maple", 1)],
                batches: Some(2),
                ..Default::default()
            })
            .await,
    );
    r.stop().await;
}

/// A well-formed event naming a real order but another product or count (a corrupt or forged
/// message) must not make the factory produce the wrong batch under that order's key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn event_not_matching_its_order_is_poison() {
    let mut rec = Record::new(
        SUITE,
        "event_not_matching_its_order_is_poison",
        "Stock-out event for a real order with an unknown SKU / another SKU / another quantity",
    )
    .on("sqlite");
    let r = OrdererRig::spawn(Db::Sqlite, |o| o.factory_delay_ms = 50).await;
    r.app.put_product("maple", json!({"stock": 10})).await;
    let (id, e1) = r.intercepted_stock_out("glazed", 2, 20).await;
    let mut unknown = e1.clone();
    unknown.sku = Sku::parse("no-such-sku").unwrap();
    let mut other = e1.clone();
    other.sku = Sku::parse("maple").unwrap();
    let mut qty = e1.clone();
    qty.quantity = 999_999;
    let resp = handle_batch(
        &r.orderer,
        sqs_event(vec![
            OrdererRig::message("unknown-sku", &unknown, 1),
            OrdererRig::message("other-sku", &other, 1),
            OrdererRig::message("other-qty", &qty, 1),
        ]),
    )
    .await;
    let calls = r.app.shared().sim.requests.load(Ordering::SeqCst);
    rec.saw(format!(
        "batchItemFailures {:?}; factory calls {calls}",
        failed_ids(&resp)
    ));
    assert_eq!(
        failed_ids(&resp).len(),
        3,
        "mismatching events are reported failed"
    );
    assert_eq!(
        calls, 0,
        "no factory request for a product/count the order does not have"
    );
    // The genuine event still works.
    let h = handle_record(&r.orderer, &OrdererRig::message("good", &e1, 1))
        .await
        .unwrap();
    assert!(matches!(h, Handled::Requested { .. }));
    r.app.wait_status(&id, "fulfilled").await;
    rec.saw("the genuine event then ordered and fulfilled the right batch");
    rec.held(
        r.app
            .check(&Expect {
                initial: &[("glazed", 2), ("maple", 10)],
                orders: &[("glazed", 1), ("maple", 0)],
                batches: Some(1),
                ..Default::default()
            })
            .await,
    );
    r.stop().await;
}
