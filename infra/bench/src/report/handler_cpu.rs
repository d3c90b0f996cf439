//! Where the handler's CPU goes (no database): the subsection after the flash sale.

use super::Report;
use std::fmt::Write;

impl Report<'_> {
    pub(super) fn handler_cpu_details(&self, s: &mut String) {
        let Some(b) = self.handler_cpu else { return };
        let _ = writeln!(s, "\n### Where the handler's CPU goes (no database)\n");
        let _ = writeln!(
            s,
            "`inventory::api::handle` on the same `POST /sales` API Gateway event against a store that sells instantly, one thread, CPU time per request (`/proc/thread-self/schedstat`), median of repetitions of {} requests; each invocation wrapped in `inventory::metrics::flushed` as `sales-api` does. Child processes: logs switched off with `RUST_LOG=off` (otherwise `inventory::telemetry::init` as the functions have it, stdout to /dev/null), metrics off = no recorder installed; capture off = `NoCapture` instead of `LogLineSink`.\n",
            b.iterations
        );
        let _ = writeln!(s, "| configuration | CPU per request |\n|---|---|");
        for (name, v) in [
            (
                "as deployed (JSON log line + capture line + EMF metrics flush)",
                b.full_us,
            ),
            ("capture off", b.no_capture_us),
            ("logs off", b.no_logs_us),
            ("metrics off (no recorder installed)", b.no_metrics_us),
            ("logs, capture and metrics off", b.bare_us),
            (
                "of which: parsing the API Gateway event (`lambda_http::request::from_str`)",
                b.parse_us,
            ),
        ] {
            let _ = writeln!(s, "| {name} | {v:.1} µs |");
        }
        let _ = writeln!(
            s,
            "\nSo per request: JSON log line ≈ {:.1} µs, capture line ≈ {:.1} µs, metrics (counter + EMF flush) ≈ {:.1} µs, routing + body parsing + response JSON + ids ≈ {:.1} µs, event parsing ≈ {:.1} µs.",
            b.full_us - b.no_logs_us,
            b.full_us - b.no_capture_us,
            b.full_us - b.no_metrics_us,
            b.bare_us - b.parse_us,
            b.parse_us
        );
        let _ = writeln!(
            s,
            "\nHTTP plumbing alone — the in-process reqwest client (keep-alive) and an axum/hyper server answering a canned `201` sale, loopback TCP, same thread: **{:.1} µs** per request. The HTTP variants spend this on top of the handler (minus the event parsing, which the local gateway does not do); on AWS the server half is API Gateway's and the client half is the buyers'.",
            b.http_us
        );
    }
}
