//! A worker without a certificate joins with a join token (`docs/security.md#join-tokens`): the
//! leader checks the token against its replica (a wrong one costs no Raft write) and commits the
//! binding of the worker id `NAME@POOL` to the hash of the secret the worker made. No
//! certificate can name such an id (a certificate's worker name is a DNS label), so a token
//! holder cannot take a certificate worker's place. Asking again with the same name and secret
//! (an answer lost on the way) gets the same identity.

use broadside_raft_store::model::Actor;
use broadside_raft_store::Command;
use broadside_rpc::worker::{JoinRequest, Joined};

use crate::app::App;
use crate::auth::token::{secret_sha256, valid_secret, Bearer, JOIN_PREFIX};
use crate::error::{Error, Result};
use crate::node::{now_ms, Node};

/// Whether a joining worker's name is 1 to 64 letters, digits, `-` or `.`.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

pub(super) async fn join(app: &App, request: JoinRequest) -> Result<Joined> {
    app.ensure_leader()?;
    let refused = || Error::Forbidden("the join token is unknown, expired or revoked".to_owned());
    let bearer = Bearer::parse_with(&request.token, JOIN_PREFIX).ok_or_else(|| {
        Error::BadRequest("a join token is `bsj_` + 16 hex digits + `_` + 43 characters".into())
    })?;
    if !valid_name(&request.name) {
        return Err(Error::BadRequest(format!(
            "worker name {:?}: 1 to 64 letters, digits, '-' or '.'",
            request.name
        )));
    }
    if !valid_secret(&request.secret) {
        return Err(Error::BadRequest(
            "a joining worker's secret is 256 random bits in base64url (43 characters)".into(),
        ));
    }
    let id = bearer.id.clone();
    let token = app
        .worker_read(move |r| Ok(r.join_token(&id)?))
        .await?
        .filter(|t| bearer.matches(&t.secret_sha256) && t.is_valid_at(now_ms()))
        .ok_or_else(refused)?;
    let worker_id = format!("{}@{}", request.name, token.pool);
    let command = Command::JoinWorker {
        token_id: token.id.clone(),
        worker_id: worker_id.clone(),
        secret_sha256: secret_sha256(&request.secret),
    };
    let actor = Actor {
        token_id: token.id.clone(),
        name: format!("join token {}", token.name),
        request: String::new(),
    };
    app.write(Node::new_request_id(), command, Some(actor), None)
        .await
        .map_err(|e| match e {
            // Expired or revoked between the check and the commit.
            Error::NotFound(_) => refused(),
            other => other,
        })?;
    tracing::info!(worker = %worker_id, join_token = %token.id, "worker joined");
    Ok(Joined {
        worker_id,
        pool: token.pool,
    })
}
