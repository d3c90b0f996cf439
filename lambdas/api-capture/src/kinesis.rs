//! `KinesisCapture`: capture records → Kinesis PutRecords, in batches within the service's
//! limits, retrying only the entries that failed.

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use inventory::capture::CaptureRecord;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tracing::Instrument;

/// PutRecords limits: records per call, bytes per call (data + partition keys), bytes per record.
pub const MAX_BATCH_RECORDS: usize = 500;
pub const MAX_BATCH_BYTES: usize = 5 * 1024 * 1024;
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// What a [`KinesisCapture::put_all`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PutReport {
    /// Records handed in.
    pub records: usize,
    /// Records Kinesis accepted.
    pub delivered: usize,
    /// Records given up on (after the last attempt, or too large to send at all).
    pub lost: usize,
    /// PutRecords calls made (first attempts and retries).
    pub calls: usize,
    /// Batches (first attempts).
    pub batches: usize,
    /// Entries sent again after a partial failure or a failed call.
    pub retried: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error(
        "{} of {} capture record(s) lost after retries ({} delivered)",
        .0.lost, .0.records, .0.delivered
    )]
    Lost(PutReport),
}

/// A record ready for PutRecords.
#[derive(Debug, Clone)]
pub struct Entry {
    pub data: Vec<u8>,
    pub partition_key: String,
}

impl Entry {
    pub fn of(record: &CaptureRecord) -> Result<Entry, serde_json::Error> {
        Ok(Entry {
            data: record.to_ndjson()?,
            partition_key: record.partition_key(),
        })
    }
    /// What the entry counts against the PutRecords size limits.
    pub fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

/// Splits entries into PutRecords batches: at most [`MAX_BATCH_RECORDS`] records and
/// [`MAX_BATCH_BYTES`] bytes each, in order. Entries over [`MAX_RECORD_BYTES`] must be removed
/// before.
pub fn plan_batches(entries: Vec<Entry>) -> Vec<Vec<Entry>> {
    let mut batches = Vec::new();
    let mut current: Vec<Entry> = Vec::new();
    let mut bytes = 0usize;
    for e in entries {
        let size = e.size();
        if !current.is_empty()
            && (current.len() >= MAX_BATCH_RECORDS || bytes + size > MAX_BATCH_BYTES)
        {
            batches.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(e);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// Puts capture records on a Kinesis data stream (the `api-capture` function's adapter).
pub struct KinesisCapture {
    client: aws_sdk_kinesis::Client,
    stream: String,
    max_attempts: u32,
    base_backoff: Duration,
    max_backoff: Duration,
    failures: AtomicU64,
}

impl KinesisCapture {
    pub fn new(client: aws_sdk_kinesis::Client, stream: impl Into<String>) -> Self {
        KinesisCapture {
            client,
            stream: stream.into(),
            max_attempts: 5,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            failures: AtomicU64::new(0),
        }
    }

    pub fn from_sdk(sdk: &aws_config::SdkConfig, stream: impl Into<String>) -> Self {
        Self::new(aws_sdk_kinesis::Client::new(sdk), stream)
    }

    /// Attempts per batch (first try included) and the first retry delay (doubled each retry,
    /// capped at 2 s, with jitter).
    pub fn with_retry(mut self, max_attempts: u32, base_backoff: Duration) -> Self {
        self.max_attempts = max_attempts.max(1);
        self.base_backoff = base_backoff;
        self
    }

    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Records lost since start (the `CaptureFailures` metric).
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base_backoff
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
            .min(self.max_backoff);
        // Equal jitter: half fixed, half random, so concurrent callers spread out.
        let half = exp / 2;
        let jitter_ms = half.as_millis() as u64;
        let extra = if jitter_ms == 0 {
            0
        } else {
            rand::random_range(0..=jitter_ms)
        };
        half + Duration::from_millis(extra)
    }

    /// Sends every record: batches of ≤ 500 records / ≤ 5 MiB, partition key = a hash of the
    /// request id. Entries that fail (the response's per-entry `ErrorCode`, or the whole call)
    /// are retried — only those — with exponential backoff, up to the attempt limit. Lost
    /// records are logged with `ALARM`, counted and reported as an error. Delivery is
    /// at-least-once: a record can be stored twice (a retried call that had in fact
    /// succeeded); `request_id` identifies duplicates.
    pub async fn put_all(&self, records: Vec<CaptureRecord>) -> Result<PutReport, CaptureError> {
        let mut report = PutReport {
            records: records.len(),
            ..PutReport::default()
        };
        let mut entries = Vec::with_capacity(records.len());
        for record in records {
            match Entry::of(&record.minimised()) {
                Ok(e) if e.size() <= MAX_RECORD_BYTES => entries.push(e),
                Ok(e) => {
                    report.lost += 1;
                    tracing::error!(
                        bytes = e.size(),
                        "ALARM capture record over the Kinesis 1 MiB limit dropped"
                    );
                }
                Err(e) => {
                    report.lost += 1;
                    tracing::error!(error = %e, "ALARM capture record could not be serialised");
                }
            }
        }
        for batch in plan_batches(entries) {
            report.batches += 1;
            self.put_batch(batch, &mut report).await;
        }
        inventory::metrics::capture_records(report.delivered as u64);
        inventory::metrics::capture_failures(report.lost as u64);
        if report.lost > 0 {
            let total = self
                .failures
                .fetch_add(report.lost as u64, Ordering::Relaxed)
                + report.lost as u64;
            tracing::error!(
                stream = %self.stream,
                lost = report.lost,
                delivered = report.delivered,
                capture_failures = total,
                "ALARM {} capture record(s) lost after {} attempt(s)",
                report.lost,
                self.max_attempts
            );
            return Err(CaptureError::Lost(report));
        }
        Ok(report)
    }

    async fn put_batch(&self, batch: Vec<Entry>, report: &mut PutReport) {
        let mut pending = batch;
        for attempt in 0..self.max_attempts {
            if attempt > 0 {
                report.retried += pending.len();
                tokio::time::sleep(self.backoff(attempt)).await;
            }
            let mut request = Vec::with_capacity(pending.len());
            for e in &pending {
                match PutRecordsRequestEntry::builder()
                    .data(Blob::new(e.data.clone()))
                    .partition_key(e.partition_key.clone())
                    .build()
                {
                    Ok(r) => request.push(r),
                    Err(err) => {
                        // Cannot happen (both fields set); never silently.
                        tracing::error!(error = %err, "ALARM PutRecords entry could not be built");
                    }
                }
            }
            if request.len() != pending.len() {
                break;
            }
            report.calls += 1;
            let span = inventory::telemetry::kinesis_span(&self.stream, request.len());
            let sent = self
                .client
                .put_records()
                .stream_name(&self.stream)
                .set_records(Some(request))
                .send()
                .instrument(span.clone())
                .await;
            match sent {
                Ok(out) => {
                    use aws_sdk_kinesis::operation::RequestId;
                    if let Some(id) = out.request_id() {
                        span.record("aws.request_id", id);
                    }
                    let results = out.records();
                    let failed = out.failed_record_count().unwrap_or(0);
                    if let Some(code) = results.iter().find_map(|r| r.error_code()) {
                        // Entries rejected (throttled, mostly): the first one's code.
                        span.record("failed", failed);
                        inventory::telemetry::record_error(&span, code);
                    }
                    if failed == 0 && results.iter().all(|r| r.error_code().is_none()) {
                        report.delivered += pending.len();
                        return;
                    }
                    if results.len() != pending.len() {
                        // A response that does not line up with the request: retry it all.
                        tracing::warn!(
                            sent = pending.len(),
                            answered = results.len(),
                            "PutRecords response does not match the request; retrying the batch"
                        );
                        continue;
                    }
                    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
                    let mut still = Vec::with_capacity(failed.max(0) as usize);
                    for (entry, result) in pending.into_iter().zip(results) {
                        match result.error_code() {
                            Some(code) => {
                                *codes.entry(code.to_owned()).or_default() += 1;
                                still.push(entry);
                            }
                            None => report.delivered += 1,
                        }
                    }
                    tracing::warn!(
                        stream = %self.stream,
                        failed = still.len(),
                        attempt = attempt + 1,
                        error_codes = ?codes,
                        "PutRecords partially failed; retrying the failed entries"
                    );
                    pending = still;
                    if pending.is_empty() {
                        return;
                    }
                }
                Err(e) => {
                    inventory::telemetry::record_sdk_error(&span, &e);
                    tracing::warn!(
                        stream = %self.stream,
                        entries = pending.len(),
                        attempt = attempt + 1,
                        error = %aws_sdk_kinesis::error::DisplayErrorContext(&e),
                        "PutRecords call failed; retrying the batch"
                    );
                }
            }
        }
        report.lost += pending.len();
    }
}

#[cfg(test)]
pub(crate) mod tests;
