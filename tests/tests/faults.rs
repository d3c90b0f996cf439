//! Fault suite: each case injects one fault into the running pipeline (local stack, its
//! factory stand-in, a scripted factory, a MariaDB the test crashes, a store that fails on
//! purpose, the real `factory-orderer` handler fed hand-made SQS batches), watches what the
//! system does, then checks the invariants (`pipeline_tests::faults::check_invariants`).
//! Each case writes one row of `docs/reliability.md` (see `scripts/faults.sh`).
//!
//! Cases already covered by `tests/pipeline.rs` (flash sale, factory down and back, DLQ and
//! redrive, poison through the queue, duplicate deliveries, forged callbacks, crash between
//! commit and publish, stuck orders) are not repeated here.

use async_trait::async_trait;
use inventory::domain::{FactoryOrder, OrderStatus, Sku, StockOutEvent, new_id};
use inventory::factory::{CallbackSigner, FactoryClient, FactorySettings};
use inventory::orderer::{Handled, Orderer, handle_batch, handle_record};
use inventory::sim::KnobsPatch;
use inventory::store::{DynStore, Orders, StoreError};
use pipeline_tests::both;
use pipeline_tests::faults::{
    Accepted, Expect, Mariadb, Record, ScriptedFactory, Step, WAIT, alarm, captured_records,
    check_invariants, order_status, sqs_event, sqs_message, stock_out, wait_status,
};
use pipeline_tests::{Client, Db, Stack, eventually, stack};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const SUITE: &str = "faults";

fn batches(s: &Stack) -> Option<u64> {
    Some(s.shared.sim.batches.load(Ordering::SeqCst))
}

/// Waits until `counter` reaches `want`, then checks it does not go past it.
async fn settles_at(counter: &AtomicU64, want: u64, what: &str) {
    eventually(WAIT, || async {
        (counter.load(Ordering::SeqCst) >= want).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("{what}: never reached {want}"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(counter.load(Ordering::SeqCst), want, "{what}");
}

async fn redrive(c: &Client) -> i64 {
    c.send(c.http.post(format!("{}/ops/dlq/redrive", c.base)))
        .await
        .body["moved"]
        .as_i64()
        .unwrap_or_default()
}

// ---- a store that fails on purpose ---------------------------------------------------------

/// Delegates to a real store; `mark_requested` can be made to fail (the process "crashes"
/// after the factory accepted, before the status update) or to wait until the order is
/// fulfilled (the completion overtakes the status update).
struct FaultyStore {
    inner: DynStore,
    fail_mark_requested: AtomicU32,
    hold_mark_requested_until_fulfilled: AtomicBool,
    mark_requested_calls: AtomicU32,
}

impl FaultyStore {
    fn new(inner: DynStore) -> Arc<Self> {
        Arc::new(FaultyStore {
            inner,
            fail_mark_requested: AtomicU32::new(0),
            hold_mark_requested_until_fulfilled: AtomicBool::new(false),
            mark_requested_calls: AtomicU32::new(0),
        })
    }
}

#[async_trait]
impl Orders for FaultyStore {
    async fn factory_order(&self, id: &str) -> Result<Option<FactoryOrder>, StoreError> {
        self.inner.factory_order(id).await
    }
    async fn mark_requested(
        &self,
        id: &str,
        factory_ref: &str,
        event_id: &str,
    ) -> Result<bool, StoreError> {
        self.mark_requested_calls.fetch_add(1, Ordering::SeqCst);
        let fail = self
            .fail_mark_requested
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fail {
            return Err(StoreError::Unavailable(
                "injected: process died after the factory call".into(),
            ));
        }
        if self
            .hold_mark_requested_until_fulfilled
            .load(Ordering::SeqCst)
        {
            let started = Instant::now();
            while started.elapsed() < WAIT {
                let o = self.inner.factory_order(id).await?;
                if o.is_some_and(|o| o.status == OrderStatus::Fulfilled) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        self.inner.mark_requested(id, factory_ref, event_id).await
    }
    async fn record_failure(&self, id: &str, error: &str, give_up: bool) -> Result<(), StoreError> {
        self.inner.record_failure(id, error, give_up).await
    }
    async fn reopen(&self, id: &str, note: &str) -> Result<bool, StoreError> {
        self.inner.reopen(id, note).await
    }
    async fn orders_in(
        &self,
        status: OrderStatus,
        limit: i64,
    ) -> Result<Vec<FactoryOrder>, StoreError> {
        self.inner.orders_in(status, limit).await
    }
}

// ---- the real factory-orderer, fed by the test -----------------------------------------------

/// The local stack plus a second `factory-orderer` (the real handler) whose SQS batches the
/// test builds, over a [`FaultyStore`] on the stack's database, calling the stack's factory
/// stand-in. Stock-outs are intercepted before the stack's own queue sees them.
struct Rig {
    _dir: tempfile::TempDir,
    s: Stack,
    c: Client,
    store: Arc<FaultyStore>,
    orderer: Orderer,
}

async fn rig(db: Db, tweak: impl FnOnce(&mut pipeline_tests::Options)) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let s = stack(db, dir.path(), tweak).await;
    let c = Client::new(&s);
    let store = FaultyStore::new(s.store().clone());
    let factory = FactoryClient::new(
        FactorySettings {
            base_url: format!("{}/factory-sim", s.base_url),
            factory_id: "donut-factory-1".into(),
            requester: "donut-shop".into(),
            callback_base: s.base_url.clone(),
            timeout: Duration::from_secs(3),
        },
        CallbackSigner::new("test-callback-secret"),
    )
    .unwrap();
    let orderer = Orderer {
        store: store.clone(),
        factory,
        max_receive_count: 5,
    };
    Rig {
        _dir: dir,
        s,
        c,
        store,
        orderer,
    }
}

impl Rig {
    /// A stock-out whose event the test delivers itself: the topic is down (the stack's queue
    /// never sees it) and the outbox row is marked published (the relay leaves it alone).
    async fn intercepted_stock_out(
        &self,
        sku: &str,
        stock: i64,
        reorder_quantity: i64,
    ) -> (String, StockOutEvent) {
        self.s.shared.topic.down.store(true, Ordering::SeqCst);
        let id = stock_out(&self.c, sku, stock, reorder_quantity).await;
        let entry = self
            .s
            .store()
            .unpublished(i64::MAX, 100)
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.payload.contains(&id))
            .expect("the stock-out is in the outbox");
        self.s.store().mark_published(&entry.id).await.unwrap();
        (id, serde_json::from_str(&entry.payload).unwrap())
    }
}

fn body(e: &StockOutEvent) -> String {
    serde_json::to_string(e).unwrap()
}

fn failed_ids(r: &aws_lambda_events::sqs::SqsBatchResponse) -> BTreeSet<String> {
    r.batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

// ---- 1. MariaDB crashes during a flash sale --------------------------------------------------

#[derive(Debug, Clone)]
struct Attempt {
    key: String,
    status: u16,
    latency: Duration,
    started: Instant,
    retry_after: Option<String>,
    replayed: bool,
    body: Value,
}

async fn buy(c: &Client, key: &str) -> Attempt {
    let started = Instant::now();
    let r = c
        .send(
            c.http
                .post(format!("{}/sales", c.base))
                .header("content-type", "application/json")
                .header("idempotency-key", key)
                .body(json!({"sku": "hot", "quantity": 1}).to_string()),
        )
        .await;
    Attempt {
        key: key.to_owned(),
        status: r.status,
        latency: started.elapsed(),
        started,
        retry_after: r
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        replayed: r
            .headers
            .get("idempotent-replayed")
            .is_some_and(|v| v.as_bytes() == b"true"),
        body: r.body,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mariadb_crash_and_restart_during_flash_sale() {
    let mut rec = Record::new(
        SUITE,
        "mariadb_crash_and_restart_during_flash_sale",
        "MariaDB killed (SIGKILL) mid flash sale, down 4 s, restarted on the same datadir/port",
    )
    .on("mariadb");
    let mdb = Arc::new(tokio::task::block_in_place(Mariadb::start_new));
    let url = mdb.fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let s = stack(Db::Sqlite, dir.path(), |o| {
        o.database_url = Some(url.clone());
        o.factory_delay_ms = 100;
    })
    .await;
    // The factory finishes only after the sale, so the sell-out is one stock-out episode.
    s.shared.hold_completions.send_replace(true);
    let c = Arc::new(Client::new(&s));
    let stock = 60;
    let r = c
        .put_product("hot", json!({"stock": stock, "reorder_quantity": 60}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    let attempts = Arc::new(std::sync::Mutex::new(Vec::<Attempt>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let sold = Arc::new(AtomicU64::new(0));
    let mut buyers = Vec::new();
    for _ in 0..6 {
        let (c, attempts, stop, sold) = (c.clone(), attempts.clone(), stop.clone(), sold.clone());
        buyers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let a = buy(&c, &uuid::Uuid::new_v4().to_string()).await;
                if a.status == 201 {
                    sold.fetch_add(1, Ordering::SeqCst);
                }
                attempts.lock().unwrap().push(a);
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        }));
    }
    eventually(WAIT, || async {
        (sold.load(Ordering::SeqCst) >= 8).then_some(())
    })
    .await
    .expect("sales before the crash");
    let killed_at = Instant::now();
    tokio::task::block_in_place(|| mdb.kill());
    // While it is down, reads fail the same way.
    let r = c.get("/inventory/hot").await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (503, Some("unavailable")),
        "{}",
        r.body
    );
    assert!(r.headers.contains_key("retry-after"));
    tokio::time::sleep(Duration::from_secs(4)).await;
    let sold_before_restart = sold.load(Ordering::SeqCst);
    let mdb2 = mdb.clone();
    tokio::task::block_in_place(move || mdb2.start());
    let restarted_at = Instant::now();
    // The same process recovers: a sale after the restart succeeds.
    let recovered_in = eventually(Duration::from_secs(30), || async {
        attempts
            .lock()
            .unwrap()
            .iter()
            .any(|a| a.status == 201 && a.started >= restarted_at)
            .then(|| restarted_at.elapsed())
    })
    .await
    .expect("sales resume after the restart without restarting the stack");
    // Let the flash sale finish: sold out and refused.
    eventually(Duration::from_secs(30), || async {
        attempts
            .lock()
            .unwrap()
            .iter()
            .any(|a| a.status == 409)
            .then_some(())
    })
    .await
    .expect("the stock sells out after recovery");
    stop.store(true, Ordering::SeqCst);
    for b in buyers {
        b.await.unwrap();
    }
    let attempts = attempts.lock().unwrap().clone();
    let unavailable: Vec<&Attempt> = attempts.iter().filter(|a| a.status == 503).collect();
    let others: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| ![201, 409, 503].contains(&a.status))
        .collect();
    assert!(others.is_empty(), "unexpected answers: {others:?}");
    assert!(!unavailable.is_empty(), "requests hit the outage");
    for a in &unavailable {
        assert_eq!(a.body["error"], "unavailable", "{:?}", a);
        assert!(a.body["message"].is_string());
        assert_eq!(
            a.retry_after.as_deref(),
            Some("1"),
            "503 carries Retry-After"
        );
    }
    let slowest_503 = unavailable.iter().map(|a| a.latency).max().unwrap();
    assert!(
        slowest_503 < Duration::from_secs(6),
        "503s come within the pool's acquire timeout (3 s) plus margin, not hang: {slowest_503:?}"
    );
    assert_eq!(
        sold_before_restart,
        attempts
            .iter()
            .filter(|a| a.status == 201 && a.started < killed_at)
            .count() as u64,
        "no sale succeeded while the database was down"
    );
    // Clients retry their 503s with the same Idempotency-Key: a sale committed just before the
    // crash (answer lost) is replayed, never sold twice.
    let mut accepted: Vec<Accepted> = attempts
        .iter()
        .filter(|a| a.status == 201)
        .filter_map(|a| Accepted::from_reply(&a.body))
        .collect();
    let (mut replayed, mut sold_on_retry, mut refused_on_retry) = (0, 0, 0);
    for a in &unavailable {
        let again = buy(&c, &a.key).await;
        match again.status {
            201 => {
                // A replay is a sale committed just before the crash whose answer was lost.
                if again.replayed {
                    replayed += 1;
                } else {
                    sold_on_retry += 1;
                }
                accepted.extend(Accepted::from_reply(&again.body));
            }
            409 => refused_on_retry += 1,
            other => panic!("retry of {} answered {other}: {}", a.key, again.body),
        }
    }
    let order = attempts
        .iter()
        .find_map(|a| a.body["factory_order"]["id"].as_str())
        .expect("the sell-out opened a factory order")
        .to_owned();
    s.shared.hold_completions.send_replace(false);
    wait_status(&c, &order, "fulfilled").await;
    rec.saw(format!(
        "{} requests: {} sold, {} refused (409), {} answered 503 unavailable + Retry-After: 1 \
         (slowest {} ms, bounded by the 3 s pool acquire timeout)",
        attempts.len(),
        attempts.iter().filter(|a| a.status == 201).count(),
        attempts.iter().filter(|a| a.status == 409).count(),
        unavailable.len(),
        slowest_503.as_millis()
    ));
    rec.saw(format!(
        "no 5xx other than 503, no sale during the outage; the same process served sales {} ms \
         after mariadbd was back (pool reconnects)",
        recovered_in.as_millis()
    ));
    rec.saw(format!(
        "503s retried with their Idempotency-Key: {sold_on_retry} sold, {replayed} replayed, \
         {refused_on_retry} refused; the sell-out's factory order was fulfilled once"
    ));
    let held = check_invariants(
        s.store(),
        batches(&s),
        &Expect {
            initial: &[("hot", stock)],
            accepted: Some(&accepted),
            orders: &[("hot", 1)],
            batches: Some(1),
        },
    )
    .await;
    rec.held(held);
    s.stop().await;
    drop(mdb);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mariadb_clean_restart_while_the_completion_arrives() {
    let mut rec = Record::new(
        SUITE,
        "mariadb_clean_restart_while_the_completion_arrives",
        "MariaDB stopped cleanly (SIGTERM) while the factory's completion callback arrives, restarted 3 s later",
    )
    .on("mariadb");
    let mdb = Arc::new(tokio::task::block_in_place(Mariadb::start_new));
    let url = mdb.fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let s = stack(Db::Sqlite, dir.path(), |o| {
        o.database_url = Some(url.clone());
        o.factory_delay_ms = 50;
    })
    .await;
    s.shared.hold_completions.send_replace(true);
    let c = Client::new(&s);
    let id = stock_out(&c, "glazed", 2, 20).await;
    wait_status(&c, &id, "requested").await;
    let m = mdb.clone();
    tokio::task::block_in_place(move || m.stop());
    // The completion arrives while the database is down.
    s.shared.hold_completions.send_replace(false);
    let mut down = Vec::new();
    let probes = [
        (
            "sale",
            c.http
                .post(format!("{}/sales", c.base))
                .header("content-type", "application/json")
                .body(json!({"sku": "glazed", "quantity": 1}).to_string()),
        ),
        (
            "admin PUT",
            c.http
                .put(format!("{}/admin/inventory/glazed", c.base))
                .header("authorization", format!("Bearer {}", c.admin))
                .header("content-type", "application/json")
                .body("{\"stock\": 1}"),
        ),
        (
            "order read",
            c.http.get(format!("{}/factory-orders/{id}", c.base)),
        ),
    ]
    .map(|(what, req)| {
        let c = &c;
        async move { (what, c.send(req).await) }
    });
    // Concurrently: each waits for the pool's acquire timeout (3 s).
    for (what, r) in futures::future::join_all(probes).await {
        assert_eq!(
            (r.status, r.body["error"].as_str()),
            (503, Some("unavailable")),
            "{what}: {}",
            r.body
        );
        assert_eq!(
            r.headers.get("retry-after").and_then(|v| v.to_str().ok()),
            Some("1")
        );
        down.push(what);
    }
    let m = mdb.clone();
    tokio::task::block_in_place(move || m.start());
    let body = wait_status(&c, &id, "fulfilled").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    settles_at(&s.shared.sim.completions, 1, "completions").await;
    assert_eq!(c.get("/inventory/glazed").await.body["stock"], 20);
    let store = s.store().clone();
    let made = batches(&s);
    let data_dir = s.data_dir.clone();
    s.stop().await;
    let mut records: Vec<_> = captured_records(&data_dir)
        .into_iter()
        .filter(|r| r["route"] == "/factory/callbacks/{id}")
        .collect();
    records.sort_by_key(|r| r["timestamp"].as_str().unwrap_or_default().to_owned());
    let callbacks: Vec<String> = records.iter().map(|r| r["status"].to_string()).collect();
    assert!(
        callbacks.first().is_some_and(|s| s == "503")
            && callbacks.last().is_some_and(|s| s == "200"),
        "the completion met the outage, then a retry got through: {callbacks:?}"
    );
    rec.saw(format!(
        "while down: {} answered 503 unavailable + Retry-After: 1; the completion callback was \
         answered {} (the factory retries): fulfilled once ({} transitions), stock 20",
        down.join(", "),
        callbacks.join(" then "),
        body["transitions"].as_array().map(Vec::len).unwrap_or(0)
    ));
    rec.held(
        check_invariants(
            &store,
            made,
            &Expect {
                initial: &[("glazed", 2)],
                orders: &[("glazed", 1)],
                batches: Some(1),
                ..Default::default()
            },
        )
        .await,
    );
    drop(mdb);
}

// ---- 2. the Factory API misbehaves -----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn factory_timeouts_are_bounded_then_dlq_alarm_and_redrive_recovers() {
    let mut rec = Record::new(
        SUITE,
        "factory_timeouts_are_bounded_then_dlq_alarm_and_redrive_recovers",
        "Factory API slower than the client timeout (latency 600 ms > timeout 150 ms)",
    )
    .on("sqlite");
    let dir = tempfile::tempdir().unwrap();
    let s = stack(Db::Sqlite, dir.path(), |o| {
        o.factory_latency_ms = 600;
        o.factory_timeout_ms = 150;
        o.max_receive_count = 3;
    })
    .await;
    let c = Client::new(&s);
    let started = Instant::now();
    let id = stock_out(&c, "glazed", 2, 20).await;
    eventually(WAIT, || async { (s.shared.dlq.depth() == 1).then_some(()) })
        .await
        .expect("the message reaches the DLQ after maxReceiveCount timeouts");
    let to_dlq = started.elapsed();
    let (st, body) = order_status(&c, &id).await;
    assert_eq!(st, "failed", "{body}");
    assert_eq!(body["attempts"], 3, "one bounded call per delivery: {body}");
    let err = body["last_error"].as_str().unwrap_or_default();
    assert!(err.contains("timed out"), "{body}");
    assert_eq!(alarm(&c, "FactoryOrderFailed").await, "ALARM");
    assert_eq!(alarm(&c, "FactoryOrdersDLQNotEmpty").await, "ALARM");
    rec.saw(format!(
        "3 calls each cut at 150 ms; order failed after {} ms with last_error {err:?}; message \
         in the DLQ; FactoryOrderFailed and FactoryOrdersDLQNotEmpty in ALARM",
        to_dlq.as_millis()
    ));
    s.shared.sim.set(KnobsPatch {
        latency_ms: Some(0),
        ..Default::default()
    });
    assert_eq!(redrive(&c).await, 1);
    wait_status(&c, &id, "fulfilled").await;
    eventually(WAIT, || async {
        (alarm(&c, "FactoryOrderFailed").await == "OK"
            && alarm(&c, "FactoryOrdersDLQNotEmpty").await == "OK")
            .then_some(())
    })
    .await
    .expect("alarms clear");
    rec.saw("factory fast again + DLQ redrive: order reopened, fulfilled once, alarms back to OK");
    tokio::time::sleep(Duration::from_millis(500)).await;
    rec.held(
        check_invariants(
            s.store(),
            batches(&s),
            &Expect {
                initial: &[("glazed", 2)],
                orders: &[("glazed", 1)],
                batches: Some(1),
                ..Default::default()
            },
        )
        .await,
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn factory_500s_are_retried_a_bounded_number_of_times() {
    let mut rec = Record::new(
        SUITE,
        "factory_500s_are_retried_a_bounded_number_of_times",
        "Factory API answers 500 to everything (failure_rate 1.0)",
    )
    .on("sqlite");
    let dir = tempfile::tempdir().unwrap();
    let s = stack(Db::Sqlite, dir.path(), |o| {
        o.factory_failure_rate = 1.0;
        o.max_receive_count = 3;
    })
    .await;
    let c = Client::new(&s);
    let id = stock_out(&c, "glazed", 2, 20).await;
    eventually(WAIT, || async { (s.shared.dlq.depth() == 1).then_some(()) })
        .await
        .expect("DLQ after maxReceiveCount");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let calls = s.shared.sim.requests.load(Ordering::SeqCst);
    assert_eq!(calls, 3, "exactly maxReceiveCount calls, no retry storm");
    let (st, body) = order_status(&c, &id).await;
    assert_eq!(st, "failed", "{body}");
    assert!(
        body["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("500"),
        "{body}"
    );
    assert_eq!(alarm(&c, "FactoryOrderFailed").await, "ALARM");
    assert_eq!(alarm(&c, "FactoryOrdersDLQNotEmpty").await, "ALARM");
    let dlq = c.get("/ops/dlq").await.body;
    let reason = dlq["messages"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("500"), "{reason}");
    rec.saw(format!(
        "{calls} factory calls (= maxReceiveCount), order failed, message in the DLQ with \
         reason {reason:?}, both alarms in ALARM"
    ));
    s.shared.sim.set(KnobsPatch {
        failure_rate: Some(0.0),
        ..Default::default()
    });
    assert_eq!(redrive(&c).await, 1);
    wait_status(&c, &id, "fulfilled").await;
    rec.saw("after the factory recovered, one redrive fulfilled the order");
    rec.held(
        check_invariants(
            s.store(),
            batches(&s),
            &Expect {
                initial: &[("glazed", 2)],
                orders: &[("glazed", 1)],
                batches: Some(1),
                ..Default::default()
            },
        )
        .await,
    );
    s.stop().await;
}

/// The built-in stand-in has no 429 knob, so a scripted factory answers 429 here.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn factory_429_is_retried_with_the_same_idempotency_key() {
    let mut rec = Record::new(
        SUITE,
        "factory_429_is_retried_with_the_same_idempotency_key",
        "Factory API throttles (429, Retry-After) twice, then accepts",
    )
    .on("sqlite");
    let f = ScriptedFactory::start(
        vec![Step::Status(429), Step::Status(429), Step::Accept],
        Duration::from_millis(50),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let s = stack(Db::Sqlite, dir.path(), |o| {
        o.factory_url = Some(f.base_url.clone());
        o.max_receive_count = 5;
    })
    .await;
    let c = Client::new(&s);
    let id = stock_out(&c, "glazed", 2, 20).await;
    let body = wait_status(&c, &id, "fulfilled").await;
    let keys = f.keys();
    // Three receives; a redelivery racing a slow call under load may add one more call.
    assert!(
        keys.len() >= 3,
        "two throttled calls, then accepted: {keys:?}"
    );
    let steps: Vec<Step> = f.log.lock().unwrap().iter().map(|(_, s)| *s).collect();
    assert_eq!(
        steps[..3],
        [Step::Status(429), Step::Status(429), Step::Accept],
        "{steps:?}"
    );
    assert!(
        keys.iter().all(|k| *k == id),
        "same idempotency key: {keys:?}"
    );
    assert_eq!(f.batches.load(Ordering::SeqCst), 1);
    // Counted when the callback's answer is back at the factory, just after `fulfilled`.
    settles_at(&f.completions, 1, "one completion").await;
    assert!(body["attempts"].as_i64() >= Some(3), "{body}");
    assert!(body["last_error"].is_null(), "cleared on success: {body}");
    assert_eq!(s.shared.dlq.depth(), 0);
    rec.saw(
        "429 counted as transient: redelivered after the visibility timeout, 3 calls all with \
         Idempotency-Key = order id, accepted on the 3rd, fulfilled, nothing in the DLQ",
    );
    rec.held(
        check_invariants(
            s.store(),
            Some(f.batches.load(Ordering::SeqCst)),
            &Expect {
                initial: &[("glazed", 2)],
                orders: &[("glazed", 1)],
                batches: Some(1),
                ..Default::default()
            },
        )
        .await,
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn factory_429_forever_ends_in_the_dlq() {
    let mut rec = Record::new(
        SUITE,
        "factory_429_forever_ends_in_the_dlq",
        "Factory API throttles (429) every call",
    )
    .on("sqlite");
    let f = ScriptedFactory::start(vec![Step::Status(429); 10], Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().unwrap();
    let s = stack(Db::Sqlite, dir.path(), |o| {
        o.factory_url = Some(f.base_url.clone());
        o.max_receive_count = 3;
    })
    .await;
    let c = Client::new(&s);
    let id = stock_out(&c, "glazed", 2, 20).await;
    eventually(WAIT, || async { (s.shared.dlq.depth() == 1).then_some(()) })
        .await
        .expect("DLQ");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (st, body) = order_status(&c, &id).await;
    assert_eq!(st, "failed", "{body}");
    assert!(
        body["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("429"),
        "{body}"
    );
    assert_eq!(f.requests.load(Ordering::SeqCst), 3, "bounded");
    assert_eq!(alarm(&c, "FactoryOrderFailed").await, "ALARM");
    rec.saw(
        "3 calls (= maxReceiveCount), order failed with last_error naming 429, DLQ + \
         FactoryOrderFailed alarm",
    );
    rec.held(
        check_invariants(
            s.store(),
            Some(f.batches.load(Ordering::SeqCst)),
            &Expect {
                initial: &[("glazed", 2)],
                orders: &[("glazed", 1)],
                batches: Some(0),
                ..Default::default()
            },
        )
        .await,
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flapping_factory_and_a_lost_acceptance_make_one_batch() {
    let mut rec = Record::new(
        SUITE,
        "flapping_factory_and_a_lost_acceptance_make_one_batch",
        "Factory flaps: 500, 429, accepts but answers after the client gave up (timeout), 503, then 202",
    )
    .on("sqlite");
    let f = ScriptedFactory::start(
        vec![
            Step::Status(500),
            Step::Status(429),
            Step::Hang(Duration::from_millis(500)),
            Step::Status(503),
            Step::Accept,
        ],
        Duration::from_millis(50),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let s = stack(Db::Sqlite, dir.path(), |o| {
        o.factory_url = Some(f.base_url.clone());
        o.factory_timeout_ms = 150;
        o.max_receive_count = 8;
    })
    .await;
    let c = Client::new(&s);
    let id = stock_out(&c, "glazed", 2, 20).await;
    wait_status(&c, &id, "fulfilled").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let keys = f.keys();
    assert!(keys.len() >= 3, "{keys:?}");
    assert!(keys.iter().all(|k| *k == id), "{keys:?}");
    assert_eq!(f.batches.load(Ordering::SeqCst), 1, "one batch");
    settles_at(&f.completions, 1, "one completion").await;
    assert_eq!(s.shared.dlq.depth(), 0);
    rec.saw(format!(
        "{} calls, all with the same Idempotency-Key; the acceptance lost in the timeout was \
         completed by the factory; later calls were answered with the same reference; fulfilled \
         once, nothing in the DLQ",
        keys.len()
    ));
    rec.held(
        check_invariants(
            s.store(),
            Some(f.batches.load(Ordering::SeqCst)),
            &Expect {
                initial: &[("glazed", 2)],
                orders: &[("glazed", 1)],
                batches: Some(1),
                ..Default::default()
            },
        )
        .await,
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_factory_does_not_slow_sales_and_inflight_redeliveries_make_one_batch() {
    let mut rec = Record::new(
        SUITE,
        "slow_factory_does_not_slow_sales_and_inflight_redeliveries_make_one_batch",
        "Factory API very slow (2 s per call, under the 5 s timeout; visibility timeout 200 ms) during a flash sale",
    )
    .on("sqlite");
    let dir = tempfile::tempdir().unwrap();
    let s = stack(Db::Sqlite, dir.path(), |o| {
        o.factory_latency_ms = 2000;
        o.factory_timeout_ms = 5000;
        o.orderer_concurrency = 3;
    })
    .await;
    s.shared.hold_completions.send_replace(true);
    let c = Arc::new(Client::new(&s));
    c.put_product("hot", json!({"stock": 40, "reorder_quantity": 40}))
        .await;
    let budget = Arc::new(AtomicU64::new(120));
    let mut buyers = Vec::new();
    for _ in 0..8 {
        let (c, budget) = (c.clone(), budget.clone());
        buyers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while budget
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                let t = Instant::now();
                let r = c.sell("hot", 1).await;
                seen.push((r.status, t.elapsed(), r.body));
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for b in buyers {
        all.extend(b.await.unwrap());
    }
    let slowest = all.iter().map(|(_, d, _)| *d).max().unwrap();
    assert!(all.iter().all(|(s, _, _)| *s == 201 || *s == 409));
    let accepted: Vec<Accepted> = all
        .iter()
        .filter(|(s, _, _)| *s == 201)
        .filter_map(|(_, _, b)| Accepted::from_reply(b))
        .collect();
    assert_eq!(accepted.len(), 40);
    assert!(
        slowest < Duration::from_millis(1500),
        "sales never wait for the factory: slowest sale {slowest:?}"
    );
    let order = all
        .iter()
        .find_map(|(_, _, b)| b["factory_order"]["id"].as_str())
        .unwrap()
        .to_owned();
    wait_status(&c, &order, "requested").await;
    // The redeliveries' calls answer up to 2 s after the first one.
    let calls = eventually(Duration::from_secs(5), || async {
        let n = s.shared.sim.requests.load(Ordering::SeqCst);
        (n >= 2).then_some(n)
    })
    .await
    .expect("the message was redelivered while its factory call was in flight");
    s.shared.hold_completions.send_replace(false);
    wait_status(&c, &order, "fulfilled").await;
    rec.saw(format!(
        "120 buyers' requests: 40 sold, 80 refused, slowest sale {} ms while each factory call \
         took 2 s; the message was redelivered while its call was in flight ({calls} concurrent \
         calls, same key): one batch, fulfilled once",
        slowest.as_millis()
    ));
    rec.held(
        check_invariants(
            s.store(),
            batches(&s),
            &Expect {
                initial: &[("hot", 40)],
                accepted: Some(&accepted),
                orders: &[("hot", 1)],
                batches: Some(1),
            },
        )
        .await,
    );
    s.stop().await;
}

// ---- 3. duplicates and out-of-order delivery -------------------------------------------------

async fn resend_before_original_and_duplicates(db: Db) {
    let mut rec = Record::new(
        SUITE,
        "resend_before_original_and_duplicates",
        "A relay re-send (new event id, same order) delivered before the original, then duplicates of both, then late copies after fulfilment",
    )
    .db(db);
    let r = rig(db, |o| o.factory_delay_ms = 50).await;
    r.s.shared.hold_completions.send_replace(true);
    let (id, e1) = r.intercepted_stock_out("glazed", 2, 20).await;
    let mut e2 = e1.clone();
    e2.event_id = new_id();
    e2.occurred_at += 60_000;
    let mut refs = Vec::new();
    for (mid, ev, rc) in [("m-e2", &e2, 1), ("m-e1", &e1, 1), ("m-e2", &e2, 2)] {
        match handle_record(&r.orderer, &sqs_message(mid, Some(&body(ev)), rc))
            .await
            .unwrap()
        {
            Handled::Requested { reference } => refs.push(reference),
            other => panic!("{mid}: {other:?}"),
        }
    }
    assert!(refs.windows(2).all(|w| w[0] == w[1]), "{refs:?}");
    let dup = handle_record(&r.orderer, &sqs_message("m-e2", Some(&body(&e2)), 3))
        .await
        .unwrap();
    assert!(
        matches!(dup, Handled::Skipped(why) if why.contains("duplicate")),
        "{dup:?}"
    );
    assert_eq!(r.s.shared.sim.batches.load(Ordering::SeqCst), 1);
    r.s.shared.hold_completions.send_replace(false);
    wait_status(&r.c, &id, "fulfilled").await;
    let late = handle_batch(
        &r.orderer,
        sqs_event(vec![
            sqs_message("late-e1", Some(&body(&e1)), 1),
            sqs_message("late-e2", Some(&body(&e2)), 1),
        ]),
    )
    .await;
    assert!(late.batch_item_failures.is_empty());
    let calls = r.s.shared.sim.requests.load(Ordering::SeqCst);
    assert_eq!(calls, 3, "late copies after fulfilment call nothing");
    rec.saw(format!(
        "re-send before original: both requested the factory with the same key (same reference \
         {}); an exact duplicate of the latest event was skipped; late copies after fulfilment \
         acknowledged without a call ({calls} factory calls, 1 batch)",
        refs[0]
    ));
    rec.held(
        check_invariants(
            r.s.store(),
            batches(&r.s),
            &Expect {
                initial: &[("glazed", 2)],
                orders: &[("glazed", 1)],
                batches: Some(1),
                ..Default::default()
            },
        )
        .await,
    );
    r.s.stop().await;
}
both!(resend_before_original_and_duplicates);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_message_delivered_concurrently() {
    let mut rec = Record::new(
        SUITE,
        "same_message_delivered_concurrently",
        "The same stock-out delivered 3 times in one batch and once more in a concurrent invocation",
    )
    .on("sqlite");
    let r = rig(Db::Sqlite, |o| o.factory_delay_ms = 50).await;
    let (id, e1) = r.intercepted_stock_out("glazed", 2, 20).await;
    let b = body(&e1);
    let batch = sqs_event(
        ["a", "b", "c"]
            .iter()
            .map(|m| sqs_message(m, Some(&b), 1))
            .collect(),
    );
    let other = sqs_event(vec![sqs_message("a", Some(&b), 2)]);
    let (x, y) = tokio::join!(
        handle_batch(&r.orderer, batch),
        handle_batch(&r.orderer, other)
    );
    assert!(x.batch_item_failures.is_empty() && y.batch_item_failures.is_empty());
    wait_status(&r.c, &id, "fulfilled").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    settles_at(&r.s.shared.sim.completions, 1, "completions").await;
    rec.saw(format!(
        "4 concurrent deliveries: {} factory calls with one key, 1 batch, 1 completion, all \
         records acknowledged",
        r.s.shared.sim.requests.load(Ordering::SeqCst)
    ));
    rec.held(
        check_invariants(
            r.s.store(),
            batches(&r.s),
            &Expect {
                initial: &[("glazed", 2)],
                orders: &[("glazed", 1)],
                batches: Some(1),
                ..Default::default()
            },
        )
        .await,
    );
    r.s.stop().await;
}

async fn completion_overtakes_the_status_update(db: Db) {
    let mut rec = Record::new(
        SUITE,
        "completion_overtakes_the_status_update",
        "The factory's completion callback arrives before the orderer records `requested`",
    )
    .db(db);
    let r = rig(db, |o| o.factory_delay_ms = 0).await;
    let (id, e1) = r.intercepted_stock_out("glazed", 2, 20).await;
    r.store
        .hold_mark_requested_until_fulfilled
        .store(true, Ordering::SeqCst);
    let h = handle_record(&r.orderer, &sqs_message("m1", Some(&body(&e1)), 1))
        .await
        .unwrap();
    assert!(matches!(h, Handled::Requested { .. }), "{h:?}");
    let (st, order) = order_status(&r.c, &id).await;
    assert_eq!(st, "fulfilled", "not moved back to requested: {order}");
    let statuses: Vec<&str> = order["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["status"].as_str())
        .collect();
    assert_eq!(statuses, ["pending", "fulfilled"], "{order}");
    // A redelivery now is acknowledged without a call.
    let again = handle_record(&r.orderer, &sqs_message("m1", Some(&body(&e1)), 2))
        .await
        .unwrap();
    assert_eq!(again, Handled::Skipped("already fulfilled"));
    rec.saw(
        "pending -> fulfilled by the callback; the late `requested` update matched no open order \
         and changed nothing; a redelivery was skipped",
    );
    rec.held(
        check_invariants(
            r.s.store(),
            batches(&r.s),
            &Expect {
                initial: &[("glazed", 2)],
                orders: &[("glazed", 1)],
                batches: Some(1),
                ..Default::default()
            },
        )
        .await,
    );
    r.s.stop().await;
}
both!(completion_overtakes_the_status_update);

// ---- 4. poison messages ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn poison_records_fail_alone_in_a_mixed_batch() {
    let mut rec = Record::new(
        SUITE,
        "poison_records_fail_alone_in_a_mixed_batch",
        "One SQS batch: 2 good stock-outs (raw and SNS-enveloped) + 12 poison records (bad JSON, empty, wrong/missing schema version, unknown order, bad ids, unknown fields, wrong types, poisoned SNS envelope, last receive)",
    )
    .on("sqlite");
    let r = rig(Db::Sqlite, |o| o.factory_delay_ms = 50).await;
    let (a, ea) = r.intercepted_stock_out("glazed", 2, 20).await;
    let (b, eb) = r.intercepted_stock_out("maple", 3, 30).await;
    let raw = serde_json::to_value(&ea).unwrap();
    let with = |k: &str, v: Value| {
        let mut x = raw.clone();
        x[k] = v;
        x.to_string()
    };
    let without = |k: &str| {
        let mut x = raw.clone();
        x.as_object_mut().unwrap().remove(k);
        x.to_string()
    };
    let sns =
        |m: String| json!({"Type": "Notification", "MessageId": "x", "Message": m}).to_string();
    let poison: Vec<(&str, Option<String>, u32)> = vec![
        ("not-json", Some("not json {".into()), 1),
        ("no-body", None, 1),
        ("blank", Some(String::new()), 1),
        ("array", Some("[1,2,3]".into()), 1),
        ("schema-v2", Some(with("schema_version", json!(2))), 1),
        ("schema-string", Some(with("schema_version", json!("1"))), 1),
        ("no-schema", Some(without("schema_version")), 1),
        (
            "unknown-order",
            Some(with("factory_order_id", json!(new_id()))),
            1,
        ),
        (
            "bad-order-id",
            Some(with("factory_order_id", json!("../../etc/passwd"))),
            1,
        ),
        ("extra-field", Some(with("injected", json!(true))), 1),
        ("wrong-type", Some(with("quantity", json!("lots"))), 1),
        ("sns-poison", Some(sns("not json".into())), 1),
        ("poison-last-receive", Some("garbage".into()), 5),
    ];
    let mut records: Vec<_> = poison
        .iter()
        .map(|(id, b, rc)| sqs_message(id, b.as_deref(), *rc))
        .collect();
    records.insert(3, sqs_message("good-raw", Some(&body(&ea)), 1));
    records.push(sqs_message("good-sns", Some(&sns(body(&eb))), 1));
    let n = records.len();
    let resp = handle_batch(&r.orderer, sqs_event(records)).await;
    let want: BTreeSet<String> = poison.iter().map(|(id, _, _)| id.to_string()).collect();
    assert_eq!(failed_ids(&resp), want, "exactly the poison records fail");
    assert_eq!(r.s.shared.sim.batches.load(Ordering::SeqCst), 2);
    wait_status(&r.c, &a, "fulfilled").await;
    wait_status(&r.c, &b, "fulfilled").await;
    rec.saw(format!(
        "batch of {n}: batchItemFailures = exactly the {} poison ids (SQS retries only them, \
         then the DLQ); both good records ordered and fulfilled; no panic",
        want.len()
    ));
    rec.held(
        check_invariants(
            r.s.store(),
            batches(&r.s),
            &Expect {
                initial: &[("glazed", 2), ("maple", 3)],
                orders: &[("glazed", 1), ("maple", 1)],
                batches: Some(2),
                ..Default::default()
            },
        )
        .await,
    );
    r.s.stop().await;
}

/// A well-formed event naming a real order but another product or count (a corrupt or forged
/// message) must not make the factory produce the wrong batch under that order's key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn event_not_matching_its_order_is_poison() {
    let mut rec = Record::new(
        SUITE,
        "event_not_matching_its_order_is_poison",
        "Stock-out event for a real order with an unknown SKU / another SKU / another quantity",
    )
    .on("sqlite");
    let r = rig(Db::Sqlite, |o| o.factory_delay_ms = 50).await;
    r.c.put_product("maple", json!({"stock": 10})).await;
    let (id, e1) = r.intercepted_stock_out("glazed", 2, 20).await;
    let mut unknown = e1.clone();
    unknown.sku = Sku::parse("no-such-sku").unwrap();
    let mut other = e1.clone();
    other.sku = Sku::parse("maple").unwrap();
    let mut qty = e1.clone();
    qty.quantity = 999_999;
    let resp = handle_batch(
        &r.orderer,
        sqs_event(vec![
            sqs_message("unknown-sku", Some(&body(&unknown)), 1),
            sqs_message("other-sku", Some(&body(&other)), 1),
            sqs_message("other-qty", Some(&body(&qty)), 1),
        ]),
    )
    .await;
    let calls = r.s.shared.sim.requests.load(Ordering::SeqCst);
    rec.saw(format!(
        "batchItemFailures {:?}; factory calls {calls}",
        failed_ids(&resp)
    ));
    assert_eq!(
        failed_ids(&resp).len(),
        3,
        "mismatching events are reported failed"
    );
    assert_eq!(
        calls, 0,
        "no factory request for a product/count the order does not have"
    );
    // The genuine event still works.
    let h = handle_record(&r.orderer, &sqs_message("good", Some(&body(&e1)), 1))
        .await
        .unwrap();
    assert!(matches!(h, Handled::Requested { .. }));
    wait_status(&r.c, &id, "fulfilled").await;
    rec.saw("the genuine event then ordered and fulfilled the right batch");
    rec.held(
        check_invariants(
            r.s.store(),
            batches(&r.s),
            &Expect {
                initial: &[("glazed", 2), ("maple", 10)],
                orders: &[("glazed", 1), ("maple", 0)],
                batches: Some(1),
                ..Default::default()
            },
        )
        .await,
    );
    r.s.stop().await;
}

// ---- 5. crash between the factory call and the status update ---------------------------------

async fn crash_after_factory_call_then_redelivery(db: Db) {
    let mut rec = Record::new(
        SUITE,
        "crash_after_factory_call_then_redelivery",
        "Orderer dies after the factory accepted, before `requested` is stored; SQS redelivers before the completion",
    )
    .db(db);
    let r = rig(db, |o| o.factory_delay_ms = 50).await;
    r.s.shared.hold_completions.send_replace(true);
    let (id, e1) = r.intercepted_stock_out("glazed", 2, 20).await;
    r.store.fail_mark_requested.store(1, Ordering::SeqCst);
    let first = handle_batch(
        &r.orderer,
        sqs_event(vec![sqs_message("m1", Some(&body(&e1)), 1)]),
    )
    .await;
    assert_eq!(failed_ids(&first), BTreeSet::from(["m1".to_owned()]));
    assert_eq!(r.s.shared.sim.batches.load(Ordering::SeqCst), 1);
    let (st, _) = order_status(&r.c, &id).await;
    assert_eq!(st, "pending", "the update was lost");
    let second = handle_batch(
        &r.orderer,
        sqs_event(vec![sqs_message("m1", Some(&body(&e1)), 2)]),
    )
    .await;
    assert!(second.batch_item_failures.is_empty());
    assert_eq!(r.s.shared.sim.requests.load(Ordering::SeqCst), 2);
    assert_eq!(r.s.shared.sim.accepted_orders(), 1, "same idempotency key");
    let (st, o) = order_status(&r.c, &id).await;
    assert_eq!(st, "requested", "{o}");
    r.s.shared.hold_completions.send_replace(false);
    wait_status(&r.c, &id, "fulfilled").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    settles_at(&r.s.shared.sim.completions, 1, "completions").await;
    rec.saw(
        "record reported failed; SQS redelivery called the factory again with the same key \
         (2 calls, 1 batch, same reference), stored `requested`; one completion, restocked once",
    );
    rec.held(
        check_invariants(
            r.s.store(),
            batches(&r.s),
            &Expect {
                initial: &[("glazed", 2)],
                orders: &[("glazed", 1)],
                batches: Some(1),
                ..Default::default()
            },
        )
        .await,
    );
    r.s.stop().await;
}
both!(crash_after_factory_call_then_redelivery);

async fn crash_after_factory_call_completion_first(db: Db) {
    let mut rec = Record::new(
        SUITE,
        "crash_after_factory_call_completion_first",
        "Orderer dies after the factory accepted; the completion arrives before SQS redelivers",
    )
    .db(db);
    let r = rig(db, |o| o.factory_delay_ms = 0).await;
    let (id, e1) = r.intercepted_stock_out("glazed", 2, 20).await;
    r.store.fail_mark_requested.store(1, Ordering::SeqCst);
    let first = handle_batch(
        &r.orderer,
        sqs_event(vec![sqs_message("m1", Some(&body(&e1)), 1)]),
    )
    .await;
    assert_eq!(failed_ids(&first).len(), 1);
    wait_status(&r.c, &id, "fulfilled").await;
    let again = handle_record(&r.orderer, &sqs_message("m1", Some(&body(&e1)), 2))
        .await
        .unwrap();
    assert_eq!(again, Handled::Skipped("already fulfilled"));
    assert_eq!(r.s.shared.sim.requests.load(Ordering::SeqCst), 1);
    rec.saw(
        "the pending order was fulfilled by the callback; the redelivery was acknowledged \
         without calling the factory (1 call, 1 batch)",
    );
    rec.held(
        check_invariants(
            r.s.store(),
            batches(&r.s),
            &Expect {
                initial: &[("glazed", 2)],
                orders: &[("glazed", 1)],
                batches: Some(1),
                ..Default::default()
            },
        )
        .await,
    );
    r.s.stop().await;
}
both!(crash_after_factory_call_completion_first);

// ---- 6. callbacks (beyond tests/pipeline.rs) -------------------------------------------------

async fn concurrent_replays_and_token_variants(db: Db) {
    let mut rec = Record::new(
        SUITE,
        "concurrent_replays_and_token_variants",
        "16 simultaneous copies of the genuine callback; token padded/truncated/in a header/duplicated/for the uppercase id; wrong content type and oversize body with a valid token",
    )
    .db(db);
    let dir = tempfile::tempdir().unwrap();
    let s = stack(db, dir.path(), |o| o.factory_delay_ms = 100_000).await;
    let c = Arc::new(Client::new(&s));
    let id = stock_out(&c, "glazed", 2, 20).await;
    wait_status(&c, &id, "requested").await;
    let signer = CallbackSigner::new("test-callback-secret");
    let good = signer.token(&id);
    let done = json!({"MessageAttributeProductId": "glazed", "MessageAttributeProductCnt": 20});
    let post = |query: String, ct: &str, b: String| {
        c.http
            .post(format!("{}/factory/callbacks/{}{query}", c.base, id))
            .header("content-type", ct)
            .body(b)
    };
    let j = "application/json";
    let cases: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        (
            "padded token",
            post(format!("?token={good}="), j, done.to_string()),
            403,
        ),
        (
            "truncated token",
            post(
                format!("?token={}", &good[..good.len() - 2]),
                j,
                done.to_string(),
            ),
            403,
        ),
        (
            "empty token",
            post("?token=".into(), j, done.to_string()),
            401,
        ),
        (
            "token in a header",
            post(String::new(), j, done.to_string())
                .header("authorization", format!("Bearer {good}")),
            401,
        ),
        (
            "bad token first",
            post(format!("?token=AAAA&token={good}"), j, done.to_string()),
            403,
        ),
        (
            "uppercase id's token",
            c.http
                .post(format!(
                    "{}/factory/callbacks/{}?token={}",
                    c.base,
                    id,
                    signer.token(&id.to_uppercase())
                ))
                .header("content-type", j)
                .body(done.to_string()),
            403,
        ),
        (
            "valid token, text/plain",
            post(format!("?token={good}"), "text/plain", done.to_string()),
            415,
        ),
        (
            "valid token, 20 KiB body",
            post(
                format!("?token={good}"),
                j,
                format!("{{\"pad\":\"{}\"}}", "x".repeat(20_000)),
            ),
            413,
        ),
        (
            "valid token, count 20.5",
            post(
                format!("?token={good}"),
                j,
                json!({"MessageAttributeProductId": "glazed", "MessageAttributeProductCnt": 20.5})
                    .to_string(),
            ),
            400,
        ),
        (
            "valid token, count \"-20\"",
            post(
                format!("?token={good}"),
                j,
                json!({"MessageAttributeProductId": "glazed", "MessageAttributeProductCnt": "-20"})
                    .to_string(),
            ),
            403,
        ),
    ];
    let mut seen = Vec::new();
    for (name, req, want) in cases {
        let r = c.send(req).await;
        assert_eq!(r.status, want, "{name}: {}", r.body);
        assert!(r.body["error"].is_string() && r.body["message"].is_string());
        seen.push(format!("{name} -> {want}"));
    }
    assert_eq!(
        c.get("/inventory/glazed").await.body["stock"],
        0,
        "nothing changed"
    );
    let mut replays = Vec::new();
    for _ in 0..16 {
        let (c, url, b) = (
            c.clone(),
            format!("{}/factory/callbacks/{id}?token={good}", c.base),
            done.to_string(),
        );
        replays.push(tokio::spawn(async move {
            c.send(
                c.http
                    .post(url)
                    .header("content-type", "application/json")
                    .body(b),
            )
            .await
        }));
    }
    let mut restocked = 0;
    for t in replays {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        if r.body["restocked"] == true {
            restocked += 1;
        }
    }
    assert_eq!(
        restocked, 1,
        "exactly one of the simultaneous copies restocks"
    );
    assert_eq!(c.get("/inventory/glazed").await.body["stock"], 20);
    rec.saw(format!(
        "{}; 16 simultaneous genuine callbacks: 16 x 200, exactly 1 restocked",
        seen.join(", ")
    ));
    rec.held(
        check_invariants(
            s.store(),
            batches(&s),
            &Expect {
                initial: &[("glazed", 2)],
                orders: &[("glazed", 1)],
                batches: Some(1),
                ..Default::default()
            },
        )
        .await,
    );
    s.stop().await;
}
both!(concurrent_replays_and_token_variants);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn late_completion_for_a_failed_order_changes_nothing() {
    let mut rec = Record::new(
        SUITE,
        "late_completion_for_a_failed_order_changes_nothing",
        "A genuine completion arrives after the order was given up (failed)",
    )
    .on("sqlite");
    let dir = tempfile::tempdir().unwrap();
    let s = stack(Db::Sqlite, dir.path(), |o| {
        o.factory_down = true;
        o.max_receive_count = 2;
    })
    .await;
    let c = Client::new(&s);
    let id = stock_out(&c, "glazed", 2, 20).await;
    wait_status(&c, &id, "failed").await;
    let token = CallbackSigner::new("test-callback-secret").token(&id);
    let r = c
        .post_json(
            &format!("/factory/callbacks/{id}?token={token}"),
            json!({"MessageAttributeProductId": "glazed", "MessageAttributeProductCnt": 20}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["restocked"].as_bool()),
        (200, Some(false)),
        "{}",
        r.body
    );
    assert_eq!(r.body["factory_order"]["status"], "failed");
    assert_eq!(c.get("/inventory/glazed").await.body["stock"], 0);
    rec.saw("200 {restocked: false}, order stays failed, stock unchanged (the FactoryOrderFailed alarm stays for an operator)");
    rec.held(
        check_invariants(
            s.store(),
            batches(&s),
            &Expect {
                initial: &[("glazed", 2)],
                orders: &[("glazed", 1)],
                batches: Some(0),
                ..Default::default()
            },
        )
        .await,
    );
    s.stop().await;
}

// ---- 7. admin authentication -----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_calls_without_a_valid_token_change_nothing() {
    let mut rec = Record::new(
        SUITE,
        "admin_calls_without_a_valid_token_change_nothing",
        "Admin PUTs with no / malformed / wrong / truncated / oversized / non-UTF-8 / duplicated tokens, token in the query, invalid bodies, 200 wrong guesses",
    )
    .on("sqlite");
    let dir = tempfile::tempdir().unwrap();
    let s = stack(Db::Sqlite, dir.path(), |_| {}).await;
    let c = Client::new(&s);
    let token = s.admin_token.clone();
    let url = format!("{}/admin/inventory/cruller", c.base);
    let put = |auth: Vec<reqwest::header::HeaderValue>, b: &str| {
        let mut rb = c
            .http
            .put(&url)
            .header("content-type", "application/json")
            .body(b.to_owned());
        for a in auth {
            rb = rb.header("authorization", a);
        }
        rb
    };
    let hv = |s: &str| reqwest::header::HeaderValue::from_str(s).unwrap();
    let ok_body = r#"{"stock": 5}"#;
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        ("no header", put(vec![], ok_body), 401, "unauthorized"),
        (
            "Bearer with no token",
            put(vec![hv("Bearer ")], ok_body),
            401,
            "unauthorized",
        ),
        (
            "BEARER scheme in capitals",
            put(vec![hv(&format!("BEARER {token}"))], ok_body),
            401,
            "unauthorized",
        ),
        (
            "Basic scheme",
            put(vec![hv(&format!("Basic {token}"))], ok_body),
            401,
            "unauthorized",
        ),
        (
            "token without scheme",
            put(vec![hv(&token)], ok_body),
            401,
            "unauthorized",
        ),
        (
            "non-UTF-8 header",
            put(
                vec![reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap()],
                ok_body,
            ),
            401,
            "unauthorized",
        ),
        (
            "token in the query string",
            c.http
                .put(format!("{url}?token={token}"))
                .header("content-type", "application/json")
                .body(ok_body),
            401,
            "unauthorized",
        ),
        (
            "truncated token",
            put(
                vec![hv(&format!("Bearer {}", &token[..token.len() - 1]))],
                ok_body,
            ),
            403,
            "forbidden",
        ),
        (
            "case-changed token",
            put(
                vec![hv(&format!("Bearer {}", token.to_uppercase()))],
                ok_body,
            ),
            403,
            "forbidden",
        ),
        (
            "8 KiB token",
            put(vec![hv(&format!("Bearer {}", "a".repeat(8192)))], ok_body),
            403,
            "forbidden",
        ),
        (
            "wrong then right header",
            put(
                vec![hv("Bearer wrong"), hv(&format!("Bearer {token}"))],
                ok_body,
            ),
            403,
            "forbidden",
        ),
        (
            "no token + invalid body",
            put(vec![], "{not json"),
            401,
            "unauthorized",
        ),
        (
            "wrong token + invalid body",
            put(vec![hv("Bearer wrong")], "{not json"),
            403,
            "forbidden",
        ),
        (
            "no token + huge body",
            put(vec![], &"x".repeat(100_000)),
            401,
            "unauthorized",
        ),
    ];
    let n = cases.len();
    for (name, req, status, code) in cases {
        let r = c.send(req).await;
        assert_eq!(
            (r.status, r.body["error"].as_str()),
            (status, Some(code)),
            "{name}: {}",
            r.body
        );
        if status == 401 {
            assert_eq!(
                r.headers
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok()),
                Some("Bearer"),
                "{name}"
            );
        }
    }
    let started = Instant::now();
    for i in 0..200 {
        let r = c
            .send(put(vec![hv(&format!("Bearer guess-{i}"))], ok_body))
            .await;
        assert_eq!(r.status, 403);
    }
    let guesses = started.elapsed();
    assert!(
        c.get("/inventory").await.body["products"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing was created"
    );
    rec.saw(format!(
        "{n} malformed/wrong credentials: 401 unauthorized + WWW-Authenticate: Bearer when \
         absent or not a Bearer token, 403 forbidden when wrong; auth checked before the body; \
         200 wrong guesses all 403 in {} ms (no lockout in the handler: API Gateway throttling \
         is the rate limit)",
        guesses.as_millis()
    ));
    rec.held(check_invariants(s.store(), batches(&s), &Expect::default()).await);
    rec.held(["no product created or changed".to_owned()]);
    s.stop().await;
}

// ---- 8. a lost answer, retried ---------------------------------------------------------------

async fn idempotent_retry_after_sell_out_replays_the_sale(db: Db) {
    let mut rec = Record::new(
        SUITE,
        "idempotent_retry_after_sell_out_replays_the_sale",
        "A client's answer is lost (timeout) and it retries with the same Idempotency-Key after the last donut was sold",
    )
    .db(db);
    let dir = tempfile::tempdir().unwrap();
    let s = stack(db, dir.path(), |o| o.factory_delay_ms = 100_000).await;
    let c = Client::new(&s);
    c.put_product("glazed", json!({"stock": 3, "reorder_quantity": 20}))
        .await;
    let sale = |key: &str, q: i64| {
        c.http
            .post(format!("{}/sales", c.base))
            .header("content-type", "application/json")
            .header("idempotency-key", key.to_owned())
            .body(json!({"sku": "glazed", "quantity": q}).to_string())
    };
    let first = c.send(sale("k-1", 3)).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let retry = c.send(sale("k-1", 3)).await;
    rec.saw(format!(
        "retry after sell-out answered {} {}",
        retry.status,
        retry.body["error"].as_str().unwrap_or("(sale)")
    ));
    assert_eq!(
        retry.status, 201,
        "the original sale is replayed, not refused: {}",
        retry.body
    );
    assert_eq!(retry.body["id"], first.body["id"]);
    let reused = c.send(sale("k-1", 1)).await;
    assert_eq!(
        (reused.status, reused.body["error"].as_str()),
        (422, Some("idempotency_key_reused")),
        "{}",
        reused.body
    );
    rec.saw("replayed with Idempotent-Replayed (same sale id); same key + other body -> 422");
    let accepted: Vec<Accepted> = Accepted::from_reply(&first.body).into_iter().collect();
    rec.held(
        check_invariants(
            s.store(),
            batches(&s),
            &Expect {
                initial: &[("glazed", 3)],
                accepted: Some(&accepted),
                orders: &[("glazed", 1)],
                ..Default::default()
            },
        )
        .await,
    );
    s.stop().await;
}
mod idempotent_retry_after_sell_out_replays_the_sale {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::idempotent_retry_after_sell_out_replays_the_sale(pipeline_tests::Db::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn mysql() {
        super::idempotent_retry_after_sell_out_replays_the_sale(pipeline_tests::Db::MySql).await
    }
}
