//! What the leader answers about one task of a heartbeat: a pure function of what the worker
//! reported and what the replica holds, unit-tested below. The service carries it out (queues
//! the deltas, records the start, sends the orders).

use broadside_raft_store::model::{AttemptRecord, Job, JobState, Task, TaskState};
use broadside_rpc::worker::{Order, TaskPhase, TaskRef};

/// What the replica holds about a reported task.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stored<'a> {
    /// The task, if its job still exists.
    pub(crate) task: Option<&'a Task>,
    /// Its job.
    pub(crate) job: Option<&'a Job>,
}

/// The leader's answer about one reported attempt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Fold the deltas it carried (what an attempt measured counts, aborted or not).
    pub(crate) fold: bool,
    /// Acknowledge its deltas up to this sequence number (the store's contiguous watermark).
    pub(crate) ack: Option<u64>,
    /// Record that it started generating load (it was claimed, its job started).
    pub(crate) record_start: bool,
    /// An order for the worker.
    pub(crate) order: Option<Order>,
}

/// The answer about attempt `reported` of `worker`, in phase `phase`, given what the replica
/// holds and whether the worker is registered and not dead.
///
/// * An attempt is stopped only on evidence that it is not current: a later attempt, or this
///   one claimed by another worker, or no such task at all. A replica that has not applied the
///   claim yet (no worker on record) says nothing.
/// * A dead or forgotten worker's current attempts get nothing — no fold, no acknowledgement,
///   no order — so nothing renews its lease: its tasks may be reassigned any moment. It
///   registers again, listing what it runs.
/// * A current attempt's deltas are folded and acknowledged; then it is aborted with its job,
///   told nothing once finished, recorded as started when it reports running in a started job,
///   and told the start instant while it prepares.
pub(crate) fn judge(
    worker: &str,
    registered: bool,
    reported: TaskRef,
    phase: TaskPhase,
    stored: Stored<'_>,
) -> Verdict {
    let current = stored
        .task
        .filter(|s| s.attempt == reported.attempt && s.worker_id.as_deref() == Some(worker));
    let Some(task) = current else {
        let superseded = stored.task.is_some_and(|s| {
            s.attempt > reported.attempt
                || (s.attempt == reported.attempt
                    && s.worker_id.is_some()
                    && s.worker_id.as_deref() != Some(worker))
        });
        let order = (superseded || stored.task.is_none()).then(|| Order::Stop {
            task: reported,
            reason: "this attempt is no longer current".into(),
        });
        return Verdict {
            order,
            ..Verdict::default()
        };
    };
    if !registered {
        return Verdict::default();
    }
    let mut verdict = Verdict {
        fold: true,
        ack: task.last_seq,
        ..Verdict::default()
    };
    let job_aborted = stored.job.is_some_and(|j| j.state == JobState::Aborted);
    if task.state == TaskState::Aborted || job_aborted {
        verdict.order = Some(Order::Abort {
            task: reported,
            reason: stored.job.map(|j| j.reason.clone()).unwrap_or_default(),
        });
        return verdict;
    }
    if task.state.is_terminal() {
        return verdict;
    }
    let job_started = stored
        .job
        .is_some_and(|j| matches!(j.state, JobState::Starting | JobState::Running));
    verdict.record_start =
        phase == TaskPhase::Running && task.state == TaskState::Assigned && job_started;
    if phase != TaskPhase::Running {
        verdict.order = stored
            .job
            .and_then(|j| j.start_at_ms)
            .map(|at_ms| Order::Start {
                task: reported,
                at_ms,
            });
    }
    verdict
}

/// The leader's answer about an attempt the worker no longer runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct EndedVerdict {
    /// Fold its deltas above this watermark (the store folds them in order, as late deltas
    /// when the attempt ended) and acknowledge up to it.
    pub(crate) fold_above: Option<u64>,
    /// Its job is gone or it can never be folded: the worker forgets it.
    pub(crate) forget: bool,
}

/// The answer about an ended attempt `reported`, given its task and its attempt record.
///
/// * A task that no longer exists (its job was deleted): forget.
/// * The task's current attempt, not finished (the worker stopped it; the leader has not
///   reassigned it yet): folded against the task's watermark.
/// * An attempt that ended on record (reassigned, stopped with its job, completed): folded
///   against its own watermark, into the job's results only.
/// * A later attempt than the replica knows, or a claim it has not applied: nothing yet.
/// * An attempt of another worker than `worker` (the caller): nothing, ever — a worker
///   reports only its own measurements.
/// * An earlier or finished attempt with no record (claimed before records were kept): it can
///   never be folded; forget.
pub(crate) fn judge_ended(
    worker: &str,
    reported: TaskRef,
    task: Option<&Task>,
    attempt: Option<&AttemptRecord>,
) -> EndedVerdict {
    let Some(task) = task else {
        return EndedVerdict {
            fold_above: None,
            forget: true,
        };
    };
    let current = task.attempt == reported.attempt;
    if attempt.is_some_and(|a| a.worker_id != worker)
        || (current && task.worker_id.as_deref().is_some_and(|w| w != worker))
    {
        return EndedVerdict::default();
    }
    if current && task.state != TaskState::Pending && !task.state.is_terminal() {
        return EndedVerdict {
            fold_above: Some(task.last_seq.unwrap_or(0)),
            forget: false,
        };
    }
    match attempt.filter(|a| a.has_ended()) {
        Some(a) => EndedVerdict {
            fold_above: Some(a.last_seq),
            forget: false,
        },
        None => EndedVerdict {
            fold_above: None,
            forget: reported.attempt < task.attempt || (current && task.state.is_terminal()),
        },
    }
}

#[cfg(test)]
mod tests {
    use broadside_raft_store::model::SplitMode;

    use super::*;

    const ME: &str = "w1";

    fn reported(attempt: u32) -> TaskRef {
        TaskRef {
            job_id: 7,
            task: 0,
            attempt,
        }
    }

    fn task(attempt: u32, worker: Option<&str>, state: TaskState) -> Task {
        Task {
            job_id: 7,
            index: 0,
            state,
            attempt,
            worker_id: worker.map(str::to_owned),
            claimed_at_ms: Some(1),
            started_at_ms: None,
            finished_at_ms: None,
            deltas: 3,
            last_seq: Some(3),
            reason: String::new(),
        }
    }

    fn job(state: JobState, start_at_ms: Option<u64>) -> Job {
        Job {
            id: 7,
            project: "p".into(),
            name: "n".into(),
            simulation: "s.yaml".into(),
            files: Vec::new(),
            pool: "default".into(),
            parallelism: 1,
            split: SplitMode::Split,
            params: Vec::new(),
            state,
            reason: "stopped by a user".into(),
            submitted_at_ms: 0,
            start_at_ms,
            finished_at_ms: None,
            reassignments: 0,
        }
    }

    fn judge_with(
        registered: bool,
        attempt: u32,
        phase: TaskPhase,
        task: Option<&Task>,
        job: Option<&Job>,
    ) -> Verdict {
        judge(
            ME,
            registered,
            reported(attempt),
            phase,
            Stored { task, job },
        )
    }

    #[test]
    fn a_superseded_or_vanished_attempt_is_stopped_and_nothing_is_folded() {
        let later = task(2, Some("w2"), TaskState::Running);
        let stolen = task(1, Some("w2"), TaskState::Running);
        for stored in [Some(&later), Some(&stolen), None] {
            let v = judge_with(true, 1, TaskPhase::Running, stored, None);
            assert!(
                matches!(v.order, Some(Order::Stop { .. })),
                "{stored:?}: {v:?}"
            );
            assert!(!v.fold && v.ack.is_none() && !v.record_start);
        }
    }

    #[test]
    fn a_claim_the_replica_has_not_applied_yet_is_not_stopped() {
        let unclaimed = task(1, None, TaskState::Pending);
        let v = judge_with(true, 1, TaskPhase::Preparing, Some(&unclaimed), None);
        assert_eq!(v, Verdict::default());
    }

    #[test]
    fn a_dead_worker_renews_nothing() {
        let mine = task(1, Some(ME), TaskState::Running);
        let running = job(JobState::Running, Some(5));
        let v = judge_with(false, 1, TaskPhase::Running, Some(&mine), Some(&running));
        assert_eq!(v, Verdict::default());
    }

    #[test]
    fn a_current_attempt_is_folded_and_acknowledged_up_to_the_watermark() {
        let mine = task(1, Some(ME), TaskState::Running);
        let running = job(JobState::Running, Some(5));
        let v = judge_with(true, 1, TaskPhase::Running, Some(&mine), Some(&running));
        assert_eq!(
            v,
            Verdict {
                fold: true,
                ack: Some(3),
                record_start: false,
                order: None,
            }
        );
    }

    #[test]
    fn an_aborted_job_aborts_its_attempts_after_folding_what_they_measured() {
        let mine = task(1, Some(ME), TaskState::Running);
        let aborted = job(JobState::Aborted, Some(5));
        let v = judge_with(true, 1, TaskPhase::Running, Some(&mine), Some(&aborted));
        assert!(v.fold);
        assert_eq!(
            v.order,
            Some(Order::Abort {
                task: reported(1),
                reason: "stopped by a user".into()
            })
        );
    }

    #[test]
    fn a_claimed_attempt_running_in_a_started_job_is_recorded_as_started() {
        let claimed = task(1, Some(ME), TaskState::Assigned);
        let starting = job(JobState::Starting, Some(5));
        let v = judge_with(true, 1, TaskPhase::Running, Some(&claimed), Some(&starting));
        assert!(v.record_start);
        assert_eq!(v.order, None);
        let waiting = job(JobState::WaitingForWorkers, None);
        let v = judge_with(true, 1, TaskPhase::Running, Some(&claimed), Some(&waiting));
        assert!(!v.record_start);
    }

    #[test]
    fn a_preparing_attempt_is_told_the_start_instant_once_set() {
        let claimed = task(1, Some(ME), TaskState::Assigned);
        let waiting = job(JobState::WaitingForWorkers, None);
        let v = judge_with(true, 1, TaskPhase::Ready, Some(&claimed), Some(&waiting));
        assert_eq!(v.order, None);
        let starting = job(JobState::Starting, Some(42));
        let v = judge_with(true, 1, TaskPhase::Ready, Some(&claimed), Some(&starting));
        assert_eq!(
            v.order,
            Some(Order::Start {
                task: reported(1),
                at_ms: 42
            })
        );
    }

    fn ended(attempt: u32, last_seq: u64) -> AttemptRecord {
        AttemptRecord {
            task: 0,
            attempt,
            worker_id: ME.into(),
            claimed_at_ms: 1,
            started_at_ms: Some(2),
            ended: Some((3, broadside_raft_store::model::AttemptEnd::Reassigned)),
            reason: "worker lost".into(),
            last_seq,
            seq_at_end: last_seq,
            late_deltas: 0,
            late_between_ms: None,
        }
    }

    #[test]
    fn an_ended_attempt_is_folded_against_its_own_watermark() {
        let later = task(2, Some("w2"), TaskState::Running);
        let v = judge_ended(ME, reported(1), Some(&later), Some(&ended(1, 7)));
        assert_eq!(
            v,
            EndedVerdict {
                fold_above: Some(7),
                forget: false
            }
        );
        // Stopped with its job: the same.
        let done = task(1, Some(ME), TaskState::Aborted);
        let v = judge_ended(ME, reported(1), Some(&done), Some(&ended(1, 3)));
        assert_eq!(v.fold_above, Some(3));
    }

    #[test]
    fn an_attempt_stopped_by_its_worker_before_its_reassignment_is_folded_as_current() {
        let mine = task(1, Some(ME), TaskState::Running);
        let v = judge_ended(ME, reported(1), Some(&mine), None);
        assert_eq!(
            v,
            EndedVerdict {
                fold_above: Some(3),
                forget: false
            }
        );
    }

    #[test]
    fn an_ended_attempt_of_a_deleted_job_or_without_record_is_forgotten() {
        assert!(judge_ended(ME, reported(1), None, None).forget);
        let later = task(2, Some("w2"), TaskState::Running);
        assert!(judge_ended(ME, reported(1), Some(&later), None).forget);
        // A replica that has not applied the attempt yet says nothing.
        let unclaimed = task(1, None, TaskState::Pending);
        assert_eq!(
            judge_ended(ME, reported(1), Some(&unclaimed), None),
            EndedVerdict::default()
        );
        assert_eq!(
            judge_ended(ME, reported(3), Some(&later), None),
            EndedVerdict::default()
        );
    }

    #[test]
    fn another_workers_ended_attempt_is_never_folded() {
        let theirs = task(1, Some("w2"), TaskState::Running);
        assert_eq!(
            judge_ended(ME, reported(1), Some(&theirs), None),
            EndedVerdict::default()
        );
        let later = task(2, Some(ME), TaskState::Running);
        assert_eq!(
            judge_ended("w9", reported(1), Some(&later), Some(&ended(1, 7))),
            EndedVerdict::default()
        );
    }

    #[test]
    fn a_finished_attempt_gets_its_acknowledgement_and_no_order() {
        let done = task(1, Some(ME), TaskState::Succeeded);
        let completed = job(JobState::Completed, Some(5));
        let v = judge_with(true, 1, TaskPhase::Preparing, Some(&done), Some(&completed));
        assert!(v.fold);
        assert_eq!(v.ack, Some(3));
        assert_eq!(v.order, None);
    }
}
