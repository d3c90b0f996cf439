//! The report's main figures as SVG bar charts (plotters, SVG backend only), written next to the
//! report and linked from it: flash-sale throughput and p99 per variant and concurrency, sales/s
//! against stock buckets on the RDS-like configuration, stock-out pipeline latency, cold start
//! per function, bootstrap sizes.
//!
//! Where things are: [`svg`] (the grouped bar chart and its primitives), then a file a chart:
//! [`flash`] (throughput, p99), [`buckets`] (RDS-like, sales/s against stock buckets),
//! [`pipeline`], [`cold`], [`sizes`]; here, which charts the report has and their files.

mod buckets;
mod cold;
mod flash;
mod pipeline;
mod sizes;
mod svg;

pub use svg::{Chart, bar_chart};

use buckets::buckets_chart;
use std::path::Path;

/// The file of the sales/s against stock buckets chart (RDS-like configuration).
pub const BUCKETS_FILE: &str = "flash-buckets.svg";

/// What the charts are drawn from: the results of the sections that ran.
pub struct Results<'a> {
    /// The flash sale's concurrencies (both configurations).
    pub concurrencies: &'a [usize],
    pub flash: Option<&'a crate::flash::Report>,
    pub rds_like: Option<&'a crate::rdslike::Outcome>,
    pub pipelines: &'a [crate::pipeline::Result],
    pub cold: &'a [crate::coldstart::FunctionResult],
    pub sizes: &'a [crate::sizes::Size],
}

/// The report's charts (only those with data), each with its file name.
pub fn charts(r: &Results) -> Vec<(&'static str, Chart<'static>)> {
    let mut out = Vec::new();
    if let Some(f) = r.flash {
        out.push((
            "flash-throughput.svg",
            flash::throughput(f, r.concurrencies),
        ));
        out.push(("flash-p99.svg", flash::p99(f, r.concurrencies)));
    }
    if let Some(o) = r.rds_like
        && let Some(chart) = buckets_chart(&o.flash.summaries, r.concurrencies)
    {
        out.push((BUCKETS_FILE, chart));
    }
    if !r.pipelines.is_empty() {
        out.push(("pipeline-latency.svg", pipeline::chart(r.pipelines)));
    }
    if !r.cold.is_empty() {
        out.push(("cold-start.svg", cold::chart(r.cold)));
    }
    if !r.sizes.is_empty() {
        out.push(("bootstrap-sizes.svg", sizes::chart(r.sizes)));
    }
    out
}

/// Writes the charts into `dir`; returns (title, file name) of each one written.
pub fn write(r: &Results, dir: &Path) -> Vec<(String, String)> {
    let mut written = Vec::new();
    let charts = charts(r);
    if charts.is_empty() {
        return written;
    }
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("bench: cannot create {}: {e}", dir.display());
        return written;
    }
    for (file, chart) in charts {
        match bar_chart(&chart) {
            Ok(svg) => match std::fs::write(dir.join(file), svg) {
                Ok(()) => written.push((chart.title.to_owned(), file.to_owned())),
                Err(e) => eprintln!("bench: cannot write {}: {e}", dir.join(file).display()),
            },
            Err(e) => eprintln!("bench: plot {file}: {e}"),
        }
    }
    written
}
