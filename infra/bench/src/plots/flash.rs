//! Flash sale on MariaDB: throughput and p99 per variant, a group of bars per concurrency.

use super::svg::{Chart, Series};
use crate::flash::{Report, Summary, Variant};

/// One series per variant that ran: `field` of its summary at each concurrency.
fn series(f: &Report, cs: &[usize], field: fn(&Summary) -> f64) -> Vec<Series> {
    Variant::ALL
        .iter()
        .map(|&v| Series {
            name: v.name().into(),
            values: cs
                .iter()
                .map(|&c| {
                    f.summaries
                        .iter()
                        .find(|s| s.concurrency == c && s.variant == v)
                        .map(field)
                        .unwrap_or(f64::NAN)
                })
                .collect(),
        })
        .filter(|s| s.values.iter().any(|v| v.is_finite()))
        .collect()
}

fn categories(cs: &[usize]) -> Vec<String> {
    cs.iter().map(|c| format!("{c} buyers")).collect()
}

/// Sales/s, median of rounds.
pub(super) fn throughput(f: &Report, cs: &[usize]) -> Chart<'static> {
    Chart {
        title: "Flash sale on MariaDB: throughput (median of rounds)",
        unit: "sales/s",
        categories: categories(cs),
        series: series(f, cs, |s| s.sales_per_sec),
        references: Vec::new(),
    }
}

/// p99 latency, median of rounds.
pub(super) fn p99(f: &Report, cs: &[usize]) -> Chart<'static> {
    Chart {
        title: "Flash sale on MariaDB: p99 latency (median of rounds)",
        unit: "ms",
        categories: categories(cs),
        series: series(f, cs, |s| s.p99_ms),
        references: Vec::new(),
    }
}
