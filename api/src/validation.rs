//! Validation of a simulation against a project's files, without running or submitting it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::LocatedProblem;

/// The body of `POST /projects/{project}/validate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidationRequest {
    /// The simulation's path in the project: what problems name, and where the files it
    /// refers to are resolved from.
    pub path: String,
    /// The simulation's text (e.g. an editor's unsaved text); without it, the project's
    /// current version of `path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// Every problem of a simulation, located, as `broadside validate` lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Validation {
    /// No problem found.
    pub valid: bool,
    /// The problems, in the order of the file.
    pub problems: Vec<LocatedProblem>,
}
