//! What a buyer does once ([`Driver`]: raw SQL, the handler on an API Gateway event, or HTTP to
//! the local stack), and the load: N buyers in a closed loop over a warm-up and a measured
//! window.

use super::cpu::{CpuSample, cpu_sample, lock_status};
use super::{Config, Db, INSERT_SALE, SELL_SQL};
use clap::Parser;
use devstack::Options;
use inventory::api::{App, handle};
use inventory::domain::{new_id, now_millis};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a buyer does once.
pub(super) enum Driver {
    Raw(sqlx::MySqlPool),
    Handler {
        api: App,
        event_head: String,
        event_tail: String,
    },
    Http {
        client: reqwest::Client,
        url: String,
        body: String,
    },
}

async fn raw_sale(pool: &sqlx::MySqlPool, sku: &str) -> Result<(), String> {
    let now = now_millis();
    let id = new_id();
    // The handler generates a correlation id per request: so does the limit.
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let mut tx = pool.begin().await.map_err(|e| e.to_string())?;
    sqlx::query(INSERT_SALE)
        .bind(&id)
        .bind(sku)
        .bind(1i64)
        .bind(None::<i64>)
        .bind(None::<&str>)
        .bind(None::<&str>)
        .bind(&correlation_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| e.to_string())?;
    let res = sqlx::query(SELL_SQL)
        .bind(1i64)
        .bind(1i64)
        .bind(0i64) // the reorder point (the hot product's is 0)
        .bind(now)
        .bind(sku)
        .bind(1i64)
        .execute(&mut *tx)
        .await
        .map_err(|e| e.to_string())?;
    if res.rows_affected() != 1 {
        let _ = tx.rollback().await;
        return Err("conditional decrement matched no row".into());
    }
    std::hint::black_box(res.last_insert_id());
    tx.commit().await.map_err(|e| e.to_string())
}

impl Driver {
    async fn sale(&self, sku: &str, request_id: u64) -> Result<(), String> {
        match self {
            Driver::Raw(pool) => raw_sale(pool, sku).await,
            Driver::Handler {
                api,
                event_head,
                event_tail,
            } => {
                // What the runtime does with the invocation payload: deserialize the API Gateway
                // v2 event into a `lambda_http::Request`.
                let event = format!("{event_head}{request_id:x}{event_tail}");
                let req = lambda_http::request::from_str(&event).map_err(|e| e.to_string())?;
                // As `sales-api` serves an invocation: the handler, then the EMF metrics flush.
                let res = inventory::metrics::flushed(handle(api, req)).await;
                match res.status().as_u16() {
                    201 => Ok(()),
                    s => Err(format!("status {s}: {:?}", res.body())),
                }
            }
            Driver::Http { client, url, body } => {
                let res = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = res.status().as_u16();
                let bytes = res.bytes().await.map_err(|e| e.to_string())?;
                if status == 201 {
                    Ok(())
                } else {
                    Err(format!(
                        "status {status}: {}",
                        String::from_utf8_lossy(&bytes)
                    ))
                }
            }
        }
    }
}

/// An API Gateway HTTP API (payload 2.0) `POST /sales` event, split around its request id.
pub fn sales_event(sku: &str) -> (String, String) {
    let body = json!({"sku": sku, "quantity": 1}).to_string();
    let event = json!({
        "version": "2.0",
        "routeKey": "POST /sales",
        "rawPath": "/sales",
        "rawQueryString": "",
        "headers": {
            "accept": "application/json",
            "content-length": body.len().to_string(),
            "content-type": "application/json",
            "host": "abc123.execute-api.us-east-1.amazonaws.com",
            "user-agent": "bench/1",
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": "POST",
                "path": "/sales",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "bench/1"
            },
            "requestId": "@@REQUEST_ID@@",
            "routeKey": "POST /sales",
            "stage": "$default",
            "time": "21/Nov/2026:22:07:24 +0000",
            "timeEpoch": 1_795_305_244_123i64
        },
        "body": body,
        "isBase64Encoded": false
    })
    .to_string();
    let (head, tail) = event
        .split_once("@@REQUEST_ID@@")
        .expect("placeholder present");
    (format!("{head}bench-"), tail.to_owned())
}

/// Devstack options as `cargo run -p devstack` has them (default timers), on `database_url`,
/// with every setting the environment could change pinned.
pub fn devstack_options(dir: &Path, database_url: Option<String>, pool: u32) -> Options {
    let mut o = Options::parse_from(["devstack", "--no-seed"]);
    o.port = 0;
    o.data_dir = dir.to_path_buf();
    o.database_url = database_url;
    o.admin_token = "bench-admin-token".into();
    o.callback_secret = Some("bench-callback-secret".into());
    o.factory_url = None;
    o.factory_timeout_ms = 5000;
    o.outbox_grace_secs = 3;
    o.order_deadline_secs = 60;
    o.max_order_attempts = 5;
    o.db_max_connections = pool;
    o
}

pub fn http_client(pool: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(pool)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

pub(super) struct WorkerOut {
    pub(super) lat_us: Vec<u32>,
    pub(super) successes: u64,
    pub(super) errors: u64,
    pub(super) first_error: Option<String>,
}

async fn worker(
    driver: Arc<Driver>,
    sku: Arc<str>,
    id: u64,
    warm_end: Instant,
    end: Instant,
) -> WorkerOut {
    let mut out = WorkerOut {
        lat_us: Vec::with_capacity(16 * 1024),
        successes: 0,
        errors: 0,
        first_error: None,
    };
    let mut n = 0u64;
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        n += 1;
        let r = driver.sale(&sku, (id << 40) | n).await;
        let dt = t0.elapsed();
        match r {
            Ok(()) => {
                out.successes += 1;
                if t0 >= warm_end {
                    out.lat_us
                        .push(u32::try_from(dt.as_micros()).unwrap_or(u32::MAX));
                }
            }
            Err(e) => {
                out.errors += 1;
                if out.first_error.is_none() {
                    out.first_error = Some(e);
                }
                // Do not spin on a persistent failure.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    out
}

type Window = (CpuSample, CpuSample, Option<(i64, i64)>, Option<(i64, i64)>);

pub(super) async fn load(
    driver: Driver,
    sku: &str,
    concurrency: usize,
    cfg: &Config,
    db: &Db,
) -> (Vec<WorkerOut>, Window) {
    let driver = Arc::new(driver);
    let sku: Arc<str> = Arc::from(sku);
    let start = Instant::now();
    let warm_end = start + cfg.warmup;
    let end = warm_end + cfg.measure;
    let tasks: Vec<_> = (0..concurrency)
        .map(|i| {
            tokio::spawn(worker(
                driver.clone(),
                sku.clone(),
                i as u64 + 1,
                warm_end,
                end,
            ))
        })
        .collect();
    tokio::time::sleep_until(warm_end.into()).await;
    let a = cpu_sample(db.pid);
    let la = lock_status(&db.check_pool).await;
    tokio::time::sleep_until(end.into()).await;
    let b = cpu_sample(db.pid);
    let lb = lock_status(&db.check_pool).await;
    let mut outs = Vec::with_capacity(concurrency);
    for t in tasks {
        outs.push(t.await.expect("worker"));
    }
    (outs, (a, b, la, lb))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_is_what_lambda_http_reads() {
        let (head, tail) = sales_event("hot");
        let req = lambda_http::request::from_str(&format!("{head}1{tail}")).unwrap();
        assert_eq!(req.method(), "POST");
        assert_eq!(req.uri().path(), "/sales");
        match req.body() {
            lambda_http::Body::Text(t) => {
                let v: serde_json::Value = serde_json::from_str(t).unwrap();
                assert_eq!(v, json!({"sku": "hot", "quantity": 1}));
            }
            other => panic!("{other:?}"),
        }
    }
}
