//! RFC 9457 problem details: the one error shape of the REST API, and the one place where a
//! master's [`Error`] becomes an HTTP status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use broadside_api::LeaderView;

use crate::error::Error;

/// An API error response (boxed: handlers return it by value on every error path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem(Box<broadside_api::Problem>);

impl Problem {
    fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Self {
        Problem(Box::new(broadside_api::Problem {
            kind: format!("urn:broadside:problem:{kind}"),
            title: status.canonical_reason().unwrap_or("error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            leader: None,
        }))
    }

    /// The body.
    pub fn details(&self) -> &broadside_api::Problem {
        &self.0
    }

    /// A 400 for a request the API cannot read (a bad path, query or body).
    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Problem::from(Error::BadRequest(detail.into()))
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        let detail = e.to_string();
        match e {
            Error::BadRequest(_) => Problem::new(StatusCode::BAD_REQUEST, "bad-request", detail),
            Error::NotFound(_) => Problem::new(StatusCode::NOT_FOUND, "not-found", detail),
            Error::Unauthenticated(_) => {
                Problem::new(StatusCode::UNAUTHORIZED, "unauthenticated", detail)
            }
            Error::Forbidden(_) => Problem::new(StatusCode::FORBIDDEN, "forbidden", detail),
            Error::KeyReused(_) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                detail,
            ),
            Error::Conflict(_) => Problem::new(StatusCode::CONFLICT, "conflict", detail),
            Error::StaleAttempt(_) => Problem::new(StatusCode::CONFLICT, "stale-attempt", detail),
            Error::TooLarge(_) => Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", detail),
            Error::InvalidSimulation { problems, .. } => {
                let mut p = Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-simulation",
                    detail,
                );
                p.0.errors = problems;
                p
            }
            Error::NotLeader(hint) => {
                let mut p = Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the leader could not be reached; retry",
                );
                p.0.leader = hint.id.is_some().then_some(LeaderView {
                    id: hint.id,
                    http_addr: hint.http_addr,
                });
                p
            }
            Error::Unavailable(_) => {
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
            }
            Error::Internal(detail) => {
                // The caller gets an opaque id; the detail (paths, storage errors) stays in the
                // master's log under that id.
                let id = format!("{:016x}", rand::random::<u64>());
                tracing::error!(error_id = %id, error = %detail, "internal error answered");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    format!("internal error {id}; the master's log has the details"),
                )
            }
        }
    }
}

impl From<broadside_rpc::CallError> for Problem {
    fn from(e: broadside_rpc::CallError) -> Self {
        Problem::from(Error::from(e))
    }
}

impl From<broadside_raft_store::Error> for Problem {
    fn from(e: broadside_raft_store::Error) -> Self {
        Problem::from(Error::from(e))
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry = status == StatusCode::SERVICE_UNAVAILABLE;
        let challenge = status == StatusCode::UNAUTHORIZED;
        let mut response = (status, axum::Json(self.0)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if retry {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"broadside\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use broadside_raft_store::RejectCode;
    use broadside_rpc::LeaderHint;

    use super::*;

    #[test]
    fn every_error_has_one_status() {
        let cases = [
            (Error::BadRequest("x".into()), 400),
            (Error::NotFound("x".into()), 404),
            (Error::Unauthenticated("x".into()), 401),
            (Error::Forbidden("x".into()), 403),
            (Error::KeyReused("x".into()), 422),
            (Error::Conflict("x".into()), 409),
            (Error::StaleAttempt("x".into()), 409),
            (Error::TooLarge("x".into()), 413),
            (
                Error::InvalidSimulation {
                    detail: "x".into(),
                    problems: Vec::new(),
                },
                422,
            ),
            (Error::NotLeader(LeaderHint::default()), 503),
            (Error::Unavailable("x".into()), 503),
            (Error::Internal("x".into()), 500),
        ];
        for (error, status) in cases {
            assert_eq!(
                Problem::from(error.clone()).details().status,
                status,
                "{error:?}"
            );
        }
        // A state-machine refusal reads the same as the error it names.
        assert_eq!(
            Problem::from(Error::rejected(RejectCode::NotFound, "gone".into()))
                .details()
                .status,
            404
        );
    }

    #[test]
    fn a_missing_leader_names_where_it_is() {
        let hint = LeaderHint {
            id: Some(2),
            raft_addr: Some("127.0.0.1:7002".into()),
            http_addr: Some("127.0.0.1:8082".into()),
        };
        let p = Problem::from(Error::NotLeader(hint));
        assert_eq!(
            p.details().leader,
            Some(LeaderView {
                id: Some(2),
                http_addr: Some("127.0.0.1:8082".into())
            })
        );
        let response = p.into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
}
