//! The replicated command set: what the masters agree on through Raft.
//!
//! It lives in this crate, not in `rpc/`, because it is the *log format*: only the state
//! machine interprets it and only `master-node` proposes it, and its compatibility rules are
//! those of data on disk (a log written today is replayed by tomorrow's binary). Wire types for
//! workers and REST clients belong to `rpc/` and are translated into commands by the master.
//!
//! [`Request`] is versioned: a build that reads a variant it does not know fails to decode the
//! log entry and stops with a storage error rather than skipping the command and diverging. New
//! variants are only proposed once every master runs a build that knows them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{
    Actor, FileKind, JobState, JoinToken, ProjectSettings, SplitMode, TaskOutcome, Token,
    WorkerState,
};
use crate::types::{Attempt, JobId, RequestId, Sha256, UnixMillis, WorkerId};

/// Largest encoded [`Request`] a leader may propose: a blob chunk of
/// [`MAX_CHUNK_BYTES`](crate::MAX_CHUNK_BYTES) plus its envelope, or a progress batch. The
/// master checks it before proposing, so that a batch of log entries always fits a network
/// message.
pub const MAX_ENTRY_BYTES: usize = (1 << 20) + (64 << 10);

/// A replicated write, as stored in the Raft log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Format 1.
    V1(RequestV1),
    /// Format 2: format 1 with who made the write (for the audit log).
    V2(RequestV2),
}

/// Format 2 of a replicated write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestV2 {
    /// The client request id: a retried write with the same id is applied once.
    pub request_id: RequestId,
    /// The proposing leader's wall clock; the only "now" apply ever uses.
    pub at_ms: UnixMillis,
    /// What to do.
    pub command: Command,
    /// Who asked for it: an accepted write with an actor is recorded in the audit log.
    pub actor: Option<Actor>,
    /// Digest of the client's request (method, path, body) when it came with an idempotency
    /// key: a later request with the same request id and another digest is refused
    /// ([`RejectCode::KeyReused`]) instead of answered with the first one's response.
    pub body_sha256: Option<Sha256>,
}

/// Format 1 of a replicated write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestV1 {
    /// The client request id: a retried write with the same id is applied once.
    pub request_id: RequestId,
    /// The proposing leader's wall clock; the only "now" apply ever uses.
    pub at_ms: UnixMillis,
    /// What to do.
    pub command: Command,
}

impl Request {
    /// A write in the current format.
    pub fn new(request_id: RequestId, at_ms: UnixMillis, command: Command) -> Self {
        Request::V1(RequestV1 {
            request_id,
            at_ms,
            command,
        })
    }

    /// Size of this request once encoded in a log entry; a leader proposes only requests of
    /// at most [`MAX_ENTRY_BYTES`].
    pub fn encoded_len(&self) -> crate::Result<usize> {
        crate::codec::encoded_len(self)
    }

    /// A write made for `actor` (recorded in the audit log once accepted), from a client
    /// request whose digest is `body_sha256` (see [`RequestV2::body_sha256`]).
    pub fn by(
        request_id: RequestId,
        at_ms: UnixMillis,
        command: Command,
        actor: Option<Actor>,
        body_sha256: Option<Sha256>,
    ) -> Self {
        Request::V2(RequestV2 {
            request_id,
            at_ms,
            command,
            actor,
            body_sha256,
        })
    }

    /// The client request id.
    pub fn request_id(&self) -> RequestId {
        match self {
            Request::V1(r) => r.request_id,
            Request::V2(r) => r.request_id,
        }
    }

    /// The proposer's time.
    pub fn at_ms(&self) -> UnixMillis {
        match self {
            Request::V1(r) => r.at_ms,
            Request::V2(r) => r.at_ms,
        }
    }

    /// The command.
    pub fn command(&self) -> &Command {
        match self {
            Request::V1(r) => &r.command,
            Request::V2(r) => &r.command,
        }
    }

    /// The digest of the client request it came from, if it says.
    pub fn body_sha256(&self) -> Option<Sha256> {
        match self {
            Request::V1(_) => None,
            Request::V2(r) => r.body_sha256,
        }
    }

    /// Who made the write, if it says.
    pub fn actor(&self) -> Option<&Actor> {
        match self {
            Request::V1(_) => None,
            Request::V2(r) => r.actor.as_ref(),
        }
    }
}

/// A job submission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// Project.
    pub project: String,
    /// Display name.
    pub name: String,
    /// Path of the simulation file; its latest version is pinned.
    pub simulation: String,
    /// Other files to pin (latest versions at apply time).
    pub files: Vec<String>,
    /// Worker pool.
    pub pool: String,
    /// Number of tasks (1..=[`MAX_PARALLELISM`](crate::MAX_PARALLELISM)).
    pub parallelism: u32,
    /// Split mode.
    pub split: SplitMode,
    /// Opaque parameters for the master and the workers.
    #[serde(with = "serde_bytes")]
    pub params: Vec<u8>,
}

/// One progress delta in a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressDelta {
    /// Job.
    pub job_id: JobId,
    /// Task index.
    pub task: u32,
    /// Attempt that produced it.
    pub attempt: Attempt,
    /// Sequence number within the attempt (the worker numbers its deltas).
    pub seq: u64,
    /// Opaque delta bytes.
    #[serde(with = "serde_bytes")]
    pub delta: Vec<u8>,
}

/// The commands of format 1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Creates a project.
    CreateProject {
        /// Name.
        name: String,
        /// Free text.
        description: String,
    },
    /// Deletes a project that has no files and no jobs.
    DeleteProject {
        /// Name.
        name: String,
    },
    /// Stores chunk `index` of the blob `sha256` (idempotent; a no-op once the blob is complete).
    PutBlobChunk {
        /// Content address of the whole blob.
        sha256: Sha256,
        /// Total blob size.
        size: u64,
        /// Number of chunks of the blob.
        chunk_count: u32,
        /// This chunk's index.
        index: u32,
        /// The bytes.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// Commits a new version of `project/path` pointing at a blob whose chunks are all stored.
    CommitFile {
        /// Project.
        project: String,
        /// Relative path.
        path: String,
        /// Kind.
        kind: FileKind,
        /// Blob address.
        sha256: Sha256,
    },
    /// Deletes every version of a path; pinned versions are kept (hidden) until unpinned.
    DeleteFile {
        /// Project.
        project: String,
        /// Relative path.
        path: String,
    },
    /// Drops blobs no file version refers to — the chunks of an upload that never committed
    /// its file (a blob is complete only once a commit verified it; a complete blob whose last
    /// reference goes is dropped at once) — whose first chunk is older than
    /// `created_before_ms`. The leader proposes it now and then.
    DropPartialBlobs {
        /// Cut-off.
        created_before_ms: UnixMillis,
    },
    /// Registers (or re-registers) a worker; it becomes alive.
    RegisterWorker {
        /// Stable id.
        worker_id: WorkerId,
        /// Pool.
        pool: String,
        /// Labels.
        labels: BTreeMap<String, String>,
        /// Task slots.
        slots: u32,
        /// Software version.
        version: String,
        /// Address.
        address: String,
    },
    /// Records a liveness transition decided by the leader (not every heartbeat).
    SetWorkerState {
        /// Worker.
        worker_id: WorkerId,
        /// New state (a dead worker comes back only by registering).
        state: WorkerState,
        /// Why.
        reason: String,
        /// Applied only if the worker is in this state now (refused as `Conflict` otherwise):
        /// the leader's liveness decisions are taken on a snapshot and must not overwrite a
        /// drain or a re-registration committed since. `None` = unconditional (operators).
        expected: Option<WorkerState>,
    },
    /// Forgets a dead or draining worker (the master reassigns its tasks first).
    RemoveWorker {
        /// Worker.
        worker_id: WorkerId,
    },
    /// Submits a job; its tasks are created pending with attempt 1.
    SubmitJob(JobSpec),
    /// Moves a job between queued and waiting-for-workers, or fails it.
    SetJobState {
        /// Job.
        job_id: JobId,
        /// `Queued`, `WaitingForWorkers` or `Failed`.
        state: JobState,
        /// Why.
        reason: String,
    },
    /// Sets the coordinated start instant once every task is claimed (or, with `partial`, once
    /// at least one is: the others start when claimed, resumed at their offset).
    ScheduleStart {
        /// Job.
        job_id: JobId,
        /// The cluster instant all tasks start at.
        start_at_ms: UnixMillis,
        /// Start without every task claimed (the job's `on_timeout: start` policy).
        partial: bool,
    },
    /// A worker claims a pending task for its current attempt.
    ClaimTask {
        /// Job.
        job_id: JobId,
        /// Task index.
        task: u32,
        /// The attempt being claimed (must be the task's current one).
        attempt: Attempt,
        /// Claiming worker.
        worker_id: WorkerId,
    },
    /// The worker of the current attempt started the load.
    StartTask {
        /// Job.
        job_id: JobId,
        /// Task index.
        task: u32,
        /// Attempt (fencing token).
        attempt: Attempt,
    },
    /// A batch of progress deltas folded by the leader. Each attempt's deltas are folded in
    /// sequence order only (`seq` = the attempt's `last_seq + 1`, starting at 1): a delta
    /// already folded is a duplicate, one after a gap is skipped (the worker resends it). So
    /// `last_seq` is a contiguous watermark that is safe to acknowledge. Deltas of an attempt
    /// that ended (superseded by a reassignment, or stopped with its job) are late: folded the
    /// same way against the attempt's own watermark, into the job's results only — never into
    /// the task's lease or state. Deltas of an attempt never claimed, or of a job deleted, are
    /// refused.
    RecordProgress {
        /// Deltas, any jobs and tasks.
        deltas: Vec<ProgressDelta>,
    },
    /// The worker of the current attempt finished; its final result is stored.
    CompleteTask {
        /// Job.
        job_id: JobId,
        /// Task index.
        task: u32,
        /// Attempt (fencing token).
        attempt: Attempt,
        /// Outcome.
        outcome: TaskOutcome,
        /// Final result bytes.
        #[serde(with = "serde_bytes")]
        result: Vec<u8>,
    },
    /// Puts a lost task back to pending with the next attempt number.
    ReassignTask {
        /// Job.
        job_id: JobId,
        /// Task index.
        task: u32,
        /// The lost attempt (refused if the task has moved on).
        attempt: Attempt,
        /// Why.
        reason: String,
        /// Refused (`Conflict`) unless the attempt's worker is dead or unregistered now: a
        /// liveness decision taken on a snapshot must not take the task from a worker that
        /// registered again since.
        only_if_worker_lost: bool,
    },
    /// Aborts a job and its unfinished tasks.
    AbortJob {
        /// Job.
        job_id: JobId,
        /// Why.
        reason: String,
    },
    /// Retired (a merged job result was never stored: results are built from the deltas). It
    /// keeps its place so that the commands after it keep their encoding; applying it is
    /// refused.
    #[doc(hidden)]
    RetiredPutJobResult {
        /// Job.
        job_id: JobId,
        /// Result bytes.
        #[serde(with = "serde_bytes")]
        result: Vec<u8>,
    },
    /// Deletes a finished job with its tasks, progress and results, releasing its pins.
    DeleteJob {
        /// Job.
        job_id: JobId,
    },
    /// Creates a token (refused when its id exists, or a project it names does not).
    CreateToken(Token),
    /// Revokes a token: every master refuses it once it applied this.
    RevokeToken {
        /// Token id.
        id: String,
    },
    /// Creates the first admin token of a cluster; refused once any token exists.
    BootstrapToken(Token),
    /// Sets a project's secret.
    PutSecret {
        /// Project.
        project: String,
        /// Name.
        name: String,
        /// Value.
        value: crate::model::SecretBytes,
    },
    /// Deletes a project's secret.
    DeleteSecret {
        /// Project.
        project: String,
        /// Name.
        name: String,
    },
    /// Replaces a project's settings.
    SetProjectSettings {
        /// Project.
        project: String,
        /// Settings.
        settings: ProjectSettings,
    },
    /// Creates a join token (refused when its id exists).
    CreateJoinToken(JoinToken),
    /// Revokes a join token and every worker identity it gave.
    RevokeJoinToken {
        /// Join token id.
        id: String,
    },
    /// Binds `worker_id` to a secret, in exchange for a valid join token (refused when the id
    /// is bound already, or the token is not valid at the command's instant).
    JoinWorker {
        /// The join token presented.
        token_id: String,
        /// The worker id asked for.
        worker_id: WorkerId,
        /// SHA-256 of the secret the worker will present.
        secret_sha256: Sha256,
    },
    /// Revokes a worker's identity: every later call as this worker is refused.
    RevokeWorker {
        /// Worker id.
        worker_id: WorkerId,
    },
    /// A worker claims a reassigned task of a job it already runs another task of (the job's
    /// `reassign_to: any_free_slot` option, decided by the leader); slots still bound it.
    ClaimTaskBesideItsJob {
        /// Job.
        job_id: JobId,
        /// Task index.
        task: u32,
        /// The attempt being claimed (must be the task's current one, after the first).
        attempt: Attempt,
        /// Claiming worker.
        worker_id: WorkerId,
    },
}

impl Command {
    /// What the audit log says about this command: its kind, its project, what it concerned
    /// (never a secret's value nor a token's secret).
    pub fn audit_summary(&self) -> (&'static str, Option<&str>, String) {
        match self {
            Command::CreateProject { name, .. } => ("create_project", Some(name), String::new()),
            Command::DeleteProject { name } => ("delete_project", Some(name), String::new()),
            Command::PutBlobChunk { sha256, index, .. } => {
                ("put_blob_chunk", None, format!("{sha256}#{index}"))
            }
            Command::CommitFile { project, path, .. } => {
                ("commit_file", Some(project), path.clone())
            }
            Command::DeleteFile { project, path } => ("delete_file", Some(project), path.clone()),
            Command::DropPartialBlobs { .. } => ("drop_partial_blobs", None, String::new()),
            Command::RegisterWorker { worker_id, .. } => {
                ("register_worker", None, worker_id.clone())
            }
            Command::SetWorkerState {
                worker_id, state, ..
            } => ("set_worker_state", None, format!("{worker_id} {state:?}")),
            Command::RemoveWorker { worker_id } => ("remove_worker", None, worker_id.clone()),
            Command::SubmitJob(spec) => {
                ("submit_job", Some(&spec.project), spec.simulation.clone())
            }
            Command::SetJobState { job_id, .. } => ("set_job_state", None, job_id.to_string()),
            Command::ScheduleStart { job_id, .. } => ("schedule_start", None, job_id.to_string()),
            Command::ClaimTask { job_id, task, .. }
            | Command::ClaimTaskBesideItsJob { job_id, task, .. } => {
                ("claim_task", None, format!("{job_id}/{task}"))
            }
            Command::StartTask { job_id, task, .. } => {
                ("start_task", None, format!("{job_id}/{task}"))
            }
            Command::RecordProgress { .. } => ("record_progress", None, String::new()),
            Command::CompleteTask { job_id, task, .. } => {
                ("complete_task", None, format!("{job_id}/{task}"))
            }
            Command::ReassignTask { job_id, task, .. } => {
                ("reassign_task", None, format!("{job_id}/{task}"))
            }
            Command::AbortJob { job_id, .. } => ("abort_job", None, job_id.to_string()),
            Command::RetiredPutJobResult { job_id, .. } => ("retired", None, job_id.to_string()),
            Command::DeleteJob { job_id } => ("delete_job", None, job_id.to_string()),
            Command::CreateToken(t) | Command::BootstrapToken(t) => {
                ("create_token", None, format!("{} ({})", t.id, t.name))
            }
            Command::RevokeToken { id } => ("revoke_token", None, id.clone()),
            Command::CreateJoinToken(t) => (
                "create_join_token",
                None,
                format!("{} ({}, pool {})", t.id, t.name, t.pool),
            ),
            Command::RevokeJoinToken { id } => ("revoke_join_token", None, id.clone()),
            Command::JoinWorker {
                token_id,
                worker_id,
                ..
            } => ("join_worker", None, format!("{worker_id} with {token_id}")),
            Command::RevokeWorker { worker_id } => ("revoke_worker", None, worker_id.clone()),
            Command::PutSecret { project, name, .. } => ("put_secret", Some(project), name.clone()),
            Command::DeleteSecret { project, name } => {
                ("delete_secret", Some(project), name.clone())
            }
            Command::SetProjectSettings { project, .. } => {
                ("set_project_settings", Some(project), String::new())
            }
        }
    }
}

/// Why the state machine refused a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RejectCode {
    /// The command is malformed (bad name, bad path, out of range).
    BadRequest,
    /// Something it refers to does not exist.
    NotFound,
    /// It conflicts with the current state.
    Conflict,
    /// It carries an attempt that is no longer current: the worker must stop.
    StaleAttempt,
    /// Its request id (an idempotency key) was first used with another request body.
    KeyReused,
}

/// The state machine's answer to one log entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Applied (blank and membership entries, and commands with nothing to report).
    Ok,
    /// A blob chunk was stored (or already present).
    BlobChunk {
        /// Chunks of the blob received so far.
        received: u32,
        /// Whether the blob was already complete.
        complete: bool,
    },
    /// A file version was committed (or the latest version already had this content).
    FileCommitted {
        /// Its version.
        version: u64,
    },
    /// A job was accepted.
    JobSubmitted {
        /// Its id.
        job_id: JobId,
    },
    /// A task attempt was put back to pending.
    TaskReassigned {
        /// The new attempt.
        attempt: Attempt,
    },
    /// A progress batch was folded.
    ProgressRecorded {
        /// Deltas of running attempts folded now.
        applied: u32,
        /// Deltas of ended attempts folded now (into the job's results only).
        late: u32,
        /// Deltas already folded before (ignored).
        duplicates: u32,
        /// Deltas skipped because an earlier sequence number of their attempt is missing.
        gaps: u32,
        /// `(job, task, attempt)` of deltas refused as stale or unknown.
        refused: Vec<(JobId, u32, Attempt)>,
    },
    /// Incomplete blobs were dropped.
    BlobsDropped {
        /// How many.
        count: u32,
    },
    /// The command was refused; nothing changed.
    Rejected {
        /// Category.
        code: RejectCode,
        /// Human-readable reason.
        message: String,
    },
}

impl Response {
    pub(crate) fn reject(code: RejectCode, message: impl Into<String>) -> Self {
        Response::Rejected {
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Log entries on disk name their command by its position: a command is never removed or
    /// moved, only retired in place, or an old log would decode as other commands.
    #[test]
    fn commands_keep_their_position_in_the_log_format() {
        let position = |command: &Command| crate::codec::encode(command).expect("encodes")[1];
        assert_eq!(
            position(&Command::CreateProject {
                name: "p".into(),
                description: String::new()
            }),
            0
        );
        assert_eq!(
            position(&Command::DropPartialBlobs {
                created_before_ms: 0
            }),
            5
        );
        assert_eq!(
            position(&Command::AbortJob {
                job_id: 1,
                reason: String::new()
            }),
            17
        );
        assert_eq!(position(&Command::DeleteJob { job_id: 1 }), 19);
    }
}
