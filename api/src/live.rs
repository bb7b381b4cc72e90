//! Results and live data of a job: the merged summary, the Server-Sent Events of the live
//! stream, task log lines.

use broadside_engine::report::{RunReport, SeriesPoint, StatsRow};
use broadside_engine::wire::LogLine;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{JobState, TaskState};

/// A task as the live stream shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LiveTask {
    /// Segment index.
    pub index: u32,
    /// State.
    pub state: TaskState,
    /// Current attempt.
    pub attempt: u32,
    /// Worker of the current attempt.
    pub worker_id: Option<String>,
    /// How far into the schedule its current attempt reported (milliseconds).
    pub elapsed_ms: u64,
    /// Its active users now.
    pub users: u64,
    /// Set while no attempt runs it (its previous one was lost): since when, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<crate::Waiting>,
}

/// The `progress` event of `GET /jobs/{id}/live`, sent once per interval when something
/// changed (the first one carries everything so far).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProgressEvent {
    /// Job.
    pub job_id: u64,
    /// Its state.
    pub state: JobState,
    /// Why it is in this state.
    pub reason: String,
    /// Furthest point into the schedule any task reported (milliseconds).
    pub elapsed_ms: u64,
    /// Active users now, all tasks.
    pub users: u64,
    /// All requests so far, percentiles exact over every task (a `requests.all` row of
    /// `docs/summary-schema.md`).
    #[schema(value_type = Object)]
    pub total: StatsRow,
    /// Errors so far.
    pub errors: u64,
    /// Seconds of the series that changed since the previous event (a `series` point of
    /// `docs/summary-schema.md` each).
    #[schema(value_type = Vec<Object>)]
    pub series: Vec<SeriesPoint>,
    /// Every task.
    pub tasks: Vec<LiveTask>,
    /// Every request name so far (a `requests.by_name` row of `docs/summary-schema.md` each,
    /// percentiles exact over every task).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub requests: std::collections::BTreeMap<String, StatsRow>,
}

/// The `end` event of the live stream: the job is finished and every delta was sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EndEvent {
    /// Job.
    pub job_id: u64,
    /// Its final state.
    pub state: JobState,
    /// Why.
    pub reason: String,
}

/// One `log` event of the live stream, and one NDJSON line of `GET /jobs/{id}/tasks/{index}/logs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LogEvent {
    /// Task index.
    pub task: u32,
    /// Attempt that logged it.
    pub attempt: u32,
    /// The line: `at_ms` (worker clock), `level`, `message`.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub line: LogLine,
}

/// Parameters of a task's log listing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    /// The last N lines (default 100, at most 10 000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<usize>,
    /// Keep the response open and send new lines until the job ends.
    #[serde(default)]
    pub follow: bool,
}

/// `GET /jobs/{id}/result`: the merged `summary.json` of the job (`docs/summary-schema.md`)
/// plus how far apart its tasks' loads started.
#[derive(Clone, Debug, PartialEq)]
pub struct JobResult {
    /// The merged report (exact statistics of every task).
    pub report: RunReport,
    /// The spread of the tasks' start instants in milliseconds (`None` with fewer than two
    /// final task reports).
    pub start_skew_ms: Option<u64>,
    /// The document as served (with its derived tables).
    pub summary: serde_json::Value,
}

impl JobResult {
    /// The document of `report` with its skew.
    pub fn new(report: RunReport, start_skew_ms: Option<u64>) -> JobResult {
        let summary = JobResult::document(&report, start_skew_ms);
        JobResult {
            report,
            start_skew_ms,
            summary,
        }
    }

    /// The served document of `report` with its skew.
    pub fn document(report: &RunReport, start_skew_ms: Option<u64>) -> serde_json::Value {
        let mut summary = report.to_summary_json();
        if let serde_json::Value::Object(map) = &mut summary {
            map.insert("start_skew_ms".into(), serde_json::json!(start_skew_ms));
        }
        summary
    }

    /// Reads a served document back.
    pub fn from_summary(summary: serde_json::Value) -> Result<JobResult, serde_json::Error> {
        let start_skew_ms = summary
            .get("start_skew_ms")
            .and_then(serde_json::Value::as_u64);
        let report = RunReport::from_summary_json(summary.clone())?;
        Ok(JobResult {
            report,
            start_skew_ms,
            summary,
        })
    }

    /// Requests counted over every task (responses, ok and failed).
    pub fn requests(&self) -> u64 {
        self.report.all_row().count
    }
}

impl Serialize for JobResult {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.summary.serialize(s)
    }
}

impl<'de> Deserialize<'de> for JobResult {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        JobResult::from_summary(serde_json::Value::deserialize(d)?)
            .map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for JobResult {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .description(Some(
                "The merged summary.json of the job (see docs/summary-schema.md), with \
                 `start_skew_ms`.",
            ))
            .into()
    }
}

impl ToSchema for JobResult {}
