//! Projects: the tenants that own files, jobs and results.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use broadside_raft_store::model::Project;
use broadside_raft_store::Command;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::{commit, json_body, request_id, ApiQuery, Consistent, PageQuery, PageView, Problem};
use crate::node::Node;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/projects", get(list).post(create))
        .route("/projects/{name}", get(show).delete(remove))
}

/// A project as the API shows it.
#[derive(Debug, Serialize)]
struct ProjectView {
    name: String,
    description: String,
    created_at_ms: u64,
}

impl From<Project> for ProjectView {
    fn from(p: Project) -> Self {
        ProjectView {
            name: p.name,
            description: p.description,
            created_at_ms: p.created_at_ms,
        }
    }
}

async fn list(
    State(node): State<Arc<Node>>,
    _: Consistent,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<PageView<ProjectView>>, Problem> {
    let page = node.reader().list_projects(&page.request()?)?;
    Ok(Json(PageView::from_page(page, ProjectView::from)))
}

async fn show(
    State(node): State<Arc<Node>>,
    _: Consistent,
    Path(name): Path<String>,
) -> Result<Json<ProjectView>, Problem> {
    node.reader()
        .project(&name)?
        .map(|p| Json(p.into()))
        .ok_or_else(|| Problem::not_found(format!("no project {name:?}")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProject {
    name: String,
    #[serde(default)]
    description: String,
}

async fn create(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    body: Result<Json<NewProject>, axum::extract::rejection::JsonRejection>,
) -> Result<impl IntoResponse, Problem> {
    let NewProject { name, description } = json_body(body)?;
    // The key is scoped to the name: reusing it for another project is a new request.
    let id = request_id(&headers, &format!("POST /projects {name}"))?;
    commit(
        &node,
        id,
        Command::CreateProject {
            name: name.clone(),
            description,
        },
    )
    .await?;
    let project = node
        .reader()
        .project(&name)?
        .ok_or_else(|| Problem::conflict(format!("project {name:?} was deleted meanwhile")))?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/projects/{name}"))],
        Json(ProjectView::from(project)),
    ))
}

async fn remove(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<StatusCode, Problem> {
    let id = request_id(&headers, &format!("DELETE /projects/{name}"))?;
    commit(&node, id, Command::DeleteProject { name }).await?;
    Ok(StatusCode::NO_CONTENT)
}
