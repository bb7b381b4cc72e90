//! The worker→master tarpc service, served by the leader (a follower answers `NotLeader`
//! with the leader's address; file chunks are served by any master from its replica).
//!
//! Heartbeats are not Raft writes: they refresh the leader's in-memory liveness, queue
//! progress deltas for the next batch commit, and are answered with acknowledgements (the
//! highest sequence number committed for the attempt, read from the store so that it survives
//! a failover), orders (start, abort, stop) and the leader's clock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use broadside_raft_store::model::{JobState, Task, TaskOutcome, TaskState, WorkerState};
use broadside_raft_store::{Command, ProgressDelta, RejectCode, Response, Sha256};
use broadside_rpc::worker::{
    Ack, Assignment, Chunk, Completion, Delta, Digest, FileRef, Heartbeat, HeartbeatReply, Order,
    Outcome, PullRequest, Registered, Split, TaskPhase, TaskRef, WorkerInfo, MAX_DELTA_BYTES,
};
use broadside_rpc::{CallError, Payload, WorkerRpc};
use tarpc::context::Context;

use crate::node::now_ms;
use crate::scheduler::core::pick;
use crate::scheduler::driver::Scheduler;

/// Longest a pull may be held.
const MAX_PULL_WAIT: Duration = Duration::from_secs(30);
/// How often a held pull looks for work again.
const PULL_RECHECK: Duration = Duration::from_millis(200);
/// How long a completion waits for its final deltas to be folded (a concurrent batch may
/// hold them) before the worker is told to retry; below the worker's call deadline.
const COMPLETE_WAIT: Duration = Duration::from_secs(3);

/// The service object; cloned per request.
#[derive(Clone)]
pub(crate) struct WorkerServer {
    pub(crate) scheduler: Arc<Scheduler>,
}

fn storage(e: broadside_raft_store::Error) -> CallError {
    CallError::Unavailable(e.to_string())
}

/// A state-machine refusal as a call error.
fn refused(code: RejectCode, message: String) -> CallError {
    match code {
        RejectCode::StaleAttempt => CallError::Stale(message),
        RejectCode::Conflict => CallError::Conflict(message),
        RejectCode::BadRequest | RejectCode::NotFound => CallError::BadRequest(message),
    }
}

fn checked(r: Result<Response, CallError>) -> Result<Response, CallError> {
    match r? {
        Response::Rejected { code, message } => Err(refused(code, message)),
        ok => Ok(ok),
    }
}

/// Refuses a report carrying a delta above [`MAX_DELTA_BYTES`]: it could never be committed.
fn check_sizes<'a>(
    deltas: impl IntoIterator<Item = (&'a TaskRef, &'a Delta)>,
) -> Result<(), CallError> {
    for (t, d) in deltas {
        if d.data.0.len() > MAX_DELTA_BYTES {
            return Err(CallError::BadRequest(format!(
                "delta {} of task {}/{} attempt {} is {} bytes; the limit is {MAX_DELTA_BYTES}",
                d.seq,
                t.job_id,
                t.task,
                t.attempt,
                d.data.0.len()
            )));
        }
    }
    Ok(())
}

fn deltas_of(task: &TaskRef, deltas: Vec<Delta>) -> Vec<ProgressDelta> {
    deltas
        .into_iter()
        .map(|d| ProgressDelta {
            job_id: task.job_id,
            task: task.task,
            attempt: task.attempt,
            seq: d.seq,
            delta: d.data.0,
        })
        .collect()
}

impl WorkerServer {
    fn task(&self, t: &TaskRef) -> Result<Option<Task>, CallError> {
        self.scheduler
            .node
            .reader()
            .task(t.job_id, t.task)
            .map_err(storage)
    }

    /// Queues deltas, skipping those the store already folded for this attempt.
    fn queue(&self, task: &TaskRef, deltas: Vec<Delta>, stored: Option<&Task>) {
        let last = stored
            .filter(|s| s.attempt == task.attempt)
            .and_then(|s| s.last_seq)
            .unwrap_or(0);
        self.scheduler
            .queue_progress(deltas_of(task, deltas), |d| d.seq <= last);
    }

    /// The files of an assignment, with their sizes and chunk counts.
    fn file_ref(&self, path: &str, sha: &Sha256) -> Result<FileRef, CallError> {
        let blob = self
            .scheduler
            .node
            .reader()
            .blob(sha)
            .map_err(storage)?
            .ok_or_else(|| CallError::Unavailable(format!("blob of {path} is missing")))?;
        Ok(FileRef {
            path: path.to_owned(),
            sha256: Digest(sha.0),
            size: blob.size,
            chunk_count: blob.chunk_count,
        })
    }

    fn assignment(&self, task: TaskRef) -> Result<Assignment, CallError> {
        let job = self
            .scheduler
            .node
            .reader()
            .job(task.job_id)
            .map_err(storage)?
            .ok_or_else(|| CallError::Conflict(format!("job {} vanished", task.job_id)))?;
        let mut simulation = None;
        let mut files = Vec::new();
        for pinned in &job.files {
            let file = self.file_ref(&pinned.path, &pinned.sha256)?;
            if pinned.path == job.simulation {
                simulation = Some(file);
            } else {
                files.push(file);
            }
        }
        let simulation = simulation
            .ok_or_else(|| CallError::Unavailable(format!("job {} has no simulation", job.id)))?;
        let now = now_ms();
        Ok(Assignment {
            task,
            parallelism: job.parallelism,
            split: match job.split {
                broadside_raft_store::model::SplitMode::Split => Split::Split,
                broadside_raft_store::model::SplitMode::Replicate => Split::Replicate,
            },
            simulation,
            files,
            params: Payload(job.params),
            start_at_ms: job.start_at_ms,
            resume_from_ms: job.start_at_ms.filter(|s| now > *s).map(|s| now - s),
        })
    }
}

impl WorkerRpc for WorkerServer {
    async fn register(self, _: Context, info: WorkerInfo) -> Result<Registered, CallError> {
        self.scheduler.ensure_leader()?;
        checked(
            self.scheduler
                .commit(Command::RegisterWorker {
                    worker_id: info.worker_id.clone(),
                    pool: info.pool,
                    labels: info.labels.into_iter().collect(),
                    slots: info.slots,
                    version: info.version,
                    address: info.address,
                })
                .await,
        )?;
        self.scheduler.heard_from(&info.worker_id);
        // Attempts on record for this worker that it no longer runs are lost: reassign them.
        let (_, jobs) = self.scheduler.snapshot()?;
        for job in &jobs {
            for task in job.tasks.iter().filter(|t| t.is_live()) {
                let current = TaskRef {
                    job_id: job.id,
                    task: task.index,
                    attempt: task.attempt,
                };
                if task.worker.as_deref() == Some(info.worker_id.as_str())
                    && !info.running.contains(&current)
                {
                    self.scheduler.reassigned(job.id);
                    // A refusal means the task moved on already; a failed commit fails the
                    // registration, which the worker retries.
                    self.scheduler
                        .commit(Command::ReassignTask {
                            job_id: job.id,
                            task: task.index,
                            attempt: task.attempt,
                            reason: format!("worker {} restarted without it", info.worker_id),
                            only_if_worker_lost: false,
                        })
                        .await?;
                }
            }
        }
        let t = &self.scheduler.node.config.timings;
        Ok(Registered {
            heartbeat_ms: t.worker_heartbeat.as_millis() as u64,
            lease_ms: t.lease.as_millis() as u64,
            stop_budget_ms: t.stop_budget.as_millis() as u64,
            leader_time_ms: now_ms(),
        })
    }

    async fn pull(self, _: Context, request: PullRequest) -> Result<Option<Assignment>, CallError> {
        let deadline = Instant::now() + Duration::from_millis(request.wait_ms).min(MAX_PULL_WAIT);
        self.scheduler.ensure_leader()?;
        // Liveness is refreshed when the pull arrives, not while it is held: a worker paused
        // during its pull must not look alive.
        self.scheduler.heard_from(&request.worker_id);
        loop {
            self.scheduler.ensure_leader()?;
            if request.free_slots > 0 {
                let (workers, jobs) = self.scheduler.snapshot()?;
                let claiming = self.scheduler.claiming_now();
                if let Some(claim) = pick(&workers, &jobs, &request.worker_id, &claiming) {
                    let _claiming = self.scheduler.claiming((claim.job, claim.task));
                    let claimed = self
                        .scheduler
                        .commit(Command::ClaimTask {
                            job_id: claim.job,
                            task: claim.task,
                            attempt: claim.attempt,
                            worker_id: request.worker_id.clone(),
                        })
                        .await?;
                    if claimed == Response::Ok {
                        let task = TaskRef {
                            job_id: claim.job,
                            task: claim.task,
                            attempt: claim.attempt,
                        };
                        self.scheduler
                            .delivered((task.job_id, task.task, task.attempt));
                        return self.assignment(task).map(Some);
                    }
                    // Lost a race (another claim, a state change): look again at once.
                    continue;
                }
            }
            if Instant::now() + PULL_RECHECK > deadline {
                return Ok(None);
            }
            tokio::time::sleep(PULL_RECHECK).await;
        }
    }

    async fn heartbeat(
        self,
        _: Context,
        heartbeat: Heartbeat,
    ) -> Result<HeartbeatReply, CallError> {
        self.scheduler.ensure_leader()?;
        self.scheduler.count_heartbeat();
        check_sizes(
            heartbeat
                .tasks
                .iter()
                .flat_map(|r| r.deltas.iter().map(move |d| (&r.task, d))),
        )?;
        let registered = self
            .scheduler
            .node
            .reader()
            .worker(&heartbeat.worker_id)
            .map_err(storage)?
            .is_some_and(|w| w.state != WorkerState::Dead);
        if registered {
            self.scheduler.heard_from(&heartbeat.worker_id);
            self.scheduler.reported(
                &heartbeat.worker_id,
                heartbeat
                    .tasks
                    .iter()
                    .map(|r| (r.task.job_id, r.task.task, r.task.attempt)),
            );
        }
        let mut acks = Vec::new();
        let mut orders = Vec::new();
        for report in heartbeat.tasks {
            let t = report.task;
            let stored = self.task(&t)?;
            let Some(task) = stored.clone().filter(|s| {
                s.attempt == t.attempt
                    && s.worker_id.as_deref() == Some(heartbeat.worker_id.as_str())
            }) else {
                // Fenced only by evidence: a later attempt, or this one claimed by another
                // worker. (A replica that has not applied the claim yet says nothing.)
                let superseded = stored.as_ref().is_some_and(|s| {
                    s.attempt > t.attempt
                        || (s.attempt == t.attempt
                            && s.worker_id.as_deref() != Some(heartbeat.worker_id.as_str())
                            && s.worker_id.is_some())
                });
                if superseded || stored.is_none() {
                    orders.push(Order::Stop {
                        task: t,
                        reason: "this attempt is no longer current".into(),
                    });
                }
                continue;
            };
            if !registered {
                // A dead (or forgotten) worker's tasks may be reassigned any moment: nothing
                // may renew its lease. It registers again, listing what it runs.
                continue;
            }
            let job = self
                .scheduler
                .node
                .reader()
                .job(t.job_id)
                .map_err(storage)?;
            // What the attempt measured counts, aborted or not.
            self.queue(&t, report.deltas, Some(&task));
            if let Some(up_to) = task.last_seq {
                acks.push(Ack { task: t, up_to });
            }
            if task.state == TaskState::Aborted
                || job.as_ref().is_some_and(|j| j.state == JobState::Aborted)
            {
                orders.push(Order::Abort {
                    task: t,
                    reason: job.map(|j| j.reason).unwrap_or_default(),
                });
                continue;
            }
            if task.state.is_terminal() {
                continue;
            }
            let job_started = job
                .as_ref()
                .is_some_and(|j| matches!(j.state, JobState::Starting | JobState::Running));
            if report.phase == TaskPhase::Running
                && task.state == TaskState::Assigned
                && job_started
            {
                // In the background: a heartbeat's reply (and the worker's lease) never waits
                // for a Raft write; a refusal as stale reaches the worker as a stop order on
                // its next heartbeat.
                let scheduler = self.scheduler.clone();
                tokio::spawn(async move {
                    let started = scheduler
                        .commit(Command::StartTask {
                            job_id: t.job_id,
                            task: t.task,
                            attempt: t.attempt,
                        })
                        .await;
                    if let Err(e) = started {
                        tracing::debug!(error = %e, "start of a task not recorded yet");
                    }
                });
            }
            if report.phase != TaskPhase::Running {
                if let Some(at_ms) = job.and_then(|j| j.start_at_ms) {
                    orders.push(Order::Start { task: t, at_ms });
                }
            }
        }
        Ok(HeartbeatReply {
            leader_time_ms: now_ms(),
            registered,
            acks,
            orders,
        })
    }

    async fn complete(self, _: Context, completion: Completion) -> Result<(), CallError> {
        self.scheduler.ensure_leader()?;
        self.scheduler.heard_from(&completion.worker_id);
        let t = completion.task;
        let stored = self.task(&t)?;
        if stored.as_ref().is_none_or(|s| s.attempt != t.attempt) {
            return Err(CallError::Stale(format!(
                "task {}/{} attempt {} is no longer current",
                t.job_id, t.task, t.attempt
            )));
        }
        check_sizes(completion.deltas.iter().map(|d| (&t, d)))?;
        // Final deltas first, so that the result and the series agree. A batch being committed
        // concurrently may hold some of them: wait until the watermark covers the last one.
        let final_seq = completion.deltas.iter().map(|d| d.seq).max();
        self.queue(&t, completion.deltas, stored.as_ref());
        let deadline = Instant::now() + COMPLETE_WAIT;
        loop {
            // In a task of its own: a flush abandoned half-way (the worker's call cancelled)
            // would leave its deltas marked as queued, and they would never be folded.
            let scheduler = self.scheduler.clone();
            tokio::spawn(async move { scheduler.flush_progress().await })
                .await
                .map_err(|e| CallError::Unavailable(e.to_string()))??;
            let folded = self.task(&t)?.and_then(|s| s.last_seq).unwrap_or(0);
            if final_seq.is_none_or(|s| folded >= s) {
                break;
            }
            if Instant::now() >= deadline {
                return Err(CallError::Unavailable(format!(
                    "final deltas of task {}/{} not committed yet (up to {folded} of {}); retry",
                    t.job_id,
                    t.task,
                    final_seq.unwrap_or(0)
                )));
            }
            tokio::time::sleep(PULL_RECHECK).await;
        }
        let outcome = match completion.outcome {
            Outcome::Succeeded => TaskOutcome::Succeeded,
            Outcome::Failed(reason) => TaskOutcome::Failed { reason },
        };
        checked(
            self.scheduler
                .commit(Command::CompleteTask {
                    job_id: t.job_id,
                    task: t.task,
                    attempt: t.attempt,
                    outcome,
                    result: completion.result.0,
                })
                .await,
        )
        .map(drop)
    }

    async fn hand_back(
        self,
        _: Context,
        worker_id: String,
        task: TaskRef,
        elapsed_ms: u64,
    ) -> Result<(), CallError> {
        self.scheduler.ensure_leader()?;
        self.scheduler.heard_from(&worker_id);
        self.scheduler.reassigned(task.job_id);
        checked(
            self.scheduler
                .commit(Command::ReassignTask {
                    job_id: task.job_id,
                    task: task.task,
                    attempt: task.attempt,
                    reason: format!("handed back by worker {worker_id} after {elapsed_ms} ms"),
                    only_if_worker_lost: false,
                })
                .await,
        )
        .map(drop)
    }

    /// Any master serves chunks from its own replica. A blob missing here is not an error of
    /// the caller: a task names only files its job pinned, so this replica has not applied
    /// them yet (a lagging follower, a leader just elected): `Unavailable`, ask again.
    async fn fetch_chunk(self, _: Context, sha256: Digest, index: u32) -> Result<Chunk, CallError> {
        let reader = self.scheduler.node.reader();
        let sha = Sha256(sha256.0);
        let blob = reader
            .blob(&sha)
            .map_err(storage)?
            .filter(|b| b.complete)
            .ok_or_else(|| {
                CallError::Unavailable(format!("blob {sha} is not (yet) complete on this master"))
            })?;
        let data = reader
            .blob_chunk(&sha, index)
            .map_err(storage)?
            .ok_or_else(|| CallError::BadRequest(format!("blob {sha} has no chunk {index}")))?;
        Ok(Chunk {
            data: Payload(data),
            chunk_count: blob.chunk_count,
        })
    }
}
