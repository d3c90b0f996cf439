//! Read-only reports: the daily exports and the reconciliation ledger. Sums are cast to
//! `SIGNED INTEGER`, which MySQL reads as a BIGINT cast and SQLite as INTEGER affinity, so one
//! statement serves both. (Compiled once per database; see `store/mod.rs`.)

use super::{Adapter, Db};
use crate::domain::Millis;
use crate::store::rows::{ExportSaleRow, LedgerRow, MovementRow};
use crate::store::{Ledger, Movement, Reports, SaleRow, StoreError};
use sqlx::Executor;

async fn sales_in<'e>(
    ex: impl Executor<'e, Database = Db>,
    from: Millis,
    to: Millis,
) -> Result<Vec<ExportSaleRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, sku, quantity, remaining_stock, correlation_id, created_at FROM sales \
         WHERE created_at >= ? AND created_at < ? ORDER BY created_at, id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(ex)
    .await
}

async fn movements_in<'e>(
    ex: impl Executor<'e, Database = Db>,
    from: Millis,
    to: Millis,
) -> Result<Vec<MovementRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT sku, CAST(SUM(sold) AS SIGNED INTEGER) AS sold, \
         CAST(SUM(restocked) AS SIGNED INTEGER) AS restocked FROM ( \
         SELECT sku, quantity AS sold, 0 AS restocked FROM sales \
         WHERE created_at >= ? AND created_at < ? \
         UNION ALL SELECT sku, 0, quantity FROM restocks \
         WHERE created_at >= ? AND created_at < ?) m GROUP BY sku ORDER BY sku",
    )
    .bind(from)
    .bind(to)
    .bind(from)
    .bind(to)
    .fetch_all(ex)
    .await
}

async fn ledger_rows<'e>(
    ex: impl Executor<'e, Database = Db>,
) -> Result<Vec<LedgerRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT p.sku, ",
        total_stock!(),
        " AS stock, \
         CAST((SELECT COALESCE(SUM(s.quantity), 0) FROM sales s WHERE s.sku = p.sku) \
           AS SIGNED INTEGER) AS sold, \
         CAST((SELECT COALESCE(SUM(r.quantity), 0) FROM restocks r WHERE r.sku = p.sku) \
           AS SIGNED INTEGER) AS restocked, \
         CAST((SELECT COUNT(*) FROM factory_orders f WHERE f.sku = p.sku \
           AND f.status IN ('pending', 'requested')) AS SIGNED INTEGER) AS open_orders \
         FROM products p ORDER BY p.sku"
    ))
    .fetch_all(ex)
    .await
}

#[async_trait::async_trait]
impl Reports for Adapter {
    async fn sales_between(&self, from: Millis, to: Millis) -> Result<Vec<SaleRow>, StoreError> {
        self.retry_auth("sales_between", || async {
            let rows = sales_in(self.pool(), from, to).await?;
            Ok(rows.into_iter().map(SaleRow::from).collect())
        })
        .await
    }
    async fn movements_between(
        &self,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<Movement>, StoreError> {
        self.retry_auth("movements_between", || async {
            let rows = movements_in(self.pool(), from, to).await?;
            Ok(rows.into_iter().map(Movement::from).collect())
        })
        .await
    }
    async fn ledger(&self) -> Result<Vec<Ledger>, StoreError> {
        self.retry_auth("ledger", || async {
            let rows = ledger_rows(self.pool()).await?;
            Ok(rows.into_iter().map(Ledger::from).collect())
        })
        .await
    }
}
