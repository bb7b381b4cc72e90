//! Which task a pulling worker takes.

use std::collections::HashSet;

use broadside_raft_store::model::{TaskState, WorkerState};
use broadside_raft_store::{Attempt, JobId};

use super::{JobInfo, Snapshot};

/// A task a worker may claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    /// Job.
    pub job: JobId,
    /// Task index.
    pub task: u32,
    /// Attempt to claim.
    pub attempt: Attempt,
    /// The worker runs another task of the job already (allowed by the job for a reassigned
    /// task).
    pub beside_its_job: bool,
}

/// The task `worker` should take next, if any: the lowest pending task of the oldest job of its
/// pool in which it holds no live task yet (a job's tasks go to distinct workers), while it has
/// a free slot — skipping tasks another pull is claiming right now (`claiming`), so that a
/// fleet of idle workers does not race for the same task.
pub fn pick(snapshot: &Snapshot, worker: &str, claiming: &HashSet<(JobId, u32)>) -> Option<Claim> {
    let me = snapshot.worker(worker)?;
    if me.state != WorkerState::Alive {
        return None;
    }
    let held = snapshot
        .jobs
        .iter()
        .flat_map(|j| &j.tasks)
        .filter(|t| t.is_live_on(worker))
        .count();
    if held >= me.slots as usize {
        return None;
    }
    let mut candidates: Vec<&JobInfo> = snapshot
        .jobs
        .iter()
        .filter(|j| j.pool == me.pool && !j.state.is_terminal())
        .collect();
    candidates.sort_by_key(|j| j.id);
    candidates.into_iter().find_map(|job| {
        // A job's tasks go to distinct workers; a reassigned one may join the job's other
        // tasks on a worker when the job allows it.
        let beside = job.tasks.iter().any(|t| t.is_live_on(worker));
        if beside && !job.share_workers {
            return None;
        }
        job.tasks
            .iter()
            .filter(|t| t.state == TaskState::Pending && !claiming.contains(&(job.id, t.index)))
            .filter(|t| !beside || t.attempt > 1)
            .min_by_key(|t| t.index)
            .map(|t| Claim {
                job: job.id,
                task: t.index,
                attempt: t.attempt,
                beside_its_job: beside,
            })
    })
}
