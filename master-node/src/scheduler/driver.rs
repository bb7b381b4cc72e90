//! The scheduler's driver, active on the leader only: it keeps the in-memory liveness state
//! (when each worker was last heard from — routine heartbeats are not Raft writes), builds
//! snapshots from the local replica, runs the decision core and commits its decisions. It also
//! folds progress deltas into batched `RecordProgress` commits.
//!
//! Everything in memory is rebuilt by a new leader: it takes office with every timer re-armed
//! (the failover grace of the core) and reads committed progress back from the store.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use broadside_raft_store::model::{Job, JobState, Task, Worker, WorkerState};
use broadside_raft_store::{
    all_pages, Attempt, Command, JobId, ProgressDelta, Request, Response, MAX_BATCH_DELTAS,
    MAX_ENTRY_BYTES,
};
use broadside_rpc::raft::LeaderState;
use broadside_rpc::CallError;
use openraft::ServerState;
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use super::core::{decide, CoreTimings, Decision, JobInfo, Reported, TaskInfo, WorkerInfo};
use crate::jobs::JobParams;
use crate::node::{now_ms, Node};

/// How often the driver decides.
const TICK: Duration = Duration::from_millis(250);
/// How often buffered progress deltas are committed.
const FLUSH: Duration = Duration::from_millis(500);

/// Milliseconds on this process's monotonic clock.
pub(crate) fn mono_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// The leader's in-memory state for one term.
#[derive(Default)]
struct Office {
    term: u64,
    since: u64,
    /// The last time (`mono`) this leader refused workers for want of a quorum: they could
    /// not renew anything then, so liveness is judged afresh from that instant, as after a
    /// failover.
    refused_at: u64,
    ready: bool,
    last_seen: HashMap<String, u64>,
    reported: HashMap<String, Reported>,
    /// When (`wall`) this leader delivered each attempt it handed out in a pull reply.
    delivered: HashMap<(JobId, u32, Attempt), u64>,
    waiting_since: HashMap<JobId, u64>,
    last_reassignment: HashMap<JobId, u64>,
    paused: BTreeMap<String, String>,
}

/// Progress deltas waiting for the next batch commit.
#[derive(Default)]
struct Pending {
    deltas: Vec<ProgressDelta>,
    keys: HashSet<(JobId, u32, u32, u64)>,
}

/// The registry and the active jobs as read from the local replica at one applied index.
struct StoreView {
    applied: Option<u64>,
    workers: Vec<Worker>,
    jobs: Vec<(Job, Vec<Task>)>,
}

/// The scheduler of one master (idle unless it leads).
pub struct Scheduler {
    pub(crate) node: Arc<Node>,
    timings: CoreTimings,
    office: Mutex<Office>,
    pending: Mutex<Pending>,
    heartbeats: AtomicU64,
    /// The last view read from the store: rebuilt only when the applied index moved.
    view: Mutex<Option<Arc<StoreView>>>,
    /// Held while the view is rebuilt, so that concurrent callers wait for one rebuild.
    rebuilding: Mutex<()>,
    /// Tasks a pull is claiming now.
    claiming: Mutex<HashSet<(JobId, u32)>>,
}

/// Unmarks a task being claimed when the claim is done, whatever its outcome.
pub(crate) struct ClaimingGuard {
    scheduler: Arc<Scheduler>,
    task: (JobId, u32),
}

impl Drop for ClaimingGuard {
    fn drop(&mut self) {
        self.scheduler.claiming.lock().remove(&self.task);
    }
}

impl Scheduler {
    /// A scheduler for `node`.
    pub(crate) fn new(node: Arc<Node>) -> Arc<Self> {
        let timings = CoreTimings::from_config(&node.config.timings);
        Arc::new(Scheduler {
            node,
            timings,
            office: Mutex::default(),
            pending: Mutex::default(),
            heartbeats: AtomicU64::new(0),
            view: Mutex::default(),
            rebuilding: Mutex::default(),
            claiming: Mutex::default(),
        })
    }

    /// Whether this node leads now *and* heard from a quorum within the minimum election
    /// timeout; errors with the leader's address otherwise.
    ///
    /// The second condition matters: a leader cut off from the other masters still believes it
    /// leads (openraft does not step down without quorum), and if it kept acknowledging worker
    /// heartbeats it would renew leases that the new leader ignores once its failover grace has
    /// passed — two attempts of a task at once. Refusing makes a cut-off leader's workers fence
    /// themselves when their lease runs out, as if no master answered.
    pub(crate) fn ensure_leader(&self) -> Result<(), CallError> {
        let m = self.node.raft.metrics().borrow().clone();
        if m.state != ServerState::Leader {
            return Err(CallError::NotLeader(self.node.leader_hint()));
        }
        let limit = self.node.config.timings.election_min.as_millis() as u64;
        match m.millis_since_quorum_ack {
            Some(ms) if ms < limit => {}
            age => {
                self.office.lock().refused_at = mono_ms();
                return Err(CallError::Unavailable(format!(
                    "this master leads but has not heard from a quorum for {} ms",
                    age.map_or_else(|| "ever".to_owned(), |a| a.to_string())
                )));
            }
        }
        // A new leader answers workers only once its replica reflects every earlier term's
        // commits (its read barrier): a lagging replica would take a current attempt for a
        // stale one.
        let office = self.office.lock();
        if !(office.ready && office.term == m.current_term) {
            return Err(CallError::Unavailable(
                "the new leader is taking office".into(),
            ));
        }
        Ok(())
    }

    /// Marks `task` as being claimed by a pull (others skip it) until the guard is dropped.
    pub(crate) fn claiming(self: &Arc<Self>, task: (JobId, u32)) -> ClaimingGuard {
        self.claiming.lock().insert(task);
        ClaimingGuard {
            scheduler: Arc::clone(self),
            task,
        }
    }

    /// Tasks being claimed right now.
    pub(crate) fn claiming_now(&self) -> HashSet<(JobId, u32)> {
        self.claiming.lock().clone()
    }

    /// Records that this leader handed `attempt` to its worker now.
    pub(crate) fn delivered(&self, attempt: (JobId, u32, Attempt)) {
        self.office.lock().delivered.insert(attempt, now_ms());
    }

    /// Records that `worker` was heard from now.
    pub(crate) fn heard_from(&self, worker: &str) {
        self.office
            .lock()
            .last_seen
            .insert(worker.to_owned(), mono_ms());
    }

    /// Records the attempts `worker` said it runs in a heartbeat received now.
    pub(crate) fn reported(
        &self,
        worker: &str,
        tasks: impl IntoIterator<Item = (JobId, u32, Attempt)>,
    ) {
        let report = Reported {
            at: now_ms(),
            tasks: tasks.into_iter().collect(),
        };
        self.office
            .lock()
            .reported
            .insert(worker.to_owned(), report);
    }

    /// Counts a heartbeat received.
    pub(crate) fn count_heartbeat(&self) {
        self.heartbeats.fetch_add(1, Ordering::Relaxed);
    }

    /// Heartbeats received by this node since it started.
    pub fn heartbeats(&self) -> u64 {
        self.heartbeats.load(Ordering::Relaxed)
    }

    /// Milliseconds since this leader last heard from each worker (empty unless leading).
    pub fn heartbeat_ages(&self) -> BTreeMap<String, u64> {
        let now = mono_ms();
        self.office
            .lock()
            .last_seen
            .iter()
            .map(|(w, at)| (w.clone(), now.saturating_sub(*at)))
            .collect()
    }

    /// Notes a reassignment of one of `job`'s tasks (storm guard spacing).
    pub(crate) fn reassigned(&self, job: JobId) {
        self.office.lock().last_reassignment.insert(job, mono_ms());
    }

    /// Why reassignment is paused in `pool`, if it is.
    pub fn paused(&self, pool: &str) -> Option<String> {
        self.office.lock().paused.get(pool).cloned()
    }

    /// This leader's in-memory view: heartbeat ages and paused pools.
    pub fn leader_state(&self) -> LeaderState {
        LeaderState {
            heartbeat_ages: self.heartbeat_ages().into_iter().collect(),
            paused_pools: self
                .office
                .lock()
                .paused
                .iter()
                .map(|(p, r)| (p.clone(), r.clone()))
                .collect(),
        }
    }

    /// Commits `command` on this node, which must lead.
    pub(crate) async fn commit(&self, command: Command) -> Result<Response, CallError> {
        let request = Request::new(Node::new_request_id(), now_ms(), command);
        self.node.write_local(request).await
    }

    /// Queues deltas for the next batch, skipping those already committed or queued.
    pub(crate) fn queue_progress(
        &self,
        deltas: Vec<ProgressDelta>,
        committed: impl Fn(&ProgressDelta) -> bool,
    ) {
        let mut pending = self.pending.lock();
        for d in deltas {
            let key = (d.job_id, d.task, d.attempt, d.seq);
            if committed(&d) || pending.keys.contains(&key) {
                continue;
            }
            pending.keys.insert(key);
            pending.deltas.push(d);
        }
    }

    /// Commits every queued delta now, in batches that fit a log entry.
    pub(crate) async fn flush_progress(&self) -> Result<(), CallError> {
        let deltas = std::mem::take(&mut self.pending.lock().deltas);
        let mut result = Ok(());
        let mut batch: Vec<ProgressDelta> = Vec::new();
        let mut bytes = 0usize;
        let budget = MAX_ENTRY_BYTES - (16 << 10);
        let mut failed: HashSet<(JobId, u32, u32)> = HashSet::new();
        let mut rest = deltas.into_iter().peekable();
        while rest.peek().is_some() || !batch.is_empty() {
            let fits = rest.peek().is_some_and(|d| {
                batch.is_empty()
                    || (bytes + d.delta.len() + 64 <= budget && batch.len() < MAX_BATCH_DELTAS)
            });
            if fits {
                let d = rest.next().expect("peeked");
                bytes += d.delta.len() + 64;
                batch.push(d);
                continue;
            }
            let taken = std::mem::take(&mut batch);
            bytes = 0;
            let keys: Vec<_> = taken
                .iter()
                .map(|d| (d.job_id, d.task, d.attempt, d.seq))
                .collect();
            // After a failed batch, later deltas of the same attempts wait for the worker's
            // resend, so that no sequence number is folded past a gap.
            let sent: Vec<ProgressDelta> = taken
                .into_iter()
                .filter(|d| !failed.contains(&(d.job_id, d.task, d.attempt)))
                .collect();
            let attempts: Vec<_> = sent.iter().map(|d| (d.job_id, d.task, d.attempt)).collect();
            if !sent.is_empty() {
                if let Err(e) = self.commit(Command::RecordProgress { deltas: sent }).await {
                    failed.extend(attempts);
                    result = Err(e);
                }
            }
            // Committed or not, the worker resends what was not acknowledged.
            let mut pending = self.pending.lock();
            for k in keys {
                pending.keys.remove(&k);
            }
        }
        result
    }

    /// Runs the driver and the progress flusher until `stop`.
    pub(crate) async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut flush = tokio::time::interval(FLUSH);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => self.tick().await,
                _ = flush.tick() => {
                    if self.ensure_leader().is_ok() {
                        if let Err(e) = self.flush_progress().await {
                            tracing::warn!(error = %e, "progress batch not committed");
                        }
                    }
                }
            }
        }
    }

    /// Takes office when this node became leader in a new term; true when it may decide.
    async fn in_office(&self) -> bool {
        let m = self.node.raft.metrics().borrow().clone();
        if m.state != ServerState::Leader {
            let mut office = self.office.lock();
            if office.term != 0 {
                *office = Office::default();
                *self.pending.lock() = Pending::default();
            }
            return false;
        }
        let ready = {
            let mut office = self.office.lock();
            if office.term != m.current_term {
                *office = Office {
                    term: m.current_term,
                    since: mono_ms(),
                    ..Office::default()
                };
                tracing::info!(term = m.current_term, "scheduler took office");
            }
            office.ready
        };
        if ready {
            return true;
        }
        // Decide only on a replica that reflects every earlier term's commits.
        match self.node.read_barrier().await {
            Ok(()) => {
                self.office.lock().ready = true;
                true
            }
            Err(e) => {
                tracing::debug!(error = %e, "scheduler waiting for the read barrier");
                false
            }
        }
    }

    /// The store's registry and active jobs, re-read only when something was applied since.
    fn store_view(&self) -> Result<Arc<StoreView>, CallError> {
        let reader = self.node.reader();
        let storage = |e: broadside_raft_store::Error| CallError::Unavailable(e.to_string());
        let applied = reader.last_applied().map_err(storage)?.map(|id| id.index);
        if let Some(view) = self.view.lock().as_ref().filter(|v| v.applied == applied) {
            return Ok(Arc::clone(view));
        }
        let _rebuilding = self.rebuilding.lock();
        // Another caller may have rebuilt it meanwhile, at this index or a later one.
        if let Some(view) = self.view.lock().as_ref().filter(|v| v.applied >= applied) {
            return Ok(Arc::clone(view));
        }
        let applied = reader.last_applied().map_err(storage)?.map(|id| id.index);
        let workers = all_pages(|p| reader.list_workers(p)).map_err(storage)?;
        let mut jobs = Vec::new();
        for job in all_pages(|p| reader.active_jobs(p)).map_err(storage)? {
            let tasks = all_pages(|p| reader.list_tasks(job.id, p)).map_err(storage)?;
            jobs.push((job, tasks));
        }
        let view = Arc::new(StoreView {
            applied,
            workers,
            jobs,
        });
        *self.view.lock() = Some(Arc::clone(&view));
        Ok(view)
    }

    /// Workers and active jobs as the core sees them.
    pub(crate) fn snapshot(&self) -> Result<(Vec<WorkerInfo>, Vec<JobInfo>), CallError> {
        let view = self.store_view()?;
        let now = mono_ms();
        let mut office = self.office.lock();
        let workers: Vec<WorkerInfo> = view
            .workers
            .iter()
            .map(|w| WorkerInfo {
                last_seen: office.last_seen.get(&w.id).copied(),
                reported: office.reported.get(&w.id).cloned(),
                id: w.id.clone(),
                pool: w.pool.clone(),
                slots: w.slots,
                state: w.state,
            })
            .collect();
        let mut jobs = Vec::with_capacity(view.jobs.len());
        for (job, tasks) in &view.jobs {
            let waiting_since = if job.state == JobState::WaitingForWorkers {
                *office.waiting_since.entry(job.id).or_insert(now)
            } else {
                now
            };
            let policy = serde_json::from_slice::<JobParams>(&job.params)
                .map(|p| p.start)
                .unwrap_or_default();
            jobs.push(JobInfo {
                id: job.id,
                pool: job.pool.clone(),
                state: job.state,
                start_at: job.start_at_ms,
                waiting_since,
                last_reassignment: office.last_reassignment.get(&job.id).copied(),
                policy,
                tasks: tasks
                    .iter()
                    .map(|t| TaskInfo {
                        index: t.index,
                        state: t.state,
                        attempt: t.attempt,
                        worker: t.worker_id.clone(),
                        // Judged from the delivery this leader saw, when it saw one: a claim
                        // whose commit was slow is not an orphan yet.
                        claimed_at: office
                            .delivered
                            .get(&(job.id, t.index, t.attempt))
                            .copied()
                            .or(t.claimed_at_ms),
                    })
                    .collect(),
            });
        }
        Ok((workers, jobs))
    }

    /// Forgets what the office remembers about workers and jobs that are gone.
    fn prune(&self, workers: &[WorkerInfo], jobs: &[JobInfo]) {
        let workers: HashSet<&str> = workers.iter().map(|w| w.id.as_str()).collect();
        let jobs: HashSet<JobId> = jobs.iter().map(|j| j.id).collect();
        let mut office = self.office.lock();
        office.last_seen.retain(|w, _| workers.contains(w.as_str()));
        office.reported.retain(|w, _| workers.contains(w.as_str()));
        office.waiting_since.retain(|j, _| jobs.contains(j));
        office.delivered.retain(|(j, _, _), _| jobs.contains(j));
        office.last_reassignment.retain(|j, _| jobs.contains(j));
    }

    /// One round of decisions.
    async fn tick(&self) {
        if !self.in_office().await {
            return;
        }
        // A leader that cannot hear from a quorum refuses the workers' heartbeats: it must not
        // judge them either (and it records the refusal, which re-arms every timer).
        if self.ensure_leader().is_err() {
            return;
        }
        let (workers, jobs) = match self.snapshot() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "scheduler snapshot failed");
                return;
            }
        };
        self.prune(&workers, &jobs);
        let since = {
            let office = self.office.lock();
            office.since.max(office.refused_at)
        };
        let decisions = decide(&workers, &jobs, mono_ms(), now_ms(), since, &self.timings);
        let mut paused = BTreeMap::new();
        for decision in decisions {
            let command = match decision {
                Decision::MarkWorker {
                    worker,
                    from,
                    state,
                    reason,
                } => {
                    if state == WorkerState::Dead {
                        tracing::warn!(%worker, %reason, "worker declared dead");
                    }
                    Command::SetWorkerState {
                        worker_id: worker,
                        state,
                        reason,
                        expected: Some(from),
                    }
                }
                Decision::Reassign {
                    job,
                    task,
                    attempt,
                    reason,
                    worker_lost,
                } => {
                    self.reassigned(job);
                    tracing::warn!(job, task, attempt, %reason, "reassigning task");
                    Command::ReassignTask {
                        job_id: job,
                        task,
                        attempt,
                        reason,
                        only_if_worker_lost: worker_lost,
                    }
                }
                Decision::Wait { job } => Command::SetJobState {
                    job_id: job,
                    state: JobState::WaitingForWorkers,
                    reason: String::new(),
                },
                Decision::ScheduleStart {
                    job,
                    start_at,
                    partial,
                } => Command::ScheduleStart {
                    job_id: job,
                    start_at_ms: start_at,
                    partial,
                },
                Decision::Fail { job, reason } => Command::SetJobState {
                    job_id: job,
                    state: JobState::Failed,
                    reason,
                },
                Decision::Pause { pool, reason } => {
                    if self.paused(&pool).is_none() {
                        tracing::error!(%pool, %reason, "storm guard");
                    }
                    paused.insert(pool, reason);
                    continue;
                }
            };
            match self.commit(command).await {
                Ok(Response::Rejected { code, message }) => {
                    tracing::debug!(?code, %message, "scheduler decision refused")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "scheduler decision not committed");
                    return;
                }
            }
        }
        self.office.lock().paused = paused;
    }
}
