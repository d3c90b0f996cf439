//! Local-only event plumbing: an SNS-like topic fanning out (raw delivery) into an SQS-like
//! queue with the semantics the pipeline relies on — batches of up to 10, visibility timeout,
//! receive count, maxReceiveCount → DLQ, partial batch failures — and a poller that invokes the
//! real `factory-orderer` handler with `aws_lambda_events` SQS events built as Lambda builds
//! them. Deliberately small: on AWS, SNS/SQS/Lambda do all of this.

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use factory_orderer::orderer::{Orderer, handle_batch};
use inventory::domain::StockOutEvent;
use inventory::messaging::{PublishError, Publisher, attributes};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

#[derive(Debug, Clone)]
pub struct QueuedMessage {
    pub message_id: String,
    pub body: String,
    pub attributes: HashMap<String, String>,
    pub receive_count: u32,
    pub sent_at_ms: u64,
    visible_at: Instant,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct MessageView {
    pub message_id: String,
    pub body: String,
    pub attributes: HashMap<String, String>,
    pub receive_count: u32,
    pub sent_at_ms: u64,
}

pub struct LocalQueue {
    pub name: String,
    messages: Mutex<Vec<QueuedMessage>>,
    notify: Notify,
    pub visibility_timeout: Duration,
    pub max_receive_count: u32,
    pub dlq: Option<Arc<LocalQueue>>,
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

impl LocalQueue {
    pub fn new(
        name: &str,
        visibility_timeout: Duration,
        max_receive_count: u32,
        dlq: Option<Arc<LocalQueue>>,
    ) -> Arc<Self> {
        Arc::new(LocalQueue {
            name: name.to_owned(),
            messages: Mutex::new(Vec::new()),
            notify: Notify::new(),
            visibility_timeout,
            max_receive_count,
            dlq,
        })
    }

    pub fn send(&self, body: String, attributes: HashMap<String, String>) -> String {
        let message_id = uuid::Uuid::new_v4().to_string();
        self.push(QueuedMessage {
            message_id: message_id.clone(),
            body,
            attributes,
            receive_count: 0,
            sent_at_ms: epoch_ms(),
            visible_at: Instant::now(),
        });
        message_id
    }

    fn push(&self, m: QueuedMessage) {
        if let Ok(mut q) = self.messages.lock() {
            q.push(m);
        }
        self.notify.notify_one();
    }

    /// Receives up to `max` visible messages, making them invisible for the visibility timeout.
    /// A message already received `max_receive_count` times moves to the DLQ instead.
    pub fn receive(&self, max: usize) -> Vec<QueuedMessage> {
        let now = Instant::now();
        let mut out = Vec::new();
        let mut to_dlq = Vec::new();
        if let Ok(mut q) = self.messages.lock() {
            let mut i = 0;
            while i < q.len() && out.len() < max {
                if q[i].visible_at > now {
                    i += 1;
                    continue;
                }
                if self.dlq.is_some() && q[i].receive_count >= self.max_receive_count {
                    to_dlq.push(q.remove(i));
                    continue;
                }
                q[i].receive_count += 1;
                q[i].visible_at = now + self.visibility_timeout;
                out.push(q[i].clone());
                i += 1;
            }
        }
        if let Some(dlq) = &self.dlq {
            for mut m in to_dlq {
                tracing::error!(queue = %self.name, dlq = %dlq.name, message_id = %m.message_id,
                    receive_count = m.receive_count,
                    event_id = m.attributes.get("event_id").map(String::as_str).unwrap_or("-"),
                    correlation_id = m.attributes.get("correlation_id").map(String::as_str).unwrap_or("-"),
                    "message exceeded maxReceiveCount: moved to the DLQ");
                m.visible_at = now;
                dlq.push(m);
            }
        }
        out
    }

    pub fn delete(&self, message_id: &str) {
        if let Ok(mut q) = self.messages.lock() {
            q.retain(|m| m.message_id != message_id);
        }
    }

    /// Time until the next message becomes visible (None when empty).
    fn next_visible_in(&self) -> Option<Duration> {
        let now = Instant::now();
        self.messages.lock().ok().and_then(|q| {
            q.iter()
                .map(|m| m.visible_at.saturating_duration_since(now))
                .min()
        })
    }

    pub fn depth(&self) -> usize {
        self.messages.lock().map(|q| q.len()).unwrap_or_default()
    }

    /// Age of the oldest message (SQS `ApproximateAgeOfOldestMessage`); zero when empty.
    pub fn oldest_age(&self) -> Duration {
        let now = epoch_ms();
        let oldest = self
            .messages
            .lock()
            .ok()
            .and_then(|q| q.iter().map(|m| m.sent_at_ms).min());
        oldest
            .map(|t| Duration::from_millis(now.saturating_sub(t)))
            .unwrap_or_default()
    }

    pub fn peek_all(&self) -> Vec<MessageView> {
        self.messages
            .lock()
            .map(|q| {
                q.iter()
                    .map(|m| MessageView {
                        message_id: m.message_id.clone(),
                        body: m.body.clone(),
                        attributes: m.attributes.clone(),
                        receive_count: m.receive_count,
                        sent_at_ms: m.sent_at_ms,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Moves every message of this queue (a DLQ) back to `target`, receive count reset and
    /// sent again now — what SQS `StartMessageMoveTask` does. Returns how many moved.
    pub fn redrive_to(&self, target: &LocalQueue) -> usize {
        let moved: Vec<QueuedMessage> = self
            .messages
            .lock()
            .map(|mut q| q.drain(..).collect())
            .unwrap_or_default();
        let n = moved.len();
        for mut m in moved {
            tracing::warn!(queue = %self.name, target = %target.name, message_id = %m.message_id,
                event_id = m.attributes.get("event_id").map(String::as_str).unwrap_or("-"),
                correlation_id = m.attributes.get("correlation_id").map(String::as_str).unwrap_or("-"),
                "message redriven from the DLQ");
            m.receive_count = 0;
            m.sent_at_ms = epoch_ms();
            m.visible_at = Instant::now();
            target.push(m);
        }
        n
    }

    /// Waits until a message may be visible (or `max_wait` passes): long polling.
    async fn wait(&self, max_wait: Duration) {
        let wait = self.next_visible_in().unwrap_or(max_wait).min(max_wait);
        if wait.is_zero() {
            return;
        }
        let _ = tokio::time::timeout(wait, self.notify.notified()).await;
    }
}

/// SNS-like topic with raw message delivery to its subscribed queues.
pub struct LocalTopic {
    pub subscribers: Vec<Arc<LocalQueue>>,
    /// Simulated outage of the topic (tests of the outbox relay).
    pub down: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl Publisher for LocalTopic {
    async fn publish(&self, event: &StockOutEvent) -> Result<(), PublishError> {
        if self.down.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(PublishError("local topic is down (simulated)".into()));
        }
        let body = serde_json::to_string(event).map_err(|e| PublishError(e.to_string()))?;
        let attrs: HashMap<String, String> = attributes(event)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        for q in &self.subscribers {
            q.send(body.clone(), attrs.clone());
        }
        Ok(())
    }
}

/// Builds the SQS event Lambda would deliver for these messages.
pub fn sqs_event(queue: &LocalQueue, messages: &[QueuedMessage]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|m| {
            let mut msg = SqsMessage::default();
            msg.message_id = Some(m.message_id.clone());
            msg.receipt_handle = Some(format!("local-{}-{}", m.message_id, m.receive_count));
            msg.body = Some(m.body.clone());
            msg.attributes = HashMap::from([
                (
                    "ApproximateReceiveCount".to_owned(),
                    m.receive_count.to_string(),
                ),
                ("SentTimestamp".to_owned(), m.sent_at_ms.to_string()),
                (
                    "ApproximateFirstReceiveTimestamp".to_owned(),
                    epoch_ms().to_string(),
                ),
            ]);
            msg.message_attributes = m
                .attributes
                .iter()
                .map(|(k, v)| {
                    let mut a = SqsMessageAttribute::default();
                    a.data_type = Some("String".into());
                    a.string_value = Some(v.clone());
                    (k.clone(), a)
                })
                .collect();
            msg.event_source = Some("aws:sqs".into());
            msg.event_source_arn = Some(format!("arn:aws:sqs:local:000000000000:{}", queue.name));
            msg.aws_region = Some("local".into());
            msg
        })
        .collect();
    event
}

/// The event source mapping: polls the queue, invokes the handler with batches of up to 10,
/// deletes what succeeded and leaves failures to reappear after the visibility timeout.
pub async fn run_poller(
    queue: Arc<LocalQueue>,
    orderer: Arc<Orderer>,
    batch_size: usize,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let batch = queue.receive(batch_size);
        if batch.is_empty() {
            tokio::select! {
                _ = queue.wait(Duration::from_millis(500)) => continue,
                _ = shutdown.changed() => return,
            }
        }
        let event = sqs_event(&queue, &batch);
        let response = handle_batch(&orderer, event).await;
        let failed: HashSet<String> = response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect();
        for m in &batch {
            if !failed.contains(&m.message_id) {
                queue.delete(&m.message_id);
            }
        }
    }
}
