//! Poison messages: SQS retries them up to the template's maxReceiveCount, then the DLQ.

use crate::kit::eventually;
use lambda_harness::Harness;
use std::time::Duration;

/// 9. A poison message is retried maxReceiveCount times, then lands in the DLQ.
pub async fn a_poison_message_lands_in_the_dlq(h: &Harness) {
    let sqs = aws_sdk_sqs::Client::new(&h.sdk);
    sqs.send_message()
        .queue_url(&h.queue_urls["FactoryOrdersQueue"])
        .message_body("{not json")
        .send()
        .await
        .expect("send poison");
    let dlq = &h.queue_urls["FactoryOrdersDlq"];
    let dead = eventually(
        "the poison message in the DLQ",
        Duration::from_secs(90),
        || {
            let sqs = &sqs;
            async move {
                let out = sqs
                    .receive_message()
                    .queue_url(dlq)
                    .wait_time_seconds(1)
                    .message_system_attribute_names(
                        aws_sdk_sqs::types::MessageSystemAttributeName::All,
                    )
                    .send()
                    .await
                    .ok()?;
                out.messages.unwrap_or_default().into_iter().next()
            }
        },
    )
    .await;
    assert_eq!(dead.body(), Some("{not json"));
    let receives: u64 = dead
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let max_receive: u64 = h.template.params["FactoryOrdersMaxReceiveCount"]
        .parse()
        .expect("param");
    assert!(
        receives >= max_receive,
        "moved after {receives} receives, maxReceiveCount {max_receive}"
    );
}
