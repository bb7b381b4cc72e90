//! Projects: the tenants that own files, jobs and results.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use broadside_api::{NewProject, Page, PageQuery, Project, ReadQuery};
use broadside_raft_store::{cursor, Command};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::authorize::Caller;
use super::extract::{ApiJson, ApiPath, ApiQuery, Consistent};
use super::paging::{filtered, page, page_request};
use super::Problem;
use crate::app::App;
use crate::error::Error;
use crate::idempotency::Writer;
use crate::views;

pub(super) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, remove))
}

/// List projects
///
/// One page of the projects the caller may see, by name.
#[utoipa::path(get, path = "/projects", tag = "projects",
    extensions(("x-broadside-access" = json!("authenticated"))),
    security(("bearer" = [])),
    params(PageQuery, ReadQuery),
    responses(
        (status = 200, body = Page<Project>),
        (status = 400, body = broadside_api::Problem),
        (status = 503, body = broadside_api::Problem),
    ))]
async fn list(
    State(app): State<Arc<App>>,
    caller: Caller,
    _: Consistent,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<Project>>, Problem> {
    let request = page_request(&query)?;
    let principal = caller.principal;
    let listed = app
        .read(move |r| {
            filtered(
                request,
                |req| r.list_projects(req),
                |p| principal.sees(&p.name),
                |p| cursor::project(&p.name),
            )
        })
        .await?;
    Ok(Json(page(listed, views::project)))
}

/// Get a project
#[utoipa::path(get, path = "/projects/{name}", tag = "projects",
    extensions(("x-broadside-access" = json!("project:viewer"))),
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Project name"), ReadQuery),
    responses(
        (status = 200, body = Project),
        (status = 404, body = broadside_api::Problem),
    ))]
async fn show(
    State(app): State<Arc<App>>,
    _: Consistent,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Project>, Problem> {
    let project = app
        .read(move |r| {
            r.project(&name)?
                .ok_or_else(|| Error::NotFound(format!("no project {name:?}")))
        })
        .await?;
    Ok(Json(views::project(project)))
}

/// Create a project
///
/// With an `Idempotency-Key`, a retry creates it once; the same key with another body is a 422.
#[utoipa::path(post, path = "/projects", tag = "projects",
    extensions(("x-broadside-access" = json!("admin"))),
    security(("bearer" = [])),
    request_body = NewProject,
    responses(
        (status = 201, body = Project),
        (status = 400, body = broadside_api::Problem),
        (status = 409, body = broadside_api::Problem),
        (status = 503, body = broadside_api::Problem),
    ))]
async fn create(
    State(app): State<Arc<App>>,
    writer: Writer,
    ApiJson(NewProject { name, description }): ApiJson<NewProject>,
) -> Result<impl IntoResponse, Problem> {
    let command = Command::CreateProject {
        name: name.clone(),
        description,
    };
    app.write_as(&writer, "POST /projects", command).await?;
    let project = {
        let name = name.clone();
        app.read(move |r| {
            r.project(&name)?
                .ok_or_else(|| Error::Conflict(format!("project {name:?} was deleted meanwhile")))
        })
        .await?
    };
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/projects/{name}"))],
        Json(views::project(project)),
    ))
}

/// Delete a project
///
/// Deletes an empty project (one without files or jobs).
#[utoipa::path(delete, path = "/projects/{name}", tag = "projects",
    extensions(("x-broadside-access" = json!("admin"))),
    security(("bearer" = [])),
    params(("name" = String, Path, description = "Project name")),
    responses(
        (status = 204),
        (status = 404, body = broadside_api::Problem),
        (status = 409, body = broadside_api::Problem),
    ))]
async fn remove(
    State(app): State<Arc<App>>,
    writer: Writer,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, Problem> {
    let scope = format!("DELETE /projects/{name}");
    app.write_as(&writer, &scope, Command::DeleteProject { name })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
