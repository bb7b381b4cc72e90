//! A run: the workloads start, the nemesis injects its schedule (the safety phase), everything
//! heals (the liveness phase), the workloads stop and the oracles judge; the figures of the run
//! are printed by its caller.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::masters::Masters;
use broadside_client::api::{NewProject, Page, Worker, WorkerState};
use broadside_harness::Cluster;
use broadside_target::TargetHandle;

use crate::history::{client, prober, History, FILES_PROJECT};
use crate::jobs::{check_jobs, job_client, JobHistory, JobTolerances, JobVerdict, WorkerWatch};
use crate::nemesis::{inject, Fault, Injected};
use crate::oracle::{check, Verdict};

/// How a run goes.
#[derive(Clone, Debug)]
pub struct Run {
    /// Printed in front of every fault.
    pub label: String,
    /// Seed of the clients (the schedule has its own).
    pub seed: u64,
    /// Concurrent write clients.
    pub clients: u64,
    /// Concurrent job clients (each runs one job at a time); 0 for none.
    pub job_clients: u64,
    /// Time between two faults.
    pub between: Duration,
    /// Stop injecting after this long (the rest of the schedule is dropped).
    pub until: Option<Duration>,
    /// The workers' heartbeat interval (a worker is attached to a leader that heard from it
    /// within two of them).
    pub heartbeat: Duration,
    /// See [`JobTolerances`].
    pub tolerances: JobTolerances,
}

/// The figures of a run.
#[derive(Debug)]
pub struct Figures {
    /// The write oracle's verdict.
    pub writes: Verdict,
    /// The job oracle's verdict, when jobs ran.
    pub jobs: Option<JobVerdict>,
    /// Every fault injected.
    pub injected: Vec<Injected>,
    /// After each fault on the leader: until the first write sent after it was acknowledged.
    pub recovery: Vec<Duration>,
    /// After each fault on the leader: until every live worker heartbeated the new leader.
    pub reattach: Vec<Duration>,
    /// Faults on the leader after which no new leader had every worker attached within 20 s
    /// of the fault's end (short faults may elect no new leader).
    pub reattach_missed: usize,
}

impl Figures {
    /// Whether every oracle passed and the run was conclusive (something was acknowledged).
    pub fn passed(&self) -> bool {
        self.writes.ok > 0
            && self.writes.passed()
            && self
                .jobs
                .as_ref()
                .is_none_or(|j| j.submitted[1] > 0 && j.passed())
    }
}

/// `p50 …, max …` of some durations.
fn spread(mut d: Vec<Duration>) -> String {
    if d.is_empty() {
        return "none measured".into();
    }
    d.sort();
    format!(
        "p50 {:.2} s, max {:.2} s ({} faults)",
        d[(d.len() - 1) / 2].as_secs_f64(),
        d[d.len() - 1].as_secs_f64(),
        d.len()
    )
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kinds = std::collections::BTreeMap::<String, usize>::new();
        for i in &self.injected {
            let name = format!("{:?}", i.fault);
            let name = name.split('(').next().unwrap_or_default().to_owned();
            *kinds.entry(name).or_default() += 1;
        }
        writeln!(f, "faults injected: {} {kinds:?}", self.injected.len())?;
        writeln!(f, "{}", self.writes)?;
        writeln!(
            f,
            "leader recovery (writes acknowledged again, from the fault's start or a crash-all's restart): {}",
            spread(self.recovery.clone())
        )?;
        write!(
            f,
            "worker re-attach (every worker heartbeating a leader of a newer term): {}; no new leader or not attached within 20 s of the fault's end: {}",
            spread(self.reattach.clone()),
            self.reattach_missed
        )?;
        if let Some(jobs) = &self.jobs {
            write!(f, "\n{jobs}")?;
        }
        Ok(())
    }
}

/// The newest Raft term any master knows, its leader and the leader's REST address: every
/// master is asked at once for its own view (`probe=false`: no wait for unresponsive peers),
/// so that one paused master costs nothing and the figures keep a resolution of ~0.1 s.
async fn term(masters: &Masters) -> Option<(u64, u64, String)> {
    let mut asks = tokio::task::JoinSet::new();
    for master in masters.addrs() {
        let client = masters.one(master, Duration::from_millis(800));
        asks.spawn(async move { client.cluster(false).await.ok() });
    }
    let mut newest: Option<(u64, u64, String)> = None;
    while let Some(view) = asks.join_next().await {
        let Some(view) = view.ok().flatten() else {
            continue;
        };
        let (Some(leader), Some(http)) = (view.leader, view.leader_http_addr()) else {
            continue;
        };
        if newest.as_ref().is_none_or(|(t, ..)| view.term > *t) {
            newest = Some((view.term, leader, http.to_owned()));
        }
    }
    newest
}

/// When every live worker had heartbeated a leader of a term after `before` (within two
/// heartbeats); `None` after `limit`.
async fn reattach(
    masters: Masters,
    before: u64,
    heartbeat: Duration,
    limit: Duration,
) -> Option<Instant> {
    let began = Instant::now();
    while began.elapsed() < limit {
        if let Some((_, _, leader)) = term(&masters).await.filter(|(t, ..)| *t > before) {
            let page: Option<Page<Worker>> = masters
                .one(&leader, Duration::from_secs(1))
                .get_json("/api/v1/workers?limit=1000")
                .await
                .ok();
            let items = page.map(|p| p.items).unwrap_or_default();
            let live: Vec<&Worker> = items
                .iter()
                .filter(|w| w.state == WorkerState::Alive)
                .collect();
            let attached = live.iter().all(|w| {
                w.last_heartbeat_age_ms
                    .is_some_and(|age| age <= 2 * heartbeat.as_millis() as u64)
            });
            if !live.is_empty() && attached {
                return Some(Instant::now());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Creates project `name` (one idempotency key, retried until acknowledged).
async fn create_project(cluster: &Cluster, name: &str) {
    let client = cluster.client();
    let project = NewProject {
        name: name.to_owned(),
        description: String::new(),
    };
    let key = format!("chaos-project-{name}");
    cluster
        .eventually(&format!("project {name}"), || async {
            client.create_project(&project, Some(&key)).await.ok()
        })
        .await;
}

/// Runs the workloads against `cluster` while injecting `plan`, heals everything, waits for a
/// leader, stops the clients and judges; jobs run when `run.job_clients > 0` (against
/// `target`, on the cluster's workers).
pub async fn run_under_load(
    cluster: &mut Cluster,
    plan: Vec<(Fault, Duration)>,
    run: &Run,
    target: Option<&TargetHandle>,
) -> Figures {
    let masters = Masters::of(cluster);
    create_project(cluster, FILES_PROJECT).await;
    let history = Arc::new(History::default());
    let mut tasks: Vec<_> = (0..run.clients)
        .map(|i| tokio::spawn(client(masters.clone(), history.clone(), run.seed * 10 + i)))
        .collect();
    tasks.push(tokio::spawn(prober(
        masters.clone(),
        history.clone(),
        run.seed,
    )));
    let jobs = Arc::new(JobHistory::default());
    let watch = Arc::new(WorkerWatch::default());
    let stop_watch = Arc::new(AtomicBool::new(false));
    if let (Some(target), true) = (target, run.job_clients > 0) {
        create_project(cluster, crate::jobs::JOBS_PROJECT).await;
        for i in 0..run.job_clients {
            tasks.push(tokio::spawn(job_client(
                masters.clone(),
                target.base_url(),
                jobs.clone(),
                run.seed * 10 + i,
            )));
        }
        tokio::spawn(watch.clone().run(masters.clone(), stop_watch.clone()));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let mut injected = Vec::new();
    let mut measures = Vec::new();
    for (fault, pause) in plan {
        if run.until.is_some_and(|u| started.elapsed() >= u) {
            break;
        }
        if fault.hits_leader() && !cluster.workers.is_empty() {
            if let Some((before, ..)) = term(&masters).await {
                // A fault shorter than an election may change no leader: then nothing is
                // measured (the next fault's election must not be counted for this one).
                let measure = reattach(
                    masters.clone(),
                    before,
                    run.heartbeat,
                    pause + Duration::from_secs(20),
                );
                measures.push((injected.len(), tokio::spawn(measure)));
            }
        }
        let done = inject(cluster, fault, pause).await;
        println!(
            "{} (seed {}) [{:>5.0} s]: {}",
            run.label,
            run.seed,
            started.elapsed().as_secs_f64(),
            done.description
        );
        injected.push(done);
        tokio::time::sleep(run.between).await;
    }
    // Liveness phase: everything healed, writes go through again.
    cluster.heal();
    cluster.leader().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    history.stop();
    jobs.stop();
    for t in tasks {
        let _ = t.await;
    }
    let mut reattached = Vec::new();
    let mut reattach_missed = 0;
    for (fault, m) in measures {
        match m.await {
            Ok(Some(at)) => {
                reattached.push(at.saturating_duration_since(injected[fault].recovery_from()))
            }
            _ => reattach_missed += 1,
        }
    }
    let recovery = injected
        .iter()
        .filter(|i| i.fault.hits_leader())
        .filter_map(|i| history.recovery_after(i.recovery_from()))
        .collect();
    let writes = check(cluster, &history).await;
    let jobs = match (target, run.job_clients > 0) {
        (Some(target), true) => {
            let v = check_jobs(cluster, &jobs, target, &watch, &injected, run.tolerances).await;
            stop_watch.store(true, std::sync::atomic::Ordering::SeqCst);
            Some(v)
        }
        _ => None,
    };
    Figures {
        writes,
        jobs,
        injected,
        recovery,
        reattach: reattached,
        reattach_missed,
    }
}
