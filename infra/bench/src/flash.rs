//! Section 1, flash sale on MariaDB: one hot SKU with a huge stock (no stock-outs), N concurrent
//! buyers, several ways:
//! - `raw`: the statements the MySQL adapter ran for a sale before its one-round-trip procedure
//!   (BEGIN; INSERT INTO sales; the conditional `SELL_SQL` decrement; COMMIT) in a tight loop on
//!   the adapter's own pool: the single-row raw baseline;
//! - `handler`: `inventory::api::handle` called directly with `lambda_http` requests built from
//!   API Gateway v2 events (the Lambda code path minus the network), wired like `sales-api`
//!   (its stdout capture sink and JSON logs); the product has one stock bucket;
//! - `handler-b4` / `handler-b16`: the same on a product whose stock is spread over 4 / 16
//!   stock buckets (`products.buckets`), so the buyers mostly lock different rows;
//! - `http-capture-on` / `http-capture-off`: the local stack over HTTP, keep-alive client.
//!
//! Every run has its own SKU; after it, the stock consumed (the sum of the SKU's buckets) is
//! checked against the sales rows and the successful responses.
//!
//! Where things are: [`variant`] (the variants, their tags and the run configuration),
//! [`driver`] (what a buyer does once, and the closed-loop load), [`db`] (the hot product and
//! the correctness check), [`cpu`] (CPU and row-lock figures of the measured window), [`run`]
//! (the rounds, and the medians over them).

mod cpu;
mod db;
mod driver;
mod run;
mod variant;

pub use cpu::Cpu;
pub use db::{Check, Db};
pub use driver::{http_client, sales_event};
pub use run::{Report, Run, Summary, run};
pub use variant::{Config, Variant, parse_variants};

/// The raw variant's sale, as the MySQL adapter ran it before the `donut_sell` procedure (the
/// single-row raw baseline), on today's schema (the stock of a one-bucket SKU is row 0 of
/// `stock_buckets`): the sale row first, then one conditional decrement that also returns,
/// through `LAST_INSERT_ID(expr)` (in the OK packet), the new stock shifted left by one with the
/// "at or below the reorder point" flag in the low bit. Four round trips in a client-driven
/// transaction, the row locked across the last two.
pub const INSERT_SALE: &str = "INSERT INTO sales (id, sku, quantity, remaining_stock, \
    idempotency_key, request_hash, correlation_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
pub const SELL_SQL: &str = "UPDATE stock_buckets \
    SET stock = LAST_INSERT_ID(((stock - ?) << 1) | ((stock - ?) <= ?)) >> 1, \
        updated_at = ? \
    WHERE sku = ? AND bucket = 0 AND stock >= ?";
