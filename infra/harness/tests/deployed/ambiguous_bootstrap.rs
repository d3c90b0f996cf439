//! MariaDB SIGKILLed mid flash sale under the deployed `sales-api` bootstrap (issue 22): a sale
//! that committed is never answered as failed, on the harness as on the local stack
//! (`tests/tests/faults/ambiguous_commit.rs`).
//!
//! One fault stack (its TLS-only MariaDB, eight `sales-api` execution environments, the
//! template's reserved concurrency of ten); each run sells a product of its own to eight buyers
//! sending `POST /sales` through API Gateway without an `Idempotency-Key`, each request with a
//! correlation id of its own (the sale row stores it), kills the server (`SIGKILL` to its PID)
//! at the run's timing, restarts it on the same data directory and port, lets the buyers sell on,
//! and then checks, from the database and from every answer:
//!
//! sales rows = donuts consumed = answers `201` + answers `503 outcome_unknown` whose
//! `GET /sales/{id}` shows the sale committed; every `201` names a stored sale. Every answer is
//! `201`, `503 unavailable`, `503 outcome_unknown`, or API Gateway's answer to a Lambda timeout
//! (`503 Service Unavailable`, no sale id). A sale row whose request was answered anything but
//! `201` or an `outcome_unknown` naming it (a timeout 5xx above all: the buyer has no id to ask
//! about) is the bug this test is for: counted per answer class and failed.
//!
//! Two runs have an outage longer than the function's budget: one at the template's `Timeout`
//! (10 s; the handler answers `outcome_unknown` at its deadline less a margin), one with the
//! `Timeout` lowered to 2 s, whose invocations waiting for a connection are killed by Lambda.

use crate::fault_stack::{self, FaultStack};
use crate::record::Record;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CASE: &str = "mariadb_killed_under_the_deployed_sales_api_no_committed_sale_answered_failed";

/// When a run kills the server.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// This long after the buyers start (0: before the first sale commits).
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

/// One run: when the server is killed, how long it stays down, the function's `Timeout` during
/// the run (None: the template's).
#[derive(Debug, Clone, Copy)]
struct Plan {
    at: KillAt,
    down: Duration,
    timeout: Option<Duration>,
}

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
/// Past the template's `Timeout` (10 s): the sales in flight are answered `outcome_unknown`.
const LONG_OUTAGE: Plan = Plan {
    at: KillAt::AfterAnswer(25),
    down: Duration::from_millis(10_500),
    timeout: None,
};
/// `Timeout` lowered to 2 s, down 3 s: invocations waiting for a connection (the pool's acquire
/// timeout is 3 s) are ended by Lambda; API Gateway answers them `503 Service Unavailable`.
const TIMEOUT_OUTAGE: Plan = Plan {
    at: KillAt::AfterAnswer(25),
    down: Duration::from_millis(3_000),
    timeout: Some(Duration::from_secs(2)),
};
/// Buyers: below the template's reserved concurrency (10), one execution environment each.
const BUYERS: usize = 8;
const STOCK: i64 = 1_000_000;

/// One answer to `POST /sales`.
#[derive(Debug, Clone)]
struct Answer {
    correlation_id: String,
    status: u16,
    body: Value,
}

/// What the buyer was told, by the request's correlation id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Told {
    Sold,
    Unavailable,
    OutcomeUnknown,
    /// API Gateway's answer to a Lambda timeout: no sale id.
    TimedOut,
    /// Anything else (a crash's 500, a throttle): counted and failed.
    Other,
}

/// What one run saw.
#[derive(Debug, Default)]
struct Counts {
    answers: usize,
    sold: usize,
    unavailable: usize,
    unknown: usize,
    unknown_committed: usize,
    timed_out: usize,
    other: usize,
    rows: usize,
    consumed: i64,
    /// Sale rows whose buyer was told anything but `201` or an `outcome_unknown` naming it.
    rows_answered_unavailable: usize,
    rows_answered_timeout: usize,
    rows_answered_other: usize,
    /// The handler's resolutions of ambiguous commits: committed, not committed, unknown.
    resolved: (usize, usize, usize),
    /// Lambda timeouts during the run (the harness's count).
    lambda_timeouts: u64,
}

async fn buy(http: &reqwest::Client, base: &str, sku: &str, corr: String) -> Answer {
    let res = http
        .post(format!("{base}/sales"))
        .header("content-type", "application/json")
        .header("x-correlation-id", &corr)
        .body(json!({"sku": sku, "quantity": 1}).to_string())
        .send()
        .await;
    let (status, text) = match res {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.text().await.unwrap_or_default())
        }
        // No answer at all from API Gateway: counted as `Other` (status 0).
        Err(e) => (0, e.to_string()),
    };
    Answer {
        correlation_id: corr,
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

fn told(a: &Answer) -> Told {
    match (a.status, a.body["error"].as_str()) {
        (201, _) => Told::Sold,
        (503, Some("unavailable")) => Told::Unavailable,
        (503, Some("outcome_unknown")) => Told::OutcomeUnknown,
        (503, None) if a.body["message"] == "Service Unavailable" => Told::TimedOut,
        _ => Told::Other,
    }
}

async fn db_call<T: Send + 'static>(
    s: &FaultStack,
    f: impl FnOnce(&lambda_harness::tlsdb::TlsMariaDb) -> Result<T, lambda_harness::Error>
    + Send
    + 'static,
) -> T {
    let db = s.h.db.clone();
    tokio::task::spawn_blocking(move || f(&db))
        .await
        .expect("db task")
        .expect("the TLS mariadbd")
}

/// The handler's `ambiguous outcome` lines for sales: sale id → resolution.
fn resolutions(s: &FaultStack) -> Vec<(String, String)> {
    s.json_lines("SalesApiFunction")
        .into_iter()
        .filter(|l| {
            l["message"] == "ambiguous outcome"
                && (l["operation"] == "sale" || l["fields"]["operation"] == "sale")
        })
        .filter_map(|l| {
            let pick = |k: &str| {
                l[k].as_str()
                    .or_else(|| l["fields"][k].as_str())
                    .map(str::to_owned)
            };
            Some((pick("id")?, pick("resolution")?))
        })
        .collect()
}

async fn run_once(s: &FaultStack, http: &reqwest::Client, run: usize, plan: Plan) -> Counts {
    let sales = s.h.function("SalesApiFunction").expect("sales-api");
    let sku = format!(
        "flash-{run}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let (st, b) = s
        .api
        .call(
            reqwest::Method::PUT,
            &format!("/admin/inventory/{sku}"),
            Some(json!({"name": sku, "stock": STOCK, "reorder_point": 0,
                        "reorder_quantity": 10, "buckets": 8})),
            Some(&s.admin),
        )
        .await;
    assert!(st == 200 || st == 201, "PUT {sku}: {st} {b}");
    sales.set_timeout(plan.timeout);
    let timeouts_before = sales.timeouts();

    let answers = Arc::new(Mutex::new(Vec::<Answer>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let sold = Arc::new(AtomicU64::new(0));
    let mut buyers = Vec::new();
    for buyer in 0..BUYERS {
        let (http, base, answers, stop, sold, sku) = (
            http.clone(),
            s.api.base.clone(),
            answers.clone(),
            stop.clone(),
            sold.clone(),
            sku.clone(),
        );
        buyers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let a = buy(&http, &base, &sku, format!("{sku}-{buyer}-{n}")).await;
                if a.status == 201 {
                    sold.fetch_add(1, Ordering::SeqCst);
                }
                answers.lock().expect("answers").push(a);
            }
        }));
    }
    let started = Instant::now();
    match plan.at {
        KillAt::Delay(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        KillAt::AfterAnswer(n) => {
            while sold.load(Ordering::SeqCst) < n {
                assert!(started.elapsed() < Duration::from_secs(20), "no sales");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    db_call(s, |db| db.kill()).await;
    tokio::time::sleep(plan.down).await;
    db_call(s, |db| db.restart()).await;
    // Sell on after the restart: the pools reconnect, in-flight sales are settled.
    let back = sold.load(Ordering::SeqCst);
    let resumed = Instant::now();
    while sold.load(Ordering::SeqCst) < back + 20 {
        assert!(
            resumed.elapsed() < Duration::from_secs(30),
            "run {run}: sales did not resume after the restart"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for b in buyers {
        b.await.expect("buyer");
    }
    sales.set_timeout(None);
    let answers = answers.lock().expect("answers").clone();

    let mut n = Counts {
        answers: answers.len(),
        lambda_timeouts: sales.timeouts() - timeouts_before,
        ..Counts::default()
    };
    // Correlation id → what its buyer was told, and the sale id named (201, outcome_unknown).
    let mut by_request: HashMap<String, (Told, Option<String>)> = HashMap::new();
    let mut answered_ids = HashSet::new();
    let mut named_ids = HashSet::new();
    for a in &answers {
        let t = told(a);
        let mut named = None;
        match t {
            Told::Sold => {
                n.sold += 1;
                let id = a.body["id"].as_str().expect("a 201 names its sale");
                assert!(
                    answered_ids.insert(id.to_owned()),
                    "run {run}: sale {id} answered twice"
                );
                named = Some(id.to_owned());
            }
            Told::Unavailable => n.unavailable += 1,
            Told::OutcomeUnknown => {
                n.unknown += 1;
                let id = a.body["sale_id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("outcome_unknown names its sale: {}", a.body));
                named_ids.insert(id.to_owned());
                named = Some(id.to_owned());
                // Asked later, the outcome is known.
                let (st, body) = s
                    .api
                    .call(reqwest::Method::GET, &format!("/sales/{id}"), None, None)
                    .await;
                match st {
                    200 => {
                        assert_eq!(body["id"], id, "{body}");
                        n.unknown_committed += 1;
                        assert!(answered_ids.insert(id.to_owned()), "sale {id} twice");
                    }
                    404 => {}
                    other => panic!("GET /sales/{id} answered {other}: {body}"),
                }
            }
            Told::TimedOut => n.timed_out += 1,
            Told::Other => {
                n.other += 1;
                eprintln!("run {run}: POST /sales answered {}: {}", a.status, a.body);
            }
        }
        by_request.insert(a.correlation_id.clone(), (t, named));
    }

    let mut c = s.db().await;
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT id, correlation_id FROM sales WHERE sku = ?")
            .bind(&sku)
            .fetch_all(&mut c)
            .await
            .expect("sales rows");
    let stock: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(stock), 0) AS SIGNED) FROM stock_buckets WHERE sku = ?",
    )
    .bind(&sku)
    .fetch_one(&mut c)
    .await
    .expect("stock");
    n.rows = rows.len();
    n.consumed = STOCK - stock;
    let stored: HashSet<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
    for id in &answered_ids {
        assert!(
            stored.contains(id.as_str()),
            "run {run}: sale {id} answered 201 has no row"
        );
    }
    // Every row, by its request: told 201 or outcome_unknown naming it, or the bug.
    for (id, corr) in &rows {
        match by_request.get(corr) {
            Some((Told::Sold | Told::OutcomeUnknown, Some(named))) if named == id => {}
            Some((Told::TimedOut, _)) => {
                n.rows_answered_timeout += 1;
                eprintln!("run {run}: sale {id} ({corr}) committed, its buyer got a timeout 503");
            }
            Some((Told::Unavailable, _)) => {
                n.rows_answered_unavailable += 1;
                eprintln!("run {run}: sale {id} ({corr}) committed, its buyer got 503 unavailable");
            }
            other => {
                n.rows_answered_other += 1;
                eprintln!("run {run}: sale {id} ({corr}) committed, its buyer got {other:?}");
            }
        }
    }
    named_ids.extend(answered_ids.iter().cloned());
    for (id, resolution) in resolutions(s) {
        if named_ids.contains(&id) {
            match resolution.as_str() {
                "committed" => n.resolved.0 += 1,
                "not_committed" => n.resolved.1 += 1,
                _ => n.resolved.2 += 1,
            }
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mariadb_killed_under_the_deployed_sales_api_no_committed_sale_answered_failed() {
    let mut plan: Vec<Plan> = Vec::new();
    for _ in 0..REPEATS {
        plan.extend(TIMINGS.iter().map(|&at| Plan {
            at,
            down: Duration::ZERO,
            timeout: None,
        }));
    }
    plan.push(LONG_OUTAGE);
    plan.push(TIMEOUT_OUTAGE);
    let mut rec = Record::new(
        CASE,
        &format!(
            "the harness's TLS-only MariaDB killed (SIGKILL) mid flash sale under the sales-api \
             bootstrap, {} runs: {BUYERS} buyers through API Gateway without Idempotency-Key, \
             killed before, during and right after commits, restarted at once (once after {} ms, \
             past the template's Timeout; once after {} ms with the Timeout lowered to 2 s)",
            plan.len(),
            LONG_OUTAGE.down.as_millis(),
            TIMEOUT_OUTAGE.down.as_millis()
        ),
    );
    let s = fault_stack::start("ambiguous", fault_stack::moto(), None, |o| {
        // One execution environment per buyer (within the reserved concurrency of 10).
        o.instances.insert("SalesApiFunction".into(), BUYERS);
    })
    .await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(40))
        .build()
        .expect("http client");
    let started = Instant::now();
    let mut failures = Vec::new();
    let (mut ambiguous, mut unknown, mut timed_out) = (0, 0, 0);
    // outcome_unknown and timeout answers in the runs whose outage outlasts the budget.
    let mut past_budget = 0;
    for (i, p) in plan.iter().enumerate() {
        let run = i + 1;
        let n = run_once(&s, &http, run, *p).await;
        ambiguous += n.resolved.0 + n.resolved.1 + n.resolved.2;
        if !p.down.is_zero() {
            past_budget += n.unknown + n.timed_out;
        }
        unknown += n.unknown;
        timed_out += n.timed_out;
        let mut outage = String::new();
        if !p.down.is_zero() {
            outage = format!(", down {} ms", p.down.as_millis());
        }
        if let Some(t) = p.timeout {
            outage += &format!(", Timeout {} s", t.as_secs());
        }
        let line = format!(
            "run {run} (killed {}{outage}): {} answers, {} × 201, {} outcome_unknown ({} \
             committed), {} × 503 unavailable, {} × timeout 503 ({} Lambda timeouts), {} other; \
             rows {}, consumed {}; rows answered unavailable/timeout/other: {}/{}/{}; ambiguous \
             commits resolved: {} committed, {} not committed (retried), {} unknown",
            p.at.describe(),
            n.answers,
            n.sold,
            n.unknown,
            n.unknown_committed,
            n.unavailable,
            n.timed_out,
            n.lambda_timeouts,
            n.other,
            n.rows,
            n.consumed,
            n.rows_answered_unavailable,
            n.rows_answered_timeout,
            n.rows_answered_other,
            n.resolved.0,
            n.resolved.1,
            n.resolved.2
        );
        eprintln!("{line}");
        let answered = n.sold + n.unknown_committed;
        let misanswered =
            n.rows_answered_unavailable + n.rows_answered_timeout + n.rows_answered_other;
        // Each timeout 503 is a Lambda timeout (the harness's count), nothing else.
        if n.rows as i64 != n.consumed
            || n.rows != answered
            || misanswered > 0
            || n.other > 0
            || n.timed_out as u64 != n.lambda_timeouts
        {
            failures.push(line.clone());
        }
        rec.saw(line);
    }
    rec.saw(format!(
        "{} runs in {} s; {ambiguous} ambiguous sale commits resolved or named, {unknown} \
         outcome_unknown, {timed_out} Lambda-timeout answers",
        plan.len(),
        started.elapsed().as_secs()
    ));
    assert!(
        failures.is_empty(),
        "sales rows = donuts consumed = 201 + outcome_unknown committed (every row's buyer told \
         201 or outcome_unknown naming it; no other answer), broken in {} of {} runs:\n{}",
        failures.len(),
        plan.len(),
        failures.join("\n")
    );
    // Else the kills never caught a sale in flight, and the runs prove nothing.
    assert!(ambiguous > 0, "no run lost the answer of a sale's commit");
    // Else the long outages never pushed a sale past its budget: the accounting of
    // outcome_unknown and of Lambda's timeout answers went untested.
    assert!(
        past_budget > 0,
        "no outcome_unknown nor timeout answer in the runs down past the budget"
    );
    rec.held(format!(
        "every run: sales rows = donuts consumed = answers 201 + outcome_unknown that \
         GET /sales/{{id}} shows committed ({} runs)",
        plan.len()
    ));
    rec.held(
        "every sale row's request (by correlation id) was answered 201 or outcome_unknown \
         naming it: none answered 503 unavailable or a Lambda-timeout 503",
    );
    rec.held(
        "every 201 names a stored sale, once; no answer besides 201 / 503; every timeout 503 \
         is one of the harness's Lambda timeouts",
    );
}
