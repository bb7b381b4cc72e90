//! Key layout of the state machine's column families.

use crate::codec::{put_str, put_u32, put_u64};
use crate::types::{Attempt, JobId, RequestId, Sha256, UnixMillis};

/// `sm_meta` keys replicated through snapshots.
pub(crate) const META_CLOCK: &[u8] = b"clock";
/// Next job id to allocate.
pub(crate) const META_NEXT_JOB: &[u8] = b"next_job_id";
/// Next audit sequence number.
pub(crate) const META_NEXT_AUDIT: &[u8] = b"next_audit_seq";
/// `sm_meta` keys local to a node (not in snapshots).
pub(crate) const META_LAST_APPLIED: &[u8] = b"last_applied";
/// Last applied membership.
pub(crate) const META_MEMBERSHIP: &[u8] = b"membership";
/// Set while a snapshot is being installed (its metadata).
pub(crate) const META_INSTALLING: &[u8] = b"installing";

/// Replicated `sm_meta` keys.
pub(crate) const REPLICATED_META: [&[u8]; 3] = [META_CLOCK, META_NEXT_JOB, META_NEXT_AUDIT];

pub(crate) fn project(name: &str) -> Vec<u8> {
    name.as_bytes().to_vec()
}

/// Prefix of every version of every file of a project.
pub(crate) fn files_of_project(project: &str) -> Vec<u8> {
    let mut k = Vec::new();
    put_str(&mut k, project);
    k
}

/// Prefix of every version of `project/path`.
pub(crate) fn file_versions(project: &str, path: &str) -> Vec<u8> {
    let mut k = files_of_project(project);
    put_str(&mut k, path);
    k
}

pub(crate) fn file(project: &str, path: &str, version: u64) -> Vec<u8> {
    let mut k = file_versions(project, path);
    put_u64(&mut k, version);
    k
}

pub(crate) fn blob(sha: &Sha256) -> Vec<u8> {
    sha.0.to_vec()
}

pub(crate) fn blob_chunk(sha: &Sha256, index: u32) -> Vec<u8> {
    let mut k = sha.0.to_vec();
    put_u32(&mut k, index);
    k
}

pub(crate) fn worker(id: &str) -> Vec<u8> {
    id.as_bytes().to_vec()
}

pub(crate) fn job(id: JobId) -> Vec<u8> {
    id.to_be_bytes().to_vec()
}

pub(crate) fn job_index(project: &str, id: JobId) -> Vec<u8> {
    let mut k = files_of_project(project);
    put_u64(&mut k, id);
    k
}

pub(crate) fn task(job: JobId, index: u32) -> Vec<u8> {
    let mut k = job.to_be_bytes().to_vec();
    put_u32(&mut k, index);
    k
}

pub(crate) fn progress(job: JobId, task: u32, attempt: Attempt, seq: u64) -> Vec<u8> {
    let mut k = self::task(job, task);
    put_u32(&mut k, attempt);
    put_u64(&mut k, seq);
    k
}

/// Attempt `attempt` of task `task` of `job` (its record in `attempts`).
pub(crate) fn attempt(job: JobId, task: u32, attempt: Attempt) -> Vec<u8> {
    let mut k = self::task(job, task);
    put_u32(&mut k, attempt);
    k
}

/// Result of task `index` of `job`.
pub(crate) fn task_result(job: JobId, index: u32) -> Vec<u8> {
    let mut k = job.to_be_bytes().to_vec();
    k.push(b't');
    put_u32(&mut k, index);
    k
}

pub(crate) fn dedup(id: RequestId) -> Vec<u8> {
    id.0.to_be_bytes().to_vec()
}

/// The digest of the request body a request id was first applied with (beside its record).
pub(crate) fn dedup_body(id: RequestId) -> Vec<u8> {
    let mut k = dedup(id);
    k.push(b'b');
    k
}

pub(crate) fn dedup_time(at: UnixMillis, id: RequestId) -> Vec<u8> {
    let mut k = at.to_be_bytes().to_vec();
    k.extend_from_slice(&id.0.to_be_bytes());
    k
}

pub(crate) fn token(id: &str) -> Vec<u8> {
    id.as_bytes().to_vec()
}

/// Prefix of the join tokens in `CF_WORKER_ACCESS`.
pub(crate) const JOIN_TOKENS: &[u8] = b"j";
/// Prefix of the worker identities in `CF_WORKER_ACCESS`.
pub(crate) const WORKER_IDENTITIES: &[u8] = b"w";

pub(crate) fn join_token(id: &str) -> Vec<u8> {
    [JOIN_TOKENS, id.as_bytes()].concat()
}

pub(crate) fn worker_identity(worker_id: &str) -> Vec<u8> {
    [WORKER_IDENTITIES, worker_id.as_bytes()].concat()
}

/// Prefix of a project's secrets (and of its audit index entries).
pub(crate) fn of_project(project: &str) -> Vec<u8> {
    files_of_project(project)
}

pub(crate) fn secret(project: &str, name: &str) -> Vec<u8> {
    let mut k = of_project(project);
    put_str(&mut k, name);
    k
}

pub(crate) fn audit(seq: u64) -> Vec<u8> {
    seq.to_be_bytes().to_vec()
}

pub(crate) fn audit_index(project: &str, seq: u64) -> Vec<u8> {
    let mut k = of_project(project);
    put_u64(&mut k, seq);
    k
}
