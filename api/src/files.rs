//! Files of a project: content-addressed versions of paths.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// What a file is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// A simulation (YAML or JSON).
    Simulation,
    /// Data a simulation reads: feeders, bodies.
    Data,
    /// Configuration.
    Conf,
    /// Anything else kept with the project.
    Artifact,
}

/// One version of a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FileVersion {
    /// Project.
    pub project: String,
    /// Path in the project (relative, `/`-separated).
    pub path: String,
    /// Version number, from 1; every upload of the path adds one.
    pub version: u64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Kind.
    pub kind: FileKind,
    /// When this version was committed (Unix milliseconds).
    pub created_at_ms: u64,
    /// How many jobs pin this version.
    pub pinned_by_jobs: u32,
    /// Deleted (kept while a job pins it).
    pub deleted: bool,
}

/// `?kind=` of an upload (default: `simulation` for `.yaml`/`.yml`, `data` otherwise).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// The file's kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<FileKind>,
}

/// `?version=N` of a download (default: the latest).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// Version number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}
