//! `factory-orderer`: stock-out events from SQS → the legacy Factory API. The library holds what
//! the function runs (its binary, `main.rs`, builds the store and the client once and hands each
//! batch to [`orderer::handle_batch`]); the local stack and the tests run the same code.
//!
//! - [`orderer`]: one stock-out message → at most one factory request per order, and the batch
//!   (partial batch failures, through `inventory::sqs_batch`);
//! - [`client`]: the HTTP client of the Factory API (idempotency key, signed callback URL,
//!   failure kinds).

pub mod client;
pub mod orderer;
