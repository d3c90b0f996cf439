//! SQS partial batch failures (`ReportBatchItemFailures`), written once for every consumer: the
//! function's business code handles one message; [`report_failures`] runs it on each message of
//! the batch and tells SQS which ones to deliver again. Used by `factory-orderer` (stock-out
//! events) and `factory-sim` (its due completions).

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use std::future::Future;

/// Runs `handler` on every message of the batch, concurrently, and reports the messages it
/// failed (`Err`) as batch item failures: SQS deletes the others and delivers these again
/// (until `maxReceiveCount`, then the DLQ). The handler logs its own outcome; a failed message
/// without a message id cannot be reported and is logged as an error.
pub async fn report_failures<F, Fut, T, E>(event: SqsEvent, handler: F) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let (ids, handled): (Vec<_>, Vec<_>) = event
        .records
        .into_iter()
        .map(|msg| (msg.message_id.clone(), handler(msg)))
        .unzip();
    let results = futures::future::join_all(handled).await;
    let mut response = SqsBatchResponse::default();
    for (id, result) in ids.into_iter().zip(results) {
        if result.is_ok() {
            continue;
        }
        match id {
            Some(id) => {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
            None => tracing::error!("a failed SQS record has no message id; it cannot be reported"),
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn batch(bodies: &[(Option<&str>, &str)]) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = bodies
            .iter()
            .map(|(id, body)| {
                let mut m = SqsMessage::default();
                m.message_id = id.map(str::to_owned);
                m.body = Some((*body).to_owned());
                m
            })
            .collect();
        event
    }

    fn failed(response: &SqsBatchResponse) -> Vec<&str> {
        response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    /// The handler's `Err` messages, and only those, are reported, in the batch's order; a
    /// failure without a message id is left out (logged), a success never reported.
    #[tokio::test]
    async fn reports_exactly_the_failed_messages() {
        let event = batch(&[
            (Some("m1"), "ok"),
            (Some("m2"), "bad"),
            (None, "bad"),
            (Some("m4"), "ok"),
            (Some("m5"), "bad"),
        ]);
        let response = report_failures(event, |m| async move {
            match m.body.as_deref() {
                Some("ok") => Ok(()),
                _ => Err("refused"),
            }
        })
        .await;
        assert_eq!(failed(&response), ["m2", "m5"]);

        let all_ok = report_failures(batch(&[(Some("m1"), "ok")]), |_| async {
            Ok::<_, String>(1)
        })
        .await;
        assert!(all_ok.batch_item_failures.is_empty());
        let empty = report_failures(SqsEvent::default(), |_| async { Err::<(), _>("x") }).await;
        assert!(empty.batch_item_failures.is_empty());
    }

    /// The messages of a batch are handled at the same time (ten slow factory calls take one
    /// call's time): every handler waits for all the others here, which only concurrent
    /// handling lets finish.
    #[tokio::test]
    async fn handles_the_messages_of_a_batch_concurrently() {
        let bodies: Vec<(Option<&str>, &str)> = vec![(Some("m"), "x"); 10];
        let everyone = Arc::new(tokio::sync::Barrier::new(bodies.len()));
        let response = tokio::time::timeout(
            Duration::from_secs(5),
            report_failures(batch(&bodies), |_| {
                let everyone = everyone.clone();
                async move {
                    everyone.wait().await;
                    Ok::<_, String>(())
                }
            }),
        )
        .await
        .expect("all handlers ran together");
        assert!(response.batch_item_failures.is_empty());
    }
}
