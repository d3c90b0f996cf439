//! The report's main figures as SVG bar charts (plotters, SVG backend only), written next to the
//! report and linked from it: flash-sale throughput and p99 per variant and concurrency, sales/s
//! against stock buckets on the RDS-like configuration, stock-out pipeline latency, cold start
//! per function, bootstrap sizes.

use crate::flash::{Summary, Variant};
use crate::report::Report;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// One series of a grouped bar chart: a name and one value per category (NaN: no bar).
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

/// A horizontal dashed line across the chart (a limit or a target), with its value.
pub struct Reference {
    pub name: String,
    pub value: f64,
}

pub struct Chart<'a> {
    pub title: &'a str,
    pub unit: &'a str,
    pub categories: Vec<String>,
    pub series: Vec<Series>,
    /// Drawn over the bars, coloured after the series.
    pub references: Vec<Reference>,
}

/// The file of the sales/s against stock buckets chart (RDS-like configuration).
pub const BUCKETS_FILE: &str = "flash-buckets.svg";

const COLOURS: [RGBColor; 6] = [
    RGBColor(0x4c, 0x72, 0xb0),
    RGBColor(0xdd, 0x84, 0x52),
    RGBColor(0x55, 0xa8, 0x68),
    RGBColor(0xc4, 0x4e, 0x52),
    RGBColor(0x81, 0x72, 0xb3),
    RGBColor(0x93, 0x78, 0x60),
];

fn short(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A grouped bar chart as an SVG document.
pub fn bar_chart(c: &Chart) -> Result<String, String> {
    let n = c.categories.len().max(1);
    let width =
        (160 + 110 * n as u32 * (c.series.len().max(1) as u32).div_ceil(2)).clamp(640, 1400);
    let height = 420;
    let max = c
        .series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .chain(c.references.iter().map(|r| r.value))
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let top = if max > 0.0 { max * 1.35 } else { 1.0 };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(c.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..n as f64, 0.0..top)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc(c.unit)
            .y_label_formatter(&|v| short(*v))
            .draw()
            .map_err(|e| e.to_string())?;
        let k = c.series.len().max(1) as f64;
        let slot = 0.8 / k;
        for (si, s) in c.series.iter().enumerate() {
            let colour = COLOURS[si % COLOURS.len()];
            let bars = s.values.iter().enumerate().filter(|(_, v)| v.is_finite());
            chart
                .draw_series(bars.clone().map(|(ci, v)| {
                    let x0 = ci as f64 + 0.1 + si as f64 * slot;
                    Rectangle::new([(x0, 0.0), (x0 + slot * 0.92, *v)], colour.filled())
                }))
                .map_err(|e| e.to_string())?
                .label(s.name.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled())
                });
            chart
                .draw_series(bars.map(|(ci, v)| {
                    let x = ci as f64 + 0.1 + (si as f64 + 0.46) * slot;
                    Text::new(
                        short(*v),
                        (x, *v),
                        ("sans-serif", 11)
                            .into_font()
                            .color(&BLACK)
                            .pos(Pos::new(HPos::Center, VPos::Bottom)),
                    )
                }))
                .map_err(|e| e.to_string())?;
        }
        for (ri, r) in c.references.iter().enumerate() {
            if !r.value.is_finite() {
                continue;
            }
            let colour = COLOURS[(c.series.len() + ri) % COLOURS.len()];
            let style = colour.stroke_width(2);
            // Dashes of 0.06 category widths with 0.04 gaps, from the left edge to the right.
            let dashes = (0..(n * 10)).map(|i| {
                let x = i as f64 / 10.0;
                PathElement::new(vec![(x, r.value), (x + 0.06, r.value)], style)
            });
            chart
                .draw_series(dashes)
                .map_err(|e| e.to_string())?
                .label(format!("{} ({})", r.name, short(r.value)))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], style));
            chart
                .draw_series(std::iter::once(Text::new(
                    short(r.value),
                    (n as f64 - 0.01, r.value),
                    ("sans-serif", 11)
                        .into_font()
                        .color(&colour)
                        .pos(Pos::new(HPos::Right, VPos::Bottom)),
                )))
                .map_err(|e| e.to_string())?;
        }
        for (ci, name) in c.categories.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(ci as f64 + 0.5, 0.0));
            root.draw(&Text::new(
                name.as_str(),
                (px, py + 8),
                ("sans-serif", 13)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Center, VPos::Top)),
            ))
            .map_err(|e| e.to_string())?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// The report's charts (only those with data), each with its file name.
pub fn charts(r: &Report) -> Vec<(&'static str, Chart<'static>)> {
    let mut out = Vec::new();
    if let Some(f) = r.flash {
        let cs = &r.flash_cfg.concurrencies;
        let categories: Vec<String> = cs.iter().map(|c| format!("{c} buyers")).collect();
        let series = |field: fn(&crate::flash::Summary) -> f64| -> Vec<Series> {
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
        };
        out.push((
            "flash-throughput.svg",
            Chart {
                title: "Flash sale on MariaDB: throughput (median of rounds)",
                unit: "sales/s",
                categories: categories.clone(),
                series: series(|s| s.sales_per_sec),
                references: Vec::new(),
            },
        ));
        out.push((
            "flash-p99.svg",
            Chart {
                title: "Flash sale on MariaDB: p99 latency (median of rounds)",
                unit: "ms",
                categories,
                series: series(|s| s.p99_ms),
                references: Vec::new(),
            },
        ));
    }
    if let Some(o) = r.rds_like
        && let Some(chart) = buckets_chart(&o.flash.summaries, &r.flash_cfg.concurrencies)
    {
        out.push((BUCKETS_FILE, chart));
    }
    if !r.pipelines.is_empty() {
        let categories = r.pipelines.iter().map(|p| p.backend.to_string()).collect();
        let pick = |name: &str, f: fn(&crate::pipeline::Result) -> f64| Series {
            name: name.into(),
            values: r.pipelines.iter().map(f).collect(),
        };
        out.push((
            "pipeline-latency.svg",
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
            },
        ));
    }
    if !r.cold.is_empty() {
        out.push((
            "cold-start.svg",
            Chart {
                title: "Lambda cold start per function (median)",
                unit: "ms",
                categories: r.cold.iter().map(|f| f.binary.name.to_string()).collect(),
                series: vec![
                    Series {
                        name: "ready (spawn → first GET next)".into(),
                        values: r.cold.iter().map(|f| f.ready_ms()).collect(),
                    },
                    Series {
                        name: "first answer".into(),
                        values: r.cold.iter().map(|f| f.first_response_ms()).collect(),
                    },
                ],
                references: Vec::new(),
            },
        ));
    }
    if !r.sizes.is_empty() {
        out.push((
            "bootstrap-sizes.svg",
            Chart {
                title: "Bootstrap sizes (MB = 10^6 bytes; Lambda limit of this project: 6 MB zipped)",
                unit: "MB",
                categories: r.sizes.iter().map(|s| s.name.to_string()).collect(),
                series: vec![
                    Series {
                        name: "zipped".into(),
                        values: r.sizes.iter().map(|s| s.zipped as f64 / 1e6).collect(),
                    },
                    Series {
                        name: "unzipped".into(),
                        values: r.sizes.iter().map(|s| s.bytes as f64 / 1e6).collect(),
                    },
                ],
                references: Vec::new(),
            },
        ));
    }
    out
}

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

/// Writes the charts into `dir`; returns (title, file name) of each one written.
pub fn write(r: &Report, dir: &Path) -> Vec<(String, String)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that every element is closed in order (a small well-formedness check: no DTD,
    /// no CDATA in plotters' output).
    fn well_formed(xml: &str) -> Result<(), String> {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = xml;
        while let Some(i) = rest.find('<') {
            let tail = &rest[i + 1..];
            let end = tail.find('>').ok_or("unclosed tag")?;
            let tag = &tail[..end];
            rest = &tail[end + 1..];
            if tag.starts_with('?') || tag.starts_with('!') {
                continue;
            }
            if let Some(name) = tag.strip_prefix('/') {
                let open = stack.pop().ok_or(format!("stray </{name}>"))?;
                if open != name.trim() {
                    return Err(format!("<{open}> closed by </{name}>"));
                }
            } else if !tag.ends_with('/') {
                let name = tag.split_whitespace().next().unwrap_or_default();
                stack.push(name.to_owned());
            }
        }
        if stack.is_empty() {
            Ok(())
        } else {
            Err(format!("unclosed: {stack:?}"))
        }
    }

    #[test]
    fn bar_chart_is_well_formed_svg_with_every_series_and_category() {
        let chart = Chart {
            title: "Flash sale & co <test>",
            unit: "sales/s",
            categories: vec!["16 buyers".into(), "64 buyers".into()],
            series: vec![
                Series {
                    name: "raw SQL".into(),
                    values: vec![1200.0, 1500.0],
                },
                Series {
                    name: "HTTP, capture on".into(),
                    values: vec![900.0, f64::NAN],
                },
            ],
            references: Vec::new(),
        };
        let svg = bar_chart(&chart).unwrap();
        assert!(
            svg.starts_with("<svg") || svg.starts_with("<?xml"),
            "{}",
            &svg[..80]
        );
        well_formed(&svg).unwrap();
        for text in [
            "raw SQL",
            "HTTP, capture on",
            "16 buyers",
            "64 buyers",
            "sales/s",
            "1200",
            "1500",
            "900",
            "Flash sale &amp; co &lt;test&gt;",
        ] {
            assert!(svg.contains(text), "missing {text}");
        }
        // One bar per finite value (NaN: none) plus a legend swatch, per series.
        let rects = |colour: &str| {
            svg.lines()
                .filter(|l| l.starts_with("<rect") && l.contains(&format!("fill=\"{colour}\"")))
                .count()
        };
        assert_eq!(rects("#4C72B0"), 2 + 1, "{svg}");
        assert_eq!(rects("#DD8452"), 1 + 1, "{svg}");
        assert!(well_formed("<svg><g></svg>").is_err());
    }

    #[test]
    fn empty_chart_still_renders() {
        let svg = bar_chart(&Chart {
            title: "nothing",
            unit: "ms",
            categories: vec![],
            series: vec![],
            references: vec![],
        })
        .unwrap();
        well_formed(&svg).unwrap();
    }

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
