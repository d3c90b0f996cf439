//! Throttling: a function's reserved concurrency (the template's `ReservedConcurrentExecutions`,
//! or a lower one the harness sets for the case) is enforced; an invocation beyond it is refused
//! at once (429 from the Invoke API) and each caller does what it does on AWS:
//! - API Gateway answers 500 (no Retry-After); a buyer who backs off and retries with its
//!   Idempotency-Key loses no sale and buys nothing twice;
//! - the SQS event source mapping leaves the batch on the queue: it comes back after the
//!   visibility timeout;
//! - asynchronous invocations (schedules, the logs subscription) go back to Lambda's event queue
//!   and are tried again with a growing wait, without using up their retries.

use crate::kit::{Ctx, eventually, kinesis_records, manufacture_call, status_of};
use crate::record::Record;
use lambda_harness::runtime::{Seen, Tap};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A tap that holds back the function's first `n` answers by `hold` (keeping its concurrency).
fn hold_first(n: usize, hold: Duration) -> Tap {
    let seen = AtomicUsize::new(0);
    Arc::new(move |s: &Seen<'_>| match s {
        Seen::Answered { .. } if seen.fetch_add(1, Ordering::SeqCst) < n => Some(hold),
        _ => None,
    })
}

/// One buyer's purchase: retried on 5xx (Retry-After when given, else a growing wait with
/// jitter) with the same Idempotency-Key until it is sold (201) or refused (409).
async fn buy(http: &reqwest::Client, base: &str, sku: &str, key: &str) -> (u16, Value, u32) {
    let mut fivexx = 0u32;
    let mut wait = Duration::from_millis(20);
    loop {
        let res = http
            .post(format!("{base}/sales"))
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(json!({"sku": sku, "quantity": 1}).to_string())
            .send()
            .await
            .expect("sale request");
        let status = res.status().as_u16();
        let retry_after = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let body: Value =
            serde_json::from_str(&res.text().await.unwrap_or_default()).unwrap_or(Value::Null);
        match status {
            201 | 409 => return (status, body, fivexx),
            500 | 502 | 503 => {
                fivexx += 1;
                assert!(
                    fivexx < 60,
                    "{key}: still {status} after {fivexx} tries: {body}"
                );
                let jitter = Duration::from_millis(rand::random::<u64>() % 20);
                tokio::time::sleep(retry_after.map(Duration::from_secs).unwrap_or(wait) + jitter)
                    .await;
                wait = (wait * 2).min(Duration::from_millis(640));
            }
            other => panic!("{key}: unexpected {other}: {body}"),
        }
    }
}

/// 16 buyers, 48 purchases, on a sales-api whose reserved concurrency is 2 (the template's
/// `SalesApiMaxConcurrency` parameter).
pub async fn api_requests_beyond_reserved_concurrency_lose_no_sale(ctx: &Ctx<'_>) {
    let mut rec = Record::new(
        "api_requests_beyond_reserved_concurrency_lose_no_sale",
        "16 concurrent buyers, 48 purchases, sales-api ReservedConcurrentExecutions 2 (template parameter SalesApiMaxConcurrency=2)",
    );
    let sales = ctx.h.function("SalesApiFunction").expect("sales-api");
    assert_eq!(
        sales.spec.reserved_concurrency,
        Some(2),
        "ReservedConcurrentExecutions read from the template"
    );
    let sku = "throttled-flash";
    let initial = 30;
    ctx.product(sku, initial, 30).await;
    let throttles = sales.throttles();
    let started = Instant::now();
    let mut buyers = Vec::new();
    for b in 0..16 {
        let (http, base) = (ctx.api.http.clone(), ctx.api.base.clone());
        buyers.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for a in 0..3 {
                let key = format!("{sku}-{b}-{a}");
                out.push(buy(&http, &base, sku, &key).await);
            }
            out
        }));
    }
    let mut answers = Vec::new();
    for b in buyers {
        answers.extend(b.await.expect("buyer"));
    }
    let took = started.elapsed();
    let throttled = sales.throttles() - throttles;
    let fivexx: u64 = answers.iter().map(|(_, _, n)| u64::from(*n)).sum();
    let sold: BTreeSet<String> = answers
        .iter()
        .filter(|(s, _, _)| *s == 201)
        .filter_map(|(_, b, _)| b.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let sold_answers = answers.iter().filter(|(s, _, _)| *s == 201).count();
    let refused = answers.iter().filter(|(s, _, _)| *s == 409).count();
    assert!(
        throttled > 0,
        "16 buyers on 2 concurrent executions were throttled"
    );
    assert_eq!(
        fivexx, throttled,
        "every 5xx the buyers saw was a throttle (500 from API Gateway), and every throttle reached them as one"
    );
    assert_eq!(sold.len(), sold_answers, "every 201 names its own sale");
    rec.saw(format!(
        "{} purchases in {} ms: {} throttles (Lambda Throttles metric) = {} answers 500 {{\"message\":\"Internal Server Error\"}} without Retry-After, each retried with backoff and the same Idempotency-Key; finally {} sold (201), {} refused (409), none given up",
        answers.len(),
        took.as_millis(),
        throttled,
        fivexx,
        sold_answers,
        refused
    ));
    // Settled: no factory order still open (its restock counted).
    let ledger = eventually(
        "the SKU's factory orders settled",
        Duration::from_secs(60),
        move || async move {
            let l = ctx.ledger(sku).await;
            (l.fulfilled == l.orders).then_some(l)
        },
    )
    .await;
    let mut db = ctx.db().await;
    let mut rows = 0;
    for id in &sold {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sales WHERE id = ?")
            .bind(id)
            .fetch_one(&mut db)
            .await
            .expect("sale row");
        assert_eq!(n, 1, "sale {id} answered 201 is stored once");
        rows += n;
    }
    assert_eq!(
        ledger.sales, rows,
        "no sale stored that was not answered 201: {ledger:?}"
    );
    rec.held(format!(
        "{rows} answers 201 = {} sale rows, each stored once; {}",
        ledger.sales,
        ledger.holds(initial)
    ));
}

/// factory-orderer with a reserved concurrency of 1 under two pollers (the mapping's
/// MaximumConcurrency 2): the second batch is throttled while the first is in flight.
pub async fn sqs_batches_beyond_reserved_concurrency_stay_on_the_queue(ctx: &Ctx<'_>) {
    let mut rec = Record::new(
        "sqs_batches_beyond_reserved_concurrency_stay_on_the_queue",
        "factory-orderer reserved concurrency 1 (set by the harness) under an event source mapping with MaximumConcurrency 2; the first batch held in flight 3 s (the factory's answer late)",
    );
    let orderer = ctx.h.function("FactoryOrdererFunction").expect("orderer");
    let sim = ctx.h.function("FactorySimFunction").expect("factory-sim");
    orderer.set_reserved_concurrency(Some(1));
    let throttles = orderer.throttles();
    let calls: Arc<Mutex<Vec<String>>> = Arc::default();
    let held = AtomicUsize::new(0);
    let tap: Tap = {
        let calls = calls.clone();
        Arc::new(move |s: &Seen<'_>| match s {
            Seen::Invoked { payload, .. } => {
                if let (Some((order, _)), Ok(mut c)) = (manufacture_call(payload), calls.lock()) {
                    c.push(order);
                }
                None
            }
            Seen::Answered { answer, .. } => (status_of(answer) == Some(202)
                && held.fetch_add(1, Ordering::SeqCst) == 0)
                .then_some(Duration::from_secs(3)),
        })
    };
    sim.set_tap(Some(tap));
    let skus = ["throttled-sqs-a", "throttled-sqs-b", "throttled-sqs-c"];
    for sku in skus {
        ctx.product(sku, 1, 4).await;
    }
    let started = Instant::now();
    let (s, b) = ctx.api.sell(skus[0], 1).await;
    assert_eq!(s, 201, "{b}");
    eventually(
        "the first batch calling the factory",
        Duration::from_secs(30),
        {
            let calls = &calls;
            move || async move { (!calls.lock().map(|c| c.is_empty()).unwrap_or(true)).then_some(()) }
        },
    )
    .await;
    for sku in &skus[1..] {
        let (s, b) = ctx.api.sell(sku, 1).await;
        assert_eq!(s, 201, "{b}");
    }
    let mut ledgers = BTreeMap::new();
    for sku in skus {
        let l = eventually(
            "every stock-out fulfilled",
            Duration::from_secs(60),
            move || async move {
                let l = ctx.ledger(sku).await;
                (l.fulfilled == 1 && l.restocked > 0).then_some(l)
            },
        )
        .await;
        ledgers.insert(sku, l);
    }
    let took = started.elapsed();
    sim.set_tap(None);
    orderer.set_reserved_concurrency(orderer.spec.reserved_concurrency);
    let throttled = orderer.throttles() - throttles;
    assert!(throttled >= 1, "a batch was throttled");
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
    let calls = calls.lock().map(|c| c.clone()).unwrap_or_default();
    let mut held_rows = Vec::new();
    for (sku, l) in &ledgers {
        assert_eq!(
            (l.orders, l.restocked),
            (1, 4),
            "{sku}: one order, restocked once"
        );
        held_rows.push(format!("{sku}: 1 order, restocked once; {}", l.holds(1)));
    }
    rec.saw(format!(
        "{throttled} invocation(s) throttled (429) while the first batch held the only slot; the throttled batches stayed on the queue and came back after the visibility timeout; {} factory calls; all 3 orders fulfilled in {} ms",
        calls.len(),
        took.as_millis()
    ));
    for r in held_rows {
        rec.held(r);
    }
    rec.held("queue and DLQ empty: no message lost");
}

/// The outbox relay's schedule fired twice at once with reserved concurrency 1 (the template's
/// OutboxRelayMaxConcurrency).
pub async fn a_throttled_schedule_is_retried_and_runs_once(ctx: &Ctx<'_>) {
    let mut rec = Record::new(
        "a_throttled_schedule_is_retried_and_runs_once",
        "outbox-relay's schedule fired twice at once, ReservedConcurrentExecutions 1 (template), the first run held 1.5 s",
    );
    let relay = ctx.h.function("OutboxRelayFunction").expect("relay");
    assert_eq!(
        relay.spec.reserved_concurrency,
        Some(1),
        "from the template"
    );
    let (invocations, throttles) = (relay.invocations(), relay.throttles());
    let failures = ctx.queue_depth("AsyncFailuresQueue").await;
    relay.set_tap(Some(hold_first(1, Duration::from_millis(1500))));
    let started = Instant::now();
    let (a, b) = tokio::join!(
        ctx.h.fire_schedule("OutboxRelayFunction", "EveryMinute"),
        ctx.h.fire_schedule("OutboxRelayFunction", "EveryMinute")
    );
    relay.set_tap(None);
    assert!(
        a.expect("schedule") && b.expect("schedule"),
        "both runs succeeded"
    );
    let throttled = relay.throttles() - throttles;
    let ran = relay.invocations() - invocations;
    assert!(throttled >= 1, "the second run was throttled");
    assert_eq!(ran, 2, "each scheduled event ran exactly once");
    assert_eq!(
        ctx.queue_depth("AsyncFailuresQueue").await,
        failures,
        "nothing given up to the on-failure destination"
    );
    rec.saw(format!(
        "{throttled} throttle(s) of the second event, retried from Lambda's event queue with a growing wait (not counted against MaximumRetryAttempts 0); both ran within {} ms",
        started.elapsed().as_millis()
    ));
    rec.held("2 events -> 2 runs of the function, 0 on the on-failure queue");
}

/// api-capture with reserved concurrency 1 (set by the harness), its answers held 0.8 s, while
/// both subscribed log groups (sales-api, restock) deliver.
pub async fn throttled_log_deliveries_lose_no_capture_record(ctx: &Ctx<'_>) {
    let mut rec = Record::new(
        "throttled_log_deliveries_lose_no_capture_record",
        "api-capture reserved concurrency 1 (set by the harness), each run held 0.8 s, while the sales-api and restock log subscriptions deliver",
    );
    let capture = ctx.h.function("ApiCaptureFunction").expect("api-capture");
    capture.set_reserved_concurrency(Some(1));
    capture.set_tap(Some(hold_first(usize::MAX, Duration::from_millis(800))));
    let throttles = capture.throttles();
    let failures = ctx.queue_depth("AsyncFailuresQueue").await;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut ids = BTreeSet::new();
    for i in 0..6 {
        let id = format!("capthr-{run}-s{i}");
        let (s, _) = ctx
            .api
            .call_with(
                reqwest::Method::GET,
                "/inventory/throttled-flash",
                None,
                &[("x-correlation-id", id.as_str())],
            )
            .await;
        assert_eq!(s, 200);
        ids.insert(id);
        let id = format!("capthr-{run}-r{i}");
        let (s, _) = ctx
            .api
            .call_with(
                reqwest::Method::POST,
                &format!("/factory/callbacks/{}?token=forged", uuid::Uuid::new_v4()),
                Some(json!({"ProductId": "throttled-flash", "ProductCnt": 1})),
                &[("x-correlation-id", id.as_str())],
            )
            .await;
        assert!((400..500).contains(&s), "forged callback: {s}");
        ids.insert(id);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let ours = |recs: Vec<Value>| -> Vec<String> {
        recs.iter()
            .filter_map(|r| r.get("correlation_id").and_then(Value::as_str))
            .filter(|c| c.starts_with(&format!("capthr-{run}-")))
            .map(str::to_owned)
            .collect()
    };
    eventually("a capture record per request", Duration::from_secs(60), {
        let (ours, want) = (&ours, ids.len());
        move || async move { (ours(kinesis_records(ctx.h).await).len() >= want).then_some(()) }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    capture.set_tap(None);
    capture.set_reserved_concurrency(capture.spec.reserved_concurrency);
    let got = ours(kinesis_records(ctx.h).await);
    let distinct: BTreeSet<String> = got.iter().cloned().collect();
    let throttled = capture.throttles() - throttles;
    assert!(throttled >= 1, "a delivery was throttled");
    assert_eq!(distinct, ids, "every request captured");
    assert_eq!(got.len(), ids.len(), "none captured twice");
    assert_eq!(
        ctx.queue_depth("AsyncFailuresQueue").await,
        failures,
        "nothing given up to the on-failure destination"
    );
    rec.saw(format!(
        "{throttled} subscription deliveries throttled (429), retried from Lambda's event queue with a growing wait"
    ));
    rec.held(format!(
        "{} requests -> {} capture records in Kinesis, each once; 0 on the on-failure queue",
        ids.len(),
        got.len()
    ));
}
