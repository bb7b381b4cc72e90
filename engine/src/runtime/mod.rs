//! The runtime: runs a compiled [`Plan`] (or one segment of it) and produces its results.
//!
//! Each scenario has a driver: an *open* driver spawns a virtual user at every scheduled
//! arrival (waking once per millisecond at most and spawning every arrival that is due, each
//! with its scheduled instant); a *closed* driver keeps the scheduled number of user slots busy,
//! starting a fresh user in a slot whenever the previous one finishes. Users are tokio tasks
//! tracked per scenario; a run ends when every driver has injected its schedule and every user
//! has finished, when `max_duration` passes, or when the caller stops it.

mod checks;
mod compile;
mod files;
mod plan;
mod position;
mod shared;
mod user;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use checks::{CheckSource, CompiledCheck};
pub use compile::compile;
pub use files::{validate_relative_path, DirFiles, FileSource, NoFiles};
pub use plan::{Action, Body, Count, FeederPlan, PathProblem, Plan, RequestAction, ScenarioPlan};

use crate::feeder::Feeder;
use crate::metrics::{evaluate, Recorder, RunStats};
use crate::protocol::http::HttpProtocol;
use crate::protocol::TargetPolicy;
use crate::report::{RunReport, ScenarioInfo, SUMMARY_SCHEMA_VERSION};
use crate::schedule::{ScenarioSchedule, Throttle};
use crate::wire::ScenarioPosition;
use crate::Segment;
use position::Positions;
use shared::RunShared;
use user::VirtualUser;

/// How long exchanges already sent may take to finish after a stop (or the simulation's max
/// duration) before they are cut: a request that reached the target is counted with its
/// response whenever the target answers within it.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// How to run a plan.
#[derive(Debug, Clone, Default)]
pub struct RunConfig {
    /// Which segment to run (the whole simulation by default).
    pub segment: Segment,
    /// Start the schedule at this elapsed offset (a resumed task).
    pub from: Duration,
    /// Where load may go.
    pub policy: TargetPolicy,
    /// What `secret('name')` reads; their values are redacted from everything the run reports.
    pub secrets: crate::secrets::Secrets,
    /// Cancelling this token stops the run: no user starts or sends another request, the
    /// exchanges in flight finish (for at most [`STOP_GRACE`]) and are counted, results are
    /// kept.
    pub stop: CancellationToken,
    /// Asked before every request; a request it refuses is not sent and its user ends.
    pub gate: Gate,
    /// How long exchanges in flight may finish after a stop ([`STOP_GRACE`] when `None`). A
    /// worker gives a fraction of its stop budget: whatever a request does in that time (a
    /// redirect hop, a connection being set up) is inside the budget the masters wait before
    /// they reassign its task.
    pub stop_grace: Option<Duration>,
}

/// A check made right before every request is sent. A distributed worker closes it the
/// instant its lease runs out, so that no request leaves a fenced worker — even one that wakes
/// up from a pause with every overdue arrival due at once, before anything else could stop it.
#[derive(Clone, Default)]
pub struct Gate(Option<Arc<dyn Fn() -> bool + Send + Sync>>);

impl Gate {
    /// A gate that asks `open` before each request.
    pub fn new(open: impl Fn() -> bool + Send + Sync + 'static) -> Gate {
        Gate(Some(Arc::new(open)))
    }

    /// Whether a request may go now (always, without a check).
    pub fn is_open(&self) -> bool {
        self.0.as_ref().is_none_or(|open| open())
    }
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Gate(check)"
        } else {
            "Gate(open)"
        })
    }
}

/// What a finished run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Exact, mergeable results.
    pub stats: RunStats,
    /// Wall-clock start (unix ms).
    pub started_at_unix_ms: u64,
    /// Wall time from start to end.
    pub duration: Duration,
    /// Per scenario: planned and started users.
    pub scenarios: Vec<ScenarioInfo>,
    /// The run was cut short (max duration or a stop request).
    pub interrupted: bool,
}

/// A running simulation.
pub struct Run {
    shared: Arc<RunShared>,
    planned: Option<Duration>,
    start: Instant,
    from: Duration,
    segment: Segment,
    task: tokio::task::JoinHandle<RunOutcome>,
}

/// Reads a run's [`ScenarioPosition`]s (see [`Run::positions`]).
#[derive(Clone)]
pub struct PositionReader {
    shared: Arc<RunShared>,
    segment: Segment,
}

impl PositionReader {
    /// Every scenario's position once the run has reached `elapsed` on the plan's timeline
    /// (its resume offset included).
    pub fn at(&self, elapsed: Duration) -> Vec<ScenarioPosition> {
        self.shared
            .positions
            .snapshot(&self.shared.plan, self.segment, elapsed)
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("planned", &self.planned)
            .finish_non_exhaustive()
    }
}

impl Run {
    /// Starts running `plan` now; must be called inside a tokio runtime.
    pub fn start(plan: Arc<Plan>, config: RunConfig) -> Result<Run, crate::Error> {
        let now = Instant::now();
        let start = now
            .checked_sub(config.from)
            .ok_or_else(|| crate::Error::Setup("resume offset too large".into()))?;
        let protocol =
            HttpProtocol::new(&plan.http, config.policy.clone()).map_err(crate::Error::Setup)?;
        let recorder = Recorder::new(
            plan.request_names.clone(),
            plan.group_names.clone(),
            start.into_std(),
        );
        let feeders = plan
            .feeders
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let feeder = Feeder::new(
                    f.data.clone(),
                    f.strategy,
                    config.segment,
                    plan.seed.wrapping_add(i as u64),
                );
                feeder.skip(resume_skip(&plan, i, config.segment, config.from));
                feeder
            })
            .collect();
        let throttle = plan
            .throttle
            .clone()
            .map(|p| Throttle::new(p, config.segment, start));
        let planned = planned_duration(&plan);
        let positions = Positions::new(&plan, &planned_starts(&plan).0, config.from, start);
        let mut shared = RunShared::new(
            plan,
            protocol,
            recorder,
            feeders,
            throttle,
            config.secrets.clone(),
            positions,
        )
        .map_err(crate::Error::Setup)?;
        shared.gate = config.gate.clone();
        shared.stopping = config.stop.child_token();
        let shared = Arc::new(shared);
        let task = tokio::spawn(drive(shared.clone(), config.clone(), start));
        Ok(Run {
            shared,
            planned,
            start,
            from: config.from,
            segment: config.segment,
            task,
        })
    }

    /// Where the run stands on each scenario's schedule, readable while it runs and after.
    pub fn positions(&self) -> PositionReader {
        PositionReader {
            shared: self.shared.clone(),
            segment: self.segment,
        }
    }

    /// The live recorder (for progress lines and heartbeat deltas).
    pub fn recorder(&self) -> &Recorder {
        &self.shared.recorder
    }

    /// Planned length of the schedule (capped by max duration), when it is known.
    pub fn planned_duration(&self) -> Option<Duration> {
        self.planned
    }

    /// Elapsed time on the schedule (includes the resume offset).
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Resume offset of this run.
    pub fn resumed_from(&self) -> Duration {
        self.from
    }

    /// Waits for the run to end.
    pub async fn wait(self) -> Result<RunOutcome, crate::Error> {
        self.task
            .await
            .map_err(|e| crate::Error::Setup(format!("run task failed: {e}")))
    }
}

/// Runs `plan` to the end and returns its outcome.
pub async fn run(plan: Arc<Plan>, config: RunConfig) -> Result<RunOutcome, crate::Error> {
    Run::start(plan, config)?.wait().await
}

/// Builds the report of a finished run: evaluates the assertions on its stats.
pub fn build_report(plan: &Plan, outcome: &RunOutcome, segment: Segment) -> RunReport {
    let assertions = evaluate(&plan.assertions, &outcome.stats, outcome.duration);
    RunReport {
        schema_version: SUMMARY_SCHEMA_VERSION,
        simulation: plan.name.clone(),
        description: plan.description.clone(),
        started_at_unix_ms: outcome.started_at_unix_ms,
        duration_ms: outcome.duration.as_millis() as u64,
        segment: (!segment.is_whole()).then(|| segment.to_string()),
        stats: outcome.stats.clone(),
        assertions,
        scenarios: outcome.scenarios.clone(),
        distribution: None,
    }
}

/// When each scenario's timeline starts on the plan (a chained scenario starts when its
/// parent's schedule ends), and when the last one ends.
fn planned_starts(plan: &Plan) -> (Vec<Duration>, Duration) {
    let n = plan.scenarios.len();
    let mut starts = vec![Duration::ZERO; n];
    let mut ends = vec![Duration::ZERO; n];
    // Chains are acyclic (checked at compile time), so n passes settle every start.
    for _ in 0..n {
        for (i, s) in plan.scenarios.iter().enumerate() {
            starts[i] = s.start_after.map_or(Duration::ZERO, |p| ends[p]);
            ends[i] = starts[i].saturating_add(s.schedule.duration());
        }
    }
    (starts, ends.into_iter().max().unwrap_or_default())
}

/// Planned length of `plan`'s schedule from its start (the last scenario's end, capped by its
/// max duration), as a run of it will report it.
pub fn planned_duration(plan: &Plan) -> Option<Duration> {
    let (_, longest) = planned_starts(plan);
    Some(plan.max_duration.map_or(longest, |m| m.min(longest)))
}

/// Queue records already consumed before `from` by the users of this segment that arrived
/// earlier in open scenarios (counting the `feed` steps every user runs once). Closed-model
/// users run an unknown number of iterations, so their consumption cannot be replayed.
fn resume_skip(plan: &Plan, feeder: usize, segment: Segment, from: Duration) -> u64 {
    if from.is_zero() {
        return 0;
    }
    let (starts, _) = planned_starts(plan);
    plan.scenarios
        .iter()
        .zip(starts)
        .map(|(s, begin)| match &s.schedule {
            ScenarioSchedule::Open(open) => {
                open.users_before(segment, from.saturating_sub(begin))
                    * s.feeds_per_user.get(&feeder).copied().unwrap_or(0)
            }
            ScenarioSchedule::Closed(_) => 0,
        })
        .sum()
}

async fn drive(shared: Arc<RunShared>, config: RunConfig, start: Instant) -> RunOutcome {
    let started_at_unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let wall = std::time::Instant::now();
    // Hard cancellation: users still in an exchange `STOP_GRACE` after a stop are cut.
    let cancel = CancellationToken::new();
    let stopping = shared.stopping.clone();
    let plan = shared.plan.clone();

    let mut done_senders = Vec::new();
    let mut done_receivers = Vec::new();
    for _ in &plan.scenarios {
        let (tx, rx) = watch::channel(false);
        done_senders.push(tx);
        done_receivers.push(rx);
    }
    let mut drivers = JoinSet::new();
    for (i, done) in done_senders.into_iter().enumerate() {
        let parent = plan.scenarios[i]
            .start_after
            .map(|p| done_receivers[p].clone());
        let ctx = ScenarioCtx {
            shared: shared.clone(),
            scenario: i,
            config: config.clone(),
            start,
            cancel: cancel.clone(),
            stopping: stopping.clone(),
        };
        drivers.spawn(async move {
            if let Some(mut parent) = parent {
                let _ = parent.wait_for(|d| *d).await;
            }
            ctx.drive().await;
            let _ = done.send(true);
        });
    }

    let sampler = {
        let recorder = shared.recorder.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let mut tick =
                tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    t = tick.tick() => recorder.sample_active_users(t.into_std()),
                }
            }
        })
    };
    let deadline = plan.max_duration.and_then(|d| start.checked_add(d));
    let grace = config.stop_grace.unwrap_or(STOP_GRACE);
    let mut interrupted = false;
    let mut cut_at = None;
    // The run's length ends at its stop; responses that complete in the grace still count.
    let mut stopped_after = None;
    loop {
        tokio::select! {
            next = drivers.join_next() => {
                if next.is_none() {
                    break;
                }
            }
            _ = sleep_until_opt(deadline), if !interrupted => {
                interrupted = true;
                stopping.cancel();
                cut_at = Some(Instant::now() + grace);
                stopped_after = Some(wall.elapsed());
            }
            _ = stopping.cancelled(), if !interrupted => {
                interrupted = true;
                cut_at = Some(Instant::now() + grace);
                stopped_after = Some(wall.elapsed());
            }
            _ = sleep_until_opt(cut_at) => {
                cancel.cancel();
                cut_at = None;
            }
        }
    }
    shared
        .recorder
        .sample_active_users(Instant::now().into_std());
    cancel.cancel();
    let _ = sampler.await;
    let scenarios = plan
        .scenarios
        .iter()
        .enumerate()
        .map(|(i, s)| ScenarioInfo {
            name: s.name.clone(),
            planned_users: s.schedule.planned_users(config.segment),
            started_users: shared.positions.started(i),
        })
        .collect();
    RunOutcome {
        stats: shared.recorder.snapshot(),
        started_at_unix_ms,
        duration: stopped_after.unwrap_or_else(|| wall.elapsed()),
        scenarios,
        interrupted,
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Drives the users of one scenario.
struct ScenarioCtx {
    shared: Arc<RunShared>,
    scenario: usize,
    config: RunConfig,
    start: Instant,
    /// Hard cancellation (users cut).
    cancel: CancellationToken,
    /// The stop: no more users.
    stopping: CancellationToken,
}

impl ScenarioCtx {
    async fn drive(self) {
        let plan = self.shared.plan.clone();
        let scenario = &plan.scenarios[self.scenario];
        // A chained scenario's timeline starts when its parent is done; on resume, it skips the
        // part of its schedule that lies before the offset on the plan.
        let (t0, from) = if scenario.start_after.is_some() {
            let (starts, _) = planned_starts(&plan);
            let from = self.config.from.saturating_sub(starts[self.scenario]);
            let now = Instant::now();
            (now.checked_sub(from).unwrap_or(now), from)
        } else {
            (self.start, self.config.from)
        };
        let users = TaskTracker::new();
        match &scenario.schedule {
            ScenarioSchedule::Open(open) => {
                let positions = &self.shared.positions;
                for (offered, arrival) in open.arrivals(self.config.segment, from).enumerate() {
                    let at = t0 + arrival.at;
                    if at > Instant::now() + Duration::from_millis(1) {
                        tokio::select! {
                            _ = tokio::time::sleep_until(at) => {}
                            _ = self.stopping.cancelled() => break,
                        }
                    }
                    if self.stopping.is_cancelled() {
                        break;
                    }
                    // A closed gate (a worker whose lease ran out, or one waking from a pause
                    // with every overdue arrival due at once) sends nothing: the arrival is
                    // not started, and the attempt's reach stays where it was.
                    if !self.shared.gate.is_open() {
                        positions.refused();
                        continue;
                    }
                    self.spawn_user(&users, arrival.index, at);
                    positions.reached(self.scenario, offered as u64 + 1);
                }
            }
            ScenarioSchedule::Closed(closed) => self.drive_closed(closed, t0, from, &users).await,
        }
        users.close();
        users.wait().await;
    }

    async fn drive_closed(
        &self,
        closed: &crate::schedule::ClosedSchedule,
        t0: Instant,
        from: Duration,
        users: &TaskTracker,
    ) {
        let (level_tx, level_rx) = watch::channel(0u64);
        let slots: Arc<parking_lot::Mutex<Vec<bool>>> = Arc::default();
        let next_user = Arc::new(AtomicU64::new(0));
        for change in closed.changes(self.config.segment, from) {
            let at = t0 + change.at;
            tokio::select! {
                _ = tokio::time::sleep_until(at) => {}
                _ = self.stopping.cancelled() => break,
            }
            let _ = level_tx.send(change.level);
            let mut alive = slots.lock();
            if alive.len() < change.level as usize {
                alive.resize(change.level as usize, false);
            }
            for slot in 0..change.level as usize {
                if alive[slot] {
                    continue;
                }
                alive[slot] = true;
                let (shared, level, slots, next_user, cancel, stopping) = (
                    self.shared.clone(),
                    level_rx.clone(),
                    slots.clone(),
                    next_user.clone(),
                    self.cancel.clone(),
                    self.stopping.clone(),
                );
                let (scenario, segment) = (self.scenario, self.config.segment);
                users.spawn(async move {
                    loop {
                        let local = next_user.fetch_add(1, Ordering::Relaxed);
                        let user_id = segment.global_index(local);
                        shared.positions.user_started(scenario);
                        let fed =
                            run_user(&shared, scenario, user_id, Instant::now(), &cancel).await;
                        // Leaving and freeing the slot happen under one lock, so a level raised
                        // meanwhile either keeps this task or sees the slot free.
                        let mut alive = slots.lock();
                        if !fed || stopping.is_cancelled() || (slot as u64) >= *level.borrow() {
                            alive[slot] = false;
                            break;
                        }
                        drop(alive);
                        // A user that never waited must not starve the scheduler.
                        tokio::task::consume_budget().await;
                    }
                });
            }
        }
        let _ = level_tx.send(0);
    }

    fn spawn_user(&self, users: &TaskTracker, user_id: u64, intended: Instant) {
        self.shared.positions.user_started(self.scenario);
        let (shared, cancel, scenario) = (self.shared.clone(), self.cancel.clone(), self.scenario);
        users.spawn(async move {
            run_user(&shared, scenario, user_id, intended, &cancel).await;
        });
    }
}

/// Runs one virtual user; `false` when it stopped for want of a queue-feeder record.
async fn run_user(
    shared: &Arc<RunShared>,
    scenario: usize,
    user_id: u64,
    intended: Instant,
    cancel: &CancellationToken,
) -> bool {
    let recorder = &shared.recorder;
    recorder.user_started(Instant::now().into_std());
    let user = VirtualUser::new(shared.clone(), user_id, intended);
    let fed = tokio::select! {
        fed = user.run(scenario) => fed,
        _ = cancel.cancelled() => true,
    };
    recorder.user_finished(Instant::now().into_std());
    fed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: the state of a virtual user's task is what an idle user costs in memory.
    /// Connecting and the HTTP exchange are boxed so that a user parked in a pause does not
    /// carry their (multi-kilobyte) state; without the boxes this future was over 8 KiB.
    #[test]
    fn idle_user_task_stays_small() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let yaml = "name: x\nscenarios:\n  - name: s\n    injection: [ { at_once: 1 } ]\n    steps:\n      - request: { url: 'http://127.0.0.1:1/' }\n      - pause: 1s\n";
            let (_, plan) = crate::simulation::load_text(yaml, "x.yaml", &NoFiles).unwrap();
            let plan = Arc::new(plan);
            let protocol = HttpProtocol::new(&plan.http, TargetPolicy::default()).unwrap();
            let recorder = Recorder::new(plan.request_names.clone(), vec![], std::time::Instant::now());
            let positions = Positions::new(&plan, &[Duration::ZERO], Duration::ZERO, Instant::now());
            let shared = Arc::new(RunShared::new(plan, protocol, recorder, vec![], None, Default::default(), positions).unwrap());
            let cancel = CancellationToken::new();
            let task = run_user(&shared, 0, 0, Instant::now(), &cancel);
            let size = std::mem::size_of_val(&task);
            assert!(size <= 2048, "a virtual user's task state is {size} bytes");
        });
    }
}
