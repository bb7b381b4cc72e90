//! The job workload and its oracle: clients upload simulations and submit jobs through the
//! masters (some aborted a moment later) while workers load the in-process target, which
//! attributes every request to its job, task and attempt (`x-broadside-attribution`). After
//! the faults heal, every job must end; no two attempts of a task may have loaded the target
//! at overlapping times; a job's report must count what the target received (exactly, for a
//! job completed without reassignment); every acknowledged job and abort must be on every
//! master; and no worker may have been declared dead unless a fault hit it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use broadside_client::api::{Job, JobState, Submission, Worker, WorkerState};
use broadside_client::{Client, ClientError};
use broadside_engine::report::Distribution;
use broadside_harness::Cluster;
use broadside_target::{StatsSnapshot, TargetHandle};
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::history::Outcome;
use crate::masters::Masters;
use crate::nemesis::{Fault, Injected};
use crate::oracle::{all_items, on_every_master};

/// The project the jobs run in.
pub const JOBS_PROJECT: &str = "chaos-jobs";

/// Requests per second of every job (split among its tasks).
const RATE: u64 = 20;

/// A submitted job.
#[derive(Clone, Debug)]
pub struct JobOp {
    /// Its simulation's path (unique per submission).
    pub simulation: String,
    /// How the submission ended.
    pub outcome: Outcome,
    /// Its id when acknowledged.
    pub id: Option<u64>,
    /// How an abort of it ended, if one was sent.
    pub abort: Option<Outcome>,
}

/// The jobs of a run.
#[derive(Default)]
pub struct JobHistory {
    jobs: Mutex<Vec<JobOp>>,
    /// Requests planned, by simulation path.
    planned: Mutex<BTreeMap<String, u64>>,
    stop: AtomicBool,
}

impl JobHistory {
    /// Stops the clients (jobs already submitted run on).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// Retries `call` every 200 ms until it answers (a success or a refusal) or `patience` runs
/// out; returns the last answer.
async fn persist<T, F, Fut>(patience: Duration, mut call: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let deadline = Instant::now() + patience;
    loop {
        let answer = call().await;
        if Outcome::of(&answer) != Outcome::Unknown || Instant::now() >= deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs one job client until stopped: uploads a simulation of `seconds` at [`RATE`] against
/// `target`, submits it split in two (retrying with one idempotency key), aborts one job in
/// four a moment after submitting it, and waits for each job to end before the next.
pub async fn job_client(masters: Masters, target: String, history: Arc<JobHistory>, seed: u64) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let client = masters.all(Duration::from_secs(5));
    let mut n = 0;
    while !history.stopped() {
        n += 1;
        let name = format!("j{seed}-{n}");
        let seconds = rng.random_range(5..=12u64);
        let simulation = format!("sims/{name}.yaml");
        let text = format!(
            "name: {name}\nhttp:\n  base_url: \"{target}\"\nscenarios:\n  - name: s\n    injection:\n      - constant_users_per_sec: {{ rate: {RATE}, during: {seconds}s }}\n    steps:\n      - request: {{ name: home, url: /json }}\n"
        );
        let uploaded = persist(Duration::from_secs(30), || {
            client.upload(JOBS_PROJECT, &simulation, text.clone(), None, None)
        })
        .await;
        if uploaded.is_err() {
            continue;
        }
        history
            .planned
            .lock()
            .insert(simulation.clone(), RATE * seconds);
        let submission = Submission {
            parallelism: 2,
            ..Submission::new(simulation.clone())
        };
        let key = format!("chaos-{name}");
        let submitted = persist(Duration::from_secs(30), || {
            client.submit(JOBS_PROJECT, &submission, Some(&key))
        })
        .await;
        let outcome = Outcome::of(&submitted);
        let id = submitted.ok().map(|j| j.id);
        let mut op = JobOp {
            simulation,
            outcome,
            id,
            abort: None,
        };
        if let Some(id) = id {
            if rng.random_range(0..4) == 0 {
                tokio::time::sleep(Duration::from_millis(rng.random_range(1000..4000))).await;
                let key = format!("chaos-abort-{name}");
                let aborted = persist(Duration::from_secs(30), || {
                    client.abort(id, Some("chaos"), Some(&key))
                })
                .await;
                op.abort = Some(Outcome::of(&aborted));
            }
        }
        history.jobs.lock().push(op);
        if let Some(id) = id {
            // One job at a time per client; the liveness phase waits for the rest.
            let deadline = Instant::now() + Duration::from_secs(seconds + 60);
            while !history.stopped() && Instant::now() < deadline {
                let ended = client
                    .job(id)
                    .await
                    .is_ok_and(|j| j.job.state.is_terminal());
                if ended {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Watches the workers during a run: every declaration of death and every re-registration,
/// with the time the masters recorded it.
#[derive(Default)]
pub struct WorkerWatch {
    /// `(worker id, what, Unix ms)`.
    events: Mutex<BTreeSet<(String, &'static str, u64)>>,
    registered: Mutex<BTreeMap<String, u64>>,
}

impl WorkerWatch {
    /// Polls the workers through any master every 250 ms until `stop` is set.
    pub async fn run(self: Arc<Self>, masters: Masters, stop: Arc<AtomicBool>) {
        let client = masters.all(Duration::from_secs(2));
        while !stop.load(Ordering::SeqCst) {
            if let Ok(workers) = client.workers().await {
                self.observe(&workers);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn observe(&self, workers: &[Worker]) {
        for w in workers {
            let id = w.id.as_str();
            if w.state == WorkerState::Dead {
                self.events
                    .lock()
                    .insert((id.to_owned(), "declared dead", w.state_since_ms));
            }
            let at = w.registered_at_ms;
            let mut registered = self.registered.lock();
            match registered.get(id) {
                Some(before) if at > *before => {
                    self.events
                        .lock()
                        .insert((id.to_owned(), "registered again", at));
                    registered.insert(id.to_owned(), at);
                }
                Some(_) => {}
                None => {
                    registered.insert(id.to_owned(), at);
                }
            }
        }
    }
}

/// What the job oracle found.
#[derive(Debug, Default)]
pub struct JobVerdict {
    /// Submissions attempted, acknowledged, refused, unanswered.
    pub submitted: [usize; 4],
    /// Aborts acknowledged.
    pub aborts_acknowledged: usize,
    /// Final states of every job on the cluster.
    pub states: BTreeMap<String, usize>,
    /// Tasks run, and those reassigned at least once.
    pub tasks: usize,
    /// Reassignments over all jobs.
    pub reassignments: u64,
    /// Requests the target received from jobs, and those the jobs' reports counted.
    pub received: u64,
    /// See `received`.
    pub reported: u64,
    /// Of `reported`, requests in deltas that arrived after their attempt ended.
    pub reported_late: u64,
    /// Jobs with an attempt whose worker was killed before it delivered its last delta: the
    /// target may have received more than their reports count, at most what those attempts
    /// sent after their last delivered delta.
    pub killed_worker_jobs: u64,
    /// Requests the target received from such attempts after their last delivered delta (the
    /// bound on what those jobs may miss), and how many of them their reports miss.
    pub unaccounted: (u64, u64),
    /// Planned arrivals of every job: sent, skipped between attempts, unaccounted (after a
    /// killed attempt's last report), not reached (aborted jobs).
    pub arrivals: Arrivals,
    /// Jobs still not ended after the faults healed (must be empty).
    pub not_ended: Vec<u64>,
    /// Acknowledged jobs or aborts missing or contradicted on some master (must be empty).
    pub lost: Vec<String>,
    /// Masters whose jobs differ from the first one's (must be empty).
    pub diverged: Vec<u64>,
    /// Attempts of one task that loaded the target at overlapping times, beyond the
    /// tolerance (must be empty).
    pub overlaps: Vec<String>,
    /// Milliseconds during which two attempts of a task loaded the target at once.
    pub duplicate_ms: u64,
    /// Jobs whose report and the target disagree, or whose planned arrivals do not add up
    /// (must be empty).
    pub miscounted: Vec<String>,
    /// Workers declared dead (or registering again) with no fault on them (must be empty).
    pub spurious_deaths: Vec<String>,
    /// Deaths and re-registrations explained by a fault on the worker.
    pub explained_deaths: usize,
}

impl JobVerdict {
    /// Whether the run is correct.
    pub fn passed(&self) -> bool {
        self.not_ended.is_empty()
            && self.lost.is_empty()
            && self.diverged.is_empty()
            && self.overlaps.is_empty()
            && self.miscounted.is_empty()
            && self.spurious_deaths.is_empty()
    }
}

impl std::fmt::Display for JobVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [attempted, ok, failed, unknown] = self.submitted;
        write!(
            f,
            "jobs: {attempted} submitted, {ok} ok, {failed} refused, {unknown} unknown, {} aborts acknowledged; ended {:?}; not ended: {:?}; lost or contradicted: {:?}; diverged masters: {:?}\n\
             tasks: {}, reassignments: {}; overlapping attempts: {} (duplicate task-seconds {:.1}); requests received {} / reported {} ({} late; {} jobs with a killed worker's attempt unaccounted for, {} requests received after their last reports, {} of them missing); planned arrivals {}: sent {}, skipped by reassignment {}, refused by lease {}, unaccounted {}, not reached {}; miscounted jobs: {:?}\n\
             worker deaths: {} explained by a fault on the worker, {} spurious {:?}",
            self.aborts_acknowledged,
            self.states,
            self.not_ended,
            self.lost,
            self.diverged,
            self.tasks,
            self.reassignments,
            self.overlaps.len(),
            self.duplicate_ms as f64 / 1000.0,
            self.received,
            self.reported,
            self.reported_late,
            self.killed_worker_jobs,
            self.unaccounted.0,
            self.unaccounted.1,
            self.arrivals.planned,
            self.arrivals.sent,
            self.arrivals.skipped,
            self.arrivals.refused,
            self.arrivals.unaccounted,
            self.arrivals.not_reached,
            self.miscounted,
            self.explained_deaths,
            self.spurious_deaths.len(),
            self.spurious_deaths,
        )
    }
}

/// A job as the oracle compares it: `(state, reassignments, simulation, start_at_ms)`.
type JobRow = (JobState, u32, String, Option<u64>);

/// Every job of [`JOBS_PROJECT`] on master `addr`, read linearizably, by id.
async fn jobs_on(client: Client) -> Result<BTreeMap<u64, JobRow>, ClientError> {
    let path = format!("/api/v1/projects/{JOBS_PROJECT}/jobs?limit=1000&consistent=true");
    let jobs: Vec<Job> = all_items(&client, &path).await?;
    Ok(jobs
        .into_iter()
        .map(|j| {
            (
                j.id,
                (j.state, j.reassignments, j.simulation, j.start_at_ms),
            )
        })
        .collect())
}

/// How far apart in time two attempts of one task may load the target and still count as
/// not overlapping, and how long after a fault on a worker its death is explained by it.
#[derive(Clone, Copy, Debug)]
pub struct JobTolerances {
    /// One tick of the workers' heartbeat.
    pub overlap: Duration,
    /// Lease + stop budget + reassignment margin, and some.
    pub death_after_fault: Duration,
}

/// When a task attempt loaded the target: `(first, last arrival in Unix ms, attempt)`.
type Window = (u64, u64, u64);

/// The milliseconds during which attempts of one task loaded the target at once, and the
/// overlaps longer than `tolerance_ms` as `(attempt, its last arrival, later attempt, its
/// first arrival)`.
fn overlaps(mut windows: Vec<Window>, tolerance_ms: u64) -> (u64, Vec<(u64, u64, u64, u64)>) {
    windows.sort();
    let mut total = 0;
    let mut beyond = Vec::new();
    // The latest end so far: an attempt overlaps any earlier one still loading.
    let mut until: Option<(u64, u64)> = None;
    for (first, last, attempt) in windows {
        if let Some((end, a)) = until {
            let overlap = end.min(last).saturating_sub(first);
            total += overlap;
            if end > first && end - first > tolerance_ms {
                beyond.push((a, end, attempt, first));
            }
        }
        if until.is_none_or(|(end, _)| last > end) {
            until = Some((last, attempt));
        }
    }
    (total, beyond)
}

/// Whether a job's report and the target disagree. A job whose attempts ran on no worker that
/// was killed counts exactly what the target received — reassigned after partitions, pauses and
/// leader faults included, since a fenced attempt's deltas are delivered late — and, when it
/// completed without reassignment and no task joined after its start, exactly what was planned.
/// A job with an attempt on a killed worker may miss what that worker had not written to its
/// data directory, never more than the target received.
fn miscounted(
    state: JobState,
    reassignments: u32,
    planned: Option<u64>,
    joined_late: bool,
    unaccounted: Option<u64>,
    received: u64,
    reported: u64,
) -> bool {
    if let Some(bound) = unaccounted {
        return reported > received || received - reported > bound;
    }
    let exact_plan = state == JobState::Completed && reassignments == 0 && !joined_late;
    reported != received || (exact_plan && planned.is_some_and(|p| p != received))
}

/// Requests the target received from every attempt of job `id` (by their attribution).
pub fn received_by_job(target: &StatsSnapshot, id: u64) -> u64 {
    let prefix = format!("{id}-");
    target
        .by_attribution
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, s)| s.count)
        .sum()
}

/// Planned arrivals, summed over jobs (see [`ScenarioAccount`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Arrivals {
    /// Planned.
    pub planned: u64,
    /// Sent by an attempt.
    pub sent: u64,
    /// Skipped while no attempt of their task ran.
    pub skipped: u64,
    /// Refused by an attempt whose lease had run out.
    pub refused: u64,
    /// After the last report of a killed worker's attempt.
    pub unaccounted: u64,
    /// Not reached when the job ended.
    pub not_reached: u64,
}

impl Arrivals {
    fn add(&mut self, o: &Arrivals) {
        self.planned += o.planned;
        self.sent += o.sent;
        self.skipped += o.skipped;
        self.refused += o.refused;
        self.unaccounted += o.unaccounted;
        self.not_reached += o.not_reached;
    }
}

/// What one job's result says about what may be missing from it.
#[derive(Debug, Default)]
struct Counted {
    /// With attempts not accounted for: the requests the target received from them from the
    /// start of their unaccounted window on (the most the report may miss).
    unaccounted_bound: Option<u64>,
    /// Attempts not accounted for whose worker was not killed (must be empty).
    unexplained: Vec<String>,
    /// Requests reported late.
    late: u64,
    /// The job's planned arrivals (its one open-model scenario).
    arrivals: Arrivals,
    /// Whether the result accounts for a scenario at all.
    accounted: bool,
}

impl Counted {
    /// Reads a job's distribution against the target's records; `killed(worker, from, until)`
    /// says whether that worker was killed in that window.
    fn of(
        d: &Distribution,
        job: u64,
        target: &StatsSnapshot,
        killed: impl Fn(&str, u64, Option<u64>) -> bool,
    ) -> Counted {
        let mut c = Counted {
            late: d.late_requests,
            ..Counted::default()
        };
        for a in d.attempts.iter() {
            let Some((from, _)) = a.unaccounted_unix_ms else {
                continue;
            };
            let key = format!("{job}-{}-{}", a.task, a.attempt);
            // An attempt whose worker never received it (the answer to its pull was lost) is
            // unaccounted for on record, rightly — the masters cannot tell — but it sent nothing.
            let sent_nothing = target.attribution(&key).is_none_or(|s| s.count == 0);
            if !killed(&a.worker, a.claimed_at_unix_ms, a.ended_at_unix_ms) && !sent_nothing {
                c.unexplained.push(format!(
                    "task {} attempt {} on {} is not accounted for, and its worker was not killed",
                    a.task, a.attempt, a.worker
                ));
            }
            let after: u64 = target.attribution(&key).map_or(0, |s| {
                s.per_second
                    .range(from / 1000..)
                    .map(|(_, n)| n)
                    .sum::<u64>()
                    + s.per_second_dropped
            });
            *c.unaccounted_bound.get_or_insert(0) += after;
        }
        for s in d.scenarios.iter().filter(|s| s.unit == "arrivals") {
            c.accounted = true;
            c.arrivals.add(&Arrivals {
                planned: s.planned,
                sent: s.sent,
                skipped: s.skipped_by_reassignment,
                refused: s.refused_by_lease,
                unaccounted: s.unaccounted,
                not_reached: s.not_reached,
            });
        }
        c
    }

    /// What is wrong with the job's account of its planned arrivals, if anything.
    fn problem(&self, state: JobState, planned: Option<u64>) -> Option<String> {
        if !self.unexplained.is_empty() {
            return Some(self.unexplained.join("; "));
        }
        if !self.accounted {
            // A job none of whose attempts ran reports no position.
            return (state == JobState::Completed)
                .then(|| "a completed job accounts for no arrival".to_owned());
        }
        let a = self.arrivals;
        // A task that never reported (an aborted job's) says nothing of its plan.
        let completed = state == JobState::Completed;
        let wrong = if completed && planned.is_some_and(|p| p != a.planned) {
            "its planned arrivals differ from the simulation's"
        } else if a.planned != a.sent + a.skipped + a.refused + a.unaccounted + a.not_reached {
            "planned != sent + skipped + refused + unaccounted + not reached"
        } else if a.unaccounted > 0 && self.unaccounted_bound.is_none() {
            "arrivals unaccounted for with every attempt accounted for"
        } else if completed && a.not_reached > 0 {
            "a completed job did not reach every planned arrival"
        } else {
            return None;
        };
        Some(format!("{wrong}: {a:?}"))
    }
}

/// How long after its attempt ended on record a worker may still hold what it measured (it
/// learns of the end at its next heartbeat, finishes its exchanges, and a paused one resumes
/// later still): a kill within it counts against the attempt.
const KILL_REACH_MS: u64 = 10_000;

/// Whether a `KillWorker` fault hit worker `index` after `from` and before [`KILL_REACH_MS`]
/// past `until` (Unix ms; an attempt's claim and end, or none yet).
fn killed_during(faults: &[Injected], index: Option<usize>, from: u64, until: Option<u64>) -> bool {
    faults.iter().any(|f| {
        matches!(f.fault, Fault::KillWorker(n) if Some(n) == index)
            && f.began_unix_ms >= from
            && until.is_none_or(|u| f.began_unix_ms <= u + KILL_REACH_MS)
    })
}

/// Whether a worker event at `at` (Unix ms) on worker `index` follows a fault on that worker
/// (from its beginning to `grace` after its end).
fn explained(faults: &[Injected], index: Option<usize>, at: u64, grace: u64) -> bool {
    faults.iter().any(|f| {
        f.fault.worker().is_some()
            && f.fault.worker() == index
            && f.began_unix_ms <= at
            && at <= f.ended_unix_ms + grace
    })
}

/// Checks the jobs after the faults healed: waits (up to 3 minutes) for every job to end,
/// then compares every master's jobs, the target's records and the reports.
pub async fn check_jobs(
    cluster: &Cluster,
    history: &JobHistory,
    target: &TargetHandle,
    watch: &WorkerWatch,
    faults: &[Injected],
    tolerances: JobTolerances,
) -> JobVerdict {
    let ops = history.jobs.lock().clone();
    let count = |o: Outcome| ops.iter().filter(|op| op.outcome == o).count();
    let mut v = JobVerdict {
        submitted: [
            ops.len(),
            count(Outcome::Ok),
            count(Outcome::Failed),
            count(Outcome::Unknown),
        ],
        aborts_acknowledged: ops.iter().filter(|o| o.abort == Some(Outcome::Ok)).count(),
        ..JobVerdict::default()
    };
    let client = cluster.client().with_timeout(Duration::from_secs(10));
    // Every job ends.
    let deadline = Instant::now() + Duration::from_secs(180);
    let leader_view = loop {
        let addr = cluster.master(cluster.leader().await).http.to_string();
        if let Ok(jobs) = jobs_on(Masters::of(cluster).one(&addr, Duration::from_secs(10))).await {
            let open: Vec<u64> = jobs
                .iter()
                .filter(|(_, (state, ..))| !state.is_terminal())
                .map(|(id, _)| *id)
                .collect();
            if open.is_empty() || Instant::now() >= deadline {
                v.not_ended = open;
                break jobs;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the jobs cannot be read after the faults healed\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // Every master has the same jobs, every acknowledged job and abort included.
    let every = on_every_master(cluster, jobs_on).await;
    v.diverged = every
        .into_iter()
        .filter(|(_, jobs)| *jobs != leader_view)
        .map(|(id, _)| id)
        .collect();
    for op in &ops {
        let Some(id) = op.id else { continue };
        match leader_view.get(&id) {
            None => v.lost.push(format!("job {id} ({})", op.simulation)),
            Some((state, ..)) if op.abort == Some(Outcome::Ok) && *state != JobState::Aborted => {
                v.lost.push(format!(
                    "job {id}: abort acknowledged, but it ended {state}"
                ))
            }
            Some(_) => {}
        }
    }
    // The target's records against the tasks' attempts and the reports.
    let index_of: BTreeMap<String, usize> = (1..=cluster.workers.len())
        .filter_map(|i| Some((cluster.worker_id(i)?, i)))
        .collect();
    let snapshot = target.stats().snapshot();
    // Late deltas arrive when their workers reach a leader again: the reports may still grow
    // for a while after the jobs ended.
    let late_deadline = Instant::now() + Duration::from_secs(60);
    let planned = history.planned.lock().clone();
    for (id, (state, reassignments, simulation, start_at)) in &leader_view {
        *v.states.entry(state.as_str().to_owned()).or_default() += 1;
        v.reassignments += u64::from(*reassignments);
        let tasks = client.tasks(*id).await.unwrap_or_default();
        let mut joined_late = false;
        for task in &tasks {
            v.tasks += 1;
            let claimed = task.claimed_at_ms;
            joined_late |= matches!((claimed, start_at), (Some(c), Some(s)) if c > *s);
            let index = task.index;
            let attempts = u64::from(task.attempt);
            let windows: Vec<Window> = (1..=attempts)
                .filter_map(|a| {
                    let s = snapshot.attribution(&format!("{id}-{index}-{a}"))?;
                    Some((s.first_unix_ms, s.last_unix_ms, a))
                })
                .collect();
            let (duplicate, beyond) = overlaps(windows, tolerances.overlap.as_millis() as u64);
            v.duplicate_ms += duplicate;
            v.overlaps.extend(beyond.into_iter().map(|(a, last, b, first)| {
                format!("job {id} task {index}: attempt {a} loaded until {last}, attempt {b} from {first}")
            }));
        }
        let received = received_by_job(&snapshot, *id);
        let plan = planned.get(simulation).copied();
        let (reported, counted) = loop {
            let result = client.result(*id).await.ok();
            let reported = result.as_ref().map_or(0, |r| r.requests());
            let distribution = result
                .and_then(|r| r.report.distribution)
                .unwrap_or_default();
            let counted = Counted::of(&distribution, *id, &snapshot, |worker, from, until| {
                killed_during(faults, index_of.get(worker).copied(), from, until)
            });
            let wrong = miscounted(
                *state,
                *reassignments,
                plan,
                joined_late,
                counted.unaccounted_bound,
                received,
                reported,
            );
            let settled = !wrong && counted.unexplained.is_empty();
            if settled || Instant::now() >= late_deadline {
                break (reported, counted);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        v.received += received;
        v.reported += reported;
        v.reported_late += counted.late;
        if let Some(bound) = counted.unaccounted_bound {
            v.killed_worker_jobs += 1;
            v.unaccounted.0 += bound;
            v.unaccounted.1 += received.saturating_sub(reported);
        }
        v.arrivals.add(&counted.arrivals);
        let Counted {
            unaccounted_bound: bound,
            late,
            ..
        } = counted;
        if miscounted(
            *state,
            *reassignments,
            plan,
            joined_late,
            bound,
            received,
            reported,
        ) {
            v.miscounted.push(format!(
                "job {id} {state} ({reassignments} reassignments, a task joined late: {joined_late}): planned {plan:?}, received {received}, reported {reported} ({late} late; received after the last report of attempts of killed workers: {bound:?})"
            ));
        }
        if let Some(wrong) = counted.problem(*state, plan) {
            v.miscounted.push(format!("job {id} {state}: {wrong}"));
        }
    }
    // Deaths: each must follow a fault on that worker.
    let grace = tolerances.death_after_fault.as_millis() as u64;
    for (worker, what, at) in watch.events.lock().iter() {
        let index = index_of.get(worker).copied();
        if explained(faults, index, *at, grace) {
            v.explained_deaths += 1;
        } else {
            // The nearest fault on that worker, to tell a late recovery from no cause at all.
            let nearest = faults
                .iter()
                .filter(|f| f.fault.worker().is_some() && f.fault.worker() == index)
                .min_by_key(|f| f.ended_unix_ms.abs_diff(*at))
                .map_or("none".to_owned(), |f| {
                    format!("{:?} {}..{}", f.fault, f.began_unix_ms, f.ended_unix_ms)
                });
            v.spurious_deaths.push(format!(
                "worker {index:?} ({worker}) {what} at {at} (nearest fault on it: {nearest})"
            ));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nemesis::Fault;

    #[test]
    fn attempts_that_follow_each_other_do_not_overlap() {
        let (total, beyond) = overlaps(vec![(2000, 3000, 2), (0, 1000, 1)], 200);
        assert_eq!((total, beyond), (0, vec![]));
    }

    #[test]
    fn overlaps_within_the_tolerance_are_summed_but_allowed() {
        let (total, beyond) = overlaps(vec![(0, 1150, 1), (1000, 3000, 2)], 200);
        assert_eq!((total, beyond), (150, vec![]));
    }

    #[test]
    fn an_attempt_loading_through_later_ones_is_caught() {
        // Attempt 1 runs on through attempts 2 and 3.
        let (total, beyond) = overlaps(vec![(0, 10_000, 1), (2000, 3000, 2), (5000, 6000, 3)], 200);
        assert_eq!(total, 2000);
        assert_eq!(beyond, vec![(1, 10_000, 2, 2000), (1, 10_000, 3, 5000)]);
    }

    #[test]
    fn counts_are_exact_unless_a_worker_was_killed() {
        use JobState::{Aborted, Completed};
        // (state, reassignments, planned, joined late, unaccounted bound, received, reported)
        let exact = [
            (Completed, 0, Some(200), false, None, 200, 200),
            (Completed, 0, None, false, None, 150, 150),
            // A task claimed after the job's start skipped the arrivals already due: counted
            // exactly, short of the plan.
            (Completed, 0, Some(100), true, None, 91, 91),
            // Reassigned or aborted: exact, the plan aside (late deltas are delivered).
            (Completed, 1, Some(200), false, None, 190, 190),
            (Aborted, 0, Some(200), false, None, 80, 80),
            // A killed worker loses what it had not written: at most what its attempts sent after
            // their last report.
            (Completed, 1, Some(200), false, Some(15), 205, 190),
        ];
        for (state, r, plan, late, killed, received, reported) in exact {
            assert!(
                !miscounted(state, r, plan, late, killed, received, reported),
                "{state:?} {r} {plan:?} {late} {killed:?} {received} {reported}"
            );
        }
        let wrong = [
            (Completed, 0, Some(200), false, None, 200, 199),
            (Completed, 0, Some(200), false, None, 199, 199),
            (Completed, 0, Some(100), true, None, 91, 90),
            (Completed, 1, Some(200), false, None, 205, 190),
            (Aborted, 0, Some(200), false, None, 80, 79),
            (Aborted, 0, Some(200), false, None, 80, 81),
            (Completed, 1, Some(200), false, Some(20), 190, 191),
            // More missing than the killed attempts sent after their last report.
            (Completed, 1, Some(200), false, Some(14), 205, 190),
        ];
        for (state, r, plan, late, killed, received, reported) in wrong {
            assert!(
                miscounted(state, r, plan, late, killed, received, reported),
                "{state:?} {r} {plan:?} {late} {killed:?} {received} {reported}"
            );
        }
    }

    #[test]
    fn a_lost_attempt_is_bounded_by_what_the_target_received_after_its_last_report() {
        use broadside_engine::report::{AttemptSummary, ScenarioAccount};
        let attempt = |a: u32, window: Option<(u64, u64)>| AttemptSummary {
            task: 0,
            attempt: a,
            worker: format!("w{a}"),
            accounted: window.is_none(),
            unaccounted_unix_ms: window,
            ..AttemptSummary::default()
        };
        let mut d = Distribution {
            attempts: vec![attempt(1, Some((10_500, 14_000))), attempt(2, None)],
            scenarios: vec![ScenarioAccount {
                unit: "arrivals".into(),
                planned: 100,
                sent: 80,
                unaccounted: 20,
                ..ScenarioAccount::default()
            }],
            ..Distribution::default()
        };
        let mut target = StatsSnapshot::default();
        let stats = target.by_attribution.entry("7-0-1".into()).or_default();
        stats.per_second = BTreeMap::from([(9, 5), (10, 3), (11, 4)]);
        stats.count = 12;
        // Attempt 1's worker was killed: the report may miss what it sent from second 10 on.
        let c = Counted::of(&d, 7, &target, |w, _, _| w == "w1");
        assert_eq!(c.unaccounted_bound, Some(7));
        assert_eq!(c.problem(JobState::Completed, Some(100)), None);
        assert!(c.problem(JobState::Completed, Some(120)).is_some());
        // Not killed: an attempt that sent something may not stay unaccounted for; one the
        // target never heard from (its worker never received it) may.
        let c = Counted::of(&d, 7, &target, |_, _, _| false);
        assert!(c.problem(JobState::Completed, Some(100)).is_some());
        let c = Counted::of(&d, 7, &StatsSnapshot::default(), |_, _, _| false);
        assert_eq!(c.problem(JobState::Completed, Some(100)), None);
        assert_eq!(c.unaccounted_bound, Some(0));
        // Everything accounted for: nothing may be unaccounted, and a completed job reaches
        // its end.
        d.attempts[0].unaccounted_unix_ms = None;
        let c = Counted::of(&d, 7, &target, |_, _, _| false);
        assert_eq!(c.unaccounted_bound, None);
        assert!(c.problem(JobState::Completed, Some(100)).is_some());
        d.scenarios[0].unaccounted = 0;
        d.scenarios[0].not_reached = 20;
        let c = Counted::of(&d, 7, &target, |_, _, _| false);
        assert!(c.problem(JobState::Completed, Some(100)).is_some());
        assert_eq!(c.problem(JobState::Aborted, Some(100)), None);
        // An aborted job whose other task never reported plans less than the simulation.
        assert_eq!(c.problem(JobState::Aborted, Some(200)), None);
    }

    #[test]
    fn a_kill_counts_against_the_attempts_it_hit() {
        let now = Instant::now();
        let faults = vec![Injected {
            fault: Fault::KillWorker(2),
            leader: None,
            began: now,
            began_unix_ms: 50_000,
            ended: now,
            ended_unix_ms: 51_000,
            description: String::new(),
        }];
        assert!(killed_during(&faults, Some(2), 1_000, Some(90_000)));
        assert!(killed_during(&faults, Some(2), 1_000, None));
        assert!(!killed_during(&faults, Some(1), 1_000, None));
        assert!(!killed_during(&faults, Some(2), 60_000, None));
        // Within reach of the attempt's end: it may still have held measurements.
        assert!(killed_during(&faults, Some(2), 1_000, Some(45_000)));
        let out_of_reach = 50_000 - KILL_REACH_MS - 1;
        assert!(!killed_during(&faults, Some(2), 1_000, Some(out_of_reach)));
    }

    #[test]
    fn the_watch_records_deaths_and_registrations_after_the_first_one() {
        let watch = WorkerWatch::default();
        let worker = |id: &str, state, since, registered| Worker {
            id: id.to_owned(),
            pool: "default".into(),
            labels: Default::default(),
            slots: 1,
            version: String::new(),
            address: String::new(),
            state,
            reason: String::new(),
            registered_at_ms: registered,
            state_since_ms: since,
            last_heartbeat_age_ms: None,
            slots_used: 0,
            running: Vec::new(),
        };
        let page = |state, since: u64, registered: u64| {
            vec![
                worker("w1", state, since, registered),
                worker("w2", WorkerState::Alive, 5, 5),
            ]
        };
        watch.observe(&page(WorkerState::Alive, 1, 1));
        assert!(
            watch.events.lock().is_empty(),
            "the first registration is no event"
        );
        watch.observe(&page(WorkerState::Dead, 7, 1));
        watch.observe(&page(WorkerState::Dead, 7, 1));
        // A lagging replica shows the older registration: no event.
        watch.observe(&page(WorkerState::Alive, 1, 1));
        watch.observe(&page(WorkerState::Alive, 9, 9));
        let events: Vec<_> = watch.events.lock().iter().cloned().collect();
        assert_eq!(
            events,
            vec![
                ("w1".to_owned(), "declared dead", 7),
                ("w1".to_owned(), "registered again", 9)
            ]
        );
    }

    #[test]
    fn a_death_is_explained_only_by_a_fault_on_that_worker_and_soon_after_it() {
        let fault = |fault, began, ended| Injected {
            fault,
            leader: None,
            began: Instant::now(),
            began_unix_ms: began,
            ended: Instant::now(),
            ended_unix_ms: ended,
            description: String::new(),
        };
        let faults = [
            fault(Fault::PauseWorker(1), 10_000, 20_000),
            fault(Fault::KillLeader, 30_000, 31_000),
        ];
        assert!(explained(&faults, Some(1), 18_000, 5000));
        assert!(explained(&faults, Some(1), 24_000, 5000));
        assert!(!explained(&faults, Some(1), 26_000, 5000), "too late");
        assert!(!explained(&faults, Some(1), 9000, 5000), "before the fault");
        assert!(!explained(&faults, Some(2), 18_000, 5000), "another worker");
        assert!(!explained(&faults, Some(2), 30_500, 5000), "a leader fault");
        assert!(!explained(&faults, None, 18_000, 5000), "an unknown worker");
    }
}
