//! The part of the two adapters whose SQL is the same on MySQL and SQLite, written once and
//! instantiated for each database by a macro (sqlx's generic executor bounds would cost more
//! lines than they save). Only the hot sale path differs per database; see `mysql.rs` and
//! `sqlite.rs`.

use super::{
    FulfillOutcome, Ledger, Movement, OutboxEntry, SaleOutcome, SaleRow, StoreError, StuckOrders,
    clip, event_json, is_unique_violation, order_from_parts, product_from_parts, sql,
    stock_out_event, transition_from_parts,
};
use crate::domain::{
    FactoryOrder, Millis, OrderRef, OrderStatus, Product, ProductSpec, Sale, SaleRequest, Sku,
    StockOutEvent, new_id, now_millis,
};

pub struct SqlCore<DB: sqlx::Database> {
    pub pool: sqlx::Pool<DB>,
}

macro_rules! sql_core {
    ($db:ty, $int:literal, $begin_write:literal, $locking_read:literal) => {
        impl SqlCore<$db> {
            pub async fn product(&self, sku: &Sku) -> Result<Option<Product>, StoreError> {
                let q = concat!(
                    "SELECT p.sku, p.name, p.stock, p.reorder_point, p.reorder_quantity, ",
                    "p.updated_at, fo.id, fo.status, fo.quantity FROM products p ",
                    "LEFT JOIN factory_orders fo ON fo.sku = p.sku ",
                    "AND fo.status IN ('pending', 'requested') WHERE p.sku = ?"
                );
                let row = sqlx::query_as(q)
                    .bind(sku.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(product_from_parts).transpose()
            }

            pub async fn products(&self) -> Result<Vec<Product>, StoreError> {
                let q = concat!(
                    "SELECT p.sku, p.name, p.stock, p.reorder_point, p.reorder_quantity, ",
                    "p.updated_at, fo.id, fo.status, fo.quantity FROM products p ",
                    "LEFT JOIN factory_orders fo ON fo.sku = p.sku ",
                    "AND fo.status IN ('pending', 'requested') ORDER BY p.sku LIMIT 10000"
                );
                let rows = sqlx::query_as(q).fetch_all(&self.pool).await?;
                rows.into_iter().map(product_from_parts).collect()
            }

            pub async fn put_product(
                &self,
                spec: &ProductSpec,
            ) -> Result<(Product, bool), StoreError> {
                let now = now_millis();
                let inserted = sqlx::query(sql::INSERT_PRODUCT)
                    .bind(spec.sku.as_str())
                    .bind(&spec.name)
                    .bind(spec.stock)
                    .bind(spec.reorder_point)
                    .bind(spec.reorder_quantity)
                    .bind(now)
                    .execute(&self.pool)
                    .await;
                let created = match inserted {
                    Ok(_) => true,
                    Err(e) if is_unique_violation(&e) => {
                        sqlx::query(sql::UPDATE_PRODUCT)
                            .bind(&spec.name)
                            .bind(spec.stock)
                            .bind(spec.reorder_point)
                            .bind(spec.reorder_quantity)
                            .bind(now)
                            .bind(spec.sku.as_str())
                            .execute(&self.pool)
                            .await?;
                        false
                    }
                    Err(e) => return Err(e.into()),
                };
                let product = self.product(&spec.sku).await?.ok_or_else(|| {
                    StoreError::Corrupt(format!("product {} vanished after write", spec.sku))
                })?;
                Ok((product, created))
            }

            pub async fn factory_order(&self, id: &str) -> Result<Option<FactoryOrder>, StoreError> {
                let q = concat!(
                    "SELECT id, sku, quantity, status, attempts, factory_ref, last_error, ",
                    "last_event_id, correlation_id, created_at, updated_at, requested_at ",
                    "FROM factory_orders WHERE id = ?"
                );
                let Some(row) = sqlx::query_as(q).bind(id).fetch_optional(&self.pool).await?
                else {
                    return Ok(None);
                };
                let transitions = sqlx::query_as(sql::TRANSITIONS)
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(transition_from_parts)
                    .collect::<Result<Vec<_>, _>>()?;
                order_from_parts(row, transitions).map(Some)
            }

            pub async fn orders_in(
                &self,
                status: OrderStatus,
                limit: i64,
            ) -> Result<Vec<FactoryOrder>, StoreError> {
                let q = concat!(
                    "SELECT id, sku, quantity, status, attempts, factory_ref, last_error, ",
                    "last_event_id, correlation_id, created_at, updated_at, requested_at ",
                    "FROM factory_orders WHERE status = ? ORDER BY updated_at LIMIT ?"
                );
                let rows = sqlx::query_as(q)
                    .bind(status.as_str())
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter()
                    .map(|r| order_from_parts(r, Vec::new()))
                    .collect()
            }

            /// A retry with a used idempotency key: the original sale, or `KeyReused`.
            pub async fn replay(&self, req: &SaleRequest) -> Result<SaleOutcome, StoreError> {
                let key = req.idempotency_key.as_deref().unwrap_or_default();
                let row: Option<(String, String, i64, Option<i64>, i64, Option<String>)> =
                    sqlx::query_as(sql::SALE_BY_KEY)
                        .bind(key)
                        .fetch_optional(&self.pool)
                        .await?;
                let Some((id, sku, quantity, remaining, created_at, hash)) = row else {
                    // The key's owner rolled back between our conflict and this read.
                    return Err(StoreError::Unavailable(
                        "concurrent request with the same idempotency key".into(),
                    ));
                };
                if hash.as_deref() != Some(req.fingerprint().as_str()) {
                    return Ok(SaleOutcome::KeyReused);
                }
                Ok(SaleOutcome::Replayed(Sale {
                    id,
                    sku: super::sku_of(&sku)?,
                    quantity,
                    remaining_stock: remaining.unwrap_or_default(),
                    created_at,
                    factory_order: None,
                }))
            }

            /// Inserts the sale row (inside the sale's transaction). `Ok(false)` when the
            /// idempotency key is already taken.
            pub(crate) async fn insert_sale(
                tx: &mut sqlx::Transaction<'static, $db>,
                id: &str,
                req: &SaleRequest,
                remaining: Option<i64>,
                now: Millis,
            ) -> Result<bool, StoreError> {
                let res = sqlx::query(sql::INSERT_SALE)
                    .bind(id)
                    .bind(req.sku.as_str())
                    .bind(req.quantity.get())
                    .bind(remaining)
                    .bind(req.idempotency_key.as_deref())
                    .bind(req.idempotency_key.as_ref().map(|_| req.fingerprint()))
                    .bind(&req.correlation_id)
                    .bind(now)
                    .execute(&mut **tx)
                    .await;
                match res {
                    Ok(_) => Ok(true),
                    Err(e) if is_unique_violation(&e) => Ok(false),
                    Err(e) => Err(e.into()),
                }
            }

            /// Within a transaction: the SKU's open factory order, opening one (plus its
            /// outbox event) when there is none. The unique key on open orders decides races.
            pub(crate) async fn ensure_open_order(
                tx: &mut sqlx::Transaction<'static, $db>,
                sku: &str,
                correlation_id: &str,
                now: Millis,
            ) -> Result<(OrderRef, Option<StockOutEvent>), StoreError> {
                let existing: Option<(String, String)> = sqlx::query_as(sql::OPEN_ORDER_FOR_SKU)
                    .bind(sku)
                    .fetch_optional(&mut **tx)
                    .await?;
                if let Some((id, status)) = existing {
                    return Ok((OrderRef { id, status: super::status_of(&status)? }, None));
                }
                let id = new_id();
                let inserted = sqlx::query(sql::INSERT_ORDER)
                    .bind(&id)
                    .bind(correlation_id)
                    .bind(now)
                    .bind(now)
                    .bind(sku)
                    .execute(&mut **tx)
                    .await;
                match inserted {
                    Ok(r) if r.rows_affected() == 1 => {}
                    Ok(_) => {
                        return Err(StoreError::Corrupt(format!("no product {sku} for order")));
                    }
                    Err(e) if is_unique_violation(&e) => {
                        // Another transaction opened it and committed. A plain read would use
                        // this transaction's (older) snapshot on MySQL; a locking read sees it.
                        let q = concat!(
                            "SELECT id, status FROM factory_orders WHERE sku = ? ",
                            "AND status IN ('pending', 'requested')",
                            $locking_read
                        );
                        let (id, status): (String, String) = sqlx::query_as(q)
                                .bind(sku)
                                .fetch_one(&mut **tx)
                                .await?;
                        return Ok((OrderRef { id, status: super::status_of(&status)? }, None));
                    }
                    Err(e) => return Err(e.into()),
                }
                let (quantity,): (i64,) = sqlx::query_as(sql::ORDER_QUANTITY)
                    .bind(&id)
                    .fetch_one(&mut **tx)
                    .await?;
                sqlx::query(sql::INSERT_TRANSITION)
                    .bind(&id)
                    .bind("pending")
                    .bind("stock-out: factory order opened")
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                let event = stock_out_event(&id, sku, quantity, correlation_id, now);
                sqlx::query(sql::INSERT_OUTBOX)
                    .bind(&event.event_id)
                    .bind(&id)
                    .bind(event_json(&event)?)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                Ok((OrderRef { id, status: OrderStatus::Pending }, Some(event)))
            }

            /// The path of a purchase refused for lack of stock (outside the failed sale's
            /// transaction): 404, or 409 with the open factory order, opened if needed.
            pub async fn refuse(&self, req: &SaleRequest) -> Result<SaleOutcome, StoreError> {
                let view: Option<(i64, i64, Option<String>, Option<String>)> =
                    sqlx::query_as(sql::REFUSAL_VIEW)
                        .bind(req.sku.as_str())
                        .fetch_optional(&self.pool)
                        .await?;
                let Some((available, _reorder_qty, open_id, open_status)) = view else {
                    return Ok(SaleOutcome::UnknownSku);
                };
                if let (Some(id), Some(status)) = (open_id, open_status) {
                    let order = OrderRef { id, status: super::status_of(&status)? };
                    return Ok(SaleOutcome::OutOfStock { available, order, event: None });
                }
                // Write intent up front (SQLite: BEGIN IMMEDIATE), so the read inside cannot
                // go stale before the insert.
                let mut tx = self.pool.begin_with($begin_write).await?;
                let (order, event) = Self::ensure_open_order(
                    &mut tx,
                    req.sku.as_str(),
                    &req.correlation_id,
                    now_millis(),
                )
                .await?;
                tx.commit().await?;
                Ok(SaleOutcome::OutOfStock { available, order, event })
            }

            pub async fn mark_requested(
                &self,
                id: &str,
                factory_ref: &str,
                event_id: &str,
            ) -> Result<bool, StoreError> {
                let now = now_millis();
                let mut tx = self.pool.begin().await?;
                let n = sqlx::query(sql::MARK_REQUESTED)
                    .bind(clip(factory_ref, 200))
                    .bind(event_id)
                    .bind(now)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 1 {
                    let note = format!("factory accepted (ref {})", clip(factory_ref, 200));
                    Self::transition(&mut tx, id, "requested", &note, now).await?;
                }
                tx.commit().await?;
                Ok(n == 1)
            }

            pub async fn record_failure(
                &self,
                id: &str,
                error: &str,
                give_up: bool,
            ) -> Result<(), StoreError> {
                let now = now_millis();
                let error = clip(error, 1000);
                let mut tx = self.pool.begin().await?;
                let q = if give_up { sql::GIVE_UP } else { sql::RECORD_FAILURE };
                let n = sqlx::query(q)
                    .bind(&error)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 1 && give_up {
                    Self::transition(&mut tx, id, "failed", &error, now).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            pub async fn reopen(&self, id: &str, note: &str) -> Result<bool, StoreError> {
                let now = now_millis();
                // A newer order for the same SKU (open or already fulfilled) supersedes this
                // one: reopening it would make a second batch for one stock-out.
                let (newer,): (i64,) = sqlx::query_as(concat!(
                    "SELECT COUNT(*) FROM factory_orders n JOIN factory_orders o ",
                    "ON n.sku = o.sku AND n.id <> o.id AND n.created_at >= o.created_at ",
                    "WHERE o.id = ?"
                ))
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
                if newer > 0 {
                    return Ok(false);
                }
                let mut tx = self.pool.begin().await?;
                let res = sqlx::query(sql::REOPEN).bind(now).bind(id).execute(&mut *tx).await;
                let n = match res {
                    Ok(r) => r.rows_affected(),
                    Err(e) if is_unique_violation(&e) => 0,
                    Err(e) => return Err(e.into()),
                };
                if n == 1 {
                    Self::transition(&mut tx, id, "pending", note, now).await?;
                }
                tx.commit().await?;
                Ok(n == 1)
            }

            pub async fn fulfill(
                &self,
                id: &str,
                correlation_id: &str,
            ) -> Result<FulfillOutcome, StoreError> {
                let now = now_millis();
                let mut tx = self.pool.begin().await?;
                let n = sqlx::query(sql::FULFILL)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 1 {
                    let (sku, quantity): (String, i64) =
                        sqlx::query_as("SELECT sku, quantity FROM factory_orders WHERE id = ?")
                            .bind(id)
                            .fetch_one(&mut *tx)
                            .await?;
                    sqlx::query(sql::INSERT_RESTOCK)
                        .bind(id)
                        .bind(&sku)
                        .bind(quantity)
                        .bind(correlation_id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(sql::ADD_STOCK)
                        .bind(quantity)
                        .bind(now)
                        .bind(&sku)
                        .execute(&mut *tx)
                        .await?;
                    let note = format!("factory completed; restocked {quantity}");
                    Self::transition(&mut tx, id, "fulfilled", &note, now).await?;
                }
                tx.commit().await?;
                match self.factory_order(id).await? {
                    None => Ok(FulfillOutcome::Unknown),
                    Some(o) if n == 1 => Ok(FulfillOutcome::Restocked(o)),
                    Some(o) => Ok(FulfillOutcome::AlreadyClosed(o)),
                }
            }

            async fn transition(
                tx: &mut sqlx::Transaction<'static, $db>,
                id: &str,
                status: &str,
                note: &str,
                now: Millis,
            ) -> Result<(), StoreError> {
                sqlx::query(sql::INSERT_TRANSITION)
                    .bind(id)
                    .bind(status)
                    .bind(note)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            pub async fn unpublished(
                &self,
                created_before: Millis,
                limit: i64,
            ) -> Result<Vec<OutboxEntry>, StoreError> {
                let rows: Vec<(String, String, i64)> = sqlx::query_as(sql::UNPUBLISHED)
                    .bind(created_before)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id, payload, created_at)| OutboxEntry { id, payload, created_at })
                    .collect())
            }

            pub async fn mark_published(&self, event_id: &str) -> Result<(), StoreError> {
                sqlx::query(sql::MARK_PUBLISHED)
                    .bind(now_millis())
                    .bind(event_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            pub async fn note_publish_failure(&self, event_id: &str) -> Result<(), StoreError> {
                sqlx::query(sql::PUBLISH_FAILED)
                    .bind(event_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            pub async fn handle_stuck(
                &self,
                requested_before: Millis,
                max_attempts: i64,
                limit: i64,
            ) -> Result<StuckOrders, StoreError> {
                let rows: Vec<(String, String, i64, i64, String, Option<i64>)> =
                    sqlx::query_as(sql::STUCK)
                        .bind(requested_before)
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?;
                let mut out = StuckOrders::default();
                for (id, sku, quantity, attempts, correlation_id, requested_at) in rows {
                    if attempts >= max_attempts {
                        // Giving up is not another request: attempts stay as they are.
                        let why = format!("no completion from the factory after {attempts} requests");
                        let now = now_millis();
                        let mut tx = self.pool.begin().await?;
                        let n = sqlx::query(sql::FAIL_STUCK)
                            .bind(&why)
                            .bind(now)
                            .bind(&id)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        if n == 1 {
                            Self::transition(&mut tx, &id, "failed", &why, now).await?;
                            out.failed.push(id);
                        }
                        tx.commit().await?;
                        continue;
                    }
                    let now = now_millis();
                    let mut tx = self.pool.begin().await?;
                    let bumped = sqlx::query(sql::BUMP_REQUESTED)
                        .bind(now)
                        .bind(now)
                        .bind(&id)
                        .bind(requested_at)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if bumped != 1 {
                        // Completed or re-sent concurrently: nothing to do.
                        tx.rollback().await?;
                        continue;
                    }
                    let event = stock_out_event(&id, &sku, quantity, &correlation_id, now);
                    sqlx::query(sql::INSERT_OUTBOX)
                        .bind(&event.event_id)
                        .bind(&id)
                        .bind(event_json(&event)?)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    let note = format!("no completion yet: re-sending (attempt {})", attempts + 1);
                    Self::transition(&mut tx, &id, "requested", &note, now).await?;
                    tx.commit().await?;
                    out.resend.push(event);
                }
                Ok(out)
            }

            pub async fn sales_between(
                &self,
                from: Millis,
                to: Millis,
            ) -> Result<Vec<SaleRow>, StoreError> {
                let rows: Vec<(String, String, i64, Option<i64>, String, i64)> =
                    sqlx::query_as(sql::SALES_BETWEEN)
                        .bind(from)
                        .bind(to)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id, sku, quantity, remaining_stock, correlation_id, created_at)| {
                        SaleRow { id, sku, quantity, remaining_stock, correlation_id, created_at }
                    })
                    .collect())
            }

            pub async fn movements_between(
                &self,
                from: Millis,
                to: Millis,
            ) -> Result<Vec<Movement>, StoreError> {
                let rows: Vec<(String, i64, i64)> =
                    sqlx::query_as(sql::movements_between!($int))
                        .bind(from)
                        .bind(to)
                        .bind(from)
                        .bind(to)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows
                    .into_iter()
                    .map(|(sku, sold, restocked)| Movement { sku, sold, restocked })
                    .collect())
            }

            pub async fn ledger(&self) -> Result<Vec<Ledger>, StoreError> {
                let q = concat!(
                    "SELECT p.sku, p.stock, ",
                    "CAST((SELECT COALESCE(SUM(s.quantity), 0) FROM sales s WHERE s.sku = p.sku) AS ", $int, "), ",
                    "CAST((SELECT COALESCE(SUM(r.quantity), 0) FROM restocks r WHERE r.sku = p.sku) AS ", $int, "), ",
                    "CAST((SELECT COUNT(*) FROM factory_orders f WHERE f.sku = p.sku ",
                    "AND f.status IN ('pending', 'requested')) AS ", $int, ") ",
                    "FROM products p ORDER BY p.sku"
                );
                let rows: Vec<(String, i64, i64, i64, i64)> =
                    sqlx::query_as(q).fetch_all(&self.pool).await?;
                Ok(rows
                    .into_iter()
                    .map(|(sku, stock, sold, restocked, open_orders)| Ledger {
                        sku,
                        stock,
                        sold,
                        restocked,
                        open_orders,
                    })
                    .collect())
            }
        }
    };
}

sql_core!(sqlx::MySql, "SIGNED", "BEGIN", " LOCK IN SHARE MODE");
#[cfg(feature = "sqlite")]
sql_core!(sqlx::Sqlite, "INTEGER", "BEGIN IMMEDIATE", "");

/// Implements `Store` for an adapter: the adapter's own methods (`migrate`, `sell`) are passed
/// in, everything else delegates to its `core: SqlCore<DB>`.
macro_rules! store_impl {
    ($ty:ty, $backend:literal, { $($own:tt)* }) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $ty {
            fn backend(&self) -> &'static str {
                $backend
            }
            $($own)*
            async fn product(&self, sku: &$crate::domain::Sku) -> Result<Option<$crate::domain::Product>, StoreError> {
                self.retry_auth(|| self.core.product(sku)).await
            }
            async fn products(&self) -> Result<Vec<$crate::domain::Product>, StoreError> {
                self.retry_auth(|| self.core.products()).await
            }
            async fn put_product(&self, spec: &$crate::domain::ProductSpec) -> Result<($crate::domain::Product, bool), StoreError> {
                self.retry_auth(|| self.core.put_product(spec)).await
            }
            async fn factory_order(&self, id: &str) -> Result<Option<$crate::domain::FactoryOrder>, StoreError> {
                self.retry_auth(|| self.core.factory_order(id)).await
            }
            async fn mark_requested(&self, id: &str, factory_ref: &str, event_id: &str) -> Result<bool, StoreError> {
                self.retry_auth(|| self.core.mark_requested(id, factory_ref, event_id)).await
            }
            async fn record_failure(&self, id: &str, error: &str, give_up: bool) -> Result<(), StoreError> {
                self.retry_auth(|| self.core.record_failure(id, error, give_up)).await
            }
            async fn reopen(&self, id: &str, note: &str) -> Result<bool, StoreError> {
                self.retry_auth(|| self.core.reopen(id, note)).await
            }
            async fn fulfill(&self, id: &str, correlation_id: &str) -> Result<$crate::store::FulfillOutcome, StoreError> {
                self.retry_auth(|| self.core.fulfill(id, correlation_id)).await
            }
            async fn unpublished(&self, created_before: $crate::domain::Millis, limit: i64) -> Result<Vec<$crate::store::OutboxEntry>, StoreError> {
                self.retry_auth(|| self.core.unpublished(created_before, limit)).await
            }
            async fn mark_published(&self, event_id: &str) -> Result<(), StoreError> {
                self.retry_auth(|| self.core.mark_published(event_id)).await
            }
            async fn note_publish_failure(&self, event_id: &str) -> Result<(), StoreError> {
                self.retry_auth(|| self.core.note_publish_failure(event_id)).await
            }
            async fn handle_stuck(&self, requested_before: $crate::domain::Millis, max_attempts: i64, limit: i64) -> Result<$crate::store::StuckOrders, StoreError> {
                self.retry_auth(|| self.core.handle_stuck(requested_before, max_attempts, limit)).await
            }
            async fn orders_in(&self, status: $crate::domain::OrderStatus, limit: i64) -> Result<Vec<$crate::domain::FactoryOrder>, StoreError> {
                self.retry_auth(|| self.core.orders_in(status, limit)).await
            }
            async fn sales_between(&self, from: $crate::domain::Millis, to: $crate::domain::Millis) -> Result<Vec<$crate::store::SaleRow>, StoreError> {
                self.retry_auth(|| self.core.sales_between(from, to)).await
            }
            async fn movements_between(&self, from: $crate::domain::Millis, to: $crate::domain::Millis) -> Result<Vec<$crate::store::Movement>, StoreError> {
                self.retry_auth(|| self.core.movements_between(from, to)).await
            }
            async fn ledger(&self) -> Result<Vec<$crate::store::Ledger>, StoreError> {
                self.retry_auth(|| self.core.ledger()).await
            }
        }
    };
}
pub(crate) use store_impl;
