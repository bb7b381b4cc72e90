//! Job and task commands: submission with file pins, claims, the coordinated start, attempt
//! fencing, idempotent progress folding, completion, reassignment, abort and deletion.

use std::collections::BTreeSet;

use super::apply::{
    bad_request, conflict, not_found, valid_name, valid_path, valid_worker_id, MAX_TEXT,
};
use super::files::{latest_version, pin, unpin};
use super::keys;
use super::tx::Tx;
use crate::codec::read_u64;
use crate::command::{JobSpec, ProgressDelta, RejectCode, Response};
use crate::db::{
    CF_ACTIVE_JOBS, CF_ATTEMPTS, CF_JOBS, CF_JOB_INDEX, CF_PROGRESS, CF_PROJECTS, CF_RESULTS,
    CF_SM_META, CF_TASKS, CF_WORKERS,
};
use crate::error::Result;
use crate::model::{
    AttemptEnd, AttemptRecord, Job, JobState, PinnedFile, ProgressRecord, ResultRecord, Task,
    TaskOutcome, TaskState, Worker, WorkerState,
};
use crate::types::{Attempt, JobId, UnixMillis};

/// Most tasks one job may have.
pub const MAX_PARALLELISM: u32 = 10_000;
/// Most files one job may pin.
pub const MAX_PINNED_FILES: usize = 1_000;
/// Most deltas in one progress batch.
pub const MAX_BATCH_DELTAS: usize = 10_000;

fn stale(message: impl Into<String>) -> Result<Response> {
    Ok(Response::reject(RejectCode::StaleAttempt, message))
}

fn load_job(tx: &Tx<'_>, id: JobId) -> Result<Option<Job>> {
    tx.get(CF_JOBS, &keys::job(id))
}

fn load_task(tx: &Tx<'_>, job: JobId, index: u32) -> Result<Option<Task>> {
    tx.get(CF_TASKS, &keys::task(job, index))
}

fn save_job(tx: &mut Tx<'_>, job: &Job) -> Result<()> {
    tx.put(CF_JOBS, keys::job(job.id), job)
}

fn save_task(tx: &mut Tx<'_>, task: &Task) -> Result<()> {
    tx.put(CF_TASKS, keys::task(task.job_id, task.index), task)
}

fn load_attempt(
    tx: &Tx<'_>,
    job: JobId,
    index: u32,
    attempt: Attempt,
) -> Result<Option<AttemptRecord>> {
    tx.get(CF_ATTEMPTS, &keys::attempt(job, index, attempt))
}

fn save_attempt(tx: &mut Tx<'_>, job: JobId, record: &AttemptRecord) -> Result<()> {
    tx.put(
        CF_ATTEMPTS,
        keys::attempt(job, record.task, record.attempt),
        record,
    )
}

/// Records the end of `task`'s current attempt (if it was claimed), its watermark kept so that
/// late deltas continue from it.
fn end_attempt(tx: &mut Tx<'_>, task: &Task, end: AttemptEnd, reason: &str) -> Result<()> {
    let Some(mut record) = load_attempt(tx, task.job_id, task.index, task.attempt)? else {
        return Ok(());
    };
    if record.has_ended() {
        return Ok(());
    }
    record.ended = Some((tx.now, end));
    record.reason = reason.chars().take(MAX_TEXT).collect();
    record.last_seq = task.last_seq.unwrap_or(0);
    record.seq_at_end = record.last_seq;
    save_attempt(tx, task.job_id, &record)
}

fn tasks_of(tx: &Tx<'_>, job: JobId) -> Result<Vec<Task>> {
    Ok(tx
        .scan::<Task>(CF_TASKS, &keys::job(job), usize::MAX)?
        .into_iter()
        .map(|(_, t)| t)
        .collect())
}

/// The tasks of active jobs whose current attempt belongs to `worker` and is not finished.
pub(crate) fn live_tasks_of(tx: &Tx<'_>, worker: &str) -> Result<Vec<Task>> {
    let mut live = Vec::new();
    for key in tx.scan_keys(CF_ACTIVE_JOBS, &[], usize::MAX)? {
        let job = read_u64("active job key", &key, 0)?;
        live.extend(
            tasks_of(tx, job)?
                .into_iter()
                .filter(|t| !t.state.is_terminal() && t.worker_id.as_deref() == Some(worker)),
        );
    }
    Ok(live)
}

pub(crate) fn submit(tx: &mut Tx<'_>, spec: &JobSpec) -> Result<Response> {
    if !valid_name(&spec.project) || !valid_name(&spec.pool) {
        return bad_request("invalid project or pool name");
    }
    if spec.name.len() > MAX_TEXT || spec.params.len() > (1 << 20) {
        return bad_request("job name or parameters too long");
    }
    if !(1..=MAX_PARALLELISM).contains(&spec.parallelism) {
        return bad_request(format!("parallelism must be 1..={MAX_PARALLELISM}"));
    }
    if spec.files.len() > MAX_PINNED_FILES {
        return bad_request("too many files");
    }
    if !tx.exists(CF_PROJECTS, &keys::project(&spec.project))? {
        return not_found(format!("no project {}", spec.project));
    }
    let mut paths = vec![spec.simulation.as_str()];
    let mut seen = BTreeSet::from([spec.simulation.as_str()]);
    paths.extend(
        spec.files
            .iter()
            .map(String::as_str)
            .filter(|p| seen.insert(*p)),
    );
    let mut pinned = Vec::with_capacity(paths.len());
    for path in paths {
        if !valid_path(path) {
            return bad_request(format!("invalid path {path:?}"));
        }
        match latest_version(tx, &spec.project, path)? {
            Some(version) if !version.deleted => {
                pin(tx, &version)?;
                pinned.push(PinnedFile {
                    path: path.to_owned(),
                    version: version.version,
                    sha256: version.sha256,
                });
            }
            _ => return not_found(format!("no file {}/{path}", spec.project)),
        }
    }
    let id: JobId = tx.get(CF_SM_META, keys::META_NEXT_JOB)?.unwrap_or(1);
    tx.put(CF_SM_META, keys::META_NEXT_JOB.to_vec(), &(id + 1))?;
    let job = Job {
        id,
        project: spec.project.clone(),
        name: spec.name.clone(),
        simulation: spec.simulation.clone(),
        pool: spec.pool.clone(),
        parallelism: spec.parallelism,
        split: spec.split,
        params: spec.params.clone(),
        files: pinned,
        state: JobState::Queued,
        reason: String::new(),
        start_at_ms: None,
        submitted_at_ms: tx.now,
        finished_at_ms: None,
        reassignments: 0,
    };
    save_job(tx, &job)?;
    tx.put_raw(CF_JOB_INDEX, keys::job_index(&job.project, id), Vec::new());
    tx.put_raw(CF_ACTIVE_JOBS, keys::job(id), Vec::new());
    for index in 0..spec.parallelism {
        let task = Task {
            job_id: id,
            index,
            state: TaskState::Pending,
            attempt: 1,
            worker_id: None,
            claimed_at_ms: None,
            started_at_ms: None,
            finished_at_ms: None,
            last_seq: None,
            deltas: 0,
            reason: String::new(),
        };
        save_task(tx, &task)?;
    }
    Ok(Response::JobSubmitted { job_id: id })
}

/// Ends a job: terminal state, and its unfinished tasks aborted.
fn finish_job(tx: &mut Tx<'_>, job: &mut Job, state: JobState, reason: &str) -> Result<()> {
    job.state = state;
    job.reason = reason.to_owned();
    job.finished_at_ms = Some(tx.now);
    save_job(tx, job)?;
    tx.delete(CF_ACTIVE_JOBS, keys::job(job.id));
    for mut task in tasks_of(tx, job.id)? {
        if !task.state.is_terminal() {
            end_attempt(tx, &task, AttemptEnd::Stopped, reason)?;
            task.state = TaskState::Aborted;
            task.reason = reason.to_owned();
            task.finished_at_ms = Some(tx.now);
            save_task(tx, &task)?;
        }
    }
    Ok(())
}

pub(crate) fn set_state(
    tx: &mut Tx<'_>,
    id: JobId,
    state: JobState,
    reason: &str,
) -> Result<Response> {
    let Some(mut job) = load_job(tx, id)? else {
        return not_found(format!("no job {id}"));
    };
    if reason.len() > MAX_TEXT {
        return bad_request("reason too long");
    }
    if job.state.is_terminal() {
        return conflict(format!("job {id} is {:?}", job.state));
    }
    match state {
        JobState::Queued | JobState::WaitingForWorkers
            if matches!(job.state, JobState::Queued | JobState::WaitingForWorkers) =>
        {
            job.state = state;
            job.reason = reason.to_owned();
            save_job(tx, &job)?;
        }
        JobState::Failed => finish_job(tx, &mut job, JobState::Failed, reason)?,
        _ => {
            return conflict(format!(
                "job {id}: {:?} -> {state:?} is not a manual transition",
                job.state
            ))
        }
    }
    Ok(Response::Ok)
}

pub(crate) fn schedule_start(
    tx: &mut Tx<'_>,
    id: JobId,
    start_at_ms: UnixMillis,
    partial: bool,
) -> Result<Response> {
    let Some(mut job) = load_job(tx, id)? else {
        return not_found(format!("no job {id}"));
    };
    if !matches!(job.state, JobState::Queued | JobState::WaitingForWorkers) {
        return conflict(format!("job {id} is {:?}", job.state));
    }
    let tasks = tasks_of(tx, id)?;
    let waiting =
        |t: &&Task| t.state != TaskState::Assigned && !(partial && t.state == TaskState::Pending);
    if let Some(task) = tasks.iter().find(waiting) {
        return conflict(format!(
            "task {} of job {id} is {:?}",
            task.index, task.state
        ));
    }
    if !tasks.iter().any(|t| t.state == TaskState::Assigned) {
        return conflict(format!("no task of job {id} is claimed"));
    }
    job.state = JobState::Starting;
    job.start_at_ms = Some(start_at_ms);
    save_job(tx, &job)?;
    Ok(Response::Ok)
}

/// Loads a job and a task and checks the attempt fence.
fn fenced(
    tx: &Tx<'_>,
    id: JobId,
    index: u32,
    attempt: Attempt,
) -> Result<Result<(Job, Task), Response>> {
    let Some(job) = load_job(tx, id)? else {
        return Ok(Err(not_found(format!("no job {id}"))?));
    };
    let Some(task) = load_task(tx, id, index)? else {
        return Ok(Err(not_found(format!("no task {index} in job {id}"))?));
    };
    if task.attempt != attempt {
        let message = format!(
            "task {id}/{index}: attempt {attempt} is stale, current is {}",
            task.attempt
        );
        return Ok(Err(stale(message)?));
    }
    Ok(Ok((job, task)))
}

/// Claims `attempt` of task `index` for `worker_id`: slots always bound it; a worker runs at
/// most one task of a job unless `beside_its_job` (a reassigned task of a job whose option
/// allows it).
pub(crate) fn claim(
    tx: &mut Tx<'_>,
    id: JobId,
    index: u32,
    attempt: Attempt,
    worker_id: &str,
    beside_its_job: bool,
) -> Result<Response> {
    if beside_its_job && attempt < 2 {
        return bad_request("only a reassigned task may be claimed beside its job's other tasks");
    }
    if !valid_worker_id(worker_id) {
        return bad_request("invalid worker id");
    }
    let (job, mut task) = match fenced(tx, id, index, attempt)? {
        Ok(found) => found,
        Err(refused) => return Ok(refused),
    };
    if job.state.is_terminal() || task.state != TaskState::Pending {
        return conflict(format!(
            "task {id}/{index} is {:?} in a {:?} job",
            task.state, job.state
        ));
    }
    let Some(worker) = tx.get::<Worker>(CF_WORKERS, &keys::worker(worker_id))? else {
        return not_found(format!("no worker {worker_id}"));
    };
    if worker.state != WorkerState::Alive || worker.pool != job.pool {
        return conflict(format!(
            "worker {worker_id} is {:?} in pool {}, job needs pool {}",
            worker.state, worker.pool, job.pool
        ));
    }
    // The scheduler's choice is made on a snapshot; the invariants are enforced here.
    let holding = live_tasks_of(tx, worker_id)?;
    if holding.len() >= worker.slots as usize {
        return conflict(format!(
            "worker {worker_id} already runs {} task(s) in {} slot(s)",
            holding.len(),
            worker.slots
        ));
    }
    if let Some(same) = holding
        .iter()
        .find(|t| t.job_id == id)
        .filter(|_| !beside_its_job)
    {
        return conflict(format!(
            "worker {worker_id} already runs task {} of job {id}",
            same.index
        ));
    }
    task.state = TaskState::Assigned;
    task.worker_id = Some(worker_id.to_owned());
    task.claimed_at_ms = Some(tx.now);
    save_task(tx, &task)?;
    let record = AttemptRecord {
        task: index,
        attempt,
        worker_id: worker_id.to_owned(),
        claimed_at_ms: tx.now,
        started_at_ms: None,
        ended: None,
        reason: String::new(),
        last_seq: 0,
        seq_at_end: 0,
        late_deltas: 0,
        late_between_ms: None,
    };
    save_attempt(tx, id, &record)?;
    Ok(Response::Ok)
}

pub(crate) fn start(tx: &mut Tx<'_>, id: JobId, index: u32, attempt: Attempt) -> Result<Response> {
    let (mut job, mut task) = match fenced(tx, id, index, attempt)? {
        Ok(found) => found,
        Err(refused) => return Ok(refused),
    };
    if task.state == TaskState::Running {
        return Ok(Response::Ok);
    }
    if task.state != TaskState::Assigned
        || !matches!(job.state, JobState::Starting | JobState::Running)
    {
        return conflict(format!(
            "task {id}/{index} is {:?} in a {:?} job",
            task.state, job.state
        ));
    }
    task.state = TaskState::Running;
    task.started_at_ms = Some(tx.now);
    save_task(tx, &task)?;
    if let Some(mut record) = load_attempt(tx, id, index, attempt)? {
        record.started_at_ms = Some(tx.now);
        save_attempt(tx, id, &record)?;
    }
    if job.state == JobState::Starting {
        job.state = JobState::Running;
        save_job(tx, &job)?;
    }
    Ok(Response::Ok)
}

/// Where a delta goes: its attempt's watermark, and whether it arrives after the attempt ended.
enum Fold {
    /// The task's current attempt, still running: the task's watermark advances.
    Current(Task),
    /// The current attempt after it ended (its job aborted, say), or an attempt superseded by
    /// a reassignment: the delta counts in the job's results, and nothing else changes.
    Late(Task, AttemptRecord),
}

fn fold_of(tx: &Tx<'_>, d: &ProgressDelta) -> Result<Option<Fold>> {
    let Some(task) = load_task(tx, d.job_id, d.task)? else {
        return Ok(None);
    };
    let current = task.attempt == d.attempt && task.state != TaskState::Pending;
    if current && !task.state.is_terminal() {
        return Ok(Some(Fold::Current(task)));
    }
    if !current && d.attempt >= task.attempt {
        return Ok(None);
    }
    let record = load_attempt(tx, d.job_id, d.task, d.attempt)?;
    Ok(record
        .filter(AttemptRecord::has_ended)
        .map(|r| Fold::Late(task, r)))
}

pub(crate) fn record_progress(tx: &mut Tx<'_>, deltas: &[ProgressDelta]) -> Result<Response> {
    if deltas.len() > MAX_BATCH_DELTAS {
        return bad_request(format!("more than {MAX_BATCH_DELTAS} deltas"));
    }
    let (mut applied, mut late, mut duplicates, mut gaps) = (0u32, 0u32, 0u32, 0u32);
    let mut refused: Vec<(JobId, u32, Attempt)> = Vec::new();
    for d in deltas {
        let Some(fold) = fold_of(tx, d)? else {
            let who = (d.job_id, d.task, d.attempt);
            if !refused.contains(&who) {
                refused.push(who);
            }
            continue;
        };
        let folded = match &fold {
            Fold::Current(task) => task.last_seq.unwrap_or(0),
            Fold::Late(_, record) => record.last_seq,
        };
        if d.seq <= folded {
            duplicates += 1;
            continue;
        }
        if d.seq != folded + 1 {
            gaps += 1;
            continue;
        }
        let key = keys::progress(d.job_id, d.task, d.attempt, d.seq);
        let record = ProgressRecord {
            task: d.task,
            attempt: d.attempt,
            seq: d.seq,
            committed_at_ms: tx.now,
            delta: d.delta.clone(),
        };
        tx.put(CF_PROGRESS, key, &record)?;
        match fold {
            Fold::Current(mut task) => {
                task.deltas += 1;
                task.last_seq = Some(d.seq);
                save_task(tx, &task)?;
                applied += 1;
            }
            Fold::Late(mut task, mut attempt) => {
                // The task's count of folded deltas keys cached reports; its watermark and
                // state belong to the current attempt and stay as they are.
                task.deltas += 1;
                if task.attempt == d.attempt {
                    task.last_seq = Some(d.seq);
                }
                save_task(tx, &task)?;
                attempt.last_seq = d.seq;
                attempt.late_deltas += 1;
                let first = attempt.late_between_ms.map_or(tx.now, |(first, _)| first);
                attempt.late_between_ms = Some((first, tx.now));
                save_attempt(tx, d.job_id, &attempt)?;
                late += 1;
            }
        }
    }
    Ok(Response::ProgressRecorded {
        applied,
        late,
        duplicates,
        gaps,
        refused,
    })
}

pub(crate) fn complete(
    tx: &mut Tx<'_>,
    id: JobId,
    index: u32,
    attempt: Attempt,
    outcome: &TaskOutcome,
    result: &[u8],
) -> Result<Response> {
    let (mut job, mut task) = match fenced(tx, id, index, attempt)? {
        Ok(found) => found,
        Err(refused) => return Ok(refused),
    };
    let state = match outcome {
        TaskOutcome::Succeeded => TaskState::Succeeded,
        TaskOutcome::Failed { .. } => TaskState::Failed,
    };
    if task.state == state {
        return Ok(Response::Ok);
    }
    if !matches!(task.state, TaskState::Assigned | TaskState::Running) {
        return conflict(format!("task {id}/{index} is {:?}", task.state));
    }
    task.state = state;
    task.finished_at_ms = Some(tx.now);
    if let TaskOutcome::Failed { reason } = outcome {
        task.reason = reason.chars().take(MAX_TEXT).collect();
    }
    save_task(tx, &task)?;
    let end = match outcome {
        TaskOutcome::Succeeded => AttemptEnd::Succeeded,
        TaskOutcome::Failed { .. } => AttemptEnd::Failed,
    };
    let reason = task.reason.clone();
    end_attempt(tx, &task, end, &reason)?;
    let record = ResultRecord {
        attempt,
        committed_at_ms: tx.now,
        data: result.to_vec(),
    };
    tx.put(CF_RESULTS, keys::task_result(id, index), &record)?;

    // A task that failed before the coordinated start was scheduled: the start waits for every
    // task to be ready, so it would never come. The job fails now and its other tasks stop.
    if task.state == TaskState::Failed && job.start_at_ms.is_none() && !job.state.is_terminal() {
        let reason = format!("task {index} failed before the start: {}", task.reason);
        finish_job(tx, &mut job, JobState::Failed, &reason)?;
        return Ok(Response::Ok);
    }
    let tasks = tasks_of(tx, id)?;
    if !job.state.is_terminal() && tasks.iter().all(|t| t.state.is_terminal()) {
        match tasks.iter().find(|t| t.state == TaskState::Failed) {
            Some(failed) => {
                let reason = format!("task {} failed: {}", failed.index, failed.reason);
                finish_job(tx, &mut job, JobState::Failed, &reason)?;
            }
            None => finish_job(tx, &mut job, JobState::Completed, "")?,
        }
    }
    Ok(Response::Ok)
}

pub(crate) fn reassign(
    tx: &mut Tx<'_>,
    id: JobId,
    index: u32,
    attempt: Attempt,
    reason: &str,
    only_if_worker_lost: bool,
) -> Result<Response> {
    let (mut job, mut task) = match fenced(tx, id, index, attempt)? {
        Ok(found) => found,
        Err(refused) => return Ok(refused),
    };
    if job.state.is_terminal() || !matches!(task.state, TaskState::Assigned | TaskState::Running) {
        return conflict(format!(
            "task {id}/{index} is {:?} in a {:?} job",
            task.state, job.state
        ));
    }
    if only_if_worker_lost {
        if let Some(worker_id) = task.worker_id.as_deref() {
            let worker = tx.get::<Worker>(CF_WORKERS, &keys::worker(worker_id))?;
            if let Some(w) = worker.filter(|w| w.state != WorkerState::Dead) {
                return conflict(format!(
                    "worker {worker_id} of task {id}/{index} is {:?} again",
                    w.state
                ));
            }
        }
    }
    end_attempt(tx, &task, AttemptEnd::Reassigned, reason)?;
    task.state = TaskState::Pending;
    task.attempt += 1;
    task.worker_id = None;
    task.claimed_at_ms = None;
    task.started_at_ms = None;
    task.last_seq = None;
    task.reason = reason.chars().take(MAX_TEXT).collect();
    save_task(tx, &task)?;
    job.reassignments += 1;
    save_job(tx, &job)?;
    Ok(Response::TaskReassigned {
        attempt: task.attempt,
    })
}

pub(crate) fn abort(tx: &mut Tx<'_>, id: JobId, reason: &str) -> Result<Response> {
    let Some(mut job) = load_job(tx, id)? else {
        return not_found(format!("no job {id}"));
    };
    if job.state == JobState::Aborted {
        return Ok(Response::Ok);
    }
    if job.state.is_terminal() {
        return conflict(format!("job {id} is {:?}", job.state));
    }
    let reason: String = reason.chars().take(MAX_TEXT).collect();
    finish_job(tx, &mut job, JobState::Aborted, &reason)?;
    Ok(Response::Ok)
}

pub(crate) fn delete(tx: &mut Tx<'_>, id: JobId) -> Result<Response> {
    let Some(job) = load_job(tx, id)? else {
        return not_found(format!("no job {id}"));
    };
    if !job.state.is_terminal() {
        return conflict(format!("job {id} is {:?}; abort it first", job.state));
    }
    for file in &job.files {
        unpin(tx, &job.project, &file.path, file.version)?;
    }
    tx.delete(CF_JOBS, keys::job(id));
    tx.delete(CF_JOB_INDEX, keys::job_index(&job.project, id));
    tx.delete_prefix(CF_TASKS, &keys::job(id));
    tx.delete_prefix(CF_PROGRESS, &keys::job(id));
    tx.delete_prefix(CF_RESULTS, &keys::job(id));
    tx.delete_prefix(CF_ATTEMPTS, &keys::job(id));
    Ok(Response::Ok)
}
