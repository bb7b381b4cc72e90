//! Pinned files, fetched by content address into a local cache and laid out for a task.
//!
//! The cache is `DATA/cache/<sha256>`: a file is fetched chunk by chunk into a temporary file,
//! its digest checked, then renamed into place, so a cached file is always whole and correct,
//! and it is reused by every later task that pins the same content. A task's directory holds
//! its files at their project paths (hard links into the cache, copies where links fail), so
//! the simulation finds its feeders and bodies where `broadside run` would.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use broadside_engine::runtime::validate_relative_path;
use broadside_rpc::worker::FileRef;
use sha2::{Digest as _, Sha256};

use crate::link::{Link, LinkError};

/// Patience of one chunk fetch (across failovers).
const FETCH_PATIENCE: Duration = Duration::from_secs(60);
/// Deadline of one chunk call.
const FETCH_DEADLINE: Duration = Duration::from_secs(30);

/// Why a file could not be made available.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Local disk.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The masters could not serve it.
    #[error("fetching {path}: {source}")]
    Fetch {
        /// Project path of the file.
        path: String,
        /// Why.
        source: LinkError,
    },
    /// The bytes received do not have the pinned digest.
    #[error("{path}: content does not match its sha256 (expected {expected}, got {got})")]
    Integrity {
        /// Project path.
        path: String,
        /// Pinned digest.
        expected: String,
        /// Digest of what arrived.
        got: String,
    },
    /// A path that must not be joined to a directory.
    #[error("{path}: {message}")]
    Path {
        /// The path.
        path: String,
        /// Why it is refused.
        message: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_owned(),
        source,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The content-addressed cache.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// The cache under `dir` (created when missing).
    pub fn open(dir: PathBuf) -> Result<Cache, CacheError> {
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(Cache { dir })
    }

    /// Where the content with digest `file.sha256` lives.
    pub fn path_of(&self, file: &FileRef) -> PathBuf {
        self.dir.join(hex(&file.sha256.0))
    }

    /// The cached file of `file`, fetched first if it is not cached yet.
    pub async fn ensure(&self, link: &Link, file: &FileRef) -> Result<PathBuf, CacheError> {
        let target = self.path_of(file);
        if target.exists() {
            return Ok(target);
        }
        let tmp = self.dir.join(format!(
            ".{}.{}",
            hex(&file.sha256.0),
            rand::random::<u32>()
        ));
        let result = self.fetch(link, file, &tmp).await;
        match result {
            Ok(()) => {
                std::fs::rename(&tmp, &target).map_err(io(&target))?;
                Ok(target)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    async fn fetch(&self, link: &Link, file: &FileRef, tmp: &Path) -> Result<(), CacheError> {
        let mut out = std::fs::File::create(tmp).map_err(io(tmp))?;
        let mut hasher = Sha256::new();
        for index in 0..file.chunk_count {
            let sha = file.sha256;
            let chunk = link
                .call(FETCH_PATIENCE, FETCH_DEADLINE, |c, ctx| async move {
                    c.fetch_chunk(ctx, sha, index).await
                })
                .await
                .map_err(|source| CacheError::Fetch {
                    path: file.path.clone(),
                    source,
                })?;
            hasher.update(&chunk.data.0);
            out.write_all(&chunk.data.0).map_err(io(tmp))?;
        }
        out.sync_all().map_err(io(tmp))?;
        let got: [u8; 32] = hasher.finalize().into();
        if got != file.sha256.0 {
            return Err(CacheError::Integrity {
                path: file.path.clone(),
                expected: hex(&file.sha256.0),
                got: hex(&got),
            });
        }
        Ok(())
    }

    /// Lays `files` out under `dir` at their project paths; returns the path of each.
    pub async fn lay_out(
        &self,
        link: &Link,
        files: &[FileRef],
        dir: &Path,
    ) -> Result<Vec<PathBuf>, CacheError> {
        let mut out = Vec::with_capacity(files.len());
        for file in files {
            validate_relative_path(&file.path).map_err(|message| CacheError::Path {
                path: file.path.clone(),
                message,
            })?;
            let cached = self.ensure(link, file).await?;
            let at = dir.join(&file.path);
            if let Some(parent) = at.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            let _ = std::fs::remove_file(&at);
            if std::fs::hard_link(&cached, &at).is_err() {
                std::fs::copy(&cached, &at).map_err(io(&at))?;
            }
            out.push(at);
        }
        Ok(out)
    }
}
