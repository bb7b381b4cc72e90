//! Projects, content-addressed blobs, file versions and pinning.

use super::*;

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
    assert_eq!(h.reader().blob_content(&sha).unwrap(), None, "incomplete");
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
    assert_eq!(r.blob_content(&sha).unwrap().as_deref(), Some(&data[..]));
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
async fn pinned_versions_survive_deletion_until_released() {
    let mut h = setup().await;
    let job_id = submit(&mut h, 1).await;
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
