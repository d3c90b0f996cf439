//! The read-only reports in memory (`Reports`): the sales export, movements, the ledger.

use super::MemoryStore;
use crate::domain::Millis;
use crate::store::{Ledger, Movement, Reports, SaleRow, StoreError};
use std::collections::BTreeMap;

#[async_trait::async_trait]
impl Reports for MemoryStore {
    async fn sales_between(&self, from: Millis, to: Millis) -> Result<Vec<SaleRow>, StoreError> {
        let st = self.state()?;
        let mut rows: Vec<SaleRow> = st
            .sales
            .iter()
            .filter(|s| (from..to).contains(&s.row.created_at))
            .map(|s| s.row.clone())
            .collect();
        rows.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(rows)
    }

    async fn movements_between(
        &self,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<Movement>, StoreError> {
        let st = self.state()?;
        let mut by_sku: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for s in st
            .sales
            .iter()
            .filter(|s| (from..to).contains(&s.row.created_at))
        {
            by_sku.entry(s.row.sku.clone()).or_default().0 += s.row.quantity;
        }
        for (_, sku, quantity, at) in &st.restocks {
            if (from..to).contains(at) {
                by_sku.entry(sku.as_str().to_owned()).or_default().1 += quantity;
            }
        }
        Ok(by_sku
            .into_iter()
            .map(|(sku, (sold, restocked))| Movement {
                sku,
                sold,
                restocked,
            })
            .collect())
    }

    async fn ledger(&self) -> Result<Vec<Ledger>, StoreError> {
        let st = self.state()?;
        Ok(st
            .products
            .iter()
            .map(|(sku, p)| Ledger {
                sku: sku.as_str().to_owned(),
                stock: p.stock,
                sold: st
                    .sales
                    .iter()
                    .filter(|s| s.row.sku == sku.as_str())
                    .map(|s| s.row.quantity)
                    .sum(),
                restocked: st
                    .restocks
                    .iter()
                    .filter(|r| &r.1 == sku)
                    .map(|r| r.2)
                    .sum(),
                open_orders: i64::from(st.open_order(sku).is_some()),
            })
            .collect())
    }
}
