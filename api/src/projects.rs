//! Projects: the tenants that own files, jobs and results.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Project {
    /// Its name: 1 to 64 of `[A-Za-z0-9_.-]`.
    pub name: String,
    /// Free text.
    pub description: String,
    /// When it was created (Unix milliseconds).
    pub created_at_ms: u64,
}

/// The body of `POST /projects`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    /// Its name: 1 to 64 of `[A-Za-z0-9_.-]`.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
}
