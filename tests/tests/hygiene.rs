//! Secret hygiene: a full flow (admin calls with right and wrong tokens, sales, a stock-out
//! whose factory call times out and fails before it succeeds, the signed completion callback,
//! a forged callback carrying another order's genuine token, a replay, the outbox relay) runs
//! with every log line of the process captured as JSON at `debug` level — the devstack's own
//! format (`inventory::telemetry`), all crates included. Afterwards neither the admin token, nor
//! the callback secret, nor any callback token may appear in the logs, in the captured data
//! under `<data-dir>/bucket` (gzip members decompressed), or anywhere else in the data dir.

use factory_sim::sim::KnobsPatch;
use inventory::domain::FactoryOrderId;
use inventory::factory::CallbackSigner;
use pipeline_tests::faults::Record;
use pipeline_tests::{Db, TestApp, eventually};
use serde_json::json;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Every log line of this test process.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        // The same formatting as `inventory::telemetry::init`, at debug, into `buf`.
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .with_target(true)
            .with_writer(move || Sink(sink.clone()))
            .try_init()
            .expect("the only subscriber of this test binary");
        buf
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(b);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every file under `dir`, gzip files decompressed: (path, bytes).
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
            continue;
        }
        let Ok(raw) = std::fs::read(&p) else { continue };
        let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
            let mut s = Vec::new();
            flate2::read::MultiGzDecoder::new(&raw[..])
                .read_to_end(&mut s)
                .expect("gzip in the bucket decompresses");
            s
        } else {
            raw
        };
        out.push((p.display().to_string(), bytes));
    }
    out
}

fn find(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secrets_never_reach_logs_or_captured_data() {
    let logs = logs();
    let mut rec = Record::new(
        "hygiene",
        "secrets_never_reach_logs_or_captured_data",
        "Full flow with debug JSON logs of every crate captured: admin calls (right, wrong, token on a public route), sales, stock-outs, factory timeout + 500 + success, signed callback, forged callback with another order's genuine token, replay, outbox relay",
    )
    .on("sqlite");
    let admin = format!("adm-{}", uuid::Uuid::new_v4().simple());
    let secret = format!("cbs-{}", uuid::Uuid::new_v4().simple());
    let (a2, s2) = (admin.clone(), secret.clone());
    let s = TestApp::spawn_with(Db::Sqlite, move |o| {
        o.admin_token = a2;
        o.callback_secret = Some(s2);
        o.factory_delay_ms = 50;
        o.factory_timeout_ms = 300;
        o.capture_buffer_ms = 100;
    })
    .await;
    let c = &s.client;
    let signer = CallbackSigner::new(&secret);

    // Admin: right, wrong, and the real token sent where it is not needed.
    for (sku, stock) in [("glazed", 3), ("maple", 2)] {
        let r = c
            .put_product(sku, json!({"stock": stock, "reorder_quantity": 20}))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let r = c
        .send(
            c.http
                .put(format!("{}/admin/inventory/glazed", c.base))
                .header("authorization", "Bearer wrong-token")
                .header("content-type", "application/json")
                .body("{\"stock\":1}"),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = c
        .send(
            c.http
                .get(format!("{}/inventory?token={admin}", c.base))
                .header("authorization", format!("Bearer {admin}")),
        )
        .await;
    assert_eq!(r.status, 200);

    // Stock-out A: the factory works.
    assert_eq!(c.sell("glazed", 1).await.status, 201);
    let r = c.sell("glazed", 2).await;
    assert_eq!(r.status, 201);
    let a = r.body["factory_order"]["id"].as_str().unwrap().to_owned();
    assert_eq!(c.sell("glazed", 1).await.status, 409);
    c.wait_status(&a, "fulfilled").await;

    // Stock-out B: published by the relay (topic down at the sale), the factory times out, then
    // answers 500, then accepts.
    s.shared().topic.down.store(true, Ordering::SeqCst);
    s.shared().hold_completions.send_replace(true);
    s.shared().sim.set(KnobsPatch {
        latency_ms: Some(600),
        ..Default::default()
    });
    let r = c.sell("maple", 2).await;
    let b = r.body["factory_order"]["id"].as_str().unwrap().to_owned();
    s.shared().topic.down.store(false, Ordering::SeqCst);
    let requests = || s.shared().sim.requests.load(Ordering::SeqCst);
    let before = requests();
    eventually(Duration::from_secs(20), || async {
        let o = s
            .store()
            .factory_order(&FactoryOrderId::parse(&b).unwrap())
            .await
            .unwrap()
            .unwrap();
        o.last_error
            .is_some_and(|e| e.contains("timed out"))
            .then_some(())
    })
    .await
    .expect("a timed-out factory call");
    s.shared().sim.set(KnobsPatch {
        latency_ms: Some(0),
        failure_rate: Some(1.0),
        ..Default::default()
    });
    eventually(Duration::from_secs(20), || async {
        (requests() > before + 1).then_some(())
    })
    .await
    .expect("a failed factory call");
    s.shared().sim.set(KnobsPatch {
        failure_rate: Some(0.0),
        ..Default::default()
    });
    c.wait_status(&b, "requested").await;

    // A forged completion of A carrying B's genuine token; then A's own, replayed.
    let done = json!({"MessageAttributeProductId": "glazed", "MessageAttributeProductCnt": 20});
    let r = c
        .post_json(
            &format!("/factory/callbacks/{a}?token={}", signer.token(&b)),
            done.clone(),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = c
        .post_json(
            &format!(
                "/factory/callbacks/{a}?token={}&correlation_id=hyg-1",
                signer.token(&a)
            ),
            done,
        )
        .await;
    assert_eq!(
        (r.status, r.body["restocked"].as_bool()),
        (200, Some(false))
    );
    s.shared().hold_completions.send_replace(false);
    c.wait_status(&b, "fulfilled").await;
    assert_eq!(
        c.post_json("/events", json!({"type": "page_view", "sku": "glazed"}))
            .await
            .status,
        202
    );
    let data_dir = s.stack.data_dir.clone();
    // The guard keeps the data dir: it is scanned after the stop.
    let _dir = s.stop().await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let secrets = [
        ("admin token", admin.clone()),
        ("callback secret", secret.clone()),
        ("callback token of A", signer.token(&a)),
        ("callback token of B", signer.token(&b)),
    ];
    let log = logs.lock().unwrap().clone();
    let text = String::from_utf8_lossy(&log);
    let lines = text.lines().count();
    // The capture is real: the flow's story is in it, at debug level, from several crates.
    if std::env::var_os("HYGIENE_DUMP").is_some() {
        std::fs::write("/tmp/hygiene-logs.jsonl", &log).unwrap();
    }
    // (Fragments, not whole messages: the wording of log lines may change.)
    for needle in [
        "\"level\":\"DEBUG\"",
        "\"target\":\"hyper",
        "stock-out",
        "relay",
        "timed out",
        "factory failed with 500",
        "forged",
        "restocked",
        "duplicate",
    ] {
        assert!(text.contains(needle), "the logs should contain {needle:?}");
    }
    for (what, value) in &secrets {
        assert!(!find(&log, value), "the {what} appears in the logs");
    }
    rec.saw(format!(
        "{lines} JSON log lines ({} KiB, debug, all crates) scanned: no admin token, callback \
         secret or callback token",
        log.len() / 1024
    ));
    let bucket = files(&data_dir.join("bucket"));
    let captured: usize = bucket
        .iter()
        .map(|(_, b)| String::from_utf8_lossy(b).lines().count())
        .sum();
    assert!(
        bucket
            .iter()
            .any(|(_, b)| find(b, "/factory/callbacks/{id}")),
        "the callbacks were captured"
    );
    let everything = files(&data_dir);
    for (what, value) in &secrets {
        for (path, bytes) in &everything {
            assert!(!find(bytes, value), "the {what} appears in {path}");
        }
    }
    rec.saw(format!(
        "{} bucket object(s) ({captured} captured records, gzip decompressed) and all {} files \
         of the data dir (SQLite db and WAL included) scanned: none of the 4 secrets",
        bucket.len(),
        everything.len()
    ));
    rec.held([
        "admin token absent from logs and data".to_owned(),
        "callback secret absent from logs and data".to_owned(),
        "callback tokens (URL credentials) absent from logs and data".to_owned(),
    ]);
}
