//! RFC 9457 problem details: the one error shape of the REST API.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use broadside_raft_store::RejectCode;
use broadside_rpc::{CallError, LeaderHint};
use serde::Serialize;

/// An API error (boxed: handlers return it by value on every error path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem(Box<Details>);

/// The body of a problem response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Details {
    /// A URN naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What exactly was wrong.
    pub detail: String,
    /// Located errors (e.g. of a simulation), when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<serde_json::Value>,
    /// Where the leader is, on 503s caused by a missing or unreachable leader.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader: Option<LeaderView>,
}

/// The leader's addresses in a problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaderView {
    /// Node id.
    pub id: Option<u64>,
    /// REST address.
    pub http_addr: Option<String>,
}

impl Problem {
    fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Self {
        Problem(Box::new(Details {
            kind: format!("urn:broadside:problem:{kind}"),
            title: status.canonical_reason().unwrap_or("error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            leader: None,
        }))
    }

    /// The details.
    pub fn details(&self) -> &Details {
        &self.0
    }

    /// 400.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// 409.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::CONFLICT, "conflict", detail)
    }

    /// 422 with every located problem.
    pub fn unprocessable(detail: impl Into<String>, errors: Vec<serde_json::Value>) -> Self {
        let mut p = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-simulation",
            detail,
        );
        p.0.errors = errors;
        p
    }

    /// 413.
    pub fn too_large(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", detail)
    }

    /// 503, with the leader when one is known.
    pub fn unavailable(detail: impl Into<String>, leader: Option<&LeaderHint>) -> Self {
        let mut p = Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail);
        p.0.leader = leader.filter(|h| h.id.is_some()).map(|h| LeaderView {
            id: h.id,
            http_addr: h.http_addr.clone(),
        });
        p
    }

    /// 500 for a local failure (storage); never used for bad input.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error answering a request");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("internal error: {detail}"),
        )
    }

    /// The problem for a state-machine refusal.
    pub fn rejected(code: RejectCode, message: String) -> Self {
        match code {
            RejectCode::BadRequest => Problem::bad_request(message),
            RejectCode::NotFound => Problem::not_found(message),
            RejectCode::Conflict => Problem::conflict(message),
            RejectCode::StaleAttempt => {
                Problem::new(StatusCode::CONFLICT, "stale-attempt", message)
            }
        }
    }
}

impl From<CallError> for Problem {
    fn from(e: CallError) -> Self {
        match e {
            CallError::NotLeader(hint) => {
                Problem::unavailable("the leader could not be reached; retry", Some(&hint))
            }
            CallError::Unavailable(detail) => Problem::unavailable(detail, None),
            CallError::BadRequest(detail) => Problem::bad_request(detail),
            CallError::Conflict(detail) => Problem::conflict(detail),
            CallError::Stale(detail) => Problem::new(StatusCode::CONFLICT, "stale-attempt", detail),
        }
    }
}

impl From<broadside_raft_store::Error> for Problem {
    fn from(e: broadside_raft_store::Error) -> Self {
        Problem::internal(e)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry = status == StatusCode::SERVICE_UNAVAILABLE;
        let mut response = (status, axum::Json(self.0)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if retry {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
