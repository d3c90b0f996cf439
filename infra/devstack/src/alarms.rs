//! The local alarms: the conditions the stack's CloudWatch alarms watch on AWS, evaluated every
//! second against the local queues, the database and the capture sink (`/ops/alarms`).

use crate::Shared;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// A local alarm, evaluated every second like a CloudWatch alarm. `aws_alarm` is the logical id
/// of the alarm in `template.yaml` that watches the same condition on AWS.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct Alarm {
    pub name: &'static str,
    pub aws_alarm: &'static str,
    pub state: &'static str,
    pub reason: String,
}

/// The local alarms: (local name, template.yaml alarm, what it watches).
pub const ALARMS: &[(&str, &str, &str)] = &[
    (
        "FactoryOrdersDLQNotEmpty",
        "FactoryOrdersDlqAlarm",
        "messages in the factory-orders DLQ",
    ),
    (
        "FactoryOrdersQueueAge",
        "FactoryOrdersAgeAlarm",
        "age of the oldest message in the factory-orders queue",
    ),
    (
        "FactoryOrderFailed",
        "OrdersFailedAlarm",
        "factory orders failed and not superseded by a newer order for the SKU",
    ),
    (
        "CaptureFailures",
        "CaptureFailuresAlarm",
        "capture records lost within the alarm period",
    ),
];

/// Settings of the local alarms.
#[derive(Debug, Clone)]
pub struct AlarmSettings {
    pub period: Duration,
    pub queue_age: Duration,
}

/// What the count-based alarms remember between evaluations.
#[derive(Debug, Default)]
pub struct AlarmMemory {
    capture_seen: u64,
    capture_last_loss: Option<std::time::Instant>,
}

pub(crate) async fn evaluate_alarms(shared: &Shared) -> Vec<Alarm> {
    let settings = &shared.alarm_settings;
    let depth = shared.dlq.depth();
    let age = shared.queue.oldest_age();
    let failed = ops_core::failed_orders_needing_action(&*shared.store).await;
    let capture = (shared.capture_failures)();
    let recent_loss = {
        let mut memory = shared
            .alarm_memory
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // (The CaptureFailures metric is counted where records are lost, in `firehose`.)
        if capture > memory.capture_seen {
            memory.capture_seen = capture;
            memory.capture_last_loss = Some(std::time::Instant::now());
        }
        memory
            .capture_last_loss
            .is_some_and(|t| t.elapsed() < settings.period)
    };
    let alarm = |name: &'static str, bad: bool, reason: String| Alarm {
        name,
        aws_alarm: ALARMS
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, aws, _)| *aws)
            .unwrap_or(""),
        state: if bad { "ALARM" } else { "OK" },
        reason,
    };
    vec![
        alarm(
            "FactoryOrdersDLQNotEmpty",
            depth > 0,
            format!("{depth} message(s) in {}", shared.dlq.name),
        ),
        alarm(
            "FactoryOrdersQueueAge",
            depth_age_breached(age, settings.queue_age, shared.queue.depth()),
            format!(
                "oldest message in {} is {} s old (threshold {} s)",
                shared.queue.name,
                age.as_secs(),
                settings.queue_age.as_secs()
            ),
        ),
        match failed {
            Ok(orders) => alarm(
                "FactoryOrderFailed",
                !orders.is_empty(),
                if orders.is_empty() {
                    "no failed factory order awaiting action".to_owned()
                } else {
                    format!(
                        "{} factory order(s) failed: {}",
                        orders.len(),
                        orders
                            .iter()
                            .take(5)
                            .map(|o| format!("{} ({})", o.id, o.sku))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
            ),
            // INSUFFICIENT_DATA, as CloudWatch says when it cannot evaluate.
            Err(e) => Alarm {
                state: "INSUFFICIENT_DATA",
                ..alarm(
                    "FactoryOrderFailed",
                    false,
                    format!("cannot read the orders: {e}"),
                )
            },
        },
        alarm(
            "CaptureFailures",
            recent_loss,
            format!(
                "{capture} capture record(s) lost since start; ALARM while any was lost in the last {} s",
                settings.period.as_secs()
            ),
        ),
    ]
}

fn depth_age_breached(age: Duration, threshold: Duration, depth: usize) -> bool {
    depth > 0 && age > threshold
}

pub(crate) async fn run_alarms(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let now = evaluate_alarms(&shared).await;
        let before = shared
            .alarms
            .lock()
            .map(|mut a| std::mem::replace(&mut *a, now.clone()))
            .unwrap_or_default();
        for a in &now {
            let was = before.iter().find(|b| b.name == a.name).map(|b| b.state);
            if was != Some(a.state) && !(was.is_none() && a.state == "OK") {
                if a.state == "ALARM" {
                    tracing::error!(alarm = a.name, aws_alarm = a.aws_alarm, state = a.state, previous = was.unwrap_or("-"), reason = %a.reason, "ALARM {}: {}", a.name, a.reason);
                } else {
                    tracing::info!(alarm = a.name, aws_alarm = a.aws_alarm, state = a.state, previous = was.unwrap_or("-"), reason = %a.reason, "{} {}: {}", a.state, a.name, a.reason);
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
    }
}
