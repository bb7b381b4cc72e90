//! Evaluation of the simulation's [`Assertion`]s against the final [`RunStats`].
//!
//! Scopes: global (all requests), one `request`, one `group`, or `for_all` (one outcome per
//! request name). A scope without data fails with a message saying so: an assertion on a
//! misspelt request name must not pass silently. Latency metrics are in milliseconds.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::stats::{RequestStats, RunStats};
use crate::model::{Assertion, AssertionMetric, Comparison};

/// The result of one assertion (for `for_all`: of one request name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssertionOutcome {
    /// What was asserted, e.g. ``global: p95 < 500 ms`` or ``request `login`: failed_percent <= 1``.
    pub description: String,
    /// Whether every comparison held.
    pub passed: bool,
    /// The measured value; `None` when the scope had no data (or the metric was invalid).
    pub actual: Option<f64>,
    /// Explanation: the actual value and, on failure, what was expected.
    pub message: String,
}

/// Evaluates every assertion; `duration` is the run's duration (for `requests_per_sec`).
pub fn evaluate(
    assertions: &[Assertion],
    stats: &RunStats,
    duration: Duration,
) -> Vec<AssertionOutcome> {
    let mut out = Vec::new();
    for assertion in assertions {
        evaluate_one(assertion, stats, duration, &mut out);
    }
    out
}

fn evaluate_one(
    assertion: &Assertion,
    stats: &RunStats,
    duration: Duration,
    out: &mut Vec<AssertionOutcome>,
) {
    let metric = AssertionMetric::parse(&assertion.metric);
    let comparisons = assertion.comparisons();
    let bounds = describe_bounds(metric.as_ref().ok().copied(), &comparisons);
    let fail = |scope: String, message: String| AssertionOutcome {
        description: format!("{scope}: {}{bounds}", assertion.metric),
        passed: false,
        actual: None,
        message,
    };
    let scope_name = scope_label(assertion);
    let metric = match metric {
        Ok(metric) => metric,
        Err(message) => return out.push(fail(scope_name, message)),
    };
    if comparisons.is_empty() {
        return out.push(fail(
            scope_name,
            "no bound given: set lt, lte, gt, gte or eq".to_owned(),
        ));
    }
    if assertion.request.is_some() && assertion.group.is_some() {
        return out.push(fail(
            scope_name,
            "an assertion applies to a request or to a group, not both".to_owned(),
        ));
    }
    let check = |scope: String, data: Option<&RequestStats>, missing: String| match data
        .filter(|d| d.count() > 0)
    {
        None => fail(scope, missing),
        Some(data) => judge(scope, metric, &comparisons, &bounds, data, duration),
    };
    if assertion.for_all {
        let other = match (&assertion.request, &assertion.group) {
            (Some(name), _) => Some(format!("request `{name}`")),
            (None, Some(name)) => Some(format!("group `{name}`")),
            (None, None) => None,
        };
        if let Some(other) = other {
            return out.push(fail(
                scope_name,
                format!("for_all applies to every request; it cannot be combined with {other}"),
            ));
        }
        let mut any = false;
        for (name, data) in &stats.requests {
            if data.count() == 0 {
                continue;
            }
            any = true;
            out.push(check(
                format!("request `{name}`"),
                Some(data),
                String::new(),
            ));
        }
        if !any {
            out.push(fail(
                "for_all requests".to_owned(),
                "no requests were recorded".to_owned(),
            ));
        }
        return;
    }
    let outcome = if let Some(name) = &assertion.request {
        check(
            scope_name,
            stats.requests.get(name),
            format!(
                "no request named `{name}` was recorded{}",
                known_names(stats.requests.keys())
            ),
        )
    } else if let Some(name) = &assertion.group {
        check(
            scope_name,
            stats.groups.get(name),
            format!(
                "no group named `{name}` was recorded{}",
                known_names(stats.groups.keys())
            ),
        )
    } else {
        let total = stats.total();
        check(
            scope_name,
            Some(&total),
            "no requests were recorded".to_owned(),
        )
    };
    out.push(outcome);
}

/// Compares the metric of `data` with every bound.
fn judge(
    scope: String,
    metric: AssertionMetric,
    comparisons: &[Comparison],
    bounds: &str,
    data: &RequestStats,
    duration: Duration,
) -> AssertionOutcome {
    let description = format!("{scope}: {metric}{bounds}");
    let Some(actual) = measure(metric, data, duration) else {
        return AssertionOutcome {
            description,
            passed: false,
            actual: None,
            message: "the run duration is zero: no throughput can be computed".to_owned(),
        };
    };
    let unit = unit(metric);
    let failed: Vec<String> = comparisons
        .iter()
        .filter(|c| !c.holds(actual))
        .map(|c| format!("{c}{unit}"))
        .collect();
    let passed = failed.is_empty();
    let message = if passed {
        format!("{metric} = {}{unit}", number(actual))
    } else {
        format!(
            "{metric} = {}{unit}, expected {}",
            number(actual),
            failed.join(" and ")
        )
    };
    AssertionOutcome {
        description,
        passed,
        actual: Some(actual),
        message,
    }
}

/// The metric's value; `None` only for a throughput over a zero duration.
fn measure(metric: AssertionMetric, data: &RequestStats, duration: Duration) -> Option<f64> {
    let count = data.count() as f64;
    let value = match metric {
        AssertionMetric::Percentile(p) => data.latency.percentile_ms(p),
        AssertionMetric::Min => data.latency.min(),
        AssertionMetric::Max => data.latency.max(),
        AssertionMetric::Mean => data.latency.mean(),
        AssertionMetric::StdDev => data.latency.stddev(),
        AssertionMetric::FailedPercent => data.ko as f64 * 100.0 / count,
        AssertionMetric::SuccessfulPercent => data.ok as f64 * 100.0 / count,
        AssertionMetric::FailedCount => data.ko as f64,
        AssertionMetric::Count => count,
        AssertionMetric::RequestsPerSec => {
            let secs = duration.as_secs_f64();
            if secs <= 0.0 {
                return None;
            }
            count / secs
        }
    };
    Some(value)
}

fn scope_label(assertion: &Assertion) -> String {
    match (&assertion.request, &assertion.group, assertion.for_all) {
        (_, _, true) => "for_all requests".to_owned(),
        (Some(name), _, _) => format!("request `{name}`"),
        (None, Some(name), _) => format!("group `{name}`"),
        (None, None, false) => "global".to_owned(),
    }
}

fn unit(metric: AssertionMetric) -> &'static str {
    if metric.is_latency() {
        " ms"
    } else {
        ""
    }
}

/// `" < 500 ms and >= 10 ms"` (empty without comparisons).
fn describe_bounds(metric: Option<AssertionMetric>, comparisons: &[Comparison]) -> String {
    let unit = metric.map_or("", unit);
    let parts: Vec<String> = comparisons.iter().map(|c| format!("{c}{unit}")).collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" {}", parts.join(" and "))
    }
}

/// A number without useless decimals: `500`, `12.5`, `0.333`.
fn number(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.3}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        text.to_owned()
    }
}

/// `" (recorded: a, b, c)"`, at most 10 names, or `""`.
fn known_names<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&String> = names.collect();
    if names.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = names.iter().take(10).map(|n| format!("`{n}`")).collect();
    let more = if names.len() > 10 {
        format!(", … ({} in all)", names.len())
    } else {
        String::new()
    };
    format!(" (recorded: {}{more})", shown.join(", "))
}
