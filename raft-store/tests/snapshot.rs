//! Snapshot build → chunked transfer → install on another store gives an identical state.

mod common;

use broadside_raft_store::model::FileKind;
use broadside_raft_store::{Command, Response, Sha256};
use common::{ok, Harness};
use openraft::storage::RaftStateMachine;
use openraft::RaftSnapshotBuilder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Blob bytes in the test state (≥ 200 MB); `BROADSIDE_LONG_TESTS=1` raises it to 1 GiB.
fn blob_bytes() -> usize {
    if std::env::var_os("BROADSIDE_LONG_TESTS").is_some() {
        1 << 30
    } else {
        200 << 20
    }
}

async fn fill(h: &mut Harness, total: usize) {
    ok(&h
        .run(Command::CreateProject {
            name: "p".into(),
            description: "snap".into(),
        })
        .await);
    const CHUNK: usize = 1 << 20;
    const BLOB: usize = 4 << 20;
    for b in 0..total.div_ceil(BLOB) {
        // Cheap pseudo-random content, different per blob.
        let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ b as u64;
        let data: Vec<u8> = (0..BLOB)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let sha = Sha256::of(&data);
        for (i, c) in data.chunks(CHUNK).enumerate() {
            let r = h
                .run(Command::PutBlobChunk {
                    sha256: sha,
                    size: BLOB as u64,
                    chunk_count: (BLOB / CHUNK) as u32,
                    index: i as u32,
                    data: c.to_vec(),
                })
                .await;
            assert!(matches!(r, Response::BlobChunk { .. }));
        }
        let r = h
            .run(Command::CommitFile {
                project: "p".into(),
                path: format!("data/{b}.bin"),
                kind: FileKind::Data,
                sha256: sha,
            })
            .await;
        assert_eq!(r, Response::FileCommitted { version: 1 });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_stream_install_gives_identical_state() {
    let mut leader = Harness::new();
    fill(&mut leader, blob_bytes()).await;
    let mut follower = Harness::new();
    ok(&follower
        .run(Command::CreateProject {
            name: "stale".into(),
            description: String::new(),
        })
        .await);

    let mut snapshot = leader
        .sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("build");
    assert_eq!(
        snapshot.meta.last_log_id,
        leader.reader().last_applied().unwrap()
    );

    // Stream in chunks the way openraft's chunked transport does.
    let mut receiving = follower.sm.begin_receiving_snapshot().await.expect("begin");
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = snapshot.snapshot.read(&mut buf).await.expect("read chunk");
        if n == 0 {
            break;
        }
        receiving.write_all(&buf[..n]).await.expect("write chunk");
    }
    receiving.shutdown().await.expect("shutdown");
    follower
        .sm
        .install_snapshot(&snapshot.meta, receiving)
        .await
        .expect("install");

    assert_eq!(
        follower.reader().digest().unwrap(),
        leader.reader().digest().unwrap()
    );
    assert_eq!(
        follower.sm.applied_state().await.unwrap(),
        leader.sm.applied_state().await.unwrap()
    );
    assert_eq!(
        follower.reader().project("stale").unwrap(),
        None,
        "install replaces the old state"
    );
    let current = follower
        .sm
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("current snapshot");
    assert_eq!(current.meta, snapshot.meta);

    // Both continue identically from the snapshot.
    follower.index = leader.index;
    follower.now = leader.now;
    follower.next_request = leader.next_request;
    for h in [&mut leader, &mut follower] {
        ok(&h
            .run(Command::CreateProject {
                name: "after".into(),
                description: String::new(),
            })
            .await);
    }
    assert_eq!(
        follower.reader().digest().unwrap(),
        leader.reader().digest().unwrap()
    );

    // A reopened follower keeps the installed state and snapshot.
    let digest = follower.reader().digest().unwrap();
    let dir = follower.dir;
    drop(follower.sm);
    drop(follower.log);
    let (_log, mut sm) = broadside_raft_store::open(dir.path()).expect("reopen");
    assert_eq!(sm.reader().digest().unwrap(), digest);
    assert!(sm.get_current_snapshot().await.unwrap().is_some());
}

#[tokio::test]
async fn corrupt_snapshot_is_refused_and_state_kept() {
    let mut leader = Harness::new();
    fill(&mut leader, 1 << 20).await;
    let mut follower = Harness::new();
    ok(&follower
        .run(Command::CreateProject {
            name: "mine".into(),
            description: String::new(),
        })
        .await);
    let before = follower.reader().digest().unwrap();

    let mut snapshot = leader
        .sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("build");
    let mut bytes = Vec::new();
    snapshot.snapshot.read_to_end(&mut bytes).await.unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    let mut receiving = follower.sm.begin_receiving_snapshot().await.expect("begin");
    receiving.write_all(&bytes).await.unwrap();
    receiving.shutdown().await.unwrap();
    assert!(follower
        .sm
        .install_snapshot(&snapshot.meta, receiving)
        .await
        .is_err());
    assert_eq!(follower.reader().digest().unwrap(), before);
}
