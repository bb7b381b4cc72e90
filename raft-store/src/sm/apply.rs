//! Deterministic application of one command: request-id deduplication, dispatch, projects
//! and workers. Files live in [`super::files`], jobs and tasks in [`super::jobs`].
//!
//! Apply reads no clock and no randomness: every timestamp is the command's `at_ms`, folded
//! into a replicated monotonic clock. A command that breaks a rule is answered with
//! [`Response::Rejected`] and changes nothing except the dedup record, identically on every
//! replica.

use serde::{Deserialize, Serialize};

use super::keys;
use super::tx::Tx;
use super::{access, files, jobs, worker_access};
use crate::command::{Command, RejectCode, Request, Response};
use crate::db::{
    CF_DEDUP, CF_DEDUP_TIME, CF_FILES, CF_JOB_INDEX, CF_PROJECTS, CF_SM_META, CF_WORKERS,
};
use crate::error::Result;
use crate::model::{Project, Worker, WorkerState};
use crate::types::{RequestId, Sha256, UnixMillis};

/// How long a request id is remembered: a retry later than this is applied again.
pub const DEDUP_WINDOW_MS: u64 = 15 * 60 * 1000;

/// At most this many expired dedup records are dropped per applied command.
const DEDUP_PRUNE_PER_APPLY: usize = 64;

/// Remembered outcome of a request id.
#[derive(Serialize, Deserialize)]
struct DedupRecord {
    at_ms: UnixMillis,
    response: Response,
}

/// Applies one client request inside `tx`, at most once per request id.
pub(crate) fn apply_request(tx: &mut Tx<'_>, request: &Request) -> Result<Response> {
    let clock: UnixMillis = tx.get(CF_SM_META, keys::META_CLOCK)?.unwrap_or(0);
    let now = clock.max(request.at_ms());
    tx.now = now;
    tx.put(CF_SM_META, keys::META_CLOCK.to_vec(), &now)?;

    let id = request.request_id();
    if let Some(seen) = tx.get::<DedupRecord>(CF_DEDUP, &keys::dedup(id))? {
        let first: Option<Sha256> = tx.get(CF_DEDUP, &keys::dedup_body(id))?;
        prune_dedup(tx, now)?;
        if let (Some(first), Some(this)) = (first, request.body_sha256()) {
            if first != this {
                return Ok(Response::Rejected {
                    code: RejectCode::KeyReused,
                    message: "this Idempotency-Key was first used with another request; \
                              use a new key for a new request"
                        .to_owned(),
                });
            }
        }
        tracing::debug!(
            request_id = id.0,
            "retried request, answering the first response"
        );
        return Ok(seen.response);
    }

    let audited = match request.actor() {
        Some(_) => access::audit_projects(tx, request.command())?,
        None => Vec::new(),
    };
    let mut response = dispatch(tx, request.command())?;
    if let Response::Rejected { .. } = &response {
        if !tx_keeps_rejected(request.command()) {
            tx.clear();
            tx.put(CF_SM_META, keys::META_CLOCK.to_vec(), &now)?;
        }
    }
    if let Response::Rejected { code, message } = &response {
        tracing::debug!(request_id = id.0, ?code, %message, "command refused");
    } else if let Some(actor) = request.actor() {
        access::audit(tx, actor, request.command(), &audited)?;
    }
    remember(tx, id, now, &mut response)?;
    if let Some(body) = request.body_sha256() {
        tx.put(CF_DEDUP, keys::dedup_body(id), &body)?;
    }
    prune_dedup(tx, now)?;
    Ok(response)
}

/// A failed blob verification deletes the bad chunks although the commit is refused.
fn tx_keeps_rejected(command: &Command) -> bool {
    matches!(command, Command::CommitFile { .. })
}

fn remember(
    tx: &mut Tx<'_>,
    id: RequestId,
    now: UnixMillis,
    response: &mut Response,
) -> Result<()> {
    let record = DedupRecord {
        at_ms: now,
        response: response.clone(),
    };
    tx.put(CF_DEDUP, keys::dedup(id), &record)?;
    tx.put_raw(CF_DEDUP_TIME, keys::dedup_time(now, id), Vec::new());
    Ok(())
}

fn prune_dedup(tx: &mut Tx<'_>, now: UnixMillis) -> Result<()> {
    let cutoff = now.saturating_sub(DEDUP_WINDOW_MS);
    let expired = tx.scan_keys(CF_DEDUP_TIME, &[], DEDUP_PRUNE_PER_APPLY)?;
    for key in expired {
        let at = crate::codec::read_u64("dedup_time key", &key, 0)?;
        if at >= cutoff {
            break;
        }
        let id = key
            .get(8..24)
            .ok_or_else(|| crate::error::Error::corrupt("dedup_time key", "short key"))?;
        let id = RequestId(u128::from_be_bytes(id.try_into().map_err(|_| {
            crate::error::Error::corrupt("dedup_time key", "short key")
        })?));
        tx.delete(CF_DEDUP, keys::dedup(id));
        tx.delete(CF_DEDUP, keys::dedup_body(id));
        tx.delete(CF_DEDUP_TIME, key);
    }
    Ok(())
}

fn dispatch(tx: &mut Tx<'_>, command: &Command) -> Result<Response> {
    match command {
        Command::CreateProject { name, description } => create_project(tx, name, description),
        Command::DeleteProject { name } => delete_project(tx, name),
        Command::PutBlobChunk {
            sha256,
            size,
            chunk_count,
            index,
            data,
        } => files::put_blob_chunk(tx, sha256, *size, *chunk_count, *index, data),
        Command::CommitFile {
            project,
            path,
            kind,
            sha256,
        } => files::commit_file(tx, project, path, *kind, sha256),
        Command::DeleteFile { project, path } => files::delete_file(tx, project, path),
        Command::DropPartialBlobs { created_before_ms } => {
            files::drop_partial_blobs(tx, *created_before_ms)
        }
        Command::RegisterWorker {
            worker_id,
            pool,
            labels,
            slots,
            version,
            address,
        } => {
            let worker = Worker {
                id: worker_id.clone(),
                pool: pool.clone(),
                labels: labels.clone(),
                slots: *slots,
                version: version.clone(),
                address: address.clone(),
                state: WorkerState::Alive,
                reason: String::new(),
                registered_at_ms: tx.now,
                state_since_ms: tx.now,
            };
            register_worker(tx, worker)
        }
        Command::SetWorkerState {
            worker_id,
            state,
            reason,
            expected,
        } => set_worker_state(tx, worker_id, *state, reason, *expected),
        Command::RemoveWorker { worker_id } => remove_worker(tx, worker_id),
        Command::SubmitJob(spec) => jobs::submit(tx, spec),
        Command::SetJobState {
            job_id,
            state,
            reason,
        } => jobs::set_state(tx, *job_id, *state, reason),
        Command::ScheduleStart {
            job_id,
            partial,
            start_at_ms,
        } => jobs::schedule_start(tx, *job_id, *start_at_ms, *partial),
        Command::ClaimTask {
            job_id,
            task,
            attempt,
            worker_id,
        } => jobs::claim(tx, *job_id, *task, *attempt, worker_id, false),
        Command::ClaimTaskBesideItsJob {
            job_id,
            task,
            attempt,
            worker_id,
        } => jobs::claim(tx, *job_id, *task, *attempt, worker_id, true),
        Command::StartTask {
            job_id,
            task,
            attempt,
        } => jobs::start(tx, *job_id, *task, *attempt),
        Command::RecordProgress { deltas } => jobs::record_progress(tx, deltas),
        Command::CompleteTask {
            job_id,
            task,
            attempt,
            outcome,
            result,
        } => jobs::complete(tx, *job_id, *task, *attempt, outcome, result),
        Command::ReassignTask {
            job_id,
            task,
            attempt,
            reason,
            only_if_worker_lost,
        } => jobs::reassign(tx, *job_id, *task, *attempt, reason, *only_if_worker_lost),
        Command::AbortJob { job_id, reason } => jobs::abort(tx, *job_id, reason),
        Command::RetiredPutJobResult { .. } => Ok(Response::Rejected {
            code: RejectCode::BadRequest,
            message: "this command is retired".into(),
        }),
        Command::DeleteJob { job_id } => jobs::delete(tx, *job_id),
        Command::CreateToken(token) => access::create_token(tx, token),
        Command::BootstrapToken(token) => access::bootstrap_token(tx, token),
        Command::RevokeToken { id } => access::revoke_token(tx, id),
        Command::CreateJoinToken(token) => worker_access::create_join_token(tx, token),
        Command::RevokeJoinToken { id } => worker_access::revoke_join_token(tx, id),
        Command::JoinWorker {
            token_id,
            worker_id,
            secret_sha256,
        } => worker_access::join_worker(tx, token_id, worker_id, secret_sha256),
        Command::RevokeWorker { worker_id } => worker_access::revoke_worker(tx, worker_id),
        Command::PutSecret {
            project,
            name,
            value,
        } => access::put_secret(tx, project, name, &value.0),
        Command::DeleteSecret { project, name } => access::delete_secret(tx, project, name),
        Command::SetProjectSettings { project, settings } => {
            access::set_project_settings(tx, project, settings)
        }
    }
}

/// Longest free-text field (reasons, descriptions, versions, addresses).
pub(crate) const MAX_TEXT: usize = 4096;

/// `[A-Za-z0-9_.-]`, 1 to 64 characters: project and pool names.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        && name != "."
        && name != ".."
}

/// A relative `/`-separated path without empty, `.` or `..` segments, backslashes or control
/// characters, at most 1024 bytes (design invariant 7: safe to join after this check).
pub fn valid_path(path: &str) -> bool {
    (1..=1024).contains(&path.len())
        && !path.chars().any(|c| c.is_control() || c == '\\')
        && path
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

/// Printable, 1 to 128 bytes, no `/`: worker ids.
pub fn valid_worker_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && !id.chars().any(|c| c.is_control() || c == '/')
}

pub(crate) fn bad_request(message: impl Into<String>) -> Result<Response> {
    Ok(Response::reject(RejectCode::BadRequest, message))
}

pub(crate) fn not_found(message: impl Into<String>) -> Result<Response> {
    Ok(Response::reject(RejectCode::NotFound, message))
}

pub(crate) fn conflict(message: impl Into<String>) -> Result<Response> {
    Ok(Response::reject(RejectCode::Conflict, message))
}

fn create_project(tx: &mut Tx<'_>, name: &str, description: &str) -> Result<Response> {
    if !valid_name(name) {
        return bad_request(format!("invalid project name {name:?}"));
    }
    if description.len() > MAX_TEXT {
        return bad_request("description too long");
    }
    if tx.exists(CF_PROJECTS, &keys::project(name))? {
        return conflict(format!("project {name} exists"));
    }
    let project = Project {
        name: name.to_owned(),
        description: description.to_owned(),
        created_at_ms: tx.now,
    };
    tx.put(CF_PROJECTS, keys::project(name), &project)?;
    Ok(Response::Ok)
}

fn delete_project(tx: &mut Tx<'_>, name: &str) -> Result<Response> {
    if !tx.exists(CF_PROJECTS, &keys::project(name))? {
        return not_found(format!("no project {name}"));
    }
    let prefix = keys::files_of_project(name);
    if !tx.scan_keys(CF_FILES, &prefix, 1)?.is_empty()
        || !tx.scan_keys(CF_JOB_INDEX, &prefix, 1)?.is_empty()
    {
        return conflict(format!("project {name} still has files or jobs"));
    }
    tx.delete(CF_PROJECTS, keys::project(name));
    access::forget_project(tx, name)?;
    Ok(Response::Ok)
}

fn register_worker(tx: &mut Tx<'_>, worker: Worker) -> Result<Response> {
    if !valid_worker_id(&worker.id) {
        return bad_request(format!("invalid worker id {:?}", worker.id));
    }
    if !valid_name(&worker.pool) {
        return bad_request(format!("invalid pool name {:?}", worker.pool));
    }
    if !(1..=1024).contains(&worker.slots) {
        return bad_request("slots must be 1..=1024");
    }
    if worker.version.len() > MAX_TEXT
        || worker.address.len() > MAX_TEXT
        || worker.labels.len() > 64
    {
        return bad_request("worker description too long");
    }
    let mut worker = worker;
    // A restart does not cancel an operator's drain.
    if let Some(known) = tx.get::<Worker>(CF_WORKERS, &keys::worker(&worker.id))? {
        if known.state == WorkerState::Draining {
            worker.state = WorkerState::Draining;
            worker.reason = known.reason;
            worker.state_since_ms = known.state_since_ms;
        }
    }
    tx.put(CF_WORKERS, keys::worker(&worker.id), &worker)?;
    Ok(Response::Ok)
}

fn set_worker_state(
    tx: &mut Tx<'_>,
    id: &str,
    state: WorkerState,
    reason: &str,
    expected: Option<WorkerState>,
) -> Result<Response> {
    let Some(mut worker) = tx.get::<Worker>(CF_WORKERS, &keys::worker(id))? else {
        return not_found(format!("no worker {id}"));
    };
    if reason.len() > MAX_TEXT {
        return bad_request("reason too long");
    }
    if expected.is_some_and(|e| e != worker.state) {
        return conflict(format!(
            "worker {id} is {:?}, not {:?} any more",
            worker.state,
            expected.unwrap_or(worker.state)
        ));
    }
    if worker.state == state {
        return Ok(Response::Ok);
    }
    if worker.state == WorkerState::Dead {
        return conflict(format!("worker {id} is dead; it must register again"));
    }
    worker.state = state;
    worker.reason = reason.to_owned();
    worker.state_since_ms = tx.now;
    tx.put(CF_WORKERS, keys::worker(id), &worker)?;
    Ok(Response::Ok)
}

fn remove_worker(tx: &mut Tx<'_>, id: &str) -> Result<Response> {
    let Some(worker) = tx.get::<Worker>(CF_WORKERS, &keys::worker(id))? else {
        return not_found(format!("no worker {id}"));
    };
    if !matches!(worker.state, WorkerState::Dead | WorkerState::Draining) {
        return conflict(format!(
            "worker {id} is {:?}; only dead or draining workers are removed",
            worker.state
        ));
    }
    if let Some(task) = jobs::live_tasks_of(tx, id)?.first() {
        return conflict(format!(
            "worker {id} still holds task {} of job {} (attempt {}); reassign it first",
            task.index, task.job_id, task.attempt
        ));
    }
    tx.delete(CF_WORKERS, keys::worker(id));
    Ok(Response::Ok)
}
