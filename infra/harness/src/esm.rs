//! An SQS event source mapping, played locally against moto: long-polls the queue, gathers up
//! to `BatchSize` messages for at most `MaximumBatchingWindowInSeconds`, invokes the function
//! with the `aws:sqs` event, and deletes what succeeded — with `ReportBatchItemFailures`, every
//! message but the reported ones; without it, all or (on a function error) none. Messages not
//! deleted come back after the queue's visibility timeout, and moto's redrive policy moves them
//! to the dead-letter queue after `maxReceiveCount` receives, as SQS does.

use crate::logs::LogHub;
use crate::runtime::{Answer, Function};
use crate::template::{Mapping, REGION};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

fn record(m: &Message, queue_arn: &str) -> Value {
    let mut attributes = Map::new();
    for (k, v) in m.attributes().into_iter().flatten() {
        attributes.insert(k.as_str().to_owned(), json!(v));
    }
    let mut message_attributes = Map::new();
    for (k, v) in m.message_attributes().into_iter().flatten() {
        let mut a = json!({
            "dataType": v.data_type(),
            "stringListValues": [],
            "binaryListValues": [],
        });
        if let Some(s) = v.string_value() {
            a["stringValue"] = json!(s);
        }
        message_attributes.insert(k.clone(), a);
    }
    json!({
        "messageId": m.message_id(),
        "receiptHandle": m.receipt_handle(),
        "body": m.body().unwrap_or_default(),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": m.md5_of_body(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    })
}

/// What to delete after an invocation: `None` = nothing (the whole batch failed).
pub fn successes(batch: &[Message], answer: &Answer, report_failures: bool) -> Option<Vec<usize>> {
    let Answer::Ok(_) = answer else { return None };
    let all: Vec<usize> = (0..batch.len()).collect();
    if !report_failures {
        return Some(all);
    }
    // ReportBatchItemFailures: an empty or null answer means all succeeded; a malformed
    // answer, or an identifier that is not in the batch, fails the whole batch.
    let body = answer.json().unwrap_or(Value::Null);
    let failures = match body.get("batchItemFailures") {
        None | Some(Value::Null) => return Some(all),
        Some(Value::Array(a)) => a,
        Some(_) => return None,
    };
    let ids: HashSet<&str> = batch.iter().filter_map(|m| m.message_id()).collect();
    let mut failed = HashSet::new();
    for f in failures {
        match f.get("itemIdentifier").and_then(Value::as_str) {
            Some(id) if ids.contains(id) => {
                failed.insert(id.to_owned());
            }
            _ => return None,
        }
    }
    Some(
        batch
            .iter()
            .enumerate()
            .filter(|(_, m)| !failed.contains(m.message_id().unwrap_or_default()))
            .map(|(i, _)| i)
            .collect(),
    )
}

pub async fn poll(
    m: Mapping,
    sqs: aws_sdk_sqs::Client,
    url: String,
    queue_arn: String,
    function: Arc<Function>,
    logs: Arc<LogHub>,
) {
    let batch_size = m.batch_size.max(1);
    loop {
        let mut batch: Vec<Message> = Vec::new();
        let window = tokio::time::Instant::now() + Duration::from_secs(m.window_s);
        loop {
            let want = (batch_size - batch.len()).min(10) as i32;
            let wait = if batch.is_empty() { 1 } else { 0 };
            let got = sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(want)
                .wait_time_seconds(wait)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await;
            match got {
                Ok(out) => batch.extend(out.messages.unwrap_or_default()),
                Err(e) => {
                    logs.harness(
                        &function.spec.name,
                        &format!(
                            "{}: receive failed: {}",
                            m.id,
                            aws_sdk_sqs::error::DisplayErrorContext(&e)
                        ),
                    );
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            if batch.len() >= batch_size
                || (!batch.is_empty() && tokio::time::Instant::now() >= window)
                || (!batch.is_empty() && m.window_s == 0)
            {
                break;
            }
            if batch.is_empty() {
                continue;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let event =
            json!({"Records": batch.iter().map(|x| record(x, &queue_arn)).collect::<Vec<_>>()});
        let answer = function.invoke(&event).await;
        let Some(ok) = successes(&batch, &answer, m.report_failures) else {
            continue;
        };
        for i in ok {
            if let Some(h) = batch[i].receipt_handle() {
                let _ = sqs
                    .delete_message()
                    .queue_url(&url)
                    .receipt_handle(h)
                    .send()
                    .await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msgs(ids: &[&str]) -> Vec<Message> {
        ids.iter()
            .map(|id| {
                Message::builder()
                    .message_id(*id)
                    .receipt_handle(*id)
                    .build()
            })
            .collect()
    }

    #[test]
    fn only_reported_failures_stay_on_the_queue() {
        let b = msgs(&["a", "b", "c"]);
        let ok = |s: &str| Answer::Ok(Bytes::from(s.to_owned()));
        assert_eq!(
            successes(
                &b,
                &ok(r#"{"batchItemFailures":[{"itemIdentifier":"b"}]}"#),
                true
            ),
            Some(vec![0, 2])
        );
        assert_eq!(
            successes(&b, &ok(r#"{"batchItemFailures":[]}"#), true),
            Some(vec![0, 1, 2])
        );
        assert_eq!(successes(&b, &ok("null"), true), Some(vec![0, 1, 2]));
        // An identifier not in the batch, or a malformed answer: the whole batch failed.
        assert_eq!(
            successes(
                &b,
                &ok(r#"{"batchItemFailures":[{"itemIdentifier":"z"}]}"#),
                true
            ),
            None
        );
        assert_eq!(
            successes(&b, &ok(r#"{"batchItemFailures":"b"}"#), true),
            None
        );
        // A function error: nothing is deleted, with or without the setting.
        assert_eq!(successes(&b, &Answer::Err(json!({})), true), None);
        assert_eq!(successes(&b, &Answer::Err(json!({})), false), None);
        // Without ReportBatchItemFailures a successful answer deletes everything.
        assert_eq!(
            successes(
                &b,
                &ok(r#"{"batchItemFailures":[{"itemIdentifier":"b"}]}"#),
                false
            ),
            Some(vec![0, 1, 2])
        );
    }
}
