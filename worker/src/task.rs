//! One task attempt on this worker: its files, its engine run, its numbered deltas.
//!
//! A [`TaskState`] is shared by the task's runner and the worker's heartbeat loop. The runner
//! prepares the files, waits for the coordinated start, runs the segment with the engine and
//! takes a delta (metrics, log lines, progress) every heartbeat interval; the heartbeat loop
//! sends every delta not yet acknowledged and drops those an acknowledgement covers, delivers
//! start instants, and stops the load on an abort or stop order, when the lease runs out, or
//! when the worker drains.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use broadside_engine::metrics::RunStats;
use broadside_engine::protocol::{AllowedTargets, TargetPolicy};
use broadside_engine::runtime::{build_report, Gate, PositionReader, Run, RunConfig};
use broadside_engine::secrets::Secrets;
use broadside_engine::wire::{encode_report, LogLevel, LogLine, TaskDelta, MAX_LOG_LINES};
use broadside_engine::Segment;
use broadside_rpc::worker::{
    Assignment, Completion, Delta, Outcome, Split, TaskPhase, TaskRef, TaskReport, MAX_DELTA_BYTES,
};
use broadside_rpc::{CallError, Payload};
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::WorkerConfig;
use crate::journal::Journal;
use crate::link::LinkError;
use crate::worker::{unix_ms, Shared};

/// Why a task's load stopped before its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Halt {
    /// The job was aborted.
    Aborted(String),
    /// This attempt is no longer current (reassigned): stop; what it measured and no leader
    /// acknowledged goes to the outbox, delivered as late deltas.
    Fenced(String),
    /// No heartbeat was acknowledged for the lease: stop, hand the task back if possible.
    LeaseLost,
    /// The worker drains: stop, hand the task back.
    Drain,
}

#[derive(Debug)]
struct Inner {
    phase: TaskPhase,
    elapsed_ms: u64,
    users: u64,
    next_seq: u64,
    pending: VecDeque<Delta>,
    halt: Option<Halt>,
}

/// A task attempt held by this worker.
#[derive(Debug)]
pub struct TaskState {
    /// Which attempt.
    pub task: TaskRef,
    inner: Mutex<Inner>,
    /// Cancelled to stop the load now.
    stop: CancellationToken,
    /// The leader said this attempt is no longer current: nothing it sends will be accepted.
    fenced: std::sync::atomic::AtomicBool,
    /// The start instant on the leader's clock, once known.
    start: watch::Sender<Option<u64>>,
    /// Where every delta is written before it is sent (none in tests that need no disk).
    journal: Mutex<Option<Journal>>,
}

impl TaskState {
    /// A task just received (phase `Preparing`), its deltas written to `journal`.
    pub(crate) fn new(
        task: TaskRef,
        start_at_ms: Option<u64>,
        journal: Option<Journal>,
    ) -> Arc<TaskState> {
        Arc::new(TaskState {
            task,
            inner: Mutex::new(Inner {
                phase: TaskPhase::Preparing,
                elapsed_ms: 0,
                users: 0,
                next_seq: 1,
                pending: VecDeque::new(),
                halt: None,
            }),
            stop: CancellationToken::new(),
            fenced: std::sync::atomic::AtomicBool::new(false),
            start: watch::Sender::new(start_at_ms),
            journal: Mutex::new(journal),
        })
    }

    /// What the attempt leaves behind when this worker stops running it: its unacknowledged
    /// deltas and their journal (kept in the outbox until a leader acknowledges them).
    pub(crate) fn leave(&self) -> (Vec<Delta>, Option<Journal>) {
        let deltas = std::mem::take(&mut self.inner.lock().pending);
        (deltas.into(), self.journal.lock().take())
    }

    /// What a heartbeat says about it.
    pub fn report(&self) -> TaskReport {
        let inner = self.inner.lock();
        TaskReport {
            task: self.task,
            phase: inner.phase,
            elapsed_ms: inner.elapsed_ms,
            users: inner.users,
            deltas: inner.pending.iter().cloned().collect(),
        }
    }

    /// Drops the deltas an acknowledgement covers.
    pub fn ack(&self, up_to: u64) {
        let mut inner = self.inner.lock();
        let before = inner.pending.len();
        while inner.pending.front().is_some_and(|d| d.seq <= up_to) {
            inner.pending.pop_front();
        }
        if inner.pending.len() != before {
            if let Some(j) = self.journal.lock().as_ref() {
                let recorded = if inner.pending.is_empty() {
                    j.clear().and_then(|()| j.acked(up_to))
                } else {
                    j.acked(up_to)
                };
                if let Err(e) = recorded {
                    tracing::warn!(task = ?self.task, error = %e, "acknowledgement not recorded on disk");
                }
            }
        }
    }

    /// Deltas not acknowledged yet.
    pub fn unacknowledged(&self) -> usize {
        self.inner.lock().pending.len()
    }

    /// The coordinated start instant arrived (leader clock).
    pub fn start_at(&self, at_ms: u64) {
        self.start.send_if_modified(|s| {
            let changed = *s != Some(at_ms);
            *s = Some(at_ms);
            changed
        });
    }

    /// Whether the leader fenced this attempt (it was reassigned).
    pub fn is_fenced(&self) -> bool {
        self.fenced.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops the load for `why` (the first reason wins; a fence is remembered whatever came
    /// first, since it means nothing more may be reported).
    pub fn halt(&self, why: Halt) {
        if matches!(why, Halt::Fenced(_)) {
            self.fenced
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let mut inner = self.inner.lock();
        if inner.halt.is_none() {
            tracing::warn!(task = ?self.task, reason = ?why, "stopping the task's load");
            inner.halt = Some(why);
        }
        drop(inner);
        self.stop.cancel();
    }

    /// Why the load was stopped, if it was.
    pub fn halted(&self) -> Option<Halt> {
        self.inner.lock().halt.clone()
    }

    fn set_phase(&self, phase: TaskPhase) {
        self.inner.lock().phase = phase;
    }

    /// Numbers and queues one delta (split into several when it would exceed
    /// [`MAX_DELTA_BYTES`]: its series seconds are sent apart).
    fn push(&self, delta: TaskDelta) {
        for part in split_delta(delta) {
            let data = match part.encode() {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(task = ?self.task, error = %e, "a delta could not be encoded");
                    continue;
                }
            };
            let mut inner = self.inner.lock();
            inner.elapsed_ms = part.elapsed_ms;
            inner.users = part.users;
            let seq = inner.next_seq;
            inner.next_seq += 1;
            let delta = Delta {
                seq,
                data: Payload(data),
            };
            // On disk before it can be sent: a restarted worker delivers it even if this
            // process dies before a leader acknowledges it.
            let mut journal = self.journal.lock();
            if let Some(Err(e)) = journal.as_ref().map(|j| j.append(&delta)) {
                // A journal with a hole would hold back every later delta after a restart:
                // this attempt's deltas stay in memory only from now on.
                tracing::error!(task = ?self.task, error = %e, "delta not written to the data directory; keeping this attempt's deltas in memory only");
                if let Some(j) = journal.take() {
                    j.remove();
                }
            }
            drop(journal);
            inner.pending.push_back(delta);
        }
    }

    fn take_pending(&self) -> Vec<Delta> {
        self.inner.lock().pending.iter().cloned().collect()
    }
}

/// Splits a delta whose encoding would be too big: the per-second series and the error samples
/// are spread over several deltas (each request is still in exactly one).
fn split_delta(mut delta: TaskDelta) -> Vec<TaskDelta> {
    let size = delta.encode().map(|d| d.len()).unwrap_or(0);
    if size <= MAX_DELTA_BYTES {
        return vec![delta];
    }
    if delta.stats.series.len() <= 1 {
        // Still too big with one second: log lines and error samples only illustrate the
        // counts, so they go (counted as dropped) before anything that is counted.
        delta.logs_dropped += delta.logs.len() as u64;
        delta.logs.clear();
        delta.stats.error_samples.clear();
        return vec![delta];
    }
    let mut head = delta;
    let series = std::mem::take(&mut head.stats.series);
    let half = series.len() / 2;
    let (a, b) = series.split_at(half);
    // The tail goes after the head: it carries the attempt's position and its last mark.
    let mut tail = TaskDelta {
        elapsed_ms: head.elapsed_ms,
        users: head.users,
        stats: RunStats {
            series: b.to_vec(),
            ..RunStats::default()
        },
        logs: Vec::new(),
        logs_dropped: 0,
        scenarios: head.scenarios.clone(),
        last: std::mem::take(&mut head.last),
    };
    head.stats.series = a.to_vec();
    tail.stats.series.shrink_to_fit();
    let mut out = split_delta(head);
    out.extend(split_delta(tail));
    out
}

/// Log lines for a delta: one per error message of the interval, with a sample when the delta
/// has one (check failures with their request and response).
fn log_lines(stats: &RunStats) -> (Vec<LogLine>, u64) {
    let now = unix_ms();
    let mut samples: BTreeMap<&str, &broadside_engine::metrics::ErrorSample> = BTreeMap::new();
    for s in &stats.error_samples {
        samples.entry(s.error.as_str()).or_insert(s);
    }
    let mut lines = Vec::new();
    let mut dropped = 0;
    for (message, count) in &stats.errors {
        if lines.len() == MAX_LOG_LINES {
            dropped += 1;
            continue;
        }
        let text = match samples.get(message.as_str()) {
            Some(s) => format!(
                "{count}× {message} (request {})\n{}\n{}",
                s.request, s.request_text, s.response_text
            ),
            None => format!("{count}× {message}"),
        };
        lines.push(LogLine::new(now, LogLevel::Warn, &text));
    }
    (lines, dropped)
}

fn delta_of(
    stats: RunStats,
    elapsed: Duration,
    users: u64,
    positions: &PositionReader,
    last: bool,
) -> TaskDelta {
    let (logs, logs_dropped) = log_lines(&stats);
    TaskDelta {
        elapsed_ms: elapsed.as_millis() as u64,
        users,
        stats,
        logs,
        logs_dropped,
        scenarios: positions.at(elapsed),
        last,
    }
}

/// Every request of an attempt carries this header with `job-task-attempt`, so a system under
/// test (the built-in target records it) can tell attempts apart.
pub const ATTRIBUTION_HEADER: &str = "x-broadside-attribution";

/// Reads and compiles the simulation, every request tagged with the attempt's attribution;
/// files it names resolve against its directory.
fn compile(
    path: &std::path::Path,
    attribution: &str,
) -> Result<broadside_engine::runtime::Plan, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = path.display().to_string();
    let joined = |e: broadside_engine::load::LoadErrors| {
        e.problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut sim = broadside_engine::simulation::parse_text(&text, &name).map_err(joined)?;
    sim.http
        .headers
        .insert(ATTRIBUTION_HEADER.to_owned(), attribution.to_owned());
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    broadside_engine::simulation::compile_simulation(
        &sim,
        &broadside_engine::runtime::DirFiles::new(dir),
    )
    .map_err(joined)
}

/// The engine asks this before every request: no request leaves this worker once its lease
/// ran out (the task's load is halted at that instant, before the watchdog's next look).
fn lease_gate(shared: Arc<Shared>, state: Arc<TaskState>) -> Gate {
    Gate::new(move || {
        if state.halted().is_some() {
            return false;
        }
        if shared.lease_expired() {
            state.halt(Halt::LeaseLost);
            return false;
        }
        true
    })
}

/// Why a task could not be prepared.
fn failed(reason: impl Into<String>) -> Outcome {
    Outcome::Failed(reason.into())
}

/// Runs an assignment to its end and reports it; returns when the attempt needs nothing more
/// from this worker.
pub(crate) async fn run(shared: Arc<Shared>, assignment: Assignment, state: Arc<TaskState>) {
    let outcome = execute(&shared, &assignment, &state).await;
    let task = state.task;
    if outcome.is_err() {
        // Whatever it measured was queued already (or it never ran): nothing is missing after
        // this, whichever way the attempt leaves.
        state.push(TaskDelta {
            last: true,
            ..TaskDelta::default()
        });
    }
    match (state.halted(), outcome) {
        // Fenced: nothing this attempt sends is accepted any more.
        (Some(Halt::Fenced(_)), _) => {}
        // Ran to its end (a halt that came after is moot): complete it.
        (_, Ok((outcome, result, false))) => shared.complete(&state, outcome, result).await,
        // Aborted: the requests it sent count, in the job's (partial) result.
        (Some(Halt::Aborted(_)), _) => shared.flush(&state).await,
        (Some(Halt::LeaseLost | Halt::Drain), _) => shared.hand_back(&state).await,
        // Cut short by the simulation's own max duration: that is its end.
        (None, Ok((outcome, result, true))) => shared.complete(&state, outcome, result).await,
        (None, Err(reason)) => {
            tracing::error!(?task, %reason, "task failed");
            shared.complete(&state, failed(reason), Vec::new()).await;
        }
    }
}

/// Prepares and runs the segment; the outcome, the encoded report and whether the run was cut
/// short, or why it could not run.
async fn execute(
    shared: &Arc<Shared>,
    a: &Assignment,
    state: &Arc<TaskState>,
) -> Result<(Outcome, Vec<u8>, bool), String> {
    let t = a.task;
    let dir: PathBuf = shared
        .config
        .data
        .join("tasks")
        .join(format!("{}-{}-{}", t.job_id, t.task, t.attempt));
    let mut files = vec![a.simulation.clone()];
    files.extend(a.files.iter().cloned());
    let laid = shared
        .cache
        .lay_out(&shared.link, &files, &dir)
        .await
        .map_err(|e| e.to_string())?;
    let sim_path = laid.first().cloned().ok_or("no simulation file")?;
    let attribution = format!("{}-{}-{}", t.job_id, t.task, t.attempt);
    let plan = tokio::task::spawn_blocking(move || compile(&sim_path, &attribution))
        .await
        .map_err(|e| e.to_string())??;
    let segment = match a.split {
        Split::Split => Segment::new(t.task, a.parallelism)?,
        Split::Replicate => Segment::default(),
    };
    state.set_phase(TaskPhase::Ready);

    // The coordinated start, on the leader's clock corrected by the measured offset.
    let mut start = state.start.subscribe();
    let at_ms = loop {
        if let Some(at) = *start.borrow_and_update() {
            break at;
        }
        tokio::select! {
            changed = start.changed() => { if changed.is_err() { return Err("worker stopping".into()); } }
            () = state.stop.cancelled() => return Err("stopped before the start".into()),
        }
    };
    let wait = at_ms.saturating_sub(shared.leader_now_ms());
    if wait > 0 {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(wait)) => {}
            () = state.stop.cancelled() => return Err("stopped before the start".into()),
        }
    }
    // A task joining a running job (a reassignment, or a late claim under the `start` policy)
    // resumes at the elapsed offset, so the job's load shape is kept. A first start runs the
    // whole schedule, even a few milliseconds late: its first arrivals are due at t = 0.
    let from = if a.resume_from_ms.is_some() {
        Duration::from_millis(shared.leader_now_ms().saturating_sub(at_ms))
    } else {
        Duration::ZERO
    };
    if !from.is_zero() {
        tracing::info!(task = ?t, from_ms = from.as_millis() as u64, "resuming the schedule");
    }
    let plan = Arc::new(plan);
    let run = Run::start(
        plan.clone(),
        RunConfig {
            segment,
            from,
            policy: task_policy(&shared.config, &a.targets)?,
            secrets: Secrets::new(a.secrets.0.clone()),
            stop: state.stop.child_token(),
            gate: lease_gate(shared.clone(), state.clone()),
            // Half the stop budget: a fenced attempt's last exchanges finish (and are counted)
            // well before the masters may hand its task to another worker.
            stop_grace: Some(shared.stop_budget() / 2),
        },
    )
    .map_err(|e| e.to_string())?;
    state.set_phase(TaskPhase::Running);
    let recorder = run.recorder().clone();
    let positions = run.positions();
    let started = Instant::now();
    let mut waiter = tokio::spawn(run.wait());
    let mut tick = tokio::time::interval(shared.heartbeat());
    tick.tick().await;
    let outcome = loop {
        tokio::select! {
            _ = tick.tick() => {
                let elapsed = from + started.elapsed();
                state.push(delta_of(recorder.take_delta(), elapsed, recorder.active_users(), &positions, false));
            }
            done = &mut waiter => break done.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?,
        }
    };
    // What was recorded since the last delta: the sum of all deltas is the outcome's stats.
    // The last delta is marked: the masters then know nothing of this attempt is missing.
    state.push(delta_of(
        recorder.take_delta(),
        outcome.duration + from,
        0,
        &positions,
        true,
    ));
    let report = build_report(&plan, &outcome, segment);
    let result = encode_report(&report).map_err(|e| e.to_string())?;
    // Halted before the run returned: cut short, even when the engine saw its schedule end
    // first (once the lease gate closes, every remaining user exits at once, and a schedule
    // already past its end — a worker silent through it — finishes before the stop is seen).
    let cut_short = outcome.interrupted || state.halted().is_some();
    Ok((Outcome::Succeeded, result, cut_short))
}

impl Shared {
    /// Completes the attempt with its final deltas and result, retrying across failovers.
    async fn complete(&self, state: &TaskState, outcome: Outcome, result: Vec<u8>) {
        let task = state.task;
        let completion = Completion {
            worker_id: self.id.clone(),
            task,
            outcome,
            deltas: state.take_pending(),
            result: Payload(result),
        };
        let answer = self
            .link
            .call(self.report_patience(), self.rpc_deadline(), |c, ctx| {
                let completion = completion.clone();
                async move { c.complete(ctx, completion).await }
            })
            .await;
        match answer {
            Ok(()) => {
                if let Some(last) = completion.deltas.last() {
                    state.ack(last.seq);
                }
                tracing::info!(?task, "task completed");
            }
            Err(LinkError::Refused(CallError::Stale(e))) => {
                tracing::warn!(?task, error = %e, "completion refused: the attempt was reassigned")
            }
            Err(e) => tracing::error!(?task, error = %e, "completion not delivered"),
        }
    }

    /// Sends the remaining deltas, then hands the attempt back so it resumes elsewhere.
    async fn hand_back(&self, state: &TaskState) {
        let task = state.task;
        self.flush(state).await;
        if state.is_fenced() {
            tracing::info!(?task, "not handed back: the attempt was reassigned already");
            return;
        }
        if self.is_refused() {
            tracing::info!(?task, "not handed back: the masters refuse this worker");
            return;
        }
        let elapsed = state.report().elapsed_ms;
        let id = self.id.clone();
        let answer = self
            .link
            .call(self.report_patience(), self.rpc_deadline(), |c, ctx| {
                let id = id.clone();
                async move { c.hand_back(ctx, id, task, elapsed).await }
            })
            .await;
        match answer {
            Ok(()) => tracing::info!(?task, elapsed_ms = elapsed, "task handed back"),
            Err(e) => {
                tracing::warn!(?task, error = %e, "task not handed back (it may be reassigned already)")
            }
        }
    }
}

/// Where this task's load may go: the worker's ceiling, narrowed by the project's targets.
fn task_policy(config: &WorkerConfig, targets: &[String]) -> Result<TargetPolicy, String> {
    let allowed = if targets.is_empty() {
        None
    } else {
        let list = AllowedTargets::parse(targets).map_err(|e| format!("project targets: {e}"))?;
        Some(Arc::new(list))
    };
    Ok(TargetPolicy {
        ceiling: config.policy,
        allowed,
        insecure_tls: config.allow_insecure_tls,
    })
}
