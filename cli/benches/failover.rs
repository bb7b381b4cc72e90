//! Failover benchmark: three `broadside master` processes on loopback with their default
//! timings, a steady write load sent round-robin to every live master, and the leader killed
//! with SIGKILL again and again (20 times by default). For each kill: the time from the kill
//! until a write sent after it is acknowledged (the write path is back). At the end every
//! acknowledged write is read back from every master with `consistent=true`.
//!
//! ```sh
//! cargo bench --workspace --bench failover -- [--kills 20] [--writers 4] [--compare-plain]
//! ```
//!
//! The masters' cluster port speaks mutual TLS (the harness's default). The reference printed
//! next to the figures is the election timeout range of the same masters: a failover cannot be
//! faster than a follower noticing the leader is gone. With `--compare-plain` the same kills
//! run first on a cluster whose cluster port is plain TCP, and the TLS figures are also given
//! as ratios of those.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use broadside_client::Client;
use broadside_harness::{Cluster, Timings, PATIENCE};
use bytes::Bytes;
use parking_lot::Mutex;

const MASTERS: u64 = 3;
/// Per-request deadline of the writers.
const WRITE_TIMEOUT: Duration = Duration::from_secs(3);

struct Args {
    kills: usize,
    writers: usize,
    compare_plain: bool,
}

fn args() -> Args {
    let mut args = Args {
        kills: 20,
        writers: 4,
        compare_plain: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> usize {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match a.as_str() {
            "--kills" => args.kills = value("--kills"),
            "--writers" => args.writers = value("--writers").max(1),
            "--compare-plain" => args.compare_plain = true,
            // `cargo bench` passes `--bench`.
            _ => {}
        }
    }
    args
}

/// One request to one master, with the writers' deadline; `None` when it did not answer.
async fn request(
    addr: SocketAddr,
    token: &str,
    method: &str,
    path: &str,
    body: &str,
) -> Option<(u16, Bytes)> {
    let client = Client::new([addr.to_string()])
        .with_token(token)
        .with_timeout(WRITE_TIMEOUT);
    let headers = [("content-type", "application/json")];
    let body = Bytes::from(body.to_owned());
    let reply = client.send(method, path, &headers, body).await.ok()?;
    Some((reply.status, reply.body))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[derive(Default)]
struct Load {
    /// Addresses the writers may use (the killed master is taken out while it is down).
    targets: Mutex<Vec<SocketAddr>>,
    /// `(sent, acknowledged)` instants of acknowledged writes, and their names.
    acked: Mutex<Vec<(Instant, Instant, String)>>,
    /// The cluster's admin token.
    token: Mutex<String>,
    attempted: AtomicU64,
    failed: AtomicU64,
    stop: AtomicBool,
}

async fn writer(load: Arc<Load>, index: usize) {
    let mut n = 0u64;
    while !load.stop.load(Ordering::Relaxed) {
        let targets = load.targets.lock().clone();
        let target = targets[(n as usize + index) % targets.len()];
        let name = format!("w{index}-{n}");
        n += 1;
        load.attempted.fetch_add(1, Ordering::Relaxed);
        let sent = Instant::now();
        let body = format!("{{\"name\":\"{name}\"}}");
        let token = load.token.lock().clone();
        match request(target, &token, "POST", "/api/v1/projects", &body).await {
            Some((201, _)) => load.acked.lock().push((sent, Instant::now(), name)),
            _ => {
                load.failed.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// What one sequence of kills measured.
struct Outcome {
    recoveries: Vec<f64>,
    attempted: u64,
    acked: usize,
    failed: u64,
    lost: usize,
}

/// Kills the leader `args.kills` times on a cluster whose cluster port is TLS or plain.
async fn run(args: &Args, tls: bool) -> Outcome {
    let binary = Path::new(env!("CARGO_BIN_EXE_broadside"));
    let mut cluster = if tls {
        Cluster::start(binary, MASTERS, &Timings::default())
    } else {
        Cluster::start_plain(binary, MASTERS, &Timings::default())
    };
    let mode = if tls { "TLS  " } else { "plain" };
    let all = cluster.http_addrs();
    cluster.leader().await;

    let load = Arc::new(Load::default());
    *load.token.lock() = cluster.admin_token().to_owned();
    *load.targets.lock() = all.clone();
    let writers: Vec<_> = (0..args.writers)
        .map(|i| tokio::spawn(writer(load.clone(), i)))
        .collect();
    // Warm up: writes flow.
    let deadline = Instant::now() + PATIENCE;
    while load.acked.lock().len() < 20 {
        assert!(Instant::now() < deadline, "writes do not go through");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut recoveries = Vec::new();
    for kill in 0..args.kills {
        let leader = cluster.leader().await;
        let victim = cluster.master(leader).http;
        *load.targets.lock() = all.iter().copied().filter(|a| *a != victim).collect();
        let killed_at = Instant::now();
        cluster.kill(leader);
        let recovered = loop {
            let first = load
                .acked
                .lock()
                .iter()
                .filter(|(sent, _, _)| *sent >= killed_at)
                .map(|(_, acked, _)| *acked)
                .min();
            if let Some(at) = first {
                break at;
            }
            assert!(
                killed_at.elapsed() < PATIENCE,
                "writes never recovered after kill {kill}\n{}",
                cluster.logs()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let secs = recovered.duration_since(killed_at).as_secs_f64();
        println!(
            "{mode} kill {:>2}: leader {leader} killed, writes back after {secs:.3} s",
            kill + 1
        );
        recoveries.push(secs);
        // Restart it and let it catch up before the next kill.
        cluster.restart(leader).await;
        *load.targets.lock() = all.clone();
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    load.stop.store(true, Ordering::Relaxed);
    for w in writers {
        let _ = w.await;
    }

    // Every acknowledged write is on every master.
    let acked: BTreeSet<String> = load
        .acked
        .lock()
        .iter()
        .map(|(_, _, n)| n.clone())
        .collect();
    let mut lost = 0usize;
    for addr in &all {
        let mut seen = BTreeSet::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(c) => format!("/api/v1/projects?limit=1000&consistent=true&after={c}"),
                None => "/api/v1/projects?limit=1000&consistent=true".to_owned(),
            };
            let (status, body) = request(*addr, cluster.admin_token(), "GET", &path, "")
                .await
                .expect("list projects");
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            let page: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
            for p in page["items"].as_array().into_iter().flatten() {
                if let Some(name) = p["name"].as_str() {
                    seen.insert(name.to_owned());
                }
            }
            match page["next"].as_str() {
                Some(next) => after = Some(next.to_owned()),
                None => break,
            }
        }
        lost += acked.difference(&seen).count();
    }
    drop(cluster);

    recoveries.sort_by(f64::total_cmp);
    Outcome {
        recoveries,
        attempted: load.attempted.load(Ordering::Relaxed),
        acked: acked.len(),
        failed: load.failed.load(Ordering::Relaxed),
        lost,
    }
}

fn report(o: &Outcome, mode: &str, latest: f64) {
    let mean = o.recoveries.iter().sum::<f64>() / o.recoveries.len().max(1) as f64;
    println!(
        "{mode}: leader kills: {}, write recovery p50 {:.3} s, p99 {:.3} s, max {:.3} s, mean {:.3} s ({:.2}× the latest first election at p50)",
        o.recoveries.len(),
        percentile(&o.recoveries, 50.0),
        percentile(&o.recoveries, 99.0),
        percentile(&o.recoveries, 100.0),
        mean,
        percentile(&o.recoveries, 50.0) / latest
    );
    println!(
        "{mode}: writes: {} attempted, {} acknowledged, {} failed or timed out; acknowledged writes lost: {}",
        o.attempted, o.acked, o.failed, o.lost
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = args();
    let plain = if args.compare_plain {
        Some(run(&args, false).await)
    } else {
        None
    };
    let tls = run(&args, true).await;

    println!();
    println!(
        "masters: {MASTERS} (release build, default timings, cluster port over mutual TLS), writers: {}",
        args.writers
    );
    // openraft 0.9 lets a follower start an election only once the leader lease (= the
    // largest election timeout) plus a random election timeout passed since the last
    // heartbeat: that earliest possible failover is the reference.
    let t = broadside_master::Timings::default();
    let earliest = (t.election_max + t.election_min).as_secs_f64();
    let latest = (t.election_max * 2).as_secs_f64();
    println!(
        "reference: election timeout {:.1}–{:.1} s, so no election before {earliest:.1}–{latest:.1} s",
        t.election_min.as_secs_f64(),
        t.election_max.as_secs_f64(),
    );
    if let Some(plain) = &plain {
        report(plain, "plain TCP", latest);
    }
    report(&tls, "mutual TLS", latest);
    if let Some(plain) = &plain {
        println!(
            "TLS / plain: recovery p50 {:.2}×, max {:.2}×",
            percentile(&tls.recoveries, 50.0) / percentile(&plain.recoveries, 50.0),
            percentile(&tls.recoveries, 100.0) / percentile(&plain.recoveries, 100.0)
        );
        assert_eq!(plain.lost, 0, "acknowledged writes were lost (plain)");
    }
    assert_eq!(tls.lost, 0, "acknowledged writes were lost");
}
