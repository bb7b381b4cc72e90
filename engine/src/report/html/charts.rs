//! The charts of the HTML report, built from the per-second series and the total histogram.
//!
//! Long runs are drawn in windows of several seconds (at most [`MAX_POINTS`] points per line):
//! counts become per-second averages over the window, active users its maximum, and percentiles
//! come from the window's merged histograms (exact, never averaged). Seconds absent from the
//! series (nothing happened) count as zeros, with no latency.

use std::fmt::Write as _;

use super::super::summary::RunReport;
use super::super::svg::{Bar, BarChart, Format, LineChart, Series, Style};
use super::super::text::{duration_ms, fmt_ms, percent};
use crate::metrics::{Histogram, SecondStats};

/// Upper bound on the points of one line.
const MAX_POINTS: u64 = 600;

const BLUE: &str = "#2563eb";
const GREEN: &str = "#16a34a";
const RED: &str = "#dc2626";
const TEAL: &str = "#0891b2";
const AMBER: &str = "#d97706";
const PURPLE: &str = "#7c3aed";

/// Aggregated seconds `[start, start + seconds)`.
struct Window {
    start: u64,
    seconds: u64,
    requests: u64,
    ok: u64,
    ko: u64,
    active_users: u64,
    latency: Histogram,
}

impl Window {
    fn rate(&self, n: u64) -> Option<f64> {
        Some(n as f64 / self.seconds.max(1) as f64)
    }

    fn percentile(&self, p: f64) -> Option<f64> {
        (!self.latency.is_empty()).then(|| self.latency.percentile_ms(p))
    }
}

/// The series grouped into at most [`MAX_POINTS`] windows of equal length, covering the first
/// to the last second seen.
fn windows(series: &[SecondStats]) -> Vec<Window> {
    let (Some(first), Some(last)) = (
        series.iter().map(|s| s.second).min(),
        series.iter().map(|s| s.second).max(),
    ) else {
        return Vec::new();
    };
    let span = last.saturating_sub(first).saturating_add(1);
    let width = span.div_ceil(MAX_POINTS).max(1);
    let count = span.div_ceil(width);
    let mut out: Vec<Window> = (0..count)
        .map(|i| {
            let start = first.saturating_add(i.saturating_mul(width));
            Window {
                start,
                seconds: width.min(last.saturating_sub(start).saturating_add(1)),
                requests: 0,
                ok: 0,
                ko: 0,
                active_users: 0,
                latency: Histogram::new_compact(),
            }
        })
        .collect();
    for s in series {
        let index = usize::try_from((s.second - first) / width).unwrap_or(usize::MAX);
        if let Some(w) = out.get_mut(index) {
            w.requests = w.requests.saturating_add(s.requests);
            w.ok = w.ok.saturating_add(s.ok);
            w.ko = w.ko.saturating_add(s.ko);
            w.active_users = w.active_users.max(s.active_users);
            w.latency.merge(&s.latency);
        }
    }
    out
}

/// The charts section body: a grid of four chart cards.
pub(super) fn render(report: &RunReport) -> String {
    let windows = windows(&report.stats.series);
    let width = windows.first().map_or(1, |w| w.seconds.max(1));
    let per = if width > 1 {
        format!(" (in {width}-second windows)")
    } else {
        String::new()
    };
    let points = |f: &dyn Fn(&Window) -> Option<f64>| -> Vec<(f64, Option<f64>)> {
        windows.iter().map(|w| (w.start as f64, f(w))).collect()
    };

    let gaps = gaps(report);
    let shaded = |chart: LineChart| {
        gaps.iter()
            .fold(chart, |c, (from, to, label)| c.band(*from, *to, label))
    };

    let users = shaded(LineChart::new("Time since start", "Active users"))
        .y_format(Format::Count)
        .series(Series::new(
            "Active users",
            BLUE,
            Style::Area,
            points(&|w| Some(w.active_users as f64)),
        ))
        .render("Active users over time");

    let throughput = shaded(LineChart::new("Time since start", "Per second"))
        .series(Series::new(
            "Requests",
            BLUE,
            Style::Line,
            points(&|w| w.rate(w.requests)),
        ))
        .series(Series::new(
            "OK responses",
            GREEN,
            Style::Area,
            points(&|w| w.rate(w.ok)),
        ))
        .series(Series::new(
            "KO responses",
            RED,
            Style::Area,
            points(&|w| w.rate(w.ko)),
        ))
        .render("Requests and responses per second");

    let mut latency =
        shaded(LineChart::new("Time since start", "Response time (ms)")).y_format(Format::Millis);
    for (name, color, p) in [
        ("p50", BLUE, 50.0),
        ("p75", TEAL, 75.0),
        ("p95", AMBER, 95.0),
        ("p99", RED, 99.0),
        ("max", PURPLE, 100.0),
    ] {
        latency = latency.series(Series::new(
            name,
            color,
            Style::Line,
            points(&|w| w.percentile(p)),
        ));
    }
    let latency = latency.render("Response time percentiles over time");

    let distribution = distribution(report);

    let mut out = String::from("<div class=\"charts\">\n");
    for (title, note, svg) in [
        ("Active users", per.as_str(), users),
        (
            "Requests and responses per second",
            per.as_str(),
            throughput,
        ),
        ("Response time percentiles", per.as_str(), latency),
        (
            "Response time distribution",
            " (all requests)",
            distribution,
        ),
    ] {
        let _ = write!(
            out,
            "<figure class=\"card\"><figcaption>{title}<span class=\"note\">{note}</span>\
             </figcaption>\n{svg}\n</figure>\n"
        );
    }
    out.push_str("</div>\n");
    out
}

/// The windows of a distributed run in which a task's planned load was missing (seconds since
/// the start, with a tooltip): the silence between two attempts of a task, and what came after
/// the last report of an attempt whose worker never delivered the rest.
fn gaps(report: &RunReport) -> Vec<(f64, f64, String)> {
    let Some(d) = &report.distribution else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for a in &d.attempts {
        if let (Some((first, _)), gap) = (a.sending, a.gap_before_seconds) {
            if gap > 0 {
                out.push((
                    first.saturating_sub(gap) as f64,
                    first as f64,
                    format!(
                        "task {}: no attempt sending for {gap} s (until attempt {} on {})",
                        a.task, a.attempt, a.worker
                    ),
                ));
            }
        }
        if let Some((from, to)) = a.unaccounted_unix_ms {
            let at = |ms: u64| ms.saturating_sub(report.started_at_unix_ms) as f64 / 1000.0;
            out.push((
                at(from),
                at(to),
                format!(
                    "task {} attempt {} on {}: not reported after its last delta (its worker \
                     never delivered the rest)",
                    a.task, a.attempt, a.worker
                ),
            ));
        }
    }
    out
}

/// Bars of the share of responses per response-time bucket, from the fastest to the slowest.
fn distribution(report: &RunReport) -> String {
    let total = report.total();
    let count = total.latency.count();
    let bars = total
        .latency
        .buckets()
        .into_iter()
        .map(|b| {
            let (low, high) = (duration_ms(b.low), duration_ms(b.high));
            let share = percent(b.count, count);
            Bar {
                label: fmt_ms(low),
                value: share,
                tooltip: format!(
                    "{} – {} ms\n{} responses ({:.2}%)",
                    fmt_ms(low),
                    fmt_ms(high),
                    b.count,
                    share
                ),
            }
        })
        .collect();
    BarChart::new(
        "Response time (ms)",
        "Share of responses",
        "Responses",
        BLUE,
    )
    .y_format(Format::Percent)
    .bars(bars)
    .render("Response time distribution")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn second(second: u64, requests: u64, users: u64) -> SecondStats {
        let mut s = SecondStats::new(second);
        s.requests = requests;
        s.ok = requests;
        s.active_users = users;
        for _ in 0..requests {
            s.latency.record_micros(10_000);
        }
        s
    }

    #[test]
    fn short_series_have_one_window_per_second_with_gaps_as_zero() {
        let w = windows(&[second(0, 2, 1), second(3, 4, 2)]);
        assert_eq!(w.len(), 4);
        assert_eq!(w[1].requests, 0);
        assert!(w[1].percentile(50.0).is_none());
        assert_eq!(w[3].rate(w[3].requests), Some(4.0));
    }

    #[test]
    fn long_series_are_windowed() {
        let series: Vec<SecondStats> = (0..3600).map(|s| second(s, 10, s)).collect();
        let w = windows(&series);
        assert_eq!(w.len(), 600);
        assert_eq!(w[0].seconds, 6);
        assert_eq!(w[0].rate(w[0].requests), Some(10.0));
        assert_eq!(w[0].active_users, 5);
        assert_eq!(w[0].latency.count(), 60);
    }

    #[test]
    fn sparse_huge_span_stays_bounded() {
        let w = windows(&[second(0, 1, 1), second(u64::MAX / 2, 1, 1)]);
        assert!(w.len() as u64 <= MAX_POINTS);
        assert!(windows(&[]).is_empty());
    }
}
