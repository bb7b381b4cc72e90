//! The typed query API over the local replica, used by `master-node`.
//!
//! Reads go straight to RocksDB: they never take a lock that apply holds, and each list call
//! iterates one implicit RocksDB snapshot. The calls are synchronous and short; callers on an
//! async runtime run long listings through `spawn_blocking`.

use std::sync::Arc;

use rocksdb::{Direction, IteratorMode};
use serde::de::DeserializeOwned;
use sha2::Digest;

use crate::codec::{decode, read_u64};
use crate::db::{
    Db, CF_ACTIVE_JOBS, CF_ATTEMPTS, CF_AUDIT, CF_AUDIT_INDEX, CF_BLOBS, CF_BLOB_CHUNKS, CF_FILES,
    CF_JOBS, CF_JOB_INDEX, CF_PROGRESS, CF_PROJECTS, CF_RESULTS, CF_SECRETS, CF_SETTINGS,
    CF_SM_META, CF_TASKS, CF_TOKENS, CF_WORKERS, CF_WORKER_ACCESS, SM_DATA_CFS,
};
use crate::error::{Error, Result};
use crate::model::{
    AttemptRecord, AuditRecord, BlobMeta, FileVersion, Job, JoinToken, ProgressRecord, Project,
    ProjectSettings, ResultRecord, Secret, Task, Token, Worker, WorkerIdentity,
};
use crate::sm::keys;
use crate::types::{Attempt, JobId, LogId, Sha256};

/// Largest page a list call returns.
pub const MAX_PAGE: usize = 1000;
/// Page size when the request says 0.
pub const DEFAULT_PAGE: usize = 100;

/// Which page of a list to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Opaque cursor from the previous page's [`Page::next`]; `None` for the first page.
    pub after: Option<Vec<u8>>,
    /// Items wanted (0 means [`DEFAULT_PAGE`], capped at [`MAX_PAGE`]).
    pub limit: usize,
}

impl PageRequest {
    /// The first page of `limit` items.
    pub fn first(limit: usize) -> Self {
        PageRequest { after: None, limit }
    }

    /// Items this request asks for, defaults and cap applied.
    pub fn limit(&self) -> usize {
        match self.limit {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        }
    }
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// Items in key order.
    pub items: Vec<T>,
    /// Cursor of the next page, `None` on the last one.
    pub next: Option<Vec<u8>>,
}

/// The cursors that resume a listing right after one of its items: what [`Page::next`] is when
/// a page ends there. A listing that filters what it scanned ends its page on the last item it
/// kept, so that its cursor names nothing the caller was not shown.
pub mod cursor {
    use crate::sm::keys;
    use crate::types::JobId;

    /// After project `name` in [`super::StoreReader::list_projects`].
    pub fn project(name: &str) -> Vec<u8> {
        keys::project(name)
    }

    /// After token `id` in [`super::StoreReader::list_tokens`].
    pub fn token(id: &str) -> Vec<u8> {
        keys::token(id)
    }

    /// After join token `id` in [`super::StoreReader::list_join_tokens`].
    pub fn join_token(id: &str) -> Vec<u8> {
        keys::join_token(id)
    }

    /// After job `id` in [`super::StoreReader::list_jobs`] of `project`.
    pub fn job_in_project(project: &str, id: JobId) -> Vec<u8> {
        keys::job_index(project, id)
    }
}

/// Every item of a paged list: calls `list` page after page until the last one.
pub fn all_pages<T>(mut list: impl FnMut(&PageRequest) -> Result<Page<T>>) -> Result<Vec<T>> {
    let mut request = PageRequest::first(MAX_PAGE);
    let mut items = Vec::new();
    loop {
        let page = list(&request)?;
        items.extend(page.items);
        match page.next {
            Some(next) => request.after = Some(next),
            None => return Ok(items),
        }
    }
}

/// Read access to the local replica. Cheap to clone.
#[derive(Clone, Debug)]
pub struct StoreReader {
    db: Arc<Db>,
}

impl StoreReader {
    pub(crate) fn new(db: Arc<Db>) -> Self {
        StoreReader { db }
    }

    /// A number that changes after every write that changed the tokens: a token read after
    /// reading generation `g` is current for as long as the generation is still `g`.
    pub fn tokens_generation(&self) -> u64 {
        self.db
            .tokens_generation
            .load(std::sync::atomic::Ordering::Acquire)
    }

    fn get<T: DeserializeOwned>(&self, cf: &'static str, key: &[u8]) -> Result<Option<T>> {
        match self.db.db.get_pinned_cf(self.db.cf(cf)?, key)? {
            Some(bytes) => Ok(Some(decode(cf, &bytes)?)),
            None => Ok(None),
        }
    }

    /// Walks keys starting with `prefix` after the cursor; `f` maps a record to an item (or
    /// skips it) and the page ends after `limit` items.
    fn page<T>(
        &self,
        cf: &'static str,
        prefix: &[u8],
        req: &PageRequest,
        f: impl FnMut(&[u8], &[u8]) -> Result<Option<T>>,
    ) -> Result<Page<T>> {
        let start = match &req.after {
            Some(after) if after.as_slice() >= prefix => after.clone(),
            _ => prefix.to_vec(),
        };
        self.walk(cf, prefix, req, &start, Direction::Forward, f)
    }

    /// [`StoreReader::page`] from the other end: keys under `prefix` in descending order,
    /// after the cursor `req.after` (a key of the previous page).
    fn page_back<T>(
        &self,
        cf: &'static str,
        prefix: &[u8],
        req: &PageRequest,
        f: impl FnMut(&[u8], &[u8]) -> Result<Option<T>>,
    ) -> Result<Page<T>> {
        let start = match &req.after {
            Some(after) if after.starts_with(prefix) => after.clone(),
            // Past every key under the prefix (keys there are at most 255 bytes longer).
            _ => [prefix, &[0xff; 256][..]].concat(),
        };
        self.walk(cf, prefix, req, &start, Direction::Reverse, f)
    }

    /// One page of keys under `prefix` from `start` in `direction`, the cursor itself left out.
    fn walk<T>(
        &self,
        cf: &'static str,
        prefix: &[u8],
        req: &PageRequest,
        start: &[u8],
        direction: Direction,
        mut f: impl FnMut(&[u8], &[u8]) -> Result<Option<T>>,
    ) -> Result<Page<T>> {
        let limit = req.limit();
        let mut items = Vec::new();
        let mut last_key = None;
        for item in self
            .db
            .db
            .iterator_cf(self.db.cf(cf)?, IteratorMode::From(start, direction))
        {
            let (key, value) = item?;
            if !key.starts_with(prefix) {
                return Ok(Page { items, next: None });
            }
            if req.after.as_deref() == Some(&key[..]) {
                continue;
            }
            if items.len() == limit {
                return Ok(Page {
                    items,
                    next: last_key,
                });
            }
            if let Some(v) = f(&key, &value)? {
                items.push(v);
            }
            last_key = Some(key.to_vec());
        }
        Ok(Page { items, next: None })
    }

    /// Last log id applied to this replica.
    pub fn last_applied(&self) -> Result<Option<LogId>> {
        Ok(self
            .get::<Option<LogId>>(CF_SM_META, keys::META_LAST_APPLIED)?
            .flatten())
    }

    /// A project.
    pub fn project(&self, name: &str) -> Result<Option<Project>> {
        self.get(CF_PROJECTS, &keys::project(name))
    }

    /// Projects by name.
    pub fn list_projects(&self, req: &PageRequest) -> Result<Page<Project>> {
        self.page(CF_PROJECTS, &[], req, |_, v| {
            Ok(Some(decode(CF_PROJECTS, v)?))
        })
    }

    /// A version of a file: `version` or, with `None`, the latest one not deleted.
    pub fn file(
        &self,
        project: &str,
        path: &str,
        version: Option<u64>,
    ) -> Result<Option<FileVersion>> {
        if let Some(version) = version {
            return self.get(CF_FILES, &keys::file(project, path, version));
        }
        Ok(self
            .file_versions(project, path)?
            .pop()
            .filter(|v| !v.deleted))
    }

    /// Every stored version of a file, oldest first (deleted but pinned ones included).
    pub fn file_versions(&self, project: &str, path: &str) -> Result<Vec<FileVersion>> {
        let req = PageRequest::first(MAX_PAGE);
        let mut out = Vec::new();
        let mut page = self.page(
            CF_FILES,
            &keys::file_versions(project, path),
            &req,
            |_, v| Ok(Some(decode(CF_FILES, v)?)),
        )?;
        out.append(&mut page.items);
        while let Some(after) = page.next.take() {
            let req = PageRequest {
                after: Some(after),
                limit: MAX_PAGE,
            };
            page = self.page(
                CF_FILES,
                &keys::file_versions(project, path),
                &req,
                |_, v| Ok(Some(decode(CF_FILES, v)?)),
            )?;
            out.append(&mut page.items);
        }
        Ok(out)
    }

    /// The latest non-deleted version of each file of a project, by path.
    pub fn list_files(&self, project: &str, req: &PageRequest) -> Result<Page<FileVersion>> {
        let prefix = keys::files_of_project(project);
        let limit = req.limit();
        let start = req
            .after
            .clone()
            .filter(|a| a.starts_with(&prefix))
            .unwrap_or_else(|| prefix.clone());
        let mut items: Vec<FileVersion> = Vec::new();
        let mut group: Option<FileVersion> = None;
        let cf = self.db.cf(CF_FILES)?;
        for item in self
            .db
            .db
            .iterator_cf(cf, IteratorMode::From(&start, Direction::Forward))
        {
            let (key, value) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            let version: FileVersion = decode(CF_FILES, &value)?;
            if let Some(done) = group.take_if(|g| g.path != version.path) {
                if !done.deleted {
                    if items.len() == limit {
                        let last = items.last().map(|f| cursor_after_path(project, &f.path));
                        return Ok(Page { items, next: last });
                    }
                    items.push(done);
                }
            }
            group = Some(version);
        }
        if let Some(done) = group.filter(|g| !g.deleted) {
            if items.len() == limit {
                let last = items.last().map(|f| cursor_after_path(project, &f.path));
                return Ok(Page { items, next: last });
            }
            items.push(done);
        }
        Ok(Page { items, next: None })
    }

    /// A blob's metadata.
    pub fn blob(&self, sha: &Sha256) -> Result<Option<BlobMeta>> {
        self.get(CF_BLOBS, &keys::blob(sha))
    }

    /// Chunk `index` of a blob.
    pub fn blob_chunk(&self, sha: &Sha256, index: u32) -> Result<Option<Vec<u8>>> {
        Ok(self
            .db
            .db
            .get_cf(self.db.cf(CF_BLOB_CHUNKS)?, keys::blob_chunk(sha, index))?)
    }

    /// The whole content of a complete blob (`None` when it is missing or incomplete). A
    /// chunk missing from a blob whose metadata says it is complete is corruption.
    pub fn blob_content(&self, sha: &Sha256) -> Result<Option<Vec<u8>>> {
        let Some(blob) = self.blob(sha)?.filter(|b| b.complete) else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(usize::try_from(blob.size).unwrap_or(0));
        for index in 0..blob.chunk_count {
            let chunk = self.blob_chunk(sha, index)?.ok_or_else(|| Error::Corrupt {
                what: "blob",
                detail: format!("chunk {index} of the complete blob {sha} is missing"),
            })?;
            out.extend_from_slice(&chunk);
        }
        Ok(Some(out))
    }

    /// A worker.
    pub fn worker(&self, id: &str) -> Result<Option<Worker>> {
        self.get(CF_WORKERS, &keys::worker(id))
    }

    /// Workers by id.
    pub fn list_workers(&self, req: &PageRequest) -> Result<Page<Worker>> {
        self.page(CF_WORKERS, &[], req, |_, v| {
            Ok(Some(decode(CF_WORKERS, v)?))
        })
    }

    /// A token.
    pub fn token(&self, id: &str) -> Result<Option<Token>> {
        self.get(CF_TOKENS, &keys::token(id))
    }

    /// Tokens by id.
    pub fn list_tokens(&self, req: &PageRequest) -> Result<Page<Token>> {
        self.page(CF_TOKENS, &[], req, |_, v| Ok(Some(decode(CF_TOKENS, v)?)))
    }

    /// A join token.
    pub fn join_token(&self, id: &str) -> Result<Option<JoinToken>> {
        self.get(CF_WORKER_ACCESS, &keys::join_token(id))
    }

    /// Join tokens by id.
    pub fn list_join_tokens(&self, req: &PageRequest) -> Result<Page<JoinToken>> {
        self.page(CF_WORKER_ACCESS, keys::JOIN_TOKENS, req, |_, v| {
            Ok(Some(decode(CF_WORKER_ACCESS, v)?))
        })
    }

    /// The identity bound to worker id `worker_id`, if any (a worker with a certificate has
    /// one only once revoked).
    pub fn worker_identity(&self, worker_id: &str) -> Result<Option<WorkerIdentity>> {
        self.get(CF_WORKER_ACCESS, &keys::worker_identity(worker_id))
    }

    /// The names of a project's secrets (never their values: see [`StoreReader::secrets`]).
    pub fn secret_names(&self, project: &str) -> Result<Vec<String>> {
        let prefix = keys::of_project(project);
        let mut names = Vec::new();
        for item in self.db.db.iterator_cf(
            self.db.cf(CF_SECRETS)?,
            IteratorMode::From(&prefix, Direction::Forward),
        ) {
            let (key, _) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            let name = key[prefix.len()..]
                .strip_suffix(&[0])
                .unwrap_or(&key[prefix.len()..]);
            names.push(String::from_utf8_lossy(name).into_owned());
        }
        Ok(names)
    }

    /// A project's secrets with their values, for the workers that run its tasks.
    pub fn secrets(&self, project: &str) -> Result<Vec<Secret>> {
        let prefix = keys::of_project(project);
        let mut secrets = Vec::new();
        for item in self.db.db.iterator_cf(
            self.db.cf(CF_SECRETS)?,
            IteratorMode::From(&prefix, Direction::Forward),
        ) {
            let (key, value) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            secrets.push(decode(CF_SECRETS, &value)?);
        }
        Ok(secrets)
    }

    /// A project's settings (the defaults when none were set).
    pub fn project_settings(&self, project: &str) -> Result<ProjectSettings> {
        Ok(self
            .get(CF_SETTINGS, &keys::project(project))?
            .unwrap_or_default())
    }

    /// The audit log, oldest first; with `project`, only the records that concern it.
    pub fn audit(&self, project: Option<&str>, req: &PageRequest) -> Result<Page<AuditRecord>> {
        match project {
            None => self.page(CF_AUDIT, &[], req, |_, v| Ok(Some(decode(CF_AUDIT, v)?))),
            Some(project) => {
                let prefix = keys::of_project(project);
                let at = prefix.len();
                self.page(CF_AUDIT_INDEX, &prefix, req, |k, _| {
                    self.get(CF_AUDIT, &keys::audit(read_u64("audit index key", k, at)?))
                })
            }
        }
    }

    /// A job.
    pub fn job(&self, id: JobId) -> Result<Option<Job>> {
        self.get(CF_JOBS, &keys::job(id))
    }

    /// Jobs by id, of one project or of all.
    pub fn list_jobs(&self, project: Option<&str>, req: &PageRequest) -> Result<Page<Job>> {
        match project {
            None => self.page(CF_JOBS, &[], req, |_, v| Ok(Some(decode(CF_JOBS, v)?))),
            Some(project) => {
                let prefix = keys::files_of_project(project);
                let at = prefix.len();
                self.page(CF_JOB_INDEX, &prefix, req, |k, _| {
                    self.job(read_u64("job index key", k, at)?)
                })
            }
        }
    }

    /// A project's jobs, newest first (by id, descending); the cursor of a page continues in
    /// that order.
    pub fn list_jobs_newest_first(&self, project: &str, req: &PageRequest) -> Result<Page<Job>> {
        let prefix = keys::files_of_project(project);
        let at = prefix.len();
        self.page_back(CF_JOB_INDEX, &prefix, req, |k, _| {
            self.job(read_u64("job index key", k, at)?)
        })
    }

    /// Jobs not yet in a terminal state, by id: the scheduler's working set.
    pub fn active_jobs(&self, req: &PageRequest) -> Result<Page<Job>> {
        self.page(CF_ACTIVE_JOBS, &[], req, |k, _| {
            self.job(read_u64("active job key", k, 0)?)
        })
    }

    /// A task.
    pub fn task(&self, job: JobId, index: u32) -> Result<Option<Task>> {
        self.get(CF_TASKS, &keys::task(job, index))
    }

    /// Tasks of a job by index.
    pub fn list_tasks(&self, job: JobId, req: &PageRequest) -> Result<Page<Task>> {
        self.page(CF_TASKS, &keys::job(job), req, |_, v| {
            Ok(Some(decode(CF_TASKS, v)?))
        })
    }

    /// One attempt of a task.
    pub fn attempt(
        &self,
        job: JobId,
        task: u32,
        attempt: Attempt,
    ) -> Result<Option<AttemptRecord>> {
        self.get(CF_ATTEMPTS, &keys::attempt(job, task, attempt))
    }

    /// Every attempt of every task of a job, by task and attempt.
    pub fn job_attempts(&self, job: JobId, req: &PageRequest) -> Result<Page<AttemptRecord>> {
        self.page(CF_ATTEMPTS, &keys::job(job), req, |_, v| {
            Ok(Some(decode(CF_ATTEMPTS, v)?))
        })
    }

    /// The live series of a job: its folded progress deltas by task, attempt and sequence.
    pub fn job_progress(&self, job: JobId, req: &PageRequest) -> Result<Page<ProgressRecord>> {
        self.page(CF_PROGRESS, &keys::job(job), req, |_, v| {
            Ok(Some(decode(CF_PROGRESS, v)?))
        })
    }

    /// The folded deltas of one attempt with a sequence number above `after_seq`, in order, at
    /// most `limit` (a follower of a running task reads only what is new).
    pub fn attempt_progress(
        &self,
        job: JobId,
        task: u32,
        attempt: Attempt,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<ProgressRecord>> {
        let after = keys::progress(job, task, attempt, after_seq);
        let prefix = &after[..after.len() - 8];
        let req = PageRequest {
            after: Some(after.clone()),
            limit,
        };
        Ok(self
            .page(CF_PROGRESS, prefix, &req, |_, v| {
                Ok(Some(decode(CF_PROGRESS, v)?))
            })?
            .items)
    }

    /// The final result of a task.
    pub fn task_result(&self, job: JobId, index: u32) -> Result<Option<ResultRecord>> {
        self.get(CF_RESULTS, &keys::task_result(job, index))
    }

    /// A digest of the replicated state (every state-machine column family and the replicated
    /// metadata), equal on replicas that applied the same log prefix.
    pub fn digest(&self) -> Result<Sha256> {
        let view = self.db.db.snapshot();
        let mut hasher = sha2::Sha256::new();
        let meta = self.db.cf(CF_SM_META)?;
        for key in keys::REPLICATED_META {
            hasher.update(key);
            if let Some(v) = view.get_cf(meta, key)? {
                hasher.update((v.len() as u64).to_be_bytes());
                hasher.update(&v);
            }
        }
        for name in SM_DATA_CFS {
            hasher.update(name.as_bytes());
            for item in view.iterator_cf(self.db.cf(name)?, IteratorMode::Start) {
                let (k, v) = item?;
                hasher.update((k.len() as u64).to_be_bytes());
                hasher.update(&k);
                hasher.update((v.len() as u64).to_be_bytes());
                hasher.update(&v);
            }
        }
        Ok(Sha256(hasher.finalize().into()))
    }
}

/// A cursor that sorts after every version of `project/path`.
fn cursor_after_path(project: &str, path: &str) -> Vec<u8> {
    let mut k = keys::file_versions(project, path);
    k.extend_from_slice(&[0xff; 8]);
    k
}
