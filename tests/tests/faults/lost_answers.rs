//! Faults: the answer of a commit is lost (`StoreError::Ambiguous`, scripted by `LosingStore`
//! over SQLite): the sale, the admin PUT and the factory callback find out what happened
//! before they answer, and answer it; what cannot be learnt before the deadline is
//! `503 outcome_unknown` naming what to look up.

use super::SUITE;
use inventory::api::{AdminToken, Api, App, Function};
use inventory::capture::NoCapture;
use inventory::factory::CallbackSigner;
use lambda_http::{Body, Context, RequestExt};
use pipeline_tests::faults::{Lose, LosingStore, Record};
use pipeline_tests::{Db, store};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const ADMIN: &str = "lost-admin";
const SECRET: &str = "lost-callback-secret";

struct Rig {
    app: App,
    store: Arc<LosingStore>,
    _dir: tempfile::TempDir,
}

async fn rig() -> Rig {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LosingStore::new(store(Db::Sqlite, dir.path()).await);
    let app = App::new(Api {
        service: "lost-answers",
        serves: Function::ALL,
        store: store.clone(),
        publisher: None,
        admin: Some(AdminToken::new(ADMIN)),
        callbacks: Some(CallbackSigner::new(SECRET)),
        capture: Arc::new(NoCapture),
    });
    Rig {
        app,
        store,
        _dir: dir,
    }
}

struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

/// One request; `deadline_ms`: the Lambda deadline this far from now (else none, as locally).
async fn call(
    rig: &Rig,
    method: &str,
    uri: &str,
    body: Option<Value>,
    deadline_ms: Option<u64>,
) -> Answer {
    let mut req = lambda_http::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(body.map_or(Body::Empty, |b| Body::Text(b.to_string())))
        .expect("request");
    if let Some(ms) = deadline_ms {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64;
        let mut ctx = Context::default();
        ctx.deadline = now + ms;
        req = req.with_lambda_context(ctx);
    }
    let res = rig.app.handle(req).await;
    Answer {
        status: res.status().as_u16(),
        retry_after: res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: match res.body() {
            Body::Text(t) => serde_json::from_str(t).expect("JSON"),
            _ => Value::Null,
        },
    }
}

async fn stock(rig: &Rig, sku: &str) -> i64 {
    call(rig, "GET", &format!("/inventory/{sku}"), None, None)
        .await
        .body["stock"]
        .as_i64()
        .expect("stock")
}

async fn rows(rig: &Rig, sku: &str) -> usize {
    rig.store
        .sales_between(0, i64::MAX)
        .await
        .expect("sales")
        .iter()
        .filter(|s| s.sku == sku)
        .count()
}

use inventory::store::Reports;

#[tokio::test]
async fn a_lost_sale_answer_is_resolved_before_answering() {
    let mut rec = Record::new(
        SUITE,
        "a_lost_sale_answer_is_resolved_before_answering",
        "the connection is lost after / before the sale's commit; the database stays away a while; the retry is lost too; it never comes back before the deadline",
    )
    .on("sqlite");
    let rig = rig().await;
    let put = call(
        &rig,
        "PUT",
        "/admin/inventory/lost",
        Some(json!({"stock": 100})),
        None,
    )
    .await;
    assert_eq!(put.status, 201, "{}", put.body);
    let sell = || {
        call(
            &rig,
            "POST",
            "/sales",
            Some(json!({"sku": "lost", "quantity": 1})),
            None,
        )
    };

    // Committed, answer lost: the sale, found by its id.
    LosingStore::script(&rig.store.sells, &[Lose::AfterCommit]);
    let a = sell().await;
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.body["id"].as_str().expect("id").to_owned();
    assert_eq!(
        call(&rig, "GET", &format!("/sales/{id}"), None, None)
            .await
            .status,
        200
    );
    assert_eq!(
        (stock(&rig, "lost").await, rows(&rig, "lost").await),
        (99, 1)
    );

    // Not committed: sold once more, with the same id.
    LosingStore::script(&rig.store.sells, &[Lose::BeforeCommit]);
    let a = sell().await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(
        (stock(&rig, "lost").await, rows(&rig, "lost").await),
        (98, 2)
    );

    // Committed, and the database away for three reads: waited out.
    LosingStore::script(&rig.store.sells, &[Lose::AfterCommit]);
    rig.store.reads_down.store(3, Ordering::SeqCst);
    let a = sell().await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(
        (stock(&rig, "lost").await, rows(&rig, "lost").await),
        (97, 3)
    );

    // Not committed, and the retry's answer lost before its commit too: certainly not sold.
    LosingStore::script(&rig.store.sells, &[Lose::BeforeCommit, Lose::BeforeCommit]);
    let a = sell().await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (503, Some("unavailable")),
        "{}",
        a.body
    );
    assert_eq!(
        (stock(&rig, "lost").await, rows(&rig, "lost").await),
        (97, 3)
    );

    // Committed, and the database not back before Lambda's deadline: outcome_unknown, naming
    // the sale, which GET /sales/{id} shows once the database is back.
    LosingStore::script(&rig.store.sells, &[Lose::AfterCommit]);
    rig.store.reads_down.store(u32::MAX, Ordering::SeqCst);
    let started = Instant::now();
    let a = call(
        &rig,
        "POST",
        "/sales",
        Some(json!({"sku": "lost", "quantity": 1})),
        Some(1_600),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (503, Some("outcome_unknown")),
        "{}",
        a.body
    );
    assert_eq!(a.retry_after.as_deref(), Some("2"));
    assert!(
        took < Duration::from_millis(1_200),
        "answered before the deadline: {took:?}"
    );
    let unknown = a.body["sale_id"]
        .as_str()
        .expect("the sale's id")
        .to_owned();
    rig.store.reads_down.store(0, Ordering::SeqCst);
    let later = call(&rig, "GET", &format!("/sales/{unknown}"), None, None).await;
    assert_eq!(
        (later.status, later.body["id"].as_str()),
        (200, Some(unknown.as_str()))
    );
    assert_eq!(
        (stock(&rig, "lost").await, rows(&rig, "lost").await),
        (96, 4)
    );

    // The first attempt itself hangs after committing (a lock wait, a stalled connection) up
    // to Lambda's deadline: cut before it, outcome_unknown naming the sale, never a bare
    // timeout for a sale that was made.
    LosingStore::script(&rig.store.sells, &[Lose::StallAfterCommit]);
    let started = Instant::now();
    let a = call(
        &rig,
        "POST",
        "/sales",
        Some(json!({"sku": "lost", "quantity": 1})),
        Some(1_600),
    )
    .await;
    let stalled = started.elapsed();
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (503, Some("outcome_unknown")),
        "{}",
        a.body
    );
    assert!(
        stalled < Duration::from_millis(1_200),
        "answered before the deadline: {stalled:?}"
    );
    let hung = a.body["sale_id"]
        .as_str()
        .expect("the sale's id")
        .to_owned();
    let later = call(&rig, "GET", &format!("/sales/{hung}"), None, None).await;
    assert_eq!(
        (later.status, later.body["id"].as_str()),
        (200, Some(hung.as_str()))
    );
    assert_eq!(
        (stock(&rig, "lost").await, rows(&rig, "lost").await),
        (95, 5)
    );
    rec.saw(format!(
        "lost after the commit → 201 with the committed sale; lost before → retried with the same id, 201; \
         reads down 3 times → waited out, 201; retry lost too → 503 unavailable, nothing sold; \
         database away past the deadline → 503 outcome_unknown + Retry-After: 2 in {} ms, and \
         GET /sales/{{id}} then shows the sale; the first attempt hanging after its commit → \
         503 outcome_unknown in {} ms (before Lambda's deadline), GET /sales/{{id}} shows it",
        took.as_millis(),
        stalled.as_millis()
    ));
    rec.held(["lost: initial 100 - 5 sales == stock 95; 5 sales rows, each answered 201 or outcome_unknown naming it".to_owned()]);
}

#[tokio::test]
async fn a_lost_admin_put_or_restock_answer_is_resolved_before_answering() {
    let mut rec = Record::new(
        SUITE,
        "a_lost_admin_put_or_restock_answer_is_resolved_before_answering",
        "the connection is lost after / before the admin PUT's and the factory callback's commit",
    )
    .on("sqlite");
    let rig = rig().await;
    let put = |body: Value| call(&rig, "PUT", "/admin/inventory/cb", Some(body), None);
    LosingStore::script(&rig.store.puts, &[Lose::AfterCommit]);
    let a = put(json!({"stock": 3, "reorder_point": 1, "reorder_quantity": 5})).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        (
            a.body["stock"].as_i64(),
            a.body["reorder_quantity"].as_i64()
        ),
        (Some(3), Some(5))
    );
    LosingStore::script(&rig.store.puts, &[Lose::BeforeCommit]);
    let a = put(json!({"stock": 4, "reorder_point": 1, "reorder_quantity": 6})).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        (stock(&rig, "cb").await, a.body["reorder_quantity"].as_i64()),
        (4, Some(6))
    );

    // A stock-out opens an order; its completion's commit answer is lost, twice over.
    let sold = call(
        &rig,
        "POST",
        "/sales",
        Some(json!({"sku": "cb", "quantity": 3})),
        None,
    )
    .await;
    let order = sold.body["factory_order"]["id"]
        .as_str()
        .expect("an order")
        .to_owned();
    let token = CallbackSigner::new(SECRET).token(&order);
    let url = format!("/factory/callbacks/{order}?token={token}");
    let done = json!({"MessageAttributeProductId": "cb", "MessageAttributeProductCnt": 6});
    let complete = || call(&rig, "POST", &url, Some(done.clone()), None);
    LosingStore::script(&rig.store.fulfills, &[Lose::BeforeCommit]);
    let a = complete().await;
    assert_eq!(
        (a.status, a.body["restocked"].as_bool()),
        (200, Some(true)),
        "{}",
        a.body
    );
    assert_eq!(stock(&rig, "cb").await, 7);
    LosingStore::script(&rig.store.fulfills, &[Lose::AfterCommit]);
    let a = complete().await;
    assert_eq!(
        (a.status, a.body["restocked"].as_bool()),
        (200, Some(false)),
        "{}",
        a.body
    );
    assert_eq!(stock(&rig, "cb").await, 7, "restocked once");
    rec.saw("admin PUT lost after the commit → 200 with the product as written; lost before → written once more, 200; \
             callback lost before the commit → restocked once (200, restocked: true); its replay lost after → 200, restocked: false".to_owned());
    rec.held(["cb: 4 - 3 sold + 6 restocked == stock 7; one restock".to_owned()]);
}
