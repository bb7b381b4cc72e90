//! The worker registry: registration, state transitions, removal.

use super::*;

#[tokio::test]
async fn workers_register_transition_and_remove() {
    let mut h = Harness::new();
    register(&mut h, "w1").await;
    let set = |state| Command::SetWorkerState {
        worker_id: "w1".into(),
        state,
        reason: "missed heartbeats".into(),
        expected: None,
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
    // A liveness decision taken on an older view does not overwrite the drain.
    let stale_view = h
        .run(Command::SetWorkerState {
            worker_id: "w1".into(),
            state: WorkerState::Suspect,
            reason: "missed heartbeats".into(),
            expected: Some(WorkerState::Alive),
        })
        .await;
    assert_eq!(code(&stale_view), Some(RejectCode::Conflict));
    // Nor does a restart of the worker.
    register(&mut h, "w1").await;
    assert_eq!(
        h.reader().worker("w1").unwrap().map(|w| w.state),
        Some(WorkerState::Draining)
    );
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
            expected: None,
        })
        .await;
    assert_eq!(code(&unknown), Some(RejectCode::NotFound));
}

#[tokio::test]
async fn a_worker_holding_a_live_task_is_not_removed() {
    let mut h = setup().await;
    let Response::JobSubmitted { job_id } = h.run(Command::SubmitJob(spec(1))).await else {
        panic!("submit refused");
    };
    ok(&claim(&mut h, job_id, 0, 1, "w1").await);
    ok(&h
        .run(Command::SetWorkerState {
            worker_id: "w1".into(),
            state: WorkerState::Dead,
            reason: "lost".into(),
            expected: None,
        })
        .await);
    let remove = Command::RemoveWorker {
        worker_id: "w1".into(),
    };
    assert_eq!(
        code(&h.run(remove.clone()).await),
        Some(RejectCode::Conflict)
    );
    assert!(h.reader().worker("w1").unwrap().is_some());
    assert_eq!(
        h.reader()
            .active_jobs(&PageRequest::default())
            .unwrap()
            .items
            .iter()
            .map(|j| j.id)
            .collect::<Vec<_>>(),
        vec![job_id]
    );

    assert_eq!(
        h.run(Command::ReassignTask {
            job_id,
            task: 0,
            attempt: 1,
            reason: "worker lost".into(),
            only_if_worker_lost: true,
        })
        .await,
        Response::TaskReassigned { attempt: 2 }
    );
    ok(&h.run(remove).await);
    assert_eq!(h.reader().worker("w1").unwrap(), None);

    ok(&h
        .run(Command::AbortJob {
            job_id,
            reason: "done".into(),
        })
        .await);
    assert!(h
        .reader()
        .active_jobs(&PageRequest::default())
        .unwrap()
        .items
        .is_empty());
}
