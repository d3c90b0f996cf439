//! Faults: duplicates and out-of-order delivery.

use super::{GLAZED_ONE_ORDER, SUITE, settles_at};
use factory_orderer::orderer::{Handled, handle_batch, handle_record};
use inventory::domain::EventId;
use pipeline_tests::faults::{OrdererRig, Record, event_body, sqs_event, sqs_message};
use pipeline_tests::{Db, both};
use std::sync::atomic::Ordering;
use std::time::Duration;

async fn resend_before_original_and_duplicates(db: Db) {
    let mut rec = Record::new(
        SUITE,
        "resend_before_original_and_duplicates",
        "A relay re-send (new event id, same order) delivered before the original, then duplicates of both, then late copies after fulfilment",
    )
    .db(db);
    let r = OrdererRig::spawn(db, |o| o.factory_delay_ms = 50).await;
    r.app.shared().hold_completions.send_replace(true);
    let (id, e1) = r.intercepted_stock_out("glazed", 2, 20).await;
    let mut e2 = e1.clone();
    e2.event_id = EventId::new();
    e2.occurred_at += 60_000;
    let mut refs = Vec::new();
    for (mid, ev, rc) in [("m-e2", &e2, 1), ("m-e1", &e1, 1), ("m-e2", &e2, 2)] {
        match handle_record(&r.orderer, &OrdererRig::message(mid, ev, rc))
            .await
            .unwrap()
        {
            Handled::Requested { reference } => refs.push(reference),
            other => panic!("{mid}: {other:?}"),
        }
    }
    assert!(refs.windows(2).all(|w| w[0] == w[1]), "{refs:?}");
    let dup = handle_record(&r.orderer, &OrdererRig::message("m-e2", &e2, 3))
        .await
        .unwrap();
    assert!(
        matches!(dup, Handled::Skipped(why) if why.contains("duplicate")),
        "{dup:?}"
    );
    assert_eq!(r.app.shared().sim.batches.load(Ordering::SeqCst), 1);
    r.app.shared().hold_completions.send_replace(false);
    r.app.wait_status(&id, "fulfilled").await;
    let late = handle_batch(
        &r.orderer,
        sqs_event(vec![
            OrdererRig::message("late-e1", &e1, 1),
            OrdererRig::message("late-e2", &e2, 1),
        ]),
    )
    .await;
    assert!(late.batch_item_failures.is_empty());
    let calls = r.app.shared().sim.requests.load(Ordering::SeqCst);
    assert_eq!(calls, 3, "late copies after fulfilment call nothing");
    rec.saw(format!(
        "re-send before original: both requested the factory with the same key (same reference \
         {}); an exact duplicate of the latest event was skipped; late copies after fulfilment \
         acknowledged without a call ({calls} factory calls, 1 batch)",
        refs[0]
    ));
    rec.held(r.app.check(&GLAZED_ONE_ORDER).await);
    r.stop().await;
}
both!(resend_before_original_and_duplicates);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_message_delivered_concurrently() {
    let mut rec = Record::new(
        SUITE,
        "same_message_delivered_concurrently",
        "The same stock-out delivered 3 times in one batch and once more in a concurrent invocation",
    )
    .on("sqlite");
    let r = OrdererRig::spawn(Db::Sqlite, |o| o.factory_delay_ms = 50).await;
    let (id, e1) = r.intercepted_stock_out("glazed", 2, 20).await;
    let b = event_body(&e1);
    let batch = sqs_event(
        ["a", "b", "c"]
            .iter()
            .map(|m| sqs_message(m, Some(&b), 1))
            .collect(),
    );
    let other = sqs_event(vec![sqs_message("a", Some(&b), 2)]);
    let (x, y) = tokio::join!(
        handle_batch(&r.orderer, batch),
        handle_batch(&r.orderer, other)
    );
    assert!(x.batch_item_failures.is_empty() && y.batch_item_failures.is_empty());
    r.app.wait_status(&id, "fulfilled").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    settles_at(&r.app.shared().sim.completions, 1, "completions").await;
    rec.saw(format!(
        "4 concurrent deliveries: {} factory calls with one key, 1 batch, 1 completion, all \
         records acknowledged",
        r.app.shared().sim.requests.load(Ordering::SeqCst)
    ));
    rec.held(r.app.check(&GLAZED_ONE_ORDER).await);
    r.stop().await;
}

async fn completion_overtakes_the_status_update(db: Db) {
    let mut rec = Record::new(
        SUITE,
        "completion_overtakes_the_status_update",
        "The factory's completion callback arrives before the orderer records `requested`",
    )
    .db(db);
    let r = OrdererRig::spawn(db, |o| o.factory_delay_ms = 0).await;
    let (id, e1) = r.intercepted_stock_out("glazed", 2, 20).await;
    r.faulty
        .hold_mark_requested_until_fulfilled
        .store(true, Ordering::SeqCst);
    let h = handle_record(&r.orderer, &OrdererRig::message("m1", &e1, 1))
        .await
        .unwrap();
    assert!(matches!(h, Handled::Requested { .. }), "{h:?}");
    let (st, order) = r.app.order_status(&id).await;
    assert_eq!(st, "fulfilled", "not moved back to requested: {order}");
    let statuses: Vec<&str> = order["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["status"].as_str())
        .collect();
    assert_eq!(statuses, ["pending", "fulfilled"], "{order}");
    // A redelivery now is acknowledged without a call.
    let again = handle_record(&r.orderer, &OrdererRig::message("m1", &e1, 2))
        .await
        .unwrap();
    assert_eq!(again, Handled::Skipped("already fulfilled"));
    rec.saw(
        "pending -> fulfilled by the callback; the late `requested` update matched no open order \
         and changed nothing; a redelivery was skipped",
    );
    rec.held(r.app.check(&GLAZED_ONE_ORDER).await);
    r.stop().await;
}
both!(completion_overtakes_the_status_update);
