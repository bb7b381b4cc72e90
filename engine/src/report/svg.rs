//! A small SVG chart builder for the HTML report.
//!
//! Two kinds of chart: [`LineChart`] (line and area series over a numeric x axis, gaps where a
//! value is missing) and [`BarChart`] (one bar per category). Both draw axes with "nice" ticks,
//! grid lines, axis labels and a legend, and carry hover tooltips as SVG `<title>` elements,
//! which browsers show natively: the markup needs no script and no external resource, only the
//! `chart-*` classes styled by the report's inline stylesheet. Non-finite values are ignored;
//! nothing here panics on any input.

use std::fmt::Write as _;

use super::text::{escape_html, fmt_ms, fmt_seconds};

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

/// How a line-chart series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    /// A line.
    Line,
    /// A line with the area under it lightly filled.
    Area,
}

/// One series of a [`LineChart`]: `(x, y)` points in increasing `x`; a `None` y is a gap.
#[derive(Clone, Debug)]
pub(crate) struct Series {
    name: String,
    color: &'static str,
    style: Style,
    points: Vec<(f64, Option<f64>)>,
}

impl Series {
    /// A series named `name` drawn in `color` (any CSS color).
    pub(crate) fn new(
        name: impl Into<String>,
        color: &'static str,
        style: Style,
        points: Vec<(f64, Option<f64>)>,
    ) -> Self {
        let points = points
            .into_iter()
            .filter(|(x, _)| x.is_finite())
            .map(|(x, y)| (x, y.filter(|y| y.is_finite())))
            .collect();
        Series {
            name: name.into(),
            color,
            style,
            points,
        }
    }
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

/// A line/area chart over a numeric x axis; the y axis starts at zero.
#[derive(Clone, Debug)]
pub(crate) struct LineChart {
    x_label: String,
    y_label: String,
    x_format: Format,
    y_format: Format,
    series: Vec<Series>,
}

impl LineChart {
    /// An empty chart with axis labels; x in seconds since the start of the run, y as numbers
    /// unless [`LineChart::y_format`] says otherwise.
    pub(crate) fn new(x_label: impl Into<String>, y_label: impl Into<String>) -> Self {
        LineChart {
            x_label: x_label.into(),
            y_label: y_label.into(),
            x_format: Format::Seconds,
            y_format: Format::Number,
            series: Vec::new(),
        }
    }

    /// Sets how y ticks and values are written.
    pub(crate) fn y_format(mut self, format: Format) -> Self {
        self.y_format = format;
        self
    }

    /// Adds a series.
    pub(crate) fn series(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }

    /// The chart as an `<svg>` element; `title` is its accessible name.
    pub(crate) fn render(&self, title: &str) -> String {
        let mut svg = open_svg(title);
        let xs: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .collect();
        let ys = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().filter_map(|p| p.1));
        let y_data_max = ys.fold(0.0f64, f64::max);
        if xs.is_empty() {
            no_data(&mut svg);
            return close_svg(svg);
        }
        let mut x_min = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let mut x_max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if x_max - x_min <= 0.0 {
            x_min -= 0.5;
            x_max += 0.5;
        }
        let y_step = step_for(
            self.y_format,
            if y_data_max > 0.0 { y_data_max } else { 1.0 },
            5,
        );
        let y_max = ((y_data_max / y_step).ceil() * y_step).max(y_step);
        let frame = Frame {
            x_min,
            x_max,
            y_max,
        };
        let x_step = step_for(self.x_format, x_max - x_min, 8);

        self.axes(&mut svg, &frame, x_step, y_step);
        for series in &self.series {
            draw_series(&mut svg, &frame, series);
        }
        self.hover_slots(&mut svg, &frame, xs);
        legend(
            &mut svg,
            self.series.iter().map(|s| (s.name.as_str(), s.color)),
        );
        close_svg(svg)
    }

    /// Grid lines, ticks and labels of both axes.
    fn axes(&self, svg: &mut String, frame: &Frame, x_step: f64, y_step: f64) {
        let (bottom, right) = (TOP + Frame::plot_height(), LEFT + Frame::plot_width());
        for v in ticks(0.0, frame.y_max, y_step) {
            let y = frame.y(v);
            let _ = write!(
                svg,
                r#"<line class="chart-grid" x1="{LEFT}" y1="{y:.1}" x2="{right}" y2="{y:.1}"/><text class="chart-tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                LEFT - 6.0,
                y + 4.0,
                escape_html(&self.y_format.tick(v, y_step)),
            );
        }
        for v in ticks(frame.x_min, frame.x_max, x_step) {
            let x = frame.x(v);
            let _ = write!(
                svg,
                r#"<line class="chart-tickmark" x1="{x:.1}" y1="{bottom}" x2="{x:.1}" y2="{:.1}"/><text class="chart-tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                bottom + 4.0,
                bottom + 16.0,
                escape_html(&self.x_format.tick(v, x_step)),
            );
        }
        axis_lines_and_labels(svg, &self.x_label, &self.y_label);
    }

    /// Invisible columns, one per distinct x, each with a tooltip listing every series' value.
    fn hover_slots(&self, svg: &mut String, frame: &Frame, mut xs: Vec<f64>) {
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        svg.push_str(r#"<g class="chart-hover">"#);
        for (i, &x) in xs.iter().enumerate() {
            let left = if i == 0 {
                frame.x(x)
            } else {
                (frame.x(xs[i - 1]) + frame.x(x)) / 2.0
            };
            let right = if i + 1 == xs.len() {
                frame.x(x)
            } else {
                (frame.x(x) + frame.x(xs[i + 1])) / 2.0
            };
            let (left, right) = (left.max(LEFT), right.min(LEFT + Frame::plot_width()));
            let width = (right - left).max(1.0);
            let mut tip = self.x_format.value(x);
            for series in &self.series {
                let value = series
                    .points
                    .iter()
                    .find(|p| p.0 == x)
                    .and_then(|p| p.1)
                    .map_or_else(|| "–".to_string(), |v| self.y_format.value(v));
                let _ = write!(tip, "\n{}: {}", series.name, value);
            }
            let cx = frame.x(x);
            let _ = write!(
                svg,
                r#"<g><rect x="{left:.1}" y="{TOP}" width="{width:.1}" height="{:.1}"/><line x1="{cx:.1}" y1="{TOP}" x2="{cx:.1}" y2="{:.1}"/><title>{}</title></g>"#,
                Frame::plot_height(),
                TOP + Frame::plot_height(),
                escape_html(&tip),
            );
        }
        svg.push_str("</g>");
    }
}

/// Draws one series as a path broken at gaps (single isolated points as dots).
fn draw_series(svg: &mut String, frame: &Frame, series: &Series) {
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for &(x, y) in &series.points {
        match y {
            Some(y) => {
                if let Some(run) = runs.last_mut() {
                    run.push((frame.x(x), frame.y(y)));
                }
            }
            None => runs.push(Vec::new()),
        }
    }
    let base = frame.y(0.0);
    let mut line = String::new();
    let mut area = String::new();
    for run in runs.iter().filter(|r| !r.is_empty()) {
        if run.len() == 1 {
            let (x, y) = run[0];
            let _ = write!(
                svg,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="2.5" fill="{}"/>"#,
                series.color
            );
            continue;
        }
        for (i, (x, y)) in run.iter().enumerate() {
            let _ = write!(line, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" });
        }
        if series.style == Style::Area {
            let (first, last) = (run[0].0, run[run.len() - 1].0);
            let _ = write!(area, "M{first:.1},{base:.1}");
            for (x, y) in run {
                let _ = write!(area, "L{x:.1},{y:.1}");
            }
            let _ = write!(area, "L{last:.1},{base:.1}Z");
        }
    }
    if !area.is_empty() {
        let _ = write!(
            svg,
            r#"<path d="{area}" fill="{}" fill-opacity="0.14" stroke="none"/>"#,
            series.color
        );
    }
    if !line.is_empty() {
        let _ = write!(
            svg,
            r#"<path class="chart-line" d="{line}" fill="none" stroke="{}"/>"#,
            series.color
        );
    }
}

/// One bar of a [`BarChart`].
#[derive(Clone, Debug)]
pub(crate) struct Bar {
    /// Category label under the bar.
    pub(crate) label: String,
    /// Height of the bar.
    pub(crate) value: f64,
    /// Tooltip text.
    pub(crate) tooltip: String,
}

/// A bar chart: one bar per category, y from zero.
#[derive(Clone, Debug)]
pub(crate) struct BarChart {
    x_label: String,
    y_label: String,
    y_format: Format,
    name: String,
    color: &'static str,
    bars: Vec<Bar>,
}

impl BarChart {
    /// A bar chart of one series named `name` in `color`.
    pub(crate) fn new(
        x_label: impl Into<String>,
        y_label: impl Into<String>,
        name: impl Into<String>,
        color: &'static str,
    ) -> Self {
        BarChart {
            x_label: x_label.into(),
            y_label: y_label.into(),
            y_format: Format::Number,
            name: name.into(),
            color,
            bars: Vec::new(),
        }
    }

    /// Sets how y ticks are written.
    pub(crate) fn y_format(mut self, format: Format) -> Self {
        self.y_format = format;
        self
    }

    /// Sets the bars, left to right.
    pub(crate) fn bars(mut self, bars: Vec<Bar>) -> Self {
        self.bars = bars;
        self
    }

    /// The chart as an `<svg>` element; `title` is its accessible name.
    pub(crate) fn render(&self, title: &str) -> String {
        let mut svg = open_svg(title);
        if self.bars.is_empty() {
            no_data(&mut svg);
            return close_svg(svg);
        }
        let values = self.bars.iter().map(|b| finite_non_negative(b.value));
        let data_max = values.fold(0.0f64, f64::max);
        let y_step = step_for(
            self.y_format,
            if data_max > 0.0 { data_max } else { 1.0 },
            5,
        );
        let y_max = ((data_max / y_step).ceil() * y_step).max(y_step);
        let frame = Frame {
            x_min: 0.0,
            x_max: self.bars.len() as f64,
            y_max,
        };
        let right = LEFT + Frame::plot_width();
        let bottom = TOP + Frame::plot_height();
        for v in ticks(0.0, y_max, y_step) {
            let y = frame.y(v);
            let _ = write!(
                svg,
                r#"<line class="chart-grid" x1="{LEFT}" y1="{y:.1}" x2="{right}" y2="{y:.1}"/><text class="chart-tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                LEFT - 6.0,
                y + 4.0,
                escape_html(&self.y_format.tick(v, y_step)),
            );
        }
        let band = Frame::plot_width() / self.bars.len() as f64;
        let label_every = self.bars.len().div_ceil(10).max(1);
        svg.push_str(r#"<g class="chart-bars">"#);
        for (i, bar) in self.bars.iter().enumerate() {
            let x = frame.x(i as f64);
            let top = frame.y(finite_non_negative(bar.value));
            let _ = write!(
                svg,
                r#"<g><rect class="chart-band" x="{x:.1}" y="{TOP}" width="{band:.1}" height="{:.1}"/><rect x="{:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{}"/><title>{}</title></g>"#,
                Frame::plot_height(),
                x + band * 0.1,
                (band * 0.8).max(0.5),
                (bottom - top).max(0.0),
                self.color,
                escape_html(&bar.tooltip),
            );
            if i % label_every == 0 {
                let _ = write!(
                    svg,
                    r#"<text class="chart-tick" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                    x + band / 2.0,
                    bottom + 16.0,
                    escape_html(&bar.label),
                );
            }
        }
        svg.push_str("</g>");
        axis_lines_and_labels(&mut svg, &self.x_label, &self.y_label);
        legend(&mut svg, std::iter::once((self.name.as_str(), self.color)));
        close_svg(svg)
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

    #[test]
    fn line_chart_draws_series_gaps_legend_and_tooltips() {
        let points = vec![
            (0.0, Some(1.0)),
            (1.0, Some(3.0)),
            (2.0, None),
            (3.0, Some(2.0)),
        ];
        let svg = LineChart::new("Time", "Users")
            .y_format(Format::Count)
            .series(Series::new("a<b", "#123456", Style::Area, points))
            .render("Users & more");
        assert!(svg.starts_with("<svg"));
        assert!(svg.ends_with("</svg>"));
        assert!(svg.contains("a&lt;b"));
        assert!(svg.contains("Users &amp; more"));
        assert!(svg.contains("<circle"), "isolated point is a dot");
        assert_eq!(
            svg.matches("<title>").count(),
            1 + 4,
            "chart title + one per x"
        );
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn empty_and_degenerate_charts() {
        let svg = LineChart::new("x", "y").render("empty");
        assert!(svg.contains("No data"));
        let flat = LineChart::new("x", "y")
            .series(Series::new(
                "s",
                "red",
                Style::Line,
                vec![(5.0, Some(0.0)), (f64::NAN, None)],
            ))
            .render("one point");
        assert!(!flat.contains("NaN") && !flat.contains("inf"));
        let bars = BarChart::new("x", "y", "s", "red").render("no bars");
        assert!(bars.contains("No data"));
    }

    #[test]
    fn bar_chart_draws_bars() {
        let bars = (0..30)
            .map(|i| Bar {
                label: format!("{i}"),
                value: f64::from(i),
                tooltip: format!("<{i}>"),
            })
            .collect();
        let svg = BarChart::new("ms", "%", "share", "green")
            .bars(bars)
            .render("dist");
        assert_eq!(svg.matches("<title>").count(), 31);
        assert!(svg.contains("&lt;29&gt;"));
        assert!(!svg.contains("NaN"));
    }
}
