//! The records the state machine keeps, as returned by the query API.
//!
//! These are stored as versioned bincode (see [`crate::codec`]); adding a field is a format
//! change and needs a new record version.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::types::{Attempt, JobId, Sha256, UnixMillis, WorkerId};

/// A tenant: files, jobs and results belong to one project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// Unique name (`[a-z0-9_-]`, 1–64 characters).
    pub name: String,
    /// Free text.
    pub description: String,
    /// When it was created.
    pub created_at_ms: UnixMillis,
}

/// What a file is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileKind {
    /// A simulation (YAML or JSON).
    Simulation,
    /// Feeder data, request bodies.
    Data,
    /// Configuration.
    Conf,
    /// Anything else a job produces or needs.
    Artifact,
}

/// One version of a file `project/path`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileVersion {
    /// Owning project.
    pub project: String,
    /// Relative path inside the project (validated, `/`-separated).
    pub path: String,
    /// Version number, from 1, per path.
    pub version: u64,
    /// Content address of the blob.
    pub sha256: Sha256,
    /// Size in bytes.
    pub size: u64,
    /// Kind.
    pub kind: FileKind,
    /// When this version was committed.
    pub created_at_ms: UnixMillis,
    /// Number of jobs that pin this version.
    pub pins: u32,
    /// Deleted by a user but kept because a job still pins it.
    pub deleted: bool,
}

/// A content-addressed blob, stored as numbered chunks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobMeta {
    /// Address.
    pub sha256: Sha256,
    /// Total size in bytes.
    pub size: u64,
    /// Number of chunks.
    pub chunk_count: u32,
    /// Chunks received so far.
    pub received: u32,
    /// All chunks received and the digest verified.
    pub complete: bool,
    /// Number of file versions that reference it.
    pub refs: u32,
    /// When its first chunk arrived.
    pub created_at_ms: UnixMillis,
}

/// Liveness state of a worker, as decided by the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkerState {
    /// Heartbeating.
    Alive,
    /// Missed heartbeats; its tasks are not yet reassigned.
    Suspect,
    /// Lost; its tasks were or will be reassigned.
    Dead,
    /// Finishes its tasks and takes no new ones.
    Draining,
}

/// A registered worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Worker {
    /// Stable id.
    pub id: WorkerId,
    /// Pool it serves.
    pub pool: String,
    /// Free labels.
    pub labels: BTreeMap<String, String>,
    /// Task slots.
    pub slots: u32,
    /// Software version it reported.
    pub version: String,
    /// Address it reported.
    pub address: String,
    /// Current state.
    pub state: WorkerState,
    /// Why it is in this state (empty when alive).
    pub reason: String,
    /// When it (last) registered.
    pub registered_at_ms: UnixMillis,
    /// When it entered its current state.
    pub state_since_ms: UnixMillis,
}

/// How a job's simulation is divided among its tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SplitMode {
    /// The simulation's numbers are the cluster total, divided exactly among the tasks.
    Split,
    /// Each task runs the whole simulation.
    Replicate,
}

/// Lifecycle of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    /// Accepted, not yet scheduled.
    Queued,
    /// Waiting for enough workers of the pool to claim its tasks.
    WaitingForWorkers,
    /// All tasks claimed; a start instant is set.
    Starting,
    /// At least one task started.
    Running,
    /// Every task succeeded.
    Completed,
    /// A task failed or the job could not be run.
    Failed,
    /// Stopped by a user or an operator.
    Aborted,
}

impl JobState {
    /// Whether the job is finished.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Completed | JobState::Failed | JobState::Aborted
        )
    }
}

/// A file version pinned by a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedFile {
    /// Path in the job's project.
    pub path: String,
    /// Pinned version.
    pub version: u64,
    /// Its content address.
    pub sha256: Sha256,
}

/// A job: one run of a simulation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Id.
    pub id: JobId,
    /// Owning project.
    pub project: String,
    /// Display name.
    pub name: String,
    /// Path of the simulation file (also in `files`).
    pub simulation: String,
    /// Worker pool.
    pub pool: String,
    /// Number of tasks.
    pub parallelism: u32,
    /// Split mode.
    pub split: SplitMode,
    /// Opaque run parameters (interpreted by the master and the workers).
    #[serde(with = "serde_bytes")]
    pub params: Vec<u8>,
    /// File versions the job runs with.
    pub files: Vec<PinnedFile>,
    /// State.
    pub state: JobState,
    /// Why it is in this state (empty when unremarkable).
    pub reason: String,
    /// Coordinated start instant, once set.
    pub start_at_ms: Option<UnixMillis>,
    /// When it was submitted.
    pub submitted_at_ms: UnixMillis,
    /// When it reached a terminal state.
    pub finished_at_ms: Option<UnixMillis>,
    /// Number of task reassignments so far.
    pub reassignments: u32,
}

/// Lifecycle of a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskState {
    /// Waiting for a worker.
    Pending,
    /// Claimed by a worker for the current attempt.
    Assigned,
    /// Its worker started the load.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Stopped because its job was aborted.
    Aborted,
}

impl TaskState {
    /// Whether the task is finished.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Succeeded | TaskState::Failed | TaskState::Aborted
        )
    }
}

/// How a task attempt ended, as its worker reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskOutcome {
    /// The segment ran to its end.
    Succeeded,
    /// The segment could not run or broke.
    Failed {
        /// Why.
        reason: String,
    },
}

/// Segment `index` of a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Job.
    pub job_id: JobId,
    /// Segment index, `0..parallelism`.
    pub index: u32,
    /// State.
    pub state: TaskState,
    /// Current attempt (fencing token).
    pub attempt: Attempt,
    /// Worker of the current attempt.
    pub worker_id: Option<WorkerId>,
    /// When the current attempt was claimed.
    pub claimed_at_ms: Option<UnixMillis>,
    /// When the current attempt started its load.
    pub started_at_ms: Option<UnixMillis>,
    /// When it reached a terminal state.
    pub finished_at_ms: Option<UnixMillis>,
    /// Highest progress sequence number folded for the current attempt.
    pub last_seq: Option<u64>,
    /// Number of progress deltas folded over all attempts.
    pub deltas: u64,
    /// Failure or abort reason.
    pub reason: String,
}

/// How an attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttemptEnd {
    /// Its segment ran to its end.
    Succeeded,
    /// It failed.
    Failed,
    /// Its job ended (aborted, failed) while it ran.
    Stopped,
    /// It was fenced: lost with its worker, handed back, or replaced after its worker restarted.
    Reassigned,
}

/// One attempt of a task, kept for as long as its job: who ran it, when, how it ended, and the
/// deltas that arrived after it ended (late deltas, folded into the job's results only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// Task index.
    pub task: u32,
    /// Attempt number.
    pub attempt: Attempt,
    /// The worker that claimed it.
    pub worker_id: WorkerId,
    /// When it was claimed.
    pub claimed_at_ms: UnixMillis,
    /// When its worker reported the load running.
    pub started_at_ms: Option<UnixMillis>,
    /// When it ended, and how.
    pub ended: Option<(UnixMillis, AttemptEnd)>,
    /// Why it ended (a reassignment's or a failure's reason).
    pub reason: String,
    /// Highest sequence number folded for it: the task's watermark while it was current, then
    /// advanced by its late deltas (which are folded in order, like any other).
    pub last_seq: u64,
    /// The watermark when it ended: its deltas above it are late.
    pub seq_at_end: u64,
    /// Deltas folded after it ended.
    pub late_deltas: u64,
    /// When the first and the last of them were committed.
    pub late_between_ms: Option<(UnixMillis, UnixMillis)>,
}

impl AttemptRecord {
    /// Whether it ended.
    pub fn has_ended(&self) -> bool {
        self.ended.is_some()
    }
}

/// One folded progress delta (metrics and logs of one interval, opaque here).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressRecord {
    /// Task index.
    pub task: u32,
    /// Attempt that produced it.
    pub attempt: Attempt,
    /// Sequence number within the attempt.
    pub seq: u64,
    /// When the batch carrying it was committed.
    pub committed_at_ms: UnixMillis,
    /// The delta, as the worker encoded it.
    #[serde(with = "serde_bytes")]
    pub delta: Vec<u8>,
}

/// A final result: of one task (attempt) or the merged result of a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultRecord {
    /// Attempt that produced it (0 for a job result).
    pub attempt: Attempt,
    /// When it was committed.
    pub committed_at_ms: UnixMillis,
    /// The result, as the master or worker encoded it.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

/// A role on one project, each including the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ProjectRole {
    /// Reads files, jobs, results, live data and logs.
    Viewer,
    /// Also submits and aborts jobs.
    Runner,
    /// Also changes files, secrets, the project's settings and its tokens.
    Maintainer,
}

/// An API token. Only the SHA-256 of its secret is kept; the secret itself is shown once, when
/// the token is created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// Public id (part of the bearer string, shown in listings and the audit log).
    pub id: String,
    /// A name for people.
    pub name: String,
    /// SHA-256 of the secret part of the bearer string.
    pub secret_sha256: Sha256,
    /// Name of the token that created it (`bootstrap` for the first admin token).
    pub created_by: String,
    /// When it was created.
    pub created_at_ms: UnixMillis,
    /// After this instant it is refused.
    pub expires_at_ms: Option<UnixMillis>,
    /// When it was revoked, if it was.
    pub revoked_at_ms: Option<UnixMillis>,
    /// Cluster administrator: every project, members, workers, tokens.
    pub admin: bool,
    /// Roles on projects.
    pub projects: BTreeMap<String, ProjectRole>,
}

impl Token {
    /// Whether the token may be used at `now`.
    pub fn is_valid_at(&self, now: UnixMillis) -> bool {
        self.revoked_at_ms.is_none() && self.expires_at_ms.is_none_or(|e| now < e)
    }
}

/// A join token: a worker that presents it (over TLS, without a certificate of its own) is
/// given a [`WorkerIdentity`] in `pool`. Reusable until it expires or is revoked; revoking it
/// revokes every identity it gave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinToken {
    /// Public id (part of the token string).
    pub id: String,
    /// A name for people.
    pub name: String,
    /// The pool its workers serve (and may not leave).
    pub pool: String,
    /// SHA-256 of the secret part of the token string.
    pub secret_sha256: Sha256,
    /// Name of the API token that created it.
    pub created_by: String,
    /// When it was created.
    pub created_at_ms: UnixMillis,
    /// After this instant no worker joins with it (workers that joined keep their identity).
    pub expires_at_ms: Option<UnixMillis>,
    /// When it was revoked, if it was.
    pub revoked_at_ms: Option<UnixMillis>,
}

impl JoinToken {
    /// Whether a worker may join with it at `now`.
    pub fn is_valid_at(&self, now: UnixMillis) -> bool {
        self.revoked_at_ms.is_none() && self.expires_at_ms.is_none_or(|e| now < e)
    }
}

/// How a worker proves who it is on the cluster port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkerCredential {
    /// A certificate of the cluster CA naming the worker (nothing is kept: the record exists
    /// only to revoke the name).
    Certificate,
    /// A secret the masters gave it in exchange for a join token.
    Joined {
        /// The join token it presented.
        token_id: String,
        /// SHA-256 of the secret.
        secret_sha256: Sha256,
    },
}

/// A worker id bound to a credential: only that credential may make calls as this worker,
/// until the identity is revoked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerIdentity {
    /// The worker id.
    pub worker_id: WorkerId,
    /// The pool it must register in (a joined worker: its token's), if bound to one.
    pub pool: Option<String>,
    /// Its credential.
    pub credential: WorkerCredential,
    /// When it was made.
    pub created_at_ms: UnixMillis,
    /// When it was revoked: every call as this worker is refused from then on.
    pub revoked_at_ms: Option<UnixMillis>,
}

/// A project's secret: its value is delivered to the workers that run the project's tasks and
/// never returned by a read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    /// Project.
    pub project: String,
    /// Name (`[A-Za-z0-9_.-]`, up to 64).
    pub name: String,
    /// Value.
    pub value: SecretBytes,
    /// When it was last set.
    pub updated_at_ms: UnixMillis,
}

/// A secret's value. Its `Debug` form shows only its length, so that no log line that prints
/// a command or a record carries it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretBytes(#[serde(with = "serde_bytes")] pub Vec<u8>);

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[secret, {} bytes]", self.0.len())
    }
}

/// A project's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectSettings {
    /// Where its jobs may send load: host names, `host:port`, CIDRs (`127.0.0.0/8`), each
    /// optionally with a port; empty: wherever the workers allow.
    pub targets: Vec<String>,
}

/// Who made an accepted write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Token id (empty for a master's own writes or a cluster without tokens).
    pub token_id: String,
    /// Token name, or what stands for the caller (`local` without authentication).
    pub name: String,
    /// The HTTP request id the write came with.
    pub request: String,
}

/// One accepted write, replicated with the write itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the audit log (increasing).
    pub seq: u64,
    /// When it was applied (the replicated clock).
    pub at_ms: UnixMillis,
    /// Who.
    pub actor: Actor,
    /// What: the command's kind (`submit_job`, `put_secret`, …).
    pub action: String,
    /// The project it concerns, if any.
    pub project: Option<String>,
    /// What it concerned: a path, a job id, a token id, a secret's name (never a value).
    pub target: String,
}
