//! Pure domain types and rules. No I/O here: everything is validated on the way in, so the rest
//! of the code only ever sees well-formed values.

use serde::{Deserialize, Serialize};
use std::fmt;

mod ids;

pub use ids::{CorrelationId, EventId, FactoryOrderId, SaleId, new_id, parse_id};

/// Largest quantity a single sale may ask for.
pub const MAX_SALE_QUANTITY: i64 = 100;
/// Largest stock an operator may set.
pub const MAX_STOCK: i64 = 1_000_000_000;
/// Most rows one SKU's stock can be spread over (`products.buckets`, a CHECK constraint).
pub const MAX_BUCKETS: i64 = 64;
/// Largest reorder quantity an operator may set.
pub const MAX_REORDER_QUANTITY: i64 = 1_000_000;

/// Milliseconds since the Unix epoch: the one time representation stored in both databases.
pub type Millis = i64;

pub fn now_millis() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

/// RFC 3339 with milliseconds, UTC (`2026-11-21T22:07:24.123Z`).
pub fn rfc3339(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("sku must be 1-64 characters of [A-Za-z0-9._-] starting with a letter or digit")]
    Sku,
    #[error("quantity must be an integer from 1 to {MAX_SALE_QUANTITY}")]
    Quantity,
    #[error("{0}")]
    Field(String),
    #[error("id must be a UUID")]
    Id,
}

/// A product identifier. Restricted to a conservative alphabet so it is safe in URLs, keys,
/// partition keys and log lines.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(into = "String", try_from = "String")]
pub struct Sku(String);

impl TryFrom<String> for Sku {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, ValidationError> {
        Sku::parse(&s)
    }
}

impl From<Sku> for String {
    fn from(sku: Sku) -> String {
        sku.0
    }
}

impl Sku {
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let bytes = s.as_bytes();
        let ok = !bytes.is_empty()
            && bytes.len() <= 64
            && bytes[0].is_ascii_alphanumeric()
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Sku(s.to_owned()))
        } else {
            Err(ValidationError::Sku)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A sale quantity, 1..=100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Quantity(i64);

impl Quantity {
    pub fn new(q: i64) -> Result<Self, ValidationError> {
        if (1..=MAX_SALE_QUANTITY).contains(&q) {
            Ok(Quantity(q))
        } else {
            Err(ValidationError::Quantity)
        }
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Pending,
    Requested,
    Fulfilled,
    Failed,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Requested => "requested",
            OrderStatus::Fulfilled => "fulfilled",
            OrderStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => OrderStatus::Pending,
            "requested" => OrderStatus::Requested,
            "fulfilled" => OrderStatus::Fulfilled,
            "failed" => OrderStatus::Failed,
            _ => return None,
        })
    }
    /// Open orders count against "at most one open factory order per SKU".
    pub fn is_open(self) -> bool {
        matches!(self, OrderStatus::Pending | OrderStatus::Requested)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderRef {
    pub id: FactoryOrderId,
    pub status: OrderStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenOrder {
    pub id: FactoryOrderId,
    pub status: OrderStatus,
    pub quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub sku: Sku,
    pub name: String,
    pub stock: i64,
    pub reorder_point: i64,
    pub reorder_quantity: i64,
    /// How many rows the stock is spread over (1–[`MAX_BUCKETS`]): a hot SKU's buyers then
    /// queue on different rows. `stock` is always the exact total.
    pub buckets: i64,
    pub open_factory_order: Option<OpenOrder>,
    pub updated_at: Millis,
}

/// What an operator sets with `PUT /admin/inventory/{sku}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductSpec {
    pub sku: Sku,
    pub name: String,
    /// The new total; `None` keeps an existing product's total as it is when the write
    /// happens (e.g. to change `buckets` during a sale), and creates a product with none.
    pub stock: Option<i64>,
    pub reorder_point: i64,
    pub reorder_quantity: i64,
    pub buckets: i64,
}

impl ProductSpec {
    /// A product with one stock bucket and this stock.
    pub fn new(
        sku: Sku,
        name: Option<String>,
        stock: i64,
        reorder_point: Option<i64>,
        reorder_quantity: Option<i64>,
    ) -> Result<Self, ValidationError> {
        Self::build(
            sku,
            name,
            Some(stock),
            reorder_point,
            reorder_quantity,
            None,
        )
    }

    /// The admin PUT's body: `stock` may be left out (keep the total), `buckets` defaults to 1.
    pub fn build(
        sku: Sku,
        name: Option<String>,
        stock: Option<i64>,
        reorder_point: Option<i64>,
        reorder_quantity: Option<i64>,
        buckets: Option<i64>,
    ) -> Result<Self, ValidationError> {
        let name = name.unwrap_or_else(|| sku.as_str().to_owned());
        if name.trim().is_empty() || name.chars().count() > 200 {
            return Err(ValidationError::Field(
                "name must be 1-200 characters".into(),
            ));
        }
        if stock.is_some_and(|s| !(0..=MAX_STOCK).contains(&s)) {
            return Err(ValidationError::Field(format!(
                "stock must be an integer from 0 to {MAX_STOCK}"
            )));
        }
        let reorder_point = reorder_point.unwrap_or(0);
        if !(0..=MAX_STOCK).contains(&reorder_point) {
            return Err(ValidationError::Field(format!(
                "reorder_point must be an integer from 0 to {MAX_STOCK}"
            )));
        }
        let reorder_quantity = reorder_quantity.unwrap_or(100);
        if !(1..=MAX_REORDER_QUANTITY).contains(&reorder_quantity) {
            return Err(ValidationError::Field(format!(
                "reorder_quantity must be an integer from 1 to {MAX_REORDER_QUANTITY}"
            )));
        }
        let buckets = buckets.unwrap_or(1);
        if !(1..=MAX_BUCKETS).contains(&buckets) {
            return Err(ValidationError::Field(format!(
                "buckets must be an integer from 1 to {MAX_BUCKETS}"
            )));
        }
        Ok(ProductSpec {
            sku,
            name,
            stock,
            reorder_point,
            reorder_quantity,
            buckets,
        })
    }
}

/// A validated purchase request.
#[derive(Debug, Clone)]
pub struct SaleRequest {
    pub sku: Sku,
    pub quantity: Quantity,
    pub idempotency_key: Option<String>,
    pub correlation_id: CorrelationId,
}

impl SaleRequest {
    /// Fingerprint of what was asked, stored with an idempotency key so that the same key with
    /// a different body is recognised.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(format!(
            "{}\n{}",
            self.sku,
            self.quantity.get()
        )))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sale {
    pub id: SaleId,
    pub sku: Sku,
    pub quantity: i64,
    pub remaining_stock: i64,
    pub created_at: Millis,
    pub factory_order: Option<OrderRef>,
}

/// The stock-out event of the transactional outbox: what goes to SNS and the factory-orderer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockOutEvent {
    pub schema_version: u32,
    pub event_id: EventId,
    /// Not a UUID: the whole event fails to deserialise (a poison message).
    pub factory_order_id: FactoryOrderId,
    pub sku: Sku,
    pub quantity: i64,
    pub correlation_id: CorrelationId,
    pub occurred_at: Millis,
}

impl StockOutEvent {
    pub const SCHEMA_VERSION: u32 = 1;
    pub const TYPE: &'static str = "stock_out";

    /// The event asking for `order_id`'s batch (a first publication or a re-send: each has its
    /// own `event_id`, the order id stays the factory's idempotency key).
    pub fn new(
        event_id: EventId,
        order_id: &FactoryOrderId,
        sku: &Sku,
        quantity: i64,
        correlation_id: &CorrelationId,
        occurred_at: Millis,
    ) -> Self {
        StockOutEvent {
            schema_version: Self::SCHEMA_VERSION,
            event_id,
            factory_order_id: order_id.clone(),
            sku: sku.clone(),
            quantity,
            correlation_id: correlation_id.clone(),
            occurred_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    pub status: OrderStatus,
    pub at: Millis,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactoryOrder {
    pub id: FactoryOrderId,
    pub sku: Sku,
    pub quantity: i64,
    pub status: OrderStatus,
    pub attempts: i64,
    pub factory_ref: Option<String>,
    pub last_error: Option<String>,
    pub last_event_id: Option<EventId>,
    pub correlation_id: CorrelationId,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub requested_at: Option<Millis>,
    pub transitions: Vec<Transition>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sku_alphabet() {
        assert!(Sku::parse("glazed").is_ok());
        assert!(Sku::parse("Boston-Cream_2.0").is_ok());
        for bad in [
            "",
            "-x",
            "../etc/passwd",
            "a b",
            "x'; DROP TABLE products;--",
            "é",
        ] {
            assert_eq!(Sku::parse(bad), Err(ValidationError::Sku), "{bad:?}");
        }
        assert!(Sku::parse(&"a".repeat(64)).is_ok());
        assert!(Sku::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn quantity_bounds() {
        assert!(Quantity::new(0).is_err());
        assert!(Quantity::new(-1).is_err());
        assert_eq!(Quantity::new(1).map(Quantity::get), Ok(1));
        assert_eq!(Quantity::new(100).map(Quantity::get), Ok(100));
        assert!(Quantity::new(101).is_err());
    }

    #[test]
    fn product_spec_defaults_and_bounds() {
        let sku = Sku::parse("glazed").unwrap();
        let p = ProductSpec::new(sku.clone(), None, 5, None, None).unwrap();
        assert_eq!(
            (p.name.as_str(), p.reorder_point, p.reorder_quantity),
            ("glazed", 0, 100)
        );
        assert!(ProductSpec::new(sku.clone(), None, -1, None, None).is_err());
        assert!(ProductSpec::new(sku.clone(), None, 1, None, Some(0)).is_err());
        assert!(ProductSpec::new(sku.clone(), Some(" ".into()), 1, None, None).is_err());
        assert!(ProductSpec::new(sku.clone(), None, 1, Some(-3), None).is_err());
        assert_eq!(p.buckets, 1);
        for bad in [0, 65, -1] {
            let e = ProductSpec::build(sku.clone(), None, Some(1), None, None, Some(bad));
            assert!(e.is_err(), "buckets {bad} accepted");
        }
        let keep = ProductSpec::build(sku, None, None, None, None, Some(64)).unwrap();
        assert_eq!((keep.stock, keep.buckets), (None, 64));
    }

    #[test]
    fn order_status_roundtrip() {
        for s in ["pending", "requested", "fulfilled", "failed"] {
            assert_eq!(OrderStatus::parse(s).map(OrderStatus::as_str), Some(s));
        }
        assert!(OrderStatus::Pending.is_open() && OrderStatus::Requested.is_open());
        assert!(!OrderStatus::Fulfilled.is_open() && !OrderStatus::Failed.is_open());
        assert_eq!(OrderStatus::parse("open"), None);
    }

    #[test]
    fn correlation_ids_are_sanitised() {
        assert_eq!(CorrelationId::adopt(Some("abc-123")).as_str(), "abc-123");
        let fresh = CorrelationId::adopt(Some("has space"));
        assert_ne!(fresh.as_str(), "has space");
        assert_eq!(fresh.as_str().len(), 36);
        assert_eq!(CorrelationId::adopt(None).as_str().len(), 36);
    }

    #[test]
    fn stock_out_event_rejects_unknown_fields() {
        let ok = r#"{"schema_version":1,"event_id":"e","factory_order_id":"0193a2b4-0000-7000-8000-000000000000","sku":"s","quantity":1,"correlation_id":"c","occurred_at":0}"#;
        let event = serde_json::from_str::<StockOutEvent>(ok).unwrap();
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            ok,
            "the wire format"
        );
        let extra = ok.replace("\"occurred_at\":0", "\"occurred_at\":0,\"x\":1");
        assert!(serde_json::from_str::<StockOutEvent>(&extra).is_err());
    }

    #[test]
    fn stock_out_event_rejects_an_order_id_that_is_not_a_uuid() {
        let bad = r#"{"schema_version":1,"event_id":"e","factory_order_id":"o","sku":"s","quantity":1,"correlation_id":"c","occurred_at":0}"#;
        let e = serde_json::from_str::<StockOutEvent>(bad).unwrap_err();
        assert!(e.to_string().contains("id must be a UUID"), "{e}");
    }
}
