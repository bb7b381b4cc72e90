//! Dispatch benchmark: real `broadside master` ×3 and `broadside worker` ×10 processes with
//! their default timings, and the built-in target in this process.
//!
//! 1. Dispatch latency and start skew: a job of 3 and of 10 tasks, several times each; dispatch
//!    is submission → every task claimed and the start instant set (`starting`), start skew the
//!    spread of the tasks' actual load starts (from their reports). The coordinated start
//!    itself waits two heartbeat intervals after the last claim, for workers to prepare.
//! 2. Failover impact: a 3-task job at a constant rate; the leader is SIGKILLed mid-run; the
//!    target's per-second arrival counts around the kill are printed next to the steady rate.
//!
//! ```sh
//! cargo bench --workspace --bench dispatch -- [--rounds 5]
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use broadside_client::api::{JobState, NewProject, Submission};
use broadside_client::Client;
use broadside_harness::{target, Cluster, Timings};

const WORKERS: usize = 10;

fn rounds() -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}

async fn upload(client: &Client, path: &str, text: &str) {
    client
        .upload("bench", path, text.to_owned(), None, None)
        .await
        .expect("upload");
}

async fn submit(client: &Client, simulation: &str, parallelism: usize) -> u64 {
    let submission = Submission {
        parallelism: parallelism as u32,
        ..Submission::new(simulation)
    };
    client
        .submit("bench", &submission, None)
        .await
        .expect("submit")
        .id
}

async fn finished(cluster: &Cluster, client: &Client, id: u64) -> JobState {
    cluster
        .eventually("the job to finish", || async {
            let state = client.job(id).await.ok()?.job.state;
            state.is_terminal().then_some(state)
        })
        .await
}

fn stats(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let p50 = values[values.len() / 2];
    (values[0], p50, values[values.len() - 1])
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds = rounds();
    let target = target().await;
    let mut cluster = Cluster::start(
        Path::new(env!("CARGO_BIN_EXE_broadside")),
        3,
        &Timings::default(),
    );
    cluster.leader().await;
    for _ in 0..WORKERS {
        cluster.add_worker("default", 1, &[]).await;
    }
    cluster.wait_for_workers(WORKERS).await;
    let client = cluster.client();
    let project = NewProject {
        name: "bench".into(),
        description: String::new(),
    };
    client
        .create_project(&project, None)
        .await
        .expect("project");
    let base = target.base_url();
    upload(
        &client,
        "short.yaml",
        &format!(
            "name: short\nhttp: {{ base_url: \"{base}\" }}\nscenarios:\n  - name: s\n    injection: [{{ at_once: 20 }}]\n    steps:\n      - request: {{ name: home, url: /json }}\n"
        ),
    )
    .await;
    upload(
        &client,
        "steady.yaml",
        &format!(
            "name: steady\nhttp: {{ base_url: \"{base}\" }}\nscenarios:\n  - name: s\n    injection: [{{ constant_users_per_sec: {{ rate: 300, during: 20s }} }}]\n    steps:\n      - request: {{ name: home, url: /json }}\n"
        ),
    )
    .await;

    println!("{WORKERS} workers, 3 masters (release build, default timings: heartbeat 1 s)");
    for tasks in [3usize, 10] {
        let (mut dispatch, mut start, mut skew) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let id = submit(&client, "short.yaml", tasks).await;
            assert_eq!(finished(&cluster, &client, id).await, JobState::Completed);
            // On the leader's clock: submission, each claim, the start instant.
            let job = client.job(id).await.expect("job").job;
            let list = client.tasks(id).await.expect("tasks");
            let submitted_ms = job.submitted_at_ms;
            let last_claim = list
                .iter()
                .filter_map(|t| t.claimed_at_ms)
                .max()
                .unwrap_or(0);
            dispatch.push(last_claim.saturating_sub(submitted_ms) as f64);
            let start_ms = job.start_at_ms.unwrap_or(0);
            start.push(start_ms.saturating_sub(submitted_ms) as f64);
            let result = client.result(id).await.expect("result");
            skew.push(result.start_skew_ms.map_or(f64::NAN, |s| s as f64));
        }
        let (d_min, d_p50, d_max) = stats(&mut dispatch);
        let (_, s_p50, s_max) = stats(&mut start);
        let (_, k_p50, k_max) = stats(&mut skew);
        println!(
            "{tasks:>2} tasks × {rounds} rounds: dispatch (submit → all claimed) min {d_min:.0} ms, p50 {d_p50:.0} ms, max {d_max:.0} ms; \
             submit → start instant p50 {s_p50:.0} ms, max {s_max:.0} ms; start skew p50 {k_p50:.0} ms, max {k_max:.0} ms"
        );
    }

    // Failover impact on a running job.
    let id = submit(&client, "steady.yaml", 3).await;
    cluster
        .eventually("the steady job running", || async {
            let state = client.job(id).await.ok()?.job.state;
            (state == JobState::Running).then_some(())
        })
        .await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let leader = cluster.leader().await;
    let killed_at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    cluster.kill(leader);
    let state = finished(&cluster, &client, id).await;
    let snapshot = target.stats().snapshot();
    let mut per_second: BTreeMap<u64, u64> = BTreeMap::new();
    for task in 0..3 {
        for attempt in 1..=3 {
            if let Some(a) = snapshot.attribution(&format!("{id}-{task}-{attempt}")) {
                for (second, count) in &a.per_second {
                    *per_second.entry(*second).or_default() += count;
                }
            }
        }
    }
    let kill_second = killed_at_ms / 1000;
    // Whole seconds only (the first and last are partial).
    let full: Vec<(u64, u64)> = per_second
        .iter()
        .map(|(s, c)| (*s, *c))
        .skip(1)
        .collect::<Vec<_>>()
        .split_last()
        .map(|(_, rest)| rest.to_vec())
        .unwrap_or_default();
    let steady: Vec<f64> = full
        .iter()
        .filter(|(s, _)| s.abs_diff(kill_second) > 2)
        .map(|(_, c)| *c as f64)
        .collect();
    let around: Vec<String> = full
        .iter()
        .filter(|(s, _)| s.abs_diff(kill_second) <= 2)
        .map(|(s, c)| format!("{:+}s: {c}", *s as i64 - kill_second as i64))
        .collect();
    let mean = steady.iter().sum::<f64>() / steady.len().max(1) as f64;
    let worst = full
        .iter()
        .filter(|(s, _)| s.abs_diff(kill_second) <= 2)
        .map(|(_, c)| *c as f64)
        .fold(f64::INFINITY, f64::min);
    println!(
        "failover impact: job {state}, leader {leader} killed; arrivals/s at the target around the kill: [{}]; steady seconds mean {mean:.1}/s; worst second near the kill {worst:.0}/s ({:.2}× the steady mean)",
        around.join(", "),
        worst / mean
    );
    drop(cluster);
    target.shutdown().await.expect("target stops");
}
