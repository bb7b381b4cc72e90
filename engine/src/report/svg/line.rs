//! Line and area charts over a numeric x axis (time since the start of the run).

use std::fmt::Write as _;

use super::{
    axis_lines_and_labels, close_svg, escape_html, legend, no_data, open_svg, step_for, ticks,
    y_grid, Format, Frame, LEFT, TOP,
};

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

/// A line/area chart over a numeric x axis; the y axis starts at zero.
#[derive(Clone, Debug)]
pub(crate) struct LineChart {
    x_label: String,
    y_label: String,
    x_format: Format,
    y_format: Format,
    series: Vec<Series>,
    bands: Vec<Band>,
}

/// A shaded window of the x axis with a tooltip (a gap in a distributed run's load).
#[derive(Clone, Debug)]
struct Band {
    from: f64,
    to: f64,
    label: String,
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
            bands: Vec::new(),
        }
    }

    /// Shades the window `[from, to]` of the x axis, with `label` as its tooltip.
    pub(crate) fn band(mut self, from: f64, to: f64, label: impl Into<String>) -> Self {
        self.bands.push(Band {
            from,
            to,
            label: label.into(),
        });
        self
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
        // Over the hover columns: in a gap, its own tooltip says why the load is missing.
        self.draw_bands(&mut svg, &frame);
        legend(
            &mut svg,
            self.series.iter().map(|s| (s.name.as_str(), s.color)),
        );
        close_svg(svg)
    }

    /// Grid lines, ticks and labels of both axes.
    fn axes(&self, svg: &mut String, frame: &Frame, x_step: f64, y_step: f64) {
        let bottom = TOP + Frame::plot_height();
        y_grid(svg, frame, y_step, self.y_format);
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

    /// The shaded windows, clipped to the plot.
    fn draw_bands(&self, svg: &mut String, frame: &Frame) {
        for b in &self.bands {
            let left = frame.x(b.from.max(frame.x_min));
            let right = frame.x(b.to.min(frame.x_max));
            if right <= left {
                continue;
            }
            let _ = write!(
                svg,
                r#"<rect class="chart-gap" x="{left:.1}" y="{TOP}" width="{:.1}" height="{:.1}"><title>{}</title></rect>"#,
                right - left,
                Frame::plot_height(),
                escape_html(&b.label),
            );
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_are_shaded_within_the_plot_with_their_label() {
        let points = vec![(0.0, Some(1.0)), (10.0, Some(2.0))];
        let svg = LineChart::new("Time", "Requests")
            .series(Series::new("r", "#123456", Style::Line, points))
            .band(3.0, 5.0, "task 1: no attempt <sending>")
            .band(20.0, 30.0, "outside")
            .render("Requests");
        assert_eq!(svg.matches("class=\"chart-gap\"").count(), 1);
        assert!(svg.contains("task 1: no attempt &lt;sending&gt;"));
        assert!(!svg.contains("outside"));
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
    }
}
