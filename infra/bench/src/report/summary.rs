//! The summary table: every judged figure with its target and PASS/MISS.

use super::{Report, mb};
use crate::flash::{self, Variant};
use crate::rdslike;
use crate::stats::{Verdict, fmt_ms, fmt_ratio};
use std::fmt::Write;

// Targets.
const THROUGHPUT_VS_RAW: f64 = 0.8;
const P99_VS_RAW: f64 = 1.5;
const CAPTURE_P99: f64 = 1.05;
/// RDS-like: 16 stock buckets against the single-row raw limit (issue 14).
const BUCKETS16_VS_RAW: f64 = 5.0;
const BUCKETS16_P99_VS_RAW: f64 = 1.0;
const STOCKOUT_P99_MS: f64 = 500.0;
const CALLBACK_P99_MS: f64 = 50.0;
const READY_MS: f64 = 10.0;
const RSS_MIB: f64 = 30.0;
/// 6 MB, decimal (the unit of Lambda's own package limits).
const ZIP_BYTES: u64 = 6_000_000;

struct Table {
    rows: Vec<[String; 4]>,
    misses: usize,
    judged: bool,
}

impl Table {
    fn row(&mut self, figure: String, measured: String, target: &str, checks: &[(bool, &str)]) {
        let result = if checks.is_empty() {
            "—".to_owned()
        } else if !self.judged {
            Verdict::NotJudged.as_str().to_owned()
        } else {
            let missed: Vec<&str> = checks
                .iter()
                .filter(|(ok, _)| !ok)
                .map(|(_, what)| *what)
                .collect();
            if missed.is_empty() {
                Verdict::Pass.as_str().to_owned()
            } else {
                self.misses += 1;
                format!("{} ({})", Verdict::Miss.as_str(), missed.join(", "))
            }
        };
        self.rows
            .push([figure, measured, target.to_owned(), result]);
    }

    fn render(&self) -> String {
        let mut s = String::from("| Figure | Measured | Target | Result |\n|---|---|---|---|\n");
        for [a, b, c, d] in &self.rows {
            let _ = writeln!(s, "| {a} | {b} | {c} | {d} |");
        }
        s
    }
}

impl Report<'_> {
    /// The summary table and the number of figures that missed their target.
    pub fn summary_table(&self) -> (String, usize) {
        let mut t = Table {
            rows: Vec::new(),
            misses: 0,
            judged: !self.args.quick,
        };
        if let Some(f) = self.flash {
            for &c in &self.flash_cfg.concurrencies {
                let get = |v: Variant| {
                    f.summaries
                        .iter()
                        .find(|s| s.concurrency == c && s.variant == v)
                };
                if let Some(raw) = get(Variant::Raw) {
                    t.row(
                        format!("Flash sale c={c}: raw SQL (the limit)"),
                        baseline(raw),
                        "baseline",
                        &[],
                    );
                }
                for v in [
                    Variant::Handler,
                    Variant::HandlerB4,
                    Variant::HandlerB16,
                    Variant::HttpCaptureOn,
                    Variant::HttpCaptureOff,
                ] {
                    let Some(s) = get(v) else { continue };
                    t.row(
                        format!("Flash sale c={c}: {}", v.name()),
                        format!(
                            "{:.0} sales/s = **{}** raw; p50 {}, p99 {} = **{}** raw",
                            s.sales_per_sec,
                            fmt_ratio(s.throughput_vs_raw),
                            fmt_ms(s.p50_ms),
                            fmt_ms(s.p99_ms),
                            fmt_ratio(s.p99_vs_raw)
                        ),
                        "≥ 0.8× raw sales/s; p99 ≤ 1.5× raw",
                        &[
                            (s.throughput_vs_raw >= THROUGHPUT_VS_RAW, "throughput"),
                            (s.p99_vs_raw <= P99_VS_RAW, "p99"),
                        ],
                    );
                }
                if let Some(cp) = f.capture.iter().find(|cp| cp.concurrency == c) {
                    t.row(
                        format!("Flash sale c={c}: HTTP p99, capture on vs off"),
                        format!(
                            "{} ({} vs {}: p99 of all {} / {} sales of the rounds; per-round ratios {})",
                            fmt_ratio(cp.pooled_ratio),
                            fmt_ms(cp.on_p99_ms),
                            fmt_ms(cp.off_p99_ms),
                            cp.samples_on,
                            cp.samples_off,
                            cp.per_round
                                .iter()
                                .map(|x| format!("{x:.2}"))
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                        "≤ 1.05× (within 5%)",
                        &[(cp.pooled_ratio <= CAPTURE_P99, "capture overhead")],
                    );
                }
            }
            let n = f.runs.len();
            let bad = f.runs.iter().filter(|r| !r.check.ok).count();
            t.row(
                "Flash sale correctness (every run)".into(),
                format!(
                    "{} of {n} runs: stock consumed = sales rows = successful sales",
                    n - bad
                ),
                "all runs",
                &[(bad == 0, "correctness")],
            );
        }
        if let Some(o) = self.rds_like {
            self.rds_like_rows(&mut t, o);
        }
        for p in self.pipelines {
            for (what, lat, target, limit_ms) in [
                (
                    "Stock-out → factory accepted",
                    &p.commit_to_accepted,
                    "p99 ≤ 500 ms",
                    STOCKOUT_P99_MS,
                ),
                (
                    "Callback → stock visible",
                    &p.callback_to_visible,
                    "p99 ≤ 50 ms",
                    CALLBACK_P99_MS,
                ),
            ] {
                t.row(
                    format!("{what}, {} (p99)", p.backend),
                    format!(
                        "p99 {}, p50 {} (n={})",
                        fmt_ms(lat.p99_ms),
                        fmt_ms(lat.p50_ms),
                        lat.n
                    ),
                    target,
                    &[(lat.n > 0 && lat.p99_ms <= limit_ms, "p99")],
                );
            }
        }
        for f in self.cold {
            let (ready, first, rss) = (f.ready_ms(), f.first_response_ms(), f.rss_mib());
            t.row(
                format!(
                    "Cold start `{}` (median of {})",
                    f.binary.name,
                    f.runs.len()
                ),
                format!(
                    "ready {}, first answer {}, peak RSS {:.1} MiB",
                    fmt_ms(ready),
                    fmt_ms(first),
                    rss
                ),
                "ready ≤ 10 ms; RSS ≤ 30 MiB",
                &[
                    (f.complete() && ready <= READY_MS, "ready"),
                    (f.complete() && rss <= RSS_MIB, "RSS"),
                ],
            );
        }
        for s in self.sizes {
            t.row(
                format!("Bootstrap `{}` zipped", s.name),
                format!("{} ({} unzipped)", mb(s.zipped), mb(s.bytes)),
                "≤ 6 MB zipped",
                &[(s.zipped <= ZIP_BYTES, "size")],
            );
        }
        (t.render(), t.misses)
    }

    /// The flash sale on the RDS-like configuration: every variant against the raw run of the
    /// same round, and the stock-bucket targets.
    fn rds_like_rows(&self, t: &mut Table, o: &rdslike::Outcome) {
        let f = &o.flash;
        for &c in &self.flash_cfg.concurrencies {
            let get = |v: Variant| {
                f.summaries
                    .iter()
                    .find(|s| s.concurrency == c && s.variant == v && s.sales_per_sec.is_finite())
            };
            let raw = get(Variant::Raw);
            if let Some(raw) = raw {
                t.row(
                    format!("Flash sale (RDS-like) c={c}: raw SQL (the single-row limit)"),
                    baseline(raw),
                    "baseline",
                    &[],
                );
            }
            for v in Variant::ALL.into_iter().filter(|v| *v != Variant::Raw) {
                let Some(s) = get(v) else { continue };
                let measured = if raw.is_some() {
                    format!(
                        "{:.0} sales/s = **{}** raw; p50 {}, p99 {} = **{}** raw",
                        s.sales_per_sec,
                        fmt_ratio(s.throughput_vs_raw),
                        fmt_ms(s.p50_ms),
                        fmt_ms(s.p99_ms),
                        fmt_ratio(s.p99_vs_raw)
                    )
                } else {
                    format!(
                        "{:.0} sales/s; p50 {}, p99 {}",
                        s.sales_per_sec,
                        fmt_ms(s.p50_ms),
                        fmt_ms(s.p99_ms)
                    )
                };
                t.row(
                    format!("Flash sale (RDS-like) c={c}: {}", v.name()),
                    measured,
                    "—",
                    &[],
                );
            }
            if let (Some(raw), Some(b16)) = (raw, get(Variant::HandlerB16)) {
                t.row(
                    format!("Flash sale (RDS-like) c={c}: 16 buckets ≥ 5× raw sales/s"),
                    format!(
                        "**{}** ({:.0} vs {:.0} sales/s)",
                        fmt_ratio(b16.throughput_vs_raw),
                        b16.sales_per_sec,
                        raw.sales_per_sec
                    ),
                    "≥ 5× the single-row raw limit",
                    &[(b16.throughput_vs_raw >= BUCKETS16_VS_RAW, "throughput")],
                );
                t.row(
                    format!("Flash sale (RDS-like) c={c}: 16 buckets p99 ≤ raw p99"),
                    format!(
                        "**{}** ({} vs {})",
                        fmt_ratio(b16.p99_vs_raw),
                        fmt_ms(b16.p99_ms),
                        fmt_ms(raw.p99_ms)
                    ),
                    "≤ 1× the single-row raw p99",
                    &[(b16.p99_vs_raw <= BUCKETS16_P99_VS_RAW, "p99")],
                );
            }
        }
        let runs: Vec<&flash::Run> = f.runs.iter().collect();
        let oversold = rdslike::oversold(&runs);
        let bad = runs.iter().filter(|r| !r.check.ok).count();
        t.row(
            "Flash sale (RDS-like): 0 oversold (correctness check every run)".into(),
            format!(
                "{oversold} oversold; {} of {} runs: stock consumed = sales rows = successful sales",
                runs.len() - bad,
                runs.len()
            ),
            "0 oversold, all runs",
            &[(oversold == 0 && bad == 0, "correctness")],
        );
    }
}

/// A raw-SQL baseline's cell in the summary: its throughput and latency.
fn baseline(raw: &flash::Summary) -> String {
    format!(
        "{:.0} sales/s, p50 {}, p99 {}",
        raw.sales_per_sec,
        fmt_ms(raw.p50_ms),
        fmt_ms(raw.p99_ms)
    )
}
