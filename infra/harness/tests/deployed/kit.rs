//! What the deployed-function cases share: where the workspace and the bootstraps are, waiting
//! for a condition, the API client that counts its requests, and reading the stack's secrets and
//! capture stream.

use lambda_harness::Harness;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn bin_dir() -> PathBuf {
    lambda_harness::bootstraps_dir(&root())
}

pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    /// Requests this test sent (each must reach a function and leave one capture record).
    pub sent: std::sync::atomic::AtomicU64,
}

impl Api {
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer
            .as_deref()
            .map(|b| ("authorization", b))
            .into_iter()
            .collect();
        self.call_with(method, path, body, &headers).await
    }

    /// A call with extra request headers.
    pub async fn call_with(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.expect("request");
        self.sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let status = res.status().as_u16();
        let text = res.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(json!({"raw": text})),
        )
    }

    pub async fn sell(&self, sku: &str, quantity: i64) -> (u16, Value) {
        let body = json!({"sku": sku, "quantity": quantity});
        self.call(reqwest::Method::POST, "/sales", Some(body), None)
            .await
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::SeqCst)
    }
}

pub async fn secret(h: &Harness, logical_id: &str) -> String {
    let sm = aws_sdk_secretsmanager::Client::new(&h.sdk);
    sm.get_secret_value()
        .secret_id(&h.values.refs[logical_id])
        .send()
        .await
        .expect("secret")
        .secret_string()
        .unwrap_or_default()
        .to_owned()
}

pub async fn kinesis_records(h: &Harness) -> Vec<Value> {
    let k = aws_sdk_kinesis::Client::new(&h.sdk);
    let stream = &h.values.refs["CaptureStream"];
    let shards = k
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .expect("shards");
    let mut out = Vec::new();
    for s in shards.shards() {
        let mut it = k
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(s.shard_id())
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("iterator")
            .shard_iterator;
        while let Some(i) = it.take() {
            let r = k
                .get_records()
                .shard_iterator(i)
                .send()
                .await
                .expect("records");
            if r.records().is_empty() {
                break;
            }
            for rec in r.records() {
                out.push(serde_json::from_slice(rec.data().as_ref()).unwrap_or(Value::Null));
            }
            it = r.next_shard_iterator;
        }
    }
    out
}

/// Waits for `total` capture records in Kinesis, then checks that no more arrive: one record
/// per API request, none lost, none duplicated.
pub async fn assert_one_capture_record_per_request(h: &Harness, total: u64) {
    eventually(
        "a capture record per request",
        Duration::from_secs(30),
        || async { (kinesis_records(h).await.len() as u64 >= total).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let recs = kinesis_records(h).await;
    assert_eq!(
        recs.len() as u64,
        total,
        "one capture record per API request: {recs:?}"
    );
}

/// What the Lambda fault cases share: the harness, the API client and the admin token.
pub struct Ctx<'a> {
    pub h: &'a Harness,
    pub api: &'a Api,
    pub admin: &'a str,
}

impl Ctx<'_> {
    /// A root connection to the functions' database.
    pub async fn db(&self) -> sqlx::MySqlConnection {
        use sqlx::Connection;
        let opts = self.h.db.root_options().database("donuts");
        sqlx::MySqlConnection::connect_with(&opts)
            .await
            .expect("database")
    }

    /// A product with this stock (one bucket), through the admin API.
    pub async fn product(&self, sku: &str, stock: i64, reorder_quantity: i64) {
        let (s, b) = self
            .api
            .call(
                reqwest::Method::PUT,
                &format!("/admin/inventory/{sku}"),
                Some(json!({"name": sku, "stock": stock, "reorder_point": 0,
                            "reorder_quantity": reorder_quantity, "buckets": 1})),
                Some(self.admin),
            )
            .await;
        assert!(s == 200 || s == 201, "PUT {sku}: {s} {b}");
    }

    /// The SKU's ledger as the database holds it.
    pub async fn ledger(&self, sku: &str) -> Ledger {
        let mut c = self.db().await;
        let one = |q: &'static str| sqlx::query_scalar::<_, i64>(q).bind(sku.to_owned());
        Ledger {
            stock: one(
                "SELECT CAST(COALESCE(SUM(stock), 0) AS SIGNED) FROM stock_buckets WHERE sku = ?",
            )
            .fetch_one(&mut c)
            .await
            .expect("stock"),
            sales: one("SELECT COUNT(*) FROM sales WHERE sku = ?")
                .fetch_one(&mut c)
                .await
                .expect("sales"),
            sold: one("SELECT CAST(COALESCE(SUM(quantity), 0) AS SIGNED) FROM sales WHERE sku = ?")
                .fetch_one(&mut c)
                .await
                .expect("sold"),
            restocked: one(
                "SELECT CAST(COALESCE(SUM(quantity), 0) AS SIGNED) FROM restocks WHERE sku = ?",
            )
            .fetch_one(&mut c)
            .await
            .expect("restocked"),
            orders: one("SELECT COUNT(*) FROM factory_orders WHERE sku = ?")
                .fetch_one(&mut c)
                .await
                .expect("orders"),
            fulfilled: one(
                "SELECT COUNT(*) FROM factory_orders WHERE sku = ? AND status = 'fulfilled'",
            )
            .fetch_one(&mut c)
            .await
            .expect("fulfilled"),
        }
    }

    /// InnoDB transactions now waiting for a lock.
    pub async fn lock_waits(&self) -> i64 {
        let mut c = self.db().await;
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT'",
        )
        .fetch_one(&mut c)
        .await
        .expect("innodb_trx")
    }

    /// InnoDB transactions open now, besides the caller's own `except` connection.
    pub async fn open_transactions(&self, except: u64) -> i64 {
        let mut c = self.db().await;
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.innodb_trx WHERE trx_mysql_thread_id <> ?",
        )
        .bind(except)
        .fetch_one(&mut c)
        .await
        .expect("innodb_trx")
    }

    /// Messages on a queue of the template (visible or in flight).
    pub async fn queue_depth(&self, logical_id: &str) -> i64 {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let sqs = aws_sdk_sqs::Client::new(&self.h.sdk);
        let out = sqs
            .get_queue_attributes()
            .queue_url(&self.h.queue_urls[logical_id])
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("queue attributes");
        let attrs = out.attributes().cloned().unwrap_or_default();
        [
            A::ApproximateNumberOfMessages,
            A::ApproximateNumberOfMessagesNotVisible,
        ]
        .iter()
        .filter_map(|a| attrs.get(a).and_then(|v| v.parse::<i64>().ok()))
        .sum()
    }

    /// Lines of a function's log (by logical id) that contain `needle`.
    pub fn log_count(&self, logical_id: &str, needle: &str) -> usize {
        self.h
            .logs
            .lines_of(&self.h.functions[logical_id].spec.name)
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }
}

/// A SKU's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ledger {
    pub stock: i64,
    pub sales: i64,
    pub sold: i64,
    pub restocked: i64,
    pub orders: i64,
    pub fulfilled: i64,
}

impl Ledger {
    /// `initial + restocked - sold == stock`: no sale without its decrement, no decrement
    /// without its sale, every restock counted once.
    pub fn holds(&self, initial: i64) -> String {
        assert_eq!(
            initial + self.restocked - self.sold,
            self.stock,
            "ledger broken: {self:?} (initial {initial})"
        );
        format!(
            "initial {initial} + restocked {} - sold {} ({} sale rows) == stock {}",
            self.restocked, self.sold, self.sales, self.stock
        )
    }
}

/// The Factory API calls the factory stand-in received (its Function URL events): for each,
/// the factory order id (`MessageGroupId`) and the `Idempotency-Key` header.
pub fn manufacture_call(payload: &[u8]) -> Option<(String, String)> {
    let ev: Value = serde_json::from_slice(payload).ok()?;
    let path = ev.get("rawPath").and_then(Value::as_str)?;
    if !path.ends_with("/api/manufactures") {
        return None;
    }
    let body: Value = serde_json::from_str(ev.get("body").and_then(Value::as_str)?).ok()?;
    let order = body
        .get("MessageGroupId")
        .and_then(Value::as_str)?
        .to_owned();
    let key = ev
        .pointer("/headers/idempotency-key")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Some((order, key))
}

/// The HTTP status a function answered (payload 2.0 `statusCode`).
pub fn status_of(answer: &lambda_harness::runtime::Answer) -> Option<u64> {
    answer
        .json()
        .and_then(|v| v.get("statusCode").and_then(Value::as_u64))
}
