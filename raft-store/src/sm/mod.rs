//! The state machine on RocksDB ([`RaftStateMachine`]), applied straight to disk.
//!
//! Each log entry is applied in its own [`tx::Tx`] and written as one batch holding the state
//! change, the last applied log id and (for membership entries) the membership. Batches are
//! not fsynced one by one: they share the write-ahead log with the Raft log, whose synced
//! appends make them durable, and an entry lost in a crash is re-applied from the log.

mod access;
mod apply;
mod files;
mod jobs;
pub(crate) mod keys;
pub(crate) mod snapshot;
mod tx;
mod worker_access;

use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftSnapshotBuilder};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

pub use access::{MAX_SECRET_BYTES, MAX_TARGETS, MIN_SECRET_BYTES};
pub use apply::{valid_name, valid_path, valid_worker_id, DEDUP_WINDOW_MS};
pub use files::{MAX_BLOB_BYTES, MAX_CHUNK_BYTES};
pub use jobs::{MAX_BATCH_DELTAS, MAX_PARALLELISM, MAX_PINNED_FILES};

use crate::codec::decode;
use crate::command::Response;
use crate::db::{Db, CF_SM_META, CF_TOKENS, CF_WORKER_ACCESS};
use crate::error::{blocking, IntoStorage, Result};
use crate::query::StoreReader;
use crate::types::{Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig};

/// The replicated state machine of one master. Cheap to clone; clones share the database.
#[derive(Clone, Debug)]
pub struct StateMachineStore {
    db: Arc<Db>,
}

impl StateMachineStore {
    pub(crate) fn new(db: Arc<Db>) -> Result<Self> {
        snapshot::recover(&db)?;
        Ok(StateMachineStore { db })
    }

    /// A reader for the typed query API.
    pub fn reader(&self) -> StoreReader {
        StoreReader::new(self.db.clone())
    }

    fn applied(db: &Db) -> Result<(Option<LogId>, StoredMembership)> {
        let cf = db.cf(CF_SM_META)?;
        let last = match db.db.get_cf(cf, keys::META_LAST_APPLIED)? {
            Some(b) => decode("last applied", &b)?,
            None => None,
        };
        let membership = match db.db.get_cf(cf, keys::META_MEMBERSHIP)? {
            Some(b) => decode("membership", &b)?,
            None => StoredMembership::default(),
        };
        Ok((last, membership))
    }

    /// Applies entries one by one, one write batch each.
    pub(crate) fn apply_entries(db: &Db, entries: Vec<Entry>) -> Result<Vec<Response>> {
        let mut responses = Vec::with_capacity(entries.len());
        for entry in entries {
            let mut tx = tx::Tx::new(db, 0);
            let response = match &entry.payload {
                EntryPayload::Blank => Response::Ok,
                EntryPayload::Normal(request) => apply::apply_request(&mut tx, request)?,
                EntryPayload::Membership(membership) => {
                    let stored = StoredMembership::new(Some(entry.log_id), membership.clone());
                    tx.put(CF_SM_META, keys::META_MEMBERSHIP.to_vec(), &stored)?;
                    Response::Ok
                }
            };
            tx.put(
                CF_SM_META,
                keys::META_LAST_APPLIED.to_vec(),
                &Some(entry.log_id),
            )?;
            let tokens = tx.touches(CF_TOKENS) || tx.touches(CF_WORKER_ACCESS);
            db.write(tx.into_batch()?)?;
            if tokens {
                db.tokens_changed();
            }
            responses.push(response);
        }
        Ok(responses)
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let db = self.db.clone();
        let meta = blocking(move || snapshot::build(&db))
            .await
            .sto(ErrorSubject::Snapshot(None), ErrorVerb::Write)?;
        match self.get_current_snapshot().await? {
            Some(snapshot) => Ok(snapshot),
            None => Err(
                crate::Error::corrupt("snapshot", "built snapshot vanished").into_storage(
                    ErrorSubject::Snapshot(Some(meta.signature())),
                    ErrorVerb::Read,
                ),
            ),
        }
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = StateMachineStore;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let db = self.db.clone();
        blocking(move || Self::applied(&db))
            .await
            .sto(ErrorSubject::StateMachine, ErrorVerb::Read)
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let db = self.db.clone();
        let entries: Vec<Entry> = entries.into_iter().collect();
        blocking(move || Self::apply_entries(&db, entries))
            .await
            .sto(ErrorSubject::StateMachine, ErrorVerb::Write)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, StorageError> {
        let path = snapshot::receive_path(&self.db);
        let opened = async {
            let file = tokio::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .await?;
            // Unlinked at once: the handle stays usable and nothing is left behind by a crash.
            tokio::fs::remove_file(&path).await?;
            Ok::<_, std::io::Error>(file)
        };
        opened.await.map(Box::new).map_err(|e| {
            crate::Error::from(e).into_storage(ErrorSubject::Snapshot(None), ErrorVerb::Write)
        })
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<tokio::fs::File>,
    ) -> Result<(), StorageError> {
        let subject = || ErrorSubject::Snapshot(Some(meta.signature()));
        let received = snapshot::receive_path(&self.db);
        let copied = async {
            let mut source = *snapshot;
            source.flush().await?;
            source.seek(std::io::SeekFrom::Start(0)).await?;
            let mut target = tokio::fs::File::create(&received).await?;
            tokio::io::copy(&mut source, &mut target).await?;
            target.sync_all().await?;
            Ok::<_, std::io::Error>(())
        };
        copied
            .await
            .map_err(|e| crate::Error::from(e).into_storage(subject(), ErrorVerb::Write))?;
        let db = self.db.clone();
        let expected = meta.clone();
        blocking(move || snapshot::install_file(&db, &received, &expected))
            .await
            .sto(subject(), ErrorVerb::Write)
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let db = self.db.clone();
        let current = blocking(move || snapshot::open_current(&db))
            .await
            .sto(ErrorSubject::Snapshot(None), ErrorVerb::Read)?;
        let Some((meta, file)) = current else {
            return Ok(None);
        };
        let file = tokio::fs::File::from_std(file);
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(file),
        }))
    }
}
