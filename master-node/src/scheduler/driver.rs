//! The scheduler's driver, active on the leader only: every tick it takes office when this
//! node became leader in a new term (after a read barrier), builds a [`Snapshot`](super::core::Snapshot)
//! from the replica and the leader's memory, runs the decision core and commits its decisions
//! through Raft. It also flushes batched progress deltas (`crate::progress`) and, now and then,
//! collects uncommitted blobs (the chunks of an upload interrupted before its commit) once
//! they are a day old.
//!
//! Everything in memory is rebuilt by a new leader: it takes office with every timer re-armed
//! (the failover grace of the core) and reads committed progress back from the store.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use broadside_raft_store::model::{JobState, WorkerState};
use broadside_raft_store::{Command, Response};
use openraft::ServerState;
use tokio_util::sync::CancellationToken;

use super::core::{decide, Clock, Decision};
use super::snapshot::prune;
use crate::app::App;
use crate::node::now_ms;
use crate::office::mono_ms;

/// How often the driver decides.
const TICK: Duration = Duration::from_millis(250);
/// How often buffered progress deltas are committed.
const FLUSH: Duration = Duration::from_millis(500);
/// How often uncommitted blobs are collected.
const COLLECT_EVERY: Duration = Duration::from_secs(600);
/// How old an uncommitted blob must be to be collected: far longer than any upload takes
/// between its first chunk and its commit.
const UNCOMMITTED_BLOB_AGE: Duration = Duration::from_secs(24 * 3600);

/// Runs the driver and the progress flusher until `stop`.
pub(crate) async fn run(app: Arc<App>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut flush = tokio::time::interval(FLUSH);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut collect = tokio::time::interval(COLLECT_EVERY);
    collect.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => decide_once(&app).await,
            _ = flush.tick() => {
                if app.ensure_leader().is_ok() {
                    if let Err(e) = app.flush_progress().await {
                        tracing::warn!(error = %e, "progress batch not committed");
                    }
                }
            }
            _ = collect.tick() => collect_blobs(&app).await,
        }
    }
}

/// Drops uncommitted blobs older than a day.
async fn collect_blobs(app: &App) {
    if app.ensure_leader().is_err() {
        return;
    }
    let created_before_ms = now_ms().saturating_sub(UNCOMMITTED_BLOB_AGE.as_millis() as u64);
    match app
        .propose(Command::DropPartialBlobs { created_before_ms })
        .await
    {
        Ok(Response::BlobsDropped { count }) if count > 0 => {
            tracing::info!(count, "uncommitted blobs collected")
        }
        Ok(_) => {}
        Err(e) => tracing::debug!(error = %e, "blob collection not committed"),
    }
}

/// Takes office when this node became leader in a new term; true when it may decide.
async fn in_office(app: &App) -> bool {
    let m = app.node.raft.metrics().borrow().clone();
    if m.state != ServerState::Leader {
        if app.office.leave_office() {
            app.progress.clear();
        }
        return false;
    }
    if app.office.take_office(m.current_term) {
        tracing::info!(term = m.current_term, "scheduler took office");
    }
    if app.office.is_ready(m.current_term) {
        return true;
    }
    // Decide only on a replica that reflects every earlier term's commits.
    match app.read_barrier().await {
        Ok(()) => {
            app.office.term().ready = true;
            true
        }
        Err(e) => {
            tracing::debug!(error = %e, "scheduler waiting for the read barrier");
            false
        }
    }
}

/// One round of decisions.
async fn decide_once(app: &Arc<App>) {
    if !in_office(app).await {
        return;
    }
    // A leader that cannot hear from a quorum refuses the workers' heartbeats: it must not
    // judge them either (and it records the refusal, which re-arms every timer).
    if app.ensure_leader().is_err() {
        return;
    }
    let snapshot = match app.snapshot().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "scheduler snapshot failed");
            return;
        }
    };
    prune(&app.office, &snapshot);
    let clock = Clock {
        mono: mono_ms(),
        wall: now_ms(),
        office_since: app.office.term().judged_since(),
    };
    let mut paused = BTreeMap::new();
    for decision in decide(&snapshot, clock, &app.timings) {
        let Some(command) = command_of(app, decision, &mut paused) else {
            continue;
        };
        match app.propose(command).await {
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
    app.office.term().paused = paused;
}

/// The command that carries out `decision` (none for a pause, which lives in memory only:
/// it is collected in `paused`).
fn command_of(
    app: &App,
    decision: Decision,
    paused: &mut BTreeMap<String, String>,
) -> Option<Command> {
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
            attempt,
            reason,
            worker_lost,
        } => {
            app.office.reassigned(attempt.job);
            tracing::warn!(
                job = attempt.job,
                task = attempt.task,
                attempt = attempt.attempt,
                %reason,
                "reassigning task"
            );
            Command::ReassignTask {
                job_id: attempt.job,
                task: attempt.task,
                attempt: attempt.attempt,
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
            if app.office.paused(&pool).is_none() {
                tracing::error!(%pool, %reason, "storm guard");
            }
            paused.insert(pool, reason);
            return None;
        }
    };
    Some(command)
}
