//! Local stand-in for Kinesis → Firehose → S3: capture records are buffered and written as
//! gzip NDJSON objects under `<data-dir>/bucket/rawdata/year=YYYY/month=MM/day=DD/hour=HH/`
//! (the partition of the buffer's oldest record, UTC, like Firehose), flushed by size or age
//! (like Firehose buffering hints) and on shutdown.
//!
//! Hand-over: `submit` serialises the record and appends the line to a shared buffer under a
//! mutex held for a memcpy; it wakes the writer task only when the buffer was empty (to arm the
//! age deadline) or has reached the size limit. Under load that is one wake-up per object, not
//! one per request, so capture costs the request path a JSON serialisation and nothing else.
//! A request never waits for the writer: past [`MAX_PENDING`] bytes records are dropped and
//! counted.
//!
//! Shutdown: on the signal the writer keeps taking records — requests still in flight submit
//! theirs while the server drains — until every sink is dropped or none has arrived for
//! [`LINGER_QUIET`] (at most [`LINGER_MAX`]), then writes the last object and stops. A record
//! submitted after that is counted as a failure, never dropped silently.

use chrono::{Datelike, Timelike, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use inventory::capture::{CaptureRecord, CaptureSink};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Bytes of NDJSON waiting for the writer beyond which records are dropped and counted (the
/// writer is stuck or far behind; a request never waits for capture).
pub const MAX_PENDING: usize = 64 * 1024 * 1024;
/// After the shutdown signal, stop once no record arrived for this long…
pub const LINGER_QUIET: Duration = Duration::from_millis(500);
/// …or after this long in any case (below `Stack::stop`'s 10 s wait for the writer).
pub const LINGER_MAX: Duration = Duration::from_secs(8);

pub struct LocalFirehose {
    inner: Arc<Inner>,
    /// Records lost (buffer full or writer stopped, serialisation or write failure).
    pub failures: Arc<AtomicU64>,
    /// Records written to the bucket.
    pub delivered: Arc<AtomicU64>,
}

struct Inner {
    state: Mutex<State>,
    wake: Notify,
    max_bytes: usize,
}

#[derive(Default)]
struct State {
    buf: Buffer,
    /// Set by the writer when it stops: later records are failures.
    closed: bool,
    /// When the last record arrived (the shutdown linger).
    last_submit: Option<Instant>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves a consistent buffer: keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl LocalFirehose {
    fn lost(&self, n: u64, why: &str) {
        let total = self.failures.fetch_add(n, Ordering::Relaxed) + n;
        inventory::metrics::capture_failures(n);
        tracing::error!(
            capture_failures = total,
            reason = why,
            "ALARM capture record dropped"
        );
    }
}

impl CaptureSink for LocalFirehose {
    fn submit(&self, record: CaptureRecord) {
        let line = match record.minimised().to_ndjson() {
            Ok(line) => line,
            Err(e) => return self.lost(1, &format!("could not be serialised: {e}")),
        };
        let mut st = self.inner.lock();
        if st.closed {
            drop(st);
            return self.lost(1, "writer stopped");
        }
        if st.buf.ndjson.len() >= MAX_PENDING {
            drop(st);
            return self.lost(1, "buffer full");
        }
        let now = Instant::now();
        let was_empty = st.buf.first_at.is_none();
        if was_empty {
            st.buf.first_at = Some((now, Utc::now()));
        }
        st.buf.ndjson.extend_from_slice(&line);
        st.buf.count += 1;
        st.last_submit = Some(now);
        let full = st.buf.ndjson.len() >= self.inner.max_bytes;
        drop(st);
        if was_empty || full {
            self.inner.wake.notify_one();
        }
    }
    fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}

impl Drop for LocalFirehose {
    fn drop(&mut self) {
        // The last sink is gone: the writer flushes what is left and stops.
        self.inner.wake.notify_one();
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
    // Fast compression: the writer shares the machine with the API it captures.
    let mut gz = GzEncoder::new(file, Compression::fast());
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

struct Writer {
    bucket: PathBuf,
    failures: Arc<AtomicU64>,
    delivered: Arc<AtomicU64>,
}

impl Writer {
    async fn flush(&self, buf: Buffer) {
        let Some((_, at)) = buf.first_at else {
            return;
        };
        let key = object_key(at);
        let (data, n) = (buf.ndjson, buf.count);
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

/// Starts the buffer-and-flush task. The returned handle completes after the final flush, once
/// the shutdown signal was given and every sink is dropped or records stopped coming (see the
/// module docs).
pub fn start(
    bucket: PathBuf,
    buffering: Buffering,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> (Arc<LocalFirehose>, tokio::task::JoinHandle<()>) {
    let failures = Arc::new(AtomicU64::new(0));
    let delivered = Arc::new(AtomicU64::new(0));
    let inner = Arc::new(Inner {
        state: Mutex::new(State::default()),
        wake: Notify::new(),
        max_bytes: buffering.max_bytes,
    });
    let sink = Arc::new(LocalFirehose {
        inner: inner.clone(),
        failures: failures.clone(),
        delivered: delivered.clone(),
    });
    let alive: Weak<LocalFirehose> = Arc::downgrade(&sink);
    let writer = Writer {
        bucket,
        failures,
        delivered,
    };
    let handle = tokio::spawn(async move {
        // When the shutdown signal came, if it did.
        let mut draining: Option<Instant> = shutdown.borrow().then(Instant::now);
        loop {
            let sinks_gone = alive.strong_count() == 0;
            let (due, wait, stop) = {
                let st = inner.lock();
                let age = st.buf.first_at.map(|(t, _)| t.elapsed());
                let due = st.buf.ndjson.len() >= buffering.max_bytes
                    || age.is_some_and(|a| a >= buffering.max_age);
                let age_wait = age.map(|a| buffering.max_age.saturating_sub(a));
                let linger_wait = draining.map(|since| {
                    let quiet = st.last_submit.map_or(since, |l| l.max(since));
                    LINGER_QUIET
                        .saturating_sub(quiet.elapsed())
                        .min(LINGER_MAX.saturating_sub(since.elapsed()))
                });
                let stop = sinks_gone || linger_wait.is_some_and(|w| w.is_zero());
                let wait = [age_wait, linger_wait]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap_or(Duration::from_secs(3600));
                (due, wait, stop)
            };
            if stop {
                // From now on a submit fails (and is counted); write what is buffered.
                let rest = {
                    let mut st = inner.lock();
                    st.closed = true;
                    std::mem::take(&mut st.buf)
                };
                writer.flush(rest).await;
                return;
            }
            if due {
                let buf = std::mem::take(&mut inner.lock().buf);
                writer.flush(buf).await;
                continue;
            }
            tokio::select! {
                _ = inner.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                // Also when the sender is gone (the stack dropped without `stop`).
                _ = shutdown.changed(), if draining.is_none() => {
                    draining = Some(Instant::now());
                }
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
            kind: inventory::capture::CaptureKind::ApiRequest,
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
