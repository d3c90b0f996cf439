//! `POST /sales`: one sale, idempotent per `Idempotency-Key`; a stock-out publishes its event
//! after the commit; a commit whose answer was lost is resolved before answering
//! (`outcome.rs`). `GET /sales/{id}`: a sale read back.

use super::outcome::{self, Deadline, Found};
use super::request::{Call, Reply, Seen};
use super::{ApiError, MAX_BODY};
use crate::domain::{
    Quantity, Sale, SaleId, SaleRequest, Sku, StockOutEvent, ValidationError, rfc3339,
};
use crate::messaging::{DynPublisher, publish_after_commit};
use crate::store::{Outbox, SaleOutcome, Sales, StoreError};
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SaleBody {
    sku: String,
    quantity: Value,
}

/// Where a sale's stock-out goes after its commit: published and its outbox row marked, or,
/// without a publisher (or when the publish fails), left to the outbox relay.
struct AfterCommit<'a> {
    outbox: &'a dyn Outbox,
    publisher: Option<&'a DynPublisher>,
}

impl AfterCommit<'_> {
    async fn publish(&self, event: &StockOutEvent) {
        if let Some(p) = self.publisher {
            publish_after_commit(self.outbox, p, event).await;
        }
    }
}

pub(super) async fn sell(
    State(sales): State<Arc<dyn Sales>>,
    State(outbox): State<Arc<dyn Outbox>>,
    State(publisher): State<Option<DynPublisher>>,
    seen: Seen,
    call: Call,
) -> Result<Reply, ApiError> {
    let body: SaleBody = call.json(MAX_BODY)?;
    let sku = Sku::parse(&body.sku)?;
    seen.sku(&sku);
    let quantity = body
        .quantity
        .as_i64()
        .ok_or(ValidationError::Quantity)
        .and_then(Quantity::new)?;
    seen.quantity(quantity.get());
    // A key that is present but not visible ASCII must not be read as "no key": the retry it
    // protects would sell twice.
    let idempotency_key = match call
        .head
        .headers
        .get("idempotency-key")
        .map(|v| v.as_bytes())
    {
        None => None,
        Some(k) if (1..=128).contains(&k.len()) && k.iter().all(|b| (0x21..0x7f).contains(b)) => {
            Some(String::from_utf8_lossy(k).into_owned())
        }
        Some(_) => {
            return Err(ApiError::InvalidRequest(
                "Idempotency-Key must be 1-128 printable ASCII characters".into(),
            ));
        }
    };
    let sale = SaleRequest {
        sku,
        quantity,
        idempotency_key,
        correlation_id: call.correlation_id.clone(),
    };
    // Chosen here, so the sale can be looked up if the answer of its commit is lost.
    let id = SaleId::new();
    let deadline = Deadline::of(&call);
    let after = AfterCommit {
        outbox: &*outbox,
        publisher: publisher.as_ref(),
    };
    // The first attempt runs under the deadline too: a sale still waiting (for a connection, a
    // lock) when Lambda's Timeout ends the invocation could commit after the buyer was told a
    // bare timeout. Cut before the deadline, it is answered `outcome_unknown` naming its id.
    match deadline.run(sales.sell_as(&id, &sale)).await {
        Some(Ok(outcome)) => answer(&after, &sale, outcome).await,
        Some(Err(e)) if e.is_ambiguous() => {
            tracing::warn!(error = %e, sale_id = %id, "the sale's commit is ambiguous: finding out");
            settle(&*sales, &after, &deadline, &id, &sale).await
        }
        Some(Err(e)) => Err(e.into()),
        None => {
            outcome::log("sale", "unknown", id.as_str());
            Err(ApiError::OutcomeUnknown {
                what: "sale",
                field: "sale_id",
                id: id.into(),
            })
        }
    }
}

/// The sale `id` whose commit was ambiguous: committed → `201` with it; certainly not → sold
/// once more as the same `id` (safe even if the first attempt commits late: the id is the
/// sales table's primary key, so one of the two finds the other's sale); still unknown at the
/// deadline → `503 outcome_unknown` naming `id` (`GET /sales/{id}` tells later).
async fn settle(
    sales: &dyn Sales,
    after: &AfterCommit<'_>,
    deadline: &Deadline,
    id: &SaleId,
    req: &SaleRequest,
) -> Result<Reply, ApiError> {
    let mut retried = false;
    loop {
        let found = outcome::ask(deadline, || async {
            Ok::<_, StoreError>(match sales.sale(id).await? {
                Some(sale) => Found::Committed(sale),
                None => Found::NotCommitted,
            })
        })
        .await;
        match found {
            Some(Found::Committed(sale)) => {
                outcome::log("sale", "committed", id.as_str());
                return Ok(Reply::new(201, sale_json(&sale)));
            }
            Some(Found::NotCommitted) if !retried => {
                outcome::log("sale", "not_committed", id.as_str());
                retried = true;
                match deadline.run(sales.sell_as(id, req)).await {
                    Some(Ok(outcome)) => return answer(after, req, outcome).await,
                    // The retry's answer was lost too: ask again.
                    Some(Err(e)) if e.is_ambiguous() => {}
                    Some(Err(e)) => return Err(e.into()),
                    None => break,
                }
            }
            // The retry did not commit either: certainly not sold.
            Some(Found::NotCommitted) => {
                outcome::log("sale", "not_committed", id.as_str());
                return Err(ApiError::Unavailable);
            }
            None => break,
        }
    }
    outcome::log("sale", "unknown", id.as_str());
    Err(ApiError::OutcomeUnknown {
        what: "sale",
        field: "sale_id",
        id: id.to_string(),
    })
}

/// The answer to what the store did with a sale.
async fn answer(
    after: &AfterCommit<'_>,
    sale: &SaleRequest,
    outcome: SaleOutcome,
) -> Result<Reply, ApiError> {
    match outcome {
        SaleOutcome::Sold { sale, event } => {
            crate::metrics::sale_completed();
            if let Some(event) = event {
                tracing::info!(sku = %sale.sku, factory_order_id = %event.factory_order_id, remaining = sale.remaining_stock, "stock-out: factory order opened");
                after.publish(&event).await;
            }
            Ok(Reply::new(201, sale_json(&sale)))
        }
        SaleOutcome::Replayed(replayed) => {
            let mut r = Reply::new(201, sale_json(&replayed));
            // A retry by key; a retry by the same sale id (a lost answer) is the same sale.
            if sale.idempotency_key.is_some() {
                r.headers.push(("idempotent-replayed", "true".into()));
            }
            Ok(r)
        }
        SaleOutcome::KeyReused => Err(ApiError::KeyReused),
        SaleOutcome::OutOfStock {
            available,
            order,
            event,
        } => {
            crate::metrics::sale_refused();
            if let Some(event) = event {
                tracing::info!(sku = %sale.sku, factory_order_id = %event.factory_order_id, "refused for lack of stock: factory order opened");
                after.publish(&event).await;
            }
            Err(ApiError::OutOfStock {
                sku: sale.sku.to_string(),
                requested: sale.quantity.get(),
                available,
                order,
            })
        }
        SaleOutcome::UnknownSku => Err(ApiError::UnknownSku(sale.sku.to_string())),
    }
}

/// `GET /sales/{id}`: a committed sale (404 when there is none, 400 for an id that is not one).
pub(super) async fn sale(
    State(sales): State<Arc<dyn Sales>>,
    seen: Seen,
    call: Call,
) -> Result<Reply, ApiError> {
    let id = SaleId::parse(&call.param)?;
    let sale = sales
        .sale(&id)
        .await?
        .ok_or_else(|| ApiError::UnknownSale(id.into()))?;
    seen.sku(&sale.sku);
    seen.quantity(sale.quantity);
    Ok(Reply::new(200, sale_json(&sale)))
}

pub fn sale_json(s: &Sale) -> Value {
    json!({
        "id": s.id,
        "sku": s.sku,
        "quantity": s.quantity,
        "remaining_stock": s.remaining_stock,
        "created_at": rfc3339(s.created_at),
        "factory_order": s.factory_order,
    })
}
