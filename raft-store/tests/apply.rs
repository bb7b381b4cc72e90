//! Apply tests: every command, its refusals, request-id deduplication, attempt fencing,
//! idempotent progress folding and determinism across replicas.

mod common;

use std::collections::BTreeMap;

use broadside_raft_store::model::{
    FileKind, JobState, SplitMode, TaskOutcome, TaskState, WorkerState,
};
use broadside_raft_store::{
    Command, JobSpec, PageRequest, ProgressDelta, RejectCode, Request, RequestId, Response, Sha256,
};
use common::{ok, Harness};

fn code(r: &Response) -> Option<RejectCode> {
    match r {
        Response::Rejected { code, .. } => Some(*code),
        _ => None,
    }
}

/// Uploads `data` in chunks of `chunk` bytes and commits it as `project/path`.
async fn upload(h: &mut Harness, project: &str, path: &str, data: &[u8], chunk: usize) -> Response {
    let sha = Sha256::of(data);
    let chunks: Vec<&[u8]> = data.chunks(chunk).collect();
    for (i, c) in chunks.iter().enumerate() {
        let r = h
            .run(Command::PutBlobChunk {
                sha256: sha,
                size: data.len() as u64,
                chunk_count: chunks.len() as u32,
                index: i as u32,
                data: c.to_vec(),
            })
            .await;
        assert!(matches!(r, Response::BlobChunk { .. }), "{r:?}");
    }
    h.run(Command::CommitFile {
        project: project.into(),
        path: path.into(),
        kind: FileKind::Simulation,
        sha256: sha,
    })
    .await
}

fn spec(parallelism: u32) -> JobSpec {
    JobSpec {
        project: "team".into(),
        name: "smoke".into(),
        simulation: "sims/smoke.yaml".into(),
        files: vec!["data/users.csv".into()],
        pool: "default".into(),
        parallelism,
        split: SplitMode::Split,
        params: vec![1, 2, 3],
    }
}

async fn register(h: &mut Harness, id: &str) {
    ok(&h
        .run(Command::RegisterWorker {
            worker_id: id.into(),
            pool: "default".into(),
            labels: BTreeMap::new(),
            slots: 1,
            version: "0.1.0".into(),
            address: "127.0.0.1:9000".into(),
        })
        .await);
}

/// A project with a simulation and a data file, and two workers.
async fn setup() -> Harness {
    let mut h = Harness::new();
    ok(&h
        .run(Command::CreateProject {
            name: "team".into(),
            description: String::new(),
        })
        .await);
    assert_eq!(
        upload(&mut h, "team", "sims/smoke.yaml", b"scenarios: []", 4).await,
        Response::FileCommitted { version: 1 }
    );
    assert_eq!(
        upload(&mut h, "team", "data/users.csv", b"id\n1\n2\n", 3).await,
        Response::FileCommitted { version: 1 }
    );
    register(&mut h, "w1").await;
    register(&mut h, "w2").await;
    h
}

#[tokio::test]
async fn projects_create_conflict_validate_delete() {
    let mut h = Harness::new();
    ok(&h
        .run(Command::CreateProject {
            name: "a".into(),
            description: "d".into(),
        })
        .await);
    let again = h
        .run(Command::CreateProject {
            name: "a".into(),
            description: String::new(),
        })
        .await;
    assert_eq!(code(&again), Some(RejectCode::Conflict));
    let bad = h
        .run(Command::CreateProject {
            name: "../x".into(),
            description: String::new(),
        })
        .await;
    assert_eq!(code(&bad), Some(RejectCode::BadRequest));
    assert_eq!(
        upload(&mut h, "a", "f.yaml", b"x", 1).await,
        Response::FileCommitted { version: 1 }
    );
    let busy = h.run(Command::DeleteProject { name: "a".into() }).await;
    assert_eq!(code(&busy), Some(RejectCode::Conflict));
    ok(&h
        .run(Command::DeleteFile {
            project: "a".into(),
            path: "f.yaml".into(),
        })
        .await);
    ok(&h.run(Command::DeleteProject { name: "a".into() }).await);
    assert_eq!(h.reader().project("a").unwrap(), None);
    let gone = h.run(Command::DeleteProject { name: "a".into() }).await;
    assert_eq!(code(&gone), Some(RejectCode::NotFound));
}

#[tokio::test]
async fn blob_chunks_are_idempotent_and_commit_waits_for_the_last_one() {
    let mut h = Harness::new();
    ok(&h
        .run(Command::CreateProject {
            name: "p".into(),
            description: String::new(),
        })
        .await);
    let data = b"0123456789";
    let sha = Sha256::of(data);
    let put = |i: u32| Command::PutBlobChunk {
        sha256: sha,
        size: 10,
        chunk_count: 2,
        index: i,
        data: data[i as usize * 5..i as usize * 5 + 5].to_vec(),
    };
    assert_eq!(
        h.run(put(0)).await,
        Response::BlobChunk {
            received: 1,
            complete: false
        }
    );
    assert_eq!(
        h.run(put(0)).await,
        Response::BlobChunk {
            received: 1,
            complete: false
        }
    );
    let commit = Command::CommitFile {
        project: "p".into(),
        path: "d/x.csv".into(),
        kind: FileKind::Data,
        sha256: sha,
    };
    assert_eq!(
        code(&h.run(commit.clone()).await),
        Some(RejectCode::Conflict)
    );
    assert_eq!(
        h.run(put(1)).await,
        Response::BlobChunk {
            received: 2,
            complete: false
        }
    );
    assert_eq!(
        h.run(commit.clone()).await,
        Response::FileCommitted { version: 1 }
    );
    // The same content again is the same version; new content is a new version.
    assert_eq!(h.run(commit).await, Response::FileCommitted { version: 1 });
    assert_eq!(
        upload(&mut h, "p", "d/x.csv", b"other", 2).await,
        Response::FileCommitted { version: 2 }
    );
    let r = h.reader();
    assert_eq!(
        r.blob(&sha).unwrap().map(|b| (b.complete, b.refs)),
        Some((true, 1))
    );
    assert_eq!(
        r.blob_chunk(&sha, 1).unwrap().as_deref(),
        Some(&b"56789"[..])
    );
    assert_eq!(
        r.file("p", "d/x.csv", None).unwrap().map(|f| f.version),
        Some(2)
    );
    assert_eq!(r.file_versions("p", "d/x.csv").unwrap().len(), 2);
    let listed = r.list_files("p", &PageRequest::default()).unwrap();
    assert_eq!(listed.items.len(), 1);
    let out_of_range = Command::PutBlobChunk {
        sha256: sha,
        size: 10,
        chunk_count: 2,
        index: 7,
        data: vec![0],
    };
    assert_eq!(
        code(&h.run(out_of_range).await),
        Some(RejectCode::BadRequest)
    );
}

#[tokio::test]
async fn corrupt_blob_is_refused_and_dropped_and_paths_are_validated() {
    let mut h = Harness::new();
    ok(&h
        .run(Command::CreateProject {
            name: "p".into(),
            description: String::new(),
        })
        .await);
    let sha = Sha256::of(b"good");
    let r = h
        .run(Command::PutBlobChunk {
            sha256: sha,
            size: 4,
            chunk_count: 1,
            index: 0,
            data: b"evil".to_vec(),
        })
        .await;
    assert!(matches!(r, Response::BlobChunk { .. }));
    let commit = Command::CommitFile {
        project: "p".into(),
        path: "a".into(),
        kind: FileKind::Data,
        sha256: sha,
    };
    assert_eq!(
        code(&h.run(commit.clone()).await),
        Some(RejectCode::BadRequest)
    );
    assert_eq!(
        h.reader().blob(&sha).unwrap(),
        None,
        "bad chunks are dropped so a retry can succeed"
    );
    assert_eq!(
        upload(&mut h, "p", "a", b"good", 4).await,
        Response::FileCommitted { version: 1 }
    );
    for bad in ["../etc/passwd", "/abs", "a//b", "a/./b", "a\\b", ""] {
        let r = upload(&mut h, "p", bad, b"good", 4).await;
        assert_eq!(code(&r), Some(RejectCode::BadRequest), "{bad:?}");
    }
}

#[tokio::test]
async fn partial_blobs_are_dropped_by_age() {
    let mut h = Harness::new();
    let sha = Sha256::of(b"abcd");
    h.run(Command::PutBlobChunk {
        sha256: sha,
        size: 4,
        chunk_count: 2,
        index: 0,
        data: b"ab".to_vec(),
    })
    .await;
    let cutoff = h.now;
    assert_eq!(
        h.run(Command::DropPartialBlobs {
            created_before_ms: cutoff
        })
        .await,
        Response::BlobsDropped { count: 0 }
    );
    assert_eq!(
        h.run(Command::DropPartialBlobs {
            created_before_ms: cutoff + 1
        })
        .await,
        Response::BlobsDropped { count: 1 }
    );
    assert_eq!(h.reader().blob(&sha).unwrap(), None);
    assert_eq!(h.reader().blob_chunk(&sha, 0).unwrap(), None);
}

#[tokio::test]
async fn workers_register_transition_and_remove() {
    let mut h = Harness::new();
    register(&mut h, "w1").await;
    let set = |state| Command::SetWorkerState {
        worker_id: "w1".into(),
        state,
        reason: "missed heartbeats".into(),
    };
    ok(&h.run(set(WorkerState::Suspect)).await);
    assert_eq!(
        h.reader().worker("w1").unwrap().map(|w| w.state),
        Some(WorkerState::Suspect)
    );
    let busy = h
        .run(Command::RemoveWorker {
            worker_id: "w1".into(),
        })
        .await;
    assert_eq!(code(&busy), Some(RejectCode::Conflict));
    ok(&h.run(set(WorkerState::Dead)).await);
    assert_eq!(
        code(&h.run(set(WorkerState::Alive)).await),
        Some(RejectCode::Conflict)
    );
    register(&mut h, "w1").await;
    assert_eq!(
        h.reader().worker("w1").unwrap().map(|w| w.state),
        Some(WorkerState::Alive)
    );
    ok(&h.run(set(WorkerState::Draining)).await);
    ok(&h
        .run(Command::RemoveWorker {
            worker_id: "w1".into(),
        })
        .await);
    assert_eq!(
        h.reader()
            .list_workers(&PageRequest::default())
            .unwrap()
            .items
            .len(),
        0
    );
    let unknown = h
        .run(Command::SetWorkerState {
            worker_id: "zz".into(),
            state: WorkerState::Dead,
            reason: String::new(),
        })
        .await;
    assert_eq!(code(&unknown), Some(RejectCode::NotFound));
}

#[tokio::test]
async fn job_lifecycle_claim_start_progress_complete_result_delete() {
    let mut h = setup().await;
    let Response::JobSubmitted { job_id } = h.run(Command::SubmitJob(spec(2))).await else {
        panic!("not submitted")
    };
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
    let early = h
        .run(Command::ScheduleStart {
            job_id,
            start_at_ms: h.now + 5000,
        })
        .await;
    assert_eq!(code(&early), Some(RejectCode::Conflict));
    ok(&h.run(claim(1, 1, "w2")).await);
    ok(&h
        .run(Command::ScheduleStart {
            job_id,
            start_at_ms: h.now + 5000,
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
            duplicates: 0,
            refused: vec![]
        }
    );
    // Resent after a failover under a new request id: folded once.
    let again = h.run(batch).await;
    assert_eq!(
        again,
        Response::ProgressRecorded {
            applied: 0,
            duplicates: 3,
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
        vec![(0, 1), (0, 2), (1, 1)]
    );
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
            &h.run(Command::PutJobResult {
                job_id,
                result: vec![]
            })
            .await
        ),
        Some(RejectCode::Conflict)
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
    ok(&h
        .run(Command::PutJobResult {
            job_id,
            result: vec![7],
        })
        .await);
    assert_eq!(r.job_result(job_id).unwrap().map(|x| x.data), Some(vec![7]));
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
    let Response::JobSubmitted { job_id } = h.run(Command::SubmitJob(spec(1))).await else {
        panic!()
    };
    ok(&h
        .run(Command::ClaimTask {
            job_id,
            task: 0,
            attempt: 1,
            worker_id: "w1".into(),
        })
        .await);
    ok(&h
        .run(Command::ScheduleStart {
            job_id,
            start_at_ms: h.now,
        })
        .await);
    ok(&h
        .run(Command::StartTask {
            job_id,
            task: 0,
            attempt: 1,
        })
        .await);
    let reassign = Command::ReassignTask {
        job_id,
        task: 0,
        attempt: 1,
        reason: "worker lost".into(),
    };
    assert_eq!(
        h.run(reassign.clone()).await,
        Response::TaskReassigned { attempt: 2 }
    );
    assert_eq!(code(&h.run(reassign).await), Some(RejectCode::StaleAttempt));

    // The old worker's reports are refused; the new attempt's accepted.
    let late = ProgressDelta {
        job_id,
        task: 0,
        attempt: 1,
        seq: 5,
        delta: vec![],
    };
    let refused = h.run(Command::RecordProgress { deltas: vec![late] }).await;
    assert_eq!(
        refused,
        Response::ProgressRecorded {
            applied: 0,
            duplicates: 0,
            refused: vec![(job_id, 0, 1)]
        }
    );
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

    ok(&h
        .run(Command::ClaimTask {
            job_id,
            task: 0,
            attempt: 2,
            worker_id: "w2".into(),
        })
        .await);
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
            duplicates: 0,
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

#[tokio::test]
async fn abort_and_manual_failure_end_unfinished_tasks() {
    let mut h = setup().await;
    let Response::JobSubmitted { job_id } = h.run(Command::SubmitJob(spec(2))).await else {
        panic!()
    };
    ok(&h
        .run(Command::ClaimTask {
            job_id,
            task: 0,
            attempt: 1,
            worker_id: "w1".into(),
        })
        .await);
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
async fn pinned_versions_survive_deletion_until_released() {
    let mut h = setup().await;
    let Response::JobSubmitted { job_id } = h.run(Command::SubmitJob(spec(1))).await else {
        panic!()
    };
    ok(&h
        .run(Command::DeleteFile {
            project: "team".into(),
            path: "data/users.csv".into(),
        })
        .await);
    let r = h.reader();
    assert_eq!(
        r.file("team", "data/users.csv", None).unwrap(),
        None,
        "hidden from the latest view"
    );
    let pinned = r
        .file("team", "data/users.csv", Some(1))
        .unwrap()
        .expect("pinned version kept");
    assert!(pinned.deleted);
    assert!(r.blob(&pinned.sha256).unwrap().is_some());
    let missing = h.run(Command::SubmitJob(spec(1))).await;
    assert_eq!(
        code(&missing),
        Some(RejectCode::NotFound),
        "a deleted file cannot be pinned again"
    );
    ok(&h
        .run(Command::AbortJob {
            job_id,
            reason: String::new(),
        })
        .await);
    ok(&h.run(Command::DeleteJob { job_id }).await);
    assert_eq!(r.file("team", "data/users.csv", Some(1)).unwrap(), None);
    assert_eq!(r.blob(&pinned.sha256).unwrap(), None);
}

#[tokio::test]
async fn retried_request_is_applied_once() {
    let mut h = setup().await;
    let request = Request::new(RequestId(42), h.now + 1, Command::SubmitJob(spec(1)));
    let first = h.apply_request(request.clone()).await;
    let second = h.apply_request(request).await;
    assert_eq!(first, second);
    assert_eq!(
        h.reader()
            .list_jobs(None, &PageRequest::default())
            .unwrap()
            .items
            .len(),
        1
    );
    // Past the window the id is forgotten.
    h.now += broadside_raft_store::DEDUP_WINDOW_MS + 10_000;
    h.run(Command::CreateProject {
        name: "later".into(),
        description: String::new(),
    })
    .await;
    let third = h
        .apply_request(Request::new(
            RequestId(42),
            h.now,
            Command::SubmitJob(spec(1)),
        ))
        .await;
    assert_ne!(third, first);
}

#[tokio::test]
async fn replicas_applying_the_same_log_are_identical() {
    let mut a = setup().await;
    let mut b = setup().await;
    for h in [&mut a, &mut b] {
        let Response::JobSubmitted { job_id } = h.run(Command::SubmitJob(spec(3))).await else {
            panic!()
        };
        h.run(Command::ClaimTask {
            job_id,
            task: 0,
            attempt: 1,
            worker_id: "w1".into(),
        })
        .await;
        h.run(Command::AbortJob {
            job_id,
            reason: "x".into(),
        })
        .await;
    }
    assert_eq!(a.reader().digest().unwrap(), b.reader().digest().unwrap());
    assert_eq!(
        a.reader().last_applied().unwrap(),
        b.reader().last_applied().unwrap()
    );
}

#[tokio::test]
async fn paging_walks_every_item_once() {
    let mut h = Harness::new();
    for i in 0..25 {
        register(&mut h, &format!("w{i:02}")).await;
    }
    let r = h.reader();
    let mut seen = Vec::new();
    let mut req = PageRequest::first(10);
    loop {
        let page = r.list_workers(&req).unwrap();
        seen.extend(page.items.into_iter().map(|w| w.id));
        match page.next {
            Some(next) => req.after = Some(next),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).map(|i| format!("w{i:02}")).collect();
    assert_eq!(seen, expected);
}
