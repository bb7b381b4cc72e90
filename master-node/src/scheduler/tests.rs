//! Property tests of the decision core.

use std::time::Duration;

use broadside_raft_store::model::{JobState, TaskState, WorkerState};
use proptest::prelude::*;

use broadside_api::{OnTimeout, StartPolicy};

use super::core::pick::Claim;
use super::core::{
    decide, pick, AttemptRef, Clock, CoreTimings, Decision, JobInfo, Snapshot, TaskInfo, WorkerInfo,
};

const T: CoreTimings = CoreTimings {
    suspect_after: 3_000,
    reassign_after: 8_000,
    failover_grace: 15_000,
    start_delay: 2_000,
    reassign_spacing: 1_000,
    orphan_after: 3_000,
};

/// [`decide`] on these workers and jobs at these instants.
fn decide_at(
    workers: &[WorkerInfo],
    jobs: &[JobInfo],
    mono: u64,
    wall: u64,
    office_since: u64,
) -> Vec<Decision> {
    let snapshot = Snapshot {
        workers: workers.to_vec(),
        jobs: jobs.to_vec(),
    };
    let clock = Clock {
        mono,
        wall,
        office_since,
    };
    decide(&snapshot, clock, &T)
}

/// [`pick`] for `worker`, with no other claim in progress.
fn pick_for(workers: &[WorkerInfo], jobs: &[JobInfo], worker: &str) -> Option<Claim> {
    let snapshot = Snapshot {
        workers: workers.to_vec(),
        jobs: jobs.to_vec(),
    };
    pick(&snapshot, worker, &Default::default())
}

fn worker(id: usize, pool: &str, slots: u32) -> WorkerInfo {
    WorkerInfo {
        id: format!("w{id}"),
        pool: pool.to_owned(),
        slots,
        state: WorkerState::Alive,
        last_seen: Some(0),
        reported: None,
    }
}

fn job(id: u64, pool: &str, parallelism: u32) -> JobInfo {
    JobInfo {
        id,
        pool: pool.to_owned(),
        state: JobState::WaitingForWorkers,
        start_at: None,
        waiting_since: 0,
        last_reassignment: None,
        policy: StartPolicy::default(),
        share_workers: false,
        tasks: (0..parallelism)
            .map(|index| TaskInfo {
                index,
                state: TaskState::Pending,
                attempt: 1,
                worker: None,
                claimed_at: None,
            })
            .collect(),
    }
}

/// Applies a claim as the store would.
fn claim(jobs: &mut [JobInfo], c: Claim, worker: &str) {
    let task = jobs
        .iter_mut()
        .find(|j| j.id == c.job)
        .and_then(|j| j.tasks.iter_mut().find(|t| t.index == c.task))
        .expect("claimed task exists");
    assert_eq!(task.state, TaskState::Pending, "claimed a non-pending task");
    assert_eq!(task.attempt, c.attempt);
    task.state = TaskState::Assigned;
    task.worker = Some(worker.to_owned());
}

fn live_per_worker_and_job(jobs: &[JobInfo]) -> Vec<(String, u64, usize)> {
    let mut out = std::collections::BTreeMap::new();
    for j in jobs {
        for t in j.tasks.iter().filter(|t| t.is_live()) {
            *out.entry((t.worker.clone().unwrap(), j.id)).or_insert(0) += 1;
        }
    }
    out.into_iter().map(|((w, j), n)| (w, j, n)).collect()
}

proptest! {
    /// Any order of pulls: no worker exceeds its slots, no job has two live tasks on one worker,
    /// a task is claimed once, and pools are respected.
    #[test]
    fn pulls_respect_slots_spread_and_pools(
        slots in prop::collection::vec((1u32..3, 0usize..2), 1..8),
        parallelism in prop::collection::vec((1u32..6, 0usize..2), 1..5),
        order in prop::collection::vec(0usize..64, 0..80),
    ) {
        let pools = ["a", "b"];
        let workers: Vec<WorkerInfo> = slots.iter().enumerate()
            .map(|(i, (s, p))| worker(i, pools[*p], *s)).collect();
        let mut jobs: Vec<JobInfo> = parallelism.iter().enumerate()
            .map(|(i, (n, p))| job(i as u64 + 1, pools[*p], *n)).collect();
        for k in order {
            let w = &workers[k % workers.len()];
            if let Some(c) = pick_for(&workers, &jobs, &w.id) {
                let job_pool = jobs.iter().find(|j| j.id == c.job).unwrap().pool.clone();
                prop_assert_eq!(&job_pool, &w.pool);
                claim(&mut jobs, c, &w.id);
            }
        }
        for (w, _job, n) in live_per_worker_and_job(&jobs) {
            prop_assert_eq!(n, 1, "two live tasks of one job on {}", w);
        }
        for w in &workers {
            let held: usize = jobs.iter().flat_map(|j| &j.tasks)
                .filter(|t| t.is_live() && t.worker.as_deref() == Some(w.id.as_str())).count();
            prop_assert!(held <= w.slots as usize);
        }
        // Work is handed out while possible: a worker with a free slot gets nothing only when
        // no job of its pool has a pending task it may take.
        for w in &workers {
            if pick_for(&workers, &jobs, &w.id).is_none() {
                let held: usize = jobs.iter().flat_map(|j| &j.tasks)
                    .filter(|t| t.is_live() && t.worker.as_deref() == Some(w.id.as_str())).count();
                if held < w.slots as usize {
                    for j in jobs.iter().filter(|j| j.pool == w.pool) {
                        let mine = j.tasks.iter().any(|t| t.is_live() && t.worker.as_deref() == Some(w.id.as_str()));
                        let pending = j.tasks.iter().any(|t| t.state == TaskState::Pending);
                        prop_assert!(mine || !pending);
                    }
                }
            }
        }
    }

    /// A silent worker's task is reassigned exactly when the leader has been in office for the
    /// failover grace and has not heard from the worker for longer than `L + K + margin`.
    #[test]
    fn reassignment_waits_for_silence_and_the_failover_grace(
        office_since in 0u64..100_000,
        last_seen in prop::option::of(0u64..120_000),
        now in 0u64..150_000,
    ) {
        prop_assume!(now >= office_since);
        let mut w = worker(1, "a", 1);
        w.last_seen = last_seen.filter(|l| *l <= now);
        let others: Vec<WorkerInfo> = (2..5).map(|i| worker(i, "a", 1)).map(|mut o| { o.last_seen = Some(now); o }).collect();
        let mut workers = vec![w.clone()];
        workers.extend(others);
        let mut j = job(1, "a", 1);
        j.state = JobState::Running;
        j.tasks[0].state = TaskState::Running;
        j.tasks[0].worker = Some("w1".into());
        let decisions = decide_at(&workers, &[j], now, 1_700_000_000_000, office_since);
        let reassigned = decisions.iter().any(|d| matches!(d, Decision::Reassign { attempt: AttemptRef { task: 0, attempt: 1, .. }, .. }));
        let heard = w.last_seen.unwrap_or(office_since).max(office_since);
        let expected = now >= office_since + T.failover_grace && now - heard > T.reassign_after;
        prop_assert_eq!(reassigned, expected);
        if now < office_since + T.failover_grace {
            let marked = decisions.iter().any(|d| matches!(d, Decision::MarkWorker { .. }));
            prop_assert!(!marked, "a worker judged inside the failover grace");
        }
    }

    /// The start instant is set only once every task is claimed, and never earlier than the
    /// start delay.
    #[test]
    fn the_start_barrier_waits_for_every_task(claimed in 0u32..5, parallelism in 1u32..5) {
        let claimed = claimed.min(parallelism);
        let workers: Vec<WorkerInfo> = (0..5).map(|i| worker(i, "a", 1)).collect();
        let mut j = job(1, "a", parallelism);
        for i in 0..claimed as usize {
            j.tasks[i].state = TaskState::Assigned;
            j.tasks[i].worker = Some(format!("w{i}"));
        }
        let now_wall = 1_700_000_000_000;
        let decisions = decide_at(&workers, &[j], 100, now_wall, 0);
        let start = decisions.iter().find_map(|d| match d {
            Decision::ScheduleStart { start_at, .. } => Some(*start_at),
            _ => None,
        });
        prop_assert_eq!(start.is_some(), claimed == parallelism);
        if let Some(at) = start {
            prop_assert_eq!(at, now_wall + T.start_delay);
        }
    }
}

#[test]
fn a_job_short_of_workers_fails_after_its_start_timeout_unless_told_to_wait() {
    let workers = vec![worker(0, "a", 1)];
    let mut j = job(1, "a", 2);
    j.tasks[0].state = TaskState::Assigned;
    j.tasks[0].worker = Some("w0".into());
    j.waiting_since = 1_000;
    let at = |now: u64, j: &JobInfo| decide_at(&workers, std::slice::from_ref(j), now, 0, 0);
    assert!(at(60_999, &j)
        .iter()
        .all(|d| !matches!(d, Decision::Fail { .. })));
    let failed = at(61_000, &j);
    assert!(
        failed
            .iter()
            .any(|d| matches!(d, Decision::Fail { reason, .. } if reason.contains("only 1 of 2"))),
        "{failed:?}"
    );
    j.policy = StartPolicy {
        timeout: Duration::from_secs(60),
        on_timeout: OnTimeout::Wait,
    };
    assert!(at(600_000, &j)
        .iter()
        .all(|d| !matches!(d, Decision::Fail { .. } | Decision::ScheduleStart { .. })));
    // `start`: the claimed task starts at the timeout, the other joins when claimed.
    j.policy.on_timeout = OnTimeout::Start;
    assert!(at(60_999, &j)
        .iter()
        .all(|d| !matches!(d, Decision::ScheduleStart { .. })));
    assert!(at(61_000, &j)
        .iter()
        .any(|d| matches!(d, Decision::ScheduleStart { partial: true, .. })));
    // ... but never with nothing claimed.
    j.tasks[0].state = TaskState::Pending;
    assert!(at(61_000, &j)
        .iter()
        .all(|d| !matches!(d, Decision::ScheduleStart { .. } | Decision::Fail { .. })));
}

#[test]
fn losing_a_third_of_a_pool_at_once_pauses_reassignment() {
    let mut workers: Vec<WorkerInfo> = (0..6).map(|i| worker(i, "a", 1)).collect();
    let mut j = job(1, "a", 6);
    j.state = JobState::Running;
    for (i, t) in j.tasks.iter_mut().enumerate() {
        t.state = TaskState::Running;
        t.worker = Some(format!("w{i}"));
    }
    let now = 100_000;
    for w in workers.iter_mut() {
        w.last_seen = Some(now);
    }
    // One lost: reassigned.
    workers[0].last_seen = Some(0);
    let one = decide_at(&workers, std::slice::from_ref(&j), now, 0, 0);
    assert!(one.iter().any(|d| matches!(
        d,
        Decision::Reassign {
            attempt: AttemptRef { task: 0, .. },
            ..
        }
    )));
    assert!(one.iter().all(|d| !matches!(d, Decision::Pause { .. })));
    // Three of six lost at once: paused, nothing reassigned.
    workers[1].last_seen = Some(0);
    workers[2].last_seen = Some(0);
    let three = decide_at(&workers, std::slice::from_ref(&j), now, 0, 0);
    assert!(three
        .iter()
        .any(|d| matches!(d, Decision::Pause { pool, .. } if pool == "a")));
    assert!(three
        .iter()
        .all(|d| !matches!(d, Decision::Reassign { .. })));
}

#[test]
fn reassignments_of_one_job_are_spaced() {
    let mut workers: Vec<WorkerInfo> = (0..9).map(|i| worker(i, "a", 1)).collect();
    let mut j = job(1, "a", 2);
    j.state = JobState::Running;
    for (i, t) in j.tasks.iter_mut().enumerate() {
        t.state = TaskState::Running;
        t.worker = Some(format!("w{i}"));
    }
    let now = 100_000;
    for w in workers.iter_mut().skip(2) {
        w.last_seen = Some(now);
    }
    let first = decide_at(&workers, std::slice::from_ref(&j), now, 0, 0);
    let count = |d: &[Decision]| {
        d.iter()
            .filter(|d| matches!(d, Decision::Reassign { .. }))
            .count()
    };
    assert_eq!(count(&first), 1);
    j.tasks[0].state = TaskState::Pending;
    j.last_reassignment = Some(now);
    assert_eq!(
        count(&decide_at(
            &workers,
            std::slice::from_ref(&j),
            now + 500,
            0,
            0
        )),
        0
    );
    assert_eq!(
        count(&decide_at(
            &workers,
            std::slice::from_ref(&j),
            now + 1_000,
            0,
            0
        )),
        1
    );
}

#[test]
fn a_claim_its_worker_never_received_is_reassigned() {
    use super::core::Reported;
    let mut w = worker(1, "a", 1);
    let mut j = job(1, "a", 1);
    j.state = JobState::Running;
    j.tasks[0].state = TaskState::Assigned;
    j.tasks[0].worker = Some(w.id.clone());
    j.tasks[0].claimed_at = Some(10_000);
    let orphan = |d: &Decision| {
        matches!(
            d,
            Decision::Reassign {
                attempt: AttemptRef {
                    task: 0,
                    attempt: 1,
                    ..
                },
                worker_lost: false,
                ..
            }
        )
    };
    let at = |w: &WorkerInfo, j: &JobInfo| {
        decide_at(std::slice::from_ref(w), std::slice::from_ref(j), 0, 0, 0)
    };
    // No heartbeat yet: nothing to conclude.
    assert!(!at(&w, &j).iter().any(orphan));
    // A heartbeat soon after the claim that does not list it yet: the reply may be in flight.
    w.reported = Some(Reported {
        at: 10_000 + T.orphan_after,
        tasks: Default::default(),
    });
    assert!(!at(&w, &j).iter().any(orphan));
    // Long after the claim, still not listed: orphaned, reassigned even inside the failover
    // grace (the worker itself says it does not run it).
    w.reported = Some(Reported {
        at: 10_001 + T.orphan_after,
        tasks: Default::default(),
    });
    assert!(at(&w, &j).iter().any(orphan));
    // Listed: it runs.
    w.reported = Some(Reported {
        at: 10_001 + T.orphan_after,
        tasks: [AttemptRef {
            job: 1,
            task: 0,
            attempt: 1,
        }]
        .into_iter()
        .collect(),
    });
    assert!(!at(&w, &j).iter().any(orphan));
}

#[test]
fn a_reassigned_task_joins_its_job_on_a_busy_worker_only_when_the_job_allows_it() {
    let workers = vec![worker(0, "a", 2)];
    let mut j = job(1, "a", 2);
    j.state = JobState::Running;
    j.tasks[0].state = TaskState::Running;
    j.tasks[0].worker = Some("w0".into());
    // Task 1 was lost with its worker and waits for its second attempt.
    j.tasks[1].attempt = 2;
    assert_eq!(pick_for(&workers, std::slice::from_ref(&j), "w0"), None);
    j.share_workers = true;
    assert_eq!(
        pick_for(&workers, std::slice::from_ref(&j), "w0"),
        Some(Claim {
            job: 1,
            task: 1,
            attempt: 2,
            beside_its_job: true,
        })
    );
    // A first attempt still goes to a distinct worker.
    j.tasks[1].attempt = 1;
    assert_eq!(pick_for(&workers, std::slice::from_ref(&j), "w0"), None);
}
