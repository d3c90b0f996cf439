//! The local stack: the whole pipeline in one process, on SQLite by default, no AWS account.
//!
//! Every route is served by the same handler functions the Lambda functions run
//! (`inventory::api::handle`, `factory_orderer::orderer::handle_batch`, `outbox_relay::relay_once`);
//! what is local is only the plumbing AWS provides: the HTTP gateway (`http`), SNS → SQS (+DLQ)
//! and the event source mapping (`bus`), the schedules (`stack`), Firehose → S3 (`firehose`),
//! the factory stand-in's HTTP face (`factory`) and CloudWatch alarms (`alarms`). The operator's
//! `/ops/*` routes (`ops_routes`) answer with `ops_core`, which `donut-ops --aws` uses too. It
//! also serves the contract: `/openapi.yaml` and a readable reference generated from it at
//! `/docs` (`apidocs`; local only, not deployed). Its own paths are routed by axum with their
//! methods (`http::router`) and answer JSON like the API (`reply`).

pub mod alarms;
pub mod apidocs;
pub mod bus;
mod factory;
pub mod firehose;
pub mod http;
mod ops_routes;
mod options;
mod reply;
mod stack;

pub use alarms::{ALARMS, Alarm, AlarmMemory, AlarmSettings};
pub use ops_routes::dlq_reason;
pub use options::Options;
pub use stack::{Shared, Stack, StartError};
