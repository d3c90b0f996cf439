//! Products and their stock in memory (`Catalog`), with the tables' CHECK constraints.

use super::{MemoryStore, ProductRecord};
use crate::domain::{Product, ProductSpec, Sku, now_millis};
use crate::store::{Catalog, StoreError};

#[async_trait::async_trait]
impl Catalog for MemoryStore {
    async fn product(&self, sku: &Sku) -> Result<Option<Product>, StoreError> {
        Ok(self.state()?.product(sku))
    }

    async fn products(&self) -> Result<Vec<Product>, StoreError> {
        let st = self.state()?;
        Ok(st.products.keys().filter_map(|s| st.product(s)).collect())
    }

    async fn put_product(&self, spec: &ProductSpec) -> Result<(Product, bool), StoreError> {
        // The tables' CHECK constraints (callers can build a `ProductSpec` by hand).
        if spec.stock.is_some_and(|s| s < 0)
            || spec.reorder_point < 0
            || spec.reorder_quantity <= 0
            || !(1..=crate::domain::MAX_BUCKETS).contains(&spec.buckets)
        {
            return Err(StoreError::Database(
                format!("CHECK constraint failed for product {}", spec.sku).into(),
            ));
        }
        let mut st = self.state()?;
        let current = st.products.get(&spec.sku).map(|p| p.stock);
        let record = ProductRecord {
            name: spec.name.clone(),
            stock: spec.stock.or(current).unwrap_or(0),
            reorder_point: spec.reorder_point,
            reorder_quantity: spec.reorder_quantity,
            buckets: spec.buckets,
            updated_at: now_millis(),
        };
        let created = st.products.insert(spec.sku.clone(), record).is_none();
        let product = st.product(&spec.sku).ok_or_else(|| {
            StoreError::Corrupt(format!("product {} vanished after write", spec.sku).into())
        })?;
        Ok((product, created))
    }
}
