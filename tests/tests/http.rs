//! HTTP-level contract tests: every status code of the API, with its JSON error body, through
//! the local stack (the same handler the Lambda functions run), on SQLite and MariaDB.

use pipeline_tests::both;
use pipeline_tests::{Db, TestApp};
use serde_json::json;

fn assert_error(r: &pipeline_tests::Reply, status: u16, code: &str) {
    assert_eq!(r.status, status, "body: {}", r.body);
    assert_eq!(r.body["error"], code, "body: {}", r.body);
    assert!(
        r.body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error bodies carry a message: {}",
        r.body
    );
}

async fn sales_contract(db: Db) {
    // The factory never completes during this test: the open order stays open.
    let s = TestApp::spawn_with(db, |o| o.factory_delay_ms = 600_000).await;
    let c = &s.client;
    let r = c
        .put_product("glazed", json!({"stock": 3, "reorder_quantity": 12}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["reorder_point"], 0);

    let r = c.sell("glazed", 2).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["sku"], "glazed");
    assert_eq!(r.body["quantity"], 2);
    assert_eq!(r.body["remaining_stock"], 1);
    assert!(r.body["id"].as_str().is_some_and(|id| id.len() == 36));
    assert!(r.body["factory_order"].is_null());
    assert!(r.headers.contains_key("x-correlation-id"));

    let r = c.sell("glazed", 2).await;
    assert_error(&r, 409, "out_of_stock");
    assert_eq!(r.body["sku"], "glazed");
    assert_eq!(r.body["available"], 1);
    let order_id = r.body["factory_order"]["id"].as_str().unwrap().to_owned();
    assert!(
        ["pending", "requested"].contains(&r.body["factory_order"]["status"].as_str().unwrap())
    );

    assert_error(&c.sell("no-such-donut", 1).await, 404, "unknown_sku");
    assert_error(&c.sell("../etc/passwd", 1).await, 400, "invalid_sku");
    assert_error(
        &c.sell("x'; DROP TABLE products;--", 1).await,
        400,
        "invalid_sku",
    );
    for q in [
        json!(0),
        json!(-1),
        json!(101),
        json!(1.5),
        json!("2"),
        json!(1e30),
    ] {
        let r = c
            .post_json("/sales", json!({"sku": "glazed", "quantity": q}))
            .await;
        assert_error(&r, 400, "invalid_quantity");
    }
    assert_error(
        &c.post_json("/sales", json!({"sku": "glazed"})).await,
        400,
        "invalid_request",
    );
    assert_error(
        &c.post_json(
            "/sales",
            json!({"sku": "glazed", "quantity": 1, "price": 0}),
        )
        .await,
        400,
        "invalid_request",
    );
    assert_error(
        &c.post_json("/sales", json!({"sku": 7, "quantity": 1}))
            .await,
        400,
        "invalid_request",
    );
    let raw = |body: &'static str, ct: Option<&'static str>| {
        let mut rb = c.http.post(format!("{}/sales", c.base)).body(body);
        if let Some(ct) = ct {
            rb = rb.header("content-type", ct);
        }
        rb
    };
    assert_error(
        &c.send(raw("{\"sku\":", Some("application/json"))).await,
        400,
        "invalid_json",
    );
    assert_error(
        &c.send(raw("", Some("application/json"))).await,
        400,
        "invalid_json",
    );
    assert_error(
        &c.send(raw(
            "{\"sku\":\"glazed\",\"sku\":\"x\",\"quantity\":1}",
            Some("application/json"),
        ))
        .await,
        400,
        "invalid_request",
    );
    assert_error(
        &c.send(raw("sku=glazed", Some("application/x-www-form-urlencoded")))
            .await,
        415,
        "unsupported_media_type",
    );
    assert_error(
        &c.send(raw("{}", None)).await,
        415,
        "unsupported_media_type",
    );
    let big = format!(
        "{{\"sku\":\"glazed\",\"quantity\":1,\"pad\":\"{}\"}}",
        "x".repeat(17 * 1024)
    );
    let r = c
        .send(
            c.http
                .post(format!("{}/sales", c.base))
                .header("content-type", "application/json")
                .body(big),
        )
        .await;
    assert_error(&r, 413, "payload_too_large");
    let bad_utf8 = c
        .send(
            c.http
                .post(format!("{}/sales", c.base))
                .header("content-type", "application/json")
                .body(vec![0xff, 0xfe, b'{']),
        )
        .await;
    assert_error(&bad_utf8, 400, "invalid_json");

    // Idempotency: a retry returns the original sale and never sells twice.
    c.put_product("maple", json!({"stock": 10})).await;
    let keyed = |q: i64| {
        c.http
            .post(format!("{}/sales", c.base))
            .header("content-type", "application/json")
            .header("idempotency-key", "order-42")
            .body(json!({"sku": "maple", "quantity": q}).to_string())
    };
    let first = c.send(keyed(3)).await;
    assert_eq!(first.status, 201);
    let again = c.send(keyed(3)).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(again.body["remaining_stock"], 7);
    assert_eq!(
        again
            .headers
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap()),
        Some("true")
    );
    assert_error(&c.send(keyed(4)).await, 422, "idempotency_key_reused");
    assert_eq!(
        c.get("/inventory/maple").await.body["stock"],
        7,
        "sold once"
    );

    // Reads.
    let inv = c.get("/inventory").await;
    assert_eq!(inv.status, 200);
    assert_eq!(inv.body["products"].as_array().unwrap().len(), 2);
    let g = c.get("/inventory/glazed").await;
    assert_eq!(g.status, 200);
    assert_eq!(
        (
            g.body["stock"].as_i64(),
            g.body["reorder_quantity"].as_i64()
        ),
        (Some(1), Some(12))
    );
    assert_eq!(
        g.body["open_factory_order"]["id"].as_str(),
        Some(order_id.as_str())
    );
    assert_error(&c.get("/inventory/nope").await, 404, "unknown_sku");
    assert_error(&c.get("/inventory/bad%20sku").await, 400, "invalid_sku");
    let o = c.get(&format!("/factory-orders/{order_id}")).await;
    assert_eq!(o.status, 200);
    assert_eq!(o.body["sku"], "glazed");
    assert_eq!(o.body["quantity"], 12);
    assert_eq!(o.body["transitions"][0]["status"], "pending");
    assert_error(&c.get("/factory-orders/not-an-id").await, 400, "invalid_id");
    assert_error(
        &c.get("/factory-orders/00000000-0000-4000-8000-000000000000")
            .await,
        404,
        "unknown_factory_order",
    );

    // Routing.
    assert_error(&c.get("/nowhere").await, 404, "not_found");
    let r = c.send(c.http.delete(format!("{}/sales", c.base))).await;
    assert_error(&r, 405, "method_not_allowed");
    assert_eq!(
        r.headers.get("allow").map(|v| v.to_str().unwrap()),
        Some("POST")
    );
    assert_eq!(c.get("/health").await.body["status"], "ok");

    // Correlation id adopted and echoed.
    let r = c
        .send(
            c.http
                .get(format!("{}/inventory/glazed", c.base))
                .header("x-correlation-id", "trace-me-1"),
        )
        .await;
    assert_eq!(
        r.headers
            .get("x-correlation-id")
            .map(|v| v.to_str().unwrap()),
        Some("trace-me-1")
    );
    s.stop().await;
}
both!(sales_contract, workers = 2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_requires_the_token() {
    let s = TestApp::spawn(Db::Sqlite).await;
    let c = &s.client;
    let put = |auth: Option<&str>, body: serde_json::Value| {
        let mut rb = c
            .http
            .put(format!("{}/admin/inventory/cruller", c.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        rb
    };
    let r = c.send(put(None, json!({"stock": 5}))).await;
    assert_error(&r, 401, "unauthorized");
    assert_eq!(
        r.headers
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap()),
        Some("Bearer")
    );
    assert_error(
        &c.send(put(Some("Basic abc"), json!({"stock": 5}))).await,
        401,
        "unauthorized",
    );
    assert_error(
        &c.send(put(Some("Bearer wrong"), json!({"stock": 5}))).await,
        403,
        "forbidden",
    );
    assert_error(
        &c.send(put(Some("Bearer test-admin-token-x"), json!({"stock": 5})))
            .await,
        403,
        "forbidden",
    );
    assert_eq!(
        c.get("/inventory").await.body["products"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "nothing created"
    );
    let ok = Some("Bearer test-admin-token");
    let r = c
        .send(put(
            ok,
            json!({"stock": 5, "name": "Cruller", "reorder_point": 2, "reorder_quantity": 30}),
        ))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        (r.body["name"].as_str(), r.body["stock"].as_i64()),
        (Some("Cruller"), Some(5))
    );
    let r = c.send(put(ok, json!({"stock": 9}))).await;
    assert_eq!(r.status, 200, "replaced");
    assert_eq!(
        (r.body["stock"].as_i64(), r.body["reorder_point"].as_i64()),
        (Some(9), Some(0))
    );
    assert_error(
        &c.send(put(ok, json!({"stock": -1}))).await,
        400,
        "invalid_request",
    );
    assert_error(
        &c.send(put(ok, json!({"stock": 1, "reorder_quantity": 0})))
            .await,
        400,
        "invalid_request",
    );
    assert_error(
        &c.send(put(ok, json!({"stock": 1, "colour": "pink"}))).await,
        400,
        "invalid_request",
    );
    let r = c
        .send(
            c.http
                .put(format!("{}/admin/inventory/bad%20sku", c.base))
                .header("authorization", "Bearer test-admin-token")
                .header("content-type", "application/json")
                .body("{\"stock\":1}"),
        )
        .await;
    assert_error(&r, 400, "invalid_sku");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_endpoint_validates_and_limits() {
    let s = TestApp::spawn(Db::Sqlite).await;
    let c = &s.client;
    let r = c
        .post_json(
            "/events",
            json!({"type": "page_view", "sku": "glazed", "properties": {"page": "/menu"}}),
        )
        .await;
    assert_eq!((r.status, r.body["accepted"].as_bool()), (202, Some(true)));
    assert_error(
        &c.post_json("/events", json!({"type": "Page View"})).await,
        400,
        "invalid_request",
    );
    assert_error(
        &c.post_json("/events", json!({"kind": "x"})).await,
        400,
        "invalid_request",
    );
    assert_error(
        &c.post_json("/events", json!({"type": "x", "sku": "../x"}))
            .await,
        400,
        "invalid_sku",
    );
    let big = json!({"type": "x", "properties": {"page": "y".repeat(5000)}});
    assert_error(&c.post_json("/events", big).await, 413, "payload_too_large");
    s.stop().await;
}
