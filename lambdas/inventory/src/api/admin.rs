//! `PUT /admin/inventory/{sku}`: create or replace a product, behind the admin bearer token.

use super::request::{Call, Reply, Seen};
use super::{Api, ApiError, MAX_BODY};
use crate::domain::{ProductSpec, Sku, ValidationError};
use serde::Deserialize;
use sha2::{Digest, Sha256};
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
    api: &Api,
    call: &Call,
    seen: &mut Seen,
) -> Result<Reply, ApiError> {
    let Some(admin) = &api.admin else {
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
    seen.sku = Some(sku.to_string());
    let body: AdminBody = call.json(MAX_BODY)?;
    let spec = ProductSpec::build(
        sku,
        body.name,
        body.stock,
        body.reorder_point,
        body.reorder_quantity,
        body.buckets,
    )?;
    if spec.stock.is_none() && api.store.product(&spec.sku).await?.is_none() {
        return Err(ApiError::Invalid(ValidationError::Field(
            "stock is required to create a product".into(),
        )));
    }
    let (product, created) = api.store.put_product(&spec).await?;
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
