//! `PUT /admin/inventory/{sku}`: create or replace a product, behind the admin bearer token; a
//! commit whose answer was lost is resolved before answering (`outcome.rs`).

use super::outcome::{self, Deadline, Found};
use super::request::{Call, Reply, Seen};
use super::{ApiError, MAX_BODY};
use crate::domain::{Product, ProductSpec, Sku, ValidationError};
use crate::store::{Catalog, StoreError};
use axum::extract::State;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The admin bearer token, compared in constant time.
#[derive(Clone)]
pub struct AdminToken {
    digest: [u8; 32],
}

impl AdminToken {
    pub fn new(token: &str) -> Self {
        AdminToken {
            digest: Sha256::digest(token.as_bytes()).into(),
        }
    }
    pub fn matches(&self, given: &str) -> bool {
        let d: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        bool::from(d.ct_eq(&self.digest))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminBody {
    name: Option<String>,
    /// Left out: keep the product's total as it is when the write happens (e.g. to change
    /// `buckets` during a sale). Required to create a product.
    stock: Option<i64>,
    reorder_point: Option<i64>,
    reorder_quantity: Option<i64>,
    buckets: Option<i64>,
}

pub(super) async fn put_product(
    State(catalog): State<Arc<dyn Catalog>>,
    State(admin): State<Option<AdminToken>>,
    seen: Seen,
    call: Call,
) -> Result<Reply, ApiError> {
    let Some(admin) = admin else {
        return Err(ApiError::NotFound(
            "admin routes are not served here".into(),
        ));
    };
    let given = call
        .header("authorization")
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized(
            "an Authorization: Bearer <admin token> header is required",
        ))?;
    if !admin.matches(given) {
        return Err(ApiError::Forbidden("the admin token is not valid".into()));
    }
    let sku = Sku::parse(&call.param)?;
    seen.sku(&sku);
    let body: AdminBody = call.json(MAX_BODY)?;
    let spec = ProductSpec::build(
        sku,
        body.name,
        body.stock,
        body.reorder_point,
        body.reorder_quantity,
        body.buckets,
    )?;
    if spec.stock.is_none() && catalog.product(&spec.sku).await?.is_none() {
        return Err(ApiError::Invalid(ValidationError::Field(
            "stock is required to create a product".into(),
        )));
    }
    let (product, created) = match catalog.put_product(&spec).await {
        Ok(done) => done,
        Err(e) if e.is_ambiguous() => {
            tracing::warn!(error = %e, sku = %spec.sku, "the admin write's commit is ambiguous: finding out");
            (settle(&*catalog, &Deadline::of(&call), &spec).await?, false)
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(
        sku = %product.sku,
        stock = product.stock,
        buckets = product.buckets,
        created,
        "admin set product"
    );
    Ok(Reply::new(
        if created { 201 } else { 200 },
        super::product_json(&product),
    ))
}

/// The admin write whose commit was ambiguous: the product as the spec says → it committed
/// (answered `200`: whether this write created it is not known); otherwise written once more
/// (a PUT: the same write again is the same result); unknown at the deadline → `503
/// outcome_unknown` naming the SKU (read it, or PUT again).
async fn settle(
    catalog: &dyn Catalog,
    deadline: &Deadline,
    spec: &ProductSpec,
) -> Result<Product, ApiError> {
    let sku = spec.sku.as_str();
    let mut retried = false;
    loop {
        let found = outcome::ask(deadline, || async {
            Ok::<_, StoreError>(match catalog.product(&spec.sku).await? {
                Some(p) if written(&p, spec) => Found::Committed(p),
                _ => Found::NotCommitted,
            })
        })
        .await;
        match found {
            Some(Found::Committed(product)) => {
                outcome::log("admin_put", "committed", sku);
                return Ok(product);
            }
            Some(Found::NotCommitted) if !retried => {
                outcome::log("admin_put", "not_committed", sku);
                retried = true;
                match deadline.run(catalog.put_product(spec)).await {
                    Some(Ok((product, _))) => return Ok(product),
                    Some(Err(e)) if e.is_ambiguous() => {}
                    Some(Err(e)) => return Err(e.into()),
                    None => break,
                }
            }
            Some(Found::NotCommitted) => {
                outcome::log("admin_put", "not_committed", sku);
                return Err(ApiError::Unavailable);
            }
            None => break,
        }
    }
    outcome::log("admin_put", "unknown", sku);
    Err(ApiError::OutcomeUnknown {
        what: "admin write",
        field: "sku",
        id: sku.to_owned(),
    })
}

/// The product is as `spec` sets it (the stock only when the spec sets it).
fn written(p: &Product, spec: &ProductSpec) -> bool {
    p.name == spec.name
        && p.reorder_point == spec.reorder_point
        && p.reorder_quantity == spec.reorder_quantity
        && p.buckets == spec.buckets
        && spec.stock.is_none_or(|s| s == p.stock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_token_compare() {
        let t = AdminToken::new("secret");
        assert!(t.matches("secret"));
        assert!(!t.matches("secreT"));
        assert!(!t.matches(""));
    }
}
