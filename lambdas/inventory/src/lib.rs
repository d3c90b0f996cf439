//! The donut inventory pipeline: domain, ports and adapters shared by every Lambda function
//! and by the local stack (`devstack`). Functions are thin: their `main.rs` builds what is here
//! once at init and runs one of the handlers.

pub mod api;
pub mod capture;
pub mod config;
pub mod domain;
pub mod exports;
pub mod factory;
mod json_fields;
pub mod messaging;
pub mod metrics;
pub mod orderer;
pub mod sim;
pub mod spans;
pub mod store;
pub mod telemetry;
pub mod xray;
