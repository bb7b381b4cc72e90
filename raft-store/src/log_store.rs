//! Raft log storage on RocksDB ([`RaftLogStorage`]).
//!
//! Entries live in the `log` column family keyed by big-endian index; vote, committed log id
//! and last purged log id in `log_meta`. Every write openraft must be able to rely on after a
//! crash (append, truncate, purge, vote) is a synced write batch, and the append callback fires
//! only after that write returned.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, OptionalSend, RaftLogReader};
use rocksdb::{Direction, IteratorMode, WriteBatch};

use crate::codec::{decode, encode, read_u64};
use crate::db::{Db, CF_LOG, CF_LOG_META};
use crate::error::{blocking, Error, IntoStorage, Result};
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};

const KEY_VOTE: &[u8] = b"vote";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_LAST_PURGED: &[u8] = b"last_purged";

/// The Raft log of one master. Cheap to clone; clones share the database.
#[derive(Clone, Debug)]
pub struct LogStore {
    db: Arc<Db>,
}

impl LogStore {
    pub(crate) fn new(db: Arc<Db>) -> Self {
        LogStore { db }
    }

    #[cfg(test)]
    pub(crate) fn db_for_test(&self) -> &Db {
        &self.db
    }

    fn read_meta<T: serde::de::DeserializeOwned>(db: &Db, key: &'static [u8]) -> Result<Option<T>> {
        let what = "log metadata";
        match db.db.get_cf(db.cf(CF_LOG_META)?, key)? {
            Some(bytes) => Ok(Some(decode(what, &bytes)?)),
            None => Ok(None),
        }
    }

    fn entries(db: &Db, start: u64, end: Option<u64>) -> Result<Vec<Entry>> {
        let cf = db.cf(CF_LOG)?;
        let mut out = Vec::new();
        let start_key = start.to_be_bytes();
        for item in db
            .db
            .iterator_cf(cf, IteratorMode::From(&start_key, Direction::Forward))
        {
            let (key, value) = item?;
            let index = read_u64("log key", &key, 0)?;
            if end.is_some_and(|end| index >= end) {
                break;
            }
            let entry: Entry = decode("log entry", &value)?;
            if entry.log_id.index != index {
                return Err(Error::corrupt(
                    "log entry",
                    format!("key {index} holds entry {}", entry.log_id.index),
                ));
            }
            out.push(entry);
        }
        Ok(out)
    }

    fn log_state(db: &Db) -> Result<LogState<TypeConfig>> {
        let last_purged: Option<LogId> = Self::read_meta(db, KEY_LAST_PURGED)?;
        let last = match db.db.iterator_cf(db.cf(CF_LOG)?, IteratorMode::End).next() {
            Some(item) => {
                let (_, value) = item?;
                let entry: Entry = decode("log entry", &value)?;
                Some(entry.log_id)
            }
            None => None,
        };
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last.or(last_purged),
        })
    }

    fn put_meta_sync<T: serde::Serialize>(
        db: &Db,
        key: &'static [u8],
        value: &T,
        sync: bool,
    ) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.put_cf(db.cf(CF_LOG_META)?, key, encode(value)?);
        if sync {
            db.write_sync(batch)
        } else {
            db.write(batch)
        }
    }
}

impl LogStore {
    /// Appends `entries` with one synced write: when this returns `Ok`, they are on disk.
    ///
    /// [`RaftLogStorage::append`] is this plus openraft's callback; tools and tests that
    /// drive the log without a Raft node use it directly.
    pub async fn append_durable(&self, entries: Vec<Entry>) -> Result<()> {
        let db = self.db.clone();
        blocking(move || {
            let cf = db.cf(CF_LOG)?;
            let mut batch = WriteBatch::default();
            for entry in &entries {
                batch.put_cf(cf, entry.log_id.index.to_be_bytes(), encode(entry)?);
            }
            db.write_sync(batch)
        })
        .await
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(i) => Some(i.saturating_add(1)),
            Bound::Excluded(i) => Some(*i),
            Bound::Unbounded => None,
        };
        let db = self.db.clone();
        blocking(move || Self::entries(&db, start, end))
            .await
            .sto(ErrorSubject::Logs, ErrorVerb::Read)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let db = self.db.clone();
        blocking(move || Self::log_state(&db))
            .await
            .sto(ErrorSubject::Logs, ErrorVerb::Read)
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let db = self.db.clone();
        let vote = *vote;
        blocking(move || Self::put_meta_sync(&db, KEY_VOTE, &vote, true))
            .await
            .sto(ErrorSubject::Vote, ErrorVerb::Write)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        let db = self.db.clone();
        blocking(move || Self::read_meta(&db, KEY_VOTE))
            .await
            .sto(ErrorSubject::Vote, ErrorVerb::Read)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let db = self.db.clone();
        // Not synced: the committed id is a hint to re-apply faster after a restart; losing the
        // latest one only means re-applying less eagerly.
        blocking(move || Self::put_meta_sync(&db, KEY_COMMITTED, &committed, false))
            .await
            .sto(ErrorSubject::Store, ErrorVerb::Write)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let db = self.db.clone();
        blocking(move || Ok(Self::read_meta::<Option<LogId>>(&db, KEY_COMMITTED)?.flatten()))
            .await
            .sto(ErrorSubject::Store, ErrorVerb::Read)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let written = self.append_durable(entries.into_iter().collect()).await;
        match written {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let message = e.to_string();
                callback.log_io_completed(Err(std::io::Error::other(message)));
                Err(e.into_storage(ErrorSubject::Logs, ErrorVerb::Write))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(since = %log_id, "truncate log");
        let db = self.db.clone();
        blocking(move || {
            let mut batch = WriteBatch::default();
            batch.delete_range_cf(
                db.cf(CF_LOG)?,
                log_id.index.to_be_bytes(),
                u64::MAX.to_be_bytes(),
            );
            batch.delete_cf(db.cf(CF_LOG)?, u64::MAX.to_be_bytes());
            db.write_sync(batch)
        })
        .await
        .sto(ErrorSubject::Logs, ErrorVerb::Delete)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(upto = %log_id, "purge log");
        let db = self.db.clone();
        blocking(move || {
            // The last purged id and the deletion are one atomic batch: a restart sees either
            // neither or both, never a log that starts after an unknown purge point.
            let mut batch = WriteBatch::default();
            batch.put_cf(db.cf(CF_LOG_META)?, KEY_LAST_PURGED, encode(&log_id)?);
            let end = log_id.index.saturating_add(1);
            batch.delete_range_cf(db.cf(CF_LOG)?, 0u64.to_be_bytes(), end.to_be_bytes());
            db.write_sync(batch)
        })
        .await
        .sto(ErrorSubject::Logs, ErrorVerb::Delete)
    }
}
