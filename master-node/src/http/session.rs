//! Browser sessions for the web UI: `POST /session` exchanges an API token for a cookie that
//! scripts cannot read (`HttpOnly`), that no other site's page can make the browser send
//! (`SameSite=Strict`), and that travels only over TLS when the master serves HTTPS (`Secure`,
//! under the `__Host-` prefix). The cookie carries the token itself, so every master accepts
//! it with no session state to replicate, and revoking the token ends every session made with
//! it. A request authenticated by the cookie that is not a `GET` or `HEAD` must send
//! `X-CSRF-Token`, a value derived from the token ([`Bearer::csrf`]) that `GET /session`
//! answers to the page. Sessions last at most [`SESSION_LIFETIME`] and never beyond the
//! token's expiry; `DELETE /session` forgets the cookie.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use broadside_api::{NewSession, Session};
use cookie::{Cookie, SameSite};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::authorize::{token_principal, Caller};
use super::extract::ApiJson;
use super::Problem;
use crate::app::App;
use crate::auth::token::Bearer;
use crate::auth::Principal;
use crate::error::{Error, Result};
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

/// When a session of `principal` made now ends.
fn expiry(principal: &Principal) -> u64 {
    let longest = now_ms().saturating_add(SESSION_LIFETIME.as_millis() as u64);
    match principal {
        Principal::Token(t) => t.expires_at_ms.map_or(longest, |e| e.min(longest)),
        _ => longest,
    }
}

/// The session of `principal`, confirmed with `bearer`'s anti-forgery value.
fn session(app: &App, principal: &Principal, bearer: Option<&Bearer>) -> Session {
    let token = match principal {
        Principal::Token(t) => Some(views::token(t)),
        _ => None,
    };
    Session {
        name: principal.name(),
        admin: principal.is_admin(),
        authentication: app.node.config.auth.tokens(),
        projects: token.map(|t| t.projects).unwrap_or_default(),
        csrf: bearer.map(Bearer::csrf).unwrap_or_default(),
        expires_at_ms: bearer.map(|_| expiry(principal)),
    }
}

/// The `Set-Cookie` value of a session of `bearer` ending at `until_ms`, or of its removal.
fn set_cookie(app: &App, bearer: Option<&Bearer>, until_ms: u64) -> Option<HeaderValue> {
    let secure = app.node.config.rest_tls.is_some();
    let value = bearer.map(Bearer::text).unwrap_or_default();
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
/// HTTPS) for the web UI, and answers who the session is with its anti-forgery value. Without
/// authentication on the master there is nothing to exchange: the answer names the local
/// caller and no cookie is set.
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
    ApiJson(body): ApiJson<NewSession>,
) -> std::result::Result<Response, Problem> {
    if !app.node.config.auth.tokens() {
        return Ok(Json(session(&app, &Principal::Local, None)).into_response());
    }
    let bearer = Bearer::parse(&body.token)
        .ok_or_else(|| Error::Unauthenticated("that is not an API token (`bst_…`)".to_owned()))?;
    let principal = token_principal(&app, &bearer).await?;
    let answer = session(&app, &principal, Some(&bearer));
    let cookie = set_cookie(&app, Some(&bearer), expiry(&principal))
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
async fn show(State(app): State<Arc<App>>, caller: Caller, headers: HeaderMap) -> Json<Session> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(Bearer::parse)
        .or_else(|| cookie_bearer(&app, &headers));
    let bearer = bearer.filter(|_| matches!(caller.principal, Principal::Token(_)));
    Json(session(&app, &caller.principal, bearer.as_ref()))
}

/// Sign out
///
/// Forgets the session cookie in this browser. The token itself stays valid (revoke it with
/// `DELETE /tokens/{id}` to end every session made with it).
#[utoipa::path(delete, path = "/session", tag = "access",
    extensions(("x-broadside-access" = json!("public"))),
    responses((status = 204, headers(("set-cookie" = String, description = "The cookie, expired")))))]
async fn sign_out(State(app): State<Arc<App>>) -> std::result::Result<Response, Problem> {
    let cookie = set_cookie(&app, None, 0)
        .ok_or_else(|| Error::internal("the session cookie could not be written"))?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}
