//! A purchase in memory (`Sales`), in `donut_sell`'s order (migrations/current/procedures.sql,
//! the sale rule): the sale's id or key already used is a replay, before any stock is touched;
//! then the conditional decrement of the total; the remaining stock recorded for a keyed sale;
//! the SKU's one open factory order at or below the reorder point. A refusal opens it too.

use super::{MemoryStore, SaleRecord, State};
use crate::domain::{Sale, SaleId, SaleRequest, Sku, now_millis};
use crate::store::rows::KeyedSaleRow;
use crate::store::{SaleOutcome, SaleRow, Sales, StoreError};

#[async_trait::async_trait]
impl Sales for MemoryStore {
    async fn sell_as(&self, id: &SaleId, req: &SaleRequest) -> Result<SaleOutcome, StoreError> {
        let now = now_millis();
        let q = req.quantity.get();
        let mut st = self.state()?;
        if let Some(row) = st.sale_row(|s| s.row.id == id.as_str()) {
            return row.replay_by_id(req);
        }
        if let Some(key) = &req.idempotency_key
            && let Some(row) = st.sale_row(|s| s.idempotency_key.as_ref() == Some(key))
        {
            return row.replay_by_key(req);
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
                id: id.to_string(),
                sku: req.sku.as_str().to_owned(),
                quantity: q,
                // Only a keyed sale's replay needs it; `Sales::sale` reads the others' stock now.
                remaining_stock: req.idempotency_key.as_ref().map(|_| remaining),
                correlation_id: req.correlation_id.to_string(),
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
            id.clone(),
            remaining,
            now,
            factory_order,
            event,
        ))
    }

    async fn sale(&self, id: &SaleId) -> Result<Option<Sale>, StoreError> {
        self.state()?
            .sale_row(|s| s.row.id == id.as_str())
            .map(KeyedSaleRow::into_sale)
            .transpose()
    }
}

impl State {
    /// The first sale `which` picks, as the databases read it back (`remaining_stock`: as
    /// recorded, else the SKU's stock now).
    fn sale_row(&self, which: impl Fn(&SaleRecord) -> bool) -> Option<KeyedSaleRow> {
        let s = self.sales.iter().find(|s| which(s))?;
        let now = Sku::parse(&s.row.sku)
            .ok()
            .and_then(|sku| self.products.get(&sku))
            .map(|p| p.stock);
        Some(KeyedSaleRow {
            id: s.row.id.clone(),
            sku: s.row.sku.clone(),
            quantity: s.row.quantity,
            remaining_stock: s.row.remaining_stock.or(now),
            created_at: s.row.created_at,
            request_hash: s.fingerprint.clone(),
        })
    }
}
