//! Tokens, roles, secrets, project settings and the audit log.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A role on a project, each including the ones before it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ProjectRole {
    /// Reads files, jobs, results, live data and logs.
    Viewer,
    /// Also submits and aborts jobs.
    Runner,
    /// Also changes files, secrets, the project's settings and its tokens.
    Maintainer,
}

/// A token as the API shows it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenInfo {
    /// Public id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Cluster administrator.
    pub admin: bool,
    /// Roles on projects.
    pub projects: BTreeMap<String, ProjectRole>,
    /// Name of the token that created it.
    pub created_by: String,
    /// When it was created (Unix milliseconds).
    pub created_at_ms: u64,
    /// When it expires, if it does.
    pub expires_at_ms: Option<u64>,
    /// When it was revoked, if it was.
    pub revoked_at_ms: Option<u64>,
}

/// The body of `POST /tokens`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// A name for people (1 to 128 characters).
    pub name: String,
    /// A cluster administrator (only an administrator creates one).
    #[serde(default)]
    pub admin: bool,
    /// Roles on projects (a maintainer grants roles on the projects it maintains).
    #[serde(default)]
    pub projects: BTreeMap<String, ProjectRole>,
    /// Lifetime, e.g. `"30d"` (none: until revoked).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::duration::optional"
    )]
    #[schema(value_type = Option<String>, example = "30d")]
    pub expires_in: Option<Duration>,
}

/// A token just created: the only time its secret is shown (its `Debug` form does not).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    /// The token.
    pub token: TokenInfo,
    /// The bearer string (`bst_…`): keep it, it is not shown again.
    pub secret: String,
}

impl std::fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedToken")
            .field("token", &self.token)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// The caller, as its token says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Whoami {
    /// The token (`null` on a master without authentication).
    pub token: Option<TokenInfo>,
    /// Whether it is a cluster administrator.
    pub admin: bool,
    /// Whether the master requires tokens.
    pub authentication: bool,
}

/// The body of `PUT /projects/{project}/secrets/{name}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretValue {
    /// The value (4 bytes to 64 KiB); never returned by any read.
    pub value: String,
}

impl std::fmt::Debug for SecretValue {
    /// Never shows the value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue([redacted])")
    }
}

/// A project's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectSettings {
    /// Where the project's jobs may send load: host names (`shop.test`), addresses or CIDRs
    /// (`127.0.0.0/8`, `::1`), each optionally with `:port`; empty: wherever the workers allow
    /// (loopback only, unless a worker's operator allows remote targets).
    #[serde(default)]
    pub targets: Vec<String>,
}

/// Who made a write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditActor {
    /// Token id (empty without authentication).
    pub token_id: String,
    /// Token name.
    pub name: String,
    /// The HTTP request id (`x-request-id`) of the write.
    pub request: String,
}

/// One accepted write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// Position in the audit log.
    pub seq: u64,
    /// When it was applied (Unix milliseconds).
    pub at_ms: u64,
    /// Who.
    pub actor: AuditActor,
    /// What (`submit_job`, `put_secret`, …).
    pub action: String,
    /// The project it concerns.
    pub project: Option<String>,
    /// What it concerned: a path, a job id, a token id, a secret's name — never a value.
    pub target: String,
}
