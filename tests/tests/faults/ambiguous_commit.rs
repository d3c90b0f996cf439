//! Faults: MariaDB SIGKILLed mid flash sale, at many kill timings (issue 22): a sale that
//! committed is never answered as failed.
//!
//! One private `mariadbd` and one local stack on it for every run; each run sells its own SKU
//! (large stock, several buckets, so commits overlap) to 32 buyers sending `POST /sales` without
//! an `Idempotency-Key`, kills the server (`SIGKILL`) at its run's timing, restarts it on the
//! same data dir at once (one last run: after an outage longer than the handler's deadline, so
//! the sales in flight are answered `outcome_unknown`), lets the buyers sell on for a moment,
//! and then checks, from the database and from every answer:
//!
//! sales rows = donuts consumed = answers `201` + answers `503 outcome_unknown` whose
//! `GET /sales/{id}` shows the sale committed; every `201` names a stored sale; every answer is
//! `201` or `503` (`unavailable`: not sold; `outcome_unknown`: it names its sale).

use super::SUITE;
use pipeline_tests::faults::{Mariadb, Record};
use pipeline_tests::{Client, Db, TestApp};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// When a run kills the server.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// This long after the buyers start (0: while the first sales are on their way).
    Delay(u64),
    /// As soon as the n-th `201` of the run has arrived (right after a commit).
    AfterAnswer(u64),
}

impl KillAt {
    fn describe(self) -> String {
        match self {
            KillAt::Delay(0) => "at the start".to_owned(),
            KillAt::Delay(ms) => format!("{ms} ms in"),
            KillAt::AfterAnswer(n) => format!("right after 201 #{n}"),
        }
    }
}

/// The timings, each run three times: before the first commits, during the sale, right after
/// a commit was answered.
const TIMINGS: [KillAt; 8] = [
    KillAt::Delay(0),
    KillAt::Delay(15),
    KillAt::Delay(60),
    KillAt::Delay(150),
    KillAt::Delay(300),
    KillAt::AfterAnswer(1),
    KillAt::AfterAnswer(25),
    KillAt::AfterAnswer(100),
];
const REPEATS: usize = 3;
/// One more run whose outage outlasts the handler's deadline (`inventory::api::LOCAL_BUDGET`):
/// the sales in flight are answered `outcome_unknown`, and `GET /sales/{id}` tells afterwards.
const LONG_OUTAGE: (KillAt, Duration) = (KillAt::AfterAnswer(25), Duration::from_millis(10_500));
const BUYERS: usize = 32;
const STOCK: i64 = 1_000_000;

/// Every `ambiguous outcome` line the sale handler logged: (resolution, sale id).
static RESOLUTIONS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// The tracing layer that collects them (installed once, process-wide).
struct Resolutions;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Resolutions {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        #[derive(Default)]
        struct Line {
            message: String,
            operation: String,
            resolution: String,
            id: String,
        }
        impl tracing::field::Visit for Line {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                match field.name() {
                    "operation" => self.operation = value.to_owned(),
                    "resolution" => self.resolution = value.to_owned(),
                    "id" => self.id = value.to_owned(),
                    _ => {}
                }
            }
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.message = format!("{value:?}");
                }
            }
        }
        let mut line = Line::default();
        event.record(&mut line);
        if line.message == "ambiguous outcome"
            && line.operation == "sale"
            && let Ok(mut seen) = RESOLUTIONS.lock()
        {
            seen.push((line.resolution, line.id));
        }
    }
}

/// How the handler resolved the ambiguous sales among `ids`: (committed, not committed, unknown).
fn resolutions(ids: &HashSet<String>) -> (usize, usize, usize) {
    let seen = RESOLUTIONS.lock().map(|s| s.clone()).unwrap_or_default();
    let count = |r: &str| {
        seen.iter()
            .filter(|(res, id)| res == r && ids.contains(id))
            .count()
    };
    (count("committed"), count("not_committed"), count("unknown"))
}

/// One answer to `POST /sales`.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    body: Value,
}

/// What one run saw.
#[derive(Debug, Default)]
struct Counts {
    answers: usize,
    sold: usize,
    unavailable: usize,
    unknown: usize,
    unknown_committed: usize,
    rows: usize,
    consumed: i64,
    /// The handler's resolutions of ambiguous commits: committed, not committed, unknown.
    resolved: (usize, usize, usize),
}

async fn buy(c: &Client, sku: &str) -> Option<Answer> {
    let res = c
        .http
        .post(format!("{}/sales", c.base))
        .header("content-type", "application/json")
        .body(json!({"sku": sku, "quantity": 1}).to_string())
        .send()
        .await
        .ok()?;
    let status = res.status().as_u16();
    let text = res.text().await.ok()?;
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Some(Answer { status, body })
}

async fn run_once(
    mdb: &Arc<Mariadb>,
    app: &TestApp,
    run: usize,
    at: KillAt,
    down: Duration,
) -> Counts {
    let c = app.client.clone();
    let sku = format!("flash{run}");
    let r = c
        .put_product(
            &sku,
            json!({"stock": STOCK, "reorder_point": 0, "reorder_quantity": 10, "buckets": 8}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    let answers = Arc::new(Mutex::new(Vec::<Answer>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let sold = Arc::new(AtomicU64::new(0));
    let mut buyers = Vec::new();
    for _ in 0..BUYERS {
        let (c, answers, stop, sold, sku) = (
            c.clone(),
            answers.clone(),
            stop.clone(),
            sold.clone(),
            sku.clone(),
        );
        buyers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let Some(a) = buy(&c, &sku).await else {
                    panic!("POST /sales got no answer from the local stack");
                };
                if a.status == 201 {
                    sold.fetch_add(1, Ordering::SeqCst);
                }
                answers.lock().unwrap().push(a);
            }
        }));
    }
    let started = Instant::now();
    match at {
        KillAt::Delay(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        KillAt::AfterAnswer(n) => {
            while sold.load(Ordering::SeqCst) < n {
                assert!(started.elapsed() < Duration::from_secs(20), "no sales");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    let m = mdb.clone();
    tokio::task::block_in_place(move || m.kill());
    tokio::time::sleep(down).await;
    let m = mdb.clone();
    tokio::task::block_in_place(move || m.start());
    // Sell on after the restart: the stack's pool reconnects, in-flight sales are settled.
    let back = sold.load(Ordering::SeqCst);
    let resumed = Instant::now();
    while sold.load(Ordering::SeqCst) < back + 50 {
        assert!(
            resumed.elapsed() < Duration::from_secs(30),
            "sales did not resume after the restart"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for b in buyers {
        b.await.expect("buyer");
    }
    let answers = answers.lock().unwrap().clone();

    let mut counts = Counts {
        answers: answers.len(),
        ..Counts::default()
    };
    let mut answered_ids = HashSet::new();
    let mut named_ids = HashSet::new();
    for a in &answers {
        match (a.status, a.body["error"].as_str()) {
            (201, _) => {
                counts.sold += 1;
                let id = a.body["id"].as_str().expect("a 201 names its sale");
                assert!(
                    answered_ids.insert(id.to_owned()),
                    "sale {id} answered twice"
                );
            }
            (503, Some("unavailable")) => counts.unavailable += 1,
            (503, Some("outcome_unknown")) => {
                counts.unknown += 1;
                let id = a.body["sale_id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("outcome_unknown names its sale: {}", a.body));
                // Asked later, the outcome is known.
                named_ids.insert(id.to_owned());
                let r = c.get(&format!("/sales/{id}")).await;
                match r.status {
                    200 => {
                        assert_eq!(r.body["id"], id, "{}", r.body);
                        counts.unknown_committed += 1;
                        assert!(answered_ids.insert(id.to_owned()), "sale {id} twice");
                    }
                    404 => {}
                    other => panic!("GET /sales/{id} answered {other}: {}", r.body),
                }
            }
            (status, _) => panic!("run {run}: POST /sales answered {status}: {}", a.body),
        }
    }
    let stored: Vec<String> = app
        .store()
        .sales_between(0, i64::MAX)
        .await
        .expect("sales listing")
        .into_iter()
        .filter(|s| s.sku == sku)
        .map(|s| s.id)
        .collect();
    counts.rows = stored.len();
    named_ids.extend(answered_ids.iter().cloned());
    counts.resolved = resolutions(&named_ids);
    let stock = c.inventory(&sku).await.body["stock"]
        .as_i64()
        .expect("stock");
    counts.consumed = STOCK - stock;
    let stored: HashSet<String> = stored.into_iter().collect();
    for id in &answered_ids {
        assert!(
            stored.contains(id),
            "run {run}: sale {id} answered 201 has no row"
        );
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mariadb_killed_at_many_timings_no_committed_sale_answered_failed() {
    let mut rec = Record::new(
        SUITE,
        "mariadb_killed_at_many_timings_no_committed_sale_answered_failed",
        &format!(
            "MariaDB killed (SIGKILL) mid flash sale, {} runs: {} buyers without \
             Idempotency-Key, killed before, during and right after commits, restarted at once \
             (and once after {} ms, past the handler's deadline)",
            TIMINGS.len() * REPEATS + 1,
            BUYERS,
            LONG_OUTAGE.1.as_millis()
        ),
    )
    .on("mariadb");
    {
        use tracing_subscriber::layer::SubscriberExt;
        // Only to count the handler's resolutions; nothing else in this binary installs one.
        let _ = tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(Resolutions),
        );
    }
    let mdb = Arc::new(tokio::task::block_in_place(Mariadb::start_new));
    let url = mdb.fresh_database().await;
    let app = TestApp::spawn_with(Db::Sqlite, |o| {
        o.database_url = Some(url.clone());
        o.no_capture = true;
    })
    .await;
    let mut failures = Vec::new();
    let mut run = 0;
    let mut ambiguous = 0;
    let mut plan: Vec<(KillAt, Duration)> = Vec::new();
    for _ in 0..REPEATS {
        plan.extend(TIMINGS.iter().map(|&at| (at, Duration::ZERO)));
    }
    plan.push(LONG_OUTAGE);
    for (at, down) in plan {
        run += 1;
        let n = run_once(&mdb, &app, run, at, down).await;
        let answered = n.sold + n.unknown_committed;
        ambiguous += n.resolved.0 + n.resolved.1 + n.resolved.2;
        let outage = if down.is_zero() {
            String::new()
        } else {
            format!(", down {} ms", down.as_millis())
        };
        let line = format!(
            "run {run} (killed {}{outage}): {} answers, {} × 201, {} outcome_unknown ({} \
             committed), {} × 503 unavailable; rows {}, consumed {}; ambiguous commits resolved: \
             {} committed, {} not committed (retried), {} unknown",
            at.describe(),
            n.answers,
            n.sold,
            n.unknown,
            n.unknown_committed,
            n.unavailable,
            n.rows,
            n.consumed,
            n.resolved.0,
            n.resolved.1,
            n.resolved.2
        );
        eprintln!("{line}");
        if n.rows as i64 != n.consumed || n.rows != answered {
            failures.push(format!(
                "{line}: {} committed sale(s) answered as failed",
                n.rows as i64 - answered as i64
            ));
        }
        rec.saw(line);
    }
    assert!(
        failures.is_empty(),
        "sales rows = donuts consumed = 201 + outcome_unknown committed, broken in {} of {run} \
         runs:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Else the kills never caught a sale in flight, and the runs prove nothing.
    assert!(ambiguous > 0, "no run lost the answer of a sale's commit");
    rec.saw(format!(
        "{ambiguous} ambiguous sale commits in all, each resolved or named"
    ));
    rec.held([
        format!(
            "every run: sales rows = donuts consumed = answers 201 + outcome_unknown that \
             GET /sales/{{id}} shows committed ({run} runs)"
        ),
        "every 201 and every committed outcome_unknown names a stored sale, once".to_owned(),
        "every answer is 201, 503 unavailable or 503 outcome_unknown".to_owned(),
    ]);
    app.stop().await;
    drop(mdb);
}
