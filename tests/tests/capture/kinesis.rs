//! The Kinesis adapter (`KinesisCapture`) against moto.

use crate::sample_record;
use api_capture::KinesisCapture;
use inventory::capture::CaptureRecord;
use std::collections::HashSet;
use std::time::Duration;

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
