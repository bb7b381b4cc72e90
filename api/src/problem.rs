//! RFC 9457 problem details: the body of every error response (`application/problem+json`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An error, as every route reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URN naming the kind of problem, e.g. `urn:broadside:problem:not-found`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind (the status's reason phrase).
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What exactly was wrong.
    pub detail: String,
    /// Every located problem of an invalid simulation (422).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<LocatedProblem>,
    /// Where the leader is, on a 503 caused by a missing or unreachable leader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<LeaderView>,
}

/// One problem of a simulation, with its place in the file: what `broadside validate` prints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LocatedProblem {
    /// The file, as the project names it.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The path of the offending node (`scenarios[0].steps[2]`), empty at the top level.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for LocatedProblem {
    /// `file:line:column: path: message`, with `?` for an unknown line or column.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let place = |v: Option<usize>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file,
            place(self.line),
            place(self.column),
            self.path,
            self.message
        )
    }
}

/// The leader's addresses, in a problem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LeaderView {
    /// Its node id, when known.
    pub id: Option<u64>,
    /// Its REST address, when known.
    pub http_addr: Option<String>,
}
