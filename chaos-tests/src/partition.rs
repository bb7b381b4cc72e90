//! One measured partition: a 60 s job (open model, 60 users/s, one request each, parallelism
//! 3) on three workers, with or without a spare; one worker's links to every master are cut
//! (nothing forwarded, no reset; the target stays reachable) for 25 s. Prints what the target
//! received and what the report counts, the planned arrivals skipped while the task had no
//! attempt, how long the cut attempt went on sending (fence delay) and how long until another
//! attempt sent (resume delay).
//!
//! ```sh
//! cargo build --release -p broadside
//! cargo run -p broadside-chaos-tests --release -- partition [--no-spare]
//! ```

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use broadside_client::api::{NewProject, Submission, TaskState};
use broadside_engine::report::ScenarioAccount;
use broadside_harness::{Cluster, Peer, Timings};

const PROJECT: &str = "partition";
/// The job: 60 users/s for 60 s, split in 3.
const RATE: u64 = 60;
const SECONDS: u64 = 60;
const PARALLELISM: u32 = 3;
/// How long into the job the cut comes, and how long it lasts.
const CUT_AFTER: Duration = Duration::from_secs(15);
const CUT_FOR: Duration = Duration::from_secs(25);

/// What one partition run measured.
#[derive(Debug)]
pub struct Measured {
    /// Whether a fourth worker was free to take the cut task.
    pub spare: bool,
    /// Requests the target received from the job.
    pub received: u64,
    /// Requests the job's report counts.
    pub reported: u64,
    /// Of those, requests in deltas that arrived after their attempt ended.
    pub late: u64,
    /// The account of the job's planned arrivals.
    pub account: ScenarioAccount,
    /// From the cut to the cut attempt's last request at the target (ms).
    pub fence_ms: Option<u64>,
    /// From the cut to the next attempt's first request at the target (ms).
    pub resume_ms: Option<u64>,
    /// Seconds in which the cut task had no attempt sending, as the result says.
    pub gap_seconds: u64,
    /// Whether the report ended with exactly what the target received.
    pub exact: bool,
}

impl fmt::Display for Measured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = &self.account;
        let ms =
            |v: Option<u64>| v.map_or("—".to_owned(), |v| format!("{:.1} s", v as f64 / 1e3));
        write!(
            f,
            "{} spare worker: target received {}, report counts {} ({} late){}; planned arrivals {}: sent {}, skipped by the reassignment {}, refused by lease {}, unaccounted {}, not reached {}; {} s without an attempt sending; the cut attempt sent until {} after the cut, the next attempt from {} after it",
            if self.spare { "with a" } else { "no" },
            self.received,
            self.reported,
            self.late,
            if self.exact { "" } else { " — NOT EXACT" },
            a.planned,
            a.sent,
            a.skipped_by_reassignment,
            a.refused_by_lease,
            a.unaccounted,
            a.not_reached,
            self.gap_seconds,
            ms(self.fence_ms),
            ms(self.resume_ms),
        )
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs the partition with `binary` (default timings) and returns what it measured.
pub async fn measure(binary: &std::path::Path, spare: bool) -> Measured {
    let target = broadside_harness::target().await;
    let mut cluster = Cluster::start_with_links(binary, 3, &Timings::default()).await;
    cluster.leader().await;
    let workers = if spare { 4 } else { 3 };
    for _ in 0..workers {
        cluster.add_worker("default", 1, &[]).await;
    }
    cluster.wait_for_workers(workers).await;
    let client = cluster.client();
    let project = NewProject {
        name: PROJECT.into(),
        description: String::new(),
    };
    cluster
        .eventually("the project", || async {
            client.create_project(&project, None).await.ok()
        })
        .await;
    let text = format!(
        "name: partition\nhttp:\n  base_url: \"{}\"\nscenarios:\n  - name: s\n    injection:\n      - constant_users_per_sec: {{ rate: {RATE}, during: {SECONDS}s }}\n    steps:\n      - request: {{ name: home, url: /json }}\n",
        target.base_url()
    );
    client
        .upload(PROJECT, "partition.yaml", text, None, None)
        .await
        .expect("upload");
    let submission = Submission {
        parallelism: PARALLELISM,
        ..Submission::new("partition.yaml")
    };
    let id = client
        .submit(PROJECT, &submission, None)
        .await
        .expect("submit")
        .id;
    let victim = cluster
        .eventually("every task running", || async {
            let tasks = client.tasks(id).await.ok()?;
            let running = tasks.iter().all(|t| t.state == TaskState::Running);
            let all = running && tasks.len() == PARALLELISM as usize;
            all.then(|| tasks[0].worker_id.clone()).flatten()
        })
        .await;
    let index = (1..=workers)
        .find(|i| cluster.worker_id(*i).as_deref() == Some(victim.as_str()))
        .expect("the worker of task 0");
    tokio::time::sleep(CUT_AFTER).await;
    let cut_at = now_ms();
    cluster.isolate(Peer::Worker(index));
    let cut = Instant::now();
    tokio::time::sleep(CUT_FOR).await;
    cluster.heal();
    println!(
        "worker {index} cut off for {:.1} s",
        cut.elapsed().as_secs_f64()
    );
    cluster
        .eventually("the job to end", || async {
            let job = client.job(id).await.ok()?.job;
            job.state.is_terminal().then_some(())
        })
        .await;
    let received_of = || crate::jobs::received_by_job(&target.stats().snapshot(), id);
    // Late deltas arrive once the cut worker reaches a leader again.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (result, exact) = loop {
        let result = client.result(id).await.expect("result");
        let exact = result.requests() == received_of();
        if exact || Instant::now() >= deadline {
            break (result, exact);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let d = result.report.distribution.clone().unwrap_or_default();
    let snapshot = target.stats().snapshot();
    let window = |attempt: u32| {
        snapshot
            .attribution(&format!("{id}-0-{attempt}"))
            .map(|s| (s.first_unix_ms, s.last_unix_ms))
    };
    let measured = Measured {
        spare,
        received: received_of(),
        reported: result.requests(),
        late: d.late_requests,
        account: d.scenarios.first().cloned().unwrap_or_default(),
        fence_ms: window(1).map(|(_, last)| last.saturating_sub(cut_at)),
        resume_ms: window(2).map(|(first, _)| first.saturating_sub(cut_at)),
        gap_seconds: d.gap_seconds,
        exact,
    };
    drop(cluster);
    target.shutdown().await.ok();
    measured
}
