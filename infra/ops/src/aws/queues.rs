//! The factory-orders DLQ on SQS: looking at it without taking anything, and redriving it with
//! a message move task.

use super::progress::Progress;
use super::sqs_error;
use crate::failure::Failure;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use inventory::store::DynStore;
use ops_core::Delivery;
use serde_json::{Value, json};
use std::time::Duration;
/// Receives up to `max` messages of a queue without taking them: `VisibilityTimeout=0`
/// leaves every message visible. Repeated until no new message shows up.
pub(crate) async fn peek(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    max: usize,
) -> Result<Vec<aws_sdk_sqs::types::Message>, Failure> {
    let mut seen = std::collections::HashSet::new();
    let mut messages = Vec::new();
    let mut fruitless = 0;
    while messages.len() < max && fruitless < 3 {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| sqs_error("sqs:ReceiveMessage", e))?;
        let mut new = 0;
        for m in out.messages() {
            let id = m.message_id().unwrap_or_default().to_owned();
            if messages.len() < max && seen.insert(id) {
                new += 1;
                messages.push(m.clone());
            }
        }
        fruitless = if new == 0 { fruitless + 1 } else { 0 };
    }
    Ok(messages)
}
/// Looks at the DLQ without taking anything: `VisibilityTimeout=0` leaves every message
/// visible (each look increments its receive count; the DLQ has no redrive policy, so that
/// is harmless). Repeated until no new message shows up.
pub async fn dlq_list(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    max: usize,
    db: Option<&DynStore>,
) -> Result<Value, Failure> {
    let depth = queue_depth(sqs, url).await?;
    let mut messages = Vec::new();
    for m in peek(sqs, url, max).await? {
        let body = m.body().unwrap_or_default();
        let explained = match db {
            Some(store) => ops_core::explain_message(&**store, body).await,
            None => ops_core::explain_offline(body),
        };
        let sys = m.attributes();
        let get = |n: MessageSystemAttributeName| sys.and_then(|a| a.get(&n)).cloned();
        let delivery = Delivery {
            message_id: m.message_id().map(str::to_owned),
            receive_count: get(MessageSystemAttributeName::ApproximateReceiveCount)
                .and_then(|c| c.parse::<u64>().ok()),
            attributes: m
                .message_attributes()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), json!(v.string_value()?))))
                .collect(),
            sent_at: get(MessageSystemAttributeName::SentTimestamp)
                .and_then(|t| t.parse::<i64>().ok())
                .map(inventory::domain::rfc3339),
        };
        messages.push(delivery.annotate(explained));
    }
    Ok(json!({"queue": url, "depth": depth, "messages": messages}))
}
pub(crate) async fn queue_attribute(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    name: QueueAttributeName,
) -> Result<Option<String>, Failure> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await
        .map_err(|e| sqs_error("sqs:GetQueueAttributes", e))?;
    Ok(out.attributes().and_then(|a| a.get(&name)).cloned())
}
pub(crate) async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<u64, Failure> {
    Ok(
        queue_attribute(sqs, url, QueueAttributeName::ApproximateNumberOfMessages)
            .await?
            .and_then(|d| d.parse().ok())
            .unwrap_or(0),
    )
}
/// `StartMessageMoveTask` from the DLQ (to `--queue-arn`, or back to the source queue).
pub async fn redrive(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    destination: Option<&str>,
    wait: bool,
) -> Result<Value, Failure> {
    let arn = queue_attribute(sqs, url, QueueAttributeName::QueueArn)
        .await?
        .ok_or_else(|| Failure::Failed(format!("{url} has no QueueArn")))?;
    let depth = queue_depth(sqs, url).await?;
    let mut req = sqs.start_message_move_task().source_arn(&arn);
    if let Some(d) = destination {
        req = req.destination_arn(d);
    }
    let out = req
        .send()
        .await
        .map_err(|e| sqs_error("sqs:StartMessageMoveTask", e))?;
    let handle = out.task_handle().unwrap_or_default().to_owned();
    let mut result = json!({
        "source_arn": arn,
        "destination_arn": destination,
        "task_handle": handle,
        "messages_to_move": depth,
        "status": "RUNNING",
    });
    if wait {
        let mut progress =
            Progress::new(std::io::IsTerminal::is_terminal(&std::io::stderr()), depth);
        progress.start(&handle);
        for _ in 0..300 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let tasks = sqs
                .list_message_move_tasks()
                .source_arn(&arn)
                .max_results(10)
                .send()
                .await
                .map_err(|e| sqs_error("sqs:ListMessageMoveTasks", e))?;
            let Some(task) = tasks
                .results()
                .iter()
                .find(|t| t.task_handle() == Some(handle.as_str()) || handle.is_empty())
            else {
                continue;
            };
            let status = task.status().unwrap_or("UNKNOWN");
            result["status"] = json!(status);
            result["moved"] = json!(task.approximate_number_of_messages_moved());
            progress.update(
                status,
                task.approximate_number_of_messages_moved(),
                task.approximate_number_of_messages_to_move(),
            );
            if let Some(reason) = task.failure_reason() {
                result["failure_reason"] = json!(reason);
            }
            match status {
                "COMPLETED" => {
                    progress.finish();
                    break;
                }
                "FAILED" | "CANCELLED" => {
                    progress.finish();
                    return Err(Failure::Failed(format!(
                        "the move task {status}: {}",
                        task.failure_reason().unwrap_or("no reason given")
                    )));
                }
                _ => {}
            }
        }
    }
    Ok(result)
}
