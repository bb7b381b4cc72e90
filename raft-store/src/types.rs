//! The openraft type configuration and the identifiers every record uses.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::command::{Request, Response};

/// A master's Raft node id.
pub type NodeId = u64;

/// A job's id, allocated by the state machine in submission order.
pub type JobId = u64;

/// A worker's stable id (chosen by the worker, e.g. from its data directory).
pub type WorkerId = String;

/// A task's attempt number: the fencing token of one assignment (first attempt: 1).
pub type Attempt = u32;

/// Milliseconds since the Unix epoch, as read by the leader that proposed a command.
pub type UnixMillis = u64;

/// A sha256 digest: the address of a blob.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Sha256(pub [u8; 32]);

impl Sha256 {
    /// Digest of `data`.
    pub fn of(data: &[u8]) -> Self {
        use sha2::Digest;
        Sha256(sha2::Sha256::digest(data).into())
    }

    /// Lowercase hex form.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({})", self.to_hex())
    }
}

/// Identifies one client write so that a retried write is applied once.
///
/// The master derives it from the client's idempotency key or generates it (e.g. a random
/// 128-bit value) when it first receives the request, and keeps it across forwards and retries.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct RequestId(pub u128);

/// What the cluster knows about a master node: where to reach it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterNode {
    /// Address of its Raft / tarpc listener (`host:port`).
    pub raft_addr: String,
    /// Address of its REST API (`host:port`), used to forward clients to the leader.
    pub http_addr: String,
}

openraft::declare_raft_types!(
    /// Broadside's openraft type configuration.
    ///
    /// Snapshots are files: they are built to and installed from disk and streamed in chunks,
    /// so a snapshot never has to fit in memory.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = NodeId,
        Node = MasterNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = tokio::fs::File,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A Raft log entry of this store.
pub type Entry = openraft::Entry<TypeConfig>;
/// A log id of this store.
pub type LogId = openraft::LogId<NodeId>;
/// A vote of this store.
pub type Vote = openraft::Vote<NodeId>;
/// A stored membership of this store.
pub type StoredMembership = openraft::StoredMembership<NodeId, MasterNode>;
/// Snapshot metadata of this store.
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, MasterNode>;
/// An openraft storage error of this store.
pub type StorageError = openraft::StorageError<NodeId>;
