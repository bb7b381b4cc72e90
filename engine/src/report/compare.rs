//! Two runs side by side: a baseline and a candidate, per request name (and all requests
//! together), with the changes of their percentiles and error rates, and the regressions a
//! set of [`Thresholds`] finds. Used by the masters' compare route and `broadside compare`,
//! so that the web UI, the CLI and a CI job judge a run the same way.

use serde::{Deserialize, Serialize};

use super::summary::{RunReport, StatsRow};
use super::text::round3;

/// The name of the row of all requests together (listed first).
pub const ALL_REQUESTS: &str = "all";

/// What counts as a regression of the candidate against the baseline.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Largest accepted increase of the 95th percentile, in percent of the baseline's.
    pub max_p95_increase_percent: f64,
    /// Largest accepted increase of the 99th percentile, in percent (`None`: not judged).
    pub max_p99_increase_percent: Option<f64>,
    /// Largest accepted increase of the error rate, in percentage points.
    pub max_error_rate_increase: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            max_p95_increase_percent: 10.0,
            max_p99_increase_percent: None,
            max_error_rate_increase: 1.0,
        }
    }
}

impl Thresholds {
    /// What is wrong with these values, if anything.
    pub fn problem(&self) -> Option<String> {
        let bad = |v: f64| !v.is_finite() || v < 0.0;
        if bad(self.max_p95_increase_percent) {
            return Some("max_p95_increase_percent must be a number ≥ 0".into());
        }
        if self.max_p99_increase_percent.is_some_and(bad) {
            return Some("max_p99_increase_percent must be a number ≥ 0".into());
        }
        if bad(self.max_error_rate_increase) {
            return Some("max_error_rate_increase must be a number ≥ 0".into());
        }
        None
    }
}

/// One request name in both runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComparedRow {
    /// The request name, or [`ALL_REQUESTS`] for the total.
    pub name: String,
    /// The row of all requests together (a request may itself be named `all`).
    #[serde(default)]
    pub total: bool,
    /// The baseline's statistics (`None`: the baseline did not send it).
    pub baseline: Option<StatsRow>,
    /// The candidate's statistics (`None`: the candidate did not send it).
    pub candidate: Option<StatsRow>,
    /// Change of the median, in percent of the baseline's.
    pub p50_change_percent: Option<f64>,
    /// Change of the 95th percentile, in percent.
    pub p95_change_percent: Option<f64>,
    /// Change of the 99th percentile, in percent.
    pub p99_change_percent: Option<f64>,
    /// Change of the error rate, in percentage points.
    pub error_rate_change: Option<f64>,
    /// Why this row regressed, one sentence per threshold exceeded (empty: it did not).
    pub regressions: Vec<String>,
}

/// The comparison of two runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The thresholds applied.
    pub thresholds: Thresholds,
    /// Whether any row regressed.
    pub regressed: bool,
    /// All requests first, then every request name of either run, by name.
    pub rows: Vec<ComparedRow>,
}

/// The change from `before` to `after` in percent of `before` (`None` without both, or from 0).
fn change_percent(before: Option<f64>, after: Option<f64>) -> Option<f64> {
    match (before, after) {
        (Some(b), Some(a)) if b > 0.0 => Some(round3((a - b) / b * 100.0)),
        _ => None,
    }
}

/// Compares one row of each run.
fn row(
    name: &str,
    total: bool,
    baseline: Option<StatsRow>,
    candidate: Option<StatsRow>,
    t: &Thresholds,
) -> ComparedRow {
    let b = baseline.as_ref();
    let c = candidate.as_ref();
    let p50 = change_percent(b.and_then(|r| r.p50_ms), c.and_then(|r| r.p50_ms));
    let p95 = change_percent(b.and_then(|r| r.p95_ms), c.and_then(|r| r.p95_ms));
    let p99 = change_percent(b.and_then(|r| r.p99_ms), c.and_then(|r| r.p99_ms));
    let errors = match (b, c) {
        (Some(b), Some(c)) if b.count > 0 && c.count > 0 => {
            Some(round3(c.ko_percent - b.ko_percent))
        }
        _ => None,
    };
    let mut regressions = Vec::new();
    let ms = |r: Option<&StatsRow>, f: fn(&StatsRow) -> Option<f64>| {
        r.and_then(f).map(|v| format!("{v} ms")).unwrap_or_default()
    };
    if let Some(change) = p95.filter(|&p| p > t.max_p95_increase_percent) {
        regressions.push(format!(
            "p95 rose {change}% ({} → {}), more than {}%",
            ms(b, |r| r.p95_ms),
            ms(c, |r| r.p95_ms),
            t.max_p95_increase_percent
        ));
    }
    if let (Some(change), Some(max)) = (p99, t.max_p99_increase_percent) {
        if change > max {
            regressions.push(format!(
                "p99 rose {change}% ({} → {}), more than {max}%",
                ms(b, |r| r.p99_ms),
                ms(c, |r| r.p99_ms),
            ));
        }
    }
    if let Some(change) = errors.filter(|&e| e > t.max_error_rate_increase) {
        regressions.push(format!(
            "errors rose {change} points ({}% → {}%), more than {}",
            b.map(|r| r.ko_percent).unwrap_or_default(),
            c.map(|r| r.ko_percent).unwrap_or_default(),
            t.max_error_rate_increase
        ));
    }
    ComparedRow {
        name: name.to_owned(),
        total,
        baseline,
        candidate,
        p50_change_percent: p50,
        p95_change_percent: p95,
        p99_change_percent: p99,
        error_rate_change: errors,
        regressions,
    }
}

/// Compares `candidate` with `baseline` under `thresholds`.
pub fn compare(baseline: &RunReport, candidate: &RunReport, thresholds: Thresholds) -> Comparison {
    let mut rows = vec![row(
        ALL_REQUESTS,
        true,
        Some(baseline.all_row()),
        Some(candidate.all_row()),
        &thresholds,
    )];
    let mut before = baseline.request_rows();
    let mut after = candidate.request_rows();
    let mut names: Vec<String> = before.keys().chain(after.keys()).cloned().collect();
    names.sort();
    names.dedup();
    for name in names {
        rows.push(row(
            &name,
            false,
            before.remove(&name),
            after.remove(&name),
            &thresholds,
        ));
    }
    Comparison {
        thresholds,
        regressed: rows.iter().any(|r| !r.regressions.is_empty()),
        rows,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::RequestStats;
    use crate::report::fixtures::empty_report;

    /// A report of `(name, latencies in ms, failures)`.
    fn report(requests: &[(&str, &[u64], u64)]) -> RunReport {
        let mut r = empty_report();
        r.duration_ms = 10_000;
        for (name, latencies, failures) in requests {
            let mut stats = RequestStats::default();
            for &ms in *latencies {
                stats.record(Duration::from_millis(ms), true);
            }
            for _ in 0..*failures {
                stats.record(Duration::from_millis(1), false);
            }
            r.stats.requests.insert((*name).to_owned(), stats);
        }
        r
    }

    #[test]
    fn a_slower_p95_beyond_the_threshold_is_a_regression_of_that_name() {
        let fast: Vec<u64> = vec![10; 100];
        let slow: Vec<u64> = vec![12; 100];
        let baseline = report(&[("home", &fast, 0), ("search", &fast, 0)]);
        let candidate = report(&[("home", &slow, 0), ("search", &fast, 0)]);
        let c = compare(&baseline, &candidate, Thresholds::default());
        assert!(c.regressed);
        let names: Vec<&str> = c.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["all", "home", "search"]);
        let totals: Vec<bool> = c.rows.iter().map(|r| r.total).collect();
        assert_eq!(totals, [true, false, false]);
        let home = &c.rows[1];
        let p95 = home.p95_change_percent.expect("both have a p95");
        assert!((p95 - 20.0).abs() < 1.0, "{p95}");
        assert_eq!(home.regressions.len(), 1, "{:?}", home.regressions);
        assert!(home.regressions[0].starts_with("p95 rose"));
        assert!(c.rows[2].regressions.is_empty());
        assert_eq!(c.rows[2].p95_change_percent, Some(0.0));
        // A looser threshold accepts it.
        let loose = Thresholds {
            max_p95_increase_percent: 25.0,
            ..Thresholds::default()
        };
        assert!(!compare(&baseline, &candidate, loose).regressed);
    }

    #[test]
    fn errors_are_judged_in_percentage_points_and_p99_only_when_asked() {
        let ok: Vec<u64> = vec![10; 98];
        let baseline = report(&[("home", &ok, 2)]);
        let candidate = report(&[("home", &ok, 5)]);
        let c = compare(&baseline, &candidate, Thresholds::default());
        let home = &c.rows[1];
        let change = home.error_rate_change.expect("both ran");
        assert!((change - 2.854).abs() < 0.01, "{change}");
        assert!(home
            .regressions
            .iter()
            .any(|r| r.starts_with("errors rose")));
        let lenient = Thresholds {
            max_error_rate_increase: 5.0,
            max_p95_increase_percent: 1000.0,
            max_p99_increase_percent: None,
        };
        assert!(!compare(&baseline, &candidate, lenient).regressed);
        let strict_p99 = Thresholds {
            max_p99_increase_percent: Some(0.0),
            ..lenient
        };
        let slower = report(&[("home", &[10; 90], 0), ("other", &[1], 0)]);
        let mut tail: Vec<u64> = vec![10; 90];
        tail.extend([50; 10]);
        let candidate = report(&[("home", &tail, 0)]);
        let c = compare(&slower, &candidate, strict_p99);
        assert!(c.rows[1].regressions.iter().any(|r| r.starts_with("p99")));
    }

    #[test]
    fn names_in_one_run_only_are_listed_and_never_regress() {
        let baseline = report(&[("old", &[10; 10], 0)]);
        let candidate = report(&[("new", &[10; 10], 10)]);
        let c = compare(&baseline, &candidate, Thresholds::default());
        assert_eq!(c.rows.len(), 3);
        let old = c.rows.iter().find(|r| r.name == "old").expect("listed");
        assert!(old.candidate.is_none() && old.p95_change_percent.is_none());
        let new = c.rows.iter().find(|r| r.name == "new").expect("listed");
        assert!(new.baseline.is_none() && new.regressions.is_empty());
        // The error rate of all requests together rose 50 points.
        assert!(!c.rows[0].regressions.is_empty());
        // Nothing at all to compare is no regression and no division by zero.
        let empty = compare(&empty_report(), &empty_report(), Thresholds::default());
        assert!(!empty.regressed);
        assert_eq!(empty.rows.len(), 1);
    }

    #[test]
    fn thresholds_must_be_non_negative_numbers() {
        assert!(Thresholds::default().problem().is_none());
        for bad in [
            Thresholds {
                max_p95_increase_percent: -1.0,
                ..Thresholds::default()
            },
            Thresholds {
                max_p99_increase_percent: Some(f64::NAN),
                ..Thresholds::default()
            },
            Thresholds {
                max_error_rate_increase: f64::INFINITY,
                ..Thresholds::default()
            },
        ] {
            assert!(bad.problem().is_some(), "{bad:?}");
        }
    }
}
