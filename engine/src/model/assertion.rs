//! Assertions: pass/fail criteria on the final result (Gatling's `assertions`).

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One assertion: a metric of a scope compared with bounds.
///
/// Scope: global by default, or one `request`, one `group`, or `for_all` requests (each must
/// pass). Metrics: `p50`, `p75`, `p95`, `p99`, `p99.9` (any `pNN`), `min`, `max`, `mean`,
/// `stddev` (milliseconds), `failed_percent`, `successful_percent`, `failed_count`, `count`,
/// `requests_per_sec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Assertion {
    /// Restrict to one request name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// Restrict to one group name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Apply to every request name separately.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub for_all: bool,
    /// The metric, e.g. `p95` or `failed_percent`.
    pub metric: String,
    /// Must be less than.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<f64>,
    /// Must be less than or equal to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<f64>,
    /// Must be greater than.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<f64>,
    /// Must be greater than or equal to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<f64>,
    /// Must equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eq: Option<f64>,
}

/// A parsed assertion metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssertionMetric {
    /// A latency percentile in milliseconds (0 < p ≤ 100).
    Percentile(f64),
    /// Minimum latency (ms).
    Min,
    /// Maximum latency (ms).
    Max,
    /// Mean latency (ms).
    Mean,
    /// Standard deviation of latency (ms).
    StdDev,
    /// Failed requests in percent.
    FailedPercent,
    /// Successful requests in percent.
    SuccessfulPercent,
    /// Failed requests.
    FailedCount,
    /// All requests.
    Count,
    /// Mean throughput over the run.
    RequestsPerSec,
}

impl AssertionMetric {
    /// Parses `p95`, `p99.9`, `max`, `failed_percent`, …; the error lists what is accepted.
    pub fn parse(text: &str) -> Result<Self, String> {
        let metric = match text {
            "min" => AssertionMetric::Min,
            "max" => AssertionMetric::Max,
            "mean" => AssertionMetric::Mean,
            "stddev" => AssertionMetric::StdDev,
            "failed_percent" => AssertionMetric::FailedPercent,
            "successful_percent" => AssertionMetric::SuccessfulPercent,
            "failed_count" => AssertionMetric::FailedCount,
            "count" => AssertionMetric::Count,
            "requests_per_sec" => AssertionMetric::RequestsPerSec,
            _ => match text.strip_prefix('p').and_then(|p| p.parse::<f64>().ok()) {
                Some(p) if p > 0.0 && p <= 100.0 => AssertionMetric::Percentile(p),
                _ => {
                    return Err(format!(
                        "unknown metric `{text}`; expected pNN (e.g. p95, p99.9), min, max, mean, stddev, \
                         failed_percent, successful_percent, failed_count, count or requests_per_sec"
                    ))
                }
            },
        };
        Ok(metric)
    }

    /// Whether the metric is a time in milliseconds.
    pub fn is_latency(self) -> bool {
        matches!(
            self,
            AssertionMetric::Percentile(_)
                | AssertionMetric::Min
                | AssertionMetric::Max
                | AssertionMetric::Mean
                | AssertionMetric::StdDev
        )
    }
}

impl fmt::Display for AssertionMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AssertionMetric::Percentile(p) => write!(f, "p{p}"),
            AssertionMetric::Min => f.write_str("min"),
            AssertionMetric::Max => f.write_str("max"),
            AssertionMetric::Mean => f.write_str("mean"),
            AssertionMetric::StdDev => f.write_str("stddev"),
            AssertionMetric::FailedPercent => f.write_str("failed_percent"),
            AssertionMetric::SuccessfulPercent => f.write_str("successful_percent"),
            AssertionMetric::FailedCount => f.write_str("failed_count"),
            AssertionMetric::Count => f.write_str("count"),
            AssertionMetric::RequestsPerSec => f.write_str("requests_per_sec"),
        }
    }
}

/// A comparison of an assertion.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// `<`
    Lt(f64),
    /// `<=`
    Lte(f64),
    /// `>`
    Gt(f64),
    /// `>=`
    Gte(f64),
    /// `==`
    Eq(f64),
}

impl Comparison {
    /// Whether `actual` satisfies the comparison.
    pub fn holds(self, actual: f64) -> bool {
        match self {
            Comparison::Lt(b) => actual < b,
            Comparison::Lte(b) => actual <= b,
            Comparison::Gt(b) => actual > b,
            Comparison::Gte(b) => actual >= b,
            Comparison::Eq(b) => (actual - b).abs() < 1e-9,
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Comparison::Lt(b) => write!(f, "< {b}"),
            Comparison::Lte(b) => write!(f, "<= {b}"),
            Comparison::Gt(b) => write!(f, "> {b}"),
            Comparison::Gte(b) => write!(f, ">= {b}"),
            Comparison::Eq(b) => write!(f, "== {b}"),
        }
    }
}

impl Assertion {
    /// The comparisons this assertion makes (all must hold).
    pub fn comparisons(&self) -> Vec<Comparison> {
        [
            self.lt.map(Comparison::Lt),
            self.lte.map(Comparison::Lte),
            self.gt.map(Comparison::Gt),
            self.gte.map(Comparison::Gte),
            self.eq.map(Comparison::Eq),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}
