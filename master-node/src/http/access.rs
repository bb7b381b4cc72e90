//! Tokens, the caller's own view, secrets, project settings and the audit log.
//!
//! Who may create or revoke which token is decided by `auth::may_grant` and `auth::may_revoke`
//! (the rule depends on the body, not only the route).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use broadside_api::{
    AuditEntry, CreatedToken, NewToken, Page, PageQuery, ProjectSettings, SecretValue, TokenInfo,
    Whoami,
};
use broadside_raft_store::model::{self, Token};
use broadside_raft_store::{cursor, Command};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::authorize::Caller;
use super::extract::{ApiJson, ApiPath, ApiQuery, Consistent};
use super::paging::{filtered, page, page_request};
use super::Problem;
use crate::app::App;
use crate::auth::token::Bearer;
use crate::auth::{self, Principal};
use crate::error::Error;
use crate::idempotency::Writer;
use crate::views;

pub(super) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(whoami))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(project_tokens))
        .routes(routes!(list_secrets))
        .routes(routes!(put_secret, delete_secret))
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(audit))
        .routes(routes!(project_audit))
}

/// Who am I
///
/// The caller's token (never its secret) and whether the master requires tokens.
#[utoipa::path(get, path = "/whoami", tag = "access",
    extensions(("x-broadside-access" = json!("authenticated"))),
    security(("bearer" = [])),
    responses((status = 200, body = Whoami), (status = 401, body = broadside_api::Problem)))]
async fn whoami(State(app): State<Arc<App>>, caller: Caller) -> Json<Whoami> {
    Json(Whoami {
        token: match &caller.principal {
            Principal::Token(t) => Some(views::token(t)),
            _ => None,
        },
        admin: caller.principal.is_admin(),
        authentication: app.node.config.auth.tokens(),
    })
}

/// List tokens
///
/// Every token (never their secrets): the cluster admin's view.
#[utoipa::path(get, path = "/tokens", tag = "access",
    extensions(("x-broadside-access" = json!("admin"))),
    security(("bearer" = [])),
    params(PageQuery, broadside_api::ReadQuery),
    responses((status = 200, body = Page<TokenInfo>), (status = 403, body = broadside_api::Problem)))]
async fn list_tokens(
    State(app): State<Arc<App>>,
    _: Consistent,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<TokenInfo>>, Problem> {
    let request = page_request(&query)?;
    let listed = app.read(move |r| Ok(r.list_tokens(&request)?)).await?;
    Ok(Json(page(listed, |t| views::token(&t))))
}

/// A project's tokens
///
/// The tokens holding a role on the project (never their secrets).
#[utoipa::path(get, path = "/projects/{project}/tokens", tag = "access",
    extensions(("x-broadside-access" = json!("project:maintainer"))),
    security(("bearer" = [])),
    params(("project" = String, Path, description = "Project"), PageQuery, broadside_api::ReadQuery),
    responses((status = 200, body = Page<TokenInfo>), (status = 404, body = broadside_api::Problem)))]
async fn project_tokens(
    State(app): State<Arc<App>>,
    caller: Caller,
    _: Consistent,
    ApiPath(project): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<TokenInfo>>, Problem> {
    let request = page_request(&query)?;
    let project_name = project.clone();
    let listed = app
        .read(move |r| {
            filtered(
                request,
                |req| r.list_tokens(req),
                |t| t.projects.contains_key(&project),
                |t| cursor::token(&t.id),
            )
        })
        .await?;
    // Another project's roles of these tokens are not this project's business.
    Ok(Json(page(listed, |t| {
        let mut info = views::token(&t);
        if !caller.principal.is_admin() {
            info.projects.retain(|p, _| *p == project_name);
        }
        info
    })))
}

/// Create a token
///
/// A new token; its secret (`bst_…`) is in the answer and never shown again. A cluster admin
/// grants anything; a project maintainer grants roles on the projects it maintains.
#[utoipa::path(post, path = "/tokens", tag = "access",
    extensions(("x-broadside-access" = json!("authenticated"))),
    security(("bearer" = [])),
    request_body = NewToken,
    responses(
        (status = 201, body = CreatedToken),
        (status = 400, body = broadside_api::Problem),
        (status = 403, body = broadside_api::Problem),
        (status = 404, body = broadside_api::Problem),
    ))]
async fn create_token(
    State(app): State<Arc<App>>,
    caller: Caller,
    writer: Writer,
    ApiJson(new): ApiJson<NewToken>,
) -> Result<impl IntoResponse, Problem> {
    auth::may_grant(&caller.principal, new.admin, new.projects.keys().cloned())?;
    if new.name.starts_with(auth::SESSION_NAME) {
        return Err(Error::BadRequest(format!(
            "token names starting with {:?} are the web sessions' own",
            auth::SESSION_NAME
        ))
        .into());
    }
    let (bearer, secret) = Bearer::generate();
    let created_by = caller.principal.name();
    let expires_at_ms = auth::expiry(new.expires_in)?;
    let expires_at_ms = auth::capped_expiry(&caller.principal, expires_at_ms);
    let token = Token {
        id: bearer.id.clone(),
        name: new.name,
        secret_sha256: bearer.secret_sha256(),
        created_by,
        created_at_ms: 0,
        expires_at_ms,
        revoked_at_ms: None,
        admin: new.admin,
        projects: new
            .projects
            .into_iter()
            .map(|(p, r)| (p, views::model_role(r)))
            .collect::<BTreeMap<_, _>>(),
    };
    // A fresh secret each time: an idempotency key cannot replay a creation.
    let scope = format!("POST /tokens {}", token.id);
    app.write_as(&writer, &scope, Command::CreateToken(token))
        .await?;
    let id = bearer.id.clone();
    let stored = app
        .read(move |r| {
            r.token(&id)?
                .ok_or_else(|| Error::Conflict("the token was revoked meanwhile".into()))
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/tokens/{}", stored.id))],
        Json(CreatedToken {
            token: views::token(&stored),
            secret,
        }),
    ))
}

/// Revoke a token
///
/// Every master refuses it once the revocation is applied there (within a second). A project
/// maintainer revokes tokens whose roles are all on projects it maintains.
#[utoipa::path(delete, path = "/tokens/{id}", tag = "access",
    extensions(("x-broadside-access" = json!("authenticated"))),
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Token id")),
    responses((status = 204), (status = 404, body = broadside_api::Problem)))]
async fn revoke_token(
    State(app): State<Arc<App>>,
    caller: Caller,
    writer: Writer,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, Problem> {
    let token = {
        let id = id.clone();
        app.read(move |r| {
            r.token(&id)?
                .ok_or_else(|| Error::NotFound(format!("no token {id:?}")))
        })
        .await?
    };
    auth::may_revoke(&caller.principal, &token)?;
    let scope = format!("DELETE /tokens/{id}");
    app.write_as(&writer, &scope, Command::RevokeToken { id })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List a project's secrets
///
/// The names of the project's secrets; values are never returned by any read.
#[utoipa::path(get, path = "/projects/{project}/secrets", tag = "access",
    extensions(("x-broadside-access" = json!("project:maintainer"))),
    security(("bearer" = [])),
    params(("project" = String, Path, description = "Project"), broadside_api::ReadQuery),
    responses((status = 200, body = Vec<String>), (status = 404, body = broadside_api::Problem)))]
async fn list_secrets(
    State(app): State<Arc<App>>,
    _: Consistent,
    ApiPath(project): ApiPath<String>,
) -> Result<Json<Vec<String>>, Problem> {
    let names = app.read(move |r| Ok(r.secret_names(&project)?)).await?;
    Ok(Json(names))
}

/// Set a secret
///
/// Sets a project secret, used in simulations as `#{secret('NAME')}` and redacted from
/// everything a job reports. Write-only.
#[utoipa::path(put, path = "/projects/{project}/secrets/{name}", tag = "access",
    extensions(("x-broadside-access" = json!("project:maintainer"))),
    security(("bearer" = [])),
    params(
        ("project" = String, Path, description = "Project"),
        ("name" = String, Path, description = "Secret name"),
    ),
    request_body = SecretValue,
    responses((status = 204), (status = 400, body = broadside_api::Problem), (status = 404, body = broadside_api::Problem)))]
async fn put_secret(
    State(app): State<Arc<App>>,
    writer: Writer,
    ApiPath((project, name)): ApiPath<(String, String)>,
    ApiJson(SecretValue { value }): ApiJson<SecretValue>,
) -> Result<StatusCode, Problem> {
    let scope = format!("PUT secrets {project}/{name}");
    let command = Command::PutSecret {
        project,
        name,
        value: broadside_raft_store::model::SecretBytes(value.into_bytes()),
    };
    app.write_as(&writer, &scope, command).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete a secret
#[utoipa::path(delete, path = "/projects/{project}/secrets/{name}", tag = "access",
    extensions(("x-broadside-access" = json!("project:maintainer"))),
    security(("bearer" = [])),
    params(
        ("project" = String, Path, description = "Project"),
        ("name" = String, Path, description = "Secret name"),
    ),
    responses((status = 204), (status = 404, body = broadside_api::Problem)))]
async fn delete_secret(
    State(app): State<Arc<App>>,
    writer: Writer,
    ApiPath((project, name)): ApiPath<(String, String)>,
) -> Result<StatusCode, Problem> {
    let scope = format!("DELETE secrets {project}/{name}");
    app.write_as(&writer, &scope, Command::DeleteSecret { project, name })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A project's settings
#[utoipa::path(get, path = "/projects/{project}/settings", tag = "access",
    extensions(("x-broadside-access" = json!("project:viewer"))),
    security(("bearer" = [])),
    params(("project" = String, Path, description = "Project"), broadside_api::ReadQuery),
    responses((status = 200, body = ProjectSettings), (status = 404, body = broadside_api::Problem)))]
async fn get_settings(
    State(app): State<Arc<App>>,
    _: Consistent,
    ApiPath(project): ApiPath<String>,
) -> Result<Json<ProjectSettings>, Problem> {
    let settings = app.read(move |r| Ok(r.project_settings(&project)?)).await?;
    Ok(Json(ProjectSettings {
        targets: settings.targets,
    }))
}

/// Change a project's settings
///
/// `targets`: where the project's jobs may send load, within what the workers allow.
#[utoipa::path(put, path = "/projects/{project}/settings", tag = "access",
    extensions(("x-broadside-access" = json!("project:maintainer"))),
    security(("bearer" = [])),
    params(("project" = String, Path, description = "Project")),
    request_body = ProjectSettings,
    responses((status = 200, body = ProjectSettings), (status = 400, body = broadside_api::Problem), (status = 404, body = broadside_api::Problem)))]
async fn put_settings(
    State(app): State<Arc<App>>,
    writer: Writer,
    ApiPath(project): ApiPath<String>,
    ApiJson(settings): ApiJson<ProjectSettings>,
) -> Result<Json<ProjectSettings>, Problem> {
    // Checked here with the workers' own reading, so that a job never meets an entry they
    // could not read.
    broadside_engine::protocol::AllowedTargets::parse(&settings.targets)
        .map_err(Error::BadRequest)?;
    let scope = format!("PUT settings {project}");
    let command = Command::SetProjectSettings {
        project,
        settings: model::ProjectSettings {
            targets: settings.targets.clone(),
        },
    };
    app.write_as(&writer, &scope, command).await?;
    Ok(Json(settings))
}

/// The audit log
///
/// Every accepted write, oldest first: who (the token's name), what, when, the request id.
#[utoipa::path(get, path = "/audit", tag = "access",
    extensions(("x-broadside-access" = json!("admin"))),
    security(("bearer" = [])),
    params(PageQuery, broadside_api::ReadQuery),
    responses((status = 200, body = Page<AuditEntry>), (status = 403, body = broadside_api::Problem)))]
async fn audit(
    State(app): State<Arc<App>>,
    _: Consistent,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<AuditEntry>>, Problem> {
    let request = page_request(&query)?;
    let listed = app.read(move |r| Ok(r.audit(None, &request)?)).await?;
    Ok(Json(page(listed, views::audit)))
}

/// A project's audit log
///
/// The accepted writes that concern the project, oldest first.
#[utoipa::path(get, path = "/projects/{project}/audit", tag = "access",
    extensions(("x-broadside-access" = json!("project:maintainer"))),
    security(("bearer" = [])),
    params(("project" = String, Path, description = "Project"), PageQuery, broadside_api::ReadQuery),
    responses((status = 200, body = Page<AuditEntry>), (status = 404, body = broadside_api::Problem)))]
async fn project_audit(
    State(app): State<Arc<App>>,
    _: Consistent,
    ApiPath(project): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<AuditEntry>>, Problem> {
    let request = page_request(&query)?;
    let listed = app
        .read(move |r| Ok(r.audit(Some(&project), &request)?))
        .await?;
    Ok(Json(page(listed, views::audit)))
}
