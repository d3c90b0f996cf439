//! Local stand-in for Kinesis → Firehose → S3: capture records are buffered and written as
//! gzip NDJSON objects under `<data-dir>/bucket/rawdata/year=YYYY/month=MM/day=DD/hour=HH/`
//! (the partition of the buffer's oldest record, UTC, like Firehose), flushed by size or age
//! (like Firehose buffering hints) and on shutdown.
//!
//! Shutdown: on the signal the writer keeps taking records — requests still in flight submit
//! theirs while the server drains — until the channel closes (every sink dropped) or none has
//! arrived for [`LINGER_QUIET`] (at most [`LINGER_MAX`]), then writes the last object and stops.
//! A record submitted after that is counted as a failure, never dropped silently.

use chrono::{Datelike, Timelike, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use inventory::capture::{CaptureRecord, CaptureSink};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Capacity of the hand-over channel; when full, records are dropped and counted (a request
/// never waits for capture).
const CHANNEL_CAPACITY: usize = 100_000;
/// After the shutdown signal, stop once no record arrived for this long…
pub const LINGER_QUIET: Duration = Duration::from_millis(500);
/// …or after this long in any case (below `Stack::stop`'s 10 s wait for the writer).
pub const LINGER_MAX: Duration = Duration::from_secs(8);

pub struct LocalFirehose {
    tx: mpsc::Sender<CaptureRecord>,
    /// Records lost (channel full or closed, serialisation or write failure).
    pub failures: Arc<AtomicU64>,
    /// Records written to the bucket.
    pub delivered: Arc<AtomicU64>,
}

impl CaptureSink for LocalFirehose {
    fn submit(&self, record: CaptureRecord) {
        if self.tx.try_send(record.minimised()).is_err() {
            let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
            inventory::metrics::capture_failures(1);
            tracing::error!(
                capture_failures = n,
                "ALARM capture record dropped (buffer full or closed)"
            );
        }
    }
    fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Clone)]
pub struct Buffering {
    pub max_bytes: usize,
    pub max_age: Duration,
}

/// Key of an object: the partition of its first record's arrival hour.
pub fn object_key(now: chrono::DateTime<Utc>) -> String {
    format!(
        "rawdata/year={:04}/month={:02}/day={:02}/hour={:02}/donut-capture-{}-{}.gz",
        now.year(),
        now.month(),
        now.day(),
        now.hour(),
        now.format("%Y-%m-%d-%H-%M-%S"),
        uuid::Uuid::new_v4().simple()
    )
}

fn write_object(bucket: &Path, key: &str, ndjson: &[u8]) -> std::io::Result<()> {
    let path = bucket.join(key);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("gz.part");
    let file = std::fs::File::create(&tmp)?;
    let mut gz = GzEncoder::new(file, Compression::default());
    gz.write_all(ndjson)?;
    gz.finish()?.sync_all()?;
    // Atomic publish: readers never see a half-written object.
    std::fs::rename(&tmp, &path)
}

/// Records waiting for the next object.
#[derive(Default)]
struct Buffer {
    ndjson: Vec<u8>,
    count: u64,
    /// When the oldest record arrived (monotonic, and wall clock for the key).
    first_at: Option<(Instant, chrono::DateTime<Utc>)>,
}

impl Buffer {
    fn push(&mut self, record: &CaptureRecord, failures: &AtomicU64) {
        match record.to_ndjson() {
            Ok(line) => {
                if self.first_at.is_none() {
                    self.first_at = Some((Instant::now(), Utc::now()));
                }
                self.ndjson.extend_from_slice(&line);
                self.count += 1;
            }
            Err(e) => {
                failures.fetch_add(1, Ordering::Relaxed);
                inventory::metrics::capture_failures(1);
                tracing::error!(error = %e, "ALARM capture record could not be serialised");
            }
        }
    }
    fn due(&self, buffering: &Buffering) -> bool {
        self.ndjson.len() >= buffering.max_bytes
            || self
                .first_at
                .is_some_and(|(t, _)| t.elapsed() >= buffering.max_age)
    }
}

struct Writer {
    bucket: PathBuf,
    failures: Arc<AtomicU64>,
    delivered: Arc<AtomicU64>,
}

impl Writer {
    async fn flush(&self, buf: &mut Buffer) {
        let Some((_, at)) = buf.first_at.take() else {
            return;
        };
        let key = object_key(at);
        let data = std::mem::take(&mut buf.ndjson);
        let n = std::mem::take(&mut buf.count);
        let bucket = self.bucket.clone();
        let written = key.clone();
        let res = tokio::task::spawn_blocking(move || write_object(&bucket, &written, &data)).await;
        match res {
            Ok(Ok(())) => {
                self.delivered.fetch_add(n, Ordering::Relaxed);
                inventory::metrics::capture_records(n);
                tracing::debug!(key, records = n, "capture object written");
            }
            Ok(Err(e)) => {
                self.failures.fetch_add(n, Ordering::Relaxed);
                inventory::metrics::capture_failures(n);
                tracing::error!(error = %e, key, records = n, "ALARM capture delivery to the local bucket failed");
            }
            Err(e) => {
                self.failures.fetch_add(n, Ordering::Relaxed);
                inventory::metrics::capture_failures(n);
                tracing::error!(error = %e, records = n, "ALARM capture writer crashed");
            }
        }
    }
}

enum Event {
    Record(Box<CaptureRecord>),
    Closed,
    Tick,
    Shutdown,
}

/// Starts the buffer-and-flush task. The returned handle completes after the final flush, once
/// the shutdown signal was given and the channel is closed or quiet (see the module docs).
pub fn start(
    bucket: PathBuf,
    buffering: Buffering,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> (Arc<LocalFirehose>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<CaptureRecord>(CHANNEL_CAPACITY);
    let failures = Arc::new(AtomicU64::new(0));
    let delivered = Arc::new(AtomicU64::new(0));
    let sink = Arc::new(LocalFirehose {
        tx,
        failures: failures.clone(),
        delivered: delivered.clone(),
    });
    let writer = Writer {
        bucket,
        failures: failures.clone(),
        delivered,
    };
    let handle = tokio::spawn(async move {
        let mut buf = Buffer::default();
        // (since, last record) once shutting down.
        let mut draining: Option<(Instant, Instant)> = if *shutdown.borrow() {
            Some((Instant::now(), Instant::now()))
        } else {
            None
        };
        loop {
            let age_wait = buf
                .first_at
                .map(|(t, _)| buffering.max_age.saturating_sub(t.elapsed()));
            let linger_wait = draining.map(|(since, last)| {
                LINGER_QUIET
                    .saturating_sub(last.elapsed())
                    .min(LINGER_MAX.saturating_sub(since.elapsed()))
            });
            let wait = [age_wait, linger_wait]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(Duration::from_secs(3600));
            let event = tokio::select! {
                r = tokio::time::timeout(wait, rx.recv()) => match r {
                    Ok(Some(rec)) => Event::Record(Box::new(rec)),
                    Ok(None) => Event::Closed,
                    Err(_) => Event::Tick,
                },
                // Also when the sender is gone (the stack dropped without `stop`).
                _ = shutdown.changed(), if draining.is_none() => Event::Shutdown,
            };
            match event {
                Event::Record(rec) => {
                    buf.push(&rec, &failures);
                    if let Some((_, last)) = &mut draining {
                        *last = Instant::now();
                    }
                }
                Event::Closed => {
                    writer.flush(&mut buf).await;
                    return;
                }
                Event::Tick => {}
                Event::Shutdown => {
                    let now = Instant::now();
                    draining = Some((now, now));
                }
            }
            if buf.due(&buffering) {
                writer.flush(&mut buf).await;
            }
            if let Some((since, last)) = draining
                && (last.elapsed() >= LINGER_QUIET || since.elapsed() >= LINGER_MAX)
            {
                // From now on a submit fails (and is counted); take what is queued.
                rx.close();
                while let Ok(rec) = rx.try_recv() {
                    buf.push(&rec, &failures);
                }
                writer.flush(&mut buf).await;
                return;
            }
        }
    });
    (sink, handle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::io::Read;

    fn record(i: usize) -> CaptureRecord {
        CaptureRecord {
            schema_version: inventory::capture::SCHEMA_VERSION,
            kind: "api_request".into(),
            request_id: format!("req-{i}"),
            correlation_id: "c".into(),
            timestamp: "2026-11-21T00:00:00.000Z".into(),
            method: "GET".into(),
            route: "/health".into(),
            path_params: BTreeMap::new(),
            status: 200,
            latency_ms: 0.1,
            sku: None,
            quantity: None,
            error: None,
            user_agent: None,
            event_type: None,
            properties: None,
            service: "devstack".into(),
        }
    }

    fn objects(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
        out.sort();
        out
    }

    fn lines(path: &Path) -> usize {
        let mut s = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        s.lines().count()
    }

    #[tokio::test]
    async fn flushes_by_age_by_size_and_on_shutdown() {
        let dir = tempfile_dir();
        let (tx, rx) = tokio::sync::watch::channel(false);
        let (sink, task) = start(
            dir.clone(),
            Buffering {
                max_bytes: 10 * 1024,
                max_age: Duration::from_millis(100),
            },
            rx,
        );
        // By age: one record, visible shortly after max_age.
        sink.submit(record(0));
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(objects(&dir).len(), 1);
        // By size: ~200 bytes a record, 10 KiB → flushed while records keep coming.
        for i in 1..=200 {
            sink.submit(record(i));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(objects(&dir).len() >= 2, "size flush");
        // Shutdown: records submitted during the linger are still written.
        tx.send(true).unwrap();
        sink.submit(record(201));
        tokio::time::sleep(Duration::from_millis(100)).await;
        sink.submit(record(202));
        task.await.unwrap();
        let files = objects(&dir);
        assert!(
            files
                .iter()
                .all(|p| p.extension().is_some_and(|e| e == "gz"))
        );
        let total: usize = files.iter().map(|p| lines(p)).sum();
        assert_eq!(total, 203);
        assert_eq!(sink.delivered.load(Ordering::Relaxed), 203);
        assert_eq!(sink.failures.load(Ordering::Relaxed), 0);
        // After the writer stopped, a record is counted as lost, not silently dropped.
        sink.submit(record(203));
        assert_eq!(sink.failures.load(Ordering::Relaxed), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("firehose-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
