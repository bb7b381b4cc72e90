//! Files of a project: streaming upload, latest-version listing, versions, download and
//! delete (the work is `crate::files`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use broadside_api::{FileVersion, Page, PageQuery, ReadQuery, UploadQuery, VersionQuery};
use broadside_raft_store::Command;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiPath, ApiQuery, Consistent};
use super::paging::{page, page_request};
use super::Problem;
use crate::app::App;
use crate::error::Error;
use crate::files::{checked, download, guess_kind, upload};
use crate::idempotency::Writer;
use crate::views;

pub(super) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get_file, put_file, delete_file))
        .routes(routes!(versions))
}

/// Upload a file
///
/// Uploads a new version of a file (streamed; the content is stored once per SHA-256).
/// Uploading the content of the latest version again returns that version.
#[utoipa::path(put, path = "/projects/{project}/files/{*path}", tag = "files",
    extensions(("x-broadside-access" = json!("project:maintainer"))),
    security(("bearer" = [])),
    params(
        ("project" = String, Path, description = "Project"),
        ("path" = String, Path, description = "Path of the file in the project"),
        UploadQuery,
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 201, body = FileVersion),
        (status = 400, body = broadside_api::Problem),
        (status = 404, body = broadside_api::Problem),
        (status = 413, body = broadside_api::Problem),
        (status = 503, body = broadside_api::Problem),
    ))]
async fn put_file(
    State(app): State<Arc<App>>,
    writer: Writer,
    ApiPath((project, path)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<UploadQuery>,
    body: Body,
) -> Result<impl IntoResponse, Problem> {
    checked(&project, &path)?;
    let kind = query
        .kind
        .map_or_else(|| guess_kind(&path), views::model_file_kind);
    let stream = body.into_data_stream();
    let file = upload(&app, project, path, kind, stream, &writer).await?;
    let location = format!(
        "/api/v1/projects/{}/files/{}?version={}",
        file.project, file.path, file.version
    );
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(views::file(file)),
    ))
}

/// List files
///
/// One page of the project's files, the latest version of each path, by path.
#[utoipa::path(get, path = "/projects/{project}/files", tag = "files",
    extensions(("x-broadside-access" = json!("project:viewer"))),
    security(("bearer" = [])),
    params(("project" = String, Path, description = "Project"), PageQuery, ReadQuery),
    responses(
        (status = 200, body = Page<FileVersion>),
        (status = 404, body = broadside_api::Problem),
    ))]
async fn list(
    State(app): State<Arc<App>>,
    _: Consistent,
    ApiPath(project): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<FileVersion>>, Problem> {
    let request = page_request(&query)?;
    let listed = app
        .read(move |r| {
            if r.project(&project)?.is_none() {
                return Err(Error::NotFound(format!("no project {project:?}")));
            }
            Ok(r.list_files(&project, &request)?)
        })
        .await?;
    Ok(Json(page(listed, views::file)))
}

/// List a file's versions
///
/// Every version of one file, oldest first, including deleted ones still pinned.
#[utoipa::path(get, path = "/projects/{project}/file-versions/{*path}", tag = "files",
    extensions(("x-broadside-access" = json!("project:viewer"))),
    security(("bearer" = [])),
    params(
        ("project" = String, Path, description = "Project"),
        ("path" = String, Path, description = "Path of the file in the project"),
        ReadQuery,
    ),
    responses(
        (status = 200, body = Vec<FileVersion>),
        (status = 404, body = broadside_api::Problem),
    ))]
async fn versions(
    State(app): State<Arc<App>>,
    _: Consistent,
    ApiPath((project, path)): ApiPath<(String, String)>,
) -> Result<Json<Vec<FileVersion>>, Problem> {
    checked(&project, &path)?;
    let versions = app
        .read(move |r| {
            let versions = r.file_versions(&project, &path)?;
            if versions.is_empty() {
                return Err(Error::NotFound(format!("no file {project}/{path}")));
            }
            Ok(versions)
        })
        .await?;
    Ok(Json(versions.into_iter().map(views::file).collect()))
}

/// Download a file
///
/// Streams the content of the latest version of a file, or of `version`.
#[utoipa::path(get, path = "/projects/{project}/files/{*path}", tag = "files",
    extensions(("x-broadside-access" = json!("project:viewer"))),
    security(("bearer" = [])),
    params(
        ("project" = String, Path, description = "Project"),
        ("path" = String, Path, description = "Path of the file in the project"),
        VersionQuery,
        ReadQuery,
    ),
    responses(
        (status = 200, content_type = "application/octet-stream", body = Vec<u8>,
            headers(("etag" = String), ("x-broadside-version" = u64))),
        (status = 404, body = broadside_api::Problem),
    ))]
async fn get_file(
    State(app): State<Arc<App>>,
    _: Consistent,
    ApiPath((project, path)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<VersionQuery>,
) -> Result<Response, Problem> {
    let found = download(&app, project, path, query.version).await?;
    let file = found.file;
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
        Body::from_stream(found.chunks),
    )
        .into_response())
}

/// Delete a file
///
/// Deletes every version of a file; versions pinned by jobs are marked deleted and kept until
/// released.
#[utoipa::path(delete, path = "/projects/{project}/files/{*path}", tag = "files",
    extensions(("x-broadside-access" = json!("project:maintainer"))),
    security(("bearer" = [])),
    params(
        ("project" = String, Path, description = "Project"),
        ("path" = String, Path, description = "Path of the file in the project"),
    ),
    responses(
        (status = 204),
        (status = 400, body = broadside_api::Problem),
        (status = 404, body = broadside_api::Problem),
    ))]
async fn delete_file(
    State(app): State<Arc<App>>,
    writer: Writer,
    ApiPath((project, path)): ApiPath<(String, String)>,
) -> Result<StatusCode, Problem> {
    checked(&project, &path)?;
    let scope = format!("DELETE files {project}/{path}");
    app.write_as(&writer, &scope, Command::DeleteFile { project, path })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
