//! Jobs: submission (the simulation is validated with the engine first; every problem is
//! returned located), listing with paging and a state filter, details, tasks, abort, delete.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use broadside_api::{
    AbortRequest, Job, JobDetails, JobListQuery, Page, PageQuery, ReadQuery, Submission, Task,
    Validation, ValidationRequest,
};
use broadside_raft_store::model;
use broadside_raft_store::{all_pages, cursor, Command};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiJson, ApiPath, ApiQuery, Consistent, OptionalJson};
use super::paging::{filtered, page, page_request};
use super::Problem;
use crate::app::App;
use crate::error::{Error, Result};
use crate::idempotency::Writer;
use crate::jobs::submit;
use crate::views;

pub(super) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(list, post_job))
        .routes(routes!(validate))
        .routes(routes!(show, delete_job))
        .routes(routes!(tasks))
        .routes(routes!(abort))
}

/// The job `id` from this replica.
pub(super) async fn load(app: &App, id: u64) -> Result<model::Job> {
    app.read(move |r| {
        r.job(id)?
            .ok_or_else(|| Error::NotFound(format!("no job {id}")))
    })
    .await
}

/// Submit a job
///
/// Validates the latest version of the simulation with the engine, pins it with every file it
/// names and the extra `files`, and queues the job. A simulation that does not compile is a
/// 422 listing every problem with its line and column.
#[utoipa::path(post, path = "/projects/{project}/jobs", tag = "jobs",
    extensions(("x-broadside-access" = json!("project:runner"))),
    security(("bearer" = [])),
    params(("project" = String, Path, description = "Project")),
    request_body = Submission,
    responses(
        (status = 201, body = Job),
        (status = 400, body = broadside_api::Problem),
        (status = 404, body = broadside_api::Problem),
        (status = 422, body = broadside_api::Problem),
        (status = 503, body = broadside_api::Problem),
    ))]
async fn post_job(
    State(app): State<Arc<App>>,
    writer: Writer,
    ApiPath(project): ApiPath<String>,
    ApiJson(submission): ApiJson<Submission>,
) -> std::result::Result<impl IntoResponse, Problem> {
    let job = submit(&app, project, submission, &writer).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/jobs/{}", job.id))],
        Json(views::job(job)),
    ))
}

/// Validate a simulation
///
/// Every problem of a simulation, located, as `broadside validate` lists them, without
/// submitting it: the given `content` (an editor's unsaved text) or the project's latest
/// version of `path`, with the files it names read from the project relative to its directory.
/// A simulation with problems is a 200 with `valid: false`.
#[utoipa::path(post, path = "/projects/{project}/validate", tag = "jobs",
    extensions(("x-broadside-access" = json!("project:viewer"))),
    security(("bearer" = []), ("session" = [])),
    params(("project" = String, Path, description = "Project")),
    request_body = ValidationRequest,
    responses(
        (status = 200, body = Validation),
        (status = 400, body = broadside_api::Problem),
        (status = 404, body = broadside_api::Problem),
    ))]
async fn validate(
    State(app): State<Arc<App>>,
    ApiPath(project): ApiPath<String>,
    ApiJson(request): ApiJson<ValidationRequest>,
) -> std::result::Result<Json<Validation>, Problem> {
    let validation = app
        .compute(move |reader| {
            crate::jobs::validate(reader, &project, &request.path, request.content.as_deref())
        })
        .await?;
    Ok(Json(validation))
}

/// List jobs
///
/// One page of the project's jobs by id (oldest first, or newest first), optionally only
/// those in one state or of one simulation. Unknown query parameters are refused.
#[utoipa::path(get, path = "/projects/{project}/jobs", tag = "jobs",
    extensions(("x-broadside-access" = json!("project:viewer"))),
    security(("bearer" = [])),
    params(("project" = String, Path, description = "Project"), JobListQuery),
    responses(
        (status = 200, body = Page<Job>),
        (status = 400, body = broadside_api::Problem),
    ))]
async fn list(
    State(app): State<Arc<App>>,
    ApiPath(project): ApiPath<String>,
    ApiQuery(query): ApiQuery<JobListQuery>,
) -> std::result::Result<Json<Page<Job>>, Problem> {
    if query.consistent {
        app.read_barrier().await?;
    }
    let wanted = query.state.map(views::model_job_state);
    let simulation = query.simulation;
    let newest_first = query.newest_first;
    let request = page_request(&PageQuery {
        limit: query.limit,
        after: query.after,
    })?;
    let found = app
        .read(move |r| {
            filtered(
                request,
                |req| {
                    if newest_first {
                        r.list_jobs_newest_first(&project, req)
                    } else {
                        r.list_jobs(Some(&project), req)
                    }
                },
                |j| {
                    wanted.is_none_or(|s| j.state == s)
                        && simulation.as_ref().is_none_or(|s| *s == j.simulation)
                },
                |j| cursor::job_in_project(&j.project, j.id),
            )
        })
        .await?;
    Ok(Json(page(found, views::job)))
}

/// Get a job
///
/// One job, with whether the storm guard paused automatic reassignment in its pool (asked
/// from the leader).
#[utoipa::path(get, path = "/jobs/{id}", tag = "jobs",
    extensions(("x-broadside-access" = json!("job:viewer"))),
    security(("bearer" = [])),
    params(("id" = u64, Path, description = "Job id"), ReadQuery),
    responses(
        (status = 200, body = JobDetails),
        (status = 400, body = broadside_api::Problem),
        (status = 404, body = broadside_api::Problem),
    ))]
async fn show(
    State(app): State<Arc<App>>,
    _: Consistent,
    ApiPath(id): ApiPath<u64>,
) -> std::result::Result<Json<JobDetails>, Problem> {
    let job = load(&app, id).await?;
    let reassignment_paused = if job.state.is_terminal() {
        None
    } else {
        app.leader_state()
            .await
            .paused_pools
            .into_iter()
            .find_map(|(pool, reason)| (pool == job.pool).then_some(reason))
    };
    Ok(Json(JobDetails {
        job: views::job(job),
        reassignment_paused,
    }))
}

/// List a job's tasks
///
/// One page of the job's tasks, by index.
#[utoipa::path(get, path = "/jobs/{id}/tasks", tag = "jobs",
    extensions(("x-broadside-access" = json!("job:viewer"))),
    security(("bearer" = [])),
    params(("id" = u64, Path, description = "Job id"), PageQuery, ReadQuery),
    responses(
        (status = 200, body = Page<Task>),
        (status = 404, body = broadside_api::Problem),
    ))]
async fn tasks(
    State(app): State<Arc<App>>,
    _: Consistent,
    ApiPath(id): ApiPath<u64>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> std::result::Result<Json<Page<Task>>, Problem> {
    let request = page_request(&query)?;
    let listed = app
        .read(move |r| {
            let job = r
                .job(id)?
                .ok_or_else(|| Error::NotFound(format!("no job {id}")))?;
            let tasks = r.list_tasks(id, &request)?;
            let attempts = all_pages(|p| r.job_attempts(id, p))?;
            let items = views::tasks(&job, tasks.items, &attempts);
            Ok(broadside_raft_store::Page {
                items,
                next: tasks.next,
            })
        })
        .await?;
    Ok(Json(page(listed, |t| t)))
}

/// Abort a job
///
/// Aborts a job that is not finished; its running tasks are told to stop. The body is
/// optional.
#[utoipa::path(post, path = "/jobs/{id}/abort", tag = "jobs",
    extensions(("x-broadside-access" = json!("job:runner"))),
    security(("bearer" = [])),
    params(("id" = u64, Path, description = "Job id")),
    request_body(content = Option<AbortRequest>, content_type = "application/json"),
    responses(
        (status = 200, body = Job),
        (status = 404, body = broadside_api::Problem),
        (status = 409, body = broadside_api::Problem),
    ))]
async fn abort(
    State(app): State<Arc<App>>,
    writer: Writer,
    ApiPath(id): ApiPath<u64>,
    OptionalJson(body): OptionalJson<AbortRequest>,
) -> std::result::Result<Json<Job>, Problem> {
    let reason = body
        .reason
        .unwrap_or_else(|| "aborted by a user".to_owned());
    let command = Command::AbortJob { job_id: id, reason };
    app.write_as(&writer, &format!("POST jobs/{id}/abort"), command)
        .await?;
    Ok(Json(views::job(load(&app, id).await?)))
}

/// Delete a job
///
/// Deletes a finished job with its tasks, live data and results; its pinned file versions
/// are released.
#[utoipa::path(delete, path = "/jobs/{id}", tag = "jobs",
    extensions(("x-broadside-access" = json!("job:maintainer"))),
    security(("bearer" = [])),
    params(("id" = u64, Path, description = "Job id")),
    responses(
        (status = 204),
        (status = 404, body = broadside_api::Problem),
        (status = 409, body = broadside_api::Problem),
    ))]
async fn delete_job(
    State(app): State<Arc<App>>,
    writer: Writer,
    ApiPath(id): ApiPath<u64>,
) -> std::result::Result<StatusCode, Problem> {
    let command = Command::DeleteJob { job_id: id };
    app.write_as(&writer, &format!("DELETE jobs/{id}"), command)
        .await?;
    app.reports.forget(id);
    Ok(StatusCode::NO_CONTENT)
}
