//! Stock-out pipeline latency per backend (p50 and p99 of the two judged figures).

use super::svg::{Chart, Series};
use crate::pipeline::Result;

pub(super) fn chart(pipelines: &[Result]) -> Chart<'static> {
    let categories = pipelines.iter().map(|p| p.backend.to_string()).collect();
    let pick = |name: &str, f: fn(&Result) -> f64| Series {
        name: name.into(),
        values: pipelines.iter().map(f).collect(),
    };
    Chart {
        title: "Stock-out pipeline latency (local stack)",
        unit: "ms",
        categories,
        series: vec![
            pick("stock-out → factory accepted, p50", |p| {
                p.commit_to_accepted.p50_ms
            }),
            pick("stock-out → factory accepted, p99", |p| {
                p.commit_to_accepted.p99_ms
            }),
            pick("callback → stock visible, p50", |p| {
                p.callback_to_visible.p50_ms
            }),
            pick("callback → stock visible, p99", |p| {
                p.callback_to_visible.p99_ms
            }),
        ],
        references: Vec::new(),
    }
}
