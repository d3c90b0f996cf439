//! Crashes: a bootstrap process exits in the middle of an invocation (a panic that aborts, an
//! out-of-memory kill; here a SIGKILL from outside at a chosen moment). The invocation fails
//! with `Runtime.ExitError` and a new process (a cold start) takes the next one.

use crate::killed::{self, Kill};
use crate::kit::Ctx;
use crate::record::Record;

/// The sales-api process dies while a sale's transaction is open.
pub async fn a_sale_whose_process_dies_leaves_nothing_half_done(ctx: &Ctx<'_>) {
    let mut rec = Record::new(
        "a_sale_whose_process_dies_leaves_nothing_half_done",
        "sales-api process SIGKILLed mid-transaction (sale row inserted, decrement waiting on a locked stock row)",
    );
    killed::sale_mid_transaction(ctx, Kill::Crash, &mut rec).await;
}

/// The factory-orderer process dies the moment the factory stand-in accepts its call.
pub async fn an_orderer_killed_after_the_factory_accepted_makes_one_factory_order(ctx: &Ctx<'_>) {
    let mut rec = Record::new(
        "an_orderer_killed_after_the_factory_accepted_makes_one_factory_order",
        "factory-orderer process SIGKILLed when the factory stand-in answers 202, before the orderer hears it (order not recorded, message not deleted)",
    );
    killed::orderer_after_acceptance(ctx, Kill::Crash, &mut rec).await;
}
