//! The RocksDB instance shared by the log store and the state machine: column families,
//! opening, and the store format check.
//!
//! One database with one write-ahead log holds both the Raft log and the state machine, so a
//! synced log write also makes every earlier state-machine write durable, and the state machine
//! can never be ahead of a durable log after a crash.

use std::path::{Path, PathBuf};

use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, Options, WriteBatch, WriteOptions, DB};

use crate::error::{Error, Result};

/// Raft log entries, keyed by big-endian index.
pub(crate) const CF_LOG: &str = "log";
/// Raft metadata: vote, committed, last purged, store format.
pub(crate) const CF_LOG_META: &str = "log_meta";
/// State-machine metadata: last applied, membership, clock, counters, current snapshot.
pub(crate) const CF_SM_META: &str = "sm_meta";

/// Column families that hold the state machine's data; a snapshot is exactly these plus the
/// replicated keys of [`CF_SM_META`].
pub(crate) const CF_PROJECTS: &str = "projects";
pub(crate) const CF_FILES: &str = "files";
pub(crate) const CF_BLOBS: &str = "blobs";
pub(crate) const CF_BLOB_CHUNKS: &str = "blob_chunks";
pub(crate) const CF_WORKERS: &str = "workers";
pub(crate) const CF_JOBS: &str = "jobs";
pub(crate) const CF_JOB_INDEX: &str = "job_index";
/// Ids of the jobs not yet in a terminal state (the scheduler's working set).
pub(crate) const CF_ACTIVE_JOBS: &str = "active_jobs";
pub(crate) const CF_TASKS: &str = "tasks";
pub(crate) const CF_PROGRESS: &str = "progress";
pub(crate) const CF_RESULTS: &str = "results";
pub(crate) const CF_DEDUP: &str = "dedup";
pub(crate) const CF_DEDUP_TIME: &str = "dedup_time";
/// API tokens by id.
pub(crate) const CF_TOKENS: &str = "tokens";
/// Project secrets by `project\0name`.
pub(crate) const CF_SECRETS: &str = "secrets";
/// Project settings by project.
pub(crate) const CF_SETTINGS: &str = "settings";
/// The audit log by sequence number.
pub(crate) const CF_AUDIT: &str = "audit";
/// The audit log's sequence numbers by `project\0seq`.
pub(crate) const CF_AUDIT_INDEX: &str = "audit_index";
/// Every attempt of every task by `job, task, attempt`: its worker, its timeline and the deltas
/// that arrived after it ended.
pub(crate) const CF_ATTEMPTS: &str = "attempts";
/// Join tokens (`j` + id) and worker identities (`w` + worker id).
pub(crate) const CF_WORKER_ACCESS: &str = "worker_access";

/// Column families that hold the state machine's data; a snapshot is exactly these plus the
/// replicated keys of [`CF_SM_META`].
pub(crate) const SM_DATA_CFS: [&str; 20] = [
    CF_PROJECTS,
    CF_FILES,
    CF_BLOBS,
    CF_BLOB_CHUNKS,
    CF_WORKERS,
    CF_JOBS,
    CF_JOB_INDEX,
    CF_ACTIVE_JOBS,
    CF_TASKS,
    CF_PROGRESS,
    CF_RESULTS,
    CF_DEDUP,
    CF_DEDUP_TIME,
    CF_TOKENS,
    CF_SECRETS,
    CF_SETTINGS,
    CF_AUDIT,
    CF_AUDIT_INDEX,
    CF_ATTEMPTS,
    CF_WORKER_ACCESS,
];

/// Version of the on-disk layout (column families and key shapes).
pub const STORE_FORMAT: u32 = 1;

const FORMAT_KEY: &[u8] = b"store_format";

/// The opened database and the directory around it.
#[derive(Debug)]
pub(crate) struct Db {
    pub(crate) db: DB,
    /// Directory of snapshot files.
    pub(crate) snapshot_dir: PathBuf,
    /// Source of unique temporary file names.
    pub(crate) tmp_seq: std::sync::atomic::AtomicU64,
    /// Bumped after every write that changed the tokens, join tokens or worker identities (an
    /// applied entry, a snapshot installed): what a cache of them is checked against.
    pub(crate) tokens_generation: std::sync::atomic::AtomicU64,
}

impl Db {
    /// Opens (or creates) the store under `dir`: RocksDB in `dir/db`, snapshots in
    /// `dir/snapshots`.
    pub(crate) fn open(dir: &Path) -> Result<Db> {
        let db_path = dir.join("db");
        let snapshot_dir = dir.join("snapshots");
        std::fs::create_dir_all(&db_path)?;
        std::fs::create_dir_all(&snapshot_dir)?;

        let mut known: Vec<&str> = vec!["default", CF_LOG, CF_LOG_META, CF_SM_META];
        known.extend(SM_DATA_CFS);
        if let Ok(existing) = DB::list_cf(&Options::default(), &db_path) {
            if let Some(unknown) = existing.iter().find(|name| !known.contains(&name.as_str())) {
                tracing::error!(column_family = %unknown, "store has a column family this build does not know");
                return Err(Error::FutureFormat {
                    what: "store (unknown column family)",
                    found: STORE_FORMAT + 1,
                    supported: STORE_FORMAT,
                });
            }
        }

        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let cfs = known
            .iter()
            .filter(|name| **name != "default")
            .map(|name| ColumnFamilyDescriptor::new(*name, Options::default()));
        let db = DB::open_cf_descriptors(&opts, &db_path, cfs)?;
        let this = Db {
            db,
            snapshot_dir,
            tmp_seq: std::sync::atomic::AtomicU64::new(0),
            tokens_generation: std::sync::atomic::AtomicU64::new(0),
        };
        this.check_format()?;
        Ok(this)
    }

    /// Notes that the tokens changed (after the change is written).
    pub(crate) fn tokens_changed(&self) {
        self.tokens_generation
            .fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    fn check_format(&self) -> Result<()> {
        let meta = self.cf(CF_LOG_META)?;
        match self.db.get_cf(meta, FORMAT_KEY)? {
            Some(bytes) => {
                let found = <[u8; 4]>::try_from(bytes.as_slice())
                    .map(u32::from_be_bytes)
                    .map_err(|_| {
                        Error::corrupt("store format", format!("{} bytes", bytes.len()))
                    })?;
                if found > STORE_FORMAT {
                    return Err(Error::FutureFormat {
                        what: "store",
                        found,
                        supported: STORE_FORMAT,
                    });
                }
                Ok(())
            }
            None => {
                let mut batch = WriteBatch::default();
                batch.put_cf(meta, FORMAT_KEY, STORE_FORMAT.to_be_bytes());
                self.write_sync(batch)
            }
        }
    }

    /// A column family handle.
    pub(crate) fn cf(&self, name: &'static str) -> Result<&ColumnFamily> {
        self.db
            .cf_handle(name)
            .ok_or(Error::MissingColumnFamily(name))
    }

    /// Writes `batch` and fsyncs the write-ahead log before returning.
    pub(crate) fn write_sync(&self, batch: WriteBatch) -> Result<()> {
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo)?;
        Ok(())
    }

    /// Writes `batch` without waiting for fsync (made durable by the next synced write).
    pub(crate) fn write(&self, batch: WriteBatch) -> Result<()> {
        self.db.write(batch)?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) fn overwrite_format_for_test(dir: &Path, format: u32) -> Result<()> {
    let db = Db::open(dir)?;
    let mut batch = WriteBatch::default();
    batch.put_cf(db.cf(CF_LOG_META)?, FORMAT_KEY, format.to_be_bytes());
    db.write_sync(batch)
}
