//! Control-plane capacity: N simulated workers (tarpc clients speaking the worker protocol, all
//! in this process) against three masters on loopback with the default timings. Each worker
//! claims one task of a job and heartbeats every second with one metrics delta (~0.5 KiB, an
//! encoded `TaskDelta`), as a real worker does while it runs. Measured per N: heartbeat round
//! trip (p50, p99, max) and live-data lag — the time from a delta being taken to its
//! acknowledgement, i.e. to being committed on a quorum and readable on every master.
//!
//! ```sh
//! cargo bench --workspace --bench capacity -- [--workers 25,50,100,200,400] [--seconds 20] [--tls]
//! ```
//!
//! The reference is the smallest N of the same run. A step passes when the heartbeat p99 is
//! below 100 ms and the lag p99 at most 3 s. With `--tls` every N runs twice, the cluster
//! port in plain TCP and then with mutual TLS (each worker with its own certificate), and the
//! TLS figures are given as ratios of the plain ones of the same run.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use broadside_client::Client;
use broadside_engine::metrics::{RequestStats, RunStats, SecondStats};
use broadside_engine::wire::{LogLevel, LogLine, TaskDelta};
use broadside_master::{LocalCluster, MasterHandle, Timings};
use broadside_rpc::transport::{self, context_with_timeout, Security};
use broadside_rpc::worker::{
    Delta, Heartbeat, PullRequest, TaskPhase, TaskRef, TaskReport, WorkerInfo,
};
use broadside_rpc::{Payload, ServiceKind, WorkerRpcClient};
use bytes::Bytes;
use parking_lot::Mutex;

const MASTERS: u64 = 3;
const WARM_UP: Duration = Duration::from_secs(5);
const SIMULATION: &str = "\
name: capacity
http:
  base_url: http://127.0.0.1:9
scenarios:
  - name: s
    injection:
      - constant_users_per_sec: { rate: 1, during: 1h }
    steps:
      - request: { name: home, url: / }
";

struct Args {
    workers: Vec<usize>,
    seconds: u64,
    tls: bool,
}

fn args() -> Args {
    let mut args = Args {
        workers: vec![25, 50, 100, 200, 400],
        seconds: 20,
        tls: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--workers" => {
                args.workers = it
                    .next()
                    .expect("--workers needs a list")
                    .split(',')
                    .map(|n| n.trim().parse().expect("--workers: numbers"))
                    .collect();
            }
            "--tls" => args.tls = true,
            "--seconds" => {
                args.seconds = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--seconds needs a number");
            }
            _ => {}
        }
    }
    args
}

/// One request to a master's REST API, with the cluster's admin token.
async fn rest(
    addr: SocketAddr,
    token: &str,
    method: &str,
    path: &str,
    body: impl Into<Bytes>,
) -> (u16, Bytes) {
    let reply = Client::new([addr.to_string()])
        .with_token(token)
        .send(method, path, &[("content-type", "application/json")], body)
        .await
        .expect("the master answers");
    (reply.status, reply.body)
}

struct Cluster {
    _dir: tempfile::TempDir,
    cluster: LocalCluster,
}

impl Cluster {
    async fn start(tls: bool) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let start = if tls {
            LocalCluster::start_tls(MASTERS, dir.path(), Timings::default(), 1 << 20).await
        } else {
            LocalCluster::start(MASTERS, dir.path(), Timings::default(), 1 << 20).await
        };
        let cluster = start.expect("masters start");
        Cluster { _dir: dir, cluster }
    }

    async fn leader(&self) -> &MasterHandle {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some((_, n)) = self
                .cluster
                .handles()
                .find(|(_, n)| n.node().status().role == "leader")
            {
                return n;
            }
            assert!(Instant::now() < deadline, "no leader");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn shutdown(self) {
        self.cluster.shutdown().await;
    }
}

fn delta(seq: u64) -> Delta {
    let mut stats = RunStats::default();
    let mut home = RequestStats::default();
    let mut second = SecondStats::new(seq);
    for ms in [3, 5, 8, 13, 21] {
        home.record(Duration::from_millis(ms), true);
        second.latency.record_micros(ms * 1000);
        second.ok += 1;
        second.requests += 1;
    }
    stats.requests.insert("home".into(), home);
    stats.series.push(second);
    let d = TaskDelta {
        elapsed_ms: seq * 1000,
        users: 5,
        stats,
        logs: vec![LogLine::new(0, LogLevel::Info, "tick")],
        logs_dropped: 0,
        ..TaskDelta::default()
    };
    Delta {
        seq,
        data: Payload(d.encode().expect("encodes")),
    }
}

#[derive(Default)]
struct Samples {
    rtt_ms: Vec<f64>,
    lag_ms: Vec<f64>,
    errors: u64,
    delta_bytes: usize,
}

/// The phases of a step, shared by its workers.
#[derive(Default)]
struct Phase {
    /// Workers holding their task.
    claimed: std::sync::atomic::AtomicUsize,
    /// Heartbeats sent from this instant on are measured.
    measure_from: Mutex<Option<Instant>>,
    /// The workers stop.
    stop: std::sync::atomic::AtomicBool,
}

/// One simulated worker: register, claim a task, then heartbeat every second until stopped.
async fn worker(
    addr: SocketAddr,
    security: Security,
    id: String,
    heartbeat: Duration,
    phase: Arc<Phase>,
    samples: Arc<Mutex<Samples>>,
) {
    use std::sync::atomic::Ordering::SeqCst;
    let give_up = Instant::now() + Duration::from_secs(300);
    let stream = transport::connect(
        &addr.to_string(),
        ServiceKind::Worker,
        transport::Reach::AnyMaster,
        &security,
        Duration::from_secs(5),
    )
    .await
    .expect("connect");
    let c = WorkerRpcClient::new(
        tarpc::client::Config::default(),
        transport::framed(stream, ServiceKind::Worker),
    )
    .spawn();
    let ctx = || context_with_timeout(Duration::from_secs(10));
    let info = WorkerInfo {
        worker_id: id.clone(),
        pool: "default".into(),
        labels: vec![],
        slots: 1,
        version: "bench".into(),
        address: "capacity".into(),
        running: vec![],
    };
    // A new leader answers workers once it took office: retry until then.
    loop {
        match c.register(ctx(), info.clone()).await {
            Ok(Ok(_)) => break,
            Ok(Err(broadside_rpc::CallError::Unavailable(_))) | Err(_) => {
                assert!(Instant::now() < give_up, "{id} could not register");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(Err(e)) => panic!("{id}: registration refused: {e}"),
        }
    }
    // A large fleet claiming at once keeps the leader busy: a pull that times out is retried.
    let task: TaskRef = loop {
        let pulled = c
            .pull(
                ctx(),
                PullRequest {
                    worker_id: id.clone(),
                    free_slots: 1,
                    wait_ms: 5_000,
                },
            )
            .await;
        if let Ok(Ok(Some(a))) = pulled {
            break a.task;
        }
        assert!(Instant::now() < give_up, "{id} got no task");
    };
    phase.claimed.fetch_add(1, SeqCst);
    // Unacknowledged deltas with the instant each was taken.
    let mut pending: VecDeque<(Delta, Instant)> = VecDeque::new();
    let mut seq = 0u64;
    let mut tick = tokio::time::interval(heartbeat);
    while !phase.stop.load(SeqCst) {
        tick.tick().await;
        seq += 1;
        let d = delta(seq);
        samples.lock().delta_bytes = d.data.0.len();
        pending.push_back((d, Instant::now()));
        let sent = Instant::now();
        let reply = c
            .heartbeat(
                ctx(),
                Heartbeat {
                    worker_id: id.clone(),
                    sent_at_ms: 0,
                    tasks: vec![TaskReport {
                        task,
                        phase: TaskPhase::Running,
                        elapsed_ms: seq * 1000,
                        users: 5,
                        deltas: pending.iter().map(|(d, _)| d.clone()).collect(),
                    }],
                    ended: vec![],
                },
            )
            .await;
        let now = Instant::now();
        let measure_from = *phase.measure_from.lock();
        let measuring = measure_from.is_some_and(|m| sent >= m);
        match reply {
            Ok(Ok(reply)) => {
                let mut s = samples.lock();
                if measuring {
                    s.rtt_ms
                        .push(now.duration_since(sent).as_secs_f64() * 1000.0);
                }
                if let Some(ack) = reply.acks.iter().find(|a| a.task == task) {
                    while pending.front().is_some_and(|(d, _)| d.seq <= ack.up_to) {
                        let (_, taken) = pending.pop_front().expect("front");
                        if measure_from.is_some_and(|m| taken >= m) {
                            s.lag_ms
                                .push(now.duration_since(taken).as_secs_f64() * 1000.0);
                        }
                    }
                }
            }
            _ => samples.lock().errors += 1,
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// CPU seconds this process used so far (user + system), from /proc.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

struct Step {
    workers: usize,
    beats_per_sec: f64,
    rtt: (f64, f64, f64),
    lag: (f64, f64, f64),
    errors: u64,
    cpu_percent: f64,
    delta_bytes: usize,
    /// From the first registration to every task claimed.
    claimed_in: Duration,
}

async fn step(workers: usize, seconds: u64, tls: bool) -> Step {
    let cluster = Cluster::start(tls).await;
    let leader = cluster.leader().await;
    let http = leader.http_addr();
    let raft = leader.raft_addr();
    let token = cluster.cluster.admin_token();
    assert_eq!(
        rest(
            http,
            token,
            "POST",
            "/api/v1/projects",
            r#"{"name":"bench"}"#
        )
        .await
        .0,
        201
    );
    assert_eq!(
        rest(
            http,
            token,
            "PUT",
            "/api/v1/projects/bench/files/sim.yaml",
            SIMULATION
        )
        .await
        .0,
        201
    );
    let submit = format!(
        r#"{{"simulation":"sim.yaml","parallelism":{workers},"start":{{"timeout":"5m"}}}}"#
    );
    let (status, body) = rest(http, token, "POST", "/api/v1/projects/bench/jobs", submit).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));

    let heartbeat = Timings::default().worker_heartbeat;
    let samples = Arc::new(Mutex::new(Samples::default()));
    let start = Instant::now();
    let phase = Arc::new(Phase::default());
    let mut tasks = Vec::new();
    for i in 0..workers {
        // Workers join over one heartbeat interval, as a fleet starting up would.
        let delay = heartbeat.mul_f64(i as f64 / workers as f64);
        let (samples, phase) = (samples.clone(), phase.clone());
        let id = format!("w{i:04}");
        let security = cluster.cluster.worker_security(&id).expect("a certificate");
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            worker(raft, security, id, heartbeat, phase, samples).await;
        }));
    }
    while phase.claimed.load(std::sync::atomic::Ordering::SeqCst) < workers {
        assert!(
            start.elapsed() < Duration::from_secs(300) && tasks.iter().all(|t| !t.is_finished()),
            "the workers did not all get a task"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let claimed_in = start.elapsed();
    tokio::time::sleep(WARM_UP).await;
    let measure_from = Instant::now();
    *phase.measure_from.lock() = Some(measure_from);
    let cpu_before = cpu_seconds();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    phase.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for t in tasks {
        t.await.expect("worker");
    }
    let cpu = cpu_seconds() - cpu_before;
    let wall = Instant::now().duration_since(measure_from).as_secs_f64();
    cluster.shutdown().await;

    let mut s = std::mem::take(&mut *samples.lock());
    s.rtt_ms.sort_by(f64::total_cmp);
    s.lag_ms.sort_by(f64::total_cmp);
    let three = |v: &[f64]| {
        (
            percentile(v, 50.0),
            percentile(v, 99.0),
            percentile(v, 100.0),
        )
    };
    Step {
        workers,
        beats_per_sec: s.rtt_ms.len() as f64 / wall,
        rtt: three(&s.rtt_ms),
        lag: three(&s.lag_ms),
        errors: s.errors,
        cpu_percent: cpu / wall * 100.0,
        delta_bytes: s.delta_bytes,
        claimed_in,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = args();
    let mut steps: Vec<Step> = Vec::new();
    let mut tls_steps: Vec<Step> = Vec::new();
    let print = |s: &Step, mode: &str| {
        println!(
            "{:>5} workers {mode}: all claimed in {:>5.1} s; {:>7.1} heartbeats/s, RTT p50 {:>6.1} ms p99 {:>6.1} ms max {:>7.1} ms, \
             lag p50 {:>6.0} ms p99 {:>6.0} ms max {:>6.0} ms, errors {}, CPU {:>4.0}% (of 200%)",
            s.workers, s.claimed_in.as_secs_f64(), s.beats_per_sec, s.rtt.0, s.rtt.1, s.rtt.2, s.lag.0, s.lag.1, s.lag.2,
            s.errors, s.cpu_percent
        );
    };
    for n in &args.workers {
        let s = step(*n, args.seconds, false).await;
        print(&s, "plain");
        steps.push(s);
        if args.tls {
            let s = step(*n, args.seconds, true).await;
            print(&s, "TLS  ");
            tls_steps.push(s);
        }
    }
    let Some(reference) = steps.first() else {
        return;
    };
    println!();
    println!(
        "3 masters + simulated workers in one process (release build), heartbeat every {:?}, \
         one {} B delta per heartbeat; reference: {} workers",
        Timings::default().worker_heartbeat,
        reference.delta_bytes,
        reference.workers
    );
    println!(
        "| workers | heartbeat p99 | × reference | lag p99 | passes (p99 < 100 ms, lag ≤ 3 s) |"
    );
    println!("|---|---|---|---|---|");
    for s in &steps {
        let passes = s.rtt.1 < 100.0 && s.lag.1 <= 3000.0 && s.errors == 0;
        println!(
            "| {} | {:.1} ms | {:.2}× | {:.0} ms | {} |",
            s.workers,
            s.rtt.1,
            s.rtt.1 / reference.rtt.1,
            s.lag.1,
            if passes { "yes" } else { "no" }
        );
    }
    let largest = steps
        .iter()
        .filter(|s| s.rtt.1 < 100.0 && s.lag.1 <= 3000.0 && s.errors == 0)
        .map(|s| s.workers)
        .max();
    match largest {
        Some(n) => println!("largest N passing: {n}"),
        None => println!("no step passed"),
    }
    if tls_steps.is_empty() {
        return;
    }
    println!();
    println!("mutual TLS on the cluster port, as ratios of plain TCP at the same N (same run):");
    println!("| workers | heartbeat p50 | × plain | heartbeat p99 | × plain | lag p99 | × plain | CPU | × plain | all claimed in | passes |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (t, p) in tls_steps.iter().zip(&steps) {
        let passes = t.rtt.1 < 100.0 && t.lag.1 <= 3000.0 && t.errors == 0;
        println!(
            "| {} | {:.1} ms | {:.2}× | {:.1} ms | {:.2}× | {:.0} ms | {:.2}× | {:.0}% | {:.2}× | {:.1} s | {} |",
            t.workers,
            t.rtt.0,
            t.rtt.0 / p.rtt.0,
            t.rtt.1,
            t.rtt.1 / p.rtt.1,
            t.lag.1,
            t.lag.1 / p.lag.1,
            t.cpu_percent,
            t.cpu_percent / p.cpu_percent,
            t.claimed_in.as_secs_f64(),
            if passes { "yes" } else { "no" }
        );
    }
}
