//! `SqsSender`: the SQS adapter of [`CompletionQueue`] — the sim's own delay queue.

use crate::app::CompletionQueue;
use crate::sim::ScheduledCompletion;

pub struct SqsSender {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsSender {
    pub fn from_sdk(sdk: &aws_config::SdkConfig, queue_url: String) -> Self {
        SqsSender {
            client: aws_sdk_sqs::Client::new(sdk),
            queue_url,
        }
    }
}

impl CompletionQueue for SqsSender {
    async fn schedule(&self, item: &ScheduledCompletion, delay_secs: i32) -> Result<(), String> {
        let body = serde_json::to_string(item).map_err(|e| e.to_string())?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(delay_secs)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(&e).to_string())
    }
}
