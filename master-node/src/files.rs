//! Files of a project: an upload is spooled to disk (hashed as it arrives, refused past the
//! limit), stored once per content as a blob committed chunk by chunk through Raft, then
//! committed as a new version of its path.
//!
//! Names and paths are validated before anything is stored (no absolute paths, no `.` or
//! `..` segments, no backslashes or control characters): `docs/design.md#invariant-7`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use broadside_raft_store::model::{FileKind, FileVersion};
use broadside_raft_store::{valid_name, valid_path, Command, Response, Sha256, MAX_CHUNK_BYTES};
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::app::App;
use crate::error::{Error, Result};
use crate::idempotency::Writer;
use crate::node::Node;

/// Blob chunks committed concurrently during an upload.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Checks a project name and a file path given by a client.
pub(crate) fn checked(project: &str, path: &str) -> Result<()> {
    if !valid_name(project) {
        return Err(Error::BadRequest(format!(
            "project {project:?}: 1 to 64 of [A-Za-z0-9_.-]"
        )));
    }
    if !valid_path(path) {
        return Err(Error::BadRequest(format!(
            "path {path:?}: a relative path of at most 1024 bytes, without empty, `.` or `..` \
             segments, backslashes or control characters"
        )));
    }
    Ok(())
}

/// The kind of an upload without an explicit one: simulations are YAML.
pub(crate) fn guess_kind(path: &str) -> FileKind {
    if path.ends_with(".yaml") || path.ends_with(".yml") {
        FileKind::Simulation
    } else {
        FileKind::Data
    }
}

/// An upload spooled to a temporary file, with its digest and size.
struct Spool {
    path: PathBuf,
    sha256: Sha256,
    size: u64,
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Spool {
    /// Streams `body` into a temporary file under `dir`, refusing more than `limit` bytes.
    async fn receive<E: std::fmt::Display>(
        dir: &Path,
        body: impl Stream<Item = std::result::Result<Bytes, E>>,
        limit: u64,
    ) -> Result<Spool> {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(Error::internal)?;
        let path = dir.join(format!("upload-{:032x}.tmp", rand::random::<u128>()));
        let mut file = tokio::fs::File::create(&path)
            .await
            .map_err(Error::internal)?;
        let mut spool = Spool {
            path,
            sha256: Sha256([0; 32]),
            size: 0,
        };
        let mut hasher = sha2::Sha256::new();
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| Error::BadRequest(format!("upload interrupted: {e}")))?;
            spool.size += chunk.len() as u64;
            if spool.size > limit {
                return Err(Error::TooLarge(format!(
                    "upload exceeds the limit of {limit} bytes"
                )));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(Error::internal)?;
        }
        file.flush().await.map_err(Error::internal)?;
        spool.sha256 = Sha256(hasher.finalize().into());
        Ok(spool)
    }

    fn chunk_count(&self) -> u32 {
        (self.size.div_ceil(MAX_CHUNK_BYTES as u64)).max(1) as u32
    }

    /// Chunk `index` of the spooled content.
    async fn chunk(&self, index: u32) -> Result<Vec<u8>> {
        use tokio::io::AsyncSeekExt;
        let mut file = tokio::fs::File::open(&self.path)
            .await
            .map_err(Error::internal)?;
        let offset = u64::from(index) * MAX_CHUNK_BYTES as u64;
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(Error::internal)?;
        let mut data = Vec::with_capacity(MAX_CHUNK_BYTES);
        file.take(MAX_CHUNK_BYTES as u64)
            .read_to_end(&mut data)
            .await
            .map_err(Error::internal)?;
        Ok(data)
    }
}

/// Stores the spooled content as a blob, unless a complete one already exists.
async fn store_blob(app: &App, spool: &Spool) -> Result<()> {
    let sha = spool.sha256;
    let complete = app
        .read(move |r| Ok(r.blob(&sha)?.is_some_and(|b| b.complete)))
        .await?;
    if complete {
        return Ok(());
    }
    let count = spool.chunk_count();
    futures::stream::iter(0..count)
        .map(|index| async move {
            let data = spool.chunk(index).await?;
            let command = Command::PutBlobChunk {
                sha256: spool.sha256,
                size: spool.size,
                chunk_count: count,
                index,
                data,
            };
            app.write(Node::new_request_id(), command, None, None)
                .await
                .map(drop)
        })
        .buffer_unordered(CHUNKS_IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// Whether `project` exists on this replica.
async fn project_exists(app: &App, project: &str) -> Result<bool> {
    let project = project.to_owned();
    app.read(move |r| Ok(r.project(&project)?.is_some())).await
}

/// Uploads `body` as a new version of `project/path`; returns the version committed (the
/// latest one when its content is the same).
pub(crate) async fn upload<E: std::fmt::Display>(
    app: &Arc<App>,
    project: String,
    path: String,
    kind: FileKind,
    body: impl Stream<Item = std::result::Result<Bytes, E>>,
    writer: &Writer,
) -> Result<FileVersion> {
    checked(&project, &path)?;
    // A write is checked against the latest committed state: a project missing from this
    // replica may only not be applied here yet (a lagging follower), so ask again after a
    // read barrier before refusing.
    if !project_exists(app, &project).await? {
        app.read_barrier().await?;
        if !project_exists(app, &project).await? {
            return Err(Error::NotFound(format!("no project {project:?}")));
        }
    }
    let config = &app.node.config;
    let spool = Spool::receive(&config.data.join("uploads"), body, config.max_upload_bytes).await?;
    store_blob(app, &spool).await?;
    let scope = format!("PUT files {project}/{path} {}", spool.sha256);
    let command = Command::CommitFile {
        project: project.clone(),
        path: path.clone(),
        kind,
        sha256: spool.sha256,
    };
    let response = app.write_as(writer, &scope, command).await?;
    let Response::FileCommitted { version } = response else {
        return Err(Error::internal(format_args!(
            "unexpected answer to a commit: {response:?}"
        )));
    };
    app.read(move |r| {
        r.file(&project, &path, Some(version))?
            .ok_or_else(|| Error::Conflict(format!("{project}/{path} was deleted meanwhile")))
    })
    .await
}

/// A file version and the chunks of its content, to stream.
pub(crate) struct Download {
    /// The version.
    pub(crate) file: FileVersion,
    /// Its content, chunk by chunk, read from the replica off the async threads.
    pub(crate) chunks: futures::stream::BoxStream<'static, std::io::Result<Bytes>>,
}

/// The content of `project/path` (the latest version, or `version`).
pub(crate) async fn download(
    app: &Arc<App>,
    project: String,
    path: String,
    version: Option<u64>,
) -> Result<Download> {
    checked(&project, &path)?;
    let (file, chunk_count) = app
        .read(move |r| {
            let file = r
                .file(&project, &path, version)?
                .ok_or_else(|| Error::NotFound(format!("no file {project}/{path}")))?;
            let blob = r
                .blob(&file.sha256)?
                .filter(|b| b.complete)
                .ok_or_else(|| {
                    Error::internal(format_args!(
                        "blob {} of a committed file is missing",
                        file.sha256
                    ))
                })?;
            Ok((file, blob.chunk_count))
        })
        .await?;
    let sha = file.sha256;
    let app = Arc::clone(app);
    let chunks = futures::stream::iter(0..chunk_count)
        .then(move |index| {
            let app = Arc::clone(&app);
            async move {
                let data = app
                    .read(move |r| {
                        r.blob_chunk(&sha, index)?.ok_or_else(|| {
                            Error::internal(format_args!("chunk {index} of blob {sha} is missing"))
                        })
                    })
                    .await
                    .map_err(std::io::Error::other)?;
                Ok(Bytes::from(data))
            }
        })
        .boxed();
    Ok(Download { file, chunks })
}
