//! The worker process: registration, the pull loop, heartbeats, the lease watchdog and the
//! drain (`docs/design.md#pull-protocol`).
//!
//! * Pull: while a slot is free, long-poll the leader for a task; each assignment gets a
//!   [`TaskState`] (listed in heartbeats from that moment) and a runner.
//! * Heartbeat every `h`: every task's phase, progress and unacknowledged deltas; the reply
//!   acknowledges deltas, carries start/abort/stop orders and the leader's clock (the offset
//!   is estimated from the sample with the shortest round trip of the last few).
//! * Lease: the send instant (monotonic) of the last acknowledged heartbeat. When it is older
//!   than `L`, every task's load is stopped within `K` (self-fencing) and the task is handed
//!   back once a leader answers again. No control, no load.
//! * Drain (SIGTERM): stop pulling, stop the load, flush the deltas, hand the tasks back so they
//!   resume elsewhere at once, exit.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use broadside_rpc::worker::{
    Heartbeat, HeartbeatReply, Order, PullRequest, Registered, TaskRef, WorkerInfo,
};
use broadside_rpc::CallError;
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use crate::cache::Cache;
use crate::config::WorkerConfig;
use crate::journal::Journal;
use crate::link::{Link, LinkError};
use crate::outbox::Outbox;
use crate::task::{self, Halt, TaskState};

/// Longest a pull is held by the leader (a drain waits for the pull in flight).
const PULL_WAIT: Duration = Duration::from_secs(5);
/// How often the lease watchdog looks.
const WATCHDOG: Duration = Duration::from_millis(50);
/// Round-trip samples kept for the clock offset.
const OFFSET_SAMPLES: usize = 8;
/// How long a drain waits for tasks to hand back.
const DRAIN_WAIT: Duration = Duration::from_secs(30);

/// Unix milliseconds now.
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Why the worker stopped.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The data directory or the cache is unusable.
    #[error("data directory: {0}")]
    Data(String),
    /// The masters refused the registration, the join or this worker's identity.
    #[error("refused by the masters: {0}")]
    Refused(String),
}

/// State shared by the worker's loops and its tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) id: String,
    pub(crate) config: WorkerConfig,
    pub(crate) link: Link,
    pub(crate) cache: Cache,
    tasks: Mutex<BTreeMap<TaskRef, Arc<TaskState>>>,
    /// Ended attempts' deltas not acknowledged yet.
    outbox: Outbox,
    timings: Mutex<Registered>,
    /// `(round trip, leader − local clock)` of the last heartbeats, in milliseconds.
    offsets: Mutex<VecDeque<(u64, i64)>>,
    /// Why the masters refuse this worker's identity (revoked), once they said so: it takes no
    /// more tasks, its tasks stop with the lease, and it exits.
    refused: Mutex<Option<String>>,
    /// Send instant of the last acknowledged heartbeat (or registration).
    last_ack: Mutex<Instant>,
}

impl Shared {
    /// Heartbeat interval `h`.
    pub(crate) fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.timings.lock().heartbeat_ms.max(10))
    }

    fn lease(&self) -> Duration {
        Duration::from_millis(self.timings.lock().lease_ms)
    }

    /// The stop budget `K`: how long the masters allow a fenced worker to stop its load.
    pub(crate) fn stop_budget(&self) -> Duration {
        Duration::from_millis(self.timings.lock().stop_budget_ms)
    }

    /// Whether no heartbeat was acknowledged for the lease.
    pub(crate) fn lease_expired(&self) -> bool {
        self.last_ack.lock().elapsed() > self.lease()
    }

    /// Deadline of one report call.
    pub(crate) fn rpc_deadline(&self) -> Duration {
        self.heartbeat().max(Duration::from_secs(2)) * 2
    }

    /// Deadline of one heartbeat call: a quarter of the lease (at least `h`), so that a hung
    /// leader costs a heartbeat or two, not the lease.
    fn heartbeat_deadline(&self) -> Duration {
        (self.lease() / 4).max(self.heartbeat())
    }

    /// How long final reports (completion, hand-back) are retried across failovers.
    pub(crate) fn report_patience(&self) -> Duration {
        Duration::from_secs(60)
    }

    /// The leader's clock now, estimated from the heartbeat with the shortest round trip.
    pub(crate) fn leader_now_ms(&self) -> u64 {
        let offset = self
            .offsets
            .lock()
            .iter()
            .min_by_key(|(rtt, _)| *rtt)
            .map_or(0, |(_, o)| *o);
        unix_ms().saturating_add_signed(offset)
    }

    fn clock_sample(&self, sent_local_ms: u64, rtt: Duration, leader_ms: u64) {
        let rtt_ms = rtt.as_millis() as u64;
        let local_mid = sent_local_ms + rtt_ms / 2;
        let offset = leader_ms as i64 - local_mid as i64;
        let mut offsets = self.offsets.lock();
        if offsets.len() == OFFSET_SAMPLES {
            offsets.pop_front();
        }
        offsets.push_back((rtt_ms, offset));
    }

    fn running(&self) -> Vec<Arc<TaskState>> {
        self.tasks.lock().values().cloned().collect()
    }

    fn info(&self) -> WorkerInfo {
        WorkerInfo {
            worker_id: self.id.clone(),
            pool: self.config.pool.clone(),
            labels: self.config.labels.clone(),
            slots: self.config.slots,
            version: crate::VERSION.to_owned(),
            address: self.config.address.clone(),
            running: self.tasks.lock().keys().copied().collect(),
        }
    }

    /// Registers (again), listing the attempts this process runs.
    async fn register(&self, patience: Duration) -> Result<(), LinkError> {
        let sent = Instant::now();
        let sent_local_ms = unix_ms();
        let info = self.info();
        let registered = self
            .link
            .call(patience, self.rpc_deadline(), |c, ctx| {
                let info = info.clone();
                async move { c.register(ctx, info).await }
            })
            .await?;
        let leader = self.link.leader_addr().await;
        tracing::info!(
            worker = %self.id,
            %leader,
            heartbeat_ms = registered.heartbeat_ms,
            lease_ms = registered.lease_ms,
            "registered"
        );
        self.clock_sample(sent_local_ms, sent.elapsed(), registered.leader_time_ms);
        *self.timings.lock() = registered;
        *self.last_ack.lock() = sent;
        Ok(())
    }

    /// Sends every task's unacknowledged deltas until they are acknowledged (bounded).
    pub(crate) async fn flush(&self, state: &TaskState) {
        let deadline = Instant::now() + self.report_patience();
        while state.unacknowledged() > 0
            && !state.is_fenced()
            && !self.is_refused()
            && Instant::now() < deadline
        {
            self.beat().await;
            if state.unacknowledged() > 0 {
                tokio::time::sleep(self.heartbeat() / 2).await;
            }
        }
    }

    /// One heartbeat, and what its reply says.
    async fn beat(&self) {
        let tasks = self.running();
        let heartbeat = Heartbeat {
            worker_id: self.id.clone(),
            sent_at_ms: unix_ms(),
            tasks: tasks.iter().map(|t| t.report()).collect(),
            ended: self.outbox.report(),
        };
        let sent = Instant::now();
        let h = self.heartbeat();
        let reply = self
            .link
            .call(h, self.heartbeat_deadline(), |c, ctx| {
                let heartbeat = heartbeat.clone();
                async move { c.heartbeat(ctx, heartbeat).await }
            })
            .await;
        match reply {
            Ok(reply) => self.apply(reply, &tasks, heartbeat.sent_at_ms, sent).await,
            Err(LinkError::Refused(CallError::Forbidden(why))) => self.refuse(why),
            Err(e) => tracing::debug!(error = %e, "heartbeat not answered"),
        }
    }

    /// Whether the masters refuse this worker's identity: nothing it sends is taken any more.
    pub(crate) fn is_refused(&self) -> bool {
        self.refused.lock().is_some()
    }

    /// Records that the masters refuse this worker's identity (said once in the log).
    fn refuse(&self, why: String) {
        let mut refused = self.refused.lock();
        if refused.is_none() {
            tracing::error!(worker = %self.id, reason = %why, "the masters refuse this worker: no more tasks; running ones stop when the lease runs out");
            *refused = Some(why);
        }
    }

    async fn apply(
        &self,
        reply: HeartbeatReply,
        tasks: &[Arc<TaskState>],
        sent_local_ms: u64,
        sent: Instant,
    ) {
        let by_ref: BTreeMap<TaskRef, &Arc<TaskState>> =
            tasks.iter().map(|t| (t.task, t)).collect();
        // Orders first: a stop is obeyed even from a leader that does not know us.
        for order in reply.orders {
            match order {
                Order::Start { task, at_ms } => {
                    if let Some(t) = by_ref.get(&task) {
                        t.start_at(at_ms);
                    }
                }
                Order::Abort { task, reason } => {
                    if let Some(t) = by_ref.get(&task) {
                        t.halt(Halt::Aborted(reason));
                    }
                }
                Order::Stop { task, reason } => match by_ref.get(&task) {
                    Some(t) => t.halt(Halt::Fenced(reason)),
                    None => self.outbox.forget(task, &reason),
                },
            }
        }
        // Ended attempts are acknowledged whether or not the leader knows this worker.
        for ack in reply.acks.iter().filter(|a| !by_ref.contains_key(&a.task)) {
            self.outbox.ack(ack.task, ack.up_to);
        }
        if !reply.registered {
            tracing::warn!(worker = %self.id, "the leader does not know this worker as alive; registering again");
            if let Err(e) = self.register(self.heartbeat()).await {
                tracing::warn!(error = %e, "registration failed");
            }
            return;
        }
        *self.last_ack.lock() = sent;
        self.clock_sample(sent_local_ms, sent.elapsed(), reply.leader_time_ms);
        for ack in reply.acks {
            if let Some(t) = by_ref.get(&ack.task) {
                t.ack(ack.up_to);
            }
        }
    }

    fn free_slots(&self) -> u32 {
        self.config
            .slots
            .saturating_sub(self.tasks.lock().len() as u32)
    }
}

/// The worker's id: the name its certificate gives it (with TLS), else the one kept in
/// `DATA/worker-id`, made on first start.
pub fn identity(config: &WorkerConfig) -> Result<String, WorkerError> {
    if let Some(broadside_pki::Identity::Worker(name)) = config.security.identity() {
        return Ok(name.clone());
    }
    let data = &config.data;
    let file = data.join("worker-id");
    match std::fs::read_to_string(&file) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(WorkerError::Data(format!("{}: {e}", file.display()))),
    }
    std::fs::create_dir_all(data)
        .map_err(|e| WorkerError::Data(format!("{}: {e}", data.display())))?;
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 64
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        })
        .unwrap_or_else(|| "worker".to_owned());
    let id = format!("{host}-{:08x}", rand::random::<u32>());
    std::fs::write(&file, &id)
        .map_err(|e| WorkerError::Data(format!("{}: {e}", file.display())))?;
    Ok(id)
}

/// Runs a worker until `shutdown` is cancelled, then drains.
pub async fn run(config: WorkerConfig, shutdown: CancellationToken) -> Result<(), WorkerError> {
    let name = identity(&config)?;
    let (config, id) = tokio::select! {
        joined = crate::join::ensure(config, name) => joined?,
        () = shutdown.cancelled() => return Ok(()),
    };
    let deltas_dir = config.data.join("deltas");
    let cache =
        Cache::open(config.data.join("cache")).map_err(|e| WorkerError::Data(e.to_string()))?;
    let shared = Arc::new(Shared {
        id,
        link: Link::new(config.masters.clone(), config.security.clone()),
        config,
        cache,
        tasks: Mutex::new(BTreeMap::new()),
        outbox: Outbox::recover(&deltas_dir),
        timings: Mutex::new(Registered {
            heartbeat_ms: 1000,
            lease_ms: 5000,
            stop_budget_ms: 1000,
            leader_time_ms: 0,
        }),
        offsets: Mutex::new(VecDeque::new()),
        refused: Mutex::new(None),
        last_ack: Mutex::new(Instant::now()),
    });
    // Register, patiently: the masters may still be starting.
    loop {
        match shared.register(Duration::from_secs(30)).await {
            Ok(()) => break,
            Err(LinkError::Refused(e)) => return Err(WorkerError::Refused(e.to_string())),
            Err(e) => tracing::warn!(error = %e, "no leader yet; still trying"),
        }
        if shutdown.is_cancelled() {
            return Ok(());
        }
    }
    let stop_loops = CancellationToken::new();
    let certificates = {
        let stop = stop_loops.clone();
        tokio::spawn(
            shared
                .config
                .security
                .clone()
                .watch(async move { stop.cancelled().await }),
        )
    };
    let beats = tokio::spawn(heartbeats(shared.clone(), stop_loops.clone()));
    let watchdog = tokio::spawn(watchdog(shared.clone(), stop_loops.clone()));
    let mut runners = tokio::task::JoinSet::new();
    let mut outcome = Ok(());
    while !shutdown.is_cancelled() {
        let refused = shared.refused.lock().clone();
        if let Some(why) = refused {
            // Its tasks stop with the lease (no heartbeat is acknowledged any more); then it
            // exits.
            if runners.is_empty() {
                outcome = Err(WorkerError::Refused(why));
                break;
            }
            tokio::select! {
                _ = runners.join_next() => {}
                () = shutdown.cancelled() => break,
            }
            continue;
        }
        if shared.free_slots() == 0 {
            tokio::select! {
                _ = runners.join_next(), if !runners.is_empty() => {}
                () = tokio::time::sleep(shared.heartbeat()) => {}
                () = shutdown.cancelled() => break,
            }
            continue;
        }
        if shared.lease_expired() {
            // A task claimed now would be stopped and handed back at once (and claimed again,
            // in a loop of reassignments): renew the lease first.
            shared.beat().await;
            if shared.lease_expired() {
                tokio::select! {
                    () = tokio::time::sleep(shared.heartbeat() / 2) => {}
                    () = shutdown.cancelled() => break,
                }
            }
            continue;
        }
        let request = PullRequest {
            worker_id: shared.id.clone(),
            free_slots: shared.free_slots(),
            wait_ms: PULL_WAIT.as_millis() as u64,
        };
        // Not cancelled by a shutdown: the leader may have claimed a task for this pull
        // already; an assignment that arrives during the drain is handed back below.
        let pulled = shared
            .link
            .call(
                PULL_WAIT * 2,
                PULL_WAIT + Duration::from_secs(5),
                |c, ctx| {
                    let request = request.clone();
                    async move { c.pull(ctx, request).await }
                },
            )
            .await;
        match pulled {
            Ok(Some(assignment)) => {
                let journal = Journal::new(&deltas_dir, assignment.task);
                let state = TaskState::new(assignment.task, assignment.start_at_ms, Some(journal));
                tracing::info!(task = ?assignment.task, resume_from_ms = ?assignment.resume_from_ms, "task received");
                shared.tasks.lock().insert(assignment.task, state.clone());
                let shared = shared.clone();
                runners.spawn(async move {
                    task::run(shared.clone(), assignment, state.clone()).await;
                    // What it measured and no leader acknowledged yet is kept and delivered.
                    let (deltas, journal) = state.leave();
                    shared.outbox.keep(state.task, deltas, journal);
                    shared.tasks.lock().remove(&state.task);
                });
            }
            Ok(None) => {}
            Err(LinkError::Refused(CallError::Forbidden(why))) => shared.refuse(why),
            Err(e) => {
                tracing::debug!(error = %e, "pull failed");
                tokio::time::sleep(shared.heartbeat()).await;
            }
        }
    }
    // Drain: stop the load, report, hand back.
    tracing::info!(tasks = shared.tasks.lock().len(), "draining");
    for t in shared.running() {
        t.halt(Halt::Drain);
    }
    let _ = tokio::time::timeout(DRAIN_WAIT, async {
        while runners.join_next().await.is_some() {}
    })
    .await;
    // Ended attempts' deltas: a few heartbeats' worth of patience; what is left stays on disk
    // for the next process on this data directory.
    let deadline = Instant::now() + DRAIN_WAIT / 6;
    while shared.outbox.len() > 0 && !shared.is_refused() && Instant::now() < deadline {
        tokio::time::sleep(shared.heartbeat() / 2).await;
    }
    stop_loops.cancel();
    let _ = beats.await;
    let _ = watchdog.await;
    let _ = certificates.await;
    tracing::info!("worker stopped");
    outcome
}

async fn heartbeats(shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        let h = shared.heartbeat();
        tokio::select! {
            () = tokio::time::sleep(h) => shared.beat().await,
            () = stop.cancelled() => return,
        }
    }
}

/// Self-fencing: when no heartbeat was acknowledged for the lease, every task's load stops.
async fn watchdog(shared: Arc<Shared>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(WATCHDOG);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        if shared.lease_expired() {
            let silent = shared.last_ack.lock().elapsed();
            for t in shared.running() {
                if t.halted().is_none() {
                    tracing::error!(task = ?t.task, silent_ms = silent.as_millis() as u64, "lease lost: stopping the load");
                    t.halt(Halt::LeaseLost);
                }
            }
        }
    }
}

/// Where a worker keeps its id, cache and task directories.
pub fn default_data_dir() -> PathBuf {
    PathBuf::from("broadside-worker")
}
