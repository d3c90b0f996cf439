//! The functions `sam build` ships, run on the harness exactly as `template.yaml` configures
//! them on AWS (secrets in Secrets Manager, TLS-only database with its CA bundle, SNS → SQS,
//! schedules, log subscription, custom resource), end to end.
//!
//! Needs the bootstraps: `./scripts/lambda-build.sh` (the README's test command builds them
//! first). Missing bootstraps fail the test with that instruction: never a silent skip.

use lambda_harness::{Harness, Options, moto::Moto};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn bin_dir() -> PathBuf {
    lambda_harness::bootstraps_dir(&root())
}

async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
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

struct Api {
    base: String,
    http: reqwest::Client,
    /// Requests this test sent (each must reach a function and leave one capture record).
    sent: std::sync::atomic::AtomicU64,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
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

    async fn sell(&self, sku: &str, quantity: i64) -> (u16, Value) {
        let body = json!({"sku": sku, "quantity": quantity});
        self.call(reqwest::Method::POST, "/sales", Some(body), None)
            .await
    }

    fn sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::SeqCst)
    }
}

async fn secret(h: &Harness, logical_id: &str) -> String {
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

async fn kinesis_records(h: &Harness) -> Vec<Value> {
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
async fn assert_one_capture_record_per_request(h: &Harness, total: u64) {
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

/// Metric names of namespace `ns` that the template's alarms and dashboards read, found by
/// walking the resolved resources: alarms' `{Namespace, MetricName}` objects (plain or in
/// `Metrics[].MetricStat.Metric`), and each dashboard body's metrics (`["NS", "Name", …]`
/// arrays and `SEARCH('{NS,…} MetricName="Name"', …)` expressions).
fn template_metrics(ns: &str) -> BTreeSet<String> {
    use lambda_harness::template::{Template, Values};
    let t = Template::load(&root().join("template.yaml"), &Default::default()).expect("template");
    let v = Values::default();
    let mut names = BTreeSet::new();
    fn walk(j: &Value, ns: &str, names: &mut BTreeSet<String>) {
        match j {
            Value::Object(m) => {
                if m.get("Namespace").and_then(Value::as_str) == Some(ns)
                    && let Some(n) = m.get("MetricName").and_then(Value::as_str)
                {
                    names.insert(n.to_owned());
                }
                if let Some(e) = m.get("expression").and_then(Value::as_str) {
                    for part in e.split("SEARCH(").skip(1) {
                        if part
                            .trim_start_matches(['\'', '"'])
                            .starts_with(&format!("{{{ns},"))
                            && let Some(rest) = part.split("MetricName=\"").nth(1)
                            && let Some(name) = rest.split('"').next()
                        {
                            names.insert(name.to_owned());
                        }
                    }
                }
                m.values().for_each(|x| walk(x, ns, names));
            }
            Value::Array(a) => {
                if a.first().and_then(Value::as_str) == Some(ns)
                    && let Some(n) = a.get(1).and_then(Value::as_str)
                {
                    names.insert(n.to_owned());
                }
                a.iter().for_each(|x| walk(x, ns, names));
            }
            _ => {}
        }
    }
    for id in t.of_type("AWS::CloudWatch::Alarm").expect("alarms") {
        walk(
            &t.prop(&id, &[], &v).expect("alarm").unwrap_or_default(),
            ns,
            &mut names,
        );
    }
    for id in t.of_type("AWS::CloudWatch::Dashboard").expect("dashboards") {
        let body = t
            .prop(&id, &["DashboardBody"], &v)
            .expect("body")
            .unwrap_or_default();
        let body: Value =
            serde_json::from_str(body.as_str().unwrap_or("{}")).expect("dashboard JSON");
        walk(&body, ns, &mut names);
    }
    names
}

#[test]
fn the_template_metric_reader_finds_the_dashboard_and_alarm_metrics() {
    let names = template_metrics("DonutPipeline");
    // The two business alarms and the sales graph must be among them (the reader works).
    for n in ["OrdersFailed", "CaptureFailures", "SalesCompleted"] {
        assert!(names.contains(n), "{n} not found in {names:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deployed_functions_sell_restock_capture_export_and_dead_letter() {
    let started = Instant::now();
    let bins = bin_dir();
    assert!(
        bins.join("sales-api/bootstrap").is_file(),
        "no bootstraps in {}: build them as `sam build` does with ./scripts/lambda-build.sh \
         (or set HARNESS_BIN_DIR)",
        bins.display()
    );
    let moto = Moto::start(&root().join(".venv"), None).expect("moto");
    let dir = tempfile_dir();
    let mut opts = Options::new(
        root().join("template.yaml"),
        bins,
        dir.clone(),
        moto.endpoint.clone(),
    );
    // Time compression only: seconds where AWS waits minutes. Everything else is the template's.
    opts.visibility_timeout = Some(2);
    opts.async_retry_delays = vec![Duration::from_millis(200), Duration::from_millis(400)];
    opts.params
        .insert("FactorySimDelayMs".into(), "1000".into());
    let h = Harness::start(opts).await.expect("harness starts");
    eprintln!("harness up in {:?}", started.elapsed());

    // 1. The stack's custom resource runs the migrations (Create), over TLS.
    h.create_custom_resources()
        .await
        .expect("migrations Create succeeds");
    let ca_line = h
        .logs
        .lines_of(&h.functions["MigrateFunction"].spec.name)
        .into_iter()
        .any(|l| l.contains("VERIFY_IDENTITY"));
    assert!(
        ca_line,
        "migrate verified the database certificate (DB_CA_BUNDLE from the template)"
    );

    let api = Api {
        base: h.api_url.clone(),
        http: reqwest::Client::new(),
        sent: Default::default(),
    };
    let admin = secret(&h, "AdminTokenSecret").await;
    let callback_key = secret(&h, "CallbackSecret").await;
    assert!(!admin.is_empty() && !callback_key.is_empty());

    // 2. Admin upsert, with the token from Secrets Manager; a wrong token is refused.
    let (s, b) = api
        .call(
            reqwest::Method::PUT,
            "/admin/inventory/glazed",
            Some(json!({"name":"Glazed","stock":3,"reorder_point":0,"reorder_quantity":12})),
            Some(&admin),
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

    // 3. Sell to stock-out; the last sale opens exactly one factory order.
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

    // 4. A forged callback is refused and changes nothing.
    let (s, b) = api
        .call(
            reqwest::Method::POST,
            &format!("/factory/callbacks/{order_id}?token=forged"),
            Some(json!({"ProductId":"glazed","ProductCnt":12})),
            None,
        )
        .await;
    assert!(s == 401 || s == 403, "forged callback: {s} {b}");

    // 5. SNS → SQS → factory-orderer → factory-sim (Function URL) → signed callback → restock.
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
    // The factory's own callback went through API Gateway too.
    let total = api.sent() + 1;
    assert_eq!(
        h.api_requests(),
        total,
        "requests through the local API Gateway"
    );

    // 6. One capture record in Kinesis per API request (log subscription → api-capture).
    assert_one_capture_record_per_request(&h, total).await;

    // 6b. The database secret rotates: the password changes and the secret with it. Every
    // function's pool re-reads the secret on the refusal and retries: no sale fails.
    {
        use sqlx::Connection;
        let new_password = format!("rotated{}", uuid::Uuid::new_v4().simple());
        let mut root = sqlx::MySqlConnection::connect_with(&h.db.root_options())
            .await
            .expect("root");
        // The secret the functions log in with, as the template gives it to them.
        let db_secret = h.functions["SalesApiFunction"].spec.env["DB_SECRET_ARN"].clone();
        let sm = aws_sdk_secretsmanager::Client::new(&h.sdk);
        let old: Value = serde_json::from_str(
            sm.get_secret_value()
                .secret_id(&db_secret)
                .send()
                .await
                .expect("secret")
                .secret_string()
                .unwrap_or_default(),
        )
        .expect("json");
        let user = old["username"].as_str().expect("username").to_owned();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER USER '{user}'@'%' IDENTIFIED BY '{new_password}'"
        )))
        .execute(&mut root)
        .await
        .expect("rotate the password");
        sm.put_secret_value()
            .secret_id(&db_secret)
            .secret_string(json!({"username": user, "password": new_password}).to_string())
            .send()
            .await
            .expect("rotate the secret");
        // Open sessions outlive a rotation on RDS, but not wait_timeout or a new environment:
        // end them so every function has to log in again with the new password.
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?")
                .bind(&user)
                .fetch_all(&mut root)
                .await
                .expect("sessions");
        for id in ids {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("KILL {id}")))
                .execute(&mut root)
                .await;
        }
        let (s, b) = api
            .call(
                reqwest::Method::PUT,
                "/admin/inventory/maple",
                Some(json!({"stock":50,"reorder_point":0,"reorder_quantity":10})),
                Some(&admin),
            )
            .await;
        assert!(s == 200 || s == 201, "admin after rotation: {s} {b}");
        for i in 0..5 {
            let (s, b) = api.sell("maple", 1).await;
            assert_eq!(s, 201, "sale {i} after the rotation: {b}");
        }
        let retried = h
            .logs
            .lines_of(&h.functions["SalesApiFunction"].spec.name)
            .iter()
            .any(|l| l.contains("re-reading them and retrying once"));
        assert!(retried, "sales-api re-read the rotated secret");
    }
    let total = api.sent() + 1;
    assert_one_capture_record_per_request(&h, total).await;
    assert_eq!(h.api_requests(), total);

    // 7. The exporter's schedule, and an on-demand day, write csv.gz under exports/.
    assert!(
        h.fire_schedule("ExporterFunction", "Daily")
            .await
            .expect("schedule")
    );
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let exported = h.functions["ExporterFunction"]
        .invoke(&json!({"date": today}))
        .await;
    assert!(exported.is_ok(), "{exported:?}");
    let s3 = aws_sdk_s3::Client::new(&h.sdk);
    let bucket = &h.values.refs["DataBucket"];
    let keys: Vec<String> = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix("exports/")
        .send()
        .await
        .expect("list")
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    for (kind, day) in [
        ("sales", &yesterday),
        ("inventory", &yesterday),
        ("sales", &today),
        ("inventory", &today),
    ] {
        let prefix = format!("exports/{kind}/date={day}/");
        assert!(
            keys.iter()
                .any(|k| k.starts_with(&prefix) && k.ends_with(".csv.gz")),
            "no {prefix}*.csv.gz in {keys:?}"
        );
    }
    let sales_key = keys
        .iter()
        .find(|k| k.starts_with(&format!("exports/sales/date={today}/")))
        .expect("sales");
    let obj = s3
        .get_object()
        .bucket(bucket)
        .key(sales_key)
        .send()
        .await
        .expect("get");
    let gz = obj.body.collect().await.expect("body").into_bytes();
    let mut csv = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut csv)
        .expect("gunzip");
    assert_eq!(
        csv.lines().filter(|l| l.contains("glazed")).count(),
        3,
        "{csv}"
    );

    // 8. The outbox relay's schedule runs clean.
    assert!(
        h.fire_schedule("OutboxRelayFunction", "EveryMinute")
            .await
            .expect("schedule")
    );

    // 9. A poison message is retried maxReceiveCount times, then lands in the DLQ.
    let sqs = aws_sdk_sqs::Client::new(&h.sdk);
    sqs.send_message()
        .queue_url(&h.queue_urls["FactoryOrdersQueue"])
        .message_body("{not json")
        .send()
        .await
        .expect("send poison");
    let dlq = &h.queue_urls["FactoryOrdersDlq"];
    let dead = eventually(
        "the poison message in the DLQ",
        Duration::from_secs(90),
        || {
            let sqs = &sqs;
            async move {
                let out = sqs
                    .receive_message()
                    .queue_url(dlq)
                    .wait_time_seconds(1)
                    .message_system_attribute_names(
                        aws_sdk_sqs::types::MessageSystemAttributeName::All,
                    )
                    .send()
                    .await
                    .ok()?;
                out.messages.unwrap_or_default().into_iter().next()
            }
        },
    )
    .await;
    assert_eq!(dead.body(), Some("{not json"));
    let receives: u64 = dead
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let max_receive: u64 = h.template.params["FactoryOrdersMaxReceiveCount"]
        .parse()
        .expect("param");
    assert!(
        receives >= max_receive,
        "moved after {receives} receives, maxReceiveCount {max_receive}"
    );

    // 10. Every metric the dashboard and alarms read was emitted (EMF) during the run.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let emitted: BTreeSet<String> = h
        .logs
        .metric_names()
        .into_iter()
        .filter(|(ns, _)| ns == "DonutPipeline")
        .map(|(_, n)| n)
        .collect();
    let wanted = template_metrics("DonutPipeline");
    eprintln!("metrics the template reads: {wanted:?}; emitted: {emitted:?}");
    let missing: Vec<_> = wanted.difference(&emitted).collect();
    assert!(
        missing.is_empty(),
        "metrics the template reads but no function emitted: {missing:?} (emitted {emitted:?})"
    );

    // 11. The custom resource's Update and Delete are answered too.
    let up = h
        .custom_resource("Migrations", "Update")
        .await
        .expect("update");
    assert_eq!(up["Status"], "SUCCESS", "{up}");
    let del = h
        .custom_resource("Migrations", "Delete")
        .await
        .expect("delete");
    assert_eq!(del["Status"], "SUCCESS", "{del}");

    // The first invocation's lines are marked as the cold start, later ones are not.
    let sales_lines = h.logs.lines_of(&h.functions["SalesApiFunction"].spec.name);
    for want in ["\"cold_start\":true", "\"cold_start\":false"] {
        assert!(
            sales_lines.iter().any(|l| l.contains(want)),
            "no sales-api line with {want}"
        );
    }

    // Nothing panicked in any function.
    for l in h.logs.lines() {
        assert!(
            !l.text.contains("panicked at"),
            "{}: {}",
            l.function,
            l.text
        );
    }
    eprintln!("end-to-end on the harness: {:?}", started.elapsed());
    h.stop();
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("harness-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}
