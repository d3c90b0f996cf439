//! A sample of real responses of a started stack (one per error path of every route): each
//! status is declared for its operation, the `error` code is one the spec lists for it, the
//! body has the declared shape, and `X-Correlation-Id` is set.

use crate::probe::{probe, send_raw};
use crate::spec::{error_codes, find_op, json_schema, operations, resolve, response, shape, spec};
use inventory::api::ROUTES;
use inventory::factory::CallbackSigner;
use pipeline_tests::{Db, TestApp};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_responses_are_declared_by_the_spec() {
    let spec = spec();
    let ops = operations(&spec);
    // The factory stand-in is down, so the order opened below stays open for the callbacks.
    let stack = TestApp::spawn_with(Db::Sqlite, |o| o.factory_down = true).await;
    let client = &stack.client;
    let admin = format!("Bearer {}", stack.stack.admin_token);
    let signer = CallbackSigner::new("test-callback-secret");
    let sku = "oa-glazed";
    let r = client
        .put_product(
            sku,
            json!({"name": "OpenAPI glazed", "stock": 2, "reorder_point": 0, "reorder_quantity": 3}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = client.put_product("oa-idem", json!({"stock": 10})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let sold = client.sell(sku, 2).await;
    assert_eq!(sold.status, 201, "{}", sold.body);
    let order = sold.body["factory_order"]["id"]
        .as_str()
        .expect("selling out opens a factory order")
        .to_owned();
    let sale_id = sold.body["id"].as_str().expect("a sale id").to_owned();
    let unknown_order = uuid::Uuid::new_v4().to_string();
    let cb = |id: &str| format!("/factory/callbacks/{id}?token={}", signer.token(id));
    let completion = |product: &str, count: Value| {
        json!({"MessageGroupId": order, "MessageAttributeProductId": product,
               "MessageAttributeProductCnt": count, "MessageAttributeFactoryId": "donut-factory-1",
               "MessageAttributeRequester": "donut-shop"})
    };
    let big = "x".repeat(17 * 1024);
    const CB: &str = "/factory/callbacks/{id}";
    const ADMIN: &str = "/admin/inventory/{sku}";
    let put = |label, path: String, expect| probe(label, "PUT", ADMIN, path, expect);

    let probes = vec![
        probe("health", "GET", "/health", "/health", 200),
        probe("inventory", "GET", "/inventory", "/inventory", 200),
        probe("product", "GET", "/inventory/{sku}", format!("/inventory/{sku}"), 200),
        probe("unknown sku", "GET", "/inventory/{sku}", "/inventory/oa-nope", 404),
        probe("invalid sku", "GET", "/inventory/{sku}", "/inventory/-bad", 400),
        probe("sku %2F", "GET", "/inventory/{sku}", "/inventory/a%2Fb", 400),
        probe("order", "GET", "/factory-orders/{id}", format!("/factory-orders/{order}"), 200),
        probe("unknown order", "GET", "/factory-orders/{id}", format!("/factory-orders/{unknown_order}"), 404),
        probe("invalid id", "GET", "/factory-orders/{id}", "/factory-orders/not-an-id", 400),
        probe("sale read", "GET", "/sales/{id}", format!("/sales/{sale_id}"), 200),
        probe("unknown sale", "GET", "/sales/{id}", format!("/sales/{unknown_order}"), 404),
        probe("invalid sale id", "GET", "/sales/{id}", "/sales/not-an-id", 400),
        probe("sale", "POST", "/sales", "/sales", 201).json(json!({"sku": "oa-idem", "quantity": 1})),
        probe("sale charset", "POST", "/sales", "/sales", 201)
            .raw("application/json; charset=utf-8", json!({"sku": "oa-idem", "quantity": 1}).to_string()),
        probe("idempotent", "POST", "/sales", "/sales", 201)
            .json(json!({"sku": "oa-idem", "quantity": 2}))
            .header("idempotency-key", "oa-key-1"),
        probe("idempotent replay", "POST", "/sales", "/sales", 201)
            .json(json!({"sku": "oa-idem", "quantity": 2}))
            .header("idempotency-key", "oa-key-1"),
        probe("key reused", "POST", "/sales", "/sales", 422)
            .json(json!({"sku": "oa-idem", "quantity": 3}))
            .header("idempotency-key", "oa-key-1"),
        probe("bad key", "POST", "/sales", "/sales", 400)
            .json(json!({"sku": "oa-idem", "quantity": 1}))
            .header("idempotency-key", "has space"),
        probe("out of stock", "POST", "/sales", "/sales", 409).json(json!({"sku": sku, "quantity": 5})),
        probe("sale unknown sku", "POST", "/sales", "/sales", 404).json(json!({"sku": "oa-nope", "quantity": 1})),
        probe("sale invalid sku", "POST", "/sales", "/sales", 400).json(json!({"sku": "-bad", "quantity": 1})),
        probe("sale quantity 0", "POST", "/sales", "/sales", 400).json(json!({"sku": sku, "quantity": 0})),
        probe("sale quantity 1.5", "POST", "/sales", "/sales", 400).json(json!({"sku": sku, "quantity": 1.5})),
        probe("sale quantity string", "POST", "/sales", "/sales", 400).json(json!({"sku": sku, "quantity": "1"})),
        probe("sale missing field", "POST", "/sales", "/sales", 400).json(json!({"sku": sku})),
        probe("sale unknown field", "POST", "/sales", "/sales", 400).json(json!({"sku": sku, "quantity": 1, "x": 1})),
        probe("sale array", "POST", "/sales", "/sales", 400).json(json!([1])),
        // serde reads a struct from an array of its fields: this must not be a sale.
        probe("sale as array of fields", "POST", "/sales", "/sales", 400).json(json!(["oa-idem", 1])),
        // A key that is not visible ASCII must be refused, not ignored (a retry would sell twice).
        probe("non-ASCII key", "POST", "/sales", "/sales", 400)
            .json(json!({"sku": "oa-idem", "quantity": 1}))
            .header("idempotency-key", "clé"),
        probe("sale bad json", "POST", "/sales", "/sales", 400).raw("application/json", "{\"sku\":"),
        probe("sale empty", "POST", "/sales", "/sales", 400).raw("application/json", ""),
        probe("sale text/plain", "POST", "/sales", "/sales", 415).raw("text/plain", "{}"),
        probe("sale no content type", "POST", "/sales", "/sales", 415),
        probe("sale too large", "POST", "/sales", "/sales", 413)
            .json(json!({"sku": sku, "quantity": 1, "pad": big})),
        put("admin replace", format!("/admin/inventory/{sku}"), 200)
            .json(json!({"stock": 0, "reorder_point": 0, "reorder_quantity": 3}))
            .header("authorization", admin.clone()),
        put("admin no token", format!("/admin/inventory/{sku}"), 401).json(json!({"stock": 1})),
        put("admin wrong token", format!("/admin/inventory/{sku}"), 403)
            .json(json!({"stock": 1}))
            .header("authorization", "Bearer nope"),
        put("admin invalid sku", "/admin/inventory/-bad".into(), 400)
            .json(json!({"stock": 1}))
            .header("authorization", admin.clone()),
        put("admin dot-dot as sent", "/admin/inventory/..".into(), 400)
            .json(json!({"stock": 1}))
            .header("authorization", admin.clone()),
        // What an HTTP client makes of `/admin/inventory/..` (RFC 3986 dot-segment removal).
        put("admin dot-dot resolved", "/admin/".into(), 404)
            .json(json!({"stock": 1}))
            .header("authorization", admin.clone()),
        put("admin negative stock", format!("/admin/inventory/{sku}"), 400)
            .json(json!({"stock": -1}))
            .header("authorization", admin.clone()),
        put("admin blank name", format!("/admin/inventory/{sku}"), 400)
            .json(json!({"stock": 1, "name": "  "}))
            .header("authorization", admin.clone()),
        // Without a stock an existing product keeps its total; a new one cannot be created.
        put("admin new without stock", format!("/admin/inventory/{sku}-new"), 400)
            .json(json!({"name": "x"}))
            .header("authorization", admin.clone()),
        put("admin buckets out of range", format!("/admin/inventory/{sku}"), 400)
            .json(json!({"stock": 1, "buckets": 65}))
            .header("authorization", admin.clone()),
        put("admin unknown field", format!("/admin/inventory/{sku}"), 400)
            .json(json!({"stock": 1, "colour": "pink"}))
            .header("authorization", admin.clone()),
        put("admin huge reorder_point", format!("/admin/inventory/{sku}"), 400)
            .json(json!({"stock": 1, "reorder_point": 1_000_000_001i64}))
            .header("authorization", admin.clone()),
        put("admin bad json", format!("/admin/inventory/{sku}"), 400)
            .raw("application/json", "{")
            .header("authorization", admin.clone()),
        put("admin text/plain", format!("/admin/inventory/{sku}"), 415)
            .raw("text/plain", "{\"stock\":1}")
            .header("authorization", admin.clone()),
        put("admin too large", format!("/admin/inventory/{sku}"), 413)
            .json(json!({"stock": 1, "name": big}))
            .header("authorization", admin.clone()),
        probe("callback no token", "POST", CB, format!("/factory/callbacks/{order}"), 401)
            .json(completion(sku, json!(3))),
        probe("callback wrong token", "POST", CB, format!("/factory/callbacks/{order}?token=AAAA"), 403)
            .json(completion(sku, json!(3))),
        probe("callback another order's token", "POST", CB,
              format!("/factory/callbacks/{order}?token={}", signer.token(&unknown_order)), 403)
            .json(completion(sku, json!(3))),
        probe("callback other product", "POST", CB, cb(&order), 403).json(completion("oa-idem", json!(3))),
        probe("callback other count", "POST", CB, cb(&order), 403).json(completion(sku, json!(4))),
        probe("callback count not a number", "POST", CB, cb(&order), 400).json(completion(sku, json!("x"))),
        probe("callback missing count", "POST", CB, cb(&order), 400)
            .json(json!({"MessageAttributeProductId": sku})),
        probe("callback bad json", "POST", CB, cb(&order), 400).raw("application/json", "{"),
        probe("callback text/plain", "POST", CB, cb(&order), 415).raw("text/plain", "{}"),
        probe("callback too large", "POST", CB, cb(&order), 413)
            .json(json!({"MessageAttributeProductId": sku, "MessageAttributeProductCnt": 3, "pad": big})),
        probe("callback invalid id", "POST", CB, cb("not-an-id"), 400).json(completion(sku, json!(3))),
        probe("callback unknown order", "POST", CB, cb(&unknown_order), 404).json(completion(sku, json!(3))),
        // The legacy body: a numeric string count, no optional fields, an unknown field.
        probe("callback", "POST", CB, cb(&order), 200)
            .json(json!({"MessageAttributeProductId": sku, "MessageAttributeProductCnt": "3", "Extra": true})),
        probe("callback duplicate", "POST", CB, cb(&order), 200).json(completion(sku, json!(3))),
        probe("event", "POST", "/events", "/events", 202)
            .json(json!({"type": "page_view", "sku": sku, "properties": {"page": "/menu", "email": "x@y"}})),
        probe("event bad type", "POST", "/events", "/events", 400).json(json!({"type": "Page View"})),
        probe("event bad sku", "POST", "/events", "/events", 400).json(json!({"type": "page_view", "sku": "-x"})),
        probe("event unknown field", "POST", "/events", "/events", 400).json(json!({"type": "a", "x": 1})),
        probe("event bad json", "POST", "/events", "/events", 400).raw("application/json", "nope"),
        probe("event text/plain", "POST", "/events", "/events", 415).raw("text/plain", "{}"),
        probe("event over 4 KiB", "POST", "/events", "/events", 413)
            .json(json!({"type": "a", "properties": {"pad": "x".repeat(5000)}})),
    ];

    let mut problems = Vec::new();
    let mut covered: BTreeMap<(String, String), BTreeSet<u16>> = BTreeMap::new();
    for p in &probes {
        let (status, headers, body) = send_raw(stack.stack.addr, p).await;
        let what = format!("{} ({} {})", p.label, p.method, p.path);
        if status != p.expect {
            problems.push(format!(
                "{what}: status {status}, expected {} — {body}",
                p.expect
            ));
        }
        match headers.get("x-correlation-id") {
            Some(c) if !c.is_empty() && c.len() <= 128 => {}
            other => problems.push(format!("{what}: X-Correlation-Id is {other:?}")),
        }
        let o = find_op(&ops, p.method, p.template);
        covered
            .entry((p.method.to_owned(), p.template.to_owned()))
            .or_default()
            .insert(status);
        let Some(resp) = response(&spec, o.op, status) else {
            problems.push(format!(
                "{what}: {status} is not declared for {} {}",
                o.method, o.path
            ));
            continue;
        };
        let Some(schema) = json_schema(&spec, resp) else {
            problems.push(format!("{what}: {status} has no JSON schema"));
            continue;
        };
        if status >= 400 {
            let code = body["error"].as_str().unwrap_or_default();
            if let Some(codes) = error_codes(&spec, schema)
                && !codes.contains(code)
            {
                problems.push(format!(
                    "{what}: error `{code}` is not among {codes:?} declared for {status}"
                ));
            }
        }
        let (required, closed) = shape(&spec, schema);
        let obj = body.as_object().cloned().unwrap_or_default();
        for r in &required {
            if !obj.contains_key(r) {
                problems.push(format!("{what}: required `{r}` missing from {body}"));
            }
        }
        if let Some(allowed) = closed {
            for k in obj.keys() {
                if !allowed.contains(k) {
                    problems.push(format!("{what}: `{k}` is not a declared property ({body})"));
                }
            }
        }
        for (name, h) in resp["headers"].as_object().into_iter().flatten() {
            let h = resolve(&spec, h);
            if h["required"] == true && !headers.contains_key(&name.to_ascii_lowercase()) {
                problems.push(format!("{what}: required header {name} missing"));
            }
        }
    }

    // Outside any operation: an unknown path and a known path with another method.
    let codes: BTreeSet<&str> = spec
        .pointer("/components/schemas/Error/properties/error/enum")
        .and_then(Value::as_array)
        .expect("Error enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let nf = send_raw(
        stack.stack.addr,
        &probe("unknown path", "GET", "", "/no-such-route", 404),
    )
    .await;
    assert_eq!(nf.0, 404, "{}", nf.2);
    assert_eq!(nf.2["error"], "not_found");
    assert!(codes.contains("not_found") && nf.1.contains_key("x-correlation-id"));
    let na = send_raw(
        stack.stack.addr,
        &probe("wrong method", "DELETE", "", "/sales", 405),
    )
    .await;
    assert_eq!(na.0, 405, "{}", na.2);
    assert_eq!(na.2["error"], "method_not_allowed");
    assert_eq!(na.1.get("allow").map(String::as_str), Some("POST"));
    assert!(codes.contains("method_not_allowed") && na.1.contains_key("x-correlation-id"));

    // The sample reached every route.
    for r in ROUTES {
        assert!(
            covered.contains_key(&(r.method.to_string(), r.path.to_string())),
            "no probe for {} {}",
            r.method,
            r.path
        );
    }
    stack.stop().await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
