//! Who may do what, as replicated state: API tokens (their secrets' hashes and roles), project
//! secrets, project settings, and the audit log of accepted writes.

use super::apply::{bad_request, conflict, not_found, valid_name, MAX_TEXT};
use super::keys;
use super::tx::Tx;
use crate::command::{Command, Response};
use crate::db::{
    CF_AUDIT, CF_AUDIT_INDEX, CF_JOBS, CF_PROJECTS, CF_SECRETS, CF_SETTINGS, CF_SM_META, CF_TOKENS,
};
use crate::error::Result;
use crate::model::{Actor, AuditRecord, Job, ProjectSettings, Secret, SecretBytes, Token};

/// Largest secret value.
pub const MAX_SECRET_BYTES: usize = 64 << 10;
/// Shortest secret value (shorter ones could not be told apart from ordinary text when
/// reports are redacted).
pub const MIN_SECRET_BYTES: usize = 4;
/// Most targets a project may name.
pub const MAX_TARGETS: usize = 256;
/// Most projects one token may hold roles on.
pub const MAX_TOKEN_PROJECTS: usize = 256;

fn check_token(tx: &Tx<'_>, token: &Token) -> Result<Option<Response>> {
    if !valid_name(&token.id) {
        return bad_request(format!("invalid token id {:?}", token.id)).map(Some);
    }
    if token.name.is_empty() || token.name.len() > 128 || token.name.chars().any(char::is_control) {
        return bad_request("a token's name is 1 to 128 printable characters").map(Some);
    }
    if token.projects.len() > MAX_TOKEN_PROJECTS {
        return bad_request(format!(
            "a token holds roles on at most {MAX_TOKEN_PROJECTS} projects"
        ))
        .map(Some);
    }
    for project in token.projects.keys() {
        if !tx.exists(CF_PROJECTS, &keys::project(project))? {
            return not_found(format!("no project {project:?}")).map(Some);
        }
    }
    if tx.exists(CF_TOKENS, &keys::token(&token.id))? {
        return conflict(format!("token {} exists", token.id)).map(Some);
    }
    Ok(None)
}

pub(crate) fn create_token(tx: &mut Tx<'_>, token: &Token) -> Result<Response> {
    if let Some(refused) = check_token(tx, token)? {
        return Ok(refused);
    }
    let mut token = token.clone();
    token.created_at_ms = tx.now;
    token.revoked_at_ms = None;
    tx.put(CF_TOKENS, keys::token(&token.id), &token)?;
    Ok(Response::Ok)
}

pub(crate) fn bootstrap_token(tx: &mut Tx<'_>, token: &Token) -> Result<Response> {
    if !tx.scan_keys(CF_TOKENS, &[], 1)?.is_empty() {
        return conflict("the cluster has tokens already");
    }
    if !token.admin {
        return bad_request("the first token is an admin token");
    }
    create_token(tx, token)
}

pub(crate) fn revoke_token(tx: &mut Tx<'_>, id: &str) -> Result<Response> {
    let Some(mut token) = tx.get::<Token>(CF_TOKENS, &keys::token(id))? else {
        return not_found(format!("no token {id:?}"));
    };
    if token.revoked_at_ms.is_none() {
        token.revoked_at_ms = Some(tx.now);
        tx.put(CF_TOKENS, keys::token(id), &token)?;
    }
    Ok(Response::Ok)
}

pub(crate) fn put_secret(
    tx: &mut Tx<'_>,
    project: &str,
    name: &str,
    value: &[u8],
) -> Result<Response> {
    if !tx.exists(CF_PROJECTS, &keys::project(project))? {
        return not_found(format!("no project {project:?}"));
    }
    if !valid_name(name) {
        return bad_request(format!("secret name {name:?}: 1 to 64 of [A-Za-z0-9_.-]"));
    }
    if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&value.len()) {
        return bad_request(format!(
            "a secret's value is {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes"
        ));
    }
    let secret = Secret {
        project: project.to_owned(),
        name: name.to_owned(),
        value: SecretBytes(value.to_vec()),
        updated_at_ms: tx.now,
    };
    tx.put(CF_SECRETS, keys::secret(project, name), &secret)?;
    Ok(Response::Ok)
}

pub(crate) fn delete_secret(tx: &mut Tx<'_>, project: &str, name: &str) -> Result<Response> {
    let key = keys::secret(project, name);
    if !tx.exists(CF_SECRETS, &key)? {
        return not_found(format!("no secret {name:?} in project {project:?}"));
    }
    tx.delete(CF_SECRETS, key);
    Ok(Response::Ok)
}

pub(crate) fn set_project_settings(
    tx: &mut Tx<'_>,
    project: &str,
    settings: &ProjectSettings,
) -> Result<Response> {
    if !tx.exists(CF_PROJECTS, &keys::project(project))? {
        return not_found(format!("no project {project:?}"));
    }
    if settings.targets.len() > MAX_TARGETS
        || settings
            .targets
            .iter()
            .any(|t| t.is_empty() || t.len() > 256 || t.chars().any(char::is_whitespace))
    {
        return bad_request(format!(
            "at most {MAX_TARGETS} targets, each a host, address or CIDR with an optional port"
        ));
    }
    tx.put(CF_SETTINGS, keys::project(project), settings)?;
    Ok(Response::Ok)
}

/// What goes with a project when it is deleted: its secrets, its settings, and every token's
/// role on it (a project created again under the same name starts with nobody's roles).
pub(crate) fn forget_project(tx: &mut Tx<'_>, project: &str) -> Result<()> {
    tx.delete_prefix(CF_SECRETS, &keys::of_project(project));
    tx.delete(CF_SETTINGS, keys::project(project));
    for (key, mut token) in tx.scan::<Token>(CF_TOKENS, &[], usize::MAX)? {
        if token.projects.remove(project).is_some() {
            tx.put(CF_TOKENS, key, &token)?;
        }
    }
    Ok(())
}

/// Records an accepted write of `actor` in the audit log.
/// The projects a command concerns, read before it is applied (a deleted job's project is
/// gone after): its own, its job's, or the projects a token holds roles on.
pub(crate) fn audit_projects(tx: &Tx<'_>, command: &Command) -> Result<Vec<String>> {
    let projects = match command {
        Command::AbortJob { job_id, .. } | Command::DeleteJob { job_id } => tx
            .get::<Job>(CF_JOBS, &keys::job(*job_id))?
            .map(|j| vec![j.project])
            .unwrap_or_default(),
        Command::CreateToken(token) => token.projects.keys().cloned().collect(),
        Command::RevokeToken { id } => tx
            .get::<Token>(CF_TOKENS, &keys::token(id))?
            .map(|t| t.projects.into_keys().collect())
            .unwrap_or_default(),
        other => other
            .audit_summary()
            .1
            .map(|p| vec![p.to_owned()])
            .unwrap_or_default(),
    };
    Ok(projects)
}

/// Records an accepted write of `actor` that concerns `projects` (see [`audit_projects`]).
pub(crate) fn audit(
    tx: &mut Tx<'_>,
    actor: &Actor,
    command: &Command,
    projects: &[String],
) -> Result<()> {
    let seq: u64 = tx.get(CF_SM_META, keys::META_NEXT_AUDIT)?.unwrap_or(1);
    tx.put(CF_SM_META, keys::META_NEXT_AUDIT.to_vec(), &(seq + 1))?;
    let (action, _, target) = command.audit_summary();
    let project = projects.first().map(String::as_str);
    let record = AuditRecord {
        seq,
        at_ms: tx.now,
        actor: Actor {
            token_id: actor.token_id.chars().take(MAX_TEXT).collect(),
            name: actor.name.chars().take(MAX_TEXT).collect(),
            request: actor.request.chars().take(256).collect(),
        },
        action: action.to_owned(),
        project: project.map(str::to_owned),
        target: target.chars().take(1024).collect(),
    };
    for project in projects {
        tx.put_raw(CF_AUDIT_INDEX, keys::audit_index(project, seq), Vec::new());
    }
    tx.put(CF_AUDIT, keys::audit(seq), &record)?;
    Ok(())
}
