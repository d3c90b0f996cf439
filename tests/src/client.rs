//! The tests' HTTP client over the local stack, with typed helpers for the calls the tests
//! repeat (sell, put a product, read an order, wait for its status, open a stock-out, ...).

use serde_json::{Value, json};

use crate::faults::WAIT;
use crate::{Stack, eventually};

/// A small HTTP client for the tests.
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
    pub admin: String,
}

pub struct Reply {
    pub status: u16,
    pub body: serde_json::Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Client {
    pub fn new(stack: &Stack) -> Self {
        Client {
            base: stack.base_url.clone(),
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(128)
                .build()
                .expect("client"),
            admin: stack.admin_token.clone(),
        }
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let res = req.send().await.expect("request sent");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("status {status}: body is not JSON: {text:?}"));
        Reply {
            status,
            body,
            headers,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> Reply {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
    }

    pub async fn sell(&self, sku: &str, quantity: i64) -> Reply {
        self.post_json(
            "/sales",
            serde_json::json!({"sku": sku, "quantity": quantity}),
        )
        .await
    }

    pub async fn put_product(&self, sku: &str, body: serde_json::Value) -> Reply {
        self.send(
            self.http
                .put(format!("{}/admin/inventory/{sku}", self.base))
                .header("authorization", format!("Bearer {}", self.admin))
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
    }
}

/// Typed helpers over the API and the local ops endpoints.
impl Client {
    /// `GET /inventory/{sku}`.
    pub async fn inventory(&self, sku: &str) -> Reply {
        self.get(&format!("/inventory/{sku}")).await
    }

    /// `POST {path}` with no body.
    pub async fn post(&self, path: &str) -> Reply {
        self.send(self.http.post(format!("{}{path}", self.base)))
            .await
    }

    /// The status of a factory order and the whole order (asserts `200`).
    pub async fn order_status(&self, id: &str) -> (String, Value) {
        let r = self.get(&format!("/factory-orders/{id}")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        (
            r.body["status"].as_str().unwrap_or_default().to_owned(),
            r.body,
        )
    }

    /// Waits (up to [`WAIT`]) until the order is in `want`; returns the order.
    pub async fn wait_status(&self, id: &str, want: &str) -> Value {
        eventually(WAIT, || async {
            let (s, body) = self.order_status(id).await;
            (s == want).then_some(body)
        })
        .await
        .unwrap_or_else(|| panic!("order {id} never reached {want}"))
    }

    /// Creates `sku` with `stock` and sells all of it: one stock-out; returns the order id.
    pub async fn stock_out(&self, sku: &str, stock: i64, reorder_quantity: i64) -> String {
        let r = self
            .put_product(
                sku,
                json!({"stock": stock, "reorder_quantity": reorder_quantity}),
            )
            .await;
        assert!(r.status == 201 || r.status == 200, "{}", r.body);
        let r = self.sell(sku, stock).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["factory_order"]["id"]
            .as_str()
            .expect("a stock-out opens an order")
            .to_owned()
    }

    /// The state of a local alarm (`GET /ops/alarms`), `missing` when there is none.
    pub async fn alarm(&self, name: &str) -> String {
        let alarms = self.get("/ops/alarms").await.body;
        alarms["alarms"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["name"] == name))
            .and_then(|a| a["state"].as_str())
            .unwrap_or("missing")
            .to_owned()
    }

    /// `POST /ops/dlq/redrive`; how many messages it moved back.
    pub async fn redrive(&self) -> i64 {
        self.post("/ops/dlq/redrive").await.body["moved"]
            .as_i64()
            .unwrap_or_default()
    }
}
