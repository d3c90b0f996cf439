//! Faults: a lost answer, retried.

use super::SUITE;
use pipeline_tests::faults::{Accepted, Expect, Record};
use pipeline_tests::{Db, TestApp};
use serde_json::json;

async fn idempotent_retry_after_sell_out_replays_the_sale(db: Db) {
    let mut rec = Record::new(
        SUITE,
        "idempotent_retry_after_sell_out_replays_the_sale",
        "A client's answer is lost (timeout) and it retries with the same Idempotency-Key after the last donut was sold",
    )
    .db(db);
    let app = TestApp::spawn_with(db, |o| o.factory_delay_ms = 100_000).await;
    app.put_product("glazed", json!({"stock": 3, "reorder_quantity": 20}))
        .await;
    let sale = |key: &str, q: i64| {
        app.http
            .post(format!("{}/sales", app.base))
            .header("content-type", "application/json")
            .header("idempotency-key", key.to_owned())
            .body(json!({"sku": "glazed", "quantity": q}).to_string())
    };
    let first = app.send(sale("k-1", 3)).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let retry = app.send(sale("k-1", 3)).await;
    rec.saw(format!(
        "retry after sell-out answered {} {}",
        retry.status,
        retry.body["error"].as_str().unwrap_or("(sale)")
    ));
    assert_eq!(
        retry.status, 201,
        "the original sale is replayed, not refused: {}",
        retry.body
    );
    assert_eq!(retry.body["id"], first.body["id"]);
    let reused = app.send(sale("k-1", 1)).await;
    assert_eq!(
        (reused.status, reused.body["error"].as_str()),
        (422, Some("idempotency_key_reused")),
        "{}",
        reused.body
    );
    rec.saw("replayed with Idempotent-Replayed (same sale id); same key + other body -> 422");
    let accepted: Vec<Accepted> = Accepted::from_reply(&first.body).into_iter().collect();
    rec.held(
        app.check(&Expect {
            initial: &[("glazed", 3)],
            accepted: Some(&accepted),
            orders: &[("glazed", 1)],
            ..Default::default()
        })
        .await,
    );
    app.stop().await;
}
mod idempotent_retry_after_sell_out_replays_the_sale {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::idempotent_retry_after_sell_out_replays_the_sale(pipeline_tests::Db::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn mysql() {
        super::idempotent_retry_after_sell_out_replays_the_sale(pipeline_tests::Db::MySql).await
    }
}
