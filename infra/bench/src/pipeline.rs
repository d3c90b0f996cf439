//! Section 2, stock-out pipeline latency on the local stack (fast timers,
//! `Options::for_tests`), on SQLite and on MariaDB:
//! - stock-out → factory accepted: K products of stock 1 are sold out one after the other; each
//!   sale opens a factory order; we wait for it to be `requested` and take the order's own
//!   transitions, `pending.at` (the sale's transaction) → `requested.at` (written once the
//!   factory stand-in accepted the call: outbox publish → topic → queue → factory-orderer →
//!   factory → `mark_requested`). Also measured from the client: sale response → `requested`
//!   observed by polling `GET /factory-orders/{id}` every millisecond.
//! - callback → stock visible: the factory stand-in never calls back on its own (huge delay);
//!   we POST the signed completion to the order's callback URL ourselves and then
//!   `GET /inventory/{sku}`; the figure is from sending the callback to reading the restocked
//!   stock.

use crate::flash::http_client;
use crate::stats::{Lat, ms, summarise_ms};
use devstack::{Options, Stack};
use inventory::domain::{FactoryOrderId, OrderStatus};
use inventory::factory::CallbackSigner;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

const SECRET: &str = "bench-callback-secret";
const REORDER_QUANTITY: i64 = 10;

#[derive(Debug, Clone)]
pub struct Result {
    pub backend: &'static str,
    /// `pending.at` → `requested.at` (database timestamps, millisecond resolution).
    pub commit_to_accepted: Lat,
    /// Sale response received → order seen `requested` (client clock, 1 ms polling).
    pub response_to_requested: Lat,
    /// Sale request latency (the stock-out sale itself).
    pub stockout_sale: Lat,
    /// Callback sent → callback answered.
    pub callback: Lat,
    /// Callback sent → `GET /inventory/{sku}` shows the restocked stock.
    pub callback_to_visible: Lat,
    pub errors: Vec<String>,
}

async fn send(req: reqwest::RequestBuilder) -> std::result::Result<(u16, Value), String> {
    let res = req.send().await.map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let text = res.text().await.map_err(|e| e.to_string())?;
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((status, body))
}

pub async fn run(
    backend: &'static str,
    database_url: Option<String>,
    k: usize,
    scratch: &Path,
) -> Result {
    let dir = tempfile::tempdir_in(scratch).expect("temp dir");
    let mut o = Options::for_tests(dir.path().to_path_buf());
    o.database_url = database_url;
    o.admin_token = "bench-admin-token".into();
    o.callback_secret = Some(SECRET.into());
    o.factory_url = None;
    o.factory_timeout_ms = 5000;
    o.order_deadline_secs = 3600;
    o.max_order_attempts = 5;
    o.db_max_connections = 16;
    // The stand-in accepts at once and never calls back: the callback is ours to send.
    o.factory_delay_ms = 3_600_000;
    let stack = Stack::start(o).await.expect("devstack starts");
    let base = stack.base_url.clone();
    let http = http_client(8);
    let admin = "Bearer bench-admin-token";
    let mut errors = Vec::new();
    let skus: Vec<String> = (0..k).map(|i| format!("stockout-{i}")).collect();
    for sku in &skus {
        let r = send(
            http.put(format!("{base}/admin/inventory/{sku}"))
                .header("authorization", admin)
                .header("content-type", "application/json")
                .body(
                    json!({"stock": 1, "reorder_point": 0, "reorder_quantity": REORDER_QUANTITY})
                        .to_string(),
                ),
        )
        .await;
        if !matches!(r, Ok((200 | 201, _))) {
            errors.push(format!("PUT {sku}: {r:?}"));
        }
    }

    let (mut commit_to_accepted, mut response_to_requested, mut sale_lat) =
        (Vec::new(), Vec::new(), Vec::new());
    let mut orders: Vec<(String, String)> = Vec::new();
    for sku in &skus {
        let t0 = Instant::now();
        let r = send(
            http.post(format!("{base}/sales"))
                .header("content-type", "application/json")
                .body(json!({"sku": sku, "quantity": 1}).to_string()),
        )
        .await;
        let t_resp = Instant::now();
        sale_lat.push(ms(t_resp - t0));
        let id = match &r {
            Ok((201, body)) => body["factory_order"]["id"]
                .as_str()
                .and_then(|s| FactoryOrderId::parse(s).ok()),
            _ => None,
        };
        let Some(id) = id else {
            errors.push(format!("stock-out sale of {sku} opened no order: {r:?}"));
            continue;
        };
        let deadline = t_resp + Duration::from_secs(10);
        let mut seen = None;
        while Instant::now() < deadline {
            match send(http.get(format!("{base}/factory-orders/{id}"))).await {
                Ok((200, body)) if body["status"] == "requested" => {
                    seen = Some(Instant::now());
                    break;
                }
                Ok((200, _)) => {}
                other => {
                    errors.push(format!("GET order {id}: {other:?}"));
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let Some(seen) = seen else {
            errors.push(format!("order {id} of {sku} not requested within 10 s"));
            continue;
        };
        response_to_requested.push(ms(seen - t_resp));
        match stack.store().factory_order(&id).await {
            Ok(Some(order)) => {
                let at = |s: OrderStatus| {
                    order
                        .transitions
                        .iter()
                        .find(|t| t.status == s)
                        .map(|t| t.at)
                };
                match (at(OrderStatus::Pending), at(OrderStatus::Requested)) {
                    (Some(p), Some(q)) => commit_to_accepted.push((q - p) as f64),
                    _ => errors.push(format!("order {id}: transitions {:?}", order.transitions)),
                }
                orders.push((id.to_string(), order.correlation_id.to_string()));
            }
            other => errors.push(format!("order {id}: {other:?}")),
        }
    }

    let signer = CallbackSigner::new(SECRET);
    let (mut callback, mut visible) = (Vec::new(), Vec::new());
    for ((id, correlation_id), sku) in orders.iter().zip(&skus) {
        let url = signer.callback_url(&base, id, correlation_id);
        let body = json!({
            "MessageGroupId": id,
            "MessageAttributeProductId": sku,
            "MessageAttributeProductCnt": REORDER_QUANTITY,
            "MessageAttributeFactoryId": "donut-factory-1",
            "MessageAttributeRequester": "donut-shop"
        });
        let t0 = Instant::now();
        let r = send(
            http.post(url)
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await;
        let t_cb = Instant::now();
        if !matches!(&r, Ok((200, b)) if b["restocked"] == true) {
            errors.push(format!("callback {id}: {r:?}"));
            continue;
        }
        let r = send(http.get(format!("{base}/inventory/{sku}"))).await;
        let t_vis = Instant::now();
        if !matches!(&r, Ok((200, b)) if b["stock"] == REORDER_QUANTITY) {
            errors.push(format!("stock of {sku} after the callback: {r:?}"));
            continue;
        }
        callback.push(ms(t_cb - t0));
        visible.push(ms(t_vis - t0));
    }
    stack.stop().await;
    Result {
        backend,
        commit_to_accepted: summarise_ms(commit_to_accepted),
        response_to_requested: summarise_ms(response_to_requested),
        stockout_sale: summarise_ms(sale_lat),
        callback: summarise_ms(callback),
        callback_to_visible: summarise_ms(visible),
        errors,
    }
}
