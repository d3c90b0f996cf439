//! The two moments a killed invocation could leave something half done, shared by the timeout
//! (`timeouts.rs`) and crash (`crashes.rs`) cases, which differ only in what ends the process:
//! - a sale whose process dies in the middle of its transaction (the sale row inserted, the
//!   decrement waiting for a stock row the test holds locked);
//! - a `factory-orderer` batch whose process dies after the factory accepted the order and
//!   before the orderer recorded it or its message was deleted.

use crate::kit::{Ctx, eventually, manufacture_call, status_of};
use crate::record::Record;
use lambda_harness::runtime::{Seen, Tap};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What ends the invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kill {
    /// The function's `Timeout` (lowered by the harness for the case).
    Timeout(Duration),
    /// The process is SIGKILLed from outside (a panic that aborts, an out-of-memory kill).
    Crash,
}

impl Kill {
    fn what(self) -> String {
        match self {
            Kill::Timeout(d) => format!("its Timeout ({} s)", d.as_secs_f64()),
            Kill::Crash => "SIGKILL of its process".into(),
        }
    }
}

/// A sale killed mid-transaction leaves nothing half done; the buyer's retry with its
/// Idempotency-Key gets exactly one sale; the next invocation runs in a new process.
pub async fn sale_mid_transaction(ctx: &Ctx<'_>, kill: Kill, rec: &mut Record) {
    use sqlx::Connection;
    let sales = ctx.h.function("SalesApiFunction").expect("sales-api");
    let sku = match kill {
        Kill::Timeout(_) => "killed-sale-timeout",
        Kill::Crash => "killed-sale-crash",
    };
    ctx.product(sku, 5, 10).await;
    let before = ctx.ledger(sku).await;
    let (starts, timeouts, crashes) = (sales.starts(), sales.timeouts(), sales.crashes());
    let cold_starts = ctx.log_count("SalesApiFunction", "\"cold_start\":true");
    let pids = sales.pids();

    // Hold the SKU's stock row: the sale's procedure inserts its sale row, then waits on it.
    let mut holder = ctx.db().await;
    let holder_id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
        .fetch_one(&mut holder)
        .await
        .expect("connection id");
    let mut tx = holder.begin().await.expect("begin");
    sqlx::query("SELECT stock FROM stock_buckets WHERE sku = ? FOR UPDATE")
        .bind(sku)
        .fetch_all(&mut *tx)
        .await
        .expect("lock the stock row");
    if let Kill::Timeout(d) = kill {
        sales.set_timeout(Some(d));
    }
    let key = format!("{sku}-{}", uuid::Uuid::new_v4().simple());
    let started = Instant::now();
    let sale = {
        let (http, base, key) = (ctx.api.http.clone(), ctx.api.base.clone(), key.clone());
        tokio::spawn(async move {
            let res = http
                .post(format!("{base}/sales"))
                .header("content-type", "application/json")
                .header("idempotency-key", key)
                .body(json!({"sku": sku, "quantity": 1}).to_string())
                .send()
                .await
                .expect("sale request");
            (res.status().as_u16(), res.text().await.unwrap_or_default())
        })
    };
    eventually(
        "the sale's transaction waiting for the stock row",
        Duration::from_secs(10),
        move || async move { (ctx.lock_waits().await >= 1).then_some(()) },
    )
    .await;
    rec.saw(format!(
        "the sale's transaction waited on the stock row {} ms after the request (sale row inserted, decrement pending)",
        started.elapsed().as_millis()
    ));
    if kill == Kill::Crash {
        assert_eq!(sales.kill_busy(), 1, "one sales-api process held the sale");
    }
    let (status, body) = sale.await.expect("sale task");
    let answered = started.elapsed();
    let expect = match kill {
        Kill::Timeout(_) => 503,
        Kill::Crash => 500,
    };
    assert_eq!(status, expect, "the buyer's answer: {body}");
    // A sale still waiting when its deadline comes is cut by the handler itself, before
    // Lambda's Timeout: `outcome_unknown` naming the sale, never a bare timeout for a sale the
    // server may still commit.
    let mut named: Option<String> = None;
    match kill {
        Kill::Timeout(d) => {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            assert_eq!(
                v["error"].as_str(),
                Some("outcome_unknown"),
                "the buyer's answer: {body}"
            );
            named = v["sale_id"].as_str().map(str::to_owned);
            assert!(named.is_some(), "outcome_unknown names the sale: {body}");
            assert!(
                answered < d,
                "answered after {answered:?}, before its Timeout {d:?}"
            );
            assert_eq!(
                sales.timeouts(),
                timeouts,
                "no Lambda timeout: the handler answered first"
            );
        }
        Kill::Crash => assert_eq!(sales.crashes(), crashes + 1, "Runtime.ExitError"),
    }
    rec.saw(match kill {
        Kill::Timeout(d) => format!(
            "the sale's deadline (Timeout {} s less the 1 s margin) came first: the buyer got 503 outcome_unknown naming the sale after {} ms, no Lambda timeout",
            d.as_secs_f64(),
            answered.as_millis()
        ),
        Kill::Crash => format!(
            "killed by {}: the buyer got {status} after {} ms",
            kill.what(),
            answered.as_millis()
        ),
    });
    if kill == Kill::Crash {
        crash_resets_the_environment(ctx, starts, &pids).await;
    }
    sale_settles(ctx, sku, holder_id, tx, before, named, &key, kill, rec).await;
    if kill == Kill::Crash {
        let cold = ctx.log_count("SalesApiFunction", "\"cold_start\":true");
        assert!(
            cold > cold_starts,
            "the next invocation ran in a new execution environment (cold start)"
        );
        rec.held(format!(
            "the next invocation was a cold start in a new process ({} process starts before, {} after)",
            starts,
            sales.starts()
        ));
    }
    sales.set_timeout(None);
}

/// After a crash: a new process (init again), the old one gone.
async fn crash_resets_the_environment(ctx: &Ctx<'_>, starts: u64, pids: &[Option<u32>]) {
    let sales = ctx.h.function("SalesApiFunction").expect("sales-api");
    eventually(
        "a new sales-api process",
        Duration::from_secs(10),
        move || async move {
            (sales.starts() > starts && sales.pids().iter().all(Option::is_some)).then_some(())
        },
    )
    .await;
    let new_pids = sales.pids();
    assert_ne!(pids, new_pids, "the killed process was replaced");
    for pid in pids
        .iter()
        .flatten()
        .filter(|p| !new_pids.contains(&Some(**p)))
    {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "the killed process {pid} is gone"
        );
    }
}

/// The stock row released: the orphaned or cut statement ends (commit or rollback) with
/// nothing half done; a sale named `outcome_unknown` is what `GET /sales/{id}` then says; the
/// buyer's retry with its key gets one sale, never two.
#[allow(clippy::too_many_arguments)]
async fn sale_settles(
    ctx: &Ctx<'_>,
    sku: &str,
    holder_id: u64,
    tx: sqlx::Transaction<'_, sqlx::MySql>,
    before: crate::kit::Ledger,
    named: Option<String>,
    key: &str,
    kill: Kill,
    rec: &mut Record,
) {
    // Let the orphaned statement finish: MariaDB runs it to its end (commit or rollback),
    // whatever the dead client.
    tx.rollback().await.expect("release the stock row");
    eventually(
        "no transaction left open",
        Duration::from_secs(15),
        move || async move { (ctx.open_transactions(holder_id).await == 0).then_some(()) },
    )
    .await;
    let after = ctx.ledger(sku).await;
    let ledger = after.holds(5);
    let committed = after.sales - before.sales;
    assert!(
        committed == 0 || committed == 1,
        "at most the one sale: {after:?}"
    );
    rec.saw(match (committed, kill) {
        (1, Kill::Crash) => "the server ran the orphaned sale to COMMIT after its client died (sale row and decrement together; the buyer was told 5xx: only the Idempotency-Key retry below tells them)".to_owned(),
        (1, Kill::Timeout(_)) => "the cut statement committed once the row was free; GET /sales/{id} of the named sale: 200".to_owned(),
        _ => "the statement rolled back: no sale row, no decrement".to_owned(),
    });
    rec.held(format!("after the kill: {ledger}: nothing half done"));
    if let Some(id) = named {
        let (s, b) = ctx
            .api
            .call_with(reqwest::Method::GET, &format!("/sales/{id}"), None, &[])
            .await;
        let want = if committed == 1 { 200 } else { 404 };
        assert_eq!(s, want, "GET /sales/{id} tells what happened: {b}");
        rec.held(format!(
            "the sale named by outcome_unknown: GET /sales/{{id}} {s}, and {committed} sale row(s)"
        ));
    }

    // The buyer retries with its key: one sale, never two.
    let (s, b) = ctx
        .api
        .call_with(
            reqwest::Method::POST,
            "/sales",
            Some(json!({"sku": sku, "quantity": 1})),
            &[("idempotency-key", key)],
        )
        .await;
    assert_eq!(s, 201, "the retry with the same key: {b}");
    let retried = ctx.ledger(sku).await;
    let ledger = retried.holds(5);
    assert_eq!(
        retried.sales,
        before.sales + 1,
        "exactly one sale for the key"
    );
    rec.held(format!(
        "retry with the same Idempotency-Key: 201, exactly one sale row; {ledger}"
    ));
}

/// A `factory-orderer` batch killed after the factory accepted is redelivered, calls the
/// factory again with the same idempotency key, and makes one factory order, restocked once.
pub async fn orderer_after_acceptance(ctx: &Ctx<'_>, kill: Kill, rec: &mut Record) {
    let orderer = ctx
        .h
        .function("FactoryOrdererFunction")
        .expect("factory-orderer")
        .clone();
    let sim = ctx.h.function("FactorySimFunction").expect("factory-sim");
    let sku = match kill {
        Kill::Timeout(_) => "killed-order-timeout",
        Kill::Crash => "killed-order-crash",
    };
    ctx.product(sku, 1, 6).await;
    let (starts, timeouts, crashes) = (orderer.starts(), orderer.timeouts(), orderer.crashes());
    if let Kill::Timeout(d) = kill {
        orderer.set_timeout(Some(d));
    }
    // The factory stand-in's calls, and the fault at its first acceptance.
    let calls: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let fired = Arc::new(AtomicBool::new(false));
    let tap: Tap = {
        let (calls, fired, orderer) = (calls.clone(), fired.clone(), orderer.clone());
        Arc::new(move |seen: &Seen<'_>| match seen {
            Seen::Invoked { payload, .. } => {
                if let (Some(c), Ok(mut all)) = (manufacture_call(payload), calls.lock()) {
                    all.push(c);
                }
                None
            }
            Seen::Answered { answer, .. } => {
                let accepted = status_of(answer) == Some(202);
                if !accepted || fired.swap(true, Ordering::SeqCst) {
                    return None;
                }
                match kill {
                    // The factory accepted; the orderer dies before it hears so.
                    Kill::Crash => {
                        orderer.kill_busy();
                        None
                    }
                    // The acceptance reaches the orderer only after its Timeout.
                    Kill::Timeout(d) => Some(d + Duration::from_millis(1500)),
                }
            }
        })
    };
    sim.set_tap(Some(tap));
    let (s, b) = ctx.api.sell(sku, 1).await;
    assert_eq!(s, 201, "{b}");
    let order_id = b
        .pointer("/factory_order/id")
        .and_then(serde_json::Value::as_str)
        .expect("the sale to zero opened a factory order")
        .to_owned();
    let started = Instant::now();
    eventually(
        "the orderer killed after the factory accepted",
        Duration::from_secs(30),
        {
            let orderer = &orderer;
            move || async move {
                (orderer.timeouts() > timeouts || orderer.crashes() > crashes).then_some(())
            }
        },
    )
    .await;
    rec.saw(format!(
        "the factory accepted order (id); the orderer was killed by {} before recording it (timeouts {} -> {}, crashes {} -> {})",
        kill.what(),
        timeouts,
        orderer.timeouts(),
        crashes,
        orderer.crashes()
    ));
    let ledger = eventually(
        "the order fulfilled after the redelivery",
        Duration::from_secs(60),
        move || async move {
            let l = ctx.ledger(sku).await;
            (l.fulfilled == 1 && l.restocked > 0).then_some(l)
        },
    )
    .await;
    sim.set_tap(None);
    orderer.set_timeout(None);
    let took = started.elapsed();
    // Nothing left on the queue or in its DLQ.
    eventually(
        "the queue drained",
        Duration::from_secs(20),
        move || async move { (ctx.queue_depth("FactoryOrdersQueue").await == 0).then_some(()) },
    )
    .await;
    assert_eq!(
        ctx.queue_depth("FactoryOrdersDlq").await,
        0,
        "nothing in the DLQ"
    );
    let calls: Vec<(String, String)> = calls
        .lock()
        .map(|c| c.iter().filter(|(o, _)| *o == order_id).cloned().collect())
        .unwrap_or_default();
    assert!(
        calls.len() >= 2,
        "the redelivery called the factory again: {calls:?}"
    );
    assert!(
        calls.iter().all(|(_, key)| *key == order_id),
        "every call carried the order id as Idempotency-Key: {calls:?}"
    );
    let sim_name = &sim.spec.name;
    let acceptances: Vec<String> = ctx
        .h
        .logs
        .lines_of(sim_name)
        .into_iter()
        .filter(|l| l.contains(&order_id) && l.contains("\"outcome\":\"accepted\""))
        .collect();
    let new_batches = acceptances
        .iter()
        .filter(|l| l.contains("\"repeat\":false"))
        .count();
    assert_eq!(new_batches, 1, "one batch at the factory: {acceptances:?}");
    assert_eq!(ledger.orders, 1, "one factory order: {ledger:?}");
    assert_eq!(ledger.restocked, 6, "restocked once: {ledger:?}");
    let l = ledger.holds(1);
    assert!(orderer.starts() > starts, "a new orderer process");
    rec.saw(format!(
        "redelivered after the visibility timeout; {} factory calls with the same Idempotency-Key, the factory answered the repeat with the same reference; fulfilled {} ms after the kill",
        calls.len(),
        took.as_millis()
    ));
    rec.held(format!(
        "1 factory order, 1 batch at the factory ({} acceptances, 1 new), restocked once (6); {l}",
        acceptances.len()
    ));
    rec.held("queue and DLQ empty; the killed instance replaced by a new process".to_owned());
}
