//! Chaos scenarios (short profile, run in CI): real masters, clients writing through random
//! masters, a seeded nemesis, and the oracle of `broadside-chaos-tests` — nothing acknowledged
//! is lost, nothing refused appears, and every master ends with the same state. Each run
//! prints its seed and figures. The long profile mixes nemeses for as long as asked:
//! `cargo run -p broadside-chaos-tests --release -- --duration 30m --seed 42`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use broadside_chaos_tests::{check, client, inject, schedule, Fault, History};
use broadside_harness::{Cluster, FAST_TIMINGS};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `count` of `faults` (seeded, each undone after `pause_ms`) under a write load of 4
/// clients and checks the history.
async fn scenario(name: &str, faults: &[Fault], count: usize, pause_ms: (u64, u64), seed: u64) {
    let _serial = SERIAL.lock().await;
    let binary = Path::new(env!("CARGO_BIN_EXE_broadside"));
    let mut cluster = Cluster::start_with_links(binary, 3, &FAST_TIMINGS).await;
    cluster.leader().await;
    let masters: Vec<String> = cluster.http_addrs().iter().map(|a| a.to_string()).collect();
    let history = Arc::new(History::default());
    let clients: Vec<_> = (0..4)
        .map(|i| tokio::spawn(client(masters.clone(), history.clone(), seed * 10 + i)))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let plan = schedule(
        seed,
        faults,
        count,
        Duration::from_millis(pause_ms.0),
        Duration::from_millis(pause_ms.1),
    );
    for (fault, pause) in plan {
        let what = inject(&mut cluster, fault, pause).await;
        println!("{name} (seed {seed}): {what}");
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    // Liveness phase: everything healed, writes go through again.
    cluster.heal();
    cluster.leader().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    history.stop();
    for c in clients {
        c.await.expect("client");
    }
    let ops = history.ops();
    let verdict = check(&cluster, &ops).await;
    println!("{name} (seed {seed}): {verdict}");
    assert!(
        verdict.ok > 0,
        "nothing was acknowledged: inconclusive\n{}",
        cluster.logs()
    );
    assert!(
        verdict.passed(),
        "{verdict}: lost {:?}\n{}",
        verdict.lost,
        cluster.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_repeatedly_loses_no_acknowledged_write() {
    scenario("kill the leader", &[Fault::KillLeader], 4, (500, 2500), 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_isolated_in_a_minority_loses_no_acknowledged_write() {
    // Longer than an election: the majority elects a new leader meanwhile, and what the old
    // one could not commit must not survive as acknowledged.
    scenario(
        "isolate the leader",
        &[Fault::IsolateLeader],
        2,
        (3000, 5000),
        2,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashing_every_master_at_once_loses_no_acknowledged_write() {
    scenario("crash every master", &[Fault::CrashAll], 2, (500, 2500), 7).await;
}
