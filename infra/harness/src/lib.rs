//! The deployable functions, run locally as AWS runs them — the answer to `sam local`, which
//! needs Docker.
//!
//! [`Harness::start`] reads `template.yaml` and:
//! - starts a TLS-only MariaDB ([`tlsdb`]) for the template's RDS instance, and creates the
//!   template's SNS topics, SQS queues, Kinesis streams, S3 buckets and secrets in moto ([`aws`]);
//! - starts every function's bootstrap (the `cargo lambda build` output, as `sam build` ships
//!   it) as its own process behind its own Lambda Runtime API ([`runtime`]), with the
//!   environment the template gives it (`Globals` + its own, intrinsics resolved to the local
//!   values; API Gateway and Function URL addresses rewritten to the local endpoints);
//! - feeds them the events AWS would, derived from the template: HTTP API routes
//!   ([`apigw`]), Function URLs, SQS event source mappings ([`esm`]), schedules, CloudWatch Logs
//!   subscriptions ([`logs`]) and the custom resources' lifecycle ([`cfn`]);
//! - on request, Lambda's Invoke API for clients that call Lambda themselves ([`invoke_api`]),
//!   and CodeDeploy's side of a gradual deployment: a new version published, the pre-traffic
//!   hook run against it and the status it reports recorded ([`hook`]).
//!
//! Time is compressed where AWS waits minutes (documented per option): a queue's visibility
//! timeout can be shortened ([`Options::visibility_timeout`]), asynchronous retries wait seconds
//! instead of minutes, and schedules fire when asked ([`Harness::fire_schedule`]).
//!
//! Besides the public modules: `options.rs` ([`Options`], [`bootstraps_dir`]), `harness/`
//! ([`Harness`]: `start.rs` brings it up, `schedule.rs` fires its schedules) and
//! `async_invoke.rs` ([`invoke_async`], Lambda's asynchronous invocation with its retries).

pub mod apigw;
pub mod aws;
pub mod cfn;
pub mod esm;
pub mod hook;
pub mod invoke_api;
pub mod logs;
pub mod moto;
pub mod runtime;
pub mod template;
pub mod tlsdb;

mod async_invoke;
mod harness;
mod options;

pub use async_invoke::{AsyncTarget, invoke_async};
pub use harness::{Harness, rate};
pub use options::{Options, bootstraps_dir};

pub type Error = Box<dyn std::error::Error + Send + Sync>;
