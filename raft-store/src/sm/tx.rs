//! A write transaction over the state machine's column families for one log entry.
//!
//! Reads see the transaction's own writes (an overlay in front of RocksDB), and the whole
//! transaction becomes one [`WriteBatch`], so an entry's state change, last applied log id and
//! membership land atomically.

use std::collections::BTreeMap;

use rocksdb::{Direction, IteratorMode, WriteBatch};
use serde::{de::DeserializeOwned, Serialize};

use crate::codec::{decode, encode, prefix_end};
use crate::db::Db;
use crate::error::Result;
use crate::types::UnixMillis;

/// Pending writes of one entry.
pub(crate) struct Tx<'a> {
    db: &'a Db,
    writes: BTreeMap<(&'static str, Vec<u8>), Option<Vec<u8>>>,
    ranges: Vec<(&'static str, Vec<u8>, Vec<u8>)>,
    /// The entry's time (the replicated clock), used for every timestamp written.
    pub(crate) now: UnixMillis,
}

impl<'a> Tx<'a> {
    pub(crate) fn new(db: &'a Db, now: UnixMillis) -> Self {
        Tx {
            db,
            writes: BTreeMap::new(),
            ranges: Vec::new(),
            now,
        }
    }

    /// Whether the transaction writes to column family `cf`.
    pub(crate) fn touches(&self, cf: &str) -> bool {
        self.writes.keys().any(|(c, _)| *c == cf) || self.ranges.iter().any(|(c, ..)| *c == cf)
    }

    /// Drops every pending write (a refused command changes nothing).
    pub(crate) fn clear(&mut self) {
        self.writes.clear();
        self.ranges.clear();
    }

    /// Raw value of `key`, pending writes first.
    pub(crate) fn get_raw(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(pending) = self.writes.get(&(cf, key.to_vec())) {
            return Ok(pending.clone());
        }
        Ok(self.db.db.get_cf(self.db.cf(cf)?, key)?)
    }

    /// Whether `key` exists.
    pub(crate) fn exists(&self, cf: &'static str, key: &[u8]) -> Result<bool> {
        if let Some(pending) = self.writes.get(&(cf, key.to_vec())) {
            return Ok(pending.is_some());
        }
        Ok(self.db.db.get_pinned_cf(self.db.cf(cf)?, key)?.is_some())
    }

    /// Decoded value of `key`.
    pub(crate) fn get<T: DeserializeOwned>(
        &self,
        cf: &'static str,
        key: &[u8],
    ) -> Result<Option<T>> {
        match self.get_raw(cf, key)? {
            Some(bytes) => Ok(Some(decode(cf, &bytes)?)),
            None => Ok(None),
        }
    }

    /// Stores an encoded record.
    pub(crate) fn put<T: Serialize>(
        &mut self,
        cf: &'static str,
        key: Vec<u8>,
        value: &T,
    ) -> Result<()> {
        self.writes.insert((cf, key), Some(encode(value)?));
        Ok(())
    }

    /// Stores raw bytes.
    pub(crate) fn put_raw(&mut self, cf: &'static str, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert((cf, key), Some(value));
    }

    /// Deletes a key.
    pub(crate) fn delete(&mut self, cf: &'static str, key: Vec<u8>) {
        self.writes.insert((cf, key), None);
    }

    /// Deletes every key starting with `prefix`. Not visible to reads of this transaction, so
    /// only use it for keys the transaction does not read afterwards.
    pub(crate) fn delete_prefix(&mut self, cf: &'static str, prefix: &[u8]) {
        let end = prefix_end(prefix).unwrap_or_else(|| vec![0xff; prefix.len() + 64]);
        self.writes
            .retain(|(c, k), _| !(*c == cf && k.starts_with(prefix)));
        self.ranges.push((cf, prefix.to_vec(), end));
    }

    /// Keys and raw values of every record whose key starts with `prefix`, in key order,
    /// pending writes included; stops after `limit` records.
    pub(crate) fn scan_raw(
        &self,
        cf: &'static str,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut merged: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        let handle = self.db.cf(cf)?;
        let pending = self
            .writes
            .range((cf, prefix.to_vec())..)
            .take_while(|((c, k), _)| *c == cf && k.starts_with(prefix))
            .count();
        // Read enough committed records that `limit` survive the overlay's deletions.
        let wanted = limit.saturating_add(pending);
        for item in self
            .db
            .db
            .iterator_cf(handle, IteratorMode::From(prefix, Direction::Forward))
        {
            let (key, value) = item?;
            if !key.starts_with(prefix) || merged.len() >= wanted {
                break;
            }
            merged.insert(key.to_vec(), Some(value.to_vec()));
        }
        for ((c, k), v) in self.writes.range((cf, prefix.to_vec())..) {
            if *c != cf || !k.starts_with(prefix) {
                break;
            }
            merged.insert(k.clone(), v.clone());
        }
        Ok(merged
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .take(limit)
            .collect())
    }

    /// Keys of the records [`Tx::scan_raw`] finds.
    pub(crate) fn scan_keys(
        &self,
        cf: &'static str,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<Vec<u8>>> {
        Ok(self
            .scan_raw(cf, prefix, limit)?
            .into_iter()
            .map(|(k, _)| k)
            .collect())
    }

    /// Keys and decoded values of the records [`Tx::scan_raw`] finds.
    pub(crate) fn scan<T: DeserializeOwned>(
        &self,
        cf: &'static str,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, T)>> {
        self.scan_raw(cf, prefix, limit)?
            .into_iter()
            .map(|(k, v)| Ok((k, decode(cf, &v)?)))
            .collect()
    }

    /// The write batch of this transaction.
    pub(crate) fn into_batch(self) -> Result<WriteBatch> {
        let mut batch = WriteBatch::default();
        for (cf, from, to) in &self.ranges {
            batch.delete_range_cf(self.db.cf(cf)?, from, to);
        }
        for ((cf, key), value) in self.writes {
            let handle = self.db.cf(cf)?;
            match value {
                Some(v) => batch.put_cf(handle, key, v),
                None => batch.delete_cf(handle, key),
            }
        }
        Ok(batch)
    }
}

impl Tx<'_> {
    /// The database, for scans over committed data only.
    pub(crate) fn db(&self) -> &Db {
        self.db
    }
}
