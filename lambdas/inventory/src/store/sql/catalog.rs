//! Products and their stock: `GET /inventory`, the admin PUT. (Compiled once per database; see
//! `store/mod.rs`.)

use super::stock::{add_buckets, lock_buckets, spread};
use super::{Adapter, Db, dialect};
use crate::domain::{Millis, Product, ProductSpec, Sku, now_millis};
use crate::store::error::is_unique_violation;
use crate::store::rows::ProductRow;
use crate::store::{Catalog, StoreError};
use sqlx::Executor;

/// A product with its total stock and its open factory order: the shape of every product read
/// (a literal, so `concat!` can extend it: sqlx takes only `&'static str` SQL).
macro_rules! select_products {
    () => {
        concat!(
            "SELECT p.sku, p.name, ",
            total_stock!(),
            " AS stock, p.reorder_point, p.reorder_quantity, p.buckets, p.updated_at, \
             (SELECT MAX(b.updated_at) FROM stock_buckets b WHERE b.sku = p.sku) \
               AS stock_updated_at, \
             fo.id AS order_id, fo.status AS order_status, fo.quantity AS order_quantity \
             FROM products p LEFT JOIN factory_orders fo \
             ON fo.sku = p.sku AND fo.status IN ('pending', 'requested')"
        )
    };
}

pub(super) async fn select_product<'e>(
    ex: impl Executor<'e, Database = Db>,
    sku: &str,
) -> Result<Option<ProductRow>, sqlx::Error> {
    sqlx::query_as(concat!(select_products!(), " WHERE p.sku = ?"))
        .bind(sku)
        .fetch_optional(ex)
        .await
}

pub(super) async fn select_products<'e>(
    ex: impl Executor<'e, Database = Db>,
) -> Result<Vec<ProductRow>, sqlx::Error> {
    sqlx::query_as(concat!(select_products!(), " ORDER BY p.sku LIMIT 10000"))
        .fetch_all(ex)
        .await
}

type Tx = sqlx::Transaction<'static, Db>;

async fn insert_product(tx: &mut Tx, spec: &ProductSpec, now: Millis) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO products (sku, name, reorder_point, reorder_quantity, buckets, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(spec.sku.as_str())
    .bind(&spec.name)
    .bind(spec.reorder_point)
    .bind(spec.reorder_quantity)
    .bind(spec.buckets)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

async fn update_product(tx: &mut Tx, spec: &ProductSpec, now: Millis) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE products SET name = ?, reorder_point = ?, reorder_quantity = ?, buckets = ?, \
         updated_at = ? WHERE sku = ?",
    )
    .bind(&spec.name)
    .bind(spec.reorder_point)
    .bind(spec.reorder_quantity)
    .bind(spec.buckets)
    .bind(now)
    .bind(spec.sku.as_str())
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

impl Adapter {
    async fn product_once(&self, sku: &Sku) -> Result<Option<Product>, StoreError> {
        select_product(self.pool(), sku.as_str())
            .await?
            .map(ProductRow::into_product)
            .transpose()
    }

    async fn products_once(&self) -> Result<Vec<Product>, StoreError> {
        select_products(self.pool())
            .await?
            .into_iter()
            .map(ProductRow::into_product)
            .collect()
    }

    /// Creates or replaces the product and sets its stock (the given total, or the current one
    /// when none is given) spread over its buckets, in one transaction: the product row first,
    /// then every bucket row (the lock order of every stock writer).
    async fn put_product_once(&self, spec: &ProductSpec) -> Result<(Product, bool), StoreError> {
        let now = now_millis();
        let sku = spec.sku.as_str();
        let mut tx = self.pool().begin_with(dialect::BEGIN_WRITE).await?;
        let created = match insert_product(&mut tx, spec, now).await {
            Ok(()) => true,
            Err(e) if is_unique_violation(&e) => {
                update_product(&mut tx, spec, now).await?;
                false
            }
            Err(e) => return Err(e.into()),
        };
        let (rows, total) = lock_buckets(&mut tx, sku).await?;
        add_buckets(&mut tx, sku, rows, spec.buckets, now).await?;
        spread(&mut tx, sku, spec.buckets, spec.stock.unwrap_or(total), now).await?;
        tx.commit().await.map_err(StoreError::from_commit)?;
        let product = self
            .product_once(&spec.sku)
            .await
            .map_err(StoreError::after_commit)?
            .ok_or_else(|| {
                StoreError::Corrupt(format!("product {} vanished after write", spec.sku).into())
            })?;
        Ok((product, created))
    }
}

#[async_trait::async_trait]
impl Catalog for Adapter {
    async fn product(&self, sku: &Sku) -> Result<Option<Product>, StoreError> {
        self.retry_auth("product", || self.product_once(sku)).await
    }
    async fn products(&self) -> Result<Vec<Product>, StoreError> {
        self.retry_auth("products", || self.products_once()).await
    }
    async fn put_product(&self, spec: &ProductSpec) -> Result<(Product, bool), StoreError> {
        self.retry_auth("put_product", || self.put_product_once(spec))
            .await
    }
}
