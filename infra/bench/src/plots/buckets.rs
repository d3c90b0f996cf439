//! The RDS-like configuration: sales/s against stock buckets, with the single-row raw limit and
//! the 16-bucket target as dashed lines.

use super::svg::{Chart, Reference, Series};
use crate::flash::{Summary, Variant};

/// Sales/s against stock buckets on the RDS-like configuration: one bar per bucket count (1 =
/// the `handler` variant, 4, 16) and concurrency, with the single-row raw limit of each
/// concurrency and 5× it (the 16-bucket target) as dashed lines. None without a bucket variant.
pub fn buckets_chart(summaries: &[Summary], concurrencies: &[usize]) -> Option<Chart<'static>> {
    const BARS: [Variant; 3] = [Variant::Handler, Variant::HandlerB4, Variant::HandlerB16];
    let get = |c: usize, v: Variant| {
        summaries
            .iter()
            .find(|s| s.concurrency == c && s.variant == v)
            .map(|s| s.sales_per_sec)
            .filter(|x| x.is_finite())
    };
    let ran = |c: usize| {
        [Variant::HandlerB4, Variant::HandlerB16]
            .iter()
            .any(|&v| get(c, v).is_some())
    };
    let cs: Vec<usize> = concurrencies.iter().copied().filter(|&c| ran(c)).collect();
    if cs.is_empty() {
        return None;
    }
    let series = cs
        .iter()
        .map(|&c| Series {
            name: format!("{c} buyers, one SKU"),
            values: BARS
                .iter()
                .map(|&v| get(c, v).unwrap_or(f64::NAN))
                .collect(),
        })
        .collect();
    let mut references = Vec::new();
    for &c in &cs {
        if let Some(raw) = get(c, Variant::Raw) {
            references.push(Reference {
                name: format!("raw SQL, single row, {c} buyers"),
                value: raw,
            });
            references.push(Reference {
                name: format!("target: 5× raw, {c} buyers"),
                value: 5.0 * raw,
            });
        }
    }
    Some(Chart {
        title: "Flash sale, RDS-like MariaDB: sales/s against stock buckets (median of rounds)",
        unit: "sales/s",
        categories: BARS
            .iter()
            .map(|&v| match v.buckets() {
                1 => "1 bucket (handler)".to_owned(),
                n => format!("{n} buckets"),
            })
            .collect(),
        series,
        references,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plots::svg::{bar_chart, tests::well_formed};

    fn summary(variant: Variant, concurrency: usize, sales_per_sec: f64) -> Summary {
        Summary {
            variant,
            concurrency,
            sales_per_sec,
            p50_ms: 1.0,
            p99_ms: 2.0,
            throughput_vs_raw: 1.0,
            p99_vs_raw: 1.0,
            bench_us_per_sale: 1.0,
            db_us_per_sale: 1.0,
            machine_busy: 1.0,
            others: 0.0,
            lock_waits_per_sale: 0.0,
            lock_wait_ms: 0.0,
        }
    }

    #[test]
    fn buckets_chart_has_a_bar_per_bucket_count_and_the_raw_limit_as_a_line() {
        let summaries = vec![
            summary(Variant::Raw, 64, 297.0),
            summary(Variant::Handler, 64, 342.0),
            summary(Variant::HandlerB4, 64, 1111.0),
            summary(Variant::HandlerB16, 64, 1777.0),
            // Another concurrency without bucket variants: no series.
            summary(Variant::Raw, 16, 250.0),
            summary(Variant::Handler, 16, 260.0),
        ];
        let chart = buckets_chart(&summaries, &[16, 64]).unwrap();
        assert_eq!(
            chart.categories,
            ["1 bucket (handler)", "4 buckets", "16 buckets"]
        );
        assert_eq!(chart.series.len(), 1);
        assert_eq!(chart.series[0].values, [342.0, 1111.0, 1777.0]);
        let refs: Vec<f64> = chart.references.iter().map(|r| r.value).collect();
        assert_eq!(refs, [297.0, 5.0 * 297.0]);
        let svg = bar_chart(&chart).unwrap();
        well_formed(&svg).unwrap();
        for text in [
            "1 bucket (handler)",
            "4 buckets",
            "16 buckets",
            "64 buyers, one SKU",
            "raw SQL, single row, 64 buyers (297)",
            "target: 5× raw, 64 buyers (1485)",
            "342",
            "1111",
            "1777",
            "sales/s",
        ] {
            assert!(svg.contains(text), "missing {text}");
        }
        // Three bars and a legend swatch in the series' colour; the lines are dashed paths in
        // the next two colours (legend included).
        let count = |what: &str, colour: &str| {
            svg.lines()
                .filter(|l| l.starts_with(what) && l.contains(&format!("\"{colour}\"")))
                .count()
        };
        assert_eq!(count("<rect", "#4C72B0"), 3 + 1, "{svg}");
        assert!(count("<polyline", "#DD8452") > 10, "{svg}");
        assert!(count("<polyline", "#55A868") > 10, "{svg}");
        // A y axis tall enough for the target line.
        assert!(svg.contains("1600") || svg.contains("1800") || svg.contains("2000"));
    }

    #[test]
    fn no_buckets_chart_without_a_bucket_variant() {
        let summaries = vec![
            summary(Variant::Raw, 64, 297.0),
            summary(Variant::Handler, 64, 342.0),
        ];
        assert!(buckets_chart(&summaries, &[64]).is_none());
        // A bucket variant that produced nothing (NaN) does not count either.
        let mut with_nan = summaries;
        with_nan.push(summary(Variant::HandlerB16, 64, f64::NAN));
        assert!(buckets_chart(&with_nan, &[64]).is_none());
    }
}
