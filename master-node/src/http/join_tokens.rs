//! Join tokens: what an administrator hands a fleet of workers so that each gets an identity
//! without a certificate of its own (`docs/security.md#join-tokens`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use broadside_api::{CreatedJoinToken, JoinTokenInfo, NewJoinToken, Page, PageQuery};
use broadside_raft_store::model::JoinToken;
use broadside_raft_store::Command;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::authorize::Caller;
use super::extract::{ApiJson, ApiPath, ApiQuery, Consistent};
use super::paging::{page, page_request};
use super::Problem;
use crate::app::App;
use crate::auth;
use crate::auth::token::{Bearer, JOIN_PREFIX};
use crate::error::Error;
use crate::idempotency::Writer;
use crate::views;

pub(super) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
}

/// List join tokens
///
/// Every join token (never their secrets), revoked and expired ones included.
#[utoipa::path(get, path = "/join-tokens", tag = "workers",
    extensions(("x-broadside-access" = json!("admin"))),
    security(("bearer" = [])),
    params(PageQuery, broadside_api::ReadQuery),
    responses(
        (status = 200, body = Page<JoinTokenInfo>),
        (status = 400, body = broadside_api::Problem),
    ))]
async fn list(
    State(app): State<Arc<App>>,
    _: Consistent,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<JoinTokenInfo>>, Problem> {
    let request = page_request(&query)?;
    let listed = app.read(move |r| Ok(r.list_join_tokens(&request)?)).await?;
    Ok(Json(page(listed, |t| views::join_token(&t))))
}

/// Create a join token
///
/// A new join token for a pool; its string (`bsj_…`) is in the answer and never shown again.
/// A worker started with `--join-token` and the cluster CA exchanges it for an identity of its
/// own, bound to this pool.
#[utoipa::path(post, path = "/join-tokens", tag = "workers",
    extensions(("x-broadside-access" = json!("admin"))),
    security(("bearer" = [])),
    request_body = NewJoinToken,
    responses(
        (status = 201, body = CreatedJoinToken),
        (status = 400, body = broadside_api::Problem),
    ))]
async fn create(
    State(app): State<Arc<App>>,
    caller: Caller,
    writer: Writer,
    ApiJson(new): ApiJson<NewJoinToken>,
) -> Result<impl IntoResponse, Problem> {
    let (bearer, secret) = Bearer::generate_with(JOIN_PREFIX);
    // Never later than the creator's own token: a short-lived credential leaves no lasting one.
    let expires_at_ms = auth::capped_expiry(&caller.principal, auth::expiry(new.expires_in)?);
    let token = JoinToken {
        id: bearer.id.clone(),
        name: new.name,
        pool: new.pool,
        secret_sha256: bearer.secret_sha256(),
        created_by: caller.principal.name(),
        created_at_ms: 0,
        expires_at_ms,
        revoked_at_ms: None,
    };
    // A fresh secret each time: an idempotency key cannot replay a creation.
    let scope = format!("POST /join-tokens {}", token.id);
    app.write_as(&writer, &scope, Command::CreateJoinToken(token))
        .await?;
    let id = bearer.id;
    let stored = app
        .read(move |r| {
            r.join_token(&id)?
                .ok_or_else(|| Error::Conflict("the join token vanished".into()))
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        [(
            header::LOCATION,
            format!("/api/v1/join-tokens/{}", stored.id),
        )],
        Json(CreatedJoinToken {
            join_token: views::join_token(&stored),
            secret,
        }),
    ))
}

/// Revoke a join token
///
/// No worker joins with it any more, and every worker that joined with it is refused from its
/// next call: its running tasks stop when their lease runs out and resume on other workers.
#[utoipa::path(delete, path = "/join-tokens/{id}", tag = "workers",
    extensions(("x-broadside-access" = json!("admin"))),
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Join token id")),
    responses((status = 204), (status = 404, body = broadside_api::Problem)))]
async fn revoke(
    State(app): State<Arc<App>>,
    writer: Writer,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, Problem> {
    let scope = format!("DELETE /join-tokens/{id}");
    app.write_as(&writer, &scope, Command::RevokeJoinToken { id })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
