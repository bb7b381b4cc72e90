//! Snapshots for the decision core: the registry and the active jobs as read from the local
//! replica, annotated with the leader's memory ([`Office`]).
//!
//! Reading every active job's tasks costs; the store part is cached and read again only when
//! the replica applied something since (one rebuild at a time: concurrent callers wait for it
//! rather than each reading the store). Blocking: call it off the async threads.

use std::collections::BTreeMap;
use std::sync::Arc;

use broadside_api::{JobParams, ReassignTo};
use broadside_raft_store::model::{Job, JobState, Task, TaskState, Worker};
use broadside_raft_store::{all_pages, StoreReader};
use parking_lot::Mutex;

use super::core::{AttemptRef, JobInfo, Snapshot, TaskInfo, WorkerInfo};
use crate::error::Result;
use crate::office::{mono_ms, Office};

/// A task a worker runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RunningTask {
    /// Its job's project.
    pub(crate) project: String,
    /// Job.
    pub(crate) job: u64,
    /// Task index.
    pub(crate) task: u32,
    /// Attempt.
    pub(crate) attempt: u32,
}

/// The registry and the active jobs at one applied index.
struct StoreView {
    applied: Option<u64>,
    workers: Vec<Worker>,
    jobs: Vec<(Job, Vec<Task>)>,
}

/// The cached store part of snapshots.
#[derive(Default)]
pub(crate) struct Snapshots {
    /// The last view read from the store.
    view: Mutex<Option<Arc<StoreView>>>,
    /// Held while the view is rebuilt.
    rebuilding: Mutex<()>,
}

impl Snapshots {
    /// Workers and active jobs as the core sees them, now.
    pub(crate) fn take(&self, reader: &StoreReader, office: &Office) -> Result<Snapshot> {
        let view = self.store_view(reader)?;
        Ok(annotate(&view, office))
    }

    /// The tasks each worker runs (claimed by it, not finished), by worker id.
    pub(crate) fn running(
        &self,
        reader: &StoreReader,
    ) -> Result<BTreeMap<String, Vec<RunningTask>>> {
        let view = self.store_view(reader)?;
        let mut running: BTreeMap<String, Vec<RunningTask>> = BTreeMap::new();
        for (job, tasks) in &view.jobs {
            for task in tasks {
                let claimed = matches!(task.state, TaskState::Assigned | TaskState::Running);
                if let (true, Some(worker)) = (claimed, &task.worker_id) {
                    running
                        .entry(worker.clone())
                        .or_default()
                        .push(RunningTask {
                            project: job.project.clone(),
                            job: job.id,
                            task: task.index,
                            attempt: task.attempt,
                        });
                }
            }
        }
        Ok(running)
    }

    /// The store's registry and active jobs, re-read only when something was applied since.
    fn store_view(&self, reader: &StoreReader) -> Result<Arc<StoreView>> {
        let applied = reader.last_applied()?.map(|id| id.index);
        if let Some(view) = self.view.lock().as_ref().filter(|v| v.applied == applied) {
            return Ok(Arc::clone(view));
        }
        let _rebuilding = self.rebuilding.lock();
        // Another caller may have rebuilt it meanwhile, at this index or a later one.
        if let Some(view) = self.view.lock().as_ref().filter(|v| v.applied >= applied) {
            return Ok(Arc::clone(view));
        }
        let applied = reader.last_applied()?.map(|id| id.index);
        let workers = all_pages(|p| reader.list_workers(p))?;
        let mut jobs = Vec::new();
        for job in all_pages(|p| reader.active_jobs(p))? {
            let tasks = all_pages(|p| reader.list_tasks(job.id, p))?;
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
}

/// The view with what only this leader knows: liveness clocks, heartbeats' contents,
/// deliveries, waiting and reassignment times.
fn annotate(view: &StoreView, office: &Office) -> Snapshot {
    let now = mono_ms();
    let mut term = office.term();
    let workers = view
        .workers
        .iter()
        .map(|w| WorkerInfo {
            last_seen: term.last_seen.get(&w.id).copied(),
            reported: term.reported.get(&w.id).cloned(),
            id: w.id.clone(),
            pool: w.pool.clone(),
            slots: w.slots,
            state: w.state,
        })
        .collect();
    let mut jobs = Vec::with_capacity(view.jobs.len());
    for (job, tasks) in &view.jobs {
        let waiting_since = if job.state == JobState::WaitingForWorkers {
            *term.waiting_since.entry(job.id).or_insert(now)
        } else {
            now
        };
        let params = serde_json::from_slice::<JobParams>(&job.params).unwrap_or_default();
        jobs.push(JobInfo {
            id: job.id,
            pool: job.pool.clone(),
            state: job.state,
            start_at: job.start_at_ms,
            waiting_since,
            last_reassignment: term.last_reassignment.get(&job.id).copied(),
            policy: params.start,
            share_workers: params.reassign_to == ReassignTo::AnyFreeSlot,
            tasks: tasks
                .iter()
                .map(|t| TaskInfo {
                    index: t.index,
                    state: t.state,
                    attempt: t.attempt,
                    worker: t.worker_id.clone(),
                    // Judged from the delivery this leader saw, when it saw one: a claim whose
                    // commit was slow is not an orphan yet.
                    claimed_at: term
                        .delivered
                        .get(&AttemptRef {
                            job: job.id,
                            task: t.index,
                            attempt: t.attempt,
                        })
                        .copied()
                        .or(t.claimed_at_ms),
                })
                .collect(),
        });
    }
    Snapshot { workers, jobs }
}

/// Forgets what the office remembers about workers and jobs that are gone.
pub(crate) fn prune(office: &Office, snapshot: &Snapshot) {
    let workers: std::collections::HashSet<&str> =
        snapshot.workers.iter().map(|w| w.id.as_str()).collect();
    let jobs: std::collections::HashSet<u64> = snapshot.jobs.iter().map(|j| j.id).collect();
    let mut term = office.term();
    term.last_seen.retain(|w, _| workers.contains(w.as_str()));
    term.reported.retain(|w, _| workers.contains(w.as_str()));
    term.waiting_since.retain(|j, _| jobs.contains(j));
    term.delivered.retain(|a, _| jobs.contains(&a.job));
    term.last_reassignment.retain(|j, _| jobs.contains(j));
}
