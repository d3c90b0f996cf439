//! SQS records as Lambda delivers them, for feeding the real handlers.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use serde_json::Value;
use std::collections::BTreeSet;
use std::collections::HashMap;

/// An SQS record as Lambda delivers it (attributes of the stock-out as message attributes).
pub fn sqs_message(id: &str, body: Option<&str>, receive_count: u32) -> SqsMessage {
    let mut msg = SqsMessage::default();
    msg.message_id = Some(id.to_owned());
    msg.receipt_handle = Some(format!("rh-{id}-{receive_count}"));
    msg.body = body.map(str::to_owned);
    msg.attributes = HashMap::from([(
        "ApproximateReceiveCount".to_owned(),
        receive_count.to_string(),
    )]);
    if let Some(ev) = body.and_then(|b| serde_json::from_str::<Value>(b).ok()) {
        for name in ["event_id", "correlation_id", "factory_order_id", "sku"] {
            if let Some(v) = ev.get(name).and_then(Value::as_str) {
                let mut a = SqsMessageAttribute::default();
                a.data_type = Some("String".into());
                a.string_value = Some(v.to_owned());
                msg.message_attributes.insert(name.to_owned(), a);
            }
        }
    }
    msg.event_source = Some("aws:sqs".into());
    msg
}

pub fn sqs_event(records: Vec<SqsMessage>) -> SqsEvent {
    let mut e = SqsEvent::default();
    e.records = records;
    e
}

/// The message ids a batch response reports failed (SQS retries only these).
pub fn failed_ids(r: &SqsBatchResponse) -> BTreeSet<String> {
    r.batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}
