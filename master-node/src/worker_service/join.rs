//! A worker without a certificate joins with a join token: the leader checks the token against
//! its replica (a wrong one costs no Raft write), makes a secret, and commits the binding of
//! the worker id asked for to that secret's hash (`docs/security.md#join-tokens`). The answer
//! carries the secret, which the worker presents on every later connection.

use broadside_raft_store::model::Actor;
use broadside_raft_store::Command;
use broadside_rpc::worker::{JoinRequest, Joined};

use crate::app::App;
use crate::auth::token::{new_secret, secret_sha256, Bearer, JOIN_PREFIX};
use crate::error::{Error, Result};
use crate::node::{now_ms, Node};

pub(super) async fn join(app: &App, request: JoinRequest) -> Result<Joined> {
    app.ensure_leader()?;
    let refused = || Error::Forbidden("the join token is unknown, expired or revoked".to_owned());
    let bearer = Bearer::parse_with(&request.token, JOIN_PREFIX).ok_or_else(|| {
        Error::BadRequest("a join token is `bsj_` + 16 hex digits + `_` + 43 characters".into())
    })?;
    let id = bearer.id.clone();
    let token = app
        .worker_read(move |r| Ok(r.join_token(&id)?))
        .await?
        .filter(|t| bearer.matches(&t.secret_sha256) && t.is_valid_at(now_ms()))
        .ok_or_else(refused)?;
    let secret = new_secret();
    let command = Command::JoinWorker {
        token_id: token.id.clone(),
        worker_id: request.worker_id.clone(),
        secret_sha256: secret_sha256(&secret),
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
    tracing::info!(worker = %request.worker_id, join_token = %token.id, pool = %token.pool, "worker joined");
    Ok(Joined {
        worker_id: request.worker_id,
        pool: token.pool,
        secret,
    })
}
