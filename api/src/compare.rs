//! Two runs of a project compared: `GET /jobs/{id}/compare?baseline={id}`.

use broadside_engine::report::{ComparedRow, Thresholds};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::Job;

/// Parameters of a comparison: the baseline and what counts as a regression.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CompareQuery {
    /// The baseline job's id.
    pub baseline: u64,
    /// Largest accepted increase of a p95, in percent (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_p95_increase_percent: Option<f64>,
    /// Largest accepted increase of a p99, in percent (default: not judged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_p99_increase_percent: Option<f64>,
    /// Largest accepted increase of an error rate, in percentage points (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_error_rate_increase: Option<f64>,
}

impl CompareQuery {
    /// The thresholds these parameters give (defaults where absent).
    pub fn thresholds(&self) -> Thresholds {
        let defaults = Thresholds::default();
        Thresholds {
            max_p95_increase_percent: self
                .max_p95_increase_percent
                .unwrap_or(defaults.max_p95_increase_percent),
            max_p99_increase_percent: self
                .max_p99_increase_percent
                .or(defaults.max_p99_increase_percent),
            max_error_rate_increase: self
                .max_error_rate_increase
                .unwrap_or(defaults.max_error_rate_increase),
        }
    }
}

/// A candidate run against a baseline run, request name by request name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Comparison {
    /// The baseline job.
    pub baseline: Job,
    /// The candidate job.
    pub candidate: Job,
    /// The thresholds applied: `max_p95_increase_percent`, `max_p99_increase_percent`,
    /// `max_error_rate_increase`.
    #[schema(value_type = Object)]
    pub thresholds: Thresholds,
    /// Whether any row regressed beyond the thresholds.
    pub regressed: bool,
    /// All requests (`name` = `all`) first, then every request name of either run: `baseline`
    /// and `candidate` rows of `docs/summary-schema.md` (null when that run did not send it),
    /// `p50_change_percent`, `p95_change_percent`, `p99_change_percent`,
    /// `error_rate_change` (percentage points) and `regressions` (one sentence each).
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<ComparedRow>,
}
