//! The scheduler's decision core: pure functions of a snapshot of the cluster (workers with the
//! instant this leader last heard from them, active jobs with their tasks) and the time. The
//! driver, which runs on the leader only, builds snapshots and turns decisions into Raft
//! commands; everything here is deterministic and property-tested.
//!
//! Times: `mono` values are milliseconds on the leader's monotonic clock (liveness), `wall`
//! values are Unix milliseconds (start instants, which workers compare with their own clocks).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use broadside_raft_store::model::{JobState, TaskState, WorkerState};
use broadside_raft_store::{Attempt, JobId};

use crate::jobs::{OnTimeout, StartPolicy};

/// The timings the core applies (DESIGN §4), in milliseconds.
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
    /// `(job, task, attempt)` of every task in the heartbeat.
    pub tasks: HashSet<(JobId, u32, Attempt)>,
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
    /// Its tasks by index.
    pub tasks: Vec<TaskInfo>,
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
        /// Job.
        job: JobId,
        /// Task index.
        task: u32,
        /// The lost attempt.
        attempt: Attempt,
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

/// A task a worker may claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    /// Job.
    pub job: JobId,
    /// Task index.
    pub task: u32,
    /// Attempt to claim.
    pub attempt: Attempt,
}

/// The task `worker` should take next, if any: the lowest pending task of the oldest job of its
/// pool in which it holds no live task yet (a job's tasks go to distinct workers), while it has
/// a free slot — skipping tasks another pull is claiming right now (`claiming`), so that a
/// fleet of idle workers does not race for the same task.
pub fn pick(
    workers: &[WorkerInfo],
    jobs: &[JobInfo],
    worker: &str,
    claiming: &HashSet<(JobId, u32)>,
) -> Option<Claim> {
    let me = workers.iter().find(|w| w.id == worker)?;
    if me.state != WorkerState::Alive {
        return None;
    }
    let held = jobs
        .iter()
        .flat_map(|j| &j.tasks)
        .filter(|t| t.is_live() && t.worker.as_deref() == Some(worker))
        .count();
    if held >= me.slots as usize {
        return None;
    }
    let mut candidates: Vec<&JobInfo> = jobs
        .iter()
        .filter(|j| j.pool == me.pool && !j.state.is_terminal())
        .collect();
    candidates.sort_by_key(|j| j.id);
    candidates.into_iter().find_map(|job| {
        let mine = job
            .tasks
            .iter()
            .any(|t| t.is_live() && t.worker.as_deref() == Some(worker));
        if mine {
            return None;
        }
        job.tasks
            .iter()
            .filter(|t| t.state == TaskState::Pending && !claiming.contains(&(job.id, t.index)))
            .min_by_key(|t| t.index)
            .map(|t| Claim {
                job: job.id,
                task: t.index,
                attempt: t.attempt,
            })
    })
}

/// The last instant (`mono`) a worker counts as heard from: a new leader re-arms every timer
/// when it takes office.
fn heard(worker: &WorkerInfo, office_since: u64) -> u64 {
    worker.last_seen.unwrap_or(office_since).max(office_since)
}

/// A live attempt its (reporting) worker does not list, long after the claim: the worker never
/// got the assignment (its pull's reply was lost), so nobody runs it.
fn orphaned(task: &TaskInfo, job: JobId, w: &WorkerInfo, t: &CoreTimings) -> bool {
    let (Some(claimed_at), Some(reported)) = (task.claimed_at, w.reported.as_ref()) else {
        return false;
    };
    task.is_live()
        && w.state != WorkerState::Dead
        && reported.at > claimed_at.saturating_add(t.orphan_after)
        && !reported.tasks.contains(&(job, task.index, task.attempt))
}

/// Everything the scheduler should do now.
pub fn decide(
    workers: &[WorkerInfo],
    jobs: &[JobInfo],
    now_mono: u64,
    now_wall: u64,
    office_since: u64,
    t: &CoreTimings,
) -> Vec<Decision> {
    let mut out = Vec::new();
    let judging = now_mono >= office_since.saturating_add(t.failover_grace);

    // Liveness.
    let mut dead: BTreeSet<&str> = workers
        .iter()
        .filter(|w| w.state == WorkerState::Dead)
        .map(|w| w.id.as_str())
        .collect();
    if judging {
        for w in workers {
            let silence = now_mono.saturating_sub(heard(w, office_since));
            let (state, reason) = match w.state {
                WorkerState::Dead => continue,
                _ if silence > t.reassign_after => (
                    WorkerState::Dead,
                    format!("no heartbeat for {} ms", silence),
                ),
                WorkerState::Alive if silence > t.suspect_after => (
                    WorkerState::Suspect,
                    format!("no heartbeat for {} ms", silence),
                ),
                WorkerState::Suspect if silence <= t.suspect_after => {
                    (WorkerState::Alive, String::new())
                }
                _ => continue,
            };
            if state == WorkerState::Dead {
                dead.insert(&w.id);
            }
            out.push(Decision::MarkWorker {
                worker: w.id.clone(),
                from: w.state,
                state,
                reason,
            });
        }
    }

    // Reassignment of live tasks whose worker is dead or unknown, with the storm guard.
    let known: BTreeSet<&str> = workers.iter().map(|w| w.id.as_str()).collect();
    let mut pool_size: BTreeMap<&str, usize> = BTreeMap::new();
    let mut pool_lost: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for w in workers {
        *pool_size.entry(&w.pool).or_default() += 1;
        if dead.contains(w.id.as_str()) {
            pool_lost.entry(&w.pool).or_default();
        }
    }
    for job in jobs {
        for task in job.tasks.iter().filter(|t| t.is_live()) {
            if let Some(w) = task.worker.as_deref() {
                if dead.contains(w) || !known.contains(w) {
                    pool_lost.entry(&job.pool).or_default().insert(w);
                }
            }
        }
    }
    let mut paused: BTreeSet<&str> = BTreeSet::new();
    for (pool, lost) in &pool_lost {
        let size = pool_size.get(pool).copied().unwrap_or(0).max(lost.len());
        if lost.len() > 1 && lost.len() * 3 > size {
            paused.insert(pool);
            out.push(Decision::Pause {
                pool: (*pool).to_owned(),
                reason: format!(
                    "{} of {size} workers of pool {pool} lost at once; automatic reassignment paused",
                    lost.len()
                ),
            });
        }
    }
    let by_id: BTreeMap<&str, &WorkerInfo> = workers.iter().map(|w| (w.id.as_str(), w)).collect();
    for job in jobs.iter().filter(|j| !j.state.is_terminal()) {
        let spaced = job
            .last_reassignment
            .is_none_or(|at| now_mono >= at.saturating_add(t.reassign_spacing));
        if !spaced {
            continue;
        }
        // One reassignment per job per spacing interval: first a lost worker's (judged only
        // after the failover grace, and not while the pool is paused), else an orphaned claim.
        let lost = (judging && !paused.contains(job.pool.as_str()))
            .then(|| {
                job.tasks.iter().find(|task| {
                    task.is_live()
                        && task
                            .worker
                            .as_deref()
                            .is_some_and(|w| dead.contains(w) || !known.contains(w))
                })
            })
            .flatten();
        if let Some(task) = lost {
            out.push(Decision::Reassign {
                job: job.id,
                task: task.index,
                attempt: task.attempt,
                reason: format!("worker {} lost", task.worker.as_deref().unwrap_or_default()),
                worker_lost: true,
            });
        } else if let Some((task, w)) = job.tasks.iter().find_map(|task| {
            let w = by_id.get(task.worker.as_deref()?)?;
            orphaned(task, job.id, w, t).then_some((task, w))
        }) {
            out.push(Decision::Reassign {
                job: job.id,
                task: task.index,
                attempt: task.attempt,
                reason: format!("worker {} never received the claim", w.id),
                worker_lost: false,
            });
        }
    }

    // Job starts.
    for job in jobs {
        match job.state {
            JobState::Queued => out.push(Decision::Wait { job: job.id }),
            JobState::WaitingForWorkers => {
                let claimed = job
                    .tasks
                    .iter()
                    .filter(|t| t.state == TaskState::Assigned)
                    .count();
                let timed_out = now_mono.saturating_sub(job.waiting_since)
                    >= job.policy.timeout.as_millis() as u64;
                let start_at = now_wall.saturating_add(t.start_delay);
                if claimed == job.tasks.len() {
                    out.push(Decision::ScheduleStart {
                        job: job.id,
                        start_at,
                        partial: false,
                    });
                } else if timed_out {
                    match job.policy.on_timeout {
                        OnTimeout::Fail => out.push(Decision::Fail {
                            job: job.id,
                            reason: format!(
                                "only {claimed} of {} tasks were claimed within {}",
                                job.tasks.len(),
                                humantime::format_duration(job.policy.timeout)
                            ),
                        }),
                        OnTimeout::Start if claimed > 0 => out.push(Decision::ScheduleStart {
                            job: job.id,
                            start_at,
                            partial: true,
                        }),
                        OnTimeout::Start | OnTimeout::Wait => {}
                    }
                }
            }
            _ => {}
        }
    }
    out
}
