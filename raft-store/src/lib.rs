//! Broadside's replicated store: openraft log storage and state machine on RocksDB.
//!
//! One RocksDB database per master holds the Raft log ([`LogStore`]) and the state machine
//! ([`StateMachineStore`]): the job log, the worker registry, the file index with its
//! content-addressed blobs, progress series and results. Commands ([`Command`]) are proposed by
//! `master-node` wrapped in a [`Request`] that carries a client request id and the leader's
//! time; applying them is deterministic. [`StoreReader`] answers typed queries from the local
//! replica.
//!
//! ```no_run
//! # fn main() -> broadside_raft_store::Result<()> {
//! let (log_store, state_machine) = broadside_raft_store::open(std::path::Path::new("/var/lib/broadside"))?;
//! let reader = state_machine.reader();
//! # let _ = (log_store, reader);
//! # Ok(())
//! # }
//! ```

mod codec;
pub mod command;
mod db;
mod error;
mod log_store;
pub mod model;
mod query;
mod sm;
mod types;

use std::path::Path;
use std::sync::Arc;

pub use codec::RECORD_VERSION;
pub use command::{
    Command, JobSpec, ProgressDelta, RejectCode, Request, RequestV1, RequestV2, Response,
    MAX_ENTRY_BYTES,
};
pub use db::STORE_FORMAT;
pub use error::{Error, Result};
pub use log_store::LogStore;
pub use query::{all_pages, cursor, Page, PageRequest, StoreReader, DEFAULT_PAGE, MAX_PAGE};
pub use sm::{
    valid_name, valid_path, valid_worker_id, StateMachineStore, DEDUP_WINDOW_MS, MAX_BATCH_DELTAS,
    MAX_BLOB_BYTES, MAX_CHUNK_BYTES, MAX_PARALLELISM, MAX_PINNED_FILES, MAX_SECRET_BYTES,
    MAX_TARGETS, MIN_SECRET_BYTES,
};
pub use types::{
    Attempt, Entry, JobId, LogId, MasterNode, NodeId, RequestId, Sha256, SnapshotMeta,
    StorageError, StoredMembership, TypeConfig, UnixMillis, Vote, WorkerId,
};

/// Opens (or creates) the store in `dir` and returns its two halves, sharing one database.
///
/// Fails with [`Error::FutureFormat`] when `dir` was written by a newer format, and finishes
/// a snapshot install that a crash interrupted.
pub fn open(dir: &Path) -> Result<(LogStore, StateMachineStore)> {
    let db = Arc::new(db::Db::open(dir)?);
    let sm = StateMachineStore::new(db.clone())?;
    Ok((LogStore::new(db), sm))
}

#[cfg(test)]
mod tests;
