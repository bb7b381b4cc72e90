//! Files of a project: streaming upload (spooled to disk, hashed, then committed chunk by
//! chunk through Raft), latest-version listing, versions, download and delete.
//!
//! Paths are validated before anything is stored (no absolute paths, no `.` or `..`
//! segments, no backslashes or control characters): DESIGN invariant 7.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use broadside_raft_store::model::{FileKind, FileVersion};
use broadside_raft_store::{
    valid_name, valid_path, Command, Response as StoreResponse, Sha256, MAX_CHUNK_BYTES,
};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::AppState;
use super::{commit, request_id, ApiQuery, Consistent, PageQuery, PageView, Problem};
use crate::node::Node;

/// Blob chunks committed concurrently during an upload.
const CHUNKS_IN_FLIGHT: usize = 4;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/projects/{project}/files", get(list))
        .route(
            "/projects/{project}/files/{*path}",
            get(download).put(upload).delete(remove),
        )
        .route("/projects/{project}/file-versions/{*path}", get(versions))
}

/// A file version as the API shows it.
#[derive(Debug, Serialize)]
pub(crate) struct FileView {
    project: String,
    path: String,
    version: u64,
    sha256: String,
    size: u64,
    kind: &'static str,
    created_at_ms: u64,
    pinned_by_jobs: u32,
    deleted: bool,
}

fn kind_name(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Simulation => "simulation",
        FileKind::Data => "data",
        FileKind::Conf => "conf",
        FileKind::Artifact => "artifact",
    }
}

impl From<FileVersion> for FileView {
    fn from(f: FileVersion) -> Self {
        FileView {
            project: f.project,
            path: f.path,
            version: f.version,
            sha256: f.sha256.to_hex(),
            size: f.size,
            kind: kind_name(f.kind),
            created_at_ms: f.created_at_ms,
            pinned_by_jobs: f.pins,
            deleted: f.deleted,
        }
    }
}

/// Checks a project name and a file path from a URL.
fn checked(project: &str, path: &str) -> Result<(), Problem> {
    if !valid_name(project) {
        return Err(Problem::bad_request(format!(
            "project {project:?}: 1 to 64 of [A-Za-z0-9_.-]"
        )));
    }
    if !valid_path(path) {
        return Err(Problem::bad_request(format!(
            "path {path:?}: a relative path of at most 1024 bytes, without empty, `.` or `..` \
             segments, backslashes or control characters"
        )));
    }
    Ok(())
}

fn project_exists(node: &Node, project: &str) -> Result<(), Problem> {
    match node.reader().project(project)? {
        Some(_) => Ok(()),
        None => Err(Problem::not_found(format!("no project {project:?}"))),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadQuery {
    #[serde(default)]
    kind: Option<String>,
}

/// The kind of an upload: `?kind=`, or guessed from the extension.
fn upload_kind(query: &UploadQuery, path: &str) -> Result<FileKind, Problem> {
    match query.kind.as_deref() {
        Some("simulation") => Ok(FileKind::Simulation),
        Some("data") => Ok(FileKind::Data),
        Some("conf") => Ok(FileKind::Conf),
        Some("artifact") => Ok(FileKind::Artifact),
        Some(other) => Err(Problem::bad_request(format!(
            "kind {other:?}: one of simulation, data, conf, artifact"
        ))),
        None if path.ends_with(".yaml") || path.ends_with(".yml") => Ok(FileKind::Simulation),
        None => Ok(FileKind::Data),
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
    async fn receive(dir: &FsPath, body: Body, limit: u64) -> Result<Spool, Problem> {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(Problem::internal)?;
        let path = dir.join(format!("upload-{:032x}.tmp", rand::random::<u128>()));
        let mut file = tokio::fs::File::create(&path)
            .await
            .map_err(Problem::internal)?;
        let mut spool = Spool {
            path,
            sha256: Sha256([0; 32]),
            size: 0,
        };
        let mut hasher = sha2::Sha256::new();
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk: Bytes =
                chunk.map_err(|e| Problem::bad_request(format!("upload interrupted: {e}")))?;
            spool.size += chunk.len() as u64;
            if spool.size > limit {
                return Err(Problem::too_large(format!(
                    "upload exceeds the limit of {limit} bytes"
                )));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(Problem::internal)?;
        }
        file.flush().await.map_err(Problem::internal)?;
        spool.sha256 = Sha256(hasher.finalize().into());
        Ok(spool)
    }

    fn chunk_count(&self) -> u32 {
        (self.size.div_ceil(MAX_CHUNK_BYTES as u64)).max(1) as u32
    }

    /// Chunk `index` of the spooled content.
    async fn chunk(&self, index: u32) -> Result<Vec<u8>, Problem> {
        use tokio::io::AsyncSeekExt;
        let mut file = tokio::fs::File::open(&self.path)
            .await
            .map_err(Problem::internal)?;
        let offset = u64::from(index) * MAX_CHUNK_BYTES as u64;
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(Problem::internal)?;
        let mut data = Vec::with_capacity(MAX_CHUNK_BYTES);
        file.take(MAX_CHUNK_BYTES as u64)
            .read_to_end(&mut data)
            .await
            .map_err(Problem::internal)?;
        Ok(data)
    }
}

/// Stores the spooled content as a blob, unless a complete one already exists.
async fn store_blob(node: &Node, spool: &Spool) -> Result<(), Problem> {
    if node
        .reader()
        .blob(&spool.sha256)?
        .is_some_and(|b| b.complete)
    {
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
            commit(node, Node::new_request_id(), command)
                .await
                .map(drop)
        })
        .buffer_unordered(CHUNKS_IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

async fn upload(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path((project, path)): Path<(String, String)>,
    query: Result<Query<UploadQuery>, axum::extract::rejection::QueryRejection>,
    body: Body,
) -> Result<impl IntoResponse, Problem> {
    checked(&project, &path)?;
    let Query(query) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    let kind = upload_kind(&query, &path)?;
    // A write is checked against the latest committed state: a project missing from this
    // replica may only not be applied here yet (a lagging follower), so ask again after a
    // read barrier before refusing.
    if node.reader().project(&project)?.is_none() {
        node.read_barrier().await?;
    }
    project_exists(&node, &project)?;
    let spool = Spool::receive(
        &node.config.data.join("uploads"),
        body,
        node.config.max_upload_bytes,
    )
    .await?;
    store_blob(&node, &spool).await?;
    let scope = format!("PUT files {project}/{path} {}", spool.sha256);
    let response = commit(
        &node,
        request_id(&headers, &scope)?,
        Command::CommitFile {
            project: project.clone(),
            path: path.clone(),
            kind,
            sha256: spool.sha256,
        },
    )
    .await?;
    let StoreResponse::FileCommitted { version } = response else {
        return Err(Problem::internal(format!(
            "unexpected answer to a commit: {response:?}"
        )));
    };
    let view = node
        .reader()
        .file(&project, &path, Some(version))?
        .map(FileView::from)
        .ok_or_else(|| Problem::conflict(format!("{project}/{path} was deleted meanwhile")))?;
    Ok((
        StatusCode::CREATED,
        [(
            header::LOCATION,
            format!("/api/v1/projects/{project}/files/{path}?version={version}"),
        )],
        Json(view),
    ))
}

async fn list(
    State(node): State<Arc<Node>>,
    _: Consistent,
    Path(project): Path<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<PageView<FileView>>, Problem> {
    project_exists(&node, &project)?;
    let page = node.reader().list_files(&project, &page.request()?)?;
    Ok(Json(PageView::from_page(page, FileView::from)))
}

async fn versions(
    State(node): State<Arc<Node>>,
    _: Consistent,
    Path((project, path)): Path<(String, String)>,
) -> Result<Json<Vec<FileView>>, Problem> {
    checked(&project, &path)?;
    let versions = node.reader().file_versions(&project, &path)?;
    if versions.is_empty() {
        return Err(Problem::not_found(format!("no file {project}/{path}")));
    }
    Ok(Json(versions.into_iter().map(FileView::from).collect()))
}

#[derive(Debug, Default, Deserialize)]
struct DownloadQuery {
    #[serde(default)]
    version: Option<u64>,
}

async fn download(
    State(node): State<Arc<Node>>,
    _: Consistent,
    Path((project, path)): Path<(String, String)>,
    query: Result<Query<DownloadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    checked(&project, &path)?;
    let Query(query) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    let file = node
        .reader()
        .file(&project, &path, query.version)?
        .ok_or_else(|| Problem::not_found(format!("no file {project}/{path}")))?;
    let blob = node
        .reader()
        .blob(&file.sha256)?
        .filter(|b| b.complete)
        .ok_or_else(|| {
            Problem::internal(format!(
                "blob {} of a committed file is missing",
                file.sha256
            ))
        })?;
    let reader = node.reader().clone();
    let sha = file.sha256;
    let chunks = futures::stream::iter(0..blob.chunk_count).then(move |index| {
        let reader = reader.clone();
        async move {
            match reader.blob_chunk(&sha, index) {
                Ok(Some(data)) => Ok(Bytes::from(data)),
                Ok(None) => Err(std::io::Error::other(format!("chunk {index} missing"))),
                Err(e) => Err(std::io::Error::other(e.to_string())),
            }
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, file.size.to_string()),
            (header::ETAG, format!("\"{}\"", file.sha256)),
            (
                header::HeaderName::from_static("x-broadside-version"),
                file.version.to_string(),
            ),
        ],
        Body::from_stream(chunks),
    )
        .into_response())
}

async fn remove(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path((project, path)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    checked(&project, &path)?;
    let id = request_id(&headers, &format!("DELETE files {project}/{path}"))?;
    commit(&node, id, Command::DeleteFile { project, path }).await?;
    Ok(StatusCode::NO_CONTENT)
}
