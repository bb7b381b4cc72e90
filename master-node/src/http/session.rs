//! Browser sessions for the web UI: `POST /session` exchanges an API token for a cookie that
//! scripts cannot read (`HttpOnly`), that no other site's page can make the browser send
//! (`SameSite=Strict`), and that travels only over TLS when the master serves HTTPS (`Secure`,
//! under the `__Host-` prefix).
//!
//! The cookie never holds the token it was made from: signing in creates a **session token**
//! (a replicated API token named `web session of <id>`, with the same roles, expiring after
//! [`SESSION_LIFETIME`] or with its parent if that is sooner), so every master accepts it with
//! nothing else to replicate. A session token is refused once its parent is revoked or expired
//! (`auth::session_parent`, checked with every request), and `DELETE /session` revokes it. A request
//! authenticated by the cookie that is not a `GET` or `HEAD` must send `X-CSRF-Token`, a value
//! derived from the session token ([`Bearer::csrf`]) that `GET /session` answers to the page.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use broadside_api::{NewSession, Session};
use broadside_raft_store::model::Token;
use broadside_raft_store::Command;
use cookie::{Cookie, SameSite};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::authorize::{token_principal, Caller};
use super::extract::ApiJson;
use super::Problem;
use crate::app::App;
use crate::auth::token::Bearer;
use crate::auth::{session_parent, Principal, SESSION_NAME};
use crate::error::{Error, Result};
use crate::idempotency::Writer;
use crate::node::now_ms;
use crate::views;

/// The longest a session lasts.
pub(crate) const SESSION_LIFETIME: std::time::Duration = std::time::Duration::from_secs(12 * 3600);
/// The header confirming a session's state-changing request.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";
/// The cookie's name over plain HTTP (loopback only).
const COOKIE: &str = "broadside_session";
/// The cookie's name over HTTPS: the `__Host-` prefix makes browsers refuse it unless it is
/// `Secure`, has `Path=/` and no `Domain`.
const SECURE_COOKIE: &str = "__Host-broadside_session";

pub(super) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(sign_in, show, sign_out))
}

/// The cookie's name on `app`'s master.
fn cookie_name(app: &App) -> &'static str {
    if app.node.config.rest_tls.is_some() {
        SECURE_COOKIE
    } else {
        COOKIE
    }
}

/// The token of the request's session cookie, if it has one that parses.
pub(super) fn cookie_bearer(app: &App, headers: &HeaderMap) -> Option<Bearer> {
    let name = cookie_name(app);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(std::result::Result::ok)
        .find(|c| c.name() == name)
        .and_then(|c| Bearer::parse(c.value()))
}

/// Refuses a state-changing request of a session without its anti-forgery value.
pub(super) fn check_csrf(bearer: &Bearer, method: &Method, headers: &HeaderMap) -> Result<()> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    match sent {
        Some(value) if bearer.csrf_matches(value) => Ok(()),
        Some(_) => Err(Error::Forbidden(
            "X-CSRF-Token does not match this session (sign in again)".to_owned(),
        )),
        None => Err(Error::Forbidden(
            "a request signed in by the session cookie must send X-CSRF-Token (the `csrf` of \
             GET /api/v1/session)"
                .to_owned(),
        )),
    }
}

/// The session of `principal` (a session token, or any token presented as a bearer),
/// confirmed with `bearer`'s anti-forgery value.
fn session(app: &App, principal: &Principal, bearer: Option<&Bearer>) -> Session {
    let (name, projects, expires_at_ms) = match principal {
        Principal::Token(t) => {
            // A session token shows the name of the token it was made from.
            let name = match session_parent(t) {
                Some(_) => t.created_by.clone(),
                None => t.name.clone(),
            };
            (name, views::token(t).projects, t.expires_at_ms)
        }
        other => (other.name(), Default::default(), None),
    };
    Session {
        name,
        admin: principal.is_admin(),
        authentication: app.node.config.auth.tokens(),
        projects,
        csrf: bearer.map(Bearer::csrf).unwrap_or_default(),
        expires_at_ms,
    }
}

/// A new session token made from `parent`, ending after [`SESSION_LIFETIME`] or with `parent`.
fn session_token(parent: &Token) -> (Token, Bearer, String) {
    let (bearer, text) = Bearer::generate();
    let now = now_ms();
    let longest = now.saturating_add(SESSION_LIFETIME.as_millis() as u64);
    let token = Token {
        id: bearer.id.clone(),
        name: format!("{SESSION_NAME}{}", parent.id),
        secret_sha256: bearer.secret_sha256(),
        // The name the session shows (`created_by` names the creating token).
        created_by: parent.name.clone(),
        created_at_ms: now,
        expires_at_ms: Some(parent.expires_at_ms.map_or(longest, |e| e.min(longest))),
        revoked_at_ms: None,
        admin: parent.admin,
        projects: parent.projects.clone(),
    };
    (token, bearer, text)
}

/// The `Set-Cookie` value of a session token `text` ending at `until_ms`, or of the cookie's
/// removal (`None`).
fn set_cookie(app: &App, text: Option<&str>, until_ms: u64) -> Option<HeaderValue> {
    let secure = app.node.config.rest_tls.is_some();
    let value = text.unwrap_or_default().to_owned();
    let seconds = until_ms.saturating_sub(now_ms()).div_ceil(1000);
    let cookie = Cookie::build((cookie_name(app), value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(time::Duration::seconds(seconds as i64))
        .build();
    HeaderValue::from_str(&cookie.to_string()).ok()
}

/// Sign in
///
/// Exchanges an API token for a session cookie (`HttpOnly`, `SameSite=Strict`, `Secure` over
/// HTTPS) for the web UI, and answers who the session is with its anti-forgery value. The
/// cookie holds a new session token (same roles, at most 12 hours, refused once the token it
/// was made from is revoked or expired), never the token given. Without authentication on
/// the master there is nothing to exchange: the answer names the local caller and no cookie
/// is set.
#[utoipa::path(post, path = "/session", tag = "access",
    extensions(("x-broadside-access" = json!("public"))),
    request_body = NewSession,
    responses(
        (status = 200, body = Session, headers(("set-cookie" = String, description = "The session cookie"))),
        (status = 400, body = broadside_api::Problem),
        (status = 401, body = broadside_api::Problem),
    ))]
async fn sign_in(
    State(app): State<Arc<App>>,
    caller: Caller,
    ApiJson(body): ApiJson<NewSession>,
) -> std::result::Result<Response, Problem> {
    if !app.node.config.auth.tokens() {
        return Ok(Json(session(&app, &Principal::Local, None)).into_response());
    }
    let bearer = Bearer::parse(&body.token)
        .ok_or_else(|| Error::Unauthenticated("that is not an API token (`bst_…`)".to_owned()))?;
    let parent = match token_principal(&app, &bearer).await? {
        Principal::Token(t) => t,
        _ => return Err(Error::internal("a token's principal is not a token").into()),
    };
    // A session is made from an API token, never from another session's (whose chain would
    // outlive the revocation of the token it began with).
    if session_parent(&parent).is_some() {
        return Err(Error::BadRequest(
            "sign in with an API token, not with a web session's".to_owned(),
        )
        .into());
    }
    let (token, session_bearer, text) = session_token(&parent);
    let until = token.expires_at_ms.unwrap_or_default();
    let writer = Writer::new(
        &parent.id,
        Principal::Token(parent.clone()).actor(&caller.request_id),
        None,
    );
    app.write_as(
        &writer,
        "POST /session",
        Command::CreateToken(token.clone()),
    )
    .await?;
    let answer = session(
        &app,
        &Principal::Token(Arc::new(token)),
        Some(&session_bearer),
    );
    let cookie = set_cookie(&app, Some(&text), until)
        .ok_or_else(|| Error::internal("the session cookie could not be written"))?;
    Ok(([(header::SET_COOKIE, cookie)], Json(answer)).into_response())
}

/// This session
///
/// Who the caller is, what it may do, and the anti-forgery value its state-changing requests
/// send in `X-CSRF-Token` when they are signed in by the session cookie.
#[utoipa::path(get, path = "/session", tag = "access",
    extensions(("x-broadside-access" = json!("authenticated"))),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = Session), (status = 401, body = broadside_api::Problem)))]
async fn show(State(app): State<Arc<App>>, caller: Caller) -> Json<Session> {
    Json(session(&app, &caller.principal, caller.bearer.as_ref()))
}

/// Sign out
///
/// Ends the session: its session token is revoked (when the request is signed in by its
/// cookie and carries its `X-CSRF-Token`) and the cookie is expired in this browser. The token
/// it was made from stays valid; revoking that one ends every session made with it.
#[utoipa::path(delete, path = "/session", tag = "access",
    extensions(("x-broadside-access" = json!("public"))),
    responses((status = 204, headers(("set-cookie" = String, description = "The cookie, expired")))))]
async fn sign_out(
    State(app): State<Arc<App>>,
    caller: Caller,
) -> std::result::Result<Response, Problem> {
    if let Principal::Token(t) = &caller.principal {
        if session_parent(t).is_some() {
            let writer = Writer::new(&t.id, caller.actor(), None);
            app.write_as(
                &writer,
                "DELETE /session",
                Command::RevokeToken { id: t.id.clone() },
            )
            .await?;
        }
    }
    let cookie = set_cookie(&app, None, 0)
        .ok_or_else(|| Error::internal("the session cookie could not be written"))?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}
