//! Errors of the raft store and their mapping onto openraft's storage errors.

use openraft::{AnyError, ErrorSubject, ErrorVerb, StorageError, StorageIOError};

use crate::types::NodeId;

/// Everything that can go wrong while reading or writing the store.
///
/// These are *storage* failures (disk, corruption, an unknown format). A command that is
/// refused by the state machine's rules is not an error: it is applied as a
/// [`Response::Rejected`](crate::Response::Rejected) so that every replica refuses it alike.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// RocksDB reported an error.
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    /// A file operation (snapshot files) failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// A record could not be encoded.
    #[error("encoding a record: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    /// A stored record could not be decoded.
    #[error("decoding {what}: {source}")]
    Decode {
        /// Which record.
        what: &'static str,
        /// The decoder's complaint.
        source: bincode::error::DecodeError,
    },
    /// The store (or one record in it) was written by a newer, unknown format version.
    #[error(
        "{what} has format version {found}, newer than the {supported} this build understands; \
         run a newer broadside binary on this data directory"
    )]
    FutureFormat {
        /// Which record or store.
        what: &'static str,
        /// The version found on disk.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// A stored record or key does not have the expected shape.
    #[error("corrupt {what}: {detail}")]
    Corrupt {
        /// Which record.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// The database lacks one of the column families this build expects.
    #[error("column family {0} is missing")]
    MissingColumnFamily(&'static str),
    /// A blocking task panicked or was cancelled.
    #[error("blocking storage task failed: {0}")]
    Blocking(String),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn corrupt(what: &'static str, detail: impl Into<String>) -> Self {
        Error::Corrupt {
            what,
            detail: detail.into(),
        }
    }

    /// Wraps this error as an openraft storage error about `subject`.
    pub(crate) fn into_storage(
        self,
        subject: ErrorSubject<NodeId>,
        verb: ErrorVerb,
    ) -> StorageError<NodeId> {
        StorageError::IO {
            source: StorageIOError::new(subject, verb, AnyError::new(&self)),
        }
    }
}

/// Shorthands turning crate errors into openraft storage errors.
// openraft's `StorageError` is large, and its storage traits return it by value.
#[allow(clippy::result_large_err)]
pub(crate) trait IntoStorage<T> {
    /// Maps the error onto `subject` and `verb`.
    fn sto(self, subject: ErrorSubject<NodeId>, verb: ErrorVerb)
        -> Result<T, StorageError<NodeId>>;
}

#[allow(clippy::result_large_err)]
impl<T> IntoStorage<T> for Result<T> {
    fn sto(
        self,
        subject: ErrorSubject<NodeId>,
        verb: ErrorVerb,
    ) -> Result<T, StorageError<NodeId>> {
        self.map_err(|e| e.into_storage(subject, verb))
    }
}

/// Runs blocking storage work on tokio's blocking pool.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(Error::Blocking(e.to_string())),
    }
}
