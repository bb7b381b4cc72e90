//! [`decide`]: everything the scheduler should do now, in four phases.
//!
//! 1. **Liveness**: after the failover grace, silent workers become suspect, then dead.
//! 2. **Storm guard**: when more than a third of a pool (and more than one worker) is lost at
//!    once, its automatic reassignment pauses — a network split, not a few crashes.
//! 3. **Reassignment**: at most one task per job per spacing interval goes back to pending —
//!    first one whose worker is lost, else a claim its worker never received.
//! 4. **Starts**: queued jobs wait for workers; a job whose tasks are all claimed gets its
//!    start instant; one short of workers past its start timeout follows its policy.

use std::collections::{BTreeMap, BTreeSet};

use broadside_api::OnTimeout;
use broadside_raft_store::model::{JobState, TaskState, WorkerState};

use super::{Clock, CoreTimings, Decision, JobInfo, Snapshot, TaskInfo, WorkerInfo};

/// Everything the scheduler should do now.
pub fn decide(snapshot: &Snapshot, clock: Clock, t: &CoreTimings) -> Vec<Decision> {
    let mut out = Vec::new();
    let lost = liveness(snapshot, clock, t, &mut out);
    let paused = storm_guard(snapshot, &lost, &mut out);
    reassign(snapshot, clock, t, &lost, &paused, &mut out);
    starts(snapshot, clock, t, &mut out);
    out
}

/// Workers whose tasks may be taken from them: dead ones (already, or judged so now), and ids
/// the registry no longer knows.
struct Lost<'a> {
    dead: BTreeSet<&'a str>,
    known: BTreeSet<&'a str>,
}

impl Lost<'_> {
    fn holds(&self, task: &TaskInfo) -> bool {
        task.is_live()
            && task
                .worker
                .as_deref()
                .is_some_and(|w| self.dead.contains(w) || !self.known.contains(w))
    }
}

/// Phase 1: liveness transitions of silent (or heard-from-again) workers. Returns who is
/// lost. Inside the failover grace nobody is judged, and only the registry's dead count.
fn liveness<'a>(
    snapshot: &'a Snapshot,
    clock: Clock,
    t: &CoreTimings,
    out: &mut Vec<Decision>,
) -> Lost<'a> {
    let mut lost = Lost {
        dead: snapshot
            .workers
            .iter()
            .filter(|w| w.state == WorkerState::Dead)
            .map(|w| w.id.as_str())
            .collect(),
        known: snapshot.workers.iter().map(|w| w.id.as_str()).collect(),
    };
    if !clock.judging(t) {
        return lost;
    }
    for w in &snapshot.workers {
        let Some((state, reason)) = verdict(w, clock, t) else {
            continue;
        };
        if state == WorkerState::Dead {
            lost.dead.insert(&w.id);
        }
        out.push(Decision::MarkWorker {
            worker: w.id.clone(),
            from: w.state,
            state,
            reason,
        });
    }
    lost
}

/// The state a worker moves to now, if it changes.
fn verdict(w: &WorkerInfo, clock: Clock, t: &CoreTimings) -> Option<(WorkerState, String)> {
    let silence = clock.mono.saturating_sub(clock.heard(w));
    let silent = || format!("no heartbeat for {silence} ms");
    match w.state {
        WorkerState::Dead => None,
        _ if silence > t.reassign_after => Some((WorkerState::Dead, silent())),
        WorkerState::Alive if silence > t.suspect_after => Some((WorkerState::Suspect, silent())),
        WorkerState::Suspect if silence <= t.suspect_after => {
            Some((WorkerState::Alive, String::new()))
        }
        _ => None,
    }
}

/// Phase 2: pools that lost too many workers at once (more than one, and more than a third
/// of the pool, counting the workers that still hold live tasks). Returns the paused pools.
fn storm_guard<'a>(
    snapshot: &'a Snapshot,
    lost: &Lost<'a>,
    out: &mut Vec<Decision>,
) -> BTreeSet<&'a str> {
    let mut pool_size: BTreeMap<&str, usize> = BTreeMap::new();
    let mut pool_lost: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for w in &snapshot.workers {
        *pool_size.entry(&w.pool).or_default() += 1;
    }
    for job in &snapshot.jobs {
        for task in job.tasks.iter().filter(|t| lost.holds(t)) {
            if let Some(w) = task.worker.as_deref() {
                pool_lost.entry(&job.pool).or_default().insert(w);
            }
        }
    }
    let mut paused = BTreeSet::new();
    for (pool, gone) in pool_lost {
        let size = pool_size.get(pool).copied().unwrap_or(0).max(gone.len());
        if gone.len() > 1 && gone.len() * 3 > size {
            paused.insert(pool);
            out.push(Decision::Pause {
                pool: pool.to_owned(),
                reason: format!(
                    "{} of {size} workers of pool {pool} lost at once; automatic reassignment \
                     paused",
                    gone.len()
                ),
            });
        }
    }
    paused
}

/// Phase 3: one reassignment per job per spacing interval: a lost worker's task (only after the
/// failover grace, and not while the pool is paused), else an orphaned claim (its worker says
/// it does not run it, so even inside the grace).
fn reassign(
    snapshot: &Snapshot,
    clock: Clock,
    t: &CoreTimings,
    lost: &Lost<'_>,
    paused: &BTreeSet<&str>,
    out: &mut Vec<Decision>,
) {
    for job in snapshot.jobs.iter().filter(|j| !j.state.is_terminal()) {
        let spaced = job
            .last_reassignment
            .is_none_or(|at| clock.mono >= at.saturating_add(t.reassign_spacing));
        if !spaced {
            continue;
        }
        let from_lost = (clock.judging(t) && !paused.contains(job.pool.as_str()))
            .then(|| job.tasks.iter().find(|task| lost.holds(task)))
            .flatten();
        if let Some(task) = from_lost {
            out.push(Decision::Reassign {
                attempt: job.attempt_of(task),
                reason: format!("worker {} lost", task.worker.as_deref().unwrap_or_default()),
                worker_lost: true,
            });
        } else if let Some((task, w)) = job.tasks.iter().find_map(|task| {
            let w = snapshot.worker(task.worker.as_deref()?)?;
            orphaned(job, task, w, t).then_some((task, w))
        }) {
            out.push(Decision::Reassign {
                attempt: job.attempt_of(task),
                reason: format!("worker {} never received the claim", w.id),
                worker_lost: false,
            });
        }
    }
}

/// A live attempt its (reporting) worker does not list, long after the claim: the worker never
/// got the assignment (its pull's reply was lost), so nobody runs it.
fn orphaned(job: &JobInfo, task: &TaskInfo, w: &WorkerInfo, t: &CoreTimings) -> bool {
    let (Some(claimed_at), Some(reported)) = (task.claimed_at, w.reported.as_ref()) else {
        return false;
    };
    task.is_live()
        && w.state != WorkerState::Dead
        && reported.at > claimed_at.saturating_add(t.orphan_after)
        && !reported.tasks.contains(&job.attempt_of(task))
}

/// Phase 4: queued jobs start waiting; the start barrier of waiting jobs.
fn starts(snapshot: &Snapshot, clock: Clock, t: &CoreTimings, out: &mut Vec<Decision>) {
    for job in &snapshot.jobs {
        match job.state {
            JobState::Queued => out.push(Decision::Wait { job: job.id }),
            JobState::WaitingForWorkers => {
                if let Some(decision) = start_barrier(job, clock, t) {
                    out.push(decision);
                }
            }
            _ => {}
        }
    }
}

/// What the start barrier of a waiting job decides now, if anything.
fn start_barrier(job: &JobInfo, clock: Clock, t: &CoreTimings) -> Option<Decision> {
    let claimed = job
        .tasks
        .iter()
        .filter(|t| t.state == TaskState::Assigned)
        .count();
    let start_at = clock.wall.saturating_add(t.start_delay);
    if claimed == job.tasks.len() {
        return Some(Decision::ScheduleStart {
            job: job.id,
            start_at,
            partial: false,
        });
    }
    let waited = clock.mono.saturating_sub(job.waiting_since);
    if waited < job.policy.timeout.as_millis() as u64 {
        return None;
    }
    match job.policy.on_timeout {
        OnTimeout::Fail => Some(Decision::Fail {
            job: job.id,
            reason: format!(
                "only {claimed} of {} tasks were claimed within {}",
                job.tasks.len(),
                humantime::format_duration(job.policy.timeout)
            ),
        }),
        OnTimeout::Start if claimed > 0 => Some(Decision::ScheduleStart {
            job: job.id,
            start_at,
            partial: true,
        }),
        OnTimeout::Start | OnTimeout::Wait => None,
    }
}
