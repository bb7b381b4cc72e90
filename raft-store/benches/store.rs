//! Store benchmark: durable log appends (single entries and batches of 64) against the
//! machine's raw fsync rate measured in the same run, apply throughput of progress batches,
//! and snapshot build / install time and peak memory for a large state.
//!
//! `cargo bench -p broadside-raft-store --bench store [-- --snapshot-mib N --seconds S]`
//! (defaults: 1024 MiB of blobs, 3 s per throughput phase). Prints figures; asserts nothing.

use std::io::Write;
use std::time::Instant;

use broadside_raft_store::model::{FileKind, SplitMode};
use broadside_raft_store::{
    open, Command, Entry, JobSpec, LogStore, ProgressDelta, Request, RequestId, Response, Sha256,
    StateMachineStore,
};
use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload, LogId, RaftSnapshotBuilder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Args {
    snapshot_mib: usize,
    seconds: f64,
}

fn args() -> Args {
    let mut out = Args {
        snapshot_mib: 1024,
        seconds: 3.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--snapshot-mib" => {
                out.snapshot_mib = it.next().and_then(|v| v.parse().ok()).unwrap_or(1024)
            }
            "--seconds" => out.seconds = it.next().and_then(|v| v.parse().ok()).unwrap_or(3.0),
            _ => {} // cargo bench passes --bench
        }
    }
    out
}

/// Peak resident memory since the last reset, in MiB (Linux `VmHWM`).
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Current resident memory in MiB (`VmRSS`).
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Resets the peak-RSS counter so the next phase's peak is its own.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn entry(index: u64, request: Request) -> Entry {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(request),
    }
}

/// A small write, as most cluster writes are: one 200-byte progress delta.
fn small_request(i: u64) -> Request {
    Request::new(
        RequestId(u128::from(i)),
        1_700_000_000_000 + i,
        Command::RecordProgress {
            deltas: vec![ProgressDelta {
                job_id: 1,
                task: 0,
                attempt: 1,
                seq: i,
                delta: vec![7; 200],
            }],
        },
    )
}

/// Raw fsync rate of the filesystem under `dir`: 256-byte appends, each followed by fdatasync.
fn raw_fsyncs_per_s(dir: &std::path::Path, seconds: f64) -> f64 {
    let mut file = std::fs::File::create(dir.join("fsync-probe")).expect("probe file");
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        file.write_all(&[1u8; 256]).expect("write");
        file.sync_data().expect("fdatasync");
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Durable appends per second with `batch` entries per synced write.
async fn appends_per_s(log: &LogStore, next: &mut u64, batch: usize, seconds: f64) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        let entries = (0..batch)
            .map(|_| {
                *next += 1;
                entry(*next, small_request(*next))
            })
            .collect();
        log.append_durable(entries).await.expect("append");
        n += batch as u64;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

struct Applier {
    sm: StateMachineStore,
    index: u64,
    request: u128,
}

impl Applier {
    /// An applier over `sm` with the project `bench` created.
    async fn with_project(sm: StateMachineStore) -> Self {
        let mut a = Applier {
            sm,
            index: 0,
            request: 0,
        };
        let r = a
            .run(Command::CreateProject {
                name: "bench".into(),
                description: String::new(),
            })
            .await;
        assert_eq!(r, Response::Ok);
        a
    }

    async fn run(&mut self, command: Command) -> Response {
        self.index += 1;
        self.request += 1;
        let request = Request::new(
            RequestId(self.request),
            1_700_000_000_000 + self.index,
            command,
        );
        self.sm
            .apply([entry(self.index, request)])
            .await
            .expect("apply")
            .pop()
            .expect("one response")
    }

    /// Stores `data` as `project/path` in 1 MiB chunks.
    async fn upload(&mut self, path: &str, data: &[u8]) {
        const CHUNK: usize = 1 << 20;
        let sha = Sha256::of(data);
        let count = data.len().div_ceil(CHUNK) as u32;
        for (i, c) in data.chunks(CHUNK).enumerate() {
            let r = self
                .run(Command::PutBlobChunk {
                    sha256: sha,
                    size: data.len() as u64,
                    chunk_count: count,
                    index: i as u32,
                    data: c.to_vec(),
                })
                .await;
            assert!(matches!(r, Response::BlobChunk { .. }), "{r:?}");
        }
        let r = self
            .run(Command::CommitFile {
                project: "bench".into(),
                path: path.into(),
                kind: FileKind::Data,
                sha256: sha,
            })
            .await;
        assert!(matches!(r, Response::FileCommitted { .. }), "{r:?}");
    }
}

/// Pseudo-random bytes (incompressible, so lz4 cannot shrink the state), different per seed.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Applies progress batches of `per_batch` 1 KiB deltas from `tasks` running tasks.
async fn apply_progress(a: &mut Applier, tasks: u32, per_batch: usize, seconds: f64) -> (f64, f64) {
    let Response::JobSubmitted { job_id } = a
        .run(Command::SubmitJob(JobSpec {
            project: "bench".into(),
            name: "progress".into(),
            simulation: "sim.yaml".into(),
            files: vec![],
            pool: "default".into(),
            parallelism: tasks,
            split: SplitMode::Split,
            params: vec![],
        }))
        .await
    else {
        panic!("submit refused")
    };
    for task in 0..tasks {
        let worker = format!("w{task}");
        let r = a
            .run(Command::RegisterWorker {
                worker_id: worker.clone(),
                pool: "default".into(),
                labels: Default::default(),
                slots: 1,
                version: "bench".into(),
                address: "127.0.0.1:1".into(),
            })
            .await;
        assert_eq!(r, Response::Ok);
        let r = a
            .run(Command::ClaimTask {
                job_id,
                task,
                attempt: 1,
                worker_id: worker,
            })
            .await;
        assert_eq!(r, Response::Ok);
    }
    let delta = noise(7, 1024);
    // Each task numbers its own deltas; a batch takes the next one of each task in turn.
    let mut next_seq = vec![0u64; tasks as usize];
    let mut next_task = 0usize;
    let (mut batches, mut deltas) = (0u64, 0u64);
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < seconds {
        let batch = (0..per_batch)
            .map(|_| {
                let task = next_task;
                next_task = (next_task + 1) % tasks as usize;
                next_seq[task] += 1;
                ProgressDelta {
                    job_id,
                    task: task as u32,
                    attempt: 1,
                    seq: next_seq[task],
                    delta: delta.clone(),
                }
            })
            .collect();
        match a.run(Command::RecordProgress { deltas: batch }).await {
            Response::ProgressRecorded {
                applied,
                duplicates,
                ..
            } => {
                assert_eq!(duplicates, 0, "every delta is new");
                deltas += u64::from(applied);
            }
            other => panic!("progress refused: {other:?}"),
        }
        batches += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    (batches as f64 / secs, deltas as f64 / secs)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = args();
    let secs = args.seconds;
    let dir = tempfile::tempdir_in(std::env::var_os("BENCH_DIR").unwrap_or_else(|| ".".into()))
        .expect("temp dir");
    println!(
        "# broadside-raft-store benchmark (release), dir {}",
        dir.path().display()
    );

    // Durable appends vs the raw fsync rate of the same filesystem.
    let (log, sm) = open(&dir.path().join("appends")).expect("open");
    let raw = raw_fsyncs_per_s(dir.path(), secs);
    let mut next = 0u64;
    let single = appends_per_s(&log, &mut next, 1, secs).await;
    let batched = appends_per_s(&log, &mut next, 64, secs).await;
    println!("raw fsync (256 B + fdatasync):      {raw:>10.0} /s");
    println!(
        "durable appends, 1 entry per write: {single:>10.0} entries/s  ({:.2}x raw fsync)",
        single / raw
    );
    println!(
        "durable appends, 64 per write:      {batched:>10.0} entries/s  ({:.1}x single, {:.0} writes/s = {:.2}x raw fsync)",
        batched / single,
        batched / 64.0,
        batched / 64.0 / raw
    );
    drop((log, sm));

    // Apply throughput of progress batches.
    let (_log, sm) = open(&dir.path().join("apply")).expect("open");
    let mut a = Applier::with_project(sm).await;
    a.upload("sim.yaml", b"scenarios: []").await;
    for per_batch in [1usize, 64] {
        let (bps, dps) = apply_progress(&mut a, 64, per_batch, secs).await;
        println!(
            "apply RecordProgress, {per_batch:>2} x 1 KiB deltas per entry: {bps:>8.0} entries/s, {dps:>8.0} deltas/s"
        );
    }
    drop(a);

    // Snapshot build and install of a large state.
    let (_log, sm) = open(&dir.path().join("leader")).expect("open");
    let mut a = Applier::with_project(sm).await;
    const BLOB: usize = 16 << 20;
    let blobs = (args.snapshot_mib << 20).div_ceil(BLOB);
    let fill = Instant::now();
    for b in 0..blobs {
        a.upload(&format!("data/{b}.bin"), &noise(b as u64 + 1, BLOB))
            .await;
    }
    println!(
        "filled {} MiB of blobs in {:.1} s",
        (blobs * BLOB) >> 20,
        fill.elapsed().as_secs_f64()
    );

    let base = rss_mib();
    reset_peak();
    let t = Instant::now();
    let mut snapshot =
        a.sm.get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("build");
    let build_s = t.elapsed().as_secs_f64();
    let build_peak = peak_rss_mib();
    let size = snapshot
        .snapshot
        .metadata()
        .await
        .map(|m| m.len())
        .unwrap_or(0);

    let (_flog, mut follower) = open(&dir.path().join("follower")).expect("open");
    let base_install = rss_mib();
    reset_peak();
    let t = Instant::now();
    let mut receiving = follower.begin_receiving_snapshot().await.expect("begin");
    let mut buf = vec![0u8; 4 << 20];
    loop {
        let n = snapshot.snapshot.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        receiving.write_all(&buf[..n]).await.expect("write");
    }
    receiving.shutdown().await.expect("flush");
    follower
        .install_snapshot(&snapshot.meta, receiving)
        .await
        .expect("install");
    let install_s = t.elapsed().as_secs_f64();
    let install_peak = peak_rss_mib();
    println!(
        "snapshot of {:.0} MiB: build {build_s:.1} s ({:.0} MiB/s), peak RSS {build_peak:.0} MiB (base {base:.0} MiB)",
        size as f64 / (1u64 << 20) as f64,
        size as f64 / (1u64 << 20) as f64 / build_s
    );
    println!(
        "                      transfer+install {install_s:.1} s ({:.0} MiB/s), peak RSS {install_peak:.0} MiB (base {base_install:.0} MiB)",
        size as f64 / (1u64 << 20) as f64 / install_s
    );
    let same =
        follower.reader().digest().expect("digest") == a.sm.reader().digest().expect("digest");
    println!("installed state identical: {same}");
}
