//! Who may act as which worker, as replicated state: join tokens (a worker exchanges one for an
//! identity) and worker identities (a worker id bound to its credential, revocable).

use super::apply::{bad_request, conflict, not_found, valid_name, valid_worker_id};
use super::keys;
use super::tx::Tx;
use crate::command::Response;
use crate::db::CF_WORKER_ACCESS;
use crate::error::Result;
use crate::model::{JoinToken, WorkerCredential, WorkerIdentity};
use crate::types::Sha256;

pub(crate) fn create_join_token(tx: &mut Tx<'_>, token: &JoinToken) -> Result<Response> {
    if !valid_name(&token.id) {
        return bad_request(format!("invalid join token id {:?}", token.id));
    }
    if !valid_name(&token.pool) {
        return bad_request(format!("pool {:?}: 1 to 64 of [A-Za-z0-9_.-]", token.pool));
    }
    if token.name.is_empty() || token.name.len() > 128 || token.name.chars().any(char::is_control) {
        return bad_request("a join token's name is 1 to 128 printable characters");
    }
    let key = keys::join_token(&token.id);
    if tx.exists(CF_WORKER_ACCESS, &key)? {
        return conflict(format!("join token {} exists", token.id));
    }
    let mut token = token.clone();
    token.created_at_ms = tx.now;
    token.revoked_at_ms = None;
    tx.put(CF_WORKER_ACCESS, key, &token)?;
    Ok(Response::Ok)
}

/// Revokes the token and every identity it gave (their workers' next calls are refused).
pub(crate) fn revoke_join_token(tx: &mut Tx<'_>, id: &str) -> Result<Response> {
    let key = keys::join_token(id);
    let Some(mut token) = tx.get::<JoinToken>(CF_WORKER_ACCESS, &key)? else {
        return not_found(format!("no join token {id:?}"));
    };
    if token.revoked_at_ms.is_none() {
        token.revoked_at_ms = Some(tx.now);
        tx.put(CF_WORKER_ACCESS, key, &token)?;
    }
    let identities =
        tx.scan::<WorkerIdentity>(CF_WORKER_ACCESS, keys::WORKER_IDENTITIES, usize::MAX)?;
    for (key, mut identity) in identities {
        let given = matches!(&identity.credential,
            WorkerCredential::Joined { token_id, .. } if token_id == id);
        if given && identity.revoked_at_ms.is_none() {
            identity.revoked_at_ms = Some(tx.now);
            tx.put(CF_WORKER_ACCESS, key, &identity)?;
        }
    }
    Ok(Response::Ok)
}

pub(crate) fn join_worker(
    tx: &mut Tx<'_>,
    token_id: &str,
    worker_id: &str,
    secret_sha256: &Sha256,
) -> Result<Response> {
    if !valid_worker_id(worker_id) {
        return bad_request(format!("invalid worker id {worker_id:?}"));
    }
    let token = tx.get::<JoinToken>(CF_WORKER_ACCESS, &keys::join_token(token_id))?;
    let Some(token) = token.filter(|t| t.is_valid_at(tx.now)) else {
        return not_found(format!(
            "join token {token_id} is unknown, expired or revoked"
        ));
    };
    let key = keys::worker_identity(worker_id);
    if let Some(bound) = tx.get::<WorkerIdentity>(CF_WORKER_ACCESS, &key)? {
        // The same worker asking again (its answer was lost): the same identity.
        let same = bound.revoked_at_ms.is_none()
            && bound.credential
                == (WorkerCredential::Joined {
                    token_id: token_id.to_owned(),
                    secret_sha256: *secret_sha256,
                });
        if same {
            return Ok(Response::Ok);
        }
        return conflict(format!(
            "worker id {worker_id:?} belongs to another identity; start the worker with \
             another id (a fresh data directory makes one)"
        ));
    }
    let identity = WorkerIdentity {
        worker_id: worker_id.to_owned(),
        pool: Some(token.pool),
        credential: WorkerCredential::Joined {
            token_id: token_id.to_owned(),
            secret_sha256: *secret_sha256,
        },
        created_at_ms: tx.now,
        revoked_at_ms: None,
    };
    tx.put(CF_WORKER_ACCESS, key, &identity)?;
    Ok(Response::Ok)
}

/// Revokes a worker id: a joined worker's identity, or a certificate's name (recorded so
/// that the certificate is refused from now on).
pub(crate) fn revoke_worker(tx: &mut Tx<'_>, worker_id: &str) -> Result<Response> {
    if !valid_worker_id(worker_id) {
        return bad_request(format!("invalid worker id {worker_id:?}"));
    }
    let key = keys::worker_identity(worker_id);
    let identity = match tx.get::<WorkerIdentity>(CF_WORKER_ACCESS, &key)? {
        Some(identity) if identity.revoked_at_ms.is_some() => return Ok(Response::Ok),
        Some(identity) => identity,
        None => WorkerIdentity {
            worker_id: worker_id.to_owned(),
            pool: None,
            credential: WorkerCredential::Certificate,
            created_at_ms: tx.now,
            revoked_at_ms: None,
        },
    };
    let identity = WorkerIdentity {
        revoked_at_ms: Some(tx.now),
        ..identity
    };
    tx.put(CF_WORKER_ACCESS, key, &identity)?;
    Ok(Response::Ok)
}
