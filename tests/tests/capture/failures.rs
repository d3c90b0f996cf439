//! Capture failures are counted and alarmed, never silent.

use crate::sample_record;
use inventory::capture::CaptureSink;
use pipeline_tests::{Db, TestApp};
use std::time::Duration;

/// Capture failures are never silent: a record submitted after the writer stopped is counted,
/// and an unwritable bucket raises the stack's `CaptureFailures` alarm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_failures_are_counted_and_alarmed() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let (sink, task) = devstack::firehose::start(
        dir.path().join("late-bucket"),
        devstack::firehose::Buffering {
            max_bytes: 1024 * 1024,
            max_age: Duration::from_millis(100),
        },
        rx,
    );
    tx.send(true).unwrap();
    task.await.unwrap();
    sink.submit(sample_record(0));
    assert_eq!(sink.failures(), 1);

    // `<data-dir>/bucket` is a file: no object can be written.
    std::fs::write(dir.path().join("bucket"), b"not a directory").unwrap();
    let stack = TestApp::spawn_in(Db::Sqlite, dir, |o| o.capture_buffer_ms = 100).await;
    let c = &stack.client;
    assert_eq!(
        c.get("/health").await.status,
        200,
        "capture never fails a request"
    );
    let alarm = pipeline_tests::eventually(Duration::from_secs(10), || async {
        let alarms = stack.stack.evaluate_alarms().await;
        alarms
            .into_iter()
            .find(|a| a.name == "CaptureFailures" && a.state == "ALARM")
    })
    .await
    .expect("CaptureFailures alarm");
    assert!(
        alarm.reason.contains("1 capture record"),
        "{}",
        alarm.reason
    );
    stack.stop().await;
}
