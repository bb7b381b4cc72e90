//! Snapshots as files: built from a consistent RocksDB snapshot, streamed by openraft in
//! chunks, installed record by record in bounded batches.
//!
//! File layout: `BSNAP` magic, a `u32` length and the versioned header ([`SnapshotHeader`]),
//! then records `[1u8][cf u8][key len u32][key][value len u32][value]`, then `[0u8]` and the
//! sha256 of every preceding byte. `snapshots/current` is the newest snapshot; a snapshot is
//! written to a temporary name and renamed, so `current` is always whole.
//!
//! Installing: the received data is saved as `snapshots/incoming` and verified, an
//! `installing` marker is written, the state machine's column families are cleared and
//! reloaded, and one final synced batch sets last applied and membership and removes the
//! marker. A crash in between leaves the marker, and [`recover`] redoes the load on open.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use rocksdb::{IteratorMode, WriteBatch};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::keys;
use crate::codec::{decode, encode};
use crate::db::{Db, CF_SM_META, SM_DATA_CFS, STORE_FORMAT};
use crate::error::{Error, Result};
use crate::types::{LogId, SnapshotMeta, StoredMembership};

const MAGIC: &[u8; 5] = b"BSNAP";
const CURRENT: &str = "current";
const INCOMING: &str = "incoming";
/// Flush an install batch once it holds this many bytes.
const INSTALL_BATCH_BYTES: usize = 8 << 20;
/// Column-family index used in snapshot records for replicated `sm_meta` keys.
const META_INDEX: u8 = u8::MAX;

/// The header of a snapshot file.
#[derive(Serialize, Deserialize)]
struct SnapshotHeader {
    store_format: u32,
    meta: SnapshotMeta,
}

fn current_path(db: &Db) -> PathBuf {
    db.snapshot_dir.join(CURRENT)
}

fn tmp_path(db: &Db, what: &str) -> PathBuf {
    let n = db.tmp_seq.fetch_add(1, Ordering::Relaxed);
    db.snapshot_dir.join(format!("{what}-{n}.tmp"))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Writes through to a hasher.
struct Hashing<W> {
    inner: W,
    hasher: sha2::Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn len32(what: &'static str, n: usize) -> Result<[u8; 4]> {
    u32::try_from(n)
        .map(u32::to_be_bytes)
        .map_err(|_| Error::corrupt(what, format!("{n} bytes do not fit a snapshot record")))
}

fn write_record<W: Write>(out: &mut W, cf: u8, key: &[u8], value: &[u8]) -> Result<()> {
    out.write_all(&[1, cf])?;
    out.write_all(&len32("snapshot key", key.len())?)?;
    out.write_all(key)?;
    out.write_all(&len32("snapshot value", value.len())?)?;
    out.write_all(value)?;
    Ok(())
}

/// Builds a snapshot of the state as of now into `snapshots/current`; returns its metadata.
pub(crate) fn build(db: &Db) -> Result<SnapshotMeta> {
    let view = db.db.snapshot();
    let meta_cf = db.cf(CF_SM_META)?;
    let last_applied: Option<LogId> = match view.get_cf(meta_cf, keys::META_LAST_APPLIED)? {
        Some(b) => decode("last applied", &b)?,
        None => None,
    };
    let membership: StoredMembership = match view.get_cf(meta_cf, keys::META_MEMBERSHIP)? {
        Some(b) => decode("membership", &b)?,
        None => StoredMembership::default(),
    };
    let snapshot_id = match &last_applied {
        Some(id) => format!(
            "{}-{}-{}",
            id.leader_id.term, id.leader_id.node_id, id.index
        ),
        None => "empty".to_owned(),
    };
    let meta = SnapshotMeta {
        last_log_id: last_applied,
        last_membership: membership,
        snapshot_id,
    };

    let tmp = tmp_path(db, "build");
    let mut out = Hashing {
        inner: BufWriter::new(File::create(&tmp)?),
        hasher: sha2::Sha256::new(),
    };
    let header = encode(&SnapshotHeader {
        store_format: STORE_FORMAT,
        meta: meta.clone(),
    })?;
    out.write_all(MAGIC)?;
    out.write_all(&len32("snapshot header", header.len())?)?;
    out.write_all(&header)?;
    for key in keys::REPLICATED_META {
        if let Some(value) = view.get_cf(meta_cf, key)? {
            write_record(&mut out, META_INDEX, key, &value)?;
        }
    }
    for (index, name) in SM_DATA_CFS.iter().enumerate() {
        let cf = db.cf(name)?;
        let index = u8::try_from(index)
            .map_err(|_| Error::corrupt("snapshot", "too many column families"))?;
        for item in view.iterator_cf(cf, IteratorMode::Start) {
            let (key, value) = item?;
            write_record(&mut out, index, &key, &value)?;
        }
    }
    out.write_all(&[0])?;
    let digest: [u8; 32] = out.hasher.finalize().into();
    let mut file = out
        .inner
        .into_inner()
        .map_err(|e| Error::Io(e.into_error()))?;
    file.write_all(&digest)?;
    file.sync_all()?;
    std::fs::rename(&tmp, current_path(db))?;
    sync_dir(&db.snapshot_dir)?;
    tracing::info!(snapshot_id = %meta.snapshot_id, "snapshot built");
    Ok(meta)
}

/// Reads and checks the header of a snapshot file, leaving `reader` at the first record.
fn read_header<R: Read>(reader: &mut R) -> Result<SnapshotHeader> {
    let mut magic = [0u8; 5];
    reader.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(Error::corrupt("snapshot", "bad magic"));
    }
    let mut len = [0u8; 4];
    reader.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > (64 << 20) {
        return Err(Error::corrupt("snapshot", "header too long"));
    }
    let mut header = vec![0u8; len];
    reader.read_exact(&mut header)?;
    let header: SnapshotHeader = decode("snapshot header", &header)?;
    if header.store_format > STORE_FORMAT {
        return Err(Error::FutureFormat {
            what: "snapshot",
            found: header.store_format,
            supported: STORE_FORMAT,
        });
    }
    Ok(header)
}

/// The current snapshot's metadata and an open handle positioned at its start.
pub(crate) fn open_current(db: &Db) -> Result<Option<(SnapshotMeta, File)>> {
    use std::io::{Seek, SeekFrom};
    let mut file = match File::open(current_path(db)) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let meta = read_header(&mut BufReader::new(&file))?.meta;
    file.seek(SeekFrom::Start(0))?;
    Ok(Some((meta, file)))
}

/// Reads `len` bytes of a length-prefixed field.
fn read_field<R: Read>(reader: &mut R, what: &'static str) -> Result<Vec<u8>> {
    let mut len = [0u8; 4];
    reader.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > (256 << 20) {
        return Err(Error::corrupt(what, "field too long"));
    }
    let mut buf = vec![0u8; len];
    reader.read_exact(&mut buf)?;
    Ok(buf)
}

/// Checks a snapshot file's trailing digest without loading it.
fn verify_file(path: &Path) -> Result<SnapshotMeta> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    if len < 32 {
        return Err(Error::corrupt("snapshot", "file too short"));
    }
    let mut reader = BufReader::new(file);
    let mut hasher = sha2::Sha256::new();
    let mut body = (&mut reader).take(len - 32);
    std::io::copy(&mut body, &mut hasher)?;
    let mut digest = [0u8; 32];
    reader.read_exact(&mut digest)?;
    if digest != <[u8; 32]>::from(hasher.finalize()) {
        return Err(Error::corrupt("snapshot", "digest mismatch"));
    }
    Ok(read_header(&mut BufReader::new(File::open(path)?))?.meta)
}

/// Saves received snapshot bytes (already written to `tmp`) as `incoming`, then installs it.
pub(crate) fn install_file(db: &Db, received: &Path, expected: &SnapshotMeta) -> Result<()> {
    let checked = verify_file(received).and_then(|meta| {
        if meta == *expected {
            Ok(meta)
        } else {
            Err(Error::corrupt(
                "snapshot",
                format!(
                    "file holds {} but {} was announced",
                    meta.snapshot_id, expected.snapshot_id
                ),
            ))
        }
    });
    let meta = match checked {
        Ok(meta) => meta,
        Err(e) => {
            tracing::warn!(error = %e, "refusing a received snapshot");
            // Best effort: a leftover temporary file is also removed on the next open.
            let _ = std::fs::remove_file(received);
            return Err(e);
        }
    };
    let incoming = db.snapshot_dir.join(INCOMING);
    std::fs::rename(received, &incoming)?;
    sync_dir(&db.snapshot_dir)?;
    let mut marker = WriteBatch::default();
    marker.put_cf(db.cf(CF_SM_META)?, keys::META_INSTALLING, encode(&meta)?);
    db.write_sync(marker)?;
    let loaded = load(db, &incoming, &meta);
    // Whatever the snapshot held replaced every token.
    db.tokens_changed();
    loaded
}

/// Replaces the state machine with the content of `path` (a verified snapshot file).
fn load(db: &Db, path: &Path, meta: &SnapshotMeta) -> Result<()> {
    let mut clear = WriteBatch::default();
    for name in SM_DATA_CFS {
        clear.delete_range_cf(db.cf(name)?, [0u8].as_slice(), [0xffu8; 64].as_slice());
        clear.delete_range_cf(db.cf(name)?, [].as_slice(), [0u8].as_slice());
    }
    for key in keys::REPLICATED_META {
        clear.delete_cf(db.cf(CF_SM_META)?, key);
    }
    db.write(clear)?;

    let mut reader = BufReader::new(File::open(path)?);
    read_header(&mut reader)?;
    let mut batch = WriteBatch::default();
    loop {
        let mut tag = [0u8; 2];
        reader.read_exact(&mut tag[..1])?;
        if tag[0] == 0 {
            break;
        }
        reader.read_exact(&mut tag[1..])?;
        let cf_name = if tag[1] == META_INDEX {
            CF_SM_META
        } else {
            SM_DATA_CFS
                .get(usize::from(tag[1]))
                .copied()
                .ok_or_else(|| {
                    Error::corrupt("snapshot", format!("column family index {}", tag[1]))
                })?
        };
        let key = read_field(&mut reader, "snapshot key")?;
        let value = read_field(&mut reader, "snapshot value")?;
        if cf_name == CF_SM_META && !keys::REPLICATED_META.contains(&key.as_slice()) {
            return Err(Error::corrupt("snapshot", "unexpected metadata key"));
        }
        batch.put_cf(db.cf(cf_name)?, key, value);
        if batch.size_in_bytes() >= INSTALL_BATCH_BYTES {
            db.write(std::mem::take(&mut batch))?;
        }
    }
    let meta_cf = db.cf(CF_SM_META)?;
    batch.put_cf(meta_cf, keys::META_LAST_APPLIED, encode(&meta.last_log_id)?);
    batch.put_cf(
        meta_cf,
        keys::META_MEMBERSHIP,
        encode(&meta.last_membership)?,
    );
    batch.delete_cf(meta_cf, keys::META_INSTALLING);
    db.write_sync(batch)?;
    std::fs::rename(path, current_path(db))?;
    sync_dir(&db.snapshot_dir)?;
    tracing::info!(snapshot_id = %meta.snapshot_id, "snapshot installed");
    Ok(())
}

/// Finishes an install interrupted by a crash, and removes leftover temporary files.
pub(crate) fn recover(db: &Db) -> Result<()> {
    let incoming = db.snapshot_dir.join(INCOMING);
    if let Some(bytes) = db.db.get_cf(db.cf(CF_SM_META)?, keys::META_INSTALLING)? {
        let meta: SnapshotMeta = decode("installing marker", &bytes)?;
        tracing::warn!(snapshot_id = %meta.snapshot_id, "resuming an interrupted snapshot install");
        load(db, &incoming, &meta)?;
    } else if incoming.exists() {
        // Installed, but the crash came before the rename.
        std::fs::rename(&incoming, current_path(db))?;
    }
    for entry in std::fs::read_dir(&db.snapshot_dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "tmp") {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// A fresh temporary path for receiving a snapshot.
pub(crate) fn receive_path(db: &Db) -> PathBuf {
    tmp_path(db, "recv")
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload};

    use super::*;
    use crate::command::{Command, Request};
    use crate::db::CF_PROJECTS;
    use crate::types::{Entry, RequestId};
    use crate::{open, StateMachineStore};

    /// A store holding `n` projects, and its directory.
    fn store_with_projects(n: u64) -> (tempfile::TempDir, StateMachineStore) {
        let dir = tempfile::tempdir().unwrap();
        let (_log, sm) = open(dir.path()).unwrap();
        let entries = (1..=n)
            .map(|i| Entry {
                log_id: LogId::new(CommittedLeaderId::new(1, 1), i),
                payload: EntryPayload::Normal(Request::new(
                    RequestId(u128::from(i)),
                    1_000 * i,
                    Command::CreateProject {
                        name: format!("p{i}"),
                        description: "x".repeat(100),
                    },
                )),
            })
            .collect();
        StateMachineStore::apply_entries(&sm.db, entries).unwrap();
        (dir, sm)
    }

    /// Leaves `follower` as a crash in the middle of installing `leader`'s snapshot would:
    /// the verified file saved as `incoming`, the marker set, the state half replaced.
    fn crash_mid_install(leader: &StateMachineStore, follower: &StateMachineStore) -> SnapshotMeta {
        let meta = build(&leader.db).unwrap();
        let db = &follower.db;
        std::fs::copy(current_path(&leader.db), db.snapshot_dir.join(INCOMING)).unwrap();
        let mut batch = WriteBatch::default();
        batch.put_cf(
            db.cf(CF_SM_META).unwrap(),
            keys::META_INSTALLING,
            encode(&meta).unwrap(),
        );
        let projects = db.cf(CF_PROJECTS).unwrap();
        batch.delete_range_cf(projects, [].as_slice(), [0xffu8; 8].as_slice());
        batch.put_cf(projects, b"p1", b"half-loaded");
        db.write_sync(batch).unwrap();
        meta
    }

    #[test]
    fn an_install_interrupted_by_a_crash_is_finished_on_open() {
        let (_a, leader) = store_with_projects(50);
        let (b, follower) = store_with_projects(3);
        let meta = crash_mid_install(&leader, &follower);
        drop(follower);

        let (_log, reopened) = open(b.path()).unwrap();
        let reader = reopened.reader();
        assert_eq!(reader.digest().unwrap(), leader.reader().digest().unwrap());
        assert_eq!(reader.last_applied().unwrap(), meta.last_log_id);
        let db = &reopened.db;
        assert!(db
            .db
            .get_cf(db.cf(CF_SM_META).unwrap(), keys::META_INSTALLING)
            .unwrap()
            .is_none());
        assert!(!db.snapshot_dir.join(INCOMING).exists());
        let (current, _) = open_current(db).unwrap().expect("installed snapshot kept");
        assert_eq!(current, meta);
    }

    #[test]
    fn a_crash_after_loading_but_before_the_rename_keeps_the_snapshot() {
        let (_a, leader) = store_with_projects(5);
        let (b, follower) = store_with_projects(1);
        let meta = build(&leader.db).unwrap();
        let incoming = follower.db.snapshot_dir.join(INCOMING);
        std::fs::copy(current_path(&leader.db), &incoming).unwrap();
        load(&follower.db, &incoming, &meta).unwrap();
        // `load` renamed it; put it back as a crash before the rename would have left it.
        std::fs::rename(current_path(&follower.db), &incoming).unwrap();
        std::fs::write(follower.db.snapshot_dir.join("recv-9.tmp"), b"partial").unwrap();
        drop(follower);

        let (_log, reopened) = open(b.path()).unwrap();
        assert_eq!(
            reopened.reader().digest().unwrap(),
            leader.reader().digest().unwrap()
        );
        let (current, _) = open_current(&reopened.db).unwrap().expect("kept");
        assert_eq!(current, meta);
        let leftovers: Vec<_> = std::fs::read_dir(&reopened.db.snapshot_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from(CURRENT)]);
    }
}
