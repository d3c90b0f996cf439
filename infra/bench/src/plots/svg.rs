//! The SVG primitives: a grouped bar chart (series of bars per category, dashed reference
//! lines, value labels, a legend), drawn with plotters' SVG backend.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

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

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Checks that every element is closed in order (a small well-formedness check: no DTD,
    /// no CDATA in plotters' output).
    pub(in crate::plots) fn well_formed(xml: &str) -> Result<(), String> {
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
}
