//! Apply tests: every command, its refusals, request-id deduplication, attempt fencing,
//! idempotent progress folding and determinism across replicas. One test binary; a module per
//! area, sharing the helpers below.

#[path = "../common/mod.rs"]
mod common;

mod access;
mod files;
mod jobs;
mod replication;
mod workers;

use std::collections::BTreeMap;

use broadside_raft_store::model::{
    AttemptEnd, FileKind, JobState, SplitMode, TaskOutcome, TaskState, WorkerState,
};
use broadside_raft_store::{
    Command, JobSpec, PageRequest, ProgressDelta, RejectCode, Request, RequestId, Response, Sha256,
};
use common::{ok, Harness};

pub(crate) fn code(r: &Response) -> Option<RejectCode> {
    match r {
        Response::Rejected { code, .. } => Some(*code),
        _ => None,
    }
}

/// Uploads `data` in chunks of `chunk` bytes and commits it as `project/path`.
pub(crate) async fn upload(
    h: &mut Harness,
    project: &str,
    path: &str,
    data: &[u8],
    chunk: usize,
) -> Response {
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

pub(crate) fn spec(parallelism: u32) -> JobSpec {
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

pub(crate) async fn register(h: &mut Harness, id: &str) {
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
pub(crate) async fn setup() -> Harness {
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

/// Submits `spec(parallelism)` and returns the job id.
pub(crate) async fn submit(h: &mut Harness, parallelism: u32) -> u64 {
    match h.run(Command::SubmitJob(spec(parallelism))).await {
        Response::JobSubmitted { job_id } => job_id,
        other => panic!("submission refused: {other:?}"),
    }
}

/// Claims task `task` of `job_id` for `worker` at `attempt`.
pub(crate) async fn claim(
    h: &mut Harness,
    job_id: u64,
    task: u32,
    attempt: u32,
    worker: &str,
) -> Response {
    h.run(Command::ClaimTask {
        job_id,
        task,
        attempt,
        worker_id: worker.into(),
    })
    .await
}
