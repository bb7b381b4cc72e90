//! Bar charts: one bar per category, e.g. a response-time distribution.

use std::fmt::Write as _;

use super::{
    axis_lines_and_labels, close_svg, escape_html, finite_non_negative, legend, no_data, open_svg,
    step_for, y_grid, Format, Frame, TOP,
};

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
        let bottom = TOP + Frame::plot_height();
        y_grid(&mut svg, &frame, y_step, self.y_format);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_bar_chart() {
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
