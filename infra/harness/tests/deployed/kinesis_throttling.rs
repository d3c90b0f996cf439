//! Kinesis throttling in `api-capture`: PutRecords answers per-record
//! `ProvisionedThroughputExceededException` (a fault injector in front of moto,
//! `kinesis_proxy.rs`), and every capture record still arrives, with the duplicates bounded by
//! Lambda's asynchronous retries of the log subscription's delivery (docs/capture.md,
//! "Throttling and duplicates"):
//!
//! 1. throttling within the adapter's retry budget (each record throttled on its first 2 sends
//!    of 5): every record once, no duplicate;
//! 2. throttling beyond the budget for half the records (their first 5 sends): the invocation
//!    fails, Lambda retries the delivery, the whole batch is sent again — the half that had
//!    landed lands twice; every record arrives, none more than 1 + MaximumRetryAttempts times;
//! 3. throttling that outlasts Lambda's retries (one half never gets through): the delivery,
//!    with every log event, goes to the on-failure destination (AsyncFailuresQueue, alarmed).

use crate::fault_stack::{self, FaultStack};
use crate::kinesis_proxy::{KinesisThrottler, Policy, Sends};
use crate::kit::{eventually, kinesis_records};
use crate::record::Record;
use base64::Engine;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::time::Duration;

/// A capture record's identity: `kind` + `request_id`.
fn id_of(v: &Value) -> String {
    format!(
        "{}:{}",
        v["kind"].as_str().unwrap_or("-"),
        v["request_id"].as_str().unwrap_or("-")
    )
}

/// Copies in the stream of every record, by identity.
async fn copies(s: &FaultStack) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for v in kinesis_records(&s.h).await {
        *out.entry(id_of(&v)).or_default() += 1;
    }
    out
}

/// Sends `n` API requests (reads and unknown SKUs: one capture record each).
async fn traffic(s: &FaultStack, n: usize) {
    for i in 0..n {
        let path = if i % 2 == 0 {
            "/inventory".to_owned()
        } else {
            format!("/inventory/none-{i}")
        };
        let (st, b) = s.api.call(reqwest::Method::GET, &path, None, None).await;
        assert!(st == 200 || st == 404, "{path}: {st} {b}");
    }
}

/// Waits until `want` records other than `before`'s are in the stream, then 2 s more (late
/// retries), and returns the new ones' copies.
async fn new_records(
    s: &FaultStack,
    before: &BTreeMap<String, usize>,
    want: usize,
) -> BTreeMap<String, usize> {
    eventually(
        "the phase's capture records in Kinesis",
        Duration::from_secs(60),
        || async {
            let now = copies(s).await;
            (now.keys().filter(|k| !before.contains_key(*k)).count() >= want).then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    copies(s)
        .await
        .into_iter()
        .filter(|(k, _)| !before.contains_key(k))
        .collect()
}

/// The proxy's sends of the records not in `before`, by identity.
fn sends_of(
    proxy: &KinesisThrottler,
    before: &BTreeMap<String, usize>,
) -> BTreeMap<String, (Sends, bool)> {
    proxy
        .sends()
        .into_iter()
        .map(|(v, s, half)| (id_of(&v), (s, half)))
        .filter(|(k, _)| !before.contains_key(k))
        .collect()
}

fn failed_invocations(s: &FaultStack) -> usize {
    s.json_lines("ApiCaptureFunction")
        .iter()
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("ALARM") && m.contains("lost after"))
        })
        .count()
}

const N: usize = 24;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn throttled_capture_records_all_arrive_with_bounded_duplicates() {
    let mut rec = Record::new(
        "throttled_capture_records_all_arrive_with_bounded_duplicates",
        "Kinesis PutRecords answers per-record ProvisionedThroughputExceededException \
         (FailedRecordCount > 0; a fault-injecting proxy in front of moto): (1) every record on \
         its first 2 sends; (2) half the records on their first 5 sends (the adapter's whole \
         budget); (3) half the records on every send",
    );
    let moto = fault_stack::moto();
    let proxy = KinesisThrottler::start(&moto.endpoint).await;
    let s = fault_stack::start("kinesis-throttling", moto, Some(proxy.url.clone()), |_| {}).await;
    let retries = s.h.opts.async_retry_delays.len();
    let most = 1 + retries;

    // 1. Within the budget: retried entry by entry, every record exactly once.
    proxy.set(Policy::FirstSends(2));
    let before = copies(&s).await;
    traffic(&s, N).await;
    let got = new_records(&s, &before, N).await;
    let sends = sends_of(&proxy, &before);
    let throttled: u32 = sends.values().map(|(x, _)| x.throttled).sum();
    assert_eq!(got.len(), N, "one record per request: {got:?}");
    assert!(got.values().all(|&c| c == 1), "no duplicate: {got:?}");
    assert_eq!(failed_invocations(&s), 0, "no invocation failed");
    assert_eq!(throttled as usize, 2 * N, "each record throttled twice");
    rec.saw(format!(
        "(1) {N} records, {throttled} entries throttled in {} PutRecords calls: retried entry by \
         entry within the invocation, {} records in Kinesis, none twice",
        proxy.put_records_calls(),
        got.len()
    ));
    rec.held(format!(
        "(1) {N} of {N} records arrived, 0 duplicates, 0 failed invocations"
    ));

    // 2. Beyond the budget for half: the invocation fails, Lambda retries the delivery.
    proxy.set(Policy::HalfFirstSends(5));
    let before: BTreeMap<String, usize> = copies(&s).await;
    traffic(&s, N).await;
    let got = new_records(&s, &before, N).await;
    let sends = sends_of(&proxy, &before);
    let failed = failed_invocations(&s);
    let dups: usize = got.values().map(|c| c - 1).sum();
    let worst = got.values().copied().max().unwrap_or(0);
    assert_eq!(got.len(), N, "every record arrived: {got:?}");
    assert!(failed > 0, "the budget ran out at least once");
    assert!(
        worst <= most,
        "at most 1 + {retries} copies of a record: {got:?}"
    );
    // Kinesis holds exactly what was written: a throttled entry is never stored.
    for (k, c) in &got {
        let (x, _) = sends.get(k).expect("the proxy saw every record");
        assert_eq!(*c, x.written as usize, "{k}: copies = writes");
    }
    // The duplicates are records of the unthrottled half re-sent by the whole-delivery retry.
    let dup_half: BTreeSet<bool> = got
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(k, _)| sends[k].1)
        .collect();
    assert!(
        dup_half.iter().all(|h| !h),
        "only records that had landed are duplicated"
    );
    // At most the unthrottled half once per failed invocation (exactly that when every record
    // was in one delivery).
    let unthrottled = sends.values().filter(|(_, half)| !half).count();
    assert!(
        dups <= unthrottled * failed,
        "{dups} duplicates, {unthrottled} unthrottled records, {failed} failed invocations"
    );
    let deliveries_failed = s.h.logs.deliveries().iter().filter(|d| !d.2).count();
    assert_eq!(deliveries_failed, 0, "every delivery succeeded in the end");
    rec.saw(format!(
        "(2) {failed} invocation(s) failed after the adapter's 5 attempts; Lambda retried the \
         delivery, which re-sent the whole batch: {N} of {N} records arrived, {dups} duplicate(s) \
         (records that had landed before the failure), at most {worst} copies of one record"
    ));
    rec.held(format!(
        "(2) {N} of {N} records arrived; duplicates {dups} ≤ {unthrottled} records that had landed \
         × {failed} failed invocation(s); copies per record ≤ {most} (1 + MaximumRetryAttempts); \
         Kinesis copies = entries written, none of a throttled entry"
    ));

    // 3. Throttling that outlasts Lambda's retries: the delivery goes to the failures queue.
    proxy.set(Policy::HalfFirstSends(u32::MAX));
    let before: BTreeMap<String, usize> = copies(&s).await;
    let failed_before = s.h.logs.deliveries().iter().filter(|d| !d.2).count();
    traffic(&s, 4).await;
    eventually(
        "a delivery given up after Lambda's retries",
        Duration::from_secs(60),
        || async {
            (s.h.logs.deliveries().iter().filter(|d| !d.2).count() > failed_before).then_some(())
        },
    )
    .await;
    let parked = parked_capture_lines(&s).await;
    let sends = sends_of(&proxy, &before);
    let never: BTreeSet<&String> = sends
        .iter()
        .filter(|(_, (x, _))| x.written == 0)
        .map(|(k, _)| k)
        .collect();
    assert!(!never.is_empty(), "some records never got through");
    for k in &never {
        assert!(
            parked.contains(k.as_str()),
            "{k}: not in Kinesis, so in the failures queue ({parked:?})"
        );
    }
    proxy.set(Policy::Off);
    rec.saw(format!(
        "(3) {} record(s) throttled on every send: after 1 + {retries} invocations the delivery \
         ({} capture line(s)) went to AsyncFailuresQueue (the on-failure destination, alarmed)",
        never.len(),
        parked.len()
    ));
    rec.held(format!(
        "(3) every record that never reached Kinesis ({}) is in the failed delivery in \
         AsyncFailuresQueue",
        never.len()
    ));
}

/// The capture records (identities) in the deliveries parked in AsyncFailuresQueue.
async fn parked_capture_lines(s: &FaultStack) -> BTreeSet<String> {
    let sqs = aws_sdk_sqs::Client::new(&s.h.sdk);
    let mut out = BTreeSet::new();
    let Some(url) = s.h.queue_urls.get("AsyncFailuresQueue") else {
        panic!("the template's AsyncFailuresQueue");
    };
    let got = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("receive");
    for m in got.messages() {
        let Ok(rec) = serde_json::from_str::<Value>(m.body().unwrap_or_default()) else {
            continue;
        };
        let Some(data) = rec
            .pointer("/requestPayload/awslogs/data")
            .and_then(Value::as_str)
        else {
            continue;
        };
        let Ok(zipped) = base64::engine::general_purpose::STANDARD.decode(data) else {
            continue;
        };
        let mut text = String::new();
        let _ = flate2::read::GzDecoder::new(zipped.as_slice()).read_to_string(&mut text);
        let Ok(logs) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        for e in logs["logEvents"].as_array().into_iter().flatten() {
            let line: Value =
                serde_json::from_str(e["message"].as_str().unwrap_or_default()).unwrap_or_default();
            if let Some(c) = line.get("capture") {
                out.insert(id_of(c));
            }
        }
    }
    out
}
