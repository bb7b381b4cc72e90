//! A small SVG chart builder for the HTML report.
//!
//! Two kinds of chart: [`LineChart`] (line and area series over a numeric x axis, gaps where a
//! value is missing) and [`BarChart`] (one bar per category). Both draw axes with "nice" ticks,
//! grid lines, axis labels and a legend, and carry hover tooltips as SVG `<title>` elements,
//! which browsers show natively: the markup needs no script and no external resource, only the
//! `chart-*` classes styled by the report's inline stylesheet. Non-finite values are ignored;
//! nothing here panics on any input.

mod bar;
mod line;

use std::fmt::Write as _;

use super::text::{escape_html, fmt_ms, fmt_seconds};

pub(crate) use bar::{Bar, BarChart};
pub(crate) use line::{LineChart, Series, Style};

/// The SVG namespace, the only URL in the report.
const SVG_NS: &str = "http://www.w3.org/2000/svg";
/// Width of the drawing in user units; the chart scales to its container.
const WIDTH: f64 = 640.0;
/// Height of the drawing in user units.
const HEIGHT: f64 = 280.0;
/// Space left of the plot for the y ticks and label.
const LEFT: f64 = 62.0;
/// Space right of the plot.
const RIGHT: f64 = 14.0;
/// Space above the plot for the legend.
const TOP: f64 = 30.0;
/// Space below the plot for the x ticks and label.
const BOTTOM: f64 = 44.0;
/// Upper bound on the number of ticks of one axis, whatever the data.
const MAX_TICKS: usize = 20;

/// How axis ticks and tooltip values are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// Whole counts (ticks never fall between integers): `12`, `12k`.
    Count,
    /// Decimal numbers (rates): `0.5`, `12`, `1.2k`.
    Number,
    /// Seconds since the start of the run: `45s`, `1m30s`.
    Seconds,
    /// Milliseconds: `12.3` (the axis label carries the unit).
    Millis,
    /// Percentages: `12%`.
    Percent,
}

impl Format {
    /// A tick label for `v`, given the distance between ticks.
    fn tick(self, v: f64, step: f64) -> String {
        match self {
            Format::Seconds => seconds_tick(v.max(0.0).round() as u64),
            Format::Percent => format!("{}%", compact(v, step)),
            Format::Count | Format::Number | Format::Millis => compact(v, step),
        }
    }

    /// A tooltip value: more precise than a tick.
    fn value(self, v: f64) -> String {
        match self {
            Format::Count => format!("{}", v.round()),
            Format::Number => {
                if v.abs() >= 100.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.1}")
                }
            }
            Format::Seconds => fmt_seconds(v.max(0.0).round() as u64),
            Format::Millis => format!("{} ms", fmt_ms(v)),
            Format::Percent => format!("{v:.2}%"),
        }
    }
}

/// A time tick without zero parts: `45s`, `2m`, `1m30s`, `1h`, `1h30m`.
fn seconds_tick(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, 0) => format!("{h}h{m:02}m"),
        _ => fmt_seconds(secs),
    }
}

/// A tick value with as many decimals as the step needs, thousands as `k` and millions as `M`.
fn compact(v: f64, step: f64) -> String {
    let (scaled, scaled_step, suffix) = if v.abs() >= 1e6 && step >= 1e5 {
        (v / 1e6, step / 1e6, "M")
    } else if v.abs() >= 1e4 && step >= 1e3 {
        (v / 1e3, step / 1e3, "k")
    } else {
        (v, step, "")
    };
    // As many decimals as it takes to write the step exactly (0.25 needs 2), at most 6.
    let decimals = (0..6)
        .find(|&d| {
            let shifted = scaled_step * 10f64.powi(d);
            (shifted - shifted.round()).abs() < 1e-6 * shifted.abs().max(1.0)
        })
        .unwrap_or(6) as usize;
    format!("{scaled:.decimals$}{suffix}")
}

/// A step of 1, 2, 2.5 or 5 times a power of ten giving about `target` ticks over `range`.
fn nice_step(range: f64, target: usize) -> f64 {
    let rough = range / target.max(1) as f64;
    if !rough.is_finite() || rough <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(rough.log10().floor());
    let residual = rough / magnitude;
    let nice = if residual <= 1.0 {
        1.0
    } else if residual <= 2.0 {
        2.0
    } else if residual <= 2.5 {
        2.5
    } else if residual <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// A step for an axis in seconds: whole seconds, minutes or hours.
fn time_step(range: f64, target: usize) -> f64 {
    const STEPS: [f64; 16] = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
        10_800.0, 21_600.0,
    ];
    let rough = range / target.max(1) as f64;
    STEPS
        .iter()
        .copied()
        .find(|&s| s >= rough)
        .unwrap_or_else(|| nice_step(range / 3600.0, target) * 3600.0)
}

/// An axis step for `format` over `range`.
fn step_for(format: Format, range: f64, target: usize) -> f64 {
    let step = match format {
        Format::Seconds => time_step(range, target),
        _ => nice_step(range, target),
    };
    if format == Format::Count {
        step.max(1.0).round()
    } else {
        step
    }
}

/// Tick values from the first multiple of `step` at or above `min` up to `max`, at most
/// [`MAX_TICKS`] of them.
fn ticks(min: f64, max: f64, step: f64) -> Vec<f64> {
    if !(step > 0.0 && min.is_finite() && max.is_finite()) {
        return Vec::new();
    }
    let first = (min / step).ceil();
    (0..MAX_TICKS)
        .map(|i| (first + i as f64) * step)
        .take_while(|&v| v <= max + step * 1e-9)
        .collect()
}

/// Maps data to drawing coordinates within the plot area.
struct Frame {
    x_min: f64,
    x_max: f64,
    y_max: f64,
}

impl Frame {
    fn plot_width() -> f64 {
        WIDTH - LEFT - RIGHT
    }

    fn plot_height() -> f64 {
        HEIGHT - TOP - BOTTOM
    }

    fn x(&self, v: f64) -> f64 {
        LEFT + (v - self.x_min) / (self.x_max - self.x_min) * Self::plot_width()
    }

    fn y(&self, v: f64) -> f64 {
        let v = v.clamp(0.0, self.y_max);
        TOP + Self::plot_height() - v / self.y_max * Self::plot_height()
    }
}

/// `v` if finite and positive, else 0.
fn finite_non_negative(v: f64) -> f64 {
    if v.is_finite() && v > 0.0 {
        v
    } else {
        0.0
    }
}

/// The opening `<svg>` tag and its accessible title.
fn open_svg(title: &str) -> String {
    let title = escape_html(title);
    format!(
        r#"<svg class="chart" xmlns="{SVG_NS}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{title}"><title>{title}</title>"#
    )
}

/// Closes the `<svg>` element.
fn close_svg(mut svg: String) -> String {
    svg.push_str("</svg>");
    svg
}

/// A "No data" placeholder in the middle of the plot.
fn no_data(svg: &mut String) {
    let _ = write!(
        svg,
        r#"<text class="chart-empty" x="{:.1}" y="{:.1}" text-anchor="middle">No data</text>"#,
        WIDTH / 2.0,
        HEIGHT / 2.0
    );
}

/// The two axis lines and the axis labels.
fn axis_lines_and_labels(svg: &mut String, x_label: &str, y_label: &str) {
    let (bottom, right) = (TOP + Frame::plot_height(), LEFT + Frame::plot_width());
    let mid_y = TOP + Frame::plot_height() / 2.0;
    let _ = write!(
        svg,
        r#"<line class="chart-axis" x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}"/><line class="chart-axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}"/><text class="chart-label" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text class="chart-label" x="14" y="{mid_y:.1}" text-anchor="middle" transform="rotate(-90 14 {mid_y:.1})">{}</text>"#,
        LEFT + Frame::plot_width() / 2.0,
        HEIGHT - 6.0,
        escape_html(x_label),
        escape_html(y_label),
    );
}

/// A one-row legend above the plot.
fn legend<'a>(svg: &mut String, items: impl Iterator<Item = (&'a str, &'static str)>) {
    let mut x = LEFT;
    svg.push_str(r#"<g class="chart-legend">"#);
    for (name, color) in items {
        let _ = write!(
            svg,
            r#"<rect x="{x:.1}" y="9" width="12" height="12" rx="2" fill="{color}"/><text x="{:.1}" y="19.5">{}</text>"#,
            x + 17.0,
            escape_html(name),
        );
        x += 17.0 + 7.0 * name.chars().count() as f64 + 18.0;
    }
    svg.push_str("</g>");
}

/// Horizontal grid lines and labelled y ticks from 0 to the top of the frame.
fn y_grid(svg: &mut String, frame: &Frame, step: f64, format: Format) {
    let right = LEFT + Frame::plot_width();
    for v in ticks(0.0, frame.y_max, step) {
        let y = frame.y(v);
        let _ = write!(
            svg,
            r#"<line class="chart-grid" x1="{LEFT}" y1="{y:.1}" x2="{right}" y2="{y:.1}"/><text class="chart-tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y + 4.0,
            escape_html(&format.tick(v, step)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps_and_ticks() {
        assert_eq!(nice_step(100.0, 5), 20.0);
        assert_eq!(nice_step(12.0, 5), 2.5);
        assert_eq!(nice_step(0.0, 5), 1.0);
        assert_eq!(time_step(600.0, 8), 120.0);
        assert_eq!(step_for(Format::Count, 3.0, 5), 1.0);
        assert_eq!(
            ticks(0.0, 100.0, 20.0),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(ticks(0.0, 1e12, 1.0).len(), MAX_TICKS);
        assert!(ticks(0.0, f64::NAN, 1.0).is_empty());
    }

    #[test]
    fn tick_labels() {
        assert_eq!(Format::Number.tick(12_000.0, 2_000.0), "12k");
        assert_eq!(Format::Number.tick(0.5, 0.25), "0.50");
        assert_eq!(Format::Number.tick(0.4, 0.2), "0.4");
        assert_eq!(Format::Number.tick(40.0, 20.0), "40");
        assert_eq!(Format::Seconds.tick(90.0, 30.0), "1m30s");
        assert_eq!(Format::Seconds.tick(120.0, 60.0), "2m");
        assert_eq!(Format::Seconds.tick(5400.0, 1800.0), "1h30m");
        assert_eq!(Format::Seconds.tick(0.0, 1.0), "0s");
        assert_eq!(Format::Percent.tick(25.0, 5.0), "25%");
    }
}
