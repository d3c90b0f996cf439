//! The answers `donut-ops` shows, as typed views of the JSON it gets (from the local stack's
//! `/ops/*` routes or built by the AWS commands): only the fields the tables and lines show.
//! Every field is lenient like a table cell: absent or null shows as `-`.

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::fmt;

/// A JSON value as a table shows it: `-` for null or absent, a string as it is, anything else
/// as compact JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell(String);

impl Default for Cell {
    fn default() -> Self {
        Cell("-".into())
    }
}

impl<'de> Deserialize<'de> for Cell {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Cell(match Value::deserialize(d)? {
            Value::Null => "-".into(),
            Value::String(s) => s,
            other => other.to_string(),
        }))
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so that widths such as `{:<9}` apply.
        f.pad(&self.0)
    }
}

impl Cell {
    pub fn is(&self, text: &str) -> bool {
        self.0 == text
    }
}

/// A field that may be null as well as absent: null is its default too.
fn or_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A field whose presence matters (`Some` even when null), `None` only when absent.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cell>, D::Error> {
    Cell::deserialize(d).map(Some)
}

/// One row of a table: its column headers and its cells, in the same order.
pub trait Row {
    const HEADERS: &'static [&'static str];
    fn cells(&self) -> Vec<String>;
}

impl<R: Row> Row for &R {
    const HEADERS: &'static [&'static str] = R::HEADERS;
    fn cells(&self) -> Vec<String> {
        (**self).cells()
    }
}

macro_rules! row {
    ($name:ident { $($field:ident => $header:literal),+ $(,)? }) => {
        #[derive(Debug, Default, Deserialize)]
        #[serde(default)]
        pub struct $name {
            $(pub $field: Cell,)+
        }
        impl Row for $name {
            const HEADERS: &'static [&'static str] = &[$($header),+];
            fn cells(&self) -> Vec<String> {
                vec![$(self.$field.to_string()),+]
            }
        }
    };
}

row!(DlqMessage {
    message_id => "MESSAGE",
    receive_count => "RECEIVES",
    factory_order_id => "ORDER",
    sku => "SKU",
    correlation_id => "CORRELATION",
    reason => "REASON",
});

row!(FailedInvocation {
    message_id => "MESSAGE",
    function => "FUNCTION",
    attempts => "ATTEMPTS",
    failed_at => "FAILED_AT",
    reason => "REASON",
});

row!(OrderRow {
    id => "ID",
    sku => "SKU",
    quantity => "QTY",
    status => "STATUS",
    attempts => "ATTEMPTS",
    age_secs => "AGE_S",
    updated_at => "UPDATED",
    last_error => "LAST_ERROR",
});

row!(StackAlarm {
    name => "ALARM",
    state => "STATE",
    since => "SINCE",
    reason => "REASON",
});

row!(DeploymentRow {
    function => "FUNCTION",
    deployment_id => "DEPLOYMENT",
    status => "STATUS",
    config => "CONFIG",
    versions => "VERSIONS",
    started => "STARTED",
    ended => "ENDED",
    why => "WHY",
});

/// `deployments`: the stack's gradual deployments.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Deployments {
    pub stack: Cell,
    pub count: Cell,
    pub stopped: Cell,
    #[serde(deserialize_with = "or_default")]
    pub deployments: Vec<DeploymentDetail>,
    #[serde(deserialize_with = "present")]
    pub note: Option<Cell>,
}

/// A deployment with what explains it: CodeDeploy's message, its rollback.
#[derive(Debug, Default, Deserialize)]
pub struct DeploymentDetail {
    #[serde(flatten)]
    pub row: DeploymentRow,
    #[serde(default)]
    pub error_message: Cell,
    #[serde(default)]
    pub rollback_deployment_id: Cell,
}

row!(ConditionAlarm {
    name => "ALARM",
    state => "STATE",
    aws_alarm => "AWS ALARM",
    reason => "REASON",
});

/// `dlq list`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DlqList {
    pub queue: Cell,
    pub depth: Cell,
    #[serde(deserialize_with = "or_default")]
    pub messages: Vec<DlqMessage>,
}

/// `dlq redrive`: `moved` alone locally; a move task on AWS (`moved` too with `--wait`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DlqRedrive {
    #[serde(deserialize_with = "present")]
    pub moved: Option<Cell>,
    #[serde(deserialize_with = "present")]
    pub task_handle: Option<Cell>,
    pub source_arn: Cell,
    pub status: Cell,
    pub messages_to_move: Cell,
}

/// `failures list`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FailuresList {
    pub queue: Cell,
    pub depth: Cell,
    #[serde(deserialize_with = "or_default")]
    pub failures: Vec<FailedInvocation>,
}

/// `failures redrive`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FailuresRedrive {
    pub redriven: Cell,
}

/// `orders list`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OrdersList {
    pub count: Cell,
    pub status: Cell,
    #[serde(deserialize_with = "or_default")]
    pub factory_orders: Vec<OrderRow>,
}

/// `orders retry`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Retry {
    #[serde(deserialize_with = "or_default")]
    pub factory_order: OrderState,
    pub previous_status: Cell,
    pub event_id: Cell,
    pub correlation_id: Cell,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OrderState {
    pub id: Cell,
    pub status: Cell,
}

/// `sku history`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SkuHistory {
    pub sku: Cell,
    #[serde(deserialize_with = "or_default")]
    pub product: Product,
    #[serde(deserialize_with = "or_default")]
    pub ledger: Ledger,
    #[serde(deserialize_with = "or_default")]
    pub sales: Sales,
    #[serde(deserialize_with = "or_default")]
    pub restocks: Restocks,
    #[serde(deserialize_with = "or_default")]
    pub factory_orders: FactoryOrders,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Product {
    pub stock: Cell,
    pub reorder_point: Cell,
    pub reorder_quantity: Cell,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Ledger {
    pub sold: Cell,
    pub restocked: Cell,
    pub stock: Cell,
    pub implied_initial: Cell,
    pub open_orders: Cell,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Sales {
    pub since: Cell,
    pub count: Cell,
    pub quantity: Cell,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Restocks {
    pub count: Cell,
    pub quantity: Cell,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FactoryOrders {
    pub total: Cell,
    /// An object (status → count), shown as JSON.
    pub by_status: Cell,
    #[serde(deserialize_with = "or_default")]
    pub recent: Vec<RecentOrder>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RecentOrder {
    pub id: Cell,
    pub status: Cell,
    pub quantity: Cell,
    pub attempts: Cell,
    pub correlation_id: Cell,
    #[serde(deserialize_with = "or_default")]
    pub transitions: Vec<Transition>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Transition {
    pub at: Cell,
    pub status: Cell,
    pub note: Cell,
}

/// `alarms --stack NAME`: the stack's CloudWatch alarms.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StackAlarms {
    pub stack: Cell,
    pub region: Cell,
    pub count: Cell,
    pub in_alarm: Cell,
    #[serde(deserialize_with = "or_default")]
    pub alarms: Vec<StackAlarmDetail>,
}

/// A stack alarm with its description (what to do when it fires).
#[derive(Debug, Default, Deserialize)]
pub struct StackAlarmDetail {
    #[serde(flatten)]
    pub row: StackAlarm,
    #[serde(default)]
    pub description: Cell,
}

/// `alarms` (local, or `--aws` without `--stack`): the conditions, checked directly.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ConditionAlarms {
    #[serde(deserialize_with = "or_default")]
    pub alarms: Vec<ConditionAlarm>,
    #[serde(deserialize_with = "present")]
    pub note: Option<Cell>,
}

/// Which answer `alarms` gave: the stack's CloudWatch alarms carry `stack`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AlarmsKind {
    #[serde(deserialize_with = "present")]
    pub stack: Option<Cell>,
}

/// The names of the alarms in ALARM (`alarms --check`), from either kind of answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Firing {
    #[serde(deserialize_with = "or_default")]
    alarms: Vec<NameState>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NameState {
    name: Option<String>,
    state: Cell,
}

impl Firing {
    pub fn names(self) -> Vec<String> {
        self.alarms
            .into_iter()
            .filter(|a| a.state.is("ALARM"))
            .filter_map(|a| a.name)
            .collect()
    }
}
