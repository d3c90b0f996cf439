//! A purchase in memory: the idempotency key, the decrement, the stock-out (`Sales`).

use super::{MemoryStore, SaleRecord, State};
use crate::domain::{Sale, SaleRequest, now_millis};
use crate::store::{SaleOutcome, SaleRow, Sales, StoreError};

#[async_trait::async_trait]
impl Sales for MemoryStore {
    async fn sell_as(&self, id: &str, req: &SaleRequest) -> Result<SaleOutcome, StoreError> {
        let now = now_millis();
        let q = req.quantity.get();
        let mut st = self.state()?;
        // The same id again (a retry of a sale whose answer was lost): that sale.
        if let Some(sale) = st.sale(id) {
            return Ok(SaleOutcome::Replayed(sale));
        }
        if let Some(key) = &req.idempotency_key
            && let Some(used) = st
                .sales
                .iter()
                .find(|s| s.idempotency_key.as_ref() == Some(key))
        {
            if used.fingerprint.as_deref() != Some(req.fingerprint().as_str()) {
                return Ok(SaleOutcome::KeyReused);
            }
            return Ok(SaleOutcome::Replayed(Sale {
                id: used.row.id.clone(),
                sku: req.sku.clone(),
                quantity: used.row.quantity,
                remaining_stock: used.row.remaining_stock.unwrap_or_default(),
                created_at: used.row.created_at,
                factory_order: None,
            }));
        }
        let Some(product) = st.products.get_mut(&req.sku) else {
            return Ok(SaleOutcome::UnknownSku);
        };
        if product.stock < q {
            let available = product.stock;
            let (order, event) = st.ensure_open_order(&req.sku, &req.correlation_id, now)?;
            return Ok(SaleOutcome::OutOfStock {
                available,
                order,
                event,
            });
        }
        product.stock -= q;
        product.updated_at = now;
        let remaining = product.stock;
        let reorder = remaining <= product.reorder_point;
        st.sales.push(SaleRecord {
            row: SaleRow {
                id: id.to_owned(),
                sku: req.sku.as_str().to_owned(),
                quantity: q,
                remaining_stock: Some(remaining),
                correlation_id: req.correlation_id.clone(),
                created_at: now,
            },
            idempotency_key: req.idempotency_key.clone(),
            fingerprint: req.idempotency_key.as_ref().map(|_| req.fingerprint()),
        });
        let (factory_order, event) = if reorder {
            let (order, event) = st.ensure_open_order(&req.sku, &req.correlation_id, now)?;
            (Some(order), event)
        } else {
            (None, None)
        };
        Ok(SaleOutcome::sold(
            req,
            id.to_owned(),
            remaining,
            now,
            factory_order,
            event,
        ))
    }

    async fn sale(&self, id: &str) -> Result<Option<Sale>, StoreError> {
        Ok(self.state()?.sale(id))
    }
}

impl State {
    /// The sale `id`, as the databases read it back (`remaining_stock`: as recorded, else the
    /// SKU's stock now).
    fn sale(&self, id: &str) -> Option<Sale> {
        let s = self.sales.iter().find(|s| s.row.id == id)?;
        let sku = crate::domain::Sku::parse(&s.row.sku).ok()?;
        let now = self.products.get(&sku).map(|p| p.stock).unwrap_or_default();
        Some(Sale {
            id: s.row.id.clone(),
            quantity: s.row.quantity,
            remaining_stock: s.row.remaining_stock.unwrap_or(now),
            created_at: s.row.created_at,
            factory_order: None,
            sku,
        })
    }
}
