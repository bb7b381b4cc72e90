//! File commands: content-addressed chunked blobs, file versions, deletion and pins.
//!
//! A blob is stored as numbered chunks under its sha256. Chunks arrive as separate commands;
//! the file version (the index entry) is committed by [`commit_file`] after the last chunk,
//! which verifies the digest once. A version pinned by a job survives deletion of its path
//! (hidden, still readable by version) until its last pin is released.

use rocksdb::{Direction, IteratorMode};

use super::apply::{bad_request, conflict, not_found, valid_name, valid_path};
use super::keys;
use super::tx::Tx;
use crate::command::{RejectCode, Response};
use crate::db::{CF_BLOBS, CF_BLOB_CHUNKS, CF_FILES, CF_PROJECTS};
use crate::error::Result;
use crate::model::{BlobMeta, FileKind, FileVersion};
use crate::types::{Sha256, UnixMillis};

/// Largest chunk accepted in one command. Raft ships up to `max_payload_entries` entries in
/// one message, so entry size bounds message size: the master keeps every entry below
/// [`MAX_ENTRY_BYTES`](crate::MAX_ENTRY_BYTES).
pub const MAX_CHUNK_BYTES: usize = 1 << 20;
/// Largest blob.
pub const MAX_BLOB_BYTES: u64 = 64 << 30;

pub(crate) fn put_blob_chunk(
    tx: &mut Tx<'_>,
    sha: &Sha256,
    size: u64,
    chunk_count: u32,
    index: u32,
    data: &[u8],
) -> Result<Response> {
    if chunk_count == 0 || index >= chunk_count {
        return bad_request(format!("chunk {index} of {chunk_count}"));
    }
    if data.len() > MAX_CHUNK_BYTES || size > MAX_BLOB_BYTES {
        return bad_request("chunk or blob too large");
    }
    if u64::from(chunk_count) > size.max(1) {
        return bad_request("more chunks than bytes");
    }
    let mut meta = match tx.get::<BlobMeta>(CF_BLOBS, &keys::blob(sha))? {
        Some(meta) if meta.size != size || meta.chunk_count != chunk_count => {
            return conflict(format!(
                "blob {sha} is being stored with another size or chunk count"
            ));
        }
        Some(meta) => meta,
        None => BlobMeta {
            sha256: *sha,
            size,
            chunk_count,
            received: 0,
            complete: false,
            refs: 0,
            created_at_ms: tx.now,
        },
    };
    if meta.complete || tx.exists(CF_BLOB_CHUNKS, &keys::blob_chunk(sha, index))? {
        return Ok(Response::BlobChunk {
            received: meta.received,
            complete: meta.complete,
        });
    }
    tx.put_raw(CF_BLOB_CHUNKS, keys::blob_chunk(sha, index), data.to_vec());
    meta.received += 1;
    tx.put(CF_BLOBS, keys::blob(sha), &meta)?;
    Ok(Response::BlobChunk {
        received: meta.received,
        complete: false,
    })
}

/// Reads the stored chunks of `meta` in order and checks size and digest.
fn verify_blob(tx: &Tx<'_>, meta: &BlobMeta) -> Result<Result<(), String>> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    let mut size = 0u64;
    for index in 0..meta.chunk_count {
        let Some(chunk) = tx.get_raw(CF_BLOB_CHUNKS, &keys::blob_chunk(&meta.sha256, index))?
        else {
            return Ok(Err(format!("chunk {index} is missing")));
        };
        size += chunk.len() as u64;
        hasher.update(&chunk);
    }
    if size != meta.size {
        return Ok(Err(format!(
            "chunks hold {size} bytes, {} declared",
            meta.size
        )));
    }
    let got = Sha256(hasher.finalize().into());
    if got != meta.sha256 {
        return Ok(Err(format!("chunks hash to {got}")));
    }
    Ok(Ok(()))
}

/// Removes a blob and its chunks.
fn drop_blob(tx: &mut Tx<'_>, sha: &Sha256) {
    tx.delete(CF_BLOBS, keys::blob(sha));
    tx.delete_prefix(CF_BLOB_CHUNKS, &keys::blob(sha));
}

/// Releases one reference to a blob, dropping it with its last reference.
fn release_blob(tx: &mut Tx<'_>, sha: &Sha256) -> Result<()> {
    let Some(mut meta) = tx.get::<BlobMeta>(CF_BLOBS, &keys::blob(sha))? else {
        return Ok(());
    };
    meta.refs = meta.refs.saturating_sub(1);
    if meta.refs == 0 {
        drop_blob(tx, sha);
    } else {
        tx.put(CF_BLOBS, keys::blob(sha), &meta)?;
    }
    Ok(())
}

/// The newest version of `project/path`, deleted ones included.
pub(crate) fn latest_version(
    tx: &Tx<'_>,
    project: &str,
    path: &str,
) -> Result<Option<FileVersion>> {
    let versions: Vec<(Vec<u8>, FileVersion)> =
        tx.scan(CF_FILES, &keys::file_versions(project, path), usize::MAX)?;
    Ok(versions.into_iter().map(|(_, v)| v).next_back())
}

pub(crate) fn commit_file(
    tx: &mut Tx<'_>,
    project: &str,
    path: &str,
    kind: FileKind,
    sha: &Sha256,
) -> Result<Response> {
    if !valid_name(project) || !valid_path(path) {
        return bad_request(format!("invalid file name {project}/{path}"));
    }
    if !tx.exists(CF_PROJECTS, &keys::project(project))? {
        return not_found(format!("no project {project}"));
    }
    let Some(mut blob) = tx.get::<BlobMeta>(CF_BLOBS, &keys::blob(sha))? else {
        return not_found(format!("blob {sha} was not uploaded"));
    };
    if !blob.complete {
        if blob.received < blob.chunk_count {
            return conflict(format!(
                "blob {sha} has {} of {} chunks",
                blob.received, blob.chunk_count
            ));
        }
        if let Err(why) = verify_blob(tx, &blob)? {
            // The only refusal that changes state: bad chunks are dropped so that a retry can
            // upload them again.
            drop_blob(tx, sha);
            return Ok(Response::reject(
                RejectCode::BadRequest,
                format!("blob {sha}: {why}"),
            ));
        }
        blob.complete = true;
    }
    let latest = latest_version(tx, project, path)?;
    if let Some(latest) = &latest {
        if !latest.deleted && latest.sha256 == *sha {
            return Ok(Response::FileCommitted {
                version: latest.version,
            });
        }
    }
    let version = latest.map_or(1, |v| v.version + 1);
    blob.refs += 1;
    tx.put(CF_BLOBS, keys::blob(sha), &blob)?;
    let record = FileVersion {
        project: project.to_owned(),
        path: path.to_owned(),
        version,
        sha256: *sha,
        size: blob.size,
        kind,
        created_at_ms: tx.now,
        pins: 0,
        deleted: false,
    };
    tx.put(CF_FILES, keys::file(project, path, version), &record)?;
    Ok(Response::FileCommitted { version })
}

pub(crate) fn delete_file(tx: &mut Tx<'_>, project: &str, path: &str) -> Result<Response> {
    let versions: Vec<(Vec<u8>, FileVersion)> =
        tx.scan(CF_FILES, &keys::file_versions(project, path), usize::MAX)?;
    if versions.iter().all(|(_, v)| v.deleted) {
        return not_found(format!("no file {project}/{path}"));
    }
    for (key, mut version) in versions {
        if version.pins > 0 {
            version.deleted = true;
            tx.put(CF_FILES, key, &version)?;
        } else {
            tx.delete(CF_FILES, key);
            release_blob(tx, &version.sha256)?;
        }
    }
    Ok(Response::Ok)
}

/// Takes one pin on a version (a job starts using it).
pub(crate) fn pin(tx: &mut Tx<'_>, version: &FileVersion) -> Result<()> {
    let key = keys::file(&version.project, &version.path, version.version);
    if let Some(mut stored) = tx.get::<FileVersion>(CF_FILES, &key)? {
        stored.pins += 1;
        tx.put(CF_FILES, key, &stored)?;
    }
    Ok(())
}

/// Releases one pin; a deleted version goes away with its last pin.
pub(crate) fn unpin(tx: &mut Tx<'_>, project: &str, path: &str, version: u64) -> Result<()> {
    let key = keys::file(project, path, version);
    let Some(mut stored) = tx.get::<FileVersion>(CF_FILES, &key)? else {
        return Ok(());
    };
    stored.pins = stored.pins.saturating_sub(1);
    if stored.pins == 0 && stored.deleted {
        tx.delete(CF_FILES, key);
        release_blob(tx, &stored.sha256)?;
    } else {
        tx.put(CF_FILES, key, &stored)?;
    }
    Ok(())
}

pub(crate) fn drop_partial_blobs(
    tx: &mut Tx<'_>,
    created_before_ms: UnixMillis,
) -> Result<Response> {
    let cf = tx.db().cf(CF_BLOBS)?;
    let mut stale = Vec::new();
    for item in tx
        .db()
        .db
        .iterator_cf(cf, IteratorMode::From(&[], Direction::Forward))
    {
        let (_, value) = item?;
        let meta: BlobMeta = crate::codec::decode(CF_BLOBS, &value)?;
        if meta.refs == 0 && meta.created_at_ms < created_before_ms {
            stale.push(meta.sha256);
        }
    }
    let count = u32::try_from(stale.len()).unwrap_or(u32::MAX);
    for sha in &stale {
        drop_blob(tx, sha);
    }
    Ok(Response::BlobsDropped { count })
}
