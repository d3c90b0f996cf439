//! The stock-out message as it arrives on SQS, decoded: the other half of what
//! [`messaging`](crate::messaging) publishes (the event's JSON, its attributes). The orderer
//! decodes each message it consumes with [`decode`]; the operator's DLQ view (`ops-core`)
//! explains a dead-lettered one with it.

use crate::domain::StockOutEvent;

/// A message that will never decode: retrying cannot help, it belongs in the DLQ.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("poison message: {0}")]
pub struct Poison(pub String);

/// Decodes a stock-out event from an SQS body: a raw-delivery message, or an SNS envelope when
/// raw delivery is off. A `factory_order_id` that is not a UUID fails the decoding (it is a
/// [`FactoryOrderId`](crate::domain::FactoryOrderId)): a poison message, like any other
/// malformed event.
pub fn decode(body: &str) -> Result<StockOutEvent, Poison> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| Poison(format!("body is not JSON: {e}")))?;
    let value = match (
        value.get("Type").and_then(|t| t.as_str()),
        value.get("Message"),
    ) {
        (Some("Notification"), Some(serde_json::Value::String(inner))) => {
            serde_json::from_str(inner)
                .map_err(|e| Poison(format!("SNS message is not JSON: {e}")))?
        }
        _ => value,
    };
    let version = value.get("schema_version").and_then(|v| v.as_u64());
    if version != Some(u64::from(StockOutEvent::SCHEMA_VERSION)) {
        return Err(Poison(format!(
            "unsupported schema_version {version:?} (expected {})",
            StockOutEvent::SCHEMA_VERSION
        )));
    }
    serde_json::from_value(value).map_err(|e| Poison(format!("not a stock-out event: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_raw_and_enveloped_events_and_rejects_poison() {
        let raw = r#"{"schema_version":1,"event_id":"e","factory_order_id":"0193a2b4-0000-7000-8000-000000000000","sku":"glazed","quantity":100,"correlation_id":"c","occurred_at":1}"#;
        assert_eq!(decode(raw).unwrap().sku.as_str(), "glazed");
        let env = serde_json::json!({"Type": "Notification", "Message": raw}).to_string();
        assert_eq!(decode(&env).unwrap().quantity, 100);
        for bad in [
            "",
            "not json",
            "{}",
            &raw.replace("\"schema_version\":1", "\"schema_version\":2"),
            &raw.replace("0193a2b4-0000-7000-8000-000000000000", "../x"),
            &raw.replace("\"quantity\":100", "\"quantity\":\"many\""),
        ] {
            assert!(matches!(decode(bad), Err(Poison(_))), "{bad:?}");
        }
    }
}
