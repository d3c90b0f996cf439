//! The Kinesis adapter against the SDK's mock client: batching, partial-failure retries, lost
//! records, and its calls as X-Ray subsegments (inventory's daemon stand-in, `xray::testkit`).
use super::*;
use aws_sdk_kinesis::operation::put_records::PutRecordsOutput;
use aws_sdk_kinesis::types::PutRecordsResultEntry;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use inventory::capture::fixture::record;
use inventory::xray::testkit::{PARENT, daemon, header, received};
use serde_json::json;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use tracing::Instrument;

#[test]
fn batches_respect_count_and_size_limits() {
    let entries: Vec<Entry> = (0..1201).map(|i| Entry::of(&record(i)).unwrap()).collect();
    let sizes: Vec<usize> = plan_batches(entries).iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![500, 500, 201]);
    // 600 KiB records: 8 fit in 5 MiB.
    let big = |i: usize| Entry {
        data: vec![b'x'; 600 * 1024],
        partition_key: format!("k{i}"),
    };
    let batches = plan_batches((0..20).map(big).collect());
    for b in &batches {
        assert!(b.iter().map(Entry::size).sum::<usize>() <= MAX_BATCH_BYTES);
    }
    assert_eq!(
        batches.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![8, 8, 4]
    );
    assert!(plan_batches(Vec::new()).is_empty());
}

pub(crate) fn ok_entry(i: usize) -> PutRecordsResultEntry {
    PutRecordsResultEntry::builder()
        .shard_id("shardId-000000000000")
        .sequence_number(format!("{i}"))
        .build()
}
fn failed_entry() -> PutRecordsResultEntry {
    PutRecordsResultEntry::builder()
        .error_code("ProvisionedThroughputExceededException")
        .error_message("Rate exceeded for shard")
        .build()
}
fn request_ids(input: &aws_sdk_kinesis::operation::put_records::PutRecordsInput) -> Vec<String> {
    input
        .records()
        .iter()
        .map(|r| {
            let rec: CaptureRecord = serde_json::from_slice(r.data().as_ref()).unwrap();
            assert!(r.data().as_ref().ends_with(b"\n"));
            assert_eq!(r.partition_key(), Some(rec.partition_key().as_str()));
            rec.request_id
        })
        .collect()
}

/// First call: entries 1 and 3 of 5 fail (FailedRecordCount 2). The second call must
/// carry exactly those two, and then everything is delivered.
#[tokio::test]
async fn partial_failure_retries_only_failed_entries() {
    let calls: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let seen = calls.clone();
    let rule = mock!(aws_sdk_kinesis::Client::put_records).then_compute_output(move |input| {
        let ids = request_ids(input);
        let mut calls = seen.lock().unwrap();
        calls.push(ids.clone());
        let first = calls.len() == 1;
        let results: Vec<PutRecordsResultEntry> = (0..ids.len())
            .map(|i| {
                if first && (i == 1 || i == 3) {
                    failed_entry()
                } else {
                    ok_entry(i)
                }
            })
            .collect();
        PutRecordsOutput::builder()
            .failed_record_count(if first { 2 } else { 0 })
            .set_records(Some(results))
            .build()
            .unwrap()
    });
    let client = mock_client!(aws_sdk_kinesis, RuleMode::MatchAny, [&rule]);
    let capture = KinesisCapture::new(client, "capture").with_retry(5, Duration::from_millis(1));
    let report = capture
        .put_all((0..5).map(record).collect())
        .await
        .expect("all delivered");
    assert_eq!(report.delivered, 5);
    assert_eq!(report.lost, 0);
    assert_eq!(report.calls, 2);
    assert_eq!(report.retried, 2);
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0], vec!["req-0", "req-1", "req-2", "req-3", "req-4"]);
    assert_eq!(calls[1], vec!["req-1", "req-3"]);
    assert_eq!(capture.failures(), 0);
}

/// An entry that keeps failing is given up after the attempt limit: reported as lost,
/// counted, and an error.
#[tokio::test]
async fn persistent_failure_is_lost_counted_and_an_error() {
    let calls: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let seen = calls.clone();
    let rule = mock!(aws_sdk_kinesis::Client::put_records).then_compute_output(move |input| {
        let ids = request_ids(input);
        seen.lock().unwrap().push(ids.clone());
        let results: Vec<PutRecordsResultEntry> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                if id == "req-2" {
                    failed_entry()
                } else {
                    ok_entry(i)
                }
            })
            .collect();
        let failed = results.iter().filter(|r| r.error_code().is_some()).count();
        PutRecordsOutput::builder()
            .failed_record_count(failed as i32)
            .set_records(Some(results))
            .build()
            .unwrap()
    });
    let client = mock_client!(aws_sdk_kinesis, RuleMode::MatchAny, [&rule]);
    let capture = KinesisCapture::new(client, "capture").with_retry(3, Duration::from_millis(1));
    let err = capture
        .put_all((0..4).map(record).collect())
        .await
        .expect_err("one record lost");
    let CaptureError::Lost(report) = err;
    assert_eq!((report.delivered, report.lost, report.calls), (3, 1, 3));
    assert_eq!(capture.failures(), 1);
    let calls = calls.lock().unwrap();
    assert_eq!(calls[1], vec!["req-2"]);
    assert_eq!(calls[2], vec!["req-2"]);
}

/// A failed call (HTTP 500 after the SDK's own retries) is retried as a whole; 1200
/// records go out as 500 + 500 + 200.
#[tokio::test]
async fn failed_call_is_retried_and_batches_are_500() {
    let sizes: Arc<Mutex<Vec<usize>>> = Arc::default();
    let seen = sizes.clone();
    let fail = mock!(aws_sdk_kinesis::Client::put_records)
        .sequence()
        .http_status(500, None)
        .times(3)
        .build();
    let ok = mock!(aws_sdk_kinesis::Client::put_records).then_compute_output(move |input| {
        let n = input.records().len();
        seen.lock().unwrap().push(n);
        PutRecordsOutput::builder()
            .failed_record_count(0)
            .set_records(Some((0..n).map(ok_entry).collect()))
            .build()
            .unwrap()
    });
    // MatchAny: the first rule not yet exhausted answers (3 failures, then success).
    let client = mock_client!(aws_sdk_kinesis, RuleMode::MatchAny, [&fail, &ok]);
    let capture = KinesisCapture::new(client, "capture").with_retry(5, Duration::from_millis(1));
    let report = capture
        .put_all((0..1200).map(record).collect())
        .await
        .expect("delivered");
    assert_eq!(report.delivered, 1200);
    assert_eq!(*sizes.lock().unwrap(), vec![500, 500, 200]);
    assert!(report.calls >= 4, "{report:?}");
}

/// A Kinesis `PutRecords` that rejects an entry, then accepts it: two `aws` subsegments, the
/// first one a fault with the entry's error code.
#[tokio::test]
async fn kinesis_calls_are_aws_subsegments() {
    let calls = std::sync::Arc::new(AtomicU64::new(0));
    let seen = calls.clone();
    let rule = mock!(aws_sdk_kinesis::Client::put_records).then_compute_output(move |input| {
        let first = seen.fetch_add(1, Ordering::SeqCst) == 0;
        let entry = |i: usize| {
            if first && i == 0 {
                PutRecordsResultEntry::builder()
                    .error_code("ProvisionedThroughputExceededException")
                    .build()
            } else {
                PutRecordsResultEntry::builder()
                    .shard_id("shardId-000000000000")
                    .sequence_number(i.to_string())
                    .build()
            }
        };
        PutRecordsOutput::builder()
            .failed_record_count(i32::from(first))
            .set_records(Some((0..input.records().len()).map(entry).collect()))
            .build()
            .unwrap()
    });
    let client = mock_client!(aws_sdk_kinesis, RuleMode::MatchAny, [&rule]);
    let capture = KinesisCapture::new(client, "capture").with_retry(3, Duration::from_millis(1));
    let (socket, _guard) = daemon(false);
    let invoke =
        tracing::info_span!("Lambda runtime invoke", requestId = "r-1", xrayTraceId = %header("1"));
    let report = capture
        .put_all((0..3).map(record).collect())
        .instrument(invoke)
        .await
        .unwrap();
    assert_eq!(report.delivered, 3);
    let docs = received(&socket);
    assert_eq!(docs.len(), 2, "{docs:#?}");
    for d in &docs {
        assert_eq!(d["name"], "Kinesis");
        assert_eq!(d["namespace"], "aws");
        assert_eq!(d["aws"]["operation"], "PutRecords");
        assert_eq!(d["aws"]["region"], "eu-west-1");
        assert_eq!(d["aws"]["resource_names"], json!(["capture"]));
        assert_eq!(d["parent_id"], PARENT);
    }
    assert_eq!(docs[0]["annotations"]["records"], 3);
    assert_eq!(docs[0]["annotations"]["failed"], 1);
    assert_eq!(docs[0]["fault"], true);
    assert_eq!(
        docs[0]["cause"]["exceptions"][0]["message"],
        "ProvisionedThroughputExceededException"
    );
    assert_eq!(
        docs[1]["annotations"]["records"], 1,
        "only the rejected entry"
    );
    assert!(docs[1].get("fault").is_none());
}

/// An AWS call that fails with HTTP 400 (not retried by the SDK): an error with the status and
/// the SDK's error kind, then the batch's retry succeeds.
#[tokio::test]
async fn a_failed_aws_call_records_its_status() {
    let fail = mock!(aws_sdk_kinesis::Client::put_records)
        .sequence()
        .http_status(400, None)
        .times(1)
        .build();
    let ok = mock!(aws_sdk_kinesis::Client::put_records).then_compute_output(|input| {
        let ok = |i: usize| {
            PutRecordsResultEntry::builder()
                .shard_id("shardId-000000000000")
                .sequence_number(i.to_string())
                .build()
        };
        PutRecordsOutput::builder()
            .failed_record_count(0)
            .set_records(Some((0..input.records().len()).map(ok).collect()))
            .build()
            .unwrap()
    });
    let client = mock_client!(aws_sdk_kinesis, RuleMode::MatchAny, [&fail, &ok]);
    let capture = KinesisCapture::new(client, "capture").with_retry(3, Duration::from_millis(1));
    let (socket, _guard) = daemon(false);
    let invoke =
        tracing::info_span!("Lambda runtime invoke", requestId = "r-1", xrayTraceId = %header("1"));
    capture
        .put_all(vec![record(0)])
        .instrument(invoke)
        .await
        .unwrap();
    let docs = received(&socket);
    assert_eq!(docs.len(), 2, "{docs:#?}");
    assert_eq!(docs[0]["http"]["response"]["status"], 400);
    assert_eq!(docs[0]["error"], true);
    assert!(
        docs[0].get("fault").is_none(),
        "a 4xx is the caller's error"
    );
    assert!(
        docs[0]["cause"]["exceptions"][0]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert!(docs[1].get("error").is_none() && docs[1].get("cause").is_none());
}
