//! Lambda cold start per function: ready and first answer (medians).

use super::svg::{Chart, Series};
use crate::coldstart::FunctionResult;

pub(super) fn chart(cold: &[FunctionResult]) -> Chart<'static> {
    Chart {
        title: "Lambda cold start per function (median)",
        unit: "ms",
        categories: cold.iter().map(|f| f.binary.name.to_string()).collect(),
        series: vec![
            Series {
                name: "ready (spawn → first GET next)".into(),
                values: cold.iter().map(|f| f.ready_ms()).collect(),
            },
            Series {
                name: "first answer".into(),
                values: cold.iter().map(|f| f.first_response_ms()).collect(),
            },
        ],
        references: Vec::new(),
    }
}
