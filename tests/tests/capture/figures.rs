//! Figures for the benchmark suite: capture records/s through the local pipeline, records lost.

use crate::bucket::{gunzip, read_bucket};
use crate::sample_record;
use futures::StreamExt;
use inventory::capture::CaptureSink;
use pipeline_tests::faults::files_under;
use pipeline_tests::{Db, TestApp};
use std::time::{Duration, Instant};

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
