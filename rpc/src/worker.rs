//! The worker→master service (`docs/design.md#pull-protocol`): register, long-poll for a task,
//! heartbeat with progress, numbered metrics deltas and log lines, complete, hand a task back, and
//! fetch pinned files by content address. Only the leader serves it; a follower answers
//! [`CallError::NotLeader`] with the leader's address.

use serde::{Deserialize, Serialize};

use crate::{CallError, Payload};

/// A sha256 content address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Digest(pub [u8; 32]);

/// A worker introducing itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// Stable id, kept in the worker's data directory.
    pub worker_id: String,
    /// Pool it serves.
    pub pool: String,
    /// Free labels.
    pub labels: Vec<(String, String)>,
    /// Task slots.
    pub slots: u32,
    /// Software version.
    pub version: String,
    /// Where it runs (host name and process id), for operators.
    pub address: String,
    /// The task attempts it is running now (empty for a fresh process); any other attempt the
    /// leader has on record for this worker is lost and reassigned.
    pub running: Vec<TaskRef>,
}

/// The leader's answer to a registration: the timings the worker must follow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    /// Heartbeat interval `h`, in milliseconds.
    pub heartbeat_ms: u64,
    /// Lease `L`: stop the load when no heartbeat was acknowledged for this long.
    pub lease_ms: u64,
    /// Stop budget `K`.
    pub stop_budget_ms: u64,
    /// The leader's wall clock when it answered (Unix milliseconds).
    pub leader_time_ms: u64,
}

/// One attempt of one task: the fencing identity every report carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TaskRef {
    /// Job.
    pub job_id: u64,
    /// Segment index.
    pub task: u32,
    /// Attempt (fencing token).
    pub attempt: u32,
}

/// A worker asking for work.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    /// Who asks.
    pub worker_id: String,
    /// Slots it can fill now.
    pub free_slots: u32,
    /// How long the leader may hold the call before answering "nothing" (long poll).
    pub wait_ms: u64,
}

/// A file a task needs, by content address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// Path in the job's project.
    pub path: String,
    /// Content address.
    pub sha256: Digest,
    /// Size in bytes.
    pub size: u64,
    /// Number of chunks [`WorkerRpc::fetch_chunk`] serves it in.
    pub chunk_count: u32,
}

/// How a job divides its simulation among tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Split {
    /// Segment `task` of `parallelism` of the simulation's totals.
    Split,
    /// The whole simulation in every task.
    Replicate,
}

/// A task handed to a worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// Which attempt of which task.
    pub task: TaskRef,
    /// Number of tasks of the job.
    pub parallelism: u32,
    /// Split mode.
    pub split: Split,
    /// The simulation file.
    pub simulation: FileRef,
    /// Data files, by their paths in the project.
    pub files: Vec<FileRef>,
    /// The job's run parameters (JSON).
    pub params: Payload,
    /// The start instant, when already decided (a reassignment joins a running job).
    pub start_at_ms: Option<u64>,
    /// For a reassignment: how far into the schedule the new attempt resumes.
    pub resume_from_ms: Option<u64>,
    /// The project's secrets, which the simulation reads with `secret('name')`.
    pub secrets: TaskSecrets,
    /// Where the project's jobs may send load (host names, addresses, CIDRs, each with an
    /// optional port), within the worker's own ceiling; empty: the ceiling alone.
    pub targets: Vec<String>,
}

/// `(name, value)` of a project's secrets. Its `Debug` form names them and never shows a
/// value, so that logging an assignment cannot leak one.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSecrets(pub Vec<(String, String)>);

impl std::fmt::Debug for TaskSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.0.iter().map(|(name, _)| name))
            .finish()
    }
}

/// Where a task is on its worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskPhase {
    /// Fetching files, compiling the simulation.
    Preparing,
    /// Ready, waiting for the start instant.
    Ready,
    /// Generating load.
    Running,
}

/// Largest encoded delta a heartbeat may carry; a heartbeat with a bigger one is refused with
/// [`CallError::BadRequest`] (the worker must take deltas often enough to stay below it).
pub const MAX_DELTA_BYTES: usize = 256 << 10;

/// One numbered delta of a task attempt (one heartbeat interval): metrics, log lines and
/// progress, as the engine encodes them (`broadside_engine::wire::TaskDelta`). Log lines ride
/// in deltas so that they are numbered, acknowledged and never lost or doubled either.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// Sequence number within the attempt, from 1, without gaps.
    pub seq: u64,
    /// Encoded delta, at most [`MAX_DELTA_BYTES`].
    pub data: Payload,
}

/// A task's state in a heartbeat. A worker lists every attempt it holds from the moment it
/// receives the assignment (before fetching files): an attempt the leader has on record for
/// it but that its heartbeats keep omitting was never received, and is reassigned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskReport {
    /// Which attempt.
    pub task: TaskRef,
    /// Phase.
    pub phase: TaskPhase,
    /// Milliseconds into the schedule.
    pub elapsed_ms: u64,
    /// Virtual users active now.
    pub users: u64,
    /// Deltas not yet acknowledged, oldest first.
    pub deltas: Vec<Delta>,
}

/// A heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Who.
    pub worker_id: String,
    /// The worker's wall clock when sending (Unix milliseconds), for the clock offset.
    pub sent_at_ms: u64,
    /// Its tasks.
    pub tasks: Vec<TaskReport>,
    /// Attempts it no longer runs whose deltas are not all acknowledged yet.
    pub ended: Vec<EndedAttempt>,
}

/// The unacknowledged deltas of an attempt this worker no longer runs: fenced by a
/// reassignment, handed back, stopped with its job, or left by an earlier process on the same
/// data directory. The masters fold them as late deltas (into the job's results only, never
/// into a task's lease) for as long as the job is kept; the worker keeps them, on disk too,
/// until they are acknowledged or the leader says the attempt is gone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndedAttempt {
    /// Which attempt.
    pub task: TaskRef,
    /// Deltas not yet acknowledged, oldest first (at most [`MAX_ENDED_DELTAS`] per heartbeat).
    pub deltas: Vec<Delta>,
}

/// Most deltas of one ended attempt a heartbeat carries (the rest follow in later ones).
pub const MAX_ENDED_DELTAS: usize = 32;

/// Deltas of one attempt committed up to a sequence number: the worker may drop them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// Which attempt.
    pub task: TaskRef,
    /// Every delta with `seq <= up_to` is committed.
    pub up_to: u64,
}

/// An instruction riding on a heartbeat reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Order {
    /// Start the load at this cluster instant (leader clock, Unix milliseconds).
    Start {
        /// Which attempt.
        task: TaskRef,
        /// Start instant.
        at_ms: u64,
    },
    /// Stop the task now: its job was aborted.
    Abort {
        /// Which attempt.
        task: TaskRef,
        /// Why.
        reason: String,
    },
    /// Stop the task now: this attempt is no longer current (fenced). About an ended attempt:
    /// its job is gone, so its deltas can never be counted; forget them.
    Stop {
        /// Which attempt.
        task: TaskRef,
        /// Why.
        reason: String,
    },
}

/// The leader's answer to a heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatReply {
    /// The leader's wall clock when answering (Unix milliseconds).
    pub leader_time_ms: u64,
    /// False when the leader does not know this worker as alive: it must register again, and
    /// this reply does not renew its lease (it acknowledges nothing of the attempts it runs;
    /// ended attempts are acknowledged all the same).
    pub registered: bool,
    /// Committed deltas, of running and of ended attempts.
    pub acks: Vec<Ack>,
    /// Instructions.
    pub orders: Vec<Order>,
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The segment ran to its end.
    Succeeded,
    /// It could not run or broke.
    Failed(String),
}

/// A finished attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion {
    /// Who.
    pub worker_id: String,
    /// Which attempt.
    pub task: TaskRef,
    /// Outcome.
    pub outcome: Outcome,
    /// Final deltas not yet acknowledged; committed before the completion.
    pub deltas: Vec<Delta>,
    /// The attempt's final result, as the engine encodes it.
    pub result: Payload,
}

/// A chunk of a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// The bytes.
    pub data: Payload,
    /// Chunks of the whole file.
    pub chunk_count: u32,
}

/// A worker without a certificate asking for an identity with a join token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// The join token (`bsj_…`).
    pub token: String,
    /// The name it asks for (letters, digits, `-` and `.`); its worker id will be
    /// `NAME@POOL`, which no certificate can name.
    pub name: String,
    /// The secret it will present (256 random bits, base64url), made and kept by the worker
    /// before it asks, so that asking again after a lost answer gets the same identity.
    pub secret: String,
}

impl std::fmt::Debug for JoinRequest {
    /// Never shows the token nor the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JoinRequest({}, token and secret hidden)", self.name)
    }
}

/// The identity a join gave: the worker presents its secret as worker `worker_id` from now
/// on (`transport::Credential`), and registers in `pool`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Joined {
    /// The worker id bound to the secret.
    pub worker_id: String,
    /// The pool the join token is for.
    pub pool: String,
}

/// The worker→master service.
#[tarpc::service]
pub trait WorkerRpc {
    /// Registers (or re-registers) a worker.
    async fn register(info: WorkerInfo) -> Result<Registered, CallError>;
    /// Waits up to `wait_ms` for a task for this worker's pool.
    async fn pull(request: PullRequest) -> Result<Option<Assignment>, CallError>;
    /// Reports progress; answered with acknowledgements, orders and the leader's clock.
    async fn heartbeat(heartbeat: Heartbeat) -> Result<HeartbeatReply, CallError>;
    /// Finishes an attempt.
    async fn complete(completion: Completion) -> Result<(), CallError>;
    /// Hands a task back (the worker drains): it resumes elsewhere from `elapsed_ms`.
    async fn hand_back(worker_id: String, task: TaskRef, elapsed_ms: u64) -> Result<(), CallError>;
    /// Chunk `index` of the blob `sha256`.
    async fn fetch_chunk(sha256: Digest, index: u32) -> Result<Chunk, CallError>;
    /// Exchanges a join token for a worker identity (the one call a connection without a
    /// certificate or credential may make).
    async fn join(request: JoinRequest) -> Result<Joined, CallError>;
}
