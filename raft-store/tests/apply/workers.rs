//! The worker registry: registration, state transitions, removal.

use broadside_raft_store::model::{JoinToken, WorkerCredential};

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

fn join_token(id: &str, expires_at_ms: Option<u64>) -> JoinToken {
    JoinToken {
        id: id.into(),
        name: format!("{id} fleet"),
        pool: "default".into(),
        secret_sha256: Sha256::of(id.as_bytes()),
        created_by: "test".into(),
        created_at_ms: 0,
        expires_at_ms,
        revoked_at_ms: None,
    }
}

fn join(token: &str, worker: &str) -> Command {
    Command::JoinWorker {
        token_id: token.into(),
        worker_id: worker.into(),
        secret_sha256: Sha256::of(worker.as_bytes()),
    }
}

#[tokio::test]
async fn join_tokens_give_identities_and_revoking_one_revokes_what_it_gave() {
    let mut h = Harness::new();
    ok(&h
        .run(Command::CreateJoinToken(join_token("j1", None)))
        .await);
    ok(&h
        .run(Command::CreateJoinToken(join_token("j2", None)))
        .await);
    assert_eq!(
        code(
            &h.run(Command::CreateJoinToken(join_token("j1", None)))
                .await
        ),
        Some(RejectCode::Conflict),
        "ids are unique"
    );
    let mut bad_pool = join_token("j3", None);
    bad_pool.pool = "a b".into();
    assert_eq!(
        code(&h.run(Command::CreateJoinToken(bad_pool)).await),
        Some(RejectCode::BadRequest)
    );
    // Identity writes move the generation caches check.
    let generation = h.reader().tokens_generation();
    ok(&h.run(join("j1", "a")).await);
    ok(&h.run(join("j1", "b")).await);
    ok(&h.run(join("j2", "c")).await);
    assert!(h.reader().tokens_generation() > generation);
    let a = h.reader().worker_identity("a").unwrap().expect("bound");
    assert_eq!(a.pool.as_deref(), Some("default"));
    assert_eq!(
        a.credential,
        WorkerCredential::Joined {
            token_id: "j1".into(),
            secret_sha256: Sha256::of(b"a"),
        }
    );
    // An id is bound once (asking again with the same token and secret, after a lost
    // answer, gets the same identity); an unknown token gives nothing.
    ok(&h.run(join("j1", "a")).await);
    assert_eq!(
        code(&h.run(join("j2", "a")).await),
        Some(RejectCode::Conflict)
    );
    assert_eq!(
        code(&h.run(join("nope", "d")).await),
        Some(RejectCode::NotFound)
    );
    // Revoking j1 revokes a and b, not c, and nobody joins with it any more.
    ok(&h.run(Command::RevokeJoinToken { id: "j1".into() }).await);
    let r = h.reader();
    assert!(r
        .worker_identity("a")
        .unwrap()
        .unwrap()
        .revoked_at_ms
        .is_some());
    assert!(r
        .worker_identity("b")
        .unwrap()
        .unwrap()
        .revoked_at_ms
        .is_some());
    assert!(r
        .worker_identity("c")
        .unwrap()
        .unwrap()
        .revoked_at_ms
        .is_none());
    assert!(!r.join_token("j1").unwrap().unwrap().is_valid_at(h.now));
    assert_eq!(
        code(&h.run(join("j1", "e")).await),
        Some(RejectCode::NotFound)
    );
    assert_eq!(
        code(&h.run(Command::RevokeJoinToken { id: "nope".into() }).await),
        Some(RejectCode::NotFound)
    );
    let listed = h
        .reader()
        .list_join_tokens(&PageRequest::default())
        .unwrap();
    let ids: Vec<_> = listed.items.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["j1", "j2"]);
    // An expired token gives nothing either.
    let soon = h.now + 500;
    ok(&h
        .run(Command::CreateJoinToken(join_token("j4", Some(soon))))
        .await);
    assert_eq!(
        code(&h.run(join("j4", "f")).await),
        Some(RejectCode::NotFound)
    );
}

#[tokio::test]
async fn a_worker_id_is_revoked_whether_joined_or_named_by_a_certificate() {
    let mut h = Harness::new();
    ok(&h
        .run(Command::CreateJoinToken(join_token("j1", None)))
        .await);
    ok(&h.run(join("j1", "a")).await);
    ok(&h
        .run(Command::RevokeWorker {
            worker_id: "a".into(),
        })
        .await);
    let a = h.reader().worker_identity("a").unwrap().unwrap();
    assert!(a.revoked_at_ms.is_some());
    assert!(matches!(a.credential, WorkerCredential::Joined { .. }));
    // A certificate's name has no identity until revoked; then it is recorded as revoked.
    assert!(h.reader().worker_identity("w1").unwrap().is_none());
    ok(&h
        .run(Command::RevokeWorker {
            worker_id: "w1".into(),
        })
        .await);
    let w1 = h.reader().worker_identity("w1").unwrap().unwrap();
    assert_eq!(w1.credential, WorkerCredential::Certificate);
    let when = w1.revoked_at_ms.expect("revoked");
    // Revoking again keeps the first instant; a revoked id cannot be joined.
    ok(&h
        .run(Command::RevokeWorker {
            worker_id: "w1".into(),
        })
        .await);
    assert_eq!(
        h.reader()
            .worker_identity("w1")
            .unwrap()
            .unwrap()
            .revoked_at_ms,
        Some(when)
    );
    assert_eq!(
        code(&h.run(join("j1", "w1")).await),
        Some(RejectCode::Conflict)
    );
}
