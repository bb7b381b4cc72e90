//! Broadside's wire protocol: the tarpc services between masters ([`raft`]) and from workers to
//! masters ([`worker`]), their message types, the shared error type, and the framed transport
//! (TLS with the cluster CA, or plain TCP on loopback: [`transport`]) both ride on.
//!
//! This crate does no I/O beyond setting up transports; `master-node` implements the services
//! and `worker` calls them.

pub mod raft;
pub mod reload;
pub mod transport;
pub mod worker;

use serde::{Deserialize, Serialize};

pub use raft::{MembershipChange, NodeStatus, RaftRpc, RaftRpcClient};
pub use transport::{ServiceKind, MAX_FRAME_BYTES, PROTOCOL_VERSION};
pub use worker::{WorkerRpc, WorkerRpcClient};

/// Opaque bytes encoded by the caller (sent without per-byte overhead).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload(#[serde(with = "serde_bytes")] pub Vec<u8>);

/// Where the leader is, as far as the answering node knows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderHint {
    /// Leader's node id.
    pub id: Option<u64>,
    /// Leader's Raft / tarpc address (workers and masters connect there).
    pub raft_addr: Option<String>,
    /// Leader's REST address (clients are pointed there).
    pub http_addr: Option<String>,
}

/// Why a call was not carried out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CallError {
    /// This node does not lead; retry at the leader.
    #[error("not the leader (leader: {})", .0.raft_addr.as_deref().unwrap_or("unknown"))]
    NotLeader(LeaderHint),
    /// The cluster cannot serve it now (no quorum, shutting down); retry later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The request is malformed or refers to something that does not exist.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The request conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The caller is fenced: its task attempt is no longer current and it must stop.
    #[error("stale attempt: {0}")]
    Stale(String),
    /// The caller's identity may not make this call (no certificate, another member's, not a
    /// member of the cluster).
    #[error("forbidden: {0}")]
    Forbidden(String),
}
