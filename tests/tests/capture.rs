//! API capture: every request of the local stack lands exactly once, as gzip NDJSON in the local
//! bucket under the Firehose key layout, with no personal data; the Kinesis adapter against
//! moto; and the figures (records/s through the local pipeline, records lost).
//!
//! Figures: `cargo test -p pipeline-tests --test capture figures -- --nocapture`.

use futures::StreamExt;
use inventory::capture::{CaptureRecord, CaptureSink, KinesisCapture, SCHEMA_VERSION};
use pipeline_tests::{Client, Db, TestApp};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Strings that must never reach the lake.
const PHONE: &str = "+1-555-867-5309";
const ADDRESS: &str = "221B Baker Street";
const CLIENT_IP: &str = "203.0.113.77";
const EMAIL: &str = "jane.doe@example.com";
const CALLBACK_TOKEN: &str = "SECRETTOKEN0123456789";
const NAME: &str = "Jane Doe";

fn pii() -> Vec<&'static str> {
    vec![
        PHONE,
        "555-867-5309",
        "8675309",
        ADDRESS,
        "Baker",
        CLIENT_IP,
        EMAIL,
        "jane.doe",
        CALLBACK_TOKEN,
        NAME,
    ]
}

/// Every file under `dir`, recursively, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn gunzip(path: &Path) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("open"))
        .read_to_string(&mut s)
        .unwrap_or_else(|e| panic!("{} is not valid gzip text: {e}", path.display()));
    s
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// `rawdata/year=YYYY/month=MM/day=DD/hour=HH/<name>.gz` → (y, m, d, h).
fn partition_of(key: &str) -> (String, String, String, String) {
    let parts: Vec<&str> = key.split('/').collect();
    assert_eq!(parts.len(), 6, "key {key}");
    assert_eq!(parts[0], "rawdata", "key {key}");
    let field = |i: usize, name: &str, n: usize| {
        let v = parts[i]
            .strip_prefix(&format!("{name}="))
            .unwrap_or_else(|| panic!("key {key}: segment {i} is not {name}="));
        assert!(digits(v, n), "key {key}: {name}={v}");
        v.to_owned()
    };
    assert!(
        parts[5].ends_with(".gz") && !parts[5].contains('/'),
        "key {key}"
    );
    (
        field(1, "year", 4),
        field(2, "month", 2),
        field(3, "day", 2),
        field(4, "hour", 2),
    )
}

/// Every record of the local bucket, with the key it came from; checks the key layout, the gzip
/// and the JSON of each line on the way.
fn read_bucket(data_dir: &Path) -> (Vec<(String, Value)>, String) {
    let bucket = data_dir.join("bucket");
    let raw = bucket.join("rawdata");
    let mut out = Vec::new();
    let mut all_text = String::new();
    for path in files_under(&raw) {
        let key = path
            .strip_prefix(&bucket)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let (y, m, d, h) = partition_of(&key);
        let text = gunzip(&path);
        assert!(text.ends_with('\n'), "{key}: NDJSON ends with a newline");
        for line in text.lines() {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{key}: line is not JSON ({e}): {line}"));
            // The partition is the hour the buffer's first record arrived: the record's own
            // timestamp is that hour or (a buffer spanning the hour) the next.
            let ts = v["timestamp"].as_str().unwrap_or_default();
            let part = format!("{y}-{m}-{d}T{h}");
            assert!(
                ts.starts_with(&part) || ts > part.as_str(),
                "{key}: record at {ts} in partition {part}"
            );
            out.push((key.clone(), v));
        }
        all_text.push_str(&text);
    }
    (out, all_text)
}

fn assert_record_shape(v: &Value) {
    let o = v.as_object().expect("record is an object");
    assert_eq!(o["schema_version"], json!(SCHEMA_VERSION), "{v}");
    for f in [
        "kind",
        "request_id",
        "correlation_id",
        "timestamp",
        "method",
        "route",
        "service",
    ] {
        assert!(
            o.get(f)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty()),
            "field {f} missing or empty: {v}"
        );
    }
    assert!(o["path_params"].is_object(), "{v}");
    assert!(
        o["status"]
            .as_u64()
            .is_some_and(|s| (100..600).contains(&s)),
        "{v}"
    );
    assert!(o["latency_ms"].as_f64().is_some_and(|l| l >= 0.0), "{v}");
    let ts = o["timestamp"].as_str().unwrap();
    assert!(
        ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
        "timestamp {ts}"
    );
    // The record deserialises into the schema type.
    serde_json::from_value::<CaptureRecord>(v.clone()).expect("a CaptureRecord");
}

struct Sent {
    correlation_id: String,
    status: u16,
    route: &'static str,
    sku: Option<&'static str>,
    quantity: Option<i64>,
    client_event: bool,
}

/// One round of mixed requests: every route, success and failure. Each carries a unique
/// correlation id, a client IP in X-Forwarded-For, and some carry personal data.
async fn mixed_round(c: &Client, round: usize, out: &mut Vec<Sent>) {
    let base = c.base.clone();
    let http = &c.http;
    let mut n = 0;
    let mut next_id = || {
        n += 1;
        format!("cap-{round}-{n}")
    };
    let big_sale = format!(
        "{{\"sku\":\"glazed\",\"quantity\":1,\"pad\":\"{}\"}}",
        "x".repeat(17 * 1024)
    );
    let big_event = format!(
        "{{\"type\":\"page_view\",\"properties\":{{\"page\":\"{}\"}}}}",
        "y".repeat(5 * 1024)
    );
    let order_id = uuid::Uuid::new_v4();
    #[allow(clippy::type_complexity)]
    let cases: Vec<(
        reqwest::RequestBuilder,
        u16,
        &'static str,
        Option<&'static str>,
        Option<i64>,
        bool,
    )> = vec![
        (
            http.put(format!("{base}/admin/inventory/glazed"))
                .bearer_auth(&c.admin)
                .header("content-type", "application/json")
                .body(json!({"stock": 3, "name": "Original Glazed"}).to_string()),
            if round == 0 { 201 } else { 200 },
            "/admin/inventory/{sku}",
            Some("glazed"),
            None,
            false,
        ),
        (
            http.post(format!("{base}/sales"))
                .header("content-type", "application/json")
                .body(json!({"sku": "glazed", "quantity": 1}).to_string()),
            201,
            "/sales",
            Some("glazed"),
            Some(1),
            false,
        ),
        (
            http.post(format!("{base}/sales"))
                .header("content-type", "application/json")
                .body(json!({"sku": "glazed", "quantity": 5}).to_string()),
            409,
            "/sales",
            Some("glazed"),
            Some(5),
            false,
        ),
        (
            http.post(format!("{base}/sales"))
                .header("content-type", "application/json")
                .body(json!({"sku": "no-such-donut", "quantity": 1}).to_string()),
            404,
            "/sales",
            Some("no-such-donut"),
            Some(1),
            false,
        ),
        (
            http.post(format!("{base}/sales"))
                .header("content-type", "application/json")
                .body("{\"sku\": "),
            400,
            "/sales",
            None,
            None,
            false,
        ),
        (
            // Personal data in the body (rejected: unknown fields) and a request id that is
            // a name and an address.
            http.post(format!("{base}/sales"))
                .header("content-type", "application/json")
                .header("x-request-id", format!("{NAME}, {ADDRESS} #{round}"))
                .body(
                    json!({"sku": "glazed", "quantity": 1, "phone": PHONE,
                           "address": ADDRESS, "email": EMAIL})
                    .to_string(),
                ),
            400,
            "/sales",
            None,
            None,
            false,
        ),
        (
            http.post(format!("{base}/sales"))
                .header("content-type", "application/json")
                .body(big_sale),
            413,
            "/sales",
            None,
            None,
            false,
        ),
        (
            http.post(format!("{base}/sales"))
                .header("content-type", "text/plain")
                .body(format!("sku=glazed&phone={PHONE}")),
            415,
            "/sales",
            None,
            None,
            false,
        ),
        (
            http.put(format!("{base}/admin/inventory/glazed"))
                .header("content-type", "application/json")
                .body(json!({"stock": 1}).to_string()),
            401,
            "/admin/inventory/{sku}",
            None,
            None,
            false,
        ),
        (
            http.put(format!("{base}/admin/inventory/glazed"))
                .bearer_auth("not-the-token")
                .header("content-type", "application/json")
                .body(json!({"stock": 1}).to_string()),
            403,
            "/admin/inventory/{sku}",
            None,
            None,
            false,
        ),
        (
            http.get(format!("{base}/sales")),
            405,
            "/sales",
            None,
            None,
            false,
        ),
        (
            http.get(format!("{base}/no/such/path/{EMAIL}")),
            404,
            "unmatched",
            None,
            None,
            false,
        ),
        (
            http.get(format!("{base}/inventory")),
            200,
            "/inventory",
            None,
            None,
            false,
        ),
        (
            http.get(format!("{base}/inventory/glazed")),
            200,
            "/inventory/{sku}",
            Some("glazed"),
            None,
            false,
        ),
        (
            // An address typed where a SKU goes.
            http.get(format!("{base}/inventory/{}", ADDRESS.replace(' ', "%20"))),
            400,
            "/inventory/{sku}",
            None,
            None,
            false,
        ),
        (
            http.get(format!("{base}/factory-orders/{}", uuid::Uuid::new_v4())),
            404,
            "/factory-orders/{id}",
            None,
            None,
            false,
        ),
        (
            http.get(format!("{base}/factory-orders/{PHONE}")),
            400,
            "/factory-orders/{id}",
            None,
            None,
            false,
        ),
        (
            // A forged callback: its token (in the query string) must not be captured.
            http.post(format!(
                "{base}/factory/callbacks/{order_id}?token={CALLBACK_TOKEN}"
            ))
            .header("content-type", "application/json")
            .body("{}"),
            403,
            "/factory/callbacks/{id}",
            None,
            None,
            false,
        ),
        (
            http.post(format!("{base}/factory/callbacks/{order_id}"))
                .header("content-type", "application/json")
                .body("{}"),
            401,
            "/factory/callbacks/{id}",
            None,
            None,
            false,
        ),
        (
            http.post(format!("{base}/events"))
                .header("content-type", "application/json")
                .body(
                    json!({"type": "page_view", "sku": "glazed",
                           "properties": {"page": "/menu", "position": 3,
                                          "email": EMAIL, "phone": PHONE,
                                          "home_address": ADDRESS, "ip": CLIENT_IP}})
                    .to_string(),
                ),
            202,
            "/events",
            Some("glazed"),
            None,
            true,
        ),
        (
            http.post(format!("{base}/events"))
                .header("content-type", "application/json")
                .body(json!({"type": "Not A Type!"}).to_string()),
            400,
            "/events",
            None,
            None,
            false,
        ),
        (
            http.post(format!("{base}/events"))
                .header("content-type", "application/json")
                .body(big_event),
            413,
            "/events",
            None,
            None,
            false,
        ),
        (
            http.delete(format!("{base}/events")),
            405,
            "/events",
            None,
            None,
            false,
        ),
        (
            http.get(format!("{base}/health")),
            200,
            "/health",
            None,
            None,
            false,
        ),
    ];
    for (req, status, route, sku, quantity, client_event) in cases {
        let correlation_id = next_id();
        let res = req
            .header("x-correlation-id", &correlation_id)
            .header("x-forwarded-for", CLIENT_IP)
            .header("user-agent", "capture-test/1.0")
            .send()
            .await
            .expect("request sent");
        assert_eq!(
            res.status().as_u16(),
            status,
            "{route} ({correlation_id}): {}",
            res.text().await.unwrap_or_default()
        );
        out.push(Sent {
            correlation_id,
            status,
            route,
            sku,
            quantity,
            client_event,
        });
    }
}

/// N mixed requests → exactly N `api_request` records (+ one `client_event` per accepted event)
/// in the local bucket: valid gzip, valid JSON, the right fields, the Firehose key layout, and
/// none of the personal data the requests carried.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_request_is_captured_once_without_pii() {
    let stack = TestApp::spawn_with(Db::Sqlite, |o| {
        o.capture_buffer_ms = 150;
        // The 409s open factory orders: keep the factory's completion callbacks (requests of
        // their own, and restocks that would turn a 409 into a 201) out of this test.
        o.factory_delay_ms = 600_000;
    })
    .await;
    let data_dir = stack.stack.data_dir.clone();
    let c = &stack.client;
    let mut sent = Vec::new();
    for round in 0..3 {
        mixed_round(c, round, &mut sent).await;
        // Let an age flush happen between rounds, so there are several objects.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Objects appear while the stack runs (seconds after a request, like Firehose).
    let (early, _) = read_bucket(&data_dir);
    assert!(!early.is_empty(), "nothing flushed by age while running");
    assert_eq!((stack.shared().capture_failures)(), 0);
    // The guard keeps the data dir: the bucket is read after the stop.
    let _dir = stack.stop().await;

    let (records, text) = read_bucket(&data_dir);
    assert!(
        files_under(&data_dir.join("bucket/rawdata"))
            .iter()
            .all(|p| p.extension().is_some_and(|e| e == "gz")),
        "no partial objects left behind"
    );
    let n = sent.len();
    let api: Vec<&Value> = records
        .iter()
        .map(|(_, v)| v)
        .filter(|v| v["kind"] == "api_request")
        .collect();
    let events: Vec<&Value> = records
        .iter()
        .map(|(_, v)| v)
        .filter(|v| v["kind"] == "client_event")
        .collect();
    assert_eq!(api.len(), n, "exactly one api_request record per request");
    assert_eq!(
        events.len(),
        sent.iter().filter(|s| s.client_event).count(),
        "one client_event per accepted event"
    );
    assert_eq!(records.len(), api.len() + events.len(), "no other kinds");
    for (_, v) in &records {
        assert_record_shape(v);
    }
    // Each request's record, found by its correlation id, says what happened.
    let by_corr: BTreeMap<&str, &Value> = api
        .iter()
        .map(|v| (v["correlation_id"].as_str().unwrap(), *v))
        .collect();
    assert_eq!(by_corr.len(), n, "correlation ids are unique per record");
    for s in &sent {
        let r = by_corr
            .get(s.correlation_id.as_str())
            .unwrap_or_else(|| panic!("no record for {}", s.correlation_id));
        assert_eq!(r["status"], json!(s.status), "{r}");
        assert_eq!(r["route"], json!(s.route), "{r}");
        assert_eq!(r["sku"].as_str(), s.sku, "{r}");
        assert_eq!(r["quantity"].as_i64(), s.quantity, "{r}");
        assert_eq!(r["user_agent"], json!("capture-test/1.0"), "{r}");
        if s.status >= 400 {
            assert!(r["error"].is_string(), "an error code: {r}");
        }
        let params = r["path_params"].as_object().unwrap();
        if s.route.contains('{') {
            assert_eq!(params.len(), 1, "{r}");
        } else {
            assert!(params.is_empty(), "{r}");
        }
    }
    let request_ids: HashSet<&str> = api
        .iter()
        .map(|v| v["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(request_ids.len(), n, "request ids are unique");
    for e in &events {
        let props = e["properties"].as_object().expect("properties");
        assert_eq!(
            props.keys().collect::<Vec<_>>(),
            vec!["page", "position"],
            "only allow-listed properties: {e}"
        );
        assert_eq!(e["event_type"], "page_view");
    }
    // No personal data anywhere: not the phone, the address, the e-mail, the client IP, the
    // name, nor the callback token of the query string.
    for needle in pii() {
        assert!(
            !text.contains(needle),
            "{needle:?} found in the capture lake"
        );
    }
    assert!(!text.contains("token="), "query strings are not captured");
    assert!(!text.contains("x-forwarded-for") && !text.contains("source_ip"));
}

/// Capture failures are never silent: a record submitted after the writer stopped is counted,
/// and an unwritable bucket raises the stack's `CaptureFailures` alarm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_failures_are_counted_and_alarmed() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let (sink, task) = devstack::firehose::start(
        dir.path().join("late-bucket"),
        devstack::firehose::Buffering {
            max_bytes: 1024 * 1024,
            max_age: Duration::from_millis(100),
        },
        rx,
    );
    tx.send(true).unwrap();
    task.await.unwrap();
    sink.submit(sample_record(0));
    assert_eq!(sink.failures(), 1);

    // `<data-dir>/bucket` is a file: no object can be written.
    std::fs::write(dir.path().join("bucket"), b"not a directory").unwrap();
    let stack = TestApp::spawn_in(Db::Sqlite, dir, |o| o.capture_buffer_ms = 100).await;
    let c = &stack.client;
    assert_eq!(
        c.get("/health").await.status,
        200,
        "capture never fails a request"
    );
    let alarm = pipeline_tests::eventually(Duration::from_secs(10), || async {
        let alarms = stack.stack.evaluate_alarms().await;
        alarms
            .into_iter()
            .find(|a| a.name == "CaptureFailures" && a.state == "ALARM")
    })
    .await
    .expect("CaptureFailures alarm");
    assert!(
        alarm.reason.contains("1 capture record"),
        "{}",
        alarm.reason
    );
    stack.stop().await;
}

fn sample_record(i: usize) -> CaptureRecord {
    CaptureRecord {
        schema_version: SCHEMA_VERSION,
        kind: inventory::capture::CaptureKind::ApiRequest,
        request_id: format!("{:032x}", i as u128 * 0x9e37_79b9_7f4a_7c15),
        correlation_id: format!("corr-{i}"),
        timestamp: "2026-11-21T22:07:24.123Z".into(),
        method: "POST".into(),
        route: "/sales".into(),
        path_params: BTreeMap::new(),
        status: 201,
        latency_ms: 3.25,
        sku: Some("glazed".into()),
        quantity: Some(2),
        error: None,
        user_agent: Some("k6/0.50".into()),
        event_type: None,
        properties: None,
        service: "sales-api".into(),
    }
}

/// The Kinesis adapter against moto: 500 records in one PutRecords, read back from every shard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_put_records_round_trip_on_moto() {
    let sdk = pipeline_tests::moto_sdk().await;
    let client = aws_sdk_kinesis::Client::new(&sdk);
    let stream = format!("capture-{}", uuid::Uuid::new_v4().simple());
    client
        .create_stream()
        .stream_name(&stream)
        .shard_count(4)
        .send()
        .await
        .expect("create stream");
    let active = pipeline_tests::eventually(Duration::from_secs(20), || async {
        let s = client
            .describe_stream_summary()
            .stream_name(&stream)
            .send()
            .await
            .ok()?;
        let status = s.stream_description_summary()?.stream_status().clone();
        (status == aws_sdk_kinesis::types::StreamStatus::Active).then_some(())
    })
    .await;
    assert!(active.is_some(), "stream never became ACTIVE");

    let capture = KinesisCapture::new(client.clone(), &stream);
    let records: Vec<CaptureRecord> = (0..500).map(sample_record).collect();
    let report = capture.put_all(records.clone()).await.expect("put_all");
    assert_eq!(report.delivered, 500);
    assert_eq!(report.lost, 0);
    assert_eq!(report.batches, 1, "500 records fit one PutRecords call");
    assert_eq!(report.calls, 1);

    let shards = client
        .list_shards()
        .stream_name(&stream)
        .send()
        .await
        .expect("list shards");
    let mut got: Vec<CaptureRecord> = Vec::new();
    let mut shards_used = 0;
    for shard in shards.shards() {
        let mut iterator = client
            .get_shard_iterator()
            .stream_name(&stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("shard iterator")
            .shard_iterator()
            .map(str::to_owned);
        let mut in_shard = 0;
        while let Some(it) = iterator {
            let out = client
                .get_records()
                .shard_iterator(it)
                .limit(1000)
                .send()
                .await
                .expect("get records");
            for r in out.records() {
                let data = r.data().as_ref();
                assert!(data.ends_with(b"\n"), "each record is one NDJSON line");
                let rec: CaptureRecord = serde_json::from_slice(data).expect("record JSON");
                assert_eq!(r.partition_key(), Some(rec.partition_key().as_str()));
                got.push(rec);
                in_shard += 1;
            }
            if out.records().is_empty() {
                break;
            }
            iterator = out.next_shard_iterator().map(str::to_owned);
        }
        if in_shard > 0 {
            shards_used += 1;
        }
    }
    assert_eq!(got.len(), 500, "all 500 records read back");
    let sent: HashSet<String> = records.iter().map(|r| r.request_id.clone()).collect();
    let read: HashSet<String> = got.iter().map(|r| r.request_id.clone()).collect();
    assert_eq!(sent, read);
    assert!(
        shards_used >= 3,
        "hashed partition keys spread over the shards ({shards_used} of 4 used)"
    );
}

/// Figures for the benchmark suite: capture records/s through the local pipeline and records
/// lost (must be 0), (a) end to end over HTTP and (b) the Firehose stand-in alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn figures() {
    // (a) HTTP requests → handler → sink → buffer → gzip objects.
    let requests: usize = std::env::var("CAPTURE_FIGURES_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let stack = TestApp::spawn_with(Db::Sqlite, |o| o.capture_buffer_ms = 1000).await;
    let data_dir = stack.stack.data_dir.clone();
    let c = &stack.client;
    let started = Instant::now();
    let statuses: Vec<u16> = futures::stream::iter(0..requests)
        .map(|i| {
            let c = &c;
            async move {
                let path = if i % 2 == 0 { "/health" } else { "/inventory" };
                c.http
                    .get(format!("{}{path}", c.base))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let served = started.elapsed();
    assert!(statuses.iter().all(|s| *s == 200));
    let failures = (stack.shared().capture_failures)();
    let _dir = stack.stop().await;
    let flushed = started.elapsed();
    let (records, _) = read_bucket(&data_dir);
    let lost = requests as i64 - records.len() as i64;
    println!(
        "capture figures (http): {requests} requests in {:.2}s = {:.0} captured records/s; \
         {} records in the bucket, all on disk {:.2}s after the first request (shutdown flush \
         included); lost {lost}; CaptureFailures {failures}",
        served.as_secs_f64(),
        requests as f64 / served.as_secs_f64(),
        records.len(),
        flushed.as_secs_f64(),
    );
    assert_eq!(lost, 0, "records lost");
    assert_eq!(failures, 0);

    // (b) The stand-in alone: submit → NDJSON → gzip objects (1 MiB / 5 s buffering).
    let total: usize = 200_000;
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let (sink, task) = devstack::firehose::start(
        dir.path().join("bucket"),
        devstack::firehose::Buffering {
            max_bytes: 1024 * 1024,
            max_age: Duration::from_secs(5),
        },
        rx,
    );
    let started = Instant::now();
    for i in 0..total {
        sink.submit(sample_record(i));
        if i % 10_000 == 9_999 {
            // Back-pressure for this synthetic burst (an HTTP load never gets near it): keep
            // what the writer has not taken well under the buffer's limit (MAX_PENDING).
            while (i as u64)
                .saturating_sub(sink.delivered.load(std::sync::atomic::Ordering::Relaxed))
                > 50_000
            {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }
    tx.send(true).unwrap();
    task.await.unwrap();
    let elapsed = started.elapsed();
    let delivered = sink.delivered.load(std::sync::atomic::Ordering::Relaxed);
    let objects = files_under(&dir.path().join("bucket/rawdata"));
    let lines: usize = objects.iter().map(|p| gunzip(p).lines().count()).sum();
    println!(
        "capture figures (local firehose): {total} records in {:.2}s = {:.0} records/s; \
         {} objects; lost {}; CaptureFailures {}",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        objects.len(),
        total as i64 - lines as i64,
        sink.failures()
    );
    assert_eq!(lines, total);
    assert_eq!(delivered as usize, total);
    assert_eq!(sink.failures(), 0);
}
