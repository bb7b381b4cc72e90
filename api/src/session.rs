//! A browser's session: an API token exchanged for an HttpOnly cookie, so that the web UI never
//! keeps the token where a script could read it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ProjectRole;

/// The body of `POST /session`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    /// An API token, `bst_…`.
    pub token: String,
}

impl std::fmt::Debug for NewSession {
    /// Never shows the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession").finish_non_exhaustive()
    }
}

/// Who a session is and what it may do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Session {
    /// The token's name (`local` on a master without authentication).
    pub name: String,
    /// Whether it is a cluster administrator.
    pub admin: bool,
    /// Whether the master requires tokens.
    pub authentication: bool,
    /// Its role on each project it holds one on (an administrator holds every role on every
    /// project).
    pub projects: BTreeMap<String, ProjectRole>,
    /// The value a request authenticated by the session cookie must send in `X-CSRF-Token`
    /// when it is not a `GET` or `HEAD` (derived from the token: the same on every master).
    pub csrf: String,
    /// When the session ends (Unix milliseconds): the cookie's lifetime, at most the token's.
    pub expires_at_ms: Option<u64>,
}
