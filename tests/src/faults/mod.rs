//! Fault-injection kit of the reliability suite (`tests/tests/{faults,hostile}/` and
//! `tests/tests/{props,hygiene}.rs`, run all at once by `scripts/faults.sh`):
//!
//! - [`Mariadb`] (`mariadb.rs`): a private `mariadbd` that a test can crash (`SIGKILL`), stop
//!   and restart on the same data dir and port; killed when the guard drops (even on panic) and
//!   by a watchdog when the test process dies;
//! - [`ScriptedFactory`] (`scripted_factory.rs`): a stand-in Factory API on 127.0.0.1 answering
//!   a script of statuses (429, 5xx, hangs) before accepting, recording every idempotency key,
//!   delivering the completion to the callback URL once per accepted order;
//! - [`FaultyStore`] (`faulty_store.rs`): a real store whose `mark_requested` fails or waits on
//!   purpose; [`OrdererRig`] (`orderer_rig.rs`): the real `factory-orderer` over it, fed SQS
//!   batches the test builds;
//! - [`LosingStore`] (`losing_store.rs`): a real store whose scripted writes lose their answer
//!   (`StoreError::Ambiguous`) after or before committing, and whose reads stay down a while;
//! - [`check_invariants`] (`invariants.rs`): the stock invariants every case checks afterwards;
//! - [`Record`] (`record.rs`): one JSON line per case into `target/reliability/<suite>.jsonl`,
//!   from which `scripts/reliability-table.py` renders `docs/reliability.md`;
//! - raw HTTP/1.1 requests ([`raw_http`]) for input a normal client refuses to send;
//! - SQS records as Lambda builds them ([`sqs_message`]); API capture records
//!   ([`captured_records`]) and the files under a directory ([`files_under`]).

use std::time::Duration;

mod capture;
mod faulty_store;
mod invariants;
mod losing_store;
mod mariadb;
mod orderer_rig;
mod raw_http;
mod record;
mod scripted_factory;
mod sqs;

pub use capture::{captured_records, files_under};
pub use faulty_store::FaultyStore;
pub use invariants::{Accepted, Expect, check_invariants};
pub use losing_store::{Lose, LosingStore};
pub use mariadb::Mariadb;
pub use orderer_rig::{OrdererRig, event_body};
pub use raw_http::{RawReply, raw_http};
pub use record::{Record, results_dir};
pub use scripted_factory::{ScriptedFactory, Step};
pub use sqs::{failed_ids, sqs_event, sqs_message};

/// How long the cases wait for the pipeline to reach a state.
pub const WAIT: Duration = Duration::from_secs(20);
