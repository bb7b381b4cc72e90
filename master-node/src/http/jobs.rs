//! Jobs: submission (the simulation is validated with the engine first; every problem is
//! returned located), listing with paging and a state filter, details, tasks, abort.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use broadside_raft_store::model::{Job, JobState, SplitMode, Task, TaskState};
use broadside_raft_store::{valid_name, valid_path, Command, JobSpec, Response, MAX_PARALLELISM};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::{
    commit, json_body, leader_state, request_id, ApiQuery, Consistent, PageQuery, PageView, Problem,
};
use crate::jobs::{validate_simulation, JobParams, StartPolicy};
use crate::node::Node;
use crate::results::ReportCache;
use crate::scheduler::driver::Scheduler;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/projects/{project}/jobs", get(list).post(submit))
        .route("/jobs/{id}", get(show).delete(delete))
        .route("/jobs/{id}/tasks", get(tasks))
        .route("/jobs/{id}/abort", post(abort))
}

/// The API name of a job state.
pub(super) fn state_name(state: JobState) -> &'static str {
    match state {
        JobState::Queued => "queued",
        JobState::WaitingForWorkers => "waiting_for_workers",
        JobState::Starting => "starting",
        JobState::Running => "running",
        JobState::Completed => "completed",
        JobState::Failed => "failed",
        JobState::Aborted => "aborted",
    }
}

pub(super) fn task_state_name(state: TaskState) -> &'static str {
    match state {
        TaskState::Pending => "pending",
        TaskState::Assigned => "assigned",
        TaskState::Running => "running",
        TaskState::Succeeded => "succeeded",
        TaskState::Failed => "failed",
        TaskState::Aborted => "aborted",
    }
}

#[derive(Debug, Serialize)]
struct PinnedView {
    path: String,
    version: u64,
    sha256: String,
}

/// A job as the API shows it.
#[derive(Debug, Serialize)]
pub(crate) struct JobView {
    id: u64,
    project: String,
    name: String,
    simulation: String,
    pool: String,
    parallelism: u32,
    mode: &'static str,
    state: &'static str,
    reason: String,
    params: serde_json::Value,
    files: Vec<PinnedView>,
    start_at_ms: Option<u64>,
    submitted_at_ms: u64,
    finished_at_ms: Option<u64>,
    reassignments: u32,
}

impl From<Job> for JobView {
    fn from(j: Job) -> Self {
        JobView {
            id: j.id,
            project: j.project,
            name: j.name,
            simulation: j.simulation,
            pool: j.pool,
            parallelism: j.parallelism,
            mode: match j.split {
                SplitMode::Split => "split",
                SplitMode::Replicate => "replicate",
            },
            state: state_name(j.state),
            reason: j.reason,
            params: serde_json::from_slice(&j.params).unwrap_or(serde_json::Value::Null),
            files: j
                .files
                .into_iter()
                .map(|f| PinnedView {
                    path: f.path,
                    version: f.version,
                    sha256: f.sha256.to_hex(),
                })
                .collect(),
            start_at_ms: j.start_at_ms,
            submitted_at_ms: j.submitted_at_ms,
            finished_at_ms: j.finished_at_ms,
            reassignments: j.reassignments,
        }
    }
}

/// A task as the API shows it.
#[derive(Debug, Serialize)]
struct TaskView {
    index: u32,
    state: &'static str,
    attempt: u32,
    worker_id: Option<String>,
    claimed_at_ms: Option<u64>,
    started_at_ms: Option<u64>,
    finished_at_ms: Option<u64>,
    deltas: u64,
    reason: String,
}

impl From<Task> for TaskView {
    fn from(t: Task) -> Self {
        TaskView {
            index: t.index,
            state: task_state_name(t.state),
            attempt: t.attempt,
            worker_id: t.worker_id,
            claimed_at_ms: t.claimed_at_ms,
            started_at_ms: t.started_at_ms,
            finished_at_ms: t.finished_at_ms,
            deltas: t.deltas,
            reason: t.reason,
        }
    }
}

fn default_pool() -> String {
    "default".into()
}

fn one() -> u32 {
    1
}

/// A submission.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Submission {
    /// Path of the simulation file in the project.
    simulation: String,
    /// Display name (default: the simulation's path).
    #[serde(default)]
    name: Option<String>,
    /// Extra files to pin (files the simulation names are pinned automatically).
    #[serde(default)]
    files: Vec<String>,
    #[serde(default = "default_pool")]
    pool: String,
    #[serde(default = "one")]
    parallelism: u32,
    /// `split` (default) or `replicate`.
    #[serde(default)]
    mode: Option<String>,
    /// What to do when the pool has fewer free workers than tasks.
    #[serde(default)]
    start: StartPolicy,
}

async fn submit(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(project): Path<String>,
    body: Result<Json<Submission>, axum::extract::rejection::JsonRejection>,
) -> Result<impl IntoResponse, Problem> {
    let s = json_body(body)?;
    if !valid_name(&project) {
        return Err(Problem::bad_request(format!(
            "project {project:?} is not a valid name"
        )));
    }
    if !valid_name(&s.pool) {
        return Err(Problem::bad_request(format!(
            "pool {:?} is not a valid name",
            s.pool
        )));
    }
    if !(1..=MAX_PARALLELISM).contains(&s.parallelism) {
        return Err(Problem::bad_request(format!(
            "parallelism must be 1 to {MAX_PARALLELISM}"
        )));
    }
    let split = match s.mode.as_deref() {
        None | Some("split") => SplitMode::Split,
        Some("replicate") => SplitMode::Replicate,
        Some(other) => {
            return Err(Problem::bad_request(format!(
                "mode {other:?}: split or replicate"
            )))
        }
    };
    for path in std::iter::once(&s.simulation).chain(&s.files) {
        if !valid_path(path) {
            return Err(Problem::bad_request(format!(
                "file path {path:?} is not valid"
            )));
        }
    }
    s.start.validate().map_err(Problem::bad_request)?;
    // Validate against the latest committed versions.
    node.read_barrier().await?;
    if node.reader().project(&project)?.is_none() {
        return Err(Problem::not_found(format!("no project {project:?}")));
    }
    let referenced = validate_simulation(node.reader(), &project, &s.simulation)?;
    let files: Vec<String> = s
        .files
        .iter()
        .cloned()
        .chain(referenced)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|f| *f != s.simulation)
        .collect();
    let params = JobParams { start: s.start };
    let spec = JobSpec {
        project: project.clone(),
        name: s.name.unwrap_or_else(|| s.simulation.clone()),
        simulation: s.simulation,
        files,
        pool: s.pool,
        parallelism: s.parallelism,
        split,
        params: serde_json::to_vec(&params).map_err(Problem::internal)?,
    };
    let scope = format!(
        "POST jobs {project} {}",
        serde_json::to_string(&(&spec.simulation, &spec.files, &spec.pool, spec.parallelism))
            .map_err(Problem::internal)?
    );
    let response = commit(
        &node,
        request_id(&headers, &scope)?,
        Command::SubmitJob(spec),
    )
    .await?;
    let Response::JobSubmitted { job_id } = response else {
        return Err(Problem::internal(format!(
            "unexpected answer to a submission: {response:?}"
        )));
    };
    let job = node
        .reader()
        .job(job_id)?
        .ok_or_else(|| Problem::conflict(format!("job {job_id} was deleted meanwhile")))?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/jobs/{job_id}"))],
        Json(JobView::from(job)),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    consistent: bool,
}

async fn list(
    State(node): State<Arc<Node>>,
    Path(project): Path<String>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PageView<JobView>>, Problem> {
    let Query(query) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    if query.consistent {
        node.read_barrier().await?;
    }
    let wanted = match query.state.as_deref() {
        None => None,
        Some(name) => Some(
            [
                JobState::Queued,
                JobState::WaitingForWorkers,
                JobState::Starting,
                JobState::Running,
                JobState::Completed,
                JobState::Failed,
                JobState::Aborted,
            ]
            .into_iter()
            .find(|s| state_name(*s) == name)
            .ok_or_else(|| Problem::bad_request(format!("state {name:?} is not a job state")))?,
        ),
    };
    let mut request = PageQuery {
        limit: query.limit,
        after: query.after,
    }
    .request()?;
    let limit = request.limit();
    // A state filter keeps reading pages until this one is full.
    let mut items = Vec::new();
    let next = loop {
        let page = node.reader().list_jobs(Some(&project), &request)?;
        items.extend(
            page.items
                .into_iter()
                .filter(|j| wanted.is_none_or(|s| j.state == s)),
        );
        match page.next {
            Some(next) if items.len() < limit => {
                // Never read more than still fits, so `next` never skips a match.
                request.after = Some(next);
                request.limit = limit - items.len();
            }
            next => break next,
        }
    };
    Ok(Json(PageView::from_page(
        broadside_raft_store::Page { items, next },
        JobView::from,
    )))
}

pub(super) fn job_id(id: &str) -> Result<u64, Problem> {
    id.parse()
        .map_err(|_| Problem::bad_request(format!("{id:?} is not a job id")))
}

pub(super) fn load(node: &Node, id: u64) -> Result<Job, Problem> {
    node.reader()
        .job(id)?
        .ok_or_else(|| Problem::not_found(format!("no job {id}")))
}

/// A job with what only the leader knows about it.
#[derive(Debug, Serialize)]
struct JobDetails {
    #[serde(flatten)]
    job: JobView,
    /// Why automatic reassignment of its tasks is paused (the storm guard), if it is.
    reassignment_paused: Option<String>,
}

async fn show(
    State(node): State<Arc<Node>>,
    State(scheduler): State<Arc<Scheduler>>,
    _: Consistent,
    Path(id): Path<String>,
) -> Result<Json<JobDetails>, Problem> {
    let job = load(&node, job_id(&id)?)?;
    let reassignment_paused = if job.state.is_terminal() {
        None
    } else {
        leader_state(&node, &scheduler)
            .await
            .paused_pools
            .into_iter()
            .find_map(|(pool, reason)| (pool == job.pool).then_some(reason))
    };
    Ok(Json(JobDetails {
        job: job.into(),
        reassignment_paused,
    }))
}

async fn tasks(
    State(node): State<Arc<Node>>,
    _: Consistent,
    Path(id): Path<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<PageView<TaskView>>, Problem> {
    let id = job_id(&id)?;
    load(&node, id)?;
    let page = node.reader().list_tasks(id, &page.request()?)?;
    Ok(Json(PageView::from_page(page, TaskView::from)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AbortBody {
    #[serde(default)]
    reason: Option<String>,
}

async fn abort(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<JobView>, Problem> {
    let id = job_id(&id)?;
    // The body is optional: empty, or `{"reason": "…"}`.
    let body: AbortBody = if body.iter().all(u8::is_ascii_whitespace) {
        AbortBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| Problem::bad_request(format!("request body: {e}")))?
    };
    let reason = body
        .reason
        .unwrap_or_else(|| "aborted by a user".to_owned());
    commit(
        &node,
        request_id(&headers, &format!("POST jobs/{id}/abort"))?,
        Command::AbortJob { job_id: id, reason },
    )
    .await?;
    Ok(Json(load(&node, id)?.into()))
}

/// Deletes a finished job with its tasks, live data and results (its pinned file versions are
/// released).
async fn delete(
    State(node): State<Arc<Node>>,
    State(reports): State<Arc<ReportCache>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let id = job_id(&id)?;
    commit(
        &node,
        request_id(&headers, &format!("DELETE jobs/{id}"))?,
        Command::DeleteJob { job_id: id },
    )
    .await?;
    reports.forget(id);
    Ok(StatusCode::NO_CONTENT)
}
