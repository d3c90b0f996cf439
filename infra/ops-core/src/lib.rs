//! What an operator does, on any store and publisher: list failed or stuck factory orders and
//! retry one, explain a dead-lettered stock-out, tell a SKU's story.
//!
//! Shared by the local stack's `/ops/*` routes (`devstack`) and by `donut-ops --aws` against a
//! deployed stack's database, so the CLI does not link the local stack. Answers are JSON values
//! (the `/ops` wire format, which `donut-ops -o json` prints as it is).

mod dlq;
mod error;
mod history;
mod orders;

pub use dlq::{Delivery, explain, explain_message, explain_offline};
pub use error::OpsError;
pub use history::sku_history;
pub use orders::{SCAN_LIMIT, failed_orders_needing_action, list_orders, retry_order};
