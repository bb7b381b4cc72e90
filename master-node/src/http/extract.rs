//! Extractors whose rejections are problem+json like every other error: a malformed path,
//! query or body is a 400 that says what was wrong, and no handler maps a rejection by hand.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use broadside_api::{ReadQuery, IDEMPOTENCY_KEY};
use broadside_raft_store::Sha256;
use serde::de::DeserializeOwned;

use super::authorize::Caller;
use super::Problem;
use crate::app::App;
use crate::error::Error;
use crate::idempotency::{request_digest, valid_key, Writer, MAX_KEY_LEN};

/// `Path<T>`.
pub(crate) struct ApiPath<T>(pub(crate) T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|e| Problem::bad_request(e.body_text()))
    }
}

/// `Query<T>`.
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(|e| Problem::bad_request(e.body_text()))
    }
}

/// The problem of a body axum could not read: too large (413) or not what was expected (400).
fn body_problem(status: axum::http::StatusCode, text: String) -> Problem {
    if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        Problem::from(Error::TooLarge(format!("request body: {text}")))
    } else {
        Problem::bad_request(format!("request body: {text}"))
    }
}

/// `Json<T>`: a body that is not `application/json` or not the expected document is a 400, one
/// larger than the limit a 413.
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        Json::<T>::from_request(request, state)
            .await
            .map(|Json(value)| ApiJson(value))
            .map_err(|e| body_problem(e.status(), e.body_text()))
    }
}

/// An optional JSON body: empty (or only whitespace) is `T::default()`.
pub(crate) struct OptionalJson<T>(pub(crate) T);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        let body = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| body_problem(e.status(), e.body_text()))?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        serde_json::from_slice(&body)
            .map(OptionalJson)
            .map_err(|e| Problem::bad_request(format!("request body: {e}")))
    }
}

/// Who writes: the caller (from the authorization) and its `Idempotency-Key`, checked: 1 to
/// 255 visible ASCII characters.
impl<S: Send + Sync> FromRequestParts<S> for Writer {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let key = match parts.headers.get(IDEMPOTENCY_KEY) {
            None => None,
            Some(value) => Some(
                value
                    .to_str()
                    .ok()
                    .filter(|k| valid_key(k))
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        Problem::bad_request(format!(
                            "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
                        ))
                    })?,
            ),
        };
        let body = parts.extensions.get::<RequestDigest>().map(|d| d.0);
        Ok(Writer::new(caller.principal.scope(), caller.actor(), key).with_body(body))
    }
}

/// The digest of a request that carries an `Idempotency-Key` (see [`digest_keyed_request`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RequestDigest(pub(crate) Sha256);

/// Middleware: a write with an `Idempotency-Key` and a JSON (or empty) body is read whole
/// (within the JSON limit) and its digest rides with it, so that the same key with another body
/// is refused (`crate::idempotency`). Uploads stream; their scope names their content instead.
pub(crate) async fn digest_keyed_request(request: Request, next: Next) -> Response {
    let keyed = request.headers().contains_key(IDEMPOTENCY_KEY);
    let small = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .is_none_or(|n| n <= super::JSON_BODY_LIMIT);
    let json = match request.headers().get(CONTENT_TYPE) {
        Some(t) => t
            .to_str()
            .is_ok_and(|t| t.to_ascii_lowercase().starts_with("application/json")),
        None => small,
    };
    if !keyed || !json || request.method() == Method::GET || request.method() == Method::HEAD {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, super::JSON_BODY_LIMIT).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return Problem::from(Error::TooLarge(format!("request body: {e}"))).into_response()
        }
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or("", |p| p.as_str())
        .to_owned();
    let digest = request_digest(parts.method.as_str(), &path, &bytes);
    parts.extensions.insert(RequestDigest(digest));
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

/// `?consistent=true`: waits for a linearizable read barrier before the handler reads.
pub(crate) struct Consistent;

impl FromRequestParts<Arc<App>> for Consistent {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Problem> {
        let ApiQuery(options) = ApiQuery::<ReadQuery>::from_request_parts(parts, app).await?;
        if options.consistent {
            app.read_barrier().await?;
        }
        Ok(Consistent)
    }
}
