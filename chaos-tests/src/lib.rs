//! Fault injection against real Broadside processes, with an oracle (in the manner of etcd's
//! robustness tests and Jepsen): clients write through random masters while nemeses kill,
//! pause and partition the masters; every operation is recorded with its outcome — ok,
//! failed (a definite refusal) or unknown (no answer) — and after the faults heal, the oracle
//! checks that every acknowledged write is present, identical, on every master.
//!
//! The processes come from `broadside-harness`; the scenarios that run in CI are in
//! `cli/tests/chaos.rs` (they need the `broadside` binary), the long profile is this crate's
//! binary (`cargo run -p broadside-chaos-tests --release -- --duration 30m --seed 42`).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use broadside_client::{Client, ClientError};
use broadside_harness::{Cluster, Peer};
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

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

/// One operation of the workload: a project created under a unique name.
#[derive(Clone, Debug)]
pub struct Op {
    /// The project's name.
    pub name: String,
    /// How it ended.
    pub outcome: Outcome,
}

/// The operations of a run.
#[derive(Default)]
pub struct History {
    ops: Mutex<Vec<Op>>,
    stop: AtomicBool,
    counter: AtomicU64,
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
}

/// Runs one client until the history is stopped: creates projects through a random master
/// (each with its own idempotency key), recording every outcome.
pub async fn client(masters: Vec<String>, history: Arc<History>, seed: u64) {
    let mut rng = SmallRng::seed_from_u64(seed);
    while !history.stop.load(Ordering::SeqCst) {
        let n = history.counter.fetch_add(1, Ordering::SeqCst);
        let name = format!("c{seed}-{n}");
        let master = masters[rng.random_range(0..masters.len())].clone();
        // One master per operation, with a deadline: what it does not answer is unknown.
        let one = Client::new([master]).with_timeout(Duration::from_secs(3));
        let answer = one
            .send_json::<Value>(
                "POST",
                "/api/v1/projects",
                &json!({ "name": name }),
                Some(&format!("chaos-{name}")),
            )
            .await;
        let outcome = match answer {
            Ok(_) => Outcome::Ok,
            Err(ClientError::Api { status, .. }) if (400..500).contains(&status) => Outcome::Failed,
            Err(_) => Outcome::Unknown,
        };
        history.ops.lock().push(Op { name, outcome });
        if outcome != Outcome::Ok {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// What the oracle found.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Operations attempted.
    pub attempted: usize,
    /// Acknowledged.
    pub ok: usize,
    /// Refused.
    pub failed: usize,
    /// Without an answer.
    pub unknown: usize,
    /// Acknowledged but missing on some master (must be 0).
    pub lost: Vec<String>,
    /// Refused but present (must be 0).
    pub phantom: Vec<String>,
    /// Masters whose project lists differ from the first one's (must be 0).
    pub diverged: Vec<u64>,
}

impl Verdict {
    /// Whether the run is correct.
    pub fn passed(&self) -> bool {
        self.lost.is_empty() && self.phantom.is_empty() && self.diverged.is_empty()
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "operations: {} attempted, {} ok, {} failed, {} unknown; acknowledged lost: {}; refused but present: {}; diverged masters: {:?}",
            self.attempted,
            self.ok,
            self.failed,
            self.unknown,
            self.lost.len(),
            self.phantom.len(),
            self.diverged
        )
    }
}

/// Every project name on master `addr`, read linearizably.
async fn projects(addr: &str) -> Result<BTreeSet<String>, ClientError> {
    let client = Client::new([addr]).with_timeout(Duration::from_secs(10));
    let mut names = BTreeSet::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(c) => format!("/api/v1/projects?limit=1000&consistent=true&after={c}"),
            None => "/api/v1/projects?limit=1000&consistent=true".to_owned(),
        };
        let page: Value = client.get_json(&path).await?;
        for p in page["items"].as_array().into_iter().flatten() {
            if let Some(name) = p["name"].as_str() {
                names.insert(name.to_owned());
            }
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return Ok(names),
        }
    }
}

/// Checks the history against every master (after the faults healed). Retries reads for a
/// while: a master that just restarted may still be catching up.
pub async fn check(cluster: &Cluster, ops: &[Op]) -> Verdict {
    let mut verdict = Verdict {
        attempted: ops.len(),
        ok: ops.iter().filter(|o| o.outcome == Outcome::Ok).count(),
        failed: ops.iter().filter(|o| o.outcome == Outcome::Failed).count(),
        unknown: ops.iter().filter(|o| o.outcome == Outcome::Unknown).count(),
        ..Verdict::default()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lists = Vec::new();
    for m in cluster.masters.iter().filter(|m| m.is_running()) {
        let list = loop {
            match projects(&m.http.to_string()).await {
                Ok(l) => break l,
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "master {} cannot be read after the faults healed: {e}\n{}",
                        m.id,
                        cluster.logs()
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        lists.push((m.id, list));
    }
    for op in ops {
        let everywhere = lists.iter().all(|(_, l)| l.contains(&op.name));
        let anywhere = lists.iter().any(|(_, l)| l.contains(&op.name));
        match op.outcome {
            Outcome::Ok if !everywhere => verdict.lost.push(op.name.clone()),
            Outcome::Failed if anywhere => verdict.phantom.push(op.name.clone()),
            _ => {}
        }
    }
    if let Some((_, first)) = lists.first() {
        verdict.diverged = lists
            .iter()
            .filter(|(_, l)| l != first)
            .map(|(id, _)| *id)
            .collect();
    }
    verdict
}

/// A fault the nemesis can inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL the leader, restart it after a pause.
    KillLeader,
    /// Cut the leader from everyone (a minority of one), heal after a pause.
    IsolateLeader,
    /// SIGKILL every master at once, restart them all.
    CrashAll,
}

/// Injects `fault` (waiting `pause` before undoing it); returns a description.
pub async fn inject(cluster: &mut Cluster, fault: Fault, pause: Duration) -> String {
    match fault {
        Fault::KillLeader => {
            let leader = cluster.leader().await;
            cluster.kill(leader);
            tokio::time::sleep(pause).await;
            cluster.restart(leader).await;
            format!("killed leader {leader}, restarted after {pause:?}")
        }
        Fault::IsolateLeader => {
            let leader = cluster.leader().await;
            cluster.isolate(Peer::Master(leader));
            tokio::time::sleep(pause).await;
            cluster.heal();
            format!("isolated leader {leader} for {pause:?}")
        }
        Fault::CrashAll => {
            let ids: Vec<u64> = cluster.masters.iter().map(|m| m.id).collect();
            for id in &ids {
                cluster.kill(*id);
            }
            tokio::time::sleep(pause).await;
            for id in &ids {
                cluster.start_master(*id);
            }
            format!(
                "crashed all {} masters, restarted after {pause:?}",
                ids.len()
            )
        }
    }
}

/// A seeded schedule of `count` faults drawn from `faults`, with pauses between `min` and
/// `max`.
pub fn schedule(
    seed: u64,
    faults: &[Fault],
    count: usize,
    min: Duration,
    max: Duration,
) -> Vec<(Fault, Duration)> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let fault = faults[rng.random_range(0..faults.len())];
            let pause = Duration::from_millis(
                rng.random_range(min.as_millis() as u64..=max.as_millis() as u64),
            );
            (fault, pause)
        })
        .collect()
}

/// How a run under load goes.
#[derive(Clone, Debug)]
pub struct Run {
    /// Printed in front of every fault.
    pub label: String,
    /// Seed of the clients (the schedule has its own).
    pub seed: u64,
    /// Concurrent clients.
    pub clients: u64,
    /// Time between two faults.
    pub between: Duration,
    /// Stop injecting after this long (the rest of the schedule is dropped).
    pub until: Option<Duration>,
}

/// Injects `plan` into `cluster` under a write load, heals everything, waits for a leader,
/// stops the clients and checks the history; returns the verdict and the faults injected.
pub async fn run_under_load(
    cluster: &mut Cluster,
    plan: Vec<(Fault, Duration)>,
    run: &Run,
) -> (Verdict, usize) {
    let masters: Vec<String> = cluster.http_addrs().iter().map(|a| a.to_string()).collect();
    let history = Arc::new(History::default());
    let clients: Vec<_> = (0..run.clients)
        .map(|i| tokio::spawn(client(masters.clone(), history.clone(), run.seed * 10 + i)))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let mut injected = 0;
    for (fault, pause) in plan {
        if run.until.is_some_and(|u| started.elapsed() >= u) {
            break;
        }
        let what = inject(cluster, fault, pause).await;
        injected += 1;
        println!(
            "{} (seed {}) [{:>5.0} s]: {what}",
            run.label,
            run.seed,
            started.elapsed().as_secs_f64()
        );
        tokio::time::sleep(run.between).await;
    }
    // Liveness phase: everything healed, writes go through again.
    cluster.heal();
    cluster.leader().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    history.stop();
    for c in clients {
        let _ = c.await;
    }
    (check(cluster, &history.ops()).await, injected)
}
