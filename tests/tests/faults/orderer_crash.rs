//! Faults: crash between the factory call and the status update.

use super::{GLAZED_ONE_ORDER, SUITE, settles_at};
use factory_orderer::orderer::{Handled, handle_batch, handle_record};
use pipeline_tests::faults::{OrdererRig, Record, failed_ids, sqs_event};
use pipeline_tests::{Db, both};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

async fn crash_after_factory_call_then_redelivery(db: Db) {
    let mut rec = Record::new(
        SUITE,
        "crash_after_factory_call_then_redelivery",
        "Orderer dies after the factory accepted, before `requested` is stored; SQS redelivers before the completion",
    )
    .db(db);
    let r = OrdererRig::spawn(db, |o| o.factory_delay_ms = 50).await;
    r.app.shared().hold_completions.send_replace(true);
    let (id, e1) = r.intercepted_stock_out("glazed", 2, 20).await;
    r.faulty.fail_mark_requested.store(1, Ordering::SeqCst);
    let first = handle_batch(
        &r.orderer,
        sqs_event(vec![OrdererRig::message("m1", &e1, 1)]),
    )
    .await;
    assert_eq!(failed_ids(&first), BTreeSet::from(["m1".to_owned()]));
    assert_eq!(r.app.shared().sim.batches.load(Ordering::SeqCst), 1);
    let (st, _) = r.app.order_status(&id).await;
    assert_eq!(st, "pending", "the update was lost");
    let second = handle_batch(
        &r.orderer,
        sqs_event(vec![OrdererRig::message("m1", &e1, 2)]),
    )
    .await;
    assert!(second.batch_item_failures.is_empty());
    assert_eq!(r.app.shared().sim.requests.load(Ordering::SeqCst), 2);
    assert_eq!(
        r.app.shared().sim.accepted_orders(),
        1,
        "same idempotency key"
    );
    let (st, o) = r.app.order_status(&id).await;
    assert_eq!(st, "requested", "{o}");
    r.app.shared().hold_completions.send_replace(false);
    r.app.wait_status(&id, "fulfilled").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    settles_at(&r.app.shared().sim.completions, 1, "completions").await;
    rec.saw(
        "record reported failed; SQS redelivery called the factory again with the same key \
         (2 calls, 1 batch, same reference), stored `requested`; one completion, restocked once",
    );
    rec.held(r.app.check(&GLAZED_ONE_ORDER).await);
    r.stop().await;
}
both!(crash_after_factory_call_then_redelivery);

async fn crash_after_factory_call_completion_first(db: Db) {
    let mut rec = Record::new(
        SUITE,
        "crash_after_factory_call_completion_first",
        "Orderer dies after the factory accepted; the completion arrives before SQS redelivers",
    )
    .db(db);
    let r = OrdererRig::spawn(db, |o| o.factory_delay_ms = 0).await;
    let (id, e1) = r.intercepted_stock_out("glazed", 2, 20).await;
    r.faulty.fail_mark_requested.store(1, Ordering::SeqCst);
    let first = handle_batch(
        &r.orderer,
        sqs_event(vec![OrdererRig::message("m1", &e1, 1)]),
    )
    .await;
    assert_eq!(failed_ids(&first).len(), 1);
    r.app.wait_status(&id, "fulfilled").await;
    let again = handle_record(&r.orderer, &OrdererRig::message("m1", &e1, 2))
        .await
        .unwrap();
    assert_eq!(again, Handled::Skipped("already fulfilled"));
    assert_eq!(r.app.shared().sim.requests.load(Ordering::SeqCst), 1);
    rec.saw(
        "the pending order was fulfilled by the callback; the redelivery was acknowledged \
         without calling the factory (1 call, 1 batch)",
    );
    rec.held(r.app.check(&GLAZED_ONE_ORDER).await);
    r.stop().await;
}
both!(crash_after_factory_call_completion_first);
