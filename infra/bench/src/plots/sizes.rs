//! Bootstrap sizes per function, zipped and unzipped.

use super::svg::{Chart, Series};
use crate::sizes::Size;

pub(super) fn chart(sizes: &[Size]) -> Chart<'static> {
    Chart {
        title: "Bootstrap sizes (MB = 10^6 bytes; Lambda limit of this project: 6 MB zipped)",
        unit: "MB",
        categories: sizes.iter().map(|s| s.name.to_string()).collect(),
        series: vec![
            Series {
                name: "zipped".into(),
                values: sizes.iter().map(|s| s.zipped as f64 / 1e6).collect(),
            },
            Series {
                name: "unzipped".into(),
                values: sizes.iter().map(|s| s.bytes as f64 / 1e6).collect(),
            },
        ],
        references: Vec::new(),
    }
}
