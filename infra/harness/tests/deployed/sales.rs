//! The HTTP API through the local API Gateway: admin upserts with the token from Secrets
//! Manager, sales to stock-out, a forged callback, and the factory's signed callback that
//! restocks (SNS → SQS → factory-orderer → factory-sim → callback).

use crate::kit::{Api, eventually};
use lambda_harness::Harness;
use serde_json::{Value, json};
use std::time::Duration;

/// 2. Admin upsert, with the token from Secrets Manager; a wrong token is refused.
pub async fn admin_upsert_and_a_wrong_token(api: &Api, admin: &str) {
    let (s, b) = api
        .call(
            reqwest::Method::PUT,
            "/admin/inventory/glazed",
            Some(json!({"name":"Glazed","stock":3,"reorder_point":0,"reorder_quantity":12})),
            Some(admin),
        )
        .await;
    assert_eq!(s, 201, "a new product is created: {b}");
    let (s, _) = api
        .call(
            reqwest::Method::PUT,
            "/admin/inventory/glazed",
            Some(json!({"stock":99})),
            Some("wrong"),
        )
        .await;
    assert_eq!(s, 403, "a wrong admin token is refused");
}

/// 3. Sell to stock-out; the last sale opens exactly one factory order. Returns its id.
pub async fn sell_to_stock_out(api: &Api) -> String {
    let mut order_id = String::new();
    for i in 0..3 {
        let (s, b) = api.sell("glazed", 1).await;
        assert_eq!(s, 201, "sale {i}: {b}");
        if let Some(id) = b.pointer("/factory_order/id").and_then(Value::as_str) {
            order_id = id.to_owned();
        }
    }
    assert!(
        !order_id.is_empty(),
        "the sale to zero opened a factory order"
    );
    let (s, b) = api.sell("glazed", 1).await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(b["error"], "out_of_stock");
    order_id
}

/// 4. A forged callback is refused and changes nothing.
pub async fn a_forged_callback_is_refused(api: &Api, order_id: &str) {
    let (s, b) = api
        .call(
            reqwest::Method::POST,
            &format!("/factory/callbacks/{order_id}?token=forged"),
            Some(json!({"ProductId":"glazed","ProductCnt":12})),
            None,
        )
        .await;
    assert!(s == 401 || s == 403, "forged callback: {s} {b}");
}

/// 5. SNS → SQS → factory-orderer → factory-sim (Function URL) → signed callback → restock.
pub async fn the_factory_restocks(h: &Harness, api: &Api, order_id: &str) {
    let stock = eventually(
        "stock back to 12 after the factory's callback",
        Duration::from_secs(60),
        || {
            let api = &api;
            async move {
                let (_, b) = api
                    .call(reqwest::Method::GET, "/inventory/glazed", None, None)
                    .await;
                (b["stock"] == 12).then_some(b)
            }
        },
    )
    .await;
    assert_eq!(stock["stock"], 12);
    let (s, o) = api
        .call(
            reqwest::Method::GET,
            &format!("/factory-orders/{order_id}"),
            None,
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(o["status"], "fulfilled", "{o}");
    {
        use sqlx::Connection;
        let opts = h.db.root_options().database("donuts");
        let mut c = sqlx::MySqlConnection::connect_with(&opts)
            .await
            .expect("db");
        let orders: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM factory_orders WHERE sku = ?")
            .bind("glazed")
            .fetch_one(&mut c)
            .await
            .expect("count");
        assert_eq!(orders, 1, "exactly one factory order per stock-out");
    }
}
