//! The master↔master service: Raft messages, writes forwarded to the leader, linearizable
//! read barriers, membership changes and node status.
//!
//! Raft messages and forwarded writes travel as opaque [`Payload`]s: they are openraft and
//! store types that `master-node` encodes, and this crate stays free of both (the store is
//! the log format; this crate is the wire format).

use serde::{Deserialize, Serialize};

use crate::{CallError, Payload};

/// The leader's in-memory view of the workers, for the REST API of every master.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderState {
    /// Milliseconds since the leader last heard from each worker.
    pub heartbeat_ages: Vec<(String, u64)>,
    /// Pools whose automatic reassignment the storm guard paused, with the reason.
    pub paused_pools: Vec<(String, String)>,
}

/// What a master says about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Its Raft id.
    pub id: u64,
    /// Its advertised Raft / tarpc address.
    pub raft_addr: String,
    /// Its advertised REST address.
    pub http_addr: String,
    /// Whether its store holds any Raft state (a vote, a log or a membership).
    pub initialized: bool,
    /// Its role: `leader`, `follower`, `candidate`, `learner` or `shutdown`.
    pub role: String,
    /// Current term.
    pub term: u64,
    /// The leader it knows, if any.
    pub leader: Option<u64>,
    /// Index of its last log entry.
    pub last_log_index: Option<u64>,
    /// Index of its last applied entry.
    pub applied_index: Option<u64>,
    /// Software version.
    pub version: String,
}

/// A membership change, proposed through any master and carried out by the leader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipChange {
    /// Adds a node as a learner, waits until it caught up, then makes it a voter.
    AddVoter {
        /// New node's id.
        id: u64,
        /// Its Raft address.
        raft_addr: String,
        /// Its REST address.
        http_addr: String,
    },
    /// Removes a voter (or learner) from the cluster.
    Remove {
        /// Node id.
        id: u64,
    },
}

/// The master↔master service.
#[tarpc::service]
pub trait RaftRpc {
    /// openraft AppendEntries; the payload is the encoded request, the reply the encoded result.
    async fn append_entries(request: Payload) -> Result<Payload, CallError>;
    /// openraft Vote.
    async fn vote(request: Payload) -> Result<Payload, CallError>;
    /// One chunk of an openraft snapshot transfer.
    async fn install_snapshot(request: Payload) -> Result<Payload, CallError>;
    /// A client write forwarded to the leader; the reply is the encoded `(log index, state-machine response)`, so the forwarding master can wait until it applied the entry itself.
    async fn propose(request: Payload) -> Result<Payload, CallError>;
    /// A linearizable read barrier: the leader confirms its leadership with a quorum and
    /// returns the log index a reader must have applied.
    async fn read_index() -> Result<Option<u64>, CallError>;
    /// A membership change, carried out by the leader.
    async fn change_membership(change: MembershipChange) -> Result<(), CallError>;
    /// What only the leader knows, kept in its memory (the leader only).
    async fn leader_view() -> Result<LeaderState, CallError>;
    /// This node's status.
    async fn status() -> Result<NodeStatus, CallError>;
}
