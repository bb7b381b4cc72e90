//! Helpers of the process tests that run jobs: simulation files, `broadside submit`, job and
//! task reads through the API, clusters with workers.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use broadside_client::api::{Job, JobResult, Task};
use broadside_client::Client;
use broadside_harness::{Cluster, Timings};
use broadside_target::TargetHandle;

pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_broadside"))
}

/// A simulation file in `dir`: `injection` (YAML list items) of one request, and assertions.
pub fn simulation(
    dir: &Path,
    name: &str,
    base: &str,
    injection: &str,
    assertions: &str,
) -> PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    let text = format!(
        "name: {name}\nhttp:\n  base_url: \"{base}\"\nscenarios:\n  - name: s\n    injection:\n{injection}\n    steps:\n      - request: {{ name: home, url: /json }}\n{assertions}"
    );
    std::fs::write(&path, text).expect("write simulation");
    path
}

/// The binary with `args`, pointed at the cluster's masters with the admin token.
pub fn command(cluster: &Cluster, args: &[&str]) -> Output {
    let masters = cluster
        .http_addrs()
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(",");
    std::process::Command::new(binary())
        .args(args)
        .args(["--master", &masters])
        .env("BROADSIDE_TOKEN", cluster.admin_token())
        .output()
        .expect("the binary runs")
}

/// `broadside submit` with the cluster's masters and `extra` arguments.
pub fn submit(cluster: &Cluster, sim: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["submit", sim.to_str().expect("a UTF-8 path"), "-q"];
    args.extend(extra);
    command(cluster, &args)
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The id in `job N submitted` of submit's output.
pub fn job_id(o: &Output) -> u64 {
    let out = text(o);
    out.lines()
        .find_map(|l| {
            l.strip_prefix("job ")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no job id in:\n{out}"))
}

/// Job `id` (read after a read barrier); `None` when no master could answer.
pub async fn job(client: &Client, id: u64) -> Option<Job> {
    client.job(id).await.ok().map(|d| d.job)
}

/// The tasks of job `id` (empty when no master could answer).
pub async fn tasks(client: &Client, id: u64) -> Vec<Task> {
    client.tasks(id).await.unwrap_or_default()
}

pub async fn result(client: &Client, id: u64) -> JobResult {
    client.result(id).await.expect("job result")
}

/// The result of job `id` once it counts exactly `received` requests (late deltas of fenced
/// attempts arrive when their workers reach a leader again).
pub async fn reported_exactly(
    cluster: &Cluster,
    client: &Client,
    id: u64,
    received: u64,
) -> JobResult {
    cluster
        .eventually(
            "every request the target received in the report",
            || async {
                let r = result(client, id).await;
                (r.requests() == received).then_some(r)
            },
        )
        .await
}

/// The account of the one scenario (`s`, open model) of a job's result, checked to add up:
/// every planned arrival sent, skipped between attempts, unaccounted or not reached.
pub fn account(r: &JobResult) -> broadside_engine::report::ScenarioAccount {
    let d = r.report.distribution.as_ref().expect("a distributed job");
    let [a] = d.scenarios.clone().try_into().expect("one scenario");
    assert_eq!(a.unit, "arrivals", "{a:?}");
    assert_eq!(
        a.planned,
        a.sent + a.skipped_by_reassignment + a.refused_by_lease + a.unaccounted + a.not_reached,
        "{a:?}"
    );
    a
}

pub async fn finished(cluster: &Cluster, client: &Client, id: u64) -> Job {
    cluster
        .eventually(&format!("job {id} to finish"), || async {
            job(client, id).await.filter(|j| j.state.is_terminal())
        })
        .await
}

/// Cluster with `workers` workers, all registered.
pub async fn cluster_with(workers: usize) -> Cluster {
    cluster_with_timings(workers, &Timings::fast()).await
}

/// Cluster of masters started with `timings` and `workers` workers, all registered.
pub async fn cluster_with_timings(workers: usize, timings: &Timings) -> Cluster {
    let mut cluster = Cluster::start(binary(), 3, timings);
    cluster.leader().await;
    for _ in 0..workers {
        cluster.add_worker("default", 1, &[]).await;
    }
    cluster.wait_for_workers(workers).await;
    cluster
}

pub fn attribution_count(target: &TargetHandle, value: &str) -> u64 {
    target
        .stats()
        .snapshot()
        .attribution(value)
        .map_or(0, |a| a.count)
}

/// The worker process (1-based index) whose id is `worker_id`.
pub fn worker_index(cluster: &Cluster, worker_id: &str) -> usize {
    (1..=cluster.workers.len())
        .find(|i| cluster.worker_id(*i).as_deref() == Some(worker_id))
        .unwrap_or_else(|| panic!("no worker process has id {worker_id}"))
}

/// When (first, last arrival, Unix ms) the target saw requests of `attempt` of task 0 of
/// job `id`.
pub fn attempt_window(target: &TargetHandle, id: u64, attempt: u32) -> Option<(u64, u64)> {
    target
        .stats()
        .snapshot()
        .attribution(&format!("{id}-0-{attempt}"))
        .map(|s| (s.first_unix_ms, s.last_unix_ms))
}
