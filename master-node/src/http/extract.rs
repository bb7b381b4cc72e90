//! Extractors whose rejections are problem+json like every other error: a malformed path,
//! query or body is a 400 that says what was wrong, and no handler maps a rejection by hand.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::Json;
use broadside_api::{ReadQuery, IDEMPOTENCY_KEY};
use serde::de::DeserializeOwned;

use super::Problem;
use crate::app::App;
use crate::error::Error;
use crate::idempotency::{valid_key, MAX_KEY_LEN};

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

/// The client's `Idempotency-Key`, checked: 1 to 255 visible ASCII characters.
pub(crate) struct IdempotencyKey(pub(crate) Option<String>);

impl IdempotencyKey {
    /// The key, if the request has one.
    pub(crate) fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// The request id of a write whose key names `scope`.
    pub(crate) fn request_id(&self, scope: &str) -> broadside_raft_store::RequestId {
        crate::idempotency::request_id(self.as_deref(), scope)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let Some(value) = parts.headers.get(IDEMPOTENCY_KEY) else {
            return Ok(IdempotencyKey(None));
        };
        value
            .to_str()
            .ok()
            .filter(|k| valid_key(k))
            .map(|k| IdempotencyKey(Some(k.to_owned())))
            .ok_or_else(|| {
                Problem::bad_request(format!(
                    "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
                ))
            })
    }
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
