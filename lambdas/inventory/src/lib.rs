//! The donut inventory pipeline: what two or more functions share — domain, the store and its
//! ports and adapters, the HTTP API (sales-api and restock serve it), messaging, configuration,
//! telemetry. What only one function runs lives in that function's folder (`lambdas/<fn>/src`).

pub mod api;
pub mod capture;
pub mod config;
pub mod domain;
pub mod factory;
mod json_fields;
pub mod messaging;
pub mod metrics;
pub mod spans;
pub mod sqs_batch;
pub mod stockout;
pub mod store;
pub mod telemetry;
pub mod xray;
