//! Lambda timeouts: at the function's `Timeout` the harness answers `Sandbox.Timedout` and
//! resets the execution environment (the process is killed: its work in flight stops, its
//! database connections close); the next invocation runs in a new process.

use crate::killed::{self, Kill};
use crate::kit::Ctx;
use crate::record::Record;
use std::time::Duration;

/// A sale that would outlive its Timeout (its transaction waits on a locked stock row) is cut
/// by the handler's own deadline first: `503 outcome_unknown` naming it, no Lambda timeout,
/// nothing half done, and `GET /sales/{id}` tells what happened.
pub async fn a_sale_killed_by_its_timeout_leaves_nothing_half_done(ctx: &Ctx<'_>) {
    let mut rec = Record::new(
        "a_sale_killed_by_its_timeout_leaves_nothing_half_done",
        "a sale waits mid-transaction past its deadline (sales-api Timeout lowered to 2 s; the sale's stock row held locked by another transaction)",
    );
    killed::sale_mid_transaction(ctx, Kill::Timeout(Duration::from_secs(2)), &mut rec).await;
}

/// A factory-orderer batch that outlives its Timeout after the factory accepted (the factory's
/// answer arrives late) is redelivered and makes one factory order.
pub async fn an_orderer_batch_killed_by_its_timeout_makes_one_factory_order(ctx: &Ctx<'_>) {
    let mut rec = Record::new(
        "an_orderer_batch_killed_by_its_timeout_makes_one_factory_order",
        "factory-orderer times out after the factory accepted (Timeout lowered to 2 s; the factory's 202 reaches it 3.5 s late): the process is killed before the order is recorded or the message deleted",
    );
    killed::orderer_after_acceptance(ctx, Kill::Timeout(Duration::from_secs(2)), &mut rec).await;
}
