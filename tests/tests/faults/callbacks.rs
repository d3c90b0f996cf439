//! Faults: callbacks (beyond tests/pipeline.rs).

use super::{GLAZED_NO_BATCH, GLAZED_ONE_ORDER, SUITE};
use inventory::factory::CallbackSigner;
use pipeline_tests::faults::Record;
use pipeline_tests::{Db, TestApp, both};
use serde_json::json;

async fn concurrent_replays_and_token_variants(db: Db) {
    let mut rec = Record::new(
        SUITE,
        "concurrent_replays_and_token_variants",
        "16 simultaneous copies of the genuine callback; token padded/truncated/in a header/duplicated/for the uppercase id; wrong content type and oversize body with a valid token",
    )
    .db(db);
    let app = TestApp::spawn_with(db, |o| o.factory_delay_ms = 100_000).await;
    let c = app.client.clone();
    let id = c.stock_out("glazed", 2, 20).await;
    c.wait_status(&id, "requested").await;
    let signer = CallbackSigner::new("test-callback-secret");
    let good = signer.token(&id);
    let done = json!({"MessageAttributeProductId": "glazed", "MessageAttributeProductCnt": 20});
    let post = |query: String, ct: &str, b: String| {
        c.http
            .post(format!("{}/factory/callbacks/{}{query}", c.base, id))
            .header("content-type", ct)
            .body(b)
    };
    let j = "application/json";
    let cases: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        (
            "padded token",
            post(format!("?token={good}="), j, done.to_string()),
            403,
        ),
        (
            "truncated token",
            post(
                format!("?token={}", &good[..good.len() - 2]),
                j,
                done.to_string(),
            ),
            403,
        ),
        (
            "empty token",
            post("?token=".into(), j, done.to_string()),
            401,
        ),
        (
            "token in a header",
            post(String::new(), j, done.to_string())
                .header("authorization", format!("Bearer {good}")),
            401,
        ),
        (
            "bad token first",
            post(format!("?token=AAAA&token={good}"), j, done.to_string()),
            403,
        ),
        (
            "uppercase id's token",
            c.http
                .post(format!(
                    "{}/factory/callbacks/{}?token={}",
                    c.base,
                    id,
                    signer.token(&id.to_uppercase())
                ))
                .header("content-type", j)
                .body(done.to_string()),
            403,
        ),
        (
            "valid token, text/plain",
            post(format!("?token={good}"), "text/plain", done.to_string()),
            415,
        ),
        (
            "valid token, 20 KiB body",
            post(
                format!("?token={good}"),
                j,
                format!("{{\"pad\":\"{}\"}}", "x".repeat(20_000)),
            ),
            413,
        ),
        (
            "valid token, count 20.5",
            post(
                format!("?token={good}"),
                j,
                json!({"MessageAttributeProductId": "glazed", "MessageAttributeProductCnt": 20.5})
                    .to_string(),
            ),
            400,
        ),
        (
            "valid token, count \"-20\"",
            post(
                format!("?token={good}"),
                j,
                json!({"MessageAttributeProductId": "glazed", "MessageAttributeProductCnt": "-20"})
                    .to_string(),
            ),
            403,
        ),
    ];
    let mut seen = Vec::new();
    for (name, req, want) in cases {
        let r = c.send(req).await;
        assert_eq!(r.status, want, "{name}: {}", r.body);
        assert!(r.body["error"].is_string() && r.body["message"].is_string());
        seen.push(format!("{name} -> {want}"));
    }
    assert_eq!(
        c.get("/inventory/glazed").await.body["stock"],
        0,
        "nothing changed"
    );
    let mut replays = Vec::new();
    for _ in 0..16 {
        let (c, url, b) = (
            c.clone(),
            format!("{}/factory/callbacks/{id}?token={good}", c.base),
            done.to_string(),
        );
        replays.push(tokio::spawn(async move {
            c.send(
                c.http
                    .post(url)
                    .header("content-type", "application/json")
                    .body(b),
            )
            .await
        }));
    }
    let mut restocked = 0;
    for t in replays {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        if r.body["restocked"] == true {
            restocked += 1;
        }
    }
    assert_eq!(
        restocked, 1,
        "exactly one of the simultaneous copies restocks"
    );
    assert_eq!(c.get("/inventory/glazed").await.body["stock"], 20);
    rec.saw(format!(
        "{}; 16 simultaneous genuine callbacks: 16 x 200, exactly 1 restocked",
        seen.join(", ")
    ));
    rec.held(app.check(&GLAZED_ONE_ORDER).await);
    app.stop().await;
}
both!(concurrent_replays_and_token_variants);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn late_completion_for_a_failed_order_changes_nothing() {
    let mut rec = Record::new(
        SUITE,
        "late_completion_for_a_failed_order_changes_nothing",
        "A genuine completion arrives after the order was given up (failed)",
    )
    .on("sqlite");
    let app = TestApp::spawn_with(Db::Sqlite, |o| {
        o.factory_down = true;
        o.max_receive_count = 2;
    })
    .await;
    let id = app.stock_out("glazed", 2, 20).await;
    app.wait_status(&id, "failed").await;
    let token = CallbackSigner::new("test-callback-secret").token(&id);
    let r = app
        .post_json(
            &format!("/factory/callbacks/{id}?token={token}"),
            json!({"MessageAttributeProductId": "glazed", "MessageAttributeProductCnt": 20}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["restocked"].as_bool()),
        (200, Some(false)),
        "{}",
        r.body
    );
    assert_eq!(r.body["factory_order"]["status"], "failed");
    assert_eq!(app.get("/inventory/glazed").await.body["stock"], 0);
    rec.saw("200 {restocked: false}, order stays failed, stock unchanged (the FactoryOrderFailed alarm stays for an operator)");
    rec.held(app.check(&GLAZED_NO_BATCH).await);
    app.stop().await;
}
