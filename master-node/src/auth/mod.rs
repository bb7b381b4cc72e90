//! Authentication and authorization: who calls (a [`Principal`], from a bearer token checked
//! against the replicated store), and what each operation requires (an [`Access`] rule, declared
//! with the operation in the OpenAPI document and enforced by one middleware, `http::authorize`).
//!
//! Roles (`docs/design.md#security`): a cluster `admin` may do everything; on a project a
//! `viewer` reads, a `runner` also submits and aborts jobs, a `maintainer` also changes files,
//! secrets, settings and the project's tokens. What a caller may not see does not exist for it:
//! a project or job without any role on it answers 404, a role too low answers 403.

pub(crate) mod cache;
pub(crate) mod token;

use std::sync::Arc;

use broadside_raft_store::model::{Actor, ProjectRole, Token};

use crate::error::{Error, Result};

/// Who calls.
#[derive(Clone, Debug)]
pub(crate) enum Principal {
    /// No credentials: public routes only.
    Anonymous,
    /// A valid token.
    Token(Arc<Token>),
    /// A master without authentication (every listener on loopback): everything is allowed.
    Local,
}

impl Principal {
    /// Whether it is a cluster administrator.
    pub(crate) fn is_admin(&self) -> bool {
        match self {
            Principal::Anonymous => false,
            Principal::Token(t) => t.admin,
            Principal::Local => true,
        }
    }

    /// Its role on `project` (an administrator maintains every project).
    pub(crate) fn role_on(&self, project: &str) -> Option<ProjectRole> {
        if self.is_admin() {
            return Some(ProjectRole::Maintainer);
        }
        match self {
            Principal::Token(t) => t.projects.get(project).copied(),
            _ => None,
        }
    }

    /// Whether it sees `project` at all.
    pub(crate) fn sees(&self, project: &str) -> bool {
        self.role_on(project).is_some()
    }

    /// Its name as the creator of a token (`local` without authentication).
    pub(crate) fn name(&self) -> String {
        match self {
            Principal::Token(t) => t.name.clone(),
            _ => "local".to_owned(),
        }
    }

    /// Who it is in the audit log, for a write made with HTTP request id `request`.
    pub(crate) fn actor(&self, request: &str) -> Option<Actor> {
        let (token_id, name) = match self {
            Principal::Anonymous => return None,
            Principal::Token(t) => (t.id.clone(), t.name.clone()),
            Principal::Local => (String::new(), "local".to_owned()),
        };
        Some(Actor {
            token_id,
            name,
            request: request.to_owned(),
        })
    }

    /// The id that scopes its idempotency keys (two callers' keys never collide).
    pub(crate) fn scope(&self) -> &str {
        match self {
            Principal::Anonymous => "anonymous",
            Principal::Token(t) => &t.id,
            Principal::Local => "local",
        }
    }
}

/// The name of a role in messages and in the API.
pub(crate) fn role_name(role: ProjectRole) -> &'static str {
    match role {
        ProjectRole::Viewer => "viewer",
        ProjectRole::Runner => "runner",
        ProjectRole::Maintainer => "maintainer",
    }
}

/// What an operation requires of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Anyone: probes, the API document.
    Public,
    /// Any valid token; listings show only what the caller may see.
    Authenticated,
    /// A cluster administrator.
    Admin,
    /// At least this role on the project named in the path (`{project}` or `{name}`).
    Project(ProjectRole),
    /// At least this role on the project of the job named in the path (`{id}`).
    Job(ProjectRole),
}

impl Access {
    /// Every rule, for tests and documentation.
    pub(crate) const ALL: [Access; 9] = [
        Access::Public,
        Access::Authenticated,
        Access::Admin,
        Access::Project(ProjectRole::Viewer),
        Access::Project(ProjectRole::Runner),
        Access::Project(ProjectRole::Maintainer),
        Access::Job(ProjectRole::Viewer),
        Access::Job(ProjectRole::Runner),
        Access::Job(ProjectRole::Maintainer),
    ];

    /// Its spelling in the OpenAPI document (`x-broadside-access`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::Authenticated => "authenticated",
            Access::Admin => "admin",
            Access::Project(ProjectRole::Viewer) => "project:viewer",
            Access::Project(ProjectRole::Runner) => "project:runner",
            Access::Project(ProjectRole::Maintainer) => "project:maintainer",
            Access::Job(ProjectRole::Viewer) => "job:viewer",
            Access::Job(ProjectRole::Runner) => "job:runner",
            Access::Job(ProjectRole::Maintainer) => "job:maintainer",
        }
    }

    /// The rule spelled `text`.
    pub(crate) fn parse(text: &str) -> Option<Access> {
        Access::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

/// Whether `principal` may act with `role` on `project`: 404 (`hidden`, the message of a
/// missing project or job) when it has no role there at all, 403 when its role is too low,
/// 401 when it has no credentials.
pub(crate) fn require_role(
    principal: &Principal,
    project: &str,
    role: ProjectRole,
    hidden: impl FnOnce() -> String,
) -> Result<()> {
    if matches!(principal, Principal::Anonymous) {
        return Err(unauthenticated());
    }
    match principal.role_on(project) {
        None => Err(Error::NotFound(hidden())),
        Some(have) if have < role => Err(Error::Forbidden(format!(
            "this needs the {} role on project {project:?}; the token has {}",
            role_name(role),
            role_name(have)
        ))),
        Some(_) => Ok(()),
    }
}

/// Whether `principal` may call an operation of rule `access` that concerns no project.
pub(crate) fn require(principal: &Principal, access: Access) -> Result<()> {
    match access {
        Access::Public => Ok(()),
        _ if matches!(principal, Principal::Anonymous) => Err(unauthenticated()),
        Access::Authenticated => Ok(()),
        Access::Admin if principal.is_admin() => Ok(()),
        Access::Admin => Err(Error::Forbidden(
            "this needs the cluster admin role".to_owned(),
        )),
        Access::Project(_) | Access::Job(_) => Err(Error::internal(format_args!(
            "rule {} checked without its project",
            access.as_str()
        ))),
    }
}

/// The error of a request without valid credentials.
pub(crate) fn unauthenticated() -> Error {
    Error::Unauthenticated(
        "this needs a token: `Authorization: Bearer bst_…` (see `broadside tokens`)".to_owned(),
    )
}

/// Whether `principal` may create a token granting `admin` and `projects`: an administrator
/// grants anything; a maintainer grants roles on the projects it maintains, never admin, and
/// never a token without roles.
pub(crate) fn may_grant(
    principal: &Principal,
    admin: bool,
    projects: impl IntoIterator<Item = String>,
) -> Result<()> {
    if principal.is_admin() {
        return Ok(());
    }
    if admin {
        return Err(Error::Forbidden(
            "only a cluster admin creates admin tokens".to_owned(),
        ));
    }
    let mut projects = projects.into_iter().peekable();
    if projects.peek().is_none() {
        return Err(Error::Forbidden(
            "only a cluster admin creates tokens without a project role".to_owned(),
        ));
    }
    for project in projects {
        require_role(principal, &project, ProjectRole::Maintainer, || {
            format!("no project {project:?}")
        })?;
    }
    Ok(())
}

/// The expiry a creation asking for a lifetime of `expires_in` means (none: never).
pub(crate) fn expiry(expires_in: Option<std::time::Duration>) -> Result<Option<u64>> {
    match expires_in {
        Some(d) if d.is_zero() => Err(Error::BadRequest("expires_in must be positive".into())),
        Some(d) => Ok(Some(
            crate::node::now_ms().saturating_add(d.as_millis() as u64),
        )),
        None => Ok(None),
    }
}

/// The expiry of a token `principal` creates asking for `wanted`: never later than the
/// creator's own, so that a short-lived credential cannot leave a lasting one behind.
pub(crate) fn capped_expiry(principal: &Principal, wanted: Option<u64>) -> Option<u64> {
    let own = match principal {
        Principal::Token(t) => t.expires_at_ms,
        _ => None,
    };
    match (wanted, own) {
        (Some(w), Some(o)) => Some(w.min(o)),
        (w, o) => w.or(o),
    }
}

/// The name of every web session's token: this, then the id of the token it was made from.
/// No other token may be named so (`POST /tokens` refuses it).
pub(crate) const SESSION_NAME: &str = "web session of ";

/// The id of the token a web session's token was made from (`None`: not a session's token).
pub(crate) fn session_parent(token: &Token) -> Option<&str> {
    token.name.strip_prefix(SESSION_NAME)
}

/// Whether `principal`'s token is still good on this replica at `now` — for a web session's
/// token, its parent too (a stream authorized when it opened asks again as it goes, so that a
/// revocation ends it too).
pub(crate) fn still_valid(
    principal: &Principal,
    reader: &broadside_raft_store::StoreReader,
    now: u64,
) -> bool {
    let valid = |id: &str| {
        reader
            .token(id)
            .ok()
            .flatten()
            .is_some_and(|stored| stored.is_valid_at(now))
    };
    match principal {
        Principal::Token(t) => valid(&t.id) && session_parent(t).is_none_or(valid),
        Principal::Local => true,
        Principal::Anonymous => false,
    }
}

/// Whether `principal` may revoke `token`: an administrator any; a maintainer a token whose
/// roles are all on projects it maintains (never an admin token).
pub(crate) fn may_revoke(principal: &Principal, token: &Token) -> Result<()> {
    if principal.is_admin() {
        return Ok(());
    }
    let hidden = || format!("no token {:?}", token.id);
    if token.admin || token.projects.is_empty() {
        return Err(Error::NotFound(hidden()));
    }
    for project in token.projects.keys() {
        if principal.role_on(project) != Some(ProjectRole::Maintainer) {
            return Err(Error::NotFound(hidden()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use broadside_raft_store::Sha256;

    use super::*;

    fn token(admin: bool, projects: &[(&str, ProjectRole)]) -> Principal {
        Principal::Token(Arc::new(Token {
            id: "t".into(),
            name: "t".into(),
            secret_sha256: Sha256([0; 32]),
            created_by: "test".into(),
            created_at_ms: 0,
            expires_at_ms: None,
            revoked_at_ms: None,
            admin,
            projects: projects
                .iter()
                .map(|(p, r)| ((*p).to_owned(), *r))
                .collect::<BTreeMap<_, _>>(),
        }))
    }

    fn status(r: Result<()>) -> u16 {
        match r {
            Ok(()) => 200,
            Err(Error::Unauthenticated(_)) => 401,
            Err(Error::Forbidden(_)) => 403,
            Err(Error::NotFound(_)) => 404,
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn roles_include_the_ones_below_and_other_projects_do_not_exist() {
        let runner = token(false, &[("shop", ProjectRole::Runner)]);
        let hidden = || "no project".to_owned();
        assert_eq!(
            status(require_role(&runner, "shop", ProjectRole::Viewer, hidden)),
            200
        );
        assert_eq!(
            status(require_role(&runner, "shop", ProjectRole::Runner, hidden)),
            200
        );
        assert_eq!(
            status(require_role(
                &runner,
                "shop",
                ProjectRole::Maintainer,
                hidden
            )),
            403
        );
        assert_eq!(
            status(require_role(&runner, "bank", ProjectRole::Viewer, hidden)),
            404
        );
        let admin = token(true, &[]);
        assert_eq!(
            status(require_role(
                &admin,
                "bank",
                ProjectRole::Maintainer,
                hidden
            )),
            200
        );
        let nobody = Principal::Anonymous;
        assert_eq!(
            status(require_role(&nobody, "shop", ProjectRole::Viewer, hidden)),
            401
        );
        assert_eq!(status(require(&nobody, Access::Public)), 200);
        assert_eq!(status(require(&nobody, Access::Authenticated)), 401);
        assert_eq!(status(require(&runner, Access::Authenticated)), 200);
        assert_eq!(status(require(&runner, Access::Admin)), 403);
        assert_eq!(status(require(&Principal::Local, Access::Admin)), 200);
    }

    #[test]
    fn maintainers_grant_and_revoke_only_on_their_projects() {
        let maintainer = token(false, &[("shop", ProjectRole::Maintainer)]);
        assert_eq!(
            status(may_grant(&maintainer, false, ["shop".to_owned()])),
            200
        );
        assert_eq!(
            status(may_grant(&maintainer, false, ["bank".to_owned()])),
            404
        );
        assert_eq!(status(may_grant(&maintainer, true, [])), 403);
        let Principal::Token(shop_viewer) = token(false, &[("shop", ProjectRole::Viewer)]) else {
            unreachable!()
        };
        let Principal::Token(both) = token(
            false,
            &[("shop", ProjectRole::Viewer), ("bank", ProjectRole::Viewer)],
        ) else {
            unreachable!()
        };
        assert_eq!(status(may_revoke(&maintainer, &shop_viewer)), 200);
        assert_eq!(status(may_revoke(&maintainer, &both)), 404);
    }

    #[test]
    fn rules_spell_and_parse_back() {
        for access in Access::ALL {
            assert_eq!(Access::parse(access.as_str()), Some(access));
        }
        assert_eq!(Access::parse("nobody"), None);
    }
}
