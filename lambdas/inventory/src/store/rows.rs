//! Rows as the database returns them (`sqlx::FromRow`, columns by name) and their conversion
//! to the domain, where stored text is parsed back into domain types (a bad value is
//! `StoreError::Corrupt`, never a panic).

use super::{Ledger, Movement, OutboxEntry, SaleOutcome, SaleRow, StoreError};
use crate::domain::{
    CorrelationId, EventId, FactoryOrder, FactoryOrderId, Millis, OpenOrder, OrderRef, OrderStatus,
    Product, Sale, SaleId, SaleRequest, Sku, Transition,
};

pub(crate) fn status_of(s: &str) -> Result<OrderStatus, StoreError> {
    OrderStatus::parse(s).ok_or_else(|| StoreError::Corrupt(format!("order status {s:?}").into()))
}

pub(crate) fn order_id_of(s: &str) -> Result<FactoryOrderId, StoreError> {
    FactoryOrderId::parse(s).map_err(|_| StoreError::Corrupt(format!("order id {s:?}").into()))
}

pub(crate) fn sale_id_of(s: &str) -> Result<SaleId, StoreError> {
    SaleId::parse(s).map_err(|_| StoreError::Corrupt(format!("sale id {s:?}").into()))
}

pub(crate) fn sku_of(s: &str) -> Result<Sku, StoreError> {
    Sku::parse(s).map_err(|_| StoreError::Corrupt(format!("sku {s:?}").into()))
}

/// A product with its open factory order, if any (`products LEFT JOIN factory_orders`).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ProductRow {
    pub sku: String,
    pub name: String,
    pub stock: i64,
    pub reorder_point: i64,
    pub reorder_quantity: i64,
    pub buckets: i64,
    pub updated_at: Millis,
    /// The last sale, restock or spread of its stock (`MAX(stock_buckets.updated_at)`).
    pub stock_updated_at: Option<Millis>,
    pub order_id: Option<String>,
    pub order_status: Option<String>,
    pub order_quantity: Option<i64>,
}

impl ProductRow {
    pub fn into_product(self) -> Result<Product, StoreError> {
        let open_factory_order = match (self.order_id, self.order_status, self.order_quantity) {
            (Some(id), Some(status), Some(quantity)) => Some(OpenOrder {
                id: order_id_of(&id)?,
                status: status_of(&status)?,
                quantity,
            }),
            _ => None,
        };
        Ok(Product {
            sku: sku_of(&self.sku)?,
            name: self.name,
            stock: self.stock,
            reorder_point: self.reorder_point,
            reorder_quantity: self.reorder_quantity,
            buckets: self.buckets,
            open_factory_order,
            updated_at: self.updated_at.max(self.stock_updated_at.unwrap_or(0)),
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct OrderRow {
    pub id: String,
    pub sku: String,
    pub quantity: i64,
    pub status: String,
    pub attempts: i64,
    pub factory_ref: Option<String>,
    pub last_error: Option<String>,
    pub last_event_id: Option<String>,
    pub correlation_id: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub requested_at: Option<Millis>,
}

impl OrderRow {
    pub fn into_order(self, transitions: Vec<Transition>) -> Result<FactoryOrder, StoreError> {
        Ok(FactoryOrder {
            id: order_id_of(&self.id)?,
            sku: sku_of(&self.sku)?,
            quantity: self.quantity,
            status: status_of(&self.status)?,
            attempts: self.attempts,
            factory_ref: self.factory_ref,
            last_error: self.last_error,
            last_event_id: self.last_event_id.map(EventId::from),
            correlation_id: CorrelationId::from(self.correlation_id),
            created_at: self.created_at,
            updated_at: self.updated_at,
            requested_at: self.requested_at,
            transitions,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TransitionRow {
    pub status: String,
    pub at: Millis,
    pub note: Option<String>,
}

impl TransitionRow {
    pub fn into_transition(self) -> Result<Transition, StoreError> {
        Ok(Transition {
            status: status_of(&self.status)?,
            at: self.at,
            note: self.note,
        })
    }
}

/// An open order's reference (`id`, `status`).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct OrderRefRow {
    pub id: String,
    pub status: String,
}

impl OrderRefRow {
    pub fn into_ref(self) -> Result<OrderRef, StoreError> {
        Ok(OrderRef {
            status: status_of(&self.status)?,
            id: order_id_of(&self.id)?,
        })
    }
}

/// A sale found by its idempotency key or its id, with the fingerprint of the request that made
/// it (keyed sales only).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct KeyedSaleRow {
    pub id: String,
    pub sku: String,
    pub quantity: i64,
    pub remaining_stock: Option<i64>,
    pub created_at: Millis,
    pub request_hash: Option<String>,
}

impl KeyedSaleRow {
    /// A retry with this sale's id (its first answer was lost): that sale. The id is the
    /// caller's, fresh per request, so the same id with another SKU or quantity is a bug, not a
    /// retry: an error, nothing sold. (The sale rule's replay, in every adapter.)
    pub fn replay_by_id(self, req: &SaleRequest) -> Result<SaleOutcome, StoreError> {
        if self.sku != req.sku.as_str() || self.quantity != req.quantity.get() {
            return Err(StoreError::Corrupt(
                format!("sale {} exists for another request", self.id).into(),
            ));
        }
        Ok(SaleOutcome::Replayed(self.into_sale()?))
    }

    /// A retry with this sale's idempotency key: that sale, or `KeyReused` when the key came
    /// with another request (another fingerprint).
    pub fn replay_by_key(self, req: &SaleRequest) -> Result<SaleOutcome, StoreError> {
        if self.request_hash.as_deref() != Some(req.fingerprint().as_str()) {
            return Ok(SaleOutcome::KeyReused);
        }
        Ok(SaleOutcome::Replayed(self.into_sale()?))
    }

    pub fn into_sale(self) -> Result<Sale, StoreError> {
        Ok(Sale {
            id: sale_id_of(&self.id)?,
            sku: sku_of(&self.sku)?,
            quantity: self.quantity,
            remaining_stock: self.remaining_stock.unwrap_or_default(),
            created_at: self.created_at,
            factory_order: None,
        })
    }
}

/// What a refused purchase reports: the stock and the open order, if any.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RefusalRow {
    pub stock: i64,
    pub order_id: Option<String>,
    pub order_status: Option<String>,
}

/// A `requested` order the factory has not completed yet.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StuckRow {
    pub id: String,
    pub sku: String,
    pub quantity: i64,
    pub attempts: i64,
    pub correlation_id: String,
    pub requested_at: Option<Millis>,
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct OutboxRow {
    pub id: String,
    pub payload: String,
    pub created_at: Millis,
}

impl From<OutboxRow> for OutboxEntry {
    fn from(r: OutboxRow) -> Self {
        OutboxEntry {
            id: EventId::from(r.id),
            payload: r.payload,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ExportSaleRow {
    pub id: String,
    pub sku: String,
    pub quantity: i64,
    pub remaining_stock: Option<i64>,
    pub correlation_id: String,
    pub created_at: Millis,
}

impl From<ExportSaleRow> for SaleRow {
    fn from(r: ExportSaleRow) -> Self {
        SaleRow {
            id: r.id,
            sku: r.sku,
            quantity: r.quantity,
            remaining_stock: r.remaining_stock,
            correlation_id: r.correlation_id,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct MovementRow {
    pub sku: String,
    pub sold: i64,
    pub restocked: i64,
}

impl From<MovementRow> for Movement {
    fn from(r: MovementRow) -> Self {
        Movement {
            sku: r.sku,
            sold: r.sold,
            restocked: r.restocked,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct LedgerRow {
    pub sku: String,
    pub stock: i64,
    pub sold: i64,
    pub restocked: i64,
    pub open_orders: i64,
}

impl From<LedgerRow> for Ledger {
    fn from(r: LedgerRow) -> Self {
        Ledger {
            sku: r.sku,
            stock: r.stock,
            sold: r.sold,
            restocked: r.restocked,
            open_orders: r.open_orders,
        }
    }
}
