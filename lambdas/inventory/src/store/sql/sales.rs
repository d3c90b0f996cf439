//! The statements of a sale both databases share: idempotent replay, the refusal, and the
//! stock-out (the SKU's one open factory order and its outbox event). The sale itself is
//! `donut_sell` on MySQL (migrations/current/procedures.sql: the sale rule) and its steps in
//! `sqlite.rs` on SQLite; both end here for a replay or a refusal. (Compiled once per database;
//! see `store/mod.rs`.)

use super::orders::insert_transition;
use super::outbox::insert_outbox;
use super::{Adapter, Db, dialect};
use crate::domain::{
    CorrelationId, EventId, FactoryOrderId, Millis, OrderRef, OrderStatus, Sale, SaleId,
    SaleRequest, StockOutEvent, now_millis,
};
use crate::store::error::is_unique_violation;
use crate::store::rows::{KeyedSaleRow, OrderRefRow, RefusalRow};
use crate::store::{SaleOutcome, StoreError};
use sqlx::Executor;

type Tx = sqlx::Transaction<'static, Db>;

async fn sale_by_key<'e>(
    ex: impl Executor<'e, Database = Db>,
    key: &str,
) -> Result<Option<KeyedSaleRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, sku, quantity, remaining_stock, created_at, request_hash FROM sales \
         WHERE idempotency_key = ?",
    )
    .bind(key)
    .fetch_optional(ex)
    .await
}

/// The sale `id`; an unrecorded `remaining_stock` (a sale without a key) is the SKU's stock now.
async fn sale_by_id<'e>(
    ex: impl Executor<'e, Database = Db>,
    id: &str,
) -> Result<Option<KeyedSaleRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT s.id, s.sku, s.quantity, COALESCE(s.remaining_stock, ",
        total_stock!(),
        ") AS remaining_stock, s.created_at, s.request_hash FROM sales s \
         LEFT JOIN products p ON p.sku = s.sku WHERE s.id = ?"
    ))
    .bind(id)
    .fetch_optional(ex)
    .await
}

async fn refusal_view<'e>(
    ex: impl Executor<'e, Database = Db>,
    sku: &str,
) -> Result<Option<RefusalRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        total_stock!(),
        " AS stock, fo.id AS order_id, fo.status AS order_status FROM products p \
         LEFT JOIN factory_orders fo ON fo.sku = p.sku AND fo.status IN ('pending', 'requested') \
         WHERE p.sku = ?"
    ))
    .bind(sku)
    .fetch_optional(ex)
    .await
}

async fn open_order_for_sku(tx: &mut Tx, sku: &str) -> Result<Option<OrderRefRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, status FROM factory_orders WHERE sku = ? AND status IN ('pending', 'requested')",
    )
    .bind(sku)
    .fetch_optional(&mut **tx)
    .await
}

/// Opens a factory order for the product's reorder quantity; 0 rows when there is no product.
async fn insert_order(
    tx: &mut Tx,
    id: &FactoryOrderId,
    sku: &str,
    correlation_id: &CorrelationId,
    now: Millis,
) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO factory_orders (id, sku, quantity, status, attempts, correlation_id, \
         created_at, updated_at) \
         SELECT ?, sku, reorder_quantity, 'pending', 0, ?, ?, ? FROM products WHERE sku = ?",
    )
    .bind(id.as_str())
    .bind(correlation_id.as_str())
    .bind(now)
    .bind(now)
    .bind(sku)
    .execute(&mut **tx)
    .await
    .map(|r| r.rows_affected())
}

async fn order_quantity(tx: &mut Tx, id: &FactoryOrderId) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT quantity FROM factory_orders WHERE id = ?")
        .bind(id.as_str())
        .fetch_one(&mut **tx)
        .await
}

/// Within a transaction: the SKU's open factory order, opening one (plus its outbox event)
/// when there is none. The unique key on open orders decides races.
pub(super) async fn ensure_open_order(
    tx: &mut Tx,
    sku: &str,
    correlation_id: &CorrelationId,
    now: Millis,
) -> Result<(OrderRef, Option<StockOutEvent>), StoreError> {
    if let Some(open) = open_order_for_sku(tx, sku).await? {
        return Ok((open.into_ref()?, None));
    }
    let id = FactoryOrderId::new();
    match insert_order(tx, &id, sku, correlation_id, now).await {
        Ok(1) => {}
        Ok(_) => {
            return Err(StoreError::Corrupt(
                format!("no product {sku} for order").into(),
            ));
        }
        Err(e) if is_unique_violation(&e) => {
            // Another transaction opened it and committed. A plain read would use this
            // transaction's (older) snapshot on MySQL; a locking read sees it.
            let open: OrderRefRow = sqlx::query_as(dialect::OPEN_ORDER_LOCKING_READ)
                .bind(sku)
                .fetch_one(&mut **tx)
                .await?;
            return Ok((open.into_ref()?, None));
        }
        Err(e) => return Err(e.into()),
    }
    let quantity = order_quantity(tx, &id).await?;
    insert_transition(tx, &id, "pending", "stock-out: factory order opened", now).await?;
    let sku = crate::store::rows::sku_of(sku)?;
    let event = StockOutEvent::new(EventId::new(), &id, &sku, quantity, correlation_id, now);
    insert_outbox(tx, &event).await?;
    Ok((
        OrderRef {
            id,
            status: OrderStatus::Pending,
        },
        Some(event),
    ))
}

impl Adapter {
    /// The committed sale `id` (`Sales::sale`).
    pub(super) async fn sale_read(&self, id: &SaleId) -> Result<Option<Sale>, StoreError> {
        sale_by_id(self.pool(), id.as_str())
            .await?
            .map(KeyedSaleRow::into_sale)
            .transpose()
    }

    /// The sale row's insert hit a unique key: this sale's own id (a retry of a sale whose
    /// answer was lost, and the first attempt committed: its sale), else the idempotency key.
    pub(super) async fn replay_as(
        &self,
        id: &SaleId,
        req: &SaleRequest,
    ) -> Result<SaleOutcome, StoreError> {
        if let Some(row) = sale_by_id(self.pool(), id.as_str()).await? {
            return row.replay_by_id(req);
        }
        self.replay(req).await
    }

    /// A retry with a used idempotency key: the original sale, or `KeyReused`.
    async fn replay(&self, req: &SaleRequest) -> Result<SaleOutcome, StoreError> {
        let key = req.idempotency_key.as_deref().unwrap_or_default();
        let Some(row) = sale_by_key(self.pool(), key).await? else {
            // The key's owner rolled back between our conflict and this read.
            return Err(StoreError::Unavailable(
                "concurrent request with the same idempotency key".into(),
            ));
        };
        row.replay_by_key(req)
    }

    /// The path of a purchase refused for lack of stock (outside the failed sale's
    /// transaction): 404, or 409 with the open factory order, opened if needed.
    pub(super) async fn refuse(&self, req: &SaleRequest) -> Result<SaleOutcome, StoreError> {
        let Some(view) = refusal_view(self.pool(), req.sku.as_str()).await? else {
            return Ok(SaleOutcome::UnknownSku);
        };
        let available = view.stock;
        if let (Some(id), Some(status)) = (view.order_id, view.order_status) {
            let order = OrderRefRow { id, status }.into_ref()?;
            return Ok(SaleOutcome::OutOfStock {
                available,
                order,
                event: None,
            });
        }
        // Write intent up front (SQLite: BEGIN IMMEDIATE), so the read inside cannot go stale
        // before the insert.
        let mut tx = self.pool().begin_with(dialect::BEGIN_WRITE).await?;
        let (order, event) =
            ensure_open_order(&mut tx, req.sku.as_str(), &req.correlation_id, now_millis()).await?;
        tx.commit().await?;
        Ok(SaleOutcome::OutOfStock {
            available,
            order,
            event,
        })
    }
}
