//! The scheduler's decision core: pure functions of a [`Snapshot`] of the cluster (workers with
//! the instant this leader last heard from them, active jobs with their tasks) and a [`Clock`].
//! The driver, which runs on the leader only, builds snapshots and turns decisions into Raft
//! commands; everything here is deterministic and property-tested (`scheduler/tests.rs`).
//!
//! [`decide`] runs four named phases in order — liveness, storm guard, reassignment, starts —
//! and [`pick`] chooses the task a pulling worker takes. Timings are those of
//! `docs/design.md#timings`.
//!
//! Times: `mono` values are milliseconds on the leader's monotonic clock (liveness), `wall`
//! values are Unix milliseconds (start instants, which workers compare with their own clocks).

mod decide;
pub(crate) mod pick;

use std::collections::HashSet;

use broadside_api::StartPolicy;
use broadside_raft_store::model::{JobState, TaskState, WorkerState};
use broadside_raft_store::{Attempt, JobId};

pub use decide::decide;
pub use pick::pick;

/// One attempt of one task: the fencing token a worker's reports carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttemptRef {
    /// Job.
    pub job: JobId,
    /// Task index.
    pub task: u32,
    /// Attempt number.
    pub attempt: Attempt,
}

impl From<broadside_rpc::worker::TaskRef> for AttemptRef {
    fn from(t: broadside_rpc::worker::TaskRef) -> Self {
        AttemptRef {
            job: t.job_id,
            task: t.task,
            attempt: t.attempt,
        }
    }
}

/// The timings the core applies (`docs/design.md#timings`), in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreTimings {
    /// Silence after which an alive worker is suspect.
    pub suspect_after: u64,
    /// Silence after which a worker is dead and its tasks reassigned (`L + K + margin`).
    pub reassign_after: u64,
    /// A new leader judges no worker for this long after taking office (`F`).
    pub failover_grace: u64,
    /// Delay between the last claim and the coordinated start, for workers to prepare.
    pub start_delay: u64,
    /// Least time between two reassignments of one job (storm guard).
    pub reassign_spacing: u64,
    /// A claimed attempt that its worker's heartbeats still do not list this long after the
    /// claim was never received (the pull's reply was lost): it is reassigned.
    pub orphan_after: u64,
}

impl CoreTimings {
    /// The core timings of a master configuration.
    pub fn from_config(t: &crate::config::Timings) -> Self {
        let ms = |d: std::time::Duration| d.as_millis() as u64;
        CoreTimings {
            suspect_after: ms(t.worker_heartbeat) * 3,
            reassign_after: ms(t.reassign_after()),
            failover_grace: ms(t.failover_grace),
            start_delay: ms(t.worker_heartbeat) * 2,
            reassign_spacing: ms(t.worker_heartbeat),
            orphan_after: ms(t.worker_heartbeat) * 2 + 1_000,
        }
    }
}

/// The instants a decision is taken at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// Now on the leader's monotonic clock.
    pub mono: u64,
    /// Now on the leader's wall clock.
    pub wall: u64,
    /// When (`mono`) this leader took office, or last refused workers for want of a quorum:
    /// liveness is judged afresh from then, as after a failover.
    pub office_since: u64,
}

impl Clock {
    /// Whether the failover grace is over: workers may be judged.
    pub fn judging(&self, t: &CoreTimings) -> bool {
        self.mono >= self.office_since.saturating_add(t.failover_grace)
    }

    /// The last instant (`mono`) `worker` counts as heard from: a new leader re-arms every
    /// timer when it takes office.
    fn heard(&self, worker: &WorkerInfo) -> u64 {
        worker
            .last_seen
            .unwrap_or(self.office_since)
            .max(self.office_since)
    }
}

/// What the core decides on: the registry and the active jobs, with this leader's memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Every registered worker.
    pub workers: Vec<WorkerInfo>,
    /// Every active (non-terminal) job.
    pub jobs: Vec<JobInfo>,
}

impl Snapshot {
    /// The worker `id`, if registered.
    pub fn worker(&self, id: &str) -> Option<&WorkerInfo> {
        self.workers.iter().find(|w| w.id == id)
    }
}

/// A registered worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerInfo {
    /// Id.
    pub id: String,
    /// Pool.
    pub pool: String,
    /// Task slots.
    pub slots: u32,
    /// Registry state.
    pub state: WorkerState,
    /// When this leader last heard from it (`mono`), if it did.
    pub last_seen: Option<u64>,
    /// Its latest heartbeat to this leader: when (`wall`) and the attempts it said it runs.
    pub reported: Option<Reported>,
}

/// The attempts a worker listed in a heartbeat.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reported {
    /// When the leader received it (`wall`).
    pub at: u64,
    /// Every attempt in the heartbeat.
    pub tasks: HashSet<AttemptRef>,
}

/// A task of an active job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskInfo {
    /// Segment index.
    pub index: u32,
    /// State.
    pub state: TaskState,
    /// Current attempt.
    pub attempt: Attempt,
    /// Worker of the current attempt.
    pub worker: Option<String>,
    /// When the current attempt was claimed (`wall`).
    pub claimed_at: Option<u64>,
}

impl TaskInfo {
    /// Claimed or running: its worker generates (or is about to generate) its load.
    pub fn is_live(&self) -> bool {
        matches!(self.state, TaskState::Assigned | TaskState::Running)
    }

    /// Whether its current attempt is `worker`'s and live.
    pub fn is_live_on(&self, worker: &str) -> bool {
        self.is_live() && self.worker.as_deref() == Some(worker)
    }
}

/// An active (non-terminal) job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobInfo {
    /// Id.
    pub id: JobId,
    /// Pool.
    pub pool: String,
    /// State.
    pub state: JobState,
    /// Coordinated start instant (`wall`), once set.
    pub start_at: Option<u64>,
    /// When this leader first saw it waiting for workers (`mono`).
    pub waiting_since: u64,
    /// When this leader last reassigned one of its tasks (`mono`).
    pub last_reassignment: Option<u64>,
    /// Start policy.
    pub policy: StartPolicy,
    /// Whether a reassigned task may run beside another task of the job on one worker.
    pub share_workers: bool,
    /// Its tasks by index.
    pub tasks: Vec<TaskInfo>,
}

impl JobInfo {
    /// The current attempt of `task`.
    pub fn attempt_of(&self, task: &TaskInfo) -> AttemptRef {
        AttemptRef {
            job: self.id,
            task: task.index,
            attempt: task.attempt,
        }
    }
}

/// What the scheduler decided; the driver commits each through Raft.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A liveness transition of a worker.
    MarkWorker {
        /// Worker.
        worker: String,
        /// The state it was seen in (the transition applies only from it).
        from: WorkerState,
        /// New state.
        state: WorkerState,
        /// Why.
        reason: String,
    },
    /// Put a lost task back to pending with the next attempt.
    Reassign {
        /// The lost attempt.
        attempt: AttemptRef,
        /// Why.
        reason: String,
        /// Taken because the worker is lost (so void if it registered again since), rather
        /// than because the worker itself does not run it.
        worker_lost: bool,
    },
    /// A queued job starts waiting for workers.
    Wait {
        /// Job.
        job: JobId,
    },
    /// Every task is claimed: start them all at this instant.
    ScheduleStart {
        /// Job.
        job: JobId,
        /// Start instant (`wall`).
        start_at: u64,
        /// Not every task is claimed (the `start` policy after its timeout).
        partial: bool,
    },
    /// The job cannot run.
    Fail {
        /// Job.
        job: JobId,
        /// Why.
        reason: String,
    },
    /// Automatic reassignment is paused in a pool: too many of its workers were lost at once.
    Pause {
        /// Pool.
        pool: String,
        /// Why (shown on the pool's jobs).
        reason: String,
    },
}
