//! The worker→master tarpc service, served by the leader (a follower answers `NotLeader`
//! with the leader's address; file chunks are served by any master from its replica).
//! The protocol is `docs/design.md#pull-protocol`.
//!
//! Heartbeats are not Raft writes: they refresh the leader's in-memory liveness, queue
//! progress deltas for the next batch commit, and are answered with acknowledgements (the
//! highest sequence number committed for the attempt, read from the store so that it survives
//! a failover), orders (start, abort, stop) and the leader's clock. What to answer about each
//! task is decided by [`heartbeat::judge`]. Store reads run off the async threads.

mod heartbeat;
mod join;

use std::sync::Arc;
use std::time::{Duration, Instant};

use broadside_raft_store::model::{AttemptRecord, Job, SplitMode, Task, TaskOutcome, WorkerState};
use broadside_raft_store::{all_pages, Command, ProgressDelta, Response, Sha256, StoreReader};
use broadside_rpc::transport::Caller;
use broadside_rpc::worker::{
    Ack, Assignment, Chunk, Completion, Delta, Digest, FileRef, Heartbeat, HeartbeatReply,
    JoinRequest, Joined, Order, Outcome, PullRequest, Registered, Split, TaskRef, TaskSecrets,
    WorkerInfo, MAX_DELTA_BYTES, MAX_ENDED_DELTAS,
};
use broadside_rpc::{CallError, Payload, WorkerRpc};
use tarpc::context::Context;

use self::heartbeat::{judge, judge_ended, Stored};
use crate::app::App;
use crate::callers;
use crate::error::{Error, Result};
use crate::node::now_ms;
use crate::scheduler::core::{pick, AttemptRef};

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
    pub(crate) app: Arc<App>,
    /// Who is calling (every call is checked against the worker it is made as).
    pub(crate) caller: Caller,
}

/// Refuses a report carrying a delta above [`MAX_DELTA_BYTES`]: it could never be committed.
fn check_sizes<'a>(deltas: impl IntoIterator<Item = (&'a TaskRef, &'a Delta)>) -> Result<()> {
    for (t, d) in deltas {
        if d.data.0.len() > MAX_DELTA_BYTES {
            return Err(Error::BadRequest(format!(
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

/// The files of an assignment, with their sizes and chunk counts.
fn file_ref(reader: &StoreReader, path: &str, sha: &Sha256) -> Result<FileRef> {
    let blob = reader
        .blob(sha)?
        .ok_or_else(|| Error::Unavailable(format!("blob of {path} is missing")))?;
    Ok(FileRef {
        path: path.to_owned(),
        sha256: Digest(sha.0),
        size: blob.size,
        chunk_count: blob.chunk_count,
    })
}

/// What a worker needs to run `task` of `job`.
fn assignment(reader: &StoreReader, task: TaskRef) -> Result<Assignment> {
    let job = reader
        .job(task.job_id)?
        .ok_or_else(|| Error::Conflict(format!("job {} vanished", task.job_id)))?;
    let mut simulation = None;
    let mut files = Vec::new();
    for pinned in &job.files {
        let file = file_ref(reader, &pinned.path, &pinned.sha256)?;
        if pinned.path == job.simulation {
            simulation = Some(file);
        } else {
            files.push(file);
        }
    }
    let simulation = simulation
        .ok_or_else(|| Error::Unavailable(format!("job {} has no simulation", job.id)))?;
    let secrets = reader
        .secrets(&job.project)?
        .into_iter()
        .map(|s| (s.name, String::from_utf8_lossy(&s.value.0).into_owned()))
        .collect();
    let targets = reader.project_settings(&job.project)?.targets;
    let now = now_ms();
    Ok(Assignment {
        task,
        parallelism: job.parallelism,
        split: match job.split {
            SplitMode::Split => Split::Split,
            SplitMode::Replicate => Split::Replicate,
        },
        simulation,
        files,
        params: Payload(job.params),
        start_at_ms: job.start_at_ms,
        resume_from_ms: job.start_at_ms.filter(|s| now > *s).map(|s| now - s),
        secrets: TaskSecrets(secrets),
        targets,
    })
}

/// What the replica holds about a heartbeat: whether its worker is registered and not dead,
/// each reported task with its job, and each ended attempt's task and record.
struct HeartbeatFacts {
    registered: bool,
    running: Vec<(Option<Task>, Option<Job>)>,
    ended: Vec<(Option<Task>, Option<AttemptRecord>)>,
}

fn heartbeat_facts(
    reader: &StoreReader,
    worker: &str,
    tasks: &[TaskRef],
    ended: &[TaskRef],
) -> Result<HeartbeatFacts> {
    let registered = reader
        .worker(worker)?
        .is_some_and(|w| w.state != WorkerState::Dead);
    let mut stored = Vec::with_capacity(tasks.len());
    for t in tasks {
        let task = reader.task(t.job_id, t.task)?;
        let job = match &task {
            Some(_) => reader.job(t.job_id)?,
            None => None,
        };
        stored.push((task, job));
    }
    let ended = ended
        .iter()
        .map(|t| {
            Ok((
                reader.task(t.job_id, t.task)?,
                reader.attempt(t.job_id, t.task, t.attempt)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(HeartbeatFacts {
        registered,
        running: stored,
        ended,
    })
}

impl WorkerServer {
    /// The stored task of `t`.
    async fn task(&self, t: TaskRef) -> Result<Option<Task>> {
        self.app
            .worker_read(move |r| Ok(r.task(t.job_id, t.task)?))
            .await
    }

    /// Queues deltas, skipping those the store already folded for this attempt.
    fn queue(&self, task: &TaskRef, deltas: Vec<Delta>, stored: Option<&Task>) {
        let last = stored
            .filter(|s| s.attempt == task.attempt)
            .and_then(|s| s.last_seq)
            .unwrap_or(0);
        self.queue_above(task, deltas, last);
    }

    /// Queues the deltas above the watermark `last`.
    fn queue_above(&self, task: &TaskRef, deltas: Vec<Delta>, last: u64) {
        self.app
            .progress
            .queue(deltas_of(task, deltas), |d| d.seq <= last);
    }

    /// Records in the background that `t` started its load: a heartbeat's reply (and the
    /// worker's lease) never waits for a Raft write; a refusal as stale reaches the worker
    /// as a stop order on its next heartbeat.
    fn record_start(&self, t: TaskRef) {
        let app = self.app.clone();
        tokio::spawn(async move {
            let started = app
                .propose(Command::StartTask {
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

    async fn register(self, info: WorkerInfo) -> Result<Registered> {
        self.app.ensure_leader()?;
        self.app
            .commit(Command::RegisterWorker {
                worker_id: info.worker_id.clone(),
                pool: info.pool,
                labels: info.labels.into_iter().collect(),
                slots: info.slots,
                version: info.version,
                address: info.address,
            })
            .await?;
        self.app.office.heard_from(&info.worker_id);
        // Attempts on record for this worker that it no longer runs are lost: reassign them.
        let snapshot = self.app.snapshot().await?;
        for job in &snapshot.jobs {
            for task in job.tasks.iter().filter(|t| t.is_live_on(&info.worker_id)) {
                let current = job.attempt_of(task);
                let running = info.running.iter().any(|r| AttemptRef::from(*r) == current);
                if running {
                    continue;
                }
                self.app.office.reassigned(job.id);
                // A refusal means the task moved on already; a failed commit fails the
                // registration, which the worker retries.
                self.app
                    .propose(Command::ReassignTask {
                        job_id: job.id,
                        task: task.index,
                        attempt: task.attempt,
                        reason: format!("worker {} restarted without it", info.worker_id),
                        only_if_worker_lost: false,
                    })
                    .await?;
            }
        }
        let t = &self.app.node.config.timings;
        Ok(Registered {
            heartbeat_ms: t.worker_heartbeat.as_millis() as u64,
            lease_ms: t.lease.as_millis() as u64,
            stop_budget_ms: t.stop_budget.as_millis() as u64,
            leader_time_ms: now_ms(),
        })
    }

    async fn pull(self, request: PullRequest) -> Result<Option<Assignment>> {
        let deadline = Instant::now() + Duration::from_millis(request.wait_ms).min(MAX_PULL_WAIT);
        self.app.ensure_leader()?;
        // Liveness is refreshed when the pull arrives, not while it is held: a worker paused
        // during its pull must not look alive.
        self.app.office.heard_from(&request.worker_id);
        loop {
            self.app.ensure_leader()?;
            if request.free_slots > 0 {
                let snapshot = self.app.snapshot().await?;
                let claiming = self.app.office.claiming_now();
                if let Some(claim) = pick(&snapshot, &request.worker_id, &claiming) {
                    let _claiming = self.app.office.claiming((claim.job, claim.task));
                    let claimed = self
                        .app
                        .propose(if claim.beside_its_job {
                            Command::ClaimTaskBesideItsJob {
                                job_id: claim.job,
                                task: claim.task,
                                attempt: claim.attempt,
                                worker_id: request.worker_id.clone(),
                            }
                        } else {
                            Command::ClaimTask {
                                job_id: claim.job,
                                task: claim.task,
                                attempt: claim.attempt,
                                worker_id: request.worker_id.clone(),
                            }
                        })
                        .await?;
                    if claimed == Response::Ok {
                        let task = TaskRef {
                            job_id: claim.job,
                            task: claim.task,
                            attempt: claim.attempt,
                        };
                        self.app.office.delivered(task.into());
                        let assigned = self.app.worker_read(move |r| assignment(r, task)).await?;
                        return Ok(Some(assigned));
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

    async fn heartbeat(self, heartbeat: Heartbeat) -> Result<HeartbeatReply> {
        self.app.ensure_leader()?;
        self.app.office.count_heartbeat();
        check_sizes(
            heartbeat
                .tasks
                .iter()
                .flat_map(|r| r.deltas.iter().map(move |d| (&r.task, d)))
                .chain(
                    heartbeat
                        .ended
                        .iter()
                        .flat_map(|e| e.deltas.iter().map(move |d| (&e.task, d))),
                ),
        )?;
        if let Some(e) = heartbeat
            .ended
            .iter()
            .find(|e| e.deltas.len() > MAX_ENDED_DELTAS)
        {
            return Err(Error::BadRequest(format!(
                "{} deltas of ended attempt {:?}; at most {MAX_ENDED_DELTAS} per heartbeat",
                e.deltas.len(),
                e.task
            )));
        }
        let worker = heartbeat.worker_id.clone();
        let reported: Vec<TaskRef> = heartbeat.tasks.iter().map(|r| r.task).collect();
        let ended: Vec<TaskRef> = heartbeat.ended.iter().map(|e| e.task).collect();
        let facts = {
            let (worker, reported) = (worker.clone(), reported.clone());
            self.app
                .worker_read(move |r| heartbeat_facts(r, &worker, &reported, &ended))
                .await?
        };
        let HeartbeatFacts {
            registered,
            running: stored,
            ended,
        } = facts;
        if registered {
            self.app.office.heard_from(&worker);
            self.app
                .office
                .reported(&worker, reported.iter().map(|t| AttemptRef::from(*t)));
        }
        let mut acks = Vec::new();
        let mut orders = Vec::new();
        for (report, (task, job)) in heartbeat.tasks.into_iter().zip(stored) {
            let t = report.task;
            let stored = Stored {
                task: task.as_ref(),
                job: job.as_ref(),
            };
            let verdict = judge(&worker, registered, t, report.phase, stored);
            if verdict.fold {
                self.queue(&t, report.deltas, task.as_ref());
            }
            if let Some(up_to) = verdict.ack {
                acks.push(Ack { task: t, up_to });
            }
            if verdict.record_start {
                self.record_start(t);
            }
            orders.extend(verdict.order);
        }
        // Attempts the worker no longer runs: whatever they measured counts, late or not, and
        // nothing about them renews anything.
        for (report, (task, attempt)) in heartbeat.ended.into_iter().zip(ended) {
            let t = report.task;
            let verdict = judge_ended(&worker, t, task.as_ref(), attempt.as_ref());
            if let Some(last) = verdict.fold_above {
                self.queue_above(&t, report.deltas, last);
                acks.push(Ack {
                    task: t,
                    up_to: last,
                });
            }
            if verdict.forget {
                orders.push(Order::Stop {
                    task: t,
                    reason: "its job no longer exists".into(),
                });
            }
        }
        Ok(HeartbeatReply {
            leader_time_ms: now_ms(),
            registered,
            acks,
            orders,
        })
    }

    async fn complete(self, completion: Completion) -> Result<()> {
        self.app.ensure_leader()?;
        self.app.office.heard_from(&completion.worker_id);
        let t = completion.task;
        let stored = self.task(t).await?;
        if stored.as_ref().is_none_or(|s| s.attempt != t.attempt) {
            return Err(Error::StaleAttempt(format!(
                "task {}/{} attempt {} is no longer current",
                t.job_id, t.task, t.attempt
            )));
        }
        owned(stored.as_ref(), t, &completion.worker_id)?;
        check_sizes(completion.deltas.iter().map(|d| (&t, d)))?;
        // Final deltas first, so that the result and the series agree. A batch being committed
        // concurrently may hold some of them: wait until the watermark covers the last one.
        let final_seq = completion.deltas.iter().map(|d| d.seq).max();
        self.queue(&t, completion.deltas, stored.as_ref());
        let deadline = Instant::now() + COMPLETE_WAIT;
        loop {
            // In a task of its own: a flush abandoned half-way (the worker's call cancelled)
            // would leave its deltas marked as queued, and they would never be folded.
            let app = self.app.clone();
            tokio::spawn(async move { app.flush_progress().await })
                .await
                .map_err(|e| Error::Unavailable(e.to_string()))??;
            let folded = self.task(t).await?.and_then(|s| s.last_seq).unwrap_or(0);
            if final_seq.is_none_or(|s| folded >= s) {
                break;
            }
            if Instant::now() >= deadline {
                return Err(Error::Unavailable(format!(
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
        self.app
            .commit(Command::CompleteTask {
                job_id: t.job_id,
                task: t.task,
                attempt: t.attempt,
                outcome,
                result: completion.result.0,
            })
            .await
            .map(drop)
    }

    async fn hand_back(self, worker_id: String, task: TaskRef, elapsed_ms: u64) -> Result<()> {
        self.app.ensure_leader()?;
        owned(self.task(task).await?.as_ref(), task, &worker_id)?;
        self.app.office.heard_from(&worker_id);
        self.app.office.reassigned(task.job_id);
        self.app
            .commit(Command::ReassignTask {
                job_id: task.job_id,
                task: task.task,
                attempt: task.attempt,
                reason: format!("handed back by worker {worker_id} after {elapsed_ms} ms"),
                only_if_worker_lost: false,
            })
            .await
            .map(drop)
    }

    /// Any master serves chunks from its own replica. A blob missing here is not an error of
    /// the caller: a task names only files its job pinned, so this replica has not applied
    /// them yet (a lagging follower, a leader just elected): `Unavailable`, ask again.
    async fn fetch_chunk(
        self,
        caller: Option<String>,
        sha256: Digest,
        index: u32,
    ) -> Result<Chunk> {
        let sha = Sha256(sha256.0);
        self.app
            .chunk_read(move |reader| {
                if let Some(worker) = &caller {
                    if !pinned_for(reader, worker, &sha)? {
                        // This replica may not have applied the assignment yet: a worker may
                        // ask again, another master may know it.
                        return Err(Error::Unavailable(format!(
                            "no task of worker {worker} pins blob {sha} (as far as this \
                             master knows)"
                        )));
                    }
                }
                let blob = reader.blob(&sha)?.filter(|b| b.complete).ok_or_else(|| {
                    Error::Unavailable(format!("blob {sha} is not (yet) complete on this master"))
                })?;
                let data = reader
                    .blob_chunk(&sha, index)?
                    .ok_or_else(|| Error::BadRequest(format!("blob {sha} has no chunk {index}")))?;
                Ok(Chunk {
                    data: Payload(data),
                    chunk_count: blob.chunk_count,
                })
            })
            .await
    }
}

/// Refuses a call about attempt `t` from another worker than the one that claimed it.
fn owned(stored: Option<&Task>, t: TaskRef, worker: &str) -> Result<()> {
    match stored {
        Some(s) if s.attempt == t.attempt && s.worker_id.as_deref() != Some(worker) => {
            Err(Error::Forbidden(format!(
                "task {}/{} attempt {} is not worker {worker}'s",
                t.job_id, t.task, t.attempt
            )))
        }
        _ => Ok(()),
    }
}

/// Whether worker `worker` holds a task of an active job that pinned blob `sha`: an
/// authenticated worker fetches only the files its own tasks need.
fn pinned_for(reader: &StoreReader, worker: &str, sha: &Sha256) -> Result<bool> {
    for job in all_pages(|page| reader.active_jobs(page))? {
        if !job.files.iter().any(|f| f.sha256 == *sha) {
            continue;
        }
        let tasks = all_pages(|page| reader.list_tasks(job.id, page))?;
        if tasks.iter().any(|t| t.worker_id.as_deref() == Some(worker)) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The tarpc service: each call checked against its caller, answered with the master's error
/// mapped onto the wire once.
impl WorkerRpc for WorkerServer {
    async fn register(self, _: Context, info: WorkerInfo) -> Result<Registered, CallError> {
        let bound = callers::worker(&self.app, &self.caller, &info.worker_id).await?;
        if let Some(pool) = bound.filter(|p| *p != info.pool) {
            return Err(Error::Forbidden(format!(
                "worker {:?} joined pool {pool:?} and may not serve pool {:?}",
                info.worker_id, info.pool
            ))
            .into());
        }
        Ok(WorkerServer::register(self, info).await?)
    }

    async fn pull(self, _: Context, request: PullRequest) -> Result<Option<Assignment>, CallError> {
        let (app, caller, worker) = (
            self.app.clone(),
            self.caller.clone(),
            request.worker_id.clone(),
        );
        callers::worker(&app, &caller, &worker).await?;
        let assignment = WorkerServer::pull(self, request).await?;
        // A long poll may outlast a revocation: a revoked worker gets no task (what it claimed
        // is reassigned when it stays silent) and none of its project's secrets.
        callers::worker(&app, &caller, &worker).await?;
        Ok(assignment)
    }

    async fn heartbeat(
        self,
        _: Context,
        heartbeat: Heartbeat,
    ) -> Result<HeartbeatReply, CallError> {
        callers::worker(&self.app, &self.caller, &heartbeat.worker_id).await?;
        Ok(WorkerServer::heartbeat(self, heartbeat).await?)
    }

    async fn complete(self, _: Context, completion: Completion) -> Result<(), CallError> {
        callers::worker(&self.app, &self.caller, &completion.worker_id).await?;
        Ok(WorkerServer::complete(self, completion).await?)
    }

    async fn hand_back(
        self,
        _: Context,
        worker_id: String,
        task: TaskRef,
        elapsed_ms: u64,
    ) -> Result<(), CallError> {
        callers::worker(&self.app, &self.caller, &worker_id).await?;
        Ok(WorkerServer::hand_back(self, worker_id, task, elapsed_ms).await?)
    }

    async fn fetch_chunk(self, _: Context, sha256: Digest, index: u32) -> Result<Chunk, CallError> {
        let worker = callers::any_worker(&self.app, &self.caller).await?;
        Ok(WorkerServer::fetch_chunk(self, worker, sha256, index).await?)
    }

    async fn join(self, _: Context, request: JoinRequest) -> Result<Joined, CallError> {
        Ok(join::join(&self.app, request).await?)
    }
}
