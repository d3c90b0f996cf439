//! A product's stock in buckets (`stock_buckets`, see
//! migrations/mysql/20261202000002_stock_buckets.sql): the total is the sum of the rows, and
//! every write that spreads stock (the admin PUT, a restock, a short bucket's rebalance) holds
//! the product row and then every bucket of the SKU, in key order, so such writers never
//! deadlock one another. (Compiled once per database; see `store/mod.rs`.)

use super::{Db, dialect};
use crate::domain::Millis;

type Tx = sqlx::Transaction<'static, Db>;


/// The product's bucket count, holding the product row against an admin PUT (MySQL: a shared
/// lock). `None` when there is no such product.
pub(super) async fn lock_product(tx: &mut Tx, sku: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(dialect::LOCK_PRODUCT)
        .bind(sku)
        .fetch_optional(&mut **tx)
        .await
}

/// Every bucket row of the SKU, locked: how many there are and their total.
pub(super) async fn lock_buckets(tx: &mut Tx, sku: &str) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(dialect::LOCK_BUCKETS)
        .bind(sku)
        .fetch_one(&mut **tx)
        .await
}

/// Creates the missing rows `have .. want` (rows are always `0 .. n`, so the missing ones are
/// the top ones), empty.
pub(super) async fn add_buckets(
    tx: &mut Tx,
    sku: &str,
    have: i64,
    want: i64,
    now: Millis,
) -> Result<(), sqlx::Error> {
    for bucket in have..want {
        sqlx::query(
            "INSERT INTO stock_buckets (sku, bucket, stock, updated_at) VALUES (?, ?, 0, ?)",
        )
        .bind(sku)
        .bind(bucket)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Sets the SKU's stock to `total`, spread evenly over buckets `0 .. buckets` (the first
/// `total % buckets` get one more); rows above hold 0. The caller holds every row
/// ([`lock_buckets`]) and has made sure rows `0 .. buckets` exist. A negative total leaves a
/// negative row, so the CHECK constraint refuses it rather than the spread hiding it.
pub(super) async fn spread(
    tx: &mut Tx,
    sku: &str,
    buckets: i64,
    total: i64,
    now: Millis,
) -> Result<(), sqlx::Error> {
    let buckets = buckets.max(1);
    let (base, rest) = (total / buckets, total % buckets);
    sqlx::query(
        "UPDATE stock_buckets SET stock = CASE WHEN bucket < ? \
         THEN ? + CASE WHEN bucket < ? THEN ? ELSE 0 END ELSE 0 END, updated_at = ? \
         WHERE sku = ?",
    )
    .bind(buckets)
    .bind(base)
    .bind(rest.abs())
    .bind(rest.signum())
    .bind(now)
    .bind(sku)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}
