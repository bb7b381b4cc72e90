//! Jobs and their tasks: submission, state, run parameters.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The state of a job: `queued → waiting_for_workers → starting → running →
/// completed | failed | aborted`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Accepted, not yet looked at by the scheduler.
    Queued,
    /// Waiting for every task to be claimed by a worker.
    WaitingForWorkers,
    /// Every task claimed; the coordinated start instant is set.
    Starting,
    /// Load is being generated.
    Running,
    /// Every task ran to its end.
    Completed,
    /// The job could not run (see its reason).
    Failed,
    /// Stopped by a user.
    Aborted,
}

impl JobState {
    /// Every state, in lifecycle order.
    pub const ALL: [JobState; 7] = [
        JobState::Queued,
        JobState::WaitingForWorkers,
        JobState::Starting,
        JobState::Running,
        JobState::Completed,
        JobState::Failed,
        JobState::Aborted,
    ];

    /// The API spelling (`waiting_for_workers`).
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::WaitingForWorkers => "waiting_for_workers",
            JobState::Starting => "starting",
            JobState::Running => "running",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
            JobState::Aborted => "aborted",
        }
    }

    /// Completed, failed or aborted: the job will not change any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Completed | JobState::Failed | JobState::Aborted
        )
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of a task (one segment of a job).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for a worker to claim it (again, after a lost attempt).
    Pending,
    /// Claimed by a worker that prepares it.
    Assigned,
    /// Its worker generates load.
    Running,
    /// Ran to its end.
    Succeeded,
    /// Could not run (see its reason).
    Failed,
    /// Stopped with its job.
    Aborted,
}

impl TaskState {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Assigned => "assigned",
            TaskState::Running => "running",
            TaskState::Succeeded => "succeeded",
            TaskState::Failed => "failed",
            TaskState::Aborted => "aborted",
        }
    }

    /// Succeeded, failed or aborted.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Succeeded | TaskState::Failed | TaskState::Aborted
        )
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a job's tasks share the simulation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SplitMode {
    /// The simulation's numbers are the cluster-wide total, divided exactly among the tasks.
    #[default]
    Split,
    /// Every task runs the whole simulation (N× the load).
    Replicate,
}

/// What to do when a job's tasks cannot all be claimed within the start timeout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnTimeout {
    /// Fail the job (the default: a split job short of workers would not generate its load).
    #[default]
    Fail,
    /// Keep waiting for workers.
    Wait,
    /// Start the tasks claimed so far (at least one); the others start when workers claim
    /// them, resumed at their offset of the schedule.
    Start,
}

/// The coordinated start policy of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartPolicy {
    /// How long to wait for every task to be claimed, e.g. `"60s"` (1 s to 24 h).
    #[serde(default = "default_timeout", with = "crate::duration")]
    #[schema(value_type = String, example = "60s")]
    pub timeout: Duration,
    /// What to do then.
    #[serde(default)]
    pub on_timeout: OnTimeout,
}

fn default_timeout() -> Duration {
    Duration::from_secs(60)
}

impl Default for StartPolicy {
    fn default() -> Self {
        StartPolicy {
            timeout: default_timeout(),
            on_timeout: OnTimeout::Fail,
        }
    }
}

impl StartPolicy {
    /// Shortest start timeout accepted.
    pub const MIN_TIMEOUT: Duration = Duration::from_secs(1);
    /// Longest start timeout accepted.
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);

    /// What is wrong with these values, if anything.
    pub fn problem(&self) -> Option<String> {
        (!(Self::MIN_TIMEOUT..=Self::MAX_TIMEOUT).contains(&self.timeout))
            .then(|| "start.timeout must be between 1s and 24h".to_owned())
    }
}

/// Where a task lost with its worker may run again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReassignTo {
    /// Only a worker that runs no other task of the job (the tasks stay spread); the task waits
    /// for one, and says so.
    #[default]
    DistinctWorker,
    /// Any worker of the pool with a free slot, even one that runs another task of the job.
    AnyFreeSlot,
}

/// A job's run parameters beyond its placement (kept with the job).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobParams {
    /// Coordinated start.
    pub start: StartPolicy,
    /// Where a lost task runs again.
    #[serde(default)]
    pub reassign_to: ReassignTo,
    /// The simulation's planned length in milliseconds (its schedule's end, capped by its
    /// max duration), when it has one: what a task's elapsed time goes to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_ms: Option<u64>,
}

fn default_pool() -> String {
    "default".into()
}

fn one() -> u32 {
    1
}

/// The body of `POST /projects/{project}/jobs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// Path of the simulation file in the project.
    pub simulation: String,
    /// Display name (default: the simulation's path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Extra files to pin (files the simulation names are pinned automatically).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Worker pool.
    #[serde(default = "default_pool")]
    pub pool: String,
    /// Number of tasks (1 to 10 000), each on a distinct worker.
    #[serde(default = "one")]
    pub parallelism: u32,
    /// How the tasks share the simulation.
    #[serde(default)]
    pub mode: SplitMode,
    /// What to do when the pool has fewer free workers than tasks.
    #[serde(default)]
    pub start: StartPolicy,
    /// Where a task lost with its worker runs again (default: a worker that runs no other
    /// task of the job).
    #[serde(default)]
    pub reassign_to: ReassignTo,
}

impl Submission {
    /// A submission of `simulation` with every default (one task, pool `default`, split).
    pub fn new(simulation: impl Into<String>) -> Submission {
        Submission {
            simulation: simulation.into(),
            name: None,
            files: Vec::new(),
            pool: default_pool(),
            parallelism: 1,
            mode: SplitMode::Split,
            start: StartPolicy::default(),
            reassign_to: ReassignTo::default(),
        }
    }
}

/// A file version a job pinned when it was submitted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PinnedFile {
    /// Path in the project.
    pub path: String,
    /// Version.
    pub version: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// A job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Job {
    /// Id, unique in the cluster.
    pub id: u64,
    /// Project.
    pub project: String,
    /// Display name.
    pub name: String,
    /// Path of the simulation in the project.
    pub simulation: String,
    /// Worker pool.
    pub pool: String,
    /// Number of tasks.
    pub parallelism: u32,
    /// How the tasks share the simulation.
    pub mode: SplitMode,
    /// State.
    pub state: JobState,
    /// Why it is in this state (failures, aborts), empty otherwise.
    pub reason: String,
    /// Run parameters.
    pub params: JobParams,
    /// The file versions it runs with.
    pub files: Vec<PinnedFile>,
    /// The coordinated start instant (Unix milliseconds), once set.
    pub start_at_ms: Option<u64>,
    /// When it was accepted (Unix milliseconds).
    pub submitted_at_ms: u64,
    /// When it ended (Unix milliseconds).
    pub finished_at_ms: Option<u64>,
    /// How many times one of its tasks moved to another attempt.
    pub reassignments: u32,
}

/// A job with what only the leader knows about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobDetails {
    /// The job.
    #[serde(flatten)]
    pub job: Job,
    /// Why automatic reassignment of its tasks is paused (the storm guard), if it is.
    pub reassignment_paused: Option<String>,
}

/// A task: segment `index` of its job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Task {
    /// Segment index, from 0.
    pub index: u32,
    /// State.
    pub state: TaskState,
    /// Current attempt, from 1 (the fencing token of its worker).
    pub attempt: u32,
    /// Worker of the current attempt.
    pub worker_id: Option<String>,
    /// When the current attempt was claimed (Unix milliseconds).
    pub claimed_at_ms: Option<u64>,
    /// When the current attempt started generating load.
    pub started_at_ms: Option<u64>,
    /// When it ended.
    pub finished_at_ms: Option<u64>,
    /// Progress deltas folded for it (every attempt).
    pub deltas: u64,
    /// Why it is in this state, empty otherwise.
    pub reason: String,
    /// Set while the task of a started job has no attempt running: since when, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Waiting>,
}

/// A task of a started job that no attempt is running: its load is missing from the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Waiting {
    /// Since when (Unix milliseconds): the end of its previous attempt.
    pub since_ms: u64,
    /// Why: how its previous attempt ended, and what it waits for.
    pub reason: String,
}

/// The body of `POST /jobs/{id}/abort` (optional).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AbortRequest {
    /// Why (default: "aborted by a user").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Parameters of a project's job listing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct JobListQuery {
    /// Most jobs to return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// The `next` cursor of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Only jobs in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<JobState>,
    /// Only jobs of this simulation (its path in the project).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulation: Option<String>,
    /// Newest first (by id, descending) instead of oldest first; pass it again with `after`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub newest_first: bool,
    /// Read after a linearizable read barrier.
    #[serde(default)]
    pub consistent: bool,
}
