//! The errors of a master's operations, whatever front end (REST, the tarpc services) calls
//! them. They say *what* went wrong; how to say it on a wire is chosen in one place per wire:
//! `http::problem` (problem+json statuses) and, below, the tarpc [`CallError`].

use broadside_api::LocatedProblem;
use broadside_raft_store::RejectCode;
use broadside_rpc::{CallError, LeaderHint};

/// What an operation of a master can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The request itself is wrong (a bad name, a bad value).
    #[error("{0}")]
    BadRequest(String),
    /// What it names does not exist — or the caller may not see it (no existence leak).
    #[error("{0}")]
    NotFound(String),
    /// The caller presented no valid credentials.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is known but lacks the role the operation needs.
    #[error("{0}")]
    Forbidden(String),
    /// The same idempotency key came with another request.
    #[error("{0}")]
    KeyReused(String),
    /// It conflicts with the current state (a duplicate, a wrong state).
    #[error("{0}")]
    Conflict(String),
    /// It carries a task attempt that is no longer current (a fenced worker).
    #[error("{0}")]
    StaleAttempt(String),
    /// A simulation that does not compile: every problem with its location.
    #[error("{detail}")]
    InvalidSimulation {
        /// A summary naming the first problem.
        detail: String,
        /// Every problem.
        problems: Vec<LocatedProblem>,
    },
    /// An upload larger than the limit.
    #[error("{0}")]
    TooLarge(String),
    /// This master does not lead; the leader is there (when known).
    #[error("not the leader")]
    NotLeader(LeaderHint),
    /// The cluster cannot answer now (no quorum, no leader, a replica behind): retry.
    #[error("{0}")]
    Unavailable(String),
    /// A local failure (storage); never caused by the request.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The result of a master's operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The error for a state-machine refusal: the one reading of [`RejectCode`].
    pub fn rejected(code: RejectCode, message: String) -> Error {
        match code {
            RejectCode::BadRequest => Error::BadRequest(message),
            RejectCode::NotFound => Error::NotFound(message),
            RejectCode::Conflict => Error::Conflict(message),
            RejectCode::StaleAttempt => Error::StaleAttempt(message),
            RejectCode::KeyReused => Error::KeyReused(message),
        }
    }

    /// A local failure, logged where it happens (the answer carries only the summary).
    pub fn internal(detail: impl std::fmt::Display) -> Error {
        tracing::error!(error = %detail, "internal error");
        Error::Internal(detail.to_string())
    }
}

impl From<CallError> for Error {
    fn from(e: CallError) -> Self {
        match e {
            CallError::NotLeader(hint) => Error::NotLeader(hint),
            CallError::Unavailable(detail) => Error::Unavailable(detail),
            CallError::BadRequest(detail) => Error::BadRequest(detail),
            CallError::Conflict(detail) => Error::Conflict(detail),
            CallError::Stale(detail) => Error::StaleAttempt(detail),
            CallError::Forbidden(detail) => Error::Forbidden(detail),
        }
    }
}

impl From<broadside_raft_store::Error> for Error {
    fn from(e: broadside_raft_store::Error) -> Self {
        Error::internal(format_args!("storage: {e}"))
    }
}

impl From<Error> for CallError {
    /// The tarpc wire has no "not found" or "too large": both are the caller's mistake. A
    /// local failure is `Unavailable`: another master may answer.
    fn from(e: Error) -> Self {
        match e {
            Error::NotLeader(hint) => CallError::NotLeader(hint),
            Error::Unavailable(detail) | Error::Internal(detail) => CallError::Unavailable(detail),
            Error::StaleAttempt(detail) => CallError::Stale(detail),
            Error::Conflict(detail) => CallError::Conflict(detail),
            Error::Unauthenticated(detail) | Error::Forbidden(detail) => {
                CallError::Forbidden(detail)
            }
            e @ (Error::BadRequest(_)
            | Error::NotFound(_)
            | Error::KeyReused(_)
            | Error::TooLarge(_)
            | Error::InvalidSimulation { .. }) => CallError::BadRequest(e.to_string()),
        }
    }
}
