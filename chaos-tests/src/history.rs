//! The write workload and its history: clients create projects and upload files through
//! random masters, one attempt per operation with a deadline, and record how each ended; after
//! every acknowledged write they read it back, linearizably, through another random master.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use broadside_client::api::NewProject;
use broadside_client::ClientError;

use crate::masters::Masters;
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

/// The project the clients upload files into.
pub const FILES_PROJECT: &str = "chaos-files";

/// How an operation ended, as its client saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged (2xx): it must survive.
    Ok,
    /// Refused (4xx): it must not have happened.
    Failed,
    /// No answer (timeout, no master reachable): it may or may not have happened.
    Unknown,
}

impl Outcome {
    /// The outcome of an answer.
    pub fn of<T>(answer: &Result<T, ClientError>) -> Outcome {
        match answer {
            Ok(_) => Outcome::Ok,
            Err(ClientError::Api { status, .. }) if (400..500).contains(status) => Outcome::Failed,
            Err(_) => Outcome::Unknown,
        }
    }
}

/// What a write creates: what the oracle looks for on every master.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Write {
    /// A project of this name.
    Project(String),
    /// A file at `path` of [`FILES_PROJECT`] whose content has this SHA-256 (hex).
    File {
        /// Path in the project.
        path: String,
        /// Digest of the uploaded content.
        sha256: String,
    },
}

/// One operation of the workload.
#[derive(Clone, Debug)]
pub struct Op {
    /// What it wrote.
    pub write: Write,
    /// How it ended.
    pub outcome: Outcome,
    /// When it was sent.
    pub sent: Instant,
    /// When its answer (or its deadline) came.
    pub ended: Instant,
}

/// The operations of a run, and the read-backs of acknowledged writes.
#[derive(Default)]
pub struct History {
    ops: Mutex<Vec<Op>>,
    stop: AtomicBool,
    counter: AtomicU64,
    /// Linearizable reads of acknowledged writes that answered.
    pub reads: AtomicU64,
    /// Those that did not find the write (must be 0).
    pub stale_reads: Mutex<Vec<String>>,
    /// Why each refused write was refused (the oracle prints the first few).
    pub refusals: Mutex<Vec<String>>,
}

impl History {
    /// Every operation so far.
    pub fn ops(&self) -> Vec<Op> {
        self.ops.lock().clone()
    }

    /// Stops the clients.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Whether the clients were stopped.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// How long after `at` the first operation sent at or after `at` was acknowledged (the
    /// time writes took to come back after a fault).
    pub fn recovery_after(&self, at: Instant) -> Option<Duration> {
        self.ops
            .lock()
            .iter()
            .filter(|o| o.outcome == Outcome::Ok && o.sent >= at)
            .map(|o| o.ended - at)
            .min()
    }
}

/// One write through `master` (a project when `n` is even, else a file of `size` lines),
/// recorded in the history; returns its outcome and the path that reads it back.
async fn write(
    history: &History,
    masters: &Masters,
    master: &str,
    n: u64,
    prefix: &str,
    size: usize,
) -> (Outcome, String) {
    let name = format!("{prefix}-{n}");
    // One master per operation, with a deadline: what it does not answer is unknown.
    let one = masters.one(master, Duration::from_secs(3));
    let sent = Instant::now();
    let (write, answer, read) = if n % 2 == 0 {
        let project = NewProject {
            name: name.clone(),
            description: String::new(),
        };
        let answer = one
            .create_project(&project, Some(&format!("chaos-{name}")))
            .await
            .map(drop);
        let read = format!("/api/v1/projects/{name}?consistent=true");
        (Write::Project(name), answer, read)
    } else {
        let content = format!("{name}\n").repeat(size);
        let path = format!("f/{name}.txt");
        let answer = one
            .upload(FILES_PROJECT, &path, content.clone(), None, None)
            .await
            .map(drop);
        let read = format!("/api/v1/projects/{FILES_PROJECT}/file-versions/{path}?consistent=true");
        let sha256 = hex(&Sha256::digest(content.as_bytes()));
        (Write::File { path, sha256 }, answer, read)
    };
    let outcome = Outcome::of(&answer);
    if let (Outcome::Failed, Err(e)) = (outcome, &answer) {
        history
            .refusals
            .lock()
            .push(format!("{write:?} via {master}: {e}"));
    }
    history.ops.lock().push(Op {
        write,
        outcome,
        sent,
        ended: Instant::now(),
    });
    (outcome, read)
}

/// Runs one client until the history is stopped: alternately creates a project and uploads a
/// file, through a random master each time (each write with its own idempotency key); reads
/// every acknowledged write back through another random master with `consistent=true`.
pub async fn client(masters: Masters, history: Arc<History>, seed: u64) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let addrs = masters.addrs();
    while !history.stopped() {
        let n = history.counter.fetch_add(1, Ordering::SeqCst);
        let master = &addrs[rng.random_range(0..addrs.len())];
        let size = rng.random_range(1..200);
        let (outcome, read_path) =
            write(&history, &masters, master, n, &format!("c{seed}"), size).await;
        if outcome != Outcome::Ok {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let reader = masters.one(
            &addrs[rng.random_range(0..addrs.len())],
            Duration::from_secs(3),
        );
        match reader.call("GET", &read_path, &[], "").await {
            Ok(_) => {
                history.reads.fetch_add(1, Ordering::Relaxed);
            }
            Err(ClientError::Api { status: 404, .. }) => {
                history.reads.fetch_add(1, Ordering::Relaxed);
                history.stale_reads.lock().push(read_path);
            }
            // No answer (the master is down or cut off): nothing learnt.
            Err(_) => {}
        }
    }
}

/// Sends a write through a random master every 100 ms without waiting for the previous one
/// (at most 30 in flight), until the history is stopped: the clients wait for their answers,
/// so after a fault they may all be stuck on a master that stopped answering; the prober
/// measures when writes are acknowledged again.
pub async fn prober(masters: Masters, history: Arc<History>, seed: u64) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut in_flight = tokio::task::JoinSet::new();
    while !history.stopped() {
        while in_flight.try_join_next().is_some() {}
        if in_flight.len() < 30 {
            let n = history.counter.fetch_add(1, Ordering::SeqCst);
            let addrs = masters.addrs();
            let master = addrs[rng.random_range(0..addrs.len())].clone();
            let (history, masters) = (history.clone(), masters.clone());
            in_flight.spawn(async move {
                write(&history, &masters, &master, n, &format!("p{seed}"), 1).await
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    while in_flight.join_next().await.is_some() {}
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
