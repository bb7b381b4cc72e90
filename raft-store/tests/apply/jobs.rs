//! Jobs and tasks: lifecycle, attempt fencing, idempotent progress, abort.

use super::*;

#[tokio::test]
async fn job_lifecycle_claim_start_progress_complete_result_delete() {
    let mut h = setup().await;
    let job_id = submit(&mut h, 2).await;
    let r = h.reader();
    let job = r.job(job_id).unwrap().expect("job");
    assert_eq!((job.state, job.files.len()), (JobState::Queued, 2));
    assert_eq!(
        r.file("team", "sims/smoke.yaml", Some(1))
            .unwrap()
            .map(|f| f.pins),
        Some(1)
    );
    ok(&h
        .run(Command::SetJobState {
            job_id,
            state: JobState::WaitingForWorkers,
            reason: String::new(),
        })
        .await);

    let claim = |task, attempt, w: &str| Command::ClaimTask {
        job_id,
        task,
        attempt,
        worker_id: w.into(),
    };
    assert_eq!(
        code(&h.run(claim(0, 2, "w1")).await),
        Some(RejectCode::StaleAttempt)
    );
    assert_eq!(
        code(&h.run(claim(0, 1, "nobody")).await),
        Some(RejectCode::NotFound)
    );
    ok(&h.run(claim(0, 1, "w1")).await);
    assert_eq!(
        code(&h.run(claim(0, 1, "w2")).await),
        Some(RejectCode::Conflict)
    );
    // w1 has one slot, and it is taken.
    assert_eq!(
        code(&h.run(claim(1, 1, "w1")).await),
        Some(RejectCode::Conflict)
    );
    let early = h
        .run(Command::ScheduleStart {
            job_id,
            start_at_ms: h.now + 5000,
            partial: false,
        })
        .await;
    assert_eq!(code(&early), Some(RejectCode::Conflict));
    ok(&h.run(claim(1, 1, "w2")).await);
    ok(&h
        .run(Command::ScheduleStart {
            job_id,
            start_at_ms: h.now + 5000,
            partial: false,
        })
        .await);
    assert_eq!(
        r.job(job_id).unwrap().map(|j| j.state),
        Some(JobState::Starting)
    );
    for task in 0..2 {
        ok(&h
            .run(Command::StartTask {
                job_id,
                task,
                attempt: 1,
            })
            .await);
    }
    assert_eq!(
        r.job(job_id).unwrap().map(|j| j.state),
        Some(JobState::Running)
    );

    let delta = |task, seq| ProgressDelta {
        job_id,
        task,
        attempt: 1,
        seq,
        delta: vec![seq as u8],
    };
    let batch = Command::RecordProgress {
        deltas: vec![delta(0, 1), delta(0, 2), delta(1, 1)],
    };
    let first = h.run(batch.clone()).await;
    assert_eq!(
        first,
        Response::ProgressRecorded {
            applied: 3,
            late: 0,
            duplicates: 0,
            gaps: 0,
            refused: vec![]
        }
    );
    // Resent after a failover under a new request id: folded once.
    let again = h.run(batch).await;
    assert_eq!(
        again,
        Response::ProgressRecorded {
            applied: 0,
            late: 0,
            duplicates: 3,
            gaps: 0,
            refused: vec![]
        }
    );
    // A delta after a gap is not folded: the watermark stays contiguous, so an
    // acknowledgement never covers a missing delta.
    let after_gap = h
        .run(Command::RecordProgress {
            deltas: vec![delta(0, 4), delta(1, 2)],
        })
        .await;
    assert_eq!(
        after_gap,
        Response::ProgressRecorded {
            applied: 1,
            late: 0,
            duplicates: 0,
            gaps: 1,
            refused: vec![]
        }
    );
    let series = r.job_progress(job_id, &PageRequest::default()).unwrap();
    assert_eq!(
        series
            .items
            .iter()
            .map(|p| (p.task, p.seq))
            .collect::<Vec<_>>(),
        vec![(0, 1), (0, 2), (1, 1), (1, 2)]
    );
    // A follower reads only what is new for an attempt.
    let seqs = |task, after| -> Vec<u64> {
        r.attempt_progress(job_id, task, 1, after, 10)
            .unwrap()
            .iter()
            .map(|p| p.seq)
            .collect()
    };
    assert_eq!(seqs(0, 1), vec![2]);
    assert_eq!(seqs(1, 0), vec![1, 2]);
    assert_eq!(seqs(1, 2), Vec::<u64>::new());
    assert_eq!(
        r.task(job_id, 0).unwrap().map(|t| (t.deltas, t.last_seq)),
        Some((2, Some(2)))
    );

    let done = |task, outcome| Command::CompleteTask {
        job_id,
        task,
        attempt: 1,
        outcome,
        result: vec![9],
    };
    ok(&h.run(done(0, TaskOutcome::Succeeded)).await);
    assert_eq!(
        code(
            &h.run(Command::RetiredPutJobResult {
                job_id,
                result: vec![]
            })
            .await
        ),
        Some(RejectCode::BadRequest),
        "a retired command is refused"
    );
    ok(&h.run(done(1, TaskOutcome::Succeeded)).await);
    assert_eq!(
        r.job(job_id).unwrap().map(|j| j.state),
        Some(JobState::Completed)
    );
    assert_eq!(
        r.task_result(job_id, 1).unwrap().map(|x| x.data),
        Some(vec![9])
    );
    assert_eq!(
        r.list_jobs(Some("team"), &PageRequest::default())
            .unwrap()
            .items
            .len(),
        1
    );

    ok(&h.run(Command::DeleteJob { job_id }).await);
    assert_eq!(r.job(job_id).unwrap(), None);
    assert_eq!(
        r.list_tasks(job_id, &PageRequest::default())
            .unwrap()
            .items
            .len(),
        0
    );
    assert_eq!(
        r.job_progress(job_id, &PageRequest::default())
            .unwrap()
            .items
            .len(),
        0
    );
    assert_eq!(
        r.file("team", "sims/smoke.yaml", Some(1))
            .unwrap()
            .map(|f| f.pins),
        Some(0)
    );
}

#[tokio::test]
async fn reassignment_fences_the_stale_attempt() {
    let mut h = setup().await;
    let job_id = submit(&mut h, 1).await;
    ok(&claim(&mut h, job_id, 0, 1, "w1").await);
    ok(&h
        .run(Command::ScheduleStart {
            job_id,
            start_at_ms: h.now,
            partial: false,
        })
        .await);
    ok(&h
        .run(Command::StartTask {
            job_id,
            task: 0,
            attempt: 1,
        })
        .await);
    let reassign = |only_if_worker_lost| Command::ReassignTask {
        job_id,
        task: 0,
        attempt: 1,
        reason: "worker lost".into(),
        only_if_worker_lost,
    };
    // w1 is alive: a liveness reassignment decided on an older view is refused.
    assert_eq!(
        code(&h.run(reassign(true)).await),
        Some(RejectCode::Conflict)
    );
    let reassign = reassign(false);
    assert_eq!(
        h.run(reassign.clone()).await,
        Response::TaskReassigned { attempt: 2 }
    );
    assert_eq!(code(&h.run(reassign).await), Some(RejectCode::StaleAttempt));

    // The old attempt's deltas are late: folded in order into the job's results, never into
    // the task (its watermark and state are the new attempt's).
    let old = |seq: u64, attempt: u32| ProgressDelta {
        job_id,
        task: 0,
        attempt,
        seq,
        delta: vec![seq as u8],
    };
    let late = h
        .run(Command::RecordProgress {
            deltas: vec![old(2, 1), old(1, 1), old(1, 1), old(1, 3)],
        })
        .await;
    assert_eq!(
        late,
        Response::ProgressRecorded {
            applied: 0,
            late: 1,
            duplicates: 1,
            gaps: 1,
            refused: vec![(job_id, 0, 3)]
        }
    );
    let late = h
        .run(Command::RecordProgress {
            deltas: vec![old(2, 1)],
        })
        .await;
    assert!(
        matches!(late, Response::ProgressRecorded { late: 1, .. }),
        "{late:?}"
    );
    let task = h.reader().task(job_id, 0).unwrap().expect("task");
    assert_eq!(
        (task.state, task.attempt, task.last_seq, task.deltas),
        (TaskState::Pending, 2, None, 2)
    );
    let attempts = h
        .reader()
        .job_attempts(job_id, &PageRequest::default())
        .unwrap()
        .items;
    let first = &attempts[0];
    assert_eq!(
        (
            first.attempt,
            first.worker_id.as_str(),
            first.last_seq,
            first.late_deltas
        ),
        (1, "w1", 2, 2)
    );
    assert_eq!(
        first.ended.map(|(_, end)| end),
        Some(AttemptEnd::Reassigned)
    );
    assert_eq!(first.reason, "worker lost");
    assert!(first.started_at_ms.is_some() && first.late_between_ms.is_some());
    let old_done = Command::CompleteTask {
        job_id,
        task: 0,
        attempt: 1,
        outcome: TaskOutcome::Succeeded,
        result: vec![],
    };
    assert_eq!(code(&h.run(old_done).await), Some(RejectCode::StaleAttempt));
    assert_eq!(
        code(
            &h.run(Command::StartTask {
                job_id,
                task: 0,
                attempt: 1
            })
            .await
        ),
        Some(RejectCode::StaleAttempt)
    );

    ok(&claim(&mut h, job_id, 0, 2, "w2").await);
    ok(&h
        .run(Command::StartTask {
            job_id,
            task: 0,
            attempt: 2,
        })
        .await);
    let fresh = ProgressDelta {
        job_id,
        task: 0,
        attempt: 2,
        seq: 1,
        delta: vec![1],
    };
    let accepted = h
        .run(Command::RecordProgress {
            deltas: vec![fresh],
        })
        .await;
    assert_eq!(
        accepted,
        Response::ProgressRecorded {
            applied: 1,
            late: 0,
            duplicates: 0,
            gaps: 0,
            refused: vec![]
        }
    );
    let failed = Command::CompleteTask {
        job_id,
        task: 0,
        attempt: 2,
        outcome: TaskOutcome::Failed {
            reason: "target down".into(),
        },
        result: vec![],
    };
    ok(&h.run(failed).await);
    let job = h.reader().job(job_id).unwrap().expect("job");
    assert_eq!((job.state, job.reassignments), (JobState::Failed, 1));
    assert!(job.reason.contains("target down"));
}

/// The coordinated start waits for every task to be ready: a task that fails before it is
/// scheduled fails the job at once (its other tasks stop); one that fails after it lets the
/// others run to their end.
#[tokio::test]
async fn a_task_failing_before_the_start_fails_the_job_at_once() {
    let mut h = setup().await;
    let fail = |job_id, task| Command::CompleteTask {
        job_id,
        task,
        attempt: 1,
        outcome: TaskOutcome::Failed {
            reason: "no simulation file".into(),
        },
        result: vec![],
    };
    let early = submit(&mut h, 2).await;
    ok(&claim(&mut h, early, 0, 1, "w1").await);
    ok(&claim(&mut h, early, 1, 1, "w2").await);
    ok(&h.run(fail(early, 1)).await);
    let r = h.reader();
    let job = r.job(early).unwrap().expect("job");
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(
        job.reason,
        "task 1 failed before the start: no simulation file"
    );
    let states: Vec<TaskState> = r
        .list_tasks(early, &PageRequest::default())
        .unwrap()
        .items
        .iter()
        .map(|t| t.state)
        .collect();
    assert_eq!(states, vec![TaskState::Aborted, TaskState::Failed]);

    let late = submit(&mut h, 2).await;
    ok(&claim(&mut h, late, 0, 1, "w1").await);
    ok(&claim(&mut h, late, 1, 1, "w2").await);
    ok(&h
        .run(Command::ScheduleStart {
            job_id: late,
            start_at_ms: h.now + 100,
            partial: false,
        })
        .await);
    ok(&h.run(fail(late, 1)).await);
    let job = r.job(late).unwrap().expect("job");
    assert_eq!(job.state, JobState::Starting, "{job:?}");
    ok(&h
        .run(Command::CompleteTask {
            job_id: late,
            task: 0,
            attempt: 1,
            outcome: TaskOutcome::Succeeded,
            result: vec![],
        })
        .await);
    let job = r.job(late).unwrap().expect("job");
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(job.reason, "task 1 failed: no simulation file");
}

#[tokio::test]
async fn abort_and_manual_failure_end_unfinished_tasks() {
    let mut h = setup().await;
    let job_id = submit(&mut h, 2).await;
    ok(&claim(&mut h, job_id, 0, 1, "w1").await);
    ok(&h
        .run(Command::AbortJob {
            job_id,
            reason: "user".into(),
        })
        .await);
    ok(&h
        .run(Command::AbortJob {
            job_id,
            reason: "user".into(),
        })
        .await);
    let r = h.reader();
    assert_eq!(
        r.job(job_id).unwrap().map(|j| j.state),
        Some(JobState::Aborted)
    );
    let tasks = r.list_tasks(job_id, &PageRequest::default()).unwrap().items;
    assert!(tasks.iter().all(|t| t.state == TaskState::Aborted));
    let set = Command::SetJobState {
        job_id,
        state: JobState::Queued,
        reason: String::new(),
    };
    assert_eq!(code(&h.run(set).await), Some(RejectCode::Conflict));

    let Response::JobSubmitted { job_id: second } = h.run(Command::SubmitJob(spec(1))).await else {
        panic!()
    };
    assert_eq!(second, job_id + 1);
    let running = Command::SetJobState {
        job_id: second,
        state: JobState::Running,
        reason: String::new(),
    };
    assert_eq!(code(&h.run(running).await), Some(RejectCode::Conflict));
    ok(&h
        .run(Command::SetJobState {
            job_id: second,
            state: JobState::Failed,
            reason: "pool empty".into(),
        })
        .await);
    assert_eq!(
        r.job(second).unwrap().map(|j| j.state),
        Some(JobState::Failed)
    );
}

#[tokio::test]
async fn claims_respect_slots_and_spread() {
    let mut h = setup().await;
    ok(&h
        .run(Command::RegisterWorker {
            worker_id: "big".into(),
            pool: "default".into(),
            labels: BTreeMap::new(),
            slots: 2,
            version: "0.1.0".into(),
            address: "127.0.0.1:9001".into(),
        })
        .await);
    let first = submit(&mut h, 2).await;
    let second = submit(&mut h, 1).await;
    let third = submit(&mut h, 1).await;
    ok(&claim(&mut h, first, 0, 1, "big").await);
    // Two tasks of one job never share a worker, whatever its slots.
    assert_eq!(
        code(&claim(&mut h, first, 1, 1, "big").await),
        Some(RejectCode::Conflict)
    );
    ok(&claim(&mut h, second, 0, 1, "big").await);
    // Both slots taken.
    assert_eq!(
        code(&claim(&mut h, third, 0, 1, "big").await),
        Some(RejectCode::Conflict)
    );
    // A finished task frees its slot.
    ok(&h
        .run(Command::CompleteTask {
            job_id: second,
            task: 0,
            attempt: 1,
            outcome: TaskOutcome::Succeeded,
            result: vec![],
        })
        .await);
    ok(&claim(&mut h, third, 0, 1, "big").await);
}

#[tokio::test]
async fn a_partial_start_needs_one_claimed_task_and_lets_the_others_join() {
    let mut h = setup().await;
    let job_id = submit(&mut h, 2).await;
    let start = |partial| Command::ScheduleStart {
        job_id,
        start_at_ms: 5_000,
        partial,
    };
    assert_eq!(code(&h.run(start(true)).await), Some(RejectCode::Conflict));
    ok(&claim(&mut h, job_id, 0, 1, "w1").await);
    assert_eq!(code(&h.run(start(false)).await), Some(RejectCode::Conflict));
    ok(&h.run(start(true)).await);
    let r = h.reader();
    assert_eq!(
        r.job(job_id).unwrap().map(|j| (j.state, j.start_at_ms)),
        Some((JobState::Starting, Some(5_000)))
    );
    // The pending task is claimed later and joins the started job.
    ok(&claim(&mut h, job_id, 1, 1, "w2").await);
    ok(&h
        .run(Command::StartTask {
            job_id,
            task: 1,
            attempt: 1,
        })
        .await);
    assert_eq!(
        r.job(job_id).unwrap().map(|j| j.state),
        Some(JobState::Running)
    );
}

/// A delta of an attempt that ended with its job (a flush after an abort, a worker delivering
/// what it kept after the job completed) amends the job's results once and reopens nothing.
#[tokio::test]
async fn late_deltas_after_the_job_ended_amend_its_results_once() {
    let mut h = setup().await;
    let job_id = submit(&mut h, 2).await;
    ok(&claim(&mut h, job_id, 0, 1, "w1").await);
    ok(&claim(&mut h, job_id, 1, 1, "w2").await);
    ok(&h
        .run(Command::ScheduleStart {
            job_id,
            start_at_ms: h.now,
            partial: false,
        })
        .await);
    let delta = |task, attempt, seq| ProgressDelta {
        job_id,
        task,
        attempt,
        seq,
        delta: vec![seq as u8],
    };
    assert!(matches!(
        h.run(Command::RecordProgress {
            deltas: vec![delta(0, 1, 1)]
        })
        .await,
        Response::ProgressRecorded { applied: 1, .. }
    ));
    // Task 1 is lost and replaced; the replacement and task 0 complete the job.
    assert_eq!(
        h.run(Command::ReassignTask {
            job_id,
            task: 1,
            attempt: 1,
            reason: "worker w2 lost".into(),
            only_if_worker_lost: false,
        })
        .await,
        Response::TaskReassigned { attempt: 2 }
    );
    register(&mut h, "w3").await;
    ok(&claim(&mut h, job_id, 1, 2, "w3").await);
    for (task, attempt) in [(0, 1), (1, 2)] {
        ok(&h
            .run(Command::CompleteTask {
                job_id,
                task,
                attempt,
                outcome: TaskOutcome::Succeeded,
                result: vec![],
            })
            .await);
    }
    let r = h.reader();
    assert_eq!(
        r.job(job_id).unwrap().map(|j| j.state),
        Some(JobState::Completed)
    );
    // w2 comes back with what it measured before it was cut off; a second delivery of the
    // same deltas changes nothing.
    let kept = Command::RecordProgress {
        deltas: vec![delta(1, 1, 1), delta(1, 1, 2)],
    };
    assert!(matches!(
        h.run(kept.clone()).await,
        Response::ProgressRecorded { late: 2, .. }
    ));
    assert!(matches!(
        h.run(kept).await,
        Response::ProgressRecorded {
            late: 0,
            duplicates: 2,
            ..
        }
    ));
    // The completed attempt's own deltas after its completion are late too.
    assert!(matches!(
        h.run(Command::RecordProgress {
            deltas: vec![delta(0, 1, 2)]
        })
        .await,
        Response::ProgressRecorded { late: 1, .. }
    ));
    let job = r.job(job_id).unwrap().expect("job");
    assert_eq!(job.state, JobState::Completed, "nothing reopens");
    let tasks = r.list_tasks(job_id, &PageRequest::default()).unwrap().items;
    assert!(tasks.iter().all(|t| t.state == TaskState::Succeeded));
    let series = r
        .job_progress(job_id, &PageRequest::default())
        .unwrap()
        .items;
    let keys: Vec<(u32, u32, u64)> = series.iter().map(|p| (p.task, p.attempt, p.seq)).collect();
    assert_eq!(keys, vec![(0, 1, 1), (0, 1, 2), (1, 1, 1), (1, 1, 2)]);
    let attempts = r
        .job_attempts(job_id, &PageRequest::default())
        .unwrap()
        .items;
    let ends: Vec<(u32, u32, Option<AttemptEnd>, u64)> = attempts
        .iter()
        .map(|a| (a.task, a.attempt, a.ended.map(|(_, e)| e), a.late_deltas))
        .collect();
    assert_eq!(
        ends,
        vec![
            (0, 1, Some(AttemptEnd::Succeeded), 1),
            (1, 1, Some(AttemptEnd::Reassigned), 2),
            (1, 2, Some(AttemptEnd::Succeeded), 0),
        ]
    );
    // Deleting the job ends it all: deltas of a deleted job are refused.
    ok(&h.run(Command::DeleteJob { job_id }).await);
    assert!(matches!(
        h.run(Command::RecordProgress { deltas: vec![delta(1, 1, 3)] }).await,
        Response::ProgressRecorded { late: 0, ref refused, .. } if refused.len() == 1
    ));
    assert!(r
        .job_attempts(job_id, &PageRequest::default())
        .unwrap()
        .items
        .is_empty());
}

/// A job that allows it may run a reassigned task beside its other task on one worker; a first
/// attempt never, and slots always bound it.
#[tokio::test]
async fn a_reassigned_task_may_be_claimed_beside_its_job() {
    let mut h = setup().await;
    let job_id = submit(&mut h, 2).await;
    ok(&h
        .run(Command::RegisterWorker {
            worker_id: "big".into(),
            pool: "default".into(),
            labels: BTreeMap::new(),
            slots: 2,
            version: "0.1.0".into(),
            address: "127.0.0.1:9001".into(),
        })
        .await);
    let beside = |task, attempt, w: &str| Command::ClaimTaskBesideItsJob {
        job_id,
        task,
        attempt,
        worker_id: w.into(),
    };
    ok(&claim(&mut h, job_id, 0, 1, "big").await);
    assert_eq!(
        code(&h.run(beside(1, 1, "big")).await),
        Some(RejectCode::BadRequest)
    );
    ok(&claim(&mut h, job_id, 1, 1, "w2").await);
    assert_eq!(
        h.run(Command::ReassignTask {
            job_id,
            task: 1,
            attempt: 1,
            reason: "worker w2 lost".into(),
            only_if_worker_lost: false,
        })
        .await,
        Response::TaskReassigned { attempt: 2 }
    );
    // A plain claim keeps the tasks spread; the job's option lets it join task 0.
    assert_eq!(
        code(&claim(&mut h, job_id, 1, 2, "big").await),
        Some(RejectCode::Conflict)
    );
    ok(&h.run(beside(1, 2, "big")).await);
    let task = h.reader().task(job_id, 1).unwrap().expect("task");
    assert_eq!(task.worker_id.as_deref(), Some("big"));
}

#[tokio::test]
async fn a_projects_jobs_page_newest_first_as_well() {
    let mut h = setup().await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(submit(&mut h, 1).await);
    }
    let r = h.reader();
    let mut seen = Vec::new();
    let mut req = PageRequest::first(2);
    loop {
        let page = r.list_jobs_newest_first("team", &req).unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|j| j.id));
        match page.next {
            Some(next) => req.after = Some(next),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "every job once, newest first");
    let oldest_first: Vec<u64> = r
        .list_jobs(Some("team"), &PageRequest::default())
        .unwrap()
        .items
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(oldest_first.iter().rev().copied().collect::<Vec<_>>(), seen);
    assert!(r
        .list_jobs_newest_first("nobody", &PageRequest::default())
        .unwrap()
        .items
        .is_empty());
}
