//! The one place where every request is authorized: the route's rule comes from the OpenAPI
//! document (`x-broadside-access` on each operation), the caller from its bearer token checked
//! against the local replica. A route without a rule is refused (a route added later without
//! one fails the access-matrix test). The caller then rides with the request as a [`Caller`].
//!
//! A browser signed in to the web UI presents its token in the session cookie instead
//! (`session`); any request it makes that is not a `GET` or `HEAD` must then carry the
//! session's `X-CSRF-Token`.
//!
//! Also here, the browser safety of the API: a `POST` must carry the token header, the session's
//! anti-forgery header or a body type a cross-site form cannot send (JSON, an octet stream), so
//! that no page elsewhere can make a browser abort a job or drain a worker — even on a master
//! without authentication.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use broadside_raft_store::model::{Actor, Token};
use utoipa::openapi::OpenApi;

use super::{session, Problem};
use crate::app::App;
use crate::auth::token::Bearer;
use crate::auth::{self, Access, Principal};
use crate::error::{Error, Result};
use crate::node::now_ms;

/// The extension naming an operation's rule in the OpenAPI document.
pub(crate) const ACCESS_EXTENSION: &str = "x-broadside-access";

/// The rule of every route: `(method, path as axum matches it)` → rule.
#[derive(Debug, Default)]
pub(crate) struct Rules(HashMap<(Method, String), Access>);

impl Rules {
    /// The rules the document declares, keyed by its paths as registered (before they are
    /// turned into OpenAPI spelling); with the operations that have none, if any.
    #[allow(clippy::result_large_err)]
    pub(crate) fn from_document(
        document: &OpenApi,
    ) -> std::result::Result<Rules, (Rules, Vec<String>)> {
        let mut rules = HashMap::new();
        let mut missing = Vec::new();
        let json = serde_json::to_value(document).unwrap_or_default();
        for (path, item) in json["paths"].as_object().into_iter().flatten() {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let Ok(method) = Method::from_bytes(method.to_uppercase().as_bytes()) else {
                    continue;
                };
                match operation[ACCESS_EXTENSION].as_str().and_then(Access::parse) {
                    Some(access) => {
                        rules.insert((method, path.clone()), access);
                    }
                    None => missing.push(format!("{method} {path}")),
                }
            }
        }
        if missing.is_empty() {
            Ok(Rules(rules))
        } else {
            Err((Rules(rules), missing))
        }
    }
}

/// Who calls, for the handlers (set by [`authorize`]).
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    /// The principal.
    pub(crate) principal: Principal,
    /// The request's id (`x-request-id`).
    pub(crate) request_id: String,
    /// The token the request presented (header or session cookie), when it was one.
    pub(crate) bearer: Option<Bearer>,
}

impl Caller {
    /// Who the audit log names for a write of this request.
    pub(crate) fn actor(&self) -> Option<Actor> {
        self.principal.actor(&self.request_id)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> std::result::Result<Self, Problem> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| Problem::from(Error::internal("a route ran without authorization")))
    }
}

/// The principal of the request's credentials (the local principal without authentication):
/// the `Authorization` header's token, or else the session cookie's, which a request that is
/// not a `GET` or `HEAD` must confirm with its `X-CSRF-Token` (`session`).
async fn principal(
    app: &App,
    method: &Method,
    headers: &HeaderMap,
) -> Result<(Principal, Option<Bearer>)> {
    if !app.node.config.auth.tokens() {
        return Ok((Principal::Local, None));
    }
    let bearer = match headers.get(header::AUTHORIZATION) {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(Bearer::parse)
            .ok_or_else(|| {
                Error::Unauthenticated("the Authorization header is not `Bearer bst_…`".to_owned())
            })?,
        None => match session::cookie_bearer(app, headers) {
            Some(bearer) => {
                let principal = token_principal(app, &bearer).await?;
                session::check_csrf(&bearer, method, headers)?;
                return Ok((principal, Some(bearer)));
            }
            None => return Ok((Principal::Anonymous, None)),
        },
    };
    Ok((token_principal(app, &bearer).await?, Some(bearer)))
}

/// The token `id` from the replica (through the cache), if it is valid now.
async fn valid_token(app: &App, id: &str) -> Result<Option<Arc<Token>>> {
    let token = app
        .tokens
        .get(app.reader(), id, |id| {
            app.read(move |r| Ok((r.tokens_generation(), r.token(&id)?)))
        })
        .await?;
    Ok(token.filter(|t| t.is_valid_at(now_ms())))
}

/// The principal of API token `bearer`: the token, if it is known, not revoked and not
/// expired — and, for a web session's token, if the token it was made from is still valid.
pub(super) async fn token_principal(app: &App, bearer: &Bearer) -> Result<Principal> {
    let refused = || Error::Unauthenticated("the token is unknown, revoked or expired".to_owned());
    let token = valid_token(app, &bearer.id)
        .await?
        .filter(|t| bearer.matches(&t.secret_sha256))
        .ok_or_else(refused)?;
    if let Some(parent) = auth::session_parent(&token) {
        if valid_token(app, parent).await?.is_none() {
            return Err(Error::Unauthenticated(
                "this session's token was revoked or expired: sign in again".to_owned(),
            ));
        }
    }
    Ok(Principal::Token(token))
}

/// The value of path parameter `name`.
fn param<'a>(params: &'a RawPathParams, name: &str) -> Option<&'a str> {
    params.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
}

/// Whether a request could have been sent by a form of another site: a `POST` (the one
/// state-changing method a form can send; `PUT` and `DELETE` need a CORS preflight, which this
/// API never grants) with neither the token header, nor the anti-forgery header of a session,
/// nor a body type a form cannot send.
fn cross_site(method: &Method, headers: &HeaderMap) -> bool {
    let unsafe_method = *method == Method::POST;
    let typed = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            let t = t.trim().to_ascii_lowercase();
            t.starts_with("application/json") || t.starts_with("application/octet-stream")
        });
    let confirmed =
        headers.contains_key(header::AUTHORIZATION) || headers.contains_key(session::CSRF_HEADER);
    unsafe_method && !typed && !confirmed
}

/// Checks `access` for `principal` on the request's path parameters.
async fn check(
    app: &App,
    principal: &Principal,
    access: Access,
    params: &RawPathParams,
) -> Result<()> {
    let role = match access {
        Access::Project(role) | Access::Job(role) => role,
        other => return auth::require(principal, other),
    };
    if matches!(principal, Principal::Anonymous) {
        return Err(auth::unauthenticated());
    }
    let project = match access {
        Access::Job(_) => {
            let Some(id) = param(params, "id").and_then(|id| id.parse::<u64>().ok()) else {
                // Not a job id: the handler answers 400, which reveals nothing.
                return Ok(());
            };
            let job = app.read(move |r| Ok(r.job(id)?)).await?;
            match job {
                Some(job) => job.project,
                None => return Err(Error::NotFound(format!("no job {id}"))),
            }
        }
        _ => match param(params, "project").or_else(|| param(params, "name")) {
            Some(p) => p.to_owned(),
            None => {
                return Err(Error::internal(format_args!(
                    "rule {} on a route without a project",
                    access.as_str()
                )))
            }
        },
    };
    let hidden = || match access {
        Access::Job(_) => format!("no job {}", param(params, "id").unwrap_or_default()),
        _ => format!("no project {project:?}"),
    };
    auth::require_role(principal, &project, role, hidden)
}

/// The middleware: the route's rule, the caller, the decision.
pub(crate) async fn authorize(
    State(app): State<Arc<App>>,
    rules: axum::Extension<Arc<Rules>>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let Some(path) = parts.extensions.get::<MatchedPath>().cloned() else {
        // No route: the fallback answers.
        return next.run(Request::from_parts(parts, body)).await;
    };
    // HEAD is GET without a body.
    let method = if parts.method == Method::HEAD {
        Method::GET
    } else {
        parts.method.clone()
    };
    let Some(access) = rules.0 .0.get(&(method, path.as_str().to_owned())) else {
        if rules.0 .0.keys().any(|(_, p)| p == path.as_str()) {
            // A method the route does not have: axum answers 405.
            return next.run(Request::from_parts(parts, body)).await;
        }
        return Problem::from(Error::Forbidden(format!(
            "{} {} has no access rule",
            parts.method,
            path.as_str()
        )))
        .into_response();
    };
    let decided = async {
        let (principal, bearer) = match principal(&app, &parts.method, &parts.headers).await {
            Ok(found) => found,
            Err(_) if *access == Access::Public => (Principal::Anonymous, None),
            Err(e) => return Err(e),
        };
        if *access != Access::Public && cross_site(&parts.method, &parts.headers) {
            return Err(Error::Forbidden(
                "a state-changing request carries a JSON or octet-stream body or an \
                 Authorization header (cross-site requests are refused)"
                    .to_owned(),
            ));
        }
        let params = RawPathParams::from_request_parts(&mut parts, &())
            .await
            .map_err(|e| Error::BadRequest(e.body_text()))?;
        check(&app, &principal, *access, &params).await?;
        Ok((principal, bearer))
    };
    match decided.await {
        Ok((principal, bearer)) => {
            let request_id = parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            parts.extensions.insert(Caller {
                principal,
                request_id,
                bearer,
            });
            next.run(Request::from_parts(parts, body)).await
        }
        Err(e) => Problem::from(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_a_post_a_form_could_send_is_cross_site() {
        let form = [("content-type", "application/x-www-form-urlencoded")];
        assert!(cross_site(&Method::POST, &headers(&form)));
        assert!(cross_site(
            &Method::POST,
            &headers(&[("content-type", "text/plain")])
        ));
        assert!(cross_site(&Method::POST, &headers(&[])));
        let json = [("content-type", "Application/JSON; charset=utf-8")];
        assert!(!cross_site(&Method::POST, &headers(&json)));
        let octets = [("content-type", "application/octet-stream")];
        assert!(!cross_site(&Method::POST, &headers(&octets)));
        let bearer = [
            ("content-type", "text/plain"),
            ("authorization", "Bearer x"),
        ];
        assert!(!cross_site(&Method::POST, &headers(&bearer)));
        // A browser sends other methods only after a CORS preflight, which no master answers
        // unless configured to.
        assert!(!cross_site(&Method::DELETE, &headers(&[])));
    }
}
