//! `donut-ops` end to end: the binary against the local stack (its `/ops` routes), and with
//! `--aws` against moto (SQS DLQ, SNS topic) and a database file.
//!
//! One test binary, one module a mode and command family:
//! - `local_stack`: every command against the local stack's `/ops` routes;
//! - `aws_dlq_orders`: `--aws` `dlq`, `alarms` and `orders` on moto and a database file;
//! - `aws_failures`: `--aws failures list`/`redrive` and their alarm on moto;
//! - `aws_signing`: the SigV4 signatures of `failures redrive` against a verifying moto.

#[path = "../common/mod.rs"]
mod common;

mod aws_dlq_orders;
mod aws_failures;
mod aws_signing;
mod local_stack;
