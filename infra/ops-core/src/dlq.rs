//! A dead-lettered stock-out explained: its event and what the database says about its order.

use inventory::domain::StockOutEvent;
use inventory::stockout::decode;
use inventory::store::Orders;
use serde_json::{Map, Value, json};

/// A DLQ message explained: its event (if it decodes) and what the database says about its
/// order. `reason` is one line for a human.
pub async fn explain_message(orders: &(impl Orders + ?Sized), body: &str) -> Value {
    let reason = explain(orders, body).await;
    match decode(body) {
        Ok(ev) => {
            let mut view = event_view(&ev, json!(reason));
            view["body"] = serde_json::to_value(&ev).unwrap_or(Value::Null);
            view
        }
        Err(_) => json!({
            "body": serde_json::from_str::<Value>(body).unwrap_or(Value::String(body.chars().take(2000).collect())),
            "reason": reason,
        }),
    }
}

/// Why a DLQ message failed, in one line.
pub async fn explain(orders: &(impl Orders + ?Sized), body: &str) -> String {
    match decode(body) {
        Err(e) => e.to_string(),
        Ok(ev) => match orders.factory_order(&ev.factory_order_id).await {
            Ok(Some(o)) => format!(
                "factory order {} is {} after {} attempt(s); last error: {}",
                o.id,
                o.status.as_str(),
                o.attempts,
                o.last_error.as_deref().unwrap_or("none")
            ),
            Ok(None) => format!("unknown factory order {}", ev.factory_order_id),
            Err(e) => format!("could not look the order up: {e}"),
        },
    }
}

/// A DLQ message explained without a database: the event it carries (or why it does not
/// decode).
pub fn explain_offline(body: &str) -> Value {
    match decode(body) {
        Ok(ev) => event_view(
            &ev,
            json!("a valid stock-out; set DATABASE_URL to see its order's state and last error"),
        ),
        Err(e) => json!({
            "body": body.chars().take(2000).collect::<String>(),
            "reason": e.to_string(),
        }),
    }
}

/// The fields of a decoded stock-out an operator looks at, and the reason.
fn event_view(ev: &StockOutEvent, reason: Value) -> Value {
    json!({
        "correlation_id": ev.correlation_id,
        "event_id": ev.event_id,
        "factory_order_id": ev.factory_order_id,
        "sku": ev.sku,
        "quantity": ev.quantity,
        "reason": reason,
    })
}

/// How the queue holds a DLQ message: what `dlq list` shows next to the explanation, the same
/// for the local DLQ and for SQS.
#[derive(Debug, Default)]
pub struct Delivery {
    pub message_id: Option<String>,
    pub receive_count: Option<u64>,
    pub attributes: Map<String, Value>,
    /// RFC 3339.
    pub sent_at: Option<String>,
}

impl Delivery {
    /// The explained message (`explain_message` or `explain_offline`) with these fields added.
    pub fn annotate(self, mut view: Value) -> Value {
        view["message_id"] = json!(self.message_id);
        view["receive_count"] = json!(self.receive_count);
        view["attributes"] = Value::Object(self.attributes);
        view["sent_at"] = json!(self.sent_at);
        view
    }
}
