//! Fault suite: each case injects one fault into the running pipeline (local stack, its
//! factory stand-in, a scripted factory, a MariaDB the test crashes, a store that fails on
//! purpose, the real `factory-orderer` handler fed hand-made SQS batches), watches what the
//! system does, then checks the invariants (`pipeline_tests::faults::check_invariants`).
//! Each case writes one row of `docs/reliability.md` (see `scripts/faults.sh`).
//!
//! One module a fault family (one test binary, linked once):
//! - `database`: MariaDB crashes or restarts under load;
//! - `ambiguous_commit`: MariaDB killed at many timings mid flash sale: no committed sale is
//!   answered as failed (an ambiguous commit is resolved, or named as `outcome_unknown`);
//! - `factory_api`: the Factory API times out, fails, throttles, flaps or is slow;
//! - `delivery`: duplicates and out-of-order SQS delivery to the orderer;
//! - `poison`: poison records and events that do not match their order;
//! - `orderer_crash`: the orderer dies between the factory call and the status update;
//! - `callbacks`: replayed, forged-token and late completion callbacks;
//! - `admin_auth`: admin calls without a valid token;
//! - `client_retry`: a client's lost answer, retried with its Idempotency-Key;
//! - `lost_answers`: the store loses the answer of a sale's, an admin PUT's or a restock's
//!   commit (scripted): each is resolved before the answer.
//!
//! The kit (the stack as a `TestApp`, `OrdererRig`, `FaultyStore`, `ScriptedFactory`,
//! `Mariadb`, `Record`, `check_invariants`) is in `tests/src/`.
//!
//! Cases already covered by `tests/pipeline.rs` (flash sale, factory down and back, DLQ and
//! redrive, poison through the queue, duplicate deliveries, forged callbacks, crash between
//! commit and publish, stuck orders) are not repeated here.

use pipeline_tests::eventually;
use pipeline_tests::faults::{Expect, WAIT};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

mod admin_auth;
mod ambiguous_commit;
mod callbacks;
mod client_retry;
mod database;
mod delivery;
mod factory_api;
mod lost_answers;
mod orderer_crash;
mod poison;

/// The suite's name in `target/reliability/` and `docs/reliability.md`.
const SUITE: &str = "faults";

/// The invariants after one stock-out of `glazed` (stock 2) that the factory made once.
const GLAZED_ONE_ORDER: Expect<'static> = Expect {
    initial: &[("glazed", 2)],
    accepted: None,
    orders: &[("glazed", 1)],
    batches: Some(1),
};

/// The invariants after one stock-out of `glazed` (stock 2) that the factory never made.
const GLAZED_NO_BATCH: Expect<'static> = Expect {
    initial: &[("glazed", 2)],
    accepted: None,
    orders: &[("glazed", 1)],
    batches: Some(0),
};

/// Waits until `counter` reaches `want`, then checks it does not go past it.
async fn settles_at(counter: &AtomicU64, want: u64, what: &str) {
    eventually(WAIT, || async {
        (counter.load(Ordering::SeqCst) >= want).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("{what}: never reached {want}"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(counter.load(Ordering::SeqCst), want, "{what}");
}
