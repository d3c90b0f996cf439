//! What a command's answer looks like in a terminal: a headline and a table, or a few lines.
//! (`-o json` prints the answer itself instead.)

mod table;
pub mod views;

use crate::cli::{Command, DlqCommand, FailuresCommand, OrdersCommand};
use crate::failure::Failure;
use serde::de::DeserializeOwned;
use serde_json::Value;
pub(crate) use table::colour;
use table::table;
use views::{
    AlarmsKind, ConditionAlarm, ConditionAlarms, DeploymentRow, Deployments, DlqList, DlqMessage,
    DlqRedrive, FailedInvocation, FailuresList, FailuresRedrive, OrderRow, OrdersList, Retry, Row,
    SkuHistory, StackAlarm, StackAlarms,
};

/// The typed view of an answer.
pub fn view<T: DeserializeOwned>(v: &Value) -> Result<T, Failure> {
    T::deserialize(v).map_err(|e| Failure::Failed(format!("unexpected answer ({e}): {v}")))
}

/// A table of rows, with their headers; `state_columns` are coloured by state.
fn rows<R: Row>(
    items: impl IntoIterator<Item = R>,
    state_columns: &[usize],
    colour: bool,
) -> String {
    table(
        R::HEADERS,
        items.into_iter().map(|r| r.cells()).collect(),
        state_columns,
        colour,
    )
}

/// A headline, then the table of `items` unless there are none.
fn listing<R: Row>(
    headline: String,
    items: Vec<R>,
    state_columns: &[usize],
    colour: bool,
) -> String {
    if items.is_empty() {
        return headline;
    }
    headline + &rows(items, state_columns, colour)
}

pub fn render(command: &Command, v: &Value, colour: bool) -> Result<String, Failure> {
    Ok(match command {
        Command::Dlq {
            command: DlqCommand::List { .. },
        } => {
            let l: DlqList = view(v)?;
            let headline = format!("{}: {} message(s)\n", l.queue, l.depth);
            listing::<DlqMessage>(headline, l.messages, &[], colour)
        }
        Command::Dlq {
            command: DlqCommand::Redrive { .. },
        } => {
            let r: DlqRedrive = view(v)?;
            match (&r.moved, &r.task_handle) {
                (Some(n), None) => {
                    format!("moved {n} message(s) back to the factory-orders queue\n")
                }
                (moved, task_handle) => format!(
                    "move task {} from {}: {} ({} message(s) to move{})\n",
                    task_handle.clone().unwrap_or_default(),
                    r.source_arn,
                    r.status,
                    r.messages_to_move,
                    moved
                        .as_ref()
                        .map(|m| format!(", {m} moved"))
                        .unwrap_or_default()
                ),
            }
        }
        Command::Failures {
            command: FailuresCommand::List { .. },
        } => {
            let l: FailuresList = view(v)?;
            let headline = format!("{}: {} failed invocation(s)\n", l.queue, l.depth);
            listing::<FailedInvocation>(headline, l.failures, &[], colour)
        }
        Command::Failures {
            command: FailuresCommand::Redrive { .. },
        } => format!(
            "re-invoked {} failed invocation(s) asynchronously with their original payloads\n",
            view::<FailuresRedrive>(v)?.redriven
        ),
        Command::Orders {
            command: OrdersCommand::List { .. },
        } => {
            let l: OrdersList = view(v)?;
            let headline = format!("{} {} order(s)\n", l.count, l.status);
            listing::<OrderRow>(headline, l.factory_orders, &[3], colour)
        }
        Command::Orders {
            command: OrdersCommand::Retry { .. },
        } => {
            let r: Retry = view(v)?;
            format!(
                "factory order {} retried (was {}, now {}); stock-out event {} published, correlation id {}\n",
                r.factory_order.id,
                r.previous_status,
                r.factory_order.status,
                r.event_id,
                r.correlation_id,
            )
        }
        Command::Sku { .. } => sku_history(&view(v)?),
        Command::Preflight(_) => crate::aws::preflight::render(v),
        Command::Migrations(_) => crate::aws::migrations::render(v),
        Command::Deployments { .. } => deployments(&view(v)?, colour),
        Command::Alarms { .. } if view::<AlarmsKind>(v)?.stack.is_some() => {
            let a: StackAlarms = view(v)?;
            let mut out = format!(
                "stack {} ({}): {} alarm(s), {} in ALARM\n",
                a.stack, a.region, a.count, a.in_alarm
            );
            out += &rows::<&StackAlarm>(a.alarms.iter().map(|d| &d.row), &[1], colour);
            // What to do about each firing alarm: its description names the donut-ops command
            // and the runbook section.
            for d in a.alarms.iter().filter(|d| d.row.state.is("ALARM")) {
                out += &format!("\n{}: {}\n", d.row.name, d.description);
            }
            out
        }
        Command::Alarms { .. } => {
            let a: ConditionAlarms = view(v)?;
            let mut out = rows::<ConditionAlarm>(a.alarms, &[1], colour);
            if let Some(n) = a.note {
                out += &format!("({n})\n");
            }
            out
        }
    })
}

/// `deployments`: a headline, the table (newest first per function), then what stopped each
/// deployment that stopped and the rollback it caused.
pub(crate) fn deployments(d: &Deployments, colour: bool) -> String {
    let mut out = format!(
        "stack {}: {} deployment(s), {} stopped or failed\n",
        d.stack, d.count, d.stopped
    );
    if let Some(note) = &d.note {
        out += &format!("({note})\n");
    }
    out += &rows::<&DeploymentRow>(d.deployments.iter().map(|x| &x.row), &[2], colour);
    for x in &d.deployments {
        if x.error_message.is("-") {
            continue; // nothing went wrong (a rollback deployment says whose in WHY)
        }
        out += &format!(
            "\n{} ({}): {}",
            x.row.deployment_id, x.row.function, x.row.why
        );
        if !x.rollback_deployment_id.is("-") {
            out += &format!("; rolled back by {}", x.rollback_deployment_id);
        }
        out += &format!("\n  CodeDeploy: {}\n", x.error_message);
    }
    out
}

/// `sku history`: the product and ledger lines, sales and restocks, and the recent factory
/// orders with their transitions.
fn sku_history(h: &SkuHistory) -> String {
    let (p, l) = (&h.product, &h.ledger);
    let mut out = format!(
        "{}  stock {}  (reorder point {}, reorder quantity {})\n",
        h.sku, p.stock, p.reorder_point, p.reorder_quantity
    );
    out += &format!(
        "ledger: sold {}  restocked {}  stock {}  implied initial {}  open orders {}\n",
        l.sold, l.restocked, l.stock, l.implied_initial, l.open_orders
    );
    out += &format!(
        "sales since {}: {} sale(s), {} donut(s); restocks: {} order(s), {} donut(s)\n",
        h.sales.since, h.sales.count, h.sales.quantity, h.restocks.count, h.restocks.quantity
    );
    let orders = &h.factory_orders;
    out += &format!("factory orders: {} {}\n", orders.total, orders.by_status);
    for o in &orders.recent {
        out += &format!(
            "  {} {} x{} attempts {} correlation {}\n",
            o.id, o.status, o.quantity, o.attempts, o.correlation_id
        );
        for t in &o.transitions {
            out += &format!("    {}  {:<9}  {}\n", t.at, t.status, t.note);
        }
    }
    out
}
