//! The API's handlers against the in-memory store: every status a buyer, an operator or the
//! factory can get, in milliseconds and without a database (the same cases run over SQLite and
//! MariaDB in tests/tests/http.rs and the store contract suite).

use super::{AdminToken, Api, App, Function};
use crate::capture::NoCapture;
use crate::factory::CallbackSigner;
use crate::store::MemoryStore;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use std::sync::Arc;

const ADMIN: &str = "unit-admin-token";
const CALLBACK_SECRET: &str = "unit-callback-secret";

fn app() -> App {
    App::new(Api {
        service: "unit",
        serves: Function::ALL,
        store: Arc::new(MemoryStore::new()),
        publisher: None,
        admin: Some(AdminToken::new(ADMIN)),
        callbacks: Some(CallbackSigner::new(CALLBACK_SECRET)),
        capture: Arc::new(NoCapture),
    })
}

fn request(method: &str, uri: &str, body: Option<Value>, admin: bool) -> Request {
    let mut b = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if admin {
        b = b.header("authorization", format!("Bearer {ADMIN}"));
    }
    let body = body.map_or(Body::Empty, |v| Body::Text(v.to_string()));
    b.body(body).expect("a valid request")
}

async fn call(app: &App, req: Request) -> (u16, Value) {
    let res: Response<Body> = app.handle(req).await;
    let status = res.status().as_u16();
    let json = match res.body() {
        Body::Text(t) => serde_json::from_str(t).expect("a JSON body"),
        _ => Value::Null,
    };
    (status, json)
}

async fn stock(app: &App, sku: &str, stock: i64, reorder_point: i64) {
    let body = json!({"stock": stock, "reorder_point": reorder_point, "reorder_quantity": 6});
    let (status, _) = call(
        app,
        request("PUT", &format!("/admin/inventory/{sku}"), Some(body), true),
    )
    .await;
    assert!(status == 200 || status == 201, "admin PUT: {status}");
}

async fn sell(app: &App, sku: &str, quantity: i64) -> (u16, Value) {
    let body = json!({"sku": sku, "quantity": quantity});
    call(app, request("POST", "/sales", Some(body), false)).await
}

#[tokio::test]
async fn a_sale_decrements_and_the_stock_out_is_a_409_with_one_factory_order() {
    let app = app();
    stock(&app, "glazed", 3, 1).await;
    let (status, sale) = sell(&app, "glazed", 2).await;
    assert_eq!((status, sale["remaining_stock"].as_i64()), (201, Some(1)));
    let order = sale["factory_order"]["id"]
        .as_str()
        .expect("at the reorder point")
        .to_owned();
    let (status, refused) = sell(&app, "glazed", 2).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(
        refused["factory_order"]["id"].as_str(),
        Some(order.as_str())
    );
    let (status, _) = sell(&app, "nope", 1).await;
    assert_eq!(status, 404);
    let (status, inv) = call(&app, request("GET", "/inventory/glazed", None, false)).await;
    assert_eq!((status, inv["stock"].as_i64()), (200, Some(1)));
}

#[tokio::test]
async fn invalid_input_and_missing_credentials_are_4xx_json() {
    let app = app();
    let (status, body) = sell(&app, "glazed", 0).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].is_string() && body["message"].is_string());
    let put = request(
        "PUT",
        "/admin/inventory/glazed",
        Some(json!({"stock": 1})),
        false,
    );
    assert_eq!(call(&app, put).await.0, 401);
}

#[tokio::test]
async fn a_signed_completion_restocks_once_and_a_forged_one_changes_nothing() {
    let app = app();
    stock(&app, "glazed", 1, 0).await;
    let (_, sale) = sell(&app, "glazed", 1).await;
    let id = sale["factory_order"]["id"]
        .as_str()
        .expect("stock-out")
        .to_owned();
    let done = json!({"MessageAttributeProductId": "glazed", "MessageAttributeProductCnt": 6});
    let forged = format!("/factory/callbacks/{id}?token=AAAA");
    let (status, _) = call(&app, request("POST", &forged, Some(done.clone()), false)).await;
    assert_eq!(status, 403);
    let token = CallbackSigner::new(CALLBACK_SECRET).token(&id);
    let url = format!("/factory/callbacks/{id}?token={token}");
    let (status, first) = call(&app, request("POST", &url, Some(done.clone()), false)).await;
    assert_eq!((status, first["restocked"].as_bool()), (200, Some(true)));
    let (status, again) = call(&app, request("POST", &url, Some(done), false)).await;
    assert_eq!((status, again["restocked"].as_bool()), (200, Some(false)));
    let (_, inv) = call(&app, request("GET", "/inventory/glazed", None, false)).await;
    assert_eq!(inv["stock"].as_i64(), Some(6), "restocked exactly once");
}

#[tokio::test]
async fn the_admin_put_sets_buckets_and_can_keep_the_total() {
    let app = app();
    let put = |body: Value| request("PUT", "/admin/inventory/hot", Some(body), true);
    // Creating a product needs a stock.
    let (status, body) = call(&app, put(json!({"buckets": 4}))).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_request");
    assert!(body["message"].as_str().unwrap_or("").contains("stock"));
    let (status, body) = call(&app, put(json!({"stock": 10, "buckets": 4}))).await;
    assert_eq!(
        (status, &body["stock"], &body["buckets"]),
        (201, &json!(10), &json!(4))
    );
    assert_eq!(sell(&app, "hot", 3).await.0, 201);
    // No stock in the body: the total (7 after the sale) is kept, the bucket count changes.
    let (status, body) = call(&app, put(json!({"buckets": 16}))).await;
    assert_eq!(
        (status, &body["stock"], &body["buckets"]),
        (200, &json!(7), &json!(16))
    );
    for bad in [
        json!({"stock": 1, "buckets": 0}),
        json!({"stock": 1, "buckets": 65}),
    ] {
        let (status, body) = call(&app, put(bad)).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["message"].as_str().unwrap_or("").contains("buckets"));
    }
    let (status, body) = call(&app, request("GET", "/inventory/hot", None, false)).await;
    assert_eq!((status, &body["buckets"]), (200, &json!(16)));
}

#[tokio::test]
async fn a_sale_is_read_back_by_its_id() {
    let app = app();
    stock(&app, "glazed", 5, 0).await;
    let (_, sale) = sell(&app, "glazed", 2).await;
    let id = sale["id"].as_str().expect("an id");
    let (status, read) = call(&app, request("GET", &format!("/sales/{id}"), None, false)).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(
        (
            &read["id"],
            &read["sku"],
            &read["quantity"],
            &read["remaining_stock"]
        ),
        (&sale["id"], &json!("glazed"), &json!(2), &json!(3))
    );
    let unknown = crate::domain::new_id();
    let (status, body) = call(
        &app,
        request("GET", &format!("/sales/{unknown}"), None, false),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_sale"))
    );
    let (status, body) = call(&app, request("GET", "/sales/not-an-id", None, false)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_id")));
}
